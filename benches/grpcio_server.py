#!/usr/bin/env python3
"""A grpcio server for arkouda.Arkouda/HandleRequest answering like
`arkwire serve`'s built-in backend (connect -> the Arkouda JSON envelope,
echo -> args, noop, ruok), for benches/run.sh.

Usage: grpcio_server.py [--port N] [--workers N]
Prints ``grpcio-server: listening on 127.0.0.1:PORT`` once serving; runs until killed.
"""

import argparse
import json
import os
import sys
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()
LIMIT = 80 * 1024 * 1024


def envelope(msg, user, msg_type="NORMAL"):
    return json.dumps(
        {"msg": msg, "msgType": msg_type, "msgFormat": "STRING", "user": user},
        separators=(",", ":"),
        ensure_ascii=False,
    )


class Builtin(pb2_grpc.ArkoudaServicer):
    def HandleRequest(self, request, context):
        cmd = request.cmd
        if cmd == "connect":
            msg = envelope("connected to arkouda server tcp://*:5555", request.user)
        elif cmd == "echo":
            msg = envelope(request.args, request.user)
        elif cmd in ("noop", "ruok"):
            msg = envelope("noop" if cmd == "noop" else "imok", request.user)
        else:
            msg = envelope(f"Unrecognized command: {cmd}", request.user, "ERROR")
        return pb2.ArkoudaResponse(message=msg, user=request.user, cmd=cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workers", type=int, default=4)
    a = ap.parse_args()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=a.workers),
        options=[
            ("grpc.max_receive_message_length", LIMIT),
            ("grpc.max_send_message_length", LIMIT),
        ],
    )
    pb2_grpc.add_ArkoudaServicer_to_server(Builtin(), server)
    port = server.add_insecure_port(f"127.0.0.1:{a.port}")
    server.start()
    print(f"grpcio-server: listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
