#!/usr/bin/env python3
"""The byte pipe between the emulated UART and `arkwire serve`.

Listens on 127.0.0.1 (an ephemeral port, printed as `bridge: listening on
PORT`), accepts one connection (qemu's `-serial tcp:127.0.0.1:PORT`), then
connects to the server and copies bytes both ways until either side
closes. Prints the byte counts when done. Loopback only.

Usage: bridge.py SERVER_HOST:SERVER_PORT
"""

import selectors
import socket
import sys
import time

# Longest the bridge waits for qemu to connect.
ACCEPT_TIMEOUT_S = 30


def main() -> int:
    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        print("usage: bridge.py HOST:PORT", file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(ACCEPT_TIMEOUT_S)
    print(f"bridge: listening on {listener.getsockname()[1]}", flush=True)
    try:
        uart, _ = listener.accept()
    except socket.timeout:
        print("bridge: qemu never connected", file=sys.stderr)
        return 1
    listener.close()
    try:
        server = socket.create_connection((host, int(port)), timeout=10)
    except OSError as e:
        print(f"bridge: cannot reach the server at {host}:{port}: {e}", file=sys.stderr)
        uart.close()
        return 1
    for s in (uart, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)

    peer = {uart: server, server: uart}
    counts = {uart: 0, server: 0}
    sel = selectors.DefaultSelector()
    for s in peer:
        sel.register(s, selectors.EVENT_READ)
    started = time.monotonic()
    open_ = True
    while open_:
        for key, _ in sel.select(timeout=1.0):
            src = key.fileobj
            try:
                data = src.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                open_ = False
                break
            counts[src] += len(data)
            dst = peer[src]
            dst.setblocking(True)
            try:
                dst.sendall(data)
            except OSError:
                open_ = False
                break
            dst.setblocking(False)
    elapsed = time.monotonic() - started
    print(
        f"bridge: {counts[uart]} B device->server, {counts[server]} B server->device "
        f"in {elapsed:.1f} s",
        flush=True,
    )
    for s in peer:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
