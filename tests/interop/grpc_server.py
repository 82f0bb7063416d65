#!/usr/bin/env python3
"""A real grpcio server for arkouda.Arkouda/HandleRequest, used as the interop
peer for arkwire's Rust client.

Usage:
    grpc_server.py [--port N] [--exit-on-stdin-eof]
                   [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
    grpc_server.py --selftest [--max-message-size BYTES] [--port N] [--exit-on-stdin-eof]

Binds 127.0.0.1:<port> (default 0 = ephemeral), prints exactly one line
``PORT <n>`` on stdout (flushed) once it is serving, and runs until killed
(SIGTERM/SIGINT) or, with --exit-on-stdin-eof, until its stdin is closed.
Diagnostics go to stderr.

Default (test-peer) mode, by request.cmd:
  echo    -> ArkoudaResponse(message=args, user=user, cmd=cmd)   (args raw, no JSON)
  abort   -> args "CODE:message" -> context.abort(StatusCode with that number, message)
  sleep   -> sleeps int(args) ms, message "slept"
  size    -> message of int(args) bytes of 'x'
  meta    -> message = JSON object of the invocation metadata (key -> value;
             "-bin" values base64-encoded; repeated keys joined with ", ")
  fields  -> message = JSON {"user","token","cmd","format","size","args","request_id"}
             (request_id null when the field is absent)
  other   -> message = JSON {"msg":"ok","msgType":"NORMAL","msgFormat":"STRING","user":user}
  Message limits: 64 MiB both ways.

--selftest mode mimics `arkwire serve`'s built-in backend (JSON envelope in
message: {"msg","msgType","msgFormat","user"}): connect, getconfig, ruok, noop,
echo, sleep; anything else -> msgType ERROR, "Unrecognized command: X". The
receive limit is --max-message-size (default 4 MiB, like arkwire serve), so
grpc_client.py and h2_peer.py can be validated against grpcio itself.
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()

MIB = 1024 * 1024
PEER_LIMIT = 64 * MIB
ARKWIRE_DEFAULT_LIMIT = 4 * MIB

_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _metadata_json(context):
    out = {}
    for key, value in context.invocation_metadata():
        if key.endswith("-bin"):
            if isinstance(value, str):
                value = value.encode("latin-1")
            value = base64.b64encode(value).decode("ascii")
        elif isinstance(value, bytes):
            value = value.decode("latin-1")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return json.dumps(out, ensure_ascii=False)


def _fields_json(req):
    return json.dumps({
        "user": req.user,
        "token": req.token,
        "cmd": req.cmd,
        "format": req.format,
        "size": req.size,
        "args": req.args,
        "request_id": req.request_id if req.HasField("request_id") else None,
    }, ensure_ascii=False)


def _envelope(msg, user, msg_type="NORMAL"):
    return json.dumps({"msg": msg, "msgType": msg_type, "msgFormat": "STRING", "user": user},
                      ensure_ascii=False)


def _sleep_ms(args):
    time.sleep(max(0, int(args.strip() or "0")) / 1000.0)


class PeerServicer(pb2_grpc.ArkoudaServicer):
    """The default test-peer behaviour."""

    def HandleRequest(self, request, context):
        cmd = request.cmd
        if cmd == "echo":
            return pb2.ArkoudaResponse(message=request.args, user=request.user, cmd=request.cmd)
        if cmd == "abort":
            num, sep, message = request.args.partition(":")
            try:
                code = _CODES[int(num)] if sep else None
            except (ValueError, KeyError):
                code = None
            if code is None or code is grpc.StatusCode.OK:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"abort wants 'CODE:message' with CODE 1..16, got {request.args!r}")
            context.abort(code, message)
        if cmd == "sleep":
            _sleep_ms(request.args)
            return pb2.ArkoudaResponse(message="slept", user=request.user)
        if cmd == "size":
            return pb2.ArkoudaResponse(message="x" * int(request.args))
        if cmd == "meta":
            return pb2.ArkoudaResponse(message=_metadata_json(context))
        if cmd == "fields":
            return pb2.ArkoudaResponse(message=_fields_json(request))
        return pb2.ArkoudaResponse(message=_envelope("ok", request.user))


class SelftestServicer(pb2_grpc.ArkoudaServicer):
    """Mimics `arkwire serve`'s built-in backend."""

    def HandleRequest(self, request, context):
        cmd, user = request.cmd, request.user
        if cmd == "connect":
            msg = "connected to arkouda server tcp://*:5555"
        elif cmd == "getconfig":
            msg = json.dumps({"serverHostname": "127.0.0.1", "ServerPort": 5555,
                              "numLocales": 1, "arkoudaVersion": "selftest"})
        elif cmd == "ruok":
            msg = "imok"
        elif cmd == "noop":
            msg = "noop"
        elif cmd == "echo":
            msg = request.args
        elif cmd == "sleep":
            _sleep_ms(request.args)
            msg = "slept"
        else:
            return pb2.ArkoudaResponse(
                message=_envelope(f"Unrecognized command: {cmd}", user, "ERROR"))
        return pb2.ArkoudaResponse(message=_envelope(msg, user))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--selftest", action="store_true",
                    help="behave like `arkwire serve`'s built-in backend")
    ap.add_argument("--max-message-size", type=int, default=None,
                    help="receive limit in bytes (selftest default 4 MiB; peer default 64 MiB)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="exit when stdin reaches EOF (give the child a piped stdin)")
    ap.add_argument("--tls-cert", help="serve TLS with this PEM certificate chain")
    ap.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    ap.add_argument("--tls-client-ca",
                    help="require client certificates signed by this PEM CA")
    opts = ap.parse_args()

    if opts.selftest:
        recv_limit = opts.max_message_size or ARKWIRE_DEFAULT_LIMIT
        send_limit = max(recv_limit, PEER_LIMIT)
        servicer = SelftestServicer()
    else:
        recv_limit = opts.max_message_size or PEER_LIMIT
        send_limit = PEER_LIMIT
        servicer = PeerServicer()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=64),
        options=[
            ("grpc.max_receive_message_length", recv_limit),
            ("grpc.max_send_message_length", send_limit),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb2_grpc.add_ArkoudaServicer_to_server(servicer, server)
    if opts.tls_cert:
        with open(opts.tls_cert, "rb") as f:
            cert = f.read()
        with open(opts.tls_key, "rb") as f:
            key = f.read()
        client_ca = None
        if opts.tls_client_ca:
            with open(opts.tls_client_ca, "rb") as f:
                client_ca = f.read()
        creds = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca,
            require_client_auth=client_ca is not None)
        port = server.add_secure_port(f"127.0.0.1:{opts.port}", creds)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{opts.port}")
    if port == 0:
        print(f"grpc_server: could not bind 127.0.0.1:{opts.port}", file=sys.stderr)
        return 1
    server.start()

    done = threading.Event()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.exit_on_stdin_eof:
        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            done.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"PORT {port}", flush=True)
    print(f"grpc_server: {'selftest' if opts.selftest else 'peer'} mode on 127.0.0.1:{port}, "
          f"max receive {recv_limit} bytes", file=sys.stderr, flush=True)
    while not done.wait(0.5):
        pass
    server.stop(grace=0.5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
