#!/usr/bin/env python3
"""A stand-in for arkouda_server's ZeroMQ front end, built on pyzmq (libzmq).

It binds a REP socket to a random port on 127.0.0.1, prints ``PORT <n>``, and
answers requests shaped like Arkouda's: a multipart message whose first frame
is the JSON object {"user", "token", "cmd", "format", "size", "args"}.

Commands:
  connect   -> NORMAL reply "connected to arkouda server tcp://*:5555"
  getconfig -> NORMAL reply whose msg is a JSON config
  echo      -> msg = args
  slow      -> sleeps int(first word of args) milliseconds, then replies
               (the rest of args may name the call)
  nonutf8   -> one frame b'\\xff\\xfe{not utf8'
  binary    -> two frames: a JSON reply ending BINARY_PAYLOAD, then bytes 0..=255
  seen      -> msg = JSON list of [user, cmd, args] of every request received
               before it (``seen`` itself excluded), so a test can prove a call
               never reached the server
  bytes     -> one raw frame of int(args) bytes i % 251 (a binary reply)
  binerror  -> one frame "Error: no such array" (arkouda_server's binary-path error)
  peak      -> msg = JSON {"in_flight": n, "peak": m}: requests being answered
               now, and the most ever answered at once (``--concurrent``)
  other     -> msgType ERROR "Unrecognized command: X"

Binary requests (two frames: the JSON with format BINARY and BINARY_PAYLOAD
appended, then the payload):
  binecho   -> the payload back as one raw frame (a binary reply)
  binlen    -> NORMAL reply "<payload length> bytes, format <format>"

With ``--port N`` it binds that port (to restart on the same address).
With ``--plain`` the socket is a PLAIN-mechanism server (user "u", password
"p"), which a NULL-mechanism client cannot talk to.
With ``--concurrent`` the socket is a ROUTER that answers each request on a
thread of its own, so requests from several connections overlap (unlike
arkouda_server, which answers one at a time) and ``peak`` shows how many
the proxy let overlap.
With ``--heartbeat-ms N`` libzmq sends ZMTP 3.1 PING commands every N ms and
drops the connection if nothing (such as our PONG) comes back within 3N ms.

Exits when stdin closes (so a crashed test never leaves it behind) or on SIGTERM.
"""

import json
import os
import signal
import sys
import threading
import time

import zmq


def reply(msg, user, msg_type="NORMAL", msg_format="STRING"):
    return json.dumps(
        {"msg": msg, "msgType": msg_type, "msgFormat": msg_format, "user": user}
    ).encode()


SEEN = []
IN_FLIGHT = [0, 0]  # now, peak
LOCK = threading.Lock()


def answer(frames):
    first, payload = frames[0], None
    if first.endswith(b"BINARY_PAYLOAD"):
        if len(frames) != 2:
            return [reply(f"a binary request has 2 frames, not {len(frames)}", "", "ERROR")]
        first, payload = first[: -len(b"BINARY_PAYLOAD")], frames[1]
    try:
        req = json.loads(first.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return [reply(f"bad request JSON: {e}", "", "ERROR")]
    missing = [k for k in ("user", "token", "cmd", "format", "size", "args") if k not in req]
    if missing or not isinstance(req["size"], int) or isinstance(req["size"], bool):
        return [reply(f"bad request keys or size: {missing} {req!r}", "", "ERROR")]
    user, cmd, args = req["user"], req["cmd"], req["args"]
    if cmd == "seen":
        return [reply(json.dumps(SEEN), user)]
    if cmd == "peak":
        with LOCK:
            now, peak = IN_FLIGHT
        return [reply(json.dumps({"in_flight": now, "peak": peak}), user)]
    SEEN.append([user, cmd, args])
    if payload is not None:
        if req["format"] != "BINARY":
            return [reply(f"binary request with format {req['format']}", user, "ERROR")]
        if cmd == "binecho":
            return [payload]
        if cmd == "binlen":
            return [reply(f"{len(payload)} bytes, format {req['format']}", user)]
        return [reply(f"Unrecognized binary command: {cmd}", user, "ERROR")]
    if cmd == "bytes":
        return [bytes(i % 251 for i in range(int(args)))]
    if cmd == "binerror":
        return [b"Error: no such array"]
    if cmd == "connect":
        return [reply("connected to arkouda server tcp://*:5555", user)]
    if cmd == "getconfig":
        config = {"arkoudaVersion": "fake", "numLocales": 1, "ServerPort": 5555}
        return [reply(json.dumps(config), user)]
    if cmd == "echo":
        return [reply(args, user)]
    if cmd == "slow":
        time.sleep(int(args.split()[0]) / 1000.0)
        return [reply(f"slept {args} ms", user)]
    if cmd == "nonutf8":
        return [b"\xff\xfe{not utf8"]
    if cmd == "binary":
        return [reply("array of 256 bytes BINARY_PAYLOAD", user, msg_format="BINARY"), bytes(range(256))]
    return [reply(f"Unrecognized command: {cmd}", user, "ERROR")]


def main():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER if "--concurrent" in sys.argv else zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    if "--plain" in sys.argv:
        sock.setsockopt(zmq.PLAIN_SERVER, 1)
    if "--heartbeat-ms" in sys.argv:
        ivl = int(sys.argv[sys.argv.index("--heartbeat-ms") + 1])
        sock.setsockopt(zmq.HEARTBEAT_IVL, ivl)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * ivl)
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
        sock.bind(f"tcp://127.0.0.1:{port}")
    else:
        port = sock.bind_to_random_port("tcp://127.0.0.1")
    print(f"PORT {port}", flush=True)

    def exit_on_stdin_eof():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    if "--concurrent" in sys.argv:
        serve_concurrently(sock)
    while True:
        frames = sock.recv_multipart()
        sock.send_multipart(answer(frames))


def counted(frames):
    with LOCK:
        IN_FLIGHT[0] += 1
        IN_FLIGHT[1] = max(IN_FLIGHT)
    try:
        return answer(frames)
    finally:
        with LOCK:
            IN_FLIGHT[0] -= 1


def serve_concurrently(sock):
    """A ROUTER socket: each request (an envelope, an empty delimiter, then
    the frames) is answered on a thread; replies go back through a queue,
    since only this thread may touch the socket."""
    import queue

    replies = queue.Queue()

    def work(envelope, frames):
        replies.put(envelope + counted(frames))

    while True:
        if sock.poll(5, zmq.POLLIN):
            msg = sock.recv_multipart()
            cut = msg.index(b"") + 1 if b"" in msg else 0
            threading.Thread(target=work, args=(msg[:cut], msg[cut:]), daemon=True).start()
        while not replies.empty():
            sock.send_multipart(replies.get())


if __name__ == "__main__":
    main()
