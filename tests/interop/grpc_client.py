#!/usr/bin/env python3
"""A real grpcio client that runs a battery of cases against `arkwire serve`.

Usage:
    grpc_client.py --target 127.0.0.1:PORT [--user U] [--token T] [--big] [--limit BYTES]

Prints one line per case, ``ok <name>``, ``FAIL <name>: <detail>`` or
``skip <name>: <reason>``, then ``N passed, M failed``; exits 0 only if no case
failed (exit 2 if the channel never became ready).

  --big          add the 8 MiB echo (the server needs --max-message-size >= 9 MiB)
  --limit BYTES  the server's configured max message size: adds the case that
                 sends args of BYTES+1 bytes and expects RESOURCE_EXHAUSTED

Every reply's ArkoudaResponse.message must be Arkouda's JSON envelope
{"msg","msgType","msgFormat","user"}. All calls share ONE channel (64 MiB limits).
"""

import argparse
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()

MIB = 1024 * 1024
PEER_LIMIT = 64 * MIB
UNICODE_ARGS = "héllo wörld ✓ 😀 — ünïcødé ∑ 日本語"


class CaseFailed(Exception):
    pass


def check(cond, detail):
    if not cond:
        raise CaseFailed(detail)


def pattern(n):
    """n bytes of varied, printable ASCII (so a misplaced chunk is detectable)."""
    base = "".join(chr(ord("a") + i % 26) + str(i % 10) for i in range(4096))
    out = (base * (n // len(base) + 1))[:n]
    return out


def short(s, n=120):
    s = repr(s)
    return s if len(s) <= n else s[:n] + f"...({len(s)} chars)"


class Battery:
    def __init__(self, opts):
        self.opts = opts
        self.channel = grpc.insecure_channel(opts.target, options=[
            ("grpc.max_receive_message_length", PEER_LIMIT),
            ("grpc.max_send_message_length", PEER_LIMIT),
        ])
        self.stub = pb2_grpc.ArkoudaStub(self.channel)
        self.passed = 0
        self.failed = 0

    def request(self, cmd, args=""):
        return pb2.ArkoudaRequest(user=self.opts.user, token=self.opts.token, cmd=cmd,
                                  format="STRING", size=-1, args=args)

    def envelope(self, reply):
        try:
            env = json.loads(reply.message)
        except ValueError as e:
            raise CaseFailed(f"reply message is not JSON ({e}): {short(reply.message)}")
        check(isinstance(env, dict), f"reply JSON is not an object: {short(reply.message)}")
        for key in ("msg", "msgType"):
            check(key in env, f"reply JSON lacks {key!r}: {short(reply.message)}")
        return env

    def call_ok(self, cmd, args="", timeout=10.0):
        """Call, check NORMAL and user, return the envelope's msg."""
        reply = self.stub.HandleRequest(self.request(cmd, args), timeout=timeout)
        env = self.envelope(reply)
        check(env["msgType"] == "NORMAL",
              f"msgType {env['msgType']!r}, msg {short(env['msg'])}")
        check(env.get("user") == self.opts.user,
              f"user {short(env.get('user'))} != sent {short(self.opts.user)}")
        return env["msg"]

    def run(self, name, fn):
        try:
            fn()
        except CaseFailed as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except grpc.RpcError as e:
            self.failed += 1
            print(f"FAIL {name}: RPC error {e.code()}: {short(e.details())}", flush=True)
        except Exception as e:  # noqa: BLE001 -- report, never stop the battery
            self.failed += 1
            tb = traceback.format_exc().strip().splitlines()[-1]
            print(f"FAIL {name}: {type(e).__name__}: {e} [{tb}]", flush=True)
        else:
            self.passed += 1
            print(f"ok {name}", flush=True)

    @staticmethod
    def skip(name, why):
        print(f"skip {name}: {why}", flush=True)

    # ---- cases -------------------------------------------------------------

    def echo_case(self, n=None, args=None):
        if args is None:
            args = pattern(n)

        def case():
            msg = self.call_ok("echo", args, timeout=60.0)
            check(msg == args, f"echo of {len(args)} chars came back as {len(msg)} chars: "
                               f"{short(msg)}")
        return case

    def echo_frame_exact(self):
        # Pick args so that the whole gRPC message (5-byte prefix + protobuf)
        # is exactly 16384 bytes = one default-sized DATA frame.
        n = 16384 - 5 - 100
        while True:
            size = 5 + self.request("echo", "a" * n).ByteSize()
            if size == 16384:
                break
            n += 16384 - size
        self.echo_case(args=pattern(n))()

    def connect(self):
        msg = self.call_ok("connect")
        check(msg == "connected to arkouda server tcp://*:5555", f"msg {short(msg)}")

    def getconfig(self):
        msg = self.call_ok("getconfig")
        if isinstance(msg, str):
            try:
                json.loads(msg)
            except ValueError as e:
                raise CaseFailed(f"getconfig msg is not JSON text ({e}): {short(msg)}")
        else:
            check(isinstance(msg, dict), f"getconfig msg is neither JSON text nor an object: "
                                         f"{short(msg)}")

    def ruok(self):
        msg = self.call_ok("ruok")
        check(msg == "imok", f"msg {short(msg)}")

    def noop(self):
        msg = self.call_ok("noop")
        check(msg == "noop", f"msg {short(msg)}")

    def sleep_short(self):
        t0 = time.monotonic()
        msg = self.call_ok("sleep", "50")
        took = time.monotonic() - t0
        check(msg == "slept", f"msg {short(msg)}")
        check(took >= 0.045, f"sleep 50 ms returned after {took * 1000:.0f} ms")

    def unknown(self):
        reply = self.stub.HandleRequest(self.request("bogus"), timeout=10.0)
        env = self.envelope(reply)
        check(env["msgType"] == "ERROR", f"msgType {env['msgType']!r}")
        check(env["msg"] == "Unrecognized command: bogus", f"msg {short(env['msg'])}")

    def deadline(self):
        t0 = time.monotonic()
        try:
            reply = self.stub.HandleRequest(self.request("sleep", "2000"), timeout=0.3)
        except grpc.RpcError as e:
            took = time.monotonic() - t0
            check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED,
                  f"status {e.code()} ({short(e.details())}), want DEADLINE_EXCEEDED")
            check(took < 1.5, f"deadline of 0.3 s took {took:.2f} s to fire")
        else:
            raise CaseFailed(f"sleep 2000 with a 0.3 s deadline succeeded: "
                             f"{short(reply.message)}")
        # The channel must still be usable afterwards.
        msg = self.call_ok("ruok")
        check(msg == "imok", f"after the deadline, ruok answered {short(msg)}")

    def concurrent(self, n=100):
        # 100 calls in flight at once on the ONE channel (one HTTP/2 connection).
        sent = [f"call-{i:03d}-" + pattern(i * 37 % 2000) for i in range(n)]
        futs = [self.stub.HandleRequest.future(self.request("echo", a), timeout=30.0)
                for a in sent]
        bad = []
        for i, (a, f) in enumerate(zip(sent, futs)):
            try:
                env = self.envelope(f.result())
                if env["msg"] != a or env["msgType"] != "NORMAL" \
                        or env.get("user") != self.opts.user:
                    bad.append(f"#{i}: got {short(env['msg'], 40)} ({env['msgType']})")
            except grpc.RpcError as e:
                bad.append(f"#{i}: {e.code()} {short(e.details(), 60)}")
            except CaseFailed as e:
                bad.append(f"#{i}: {e}")
        check(not bad, f"{len(bad)}/{n} calls wrong: " + "; ".join(bad[:5]))

    def oversized(self):
        limit = self.opts.limit
        try:
            reply = self.stub.HandleRequest(self.request("echo", "x" * (limit + 1)), timeout=30.0)
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED,
                  f"status {e.code()} ({short(e.details())}), want RESOURCE_EXHAUSTED")
        else:
            raise CaseFailed(f"args of {limit + 1} bytes (limit {limit}) were accepted: "
                             f"{short(reply.message)}")
        msg = self.call_ok("ruok")
        check(msg == "imok", f"after the oversized call, ruok answered {short(msg)}")

    def main(self):
        try:
            grpc.channel_ready_future(self.channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            print(f"FAIL connect-channel: {self.opts.target} not ready within 10 s", flush=True)
            print("0 passed, 1 failed", flush=True)
            return 2

        self.run("echo_0B", self.echo_case(0))
        self.run("echo_1B", self.echo_case(1))
        self.run("echo_16KiB-1", self.echo_case(16 * 1024 - 1))
        self.run("echo_16KiB+1", self.echo_case(16 * 1024 + 1))
        self.run("echo_frame_exact_16384", self.echo_frame_exact)
        self.run("echo_1MiB", self.echo_case(MIB))
        if self.opts.big:
            self.run("echo_8MiB", self.echo_case(8 * MIB))
        else:
            self.skip("echo_8MiB", "no --big")
        self.run("echo_unicode", self.echo_case(args=UNICODE_ARGS))
        self.run("connect", self.connect)
        self.run("getconfig", self.getconfig)
        self.run("ruok", self.ruok)
        self.run("noop", self.noop)
        self.run("sleep_50ms", self.sleep_short)
        self.run("unknown_command", self.unknown)
        self.run("deadline_exceeded", self.deadline)
        self.run("concurrent_100", self.concurrent)
        if self.opts.limit is not None:
            self.run("oversized_resource_exhausted", self.oversized)
        else:
            self.skip("oversized_resource_exhausted", "no --limit")

        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        self.channel.close()
        return 0 if self.failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of `arkwire serve`")
    ap.add_argument("--user", default="interop-ü")
    ap.add_argument("--token", default="tok-123")
    ap.add_argument("--big", action="store_true", help="include the 8 MiB echo")
    ap.add_argument("--limit", type=int, default=None,
                    help="the server's max message size; enables the oversized case")
    return Battery(ap.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
