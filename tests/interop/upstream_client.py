#!/usr/bin/env python3
"""A grpcio client that calls `arkwire serve --upstream` in front of the pyzmq
fake arkouda_server (tests/zmtp/fake_arkouda_server.py) and checks that each
reply is exactly what the fake server sent.

Usage: upstream_client.py --target 127.0.0.1:PORT
Prints ``ok <case>`` / ``FAIL <case>: <detail>`` and ``N passed, M failed``.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()


def request(cmd, args=""):
    return pb2.ArkoudaRequest(user="kjyost", token="secret", cmd=cmd, format="STRING", size=-1, args=args)


def envelope(msg, user="kjyost", msg_type="NORMAL"):
    # The fake server's json.dumps spacing: the proxy must pass it on byte for byte.
    return json.dumps({"msg": msg, "msgType": msg_type, "msgFormat": "STRING", "user": user})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    channel = grpc.insecure_channel(args.target)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb2_grpc.ArkoudaStub(channel)
    results = []

    def case(name, fn):
        try:
            fn()
            results.append(True)
            print(f"ok {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure
            results.append(False)
            print(f"FAIL {name}: {e!r}", flush=True)

    def exact(cmd, args, expected):
        reply = stub.HandleRequest(request(cmd, args), timeout=10)
        assert reply.message == expected, f"{reply.message!r} != {expected!r}"

    case("connect", lambda: exact("connect", "", envelope("connected to arkouda server tcp://*:5555")))
    case("getconfig", lambda: exact("getconfig", "", envelope(json.dumps(
        {"arkoudaVersion": "fake", "numLocales": 1, "ServerPort": 5555}))))
    text = 'héllo "wörld" \\ ✓ 😀'
    case("echo_unicode", lambda: exact("echo", text, envelope(text)))
    case("unknown_command", lambda: exact("bogus", "", envelope("Unrecognized command: bogus", msg_type="ERROR")))

    def status_is(cmd, code, timeout=10):
        try:
            stub.HandleRequest(request(cmd, "1500" if cmd == "slow" else ""), timeout=timeout)
        except grpc.RpcError as e:
            assert e.code() == code, f"{e.code()} {e.details()}"
            return
        raise AssertionError("the call succeeded")

    case("nonutf8_is_data_loss", lambda: status_is("nonutf8", grpc.StatusCode.DATA_LOSS))
    case("binary_is_data_loss", lambda: status_is("binary", grpc.StatusCode.DATA_LOSS))

    def deadline():
        started = time.monotonic()
        status_is("slow", grpc.StatusCode.DEADLINE_EXCEEDED, timeout=0.3)
        assert time.monotonic() - started < 1.2
        exact("echo", "after the deadline", envelope("after the deadline"))

    case("deadline", deadline)

    def concurrent():
        futures = [(i, stub.HandleRequest.future(request("echo", f"call {i}"), timeout=30)) for i in range(100)]
        for i, f in futures:
            got = f.result().message
            assert got == envelope(f"call {i}"), f"call {i} got {got!r}"

    case("concurrent_100_through_the_pool", concurrent)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
