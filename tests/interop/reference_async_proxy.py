#!/usr/bin/env python3
"""A grpcio server that answers like the reference Arkouda asynchronous proxy,
so arkwire's call patterns are tested against the wire shapes users meet today.

Usage: reference_async_proxy.py [--drop-first-status] [--polls-before-result N]

Prints ``PORT <n>`` on stdout once serving; exits when stdin closes.

A command is answered ``message="submitted request to Arkouda"``,
``request_status="SUBMITTED"`` and the request id (the client's, or a fresh
one). ``getrequeststatus`` takes the id from ``args`` (as the reference does)
and answers, in ``message`` JSON, ``{"request_id", "request_status": "PENDING"}``
for the first N polls, then ``{"request_id", "request_result": {msg, msgType,
msgFormat, user}}``. Like the reference it does not set ``request_status`` on
status replies. With --drop-first-status the first status query of each id
fails with UNAVAILABLE, as a lost reply would. The work: ``echo`` returns the
args, anything else ``Unrecognized command``.
"""

import argparse
import json
import os
import secrets
import string
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()


def new_id():
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


class ReferenceAsyncProxy(pb2_grpc.ArkoudaServicer):
    def __init__(self, drop_first_status, polls_before_result):
        self.lock = threading.Lock()
        self.requests = {}  # id -> {"polls": n, "dropped": bool, "result": dict}
        self.drop_first_status = drop_first_status
        self.polls_before_result = polls_before_result

    def HandleRequest(self, request, context):
        if request.cmd == "getrequeststatus":
            rid = request.args
            with self.lock:
                entry = self.requests.get(rid)
                if entry is None:
                    context.abort(grpc.StatusCode.NOT_FOUND, "unknown request id")
                if self.drop_first_status and not entry["dropped"]:
                    entry["dropped"] = True
                    context.abort(grpc.StatusCode.UNAVAILABLE, "status reply lost")
                entry["polls"] += 1
                if entry["polls"] <= self.polls_before_result:
                    body = {"request_id": rid, "request_status": "PENDING"}
                else:
                    body = {"request_id": rid, "request_result": entry["result"]}
            return pb2.ArkoudaResponse(message=json.dumps(body))
        if request.cmd == "echo":
            result = {"msg": request.args, "msgType": "NORMAL", "msgFormat": "STRING", "user": request.user}
        else:
            result = {"msg": f"Unrecognized command: {request.cmd}", "msgType": "ERROR",
                      "msgFormat": "STRING", "user": request.user}
        rid = request.request_id if request.HasField("request_id") and request.request_id else new_id()
        with self.lock:
            self.requests[rid] = {"polls": 0, "dropped": False, "result": result}
        return pb2.ArkoudaResponse(message="submitted request to Arkouda", request_id=rid,
                                   request_status="SUBMITTED")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop-first-status", action="store_true")
    parser.add_argument("--polls-before-result", type=int, default=1)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb2_grpc.add_ArkoudaServicer_to_server(
        ReferenceAsyncProxy(args.drop_first_status, args.polls_before_result), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
