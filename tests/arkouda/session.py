#!/usr/bin/env python3
"""A scripted Arkouda session, run by tests/arkouda_session.rs.

    session.py zmq HOST:PORT                    Arkouda's own ZmqChannel
    session.py arkwire HOST:PORT MODE [builtin] ArkwireChannel in MODE

Prints one line per step, "STEP <name> <result>", then "SESSION DONE"; the
test compares the lines of two runs. With "builtin" only ak.connect,
ak.get_config() and ak.disconnect() run (the built-in backend has no arrays).
"""

import hashlib
import os
import signal
import sys
import threading
import warnings

import numpy as np

warnings.simplefilter("ignore")  # a version mismatch warning is expected
import arkouda as ak  # noqa: E402
from arkouda.client import ZmqChannel  # noqa: E402


def step(name, value):
    # On a line of its own: the client may leave its banner line unfinished.
    print(f"\nSTEP {name} {value}", flush=True)


def digest(a):
    a = np.asarray(a)
    return f"{a.dtype} {a.shape} {hashlib.sha256(a.tobytes()).hexdigest()[:16]}"


def main():
    kind, addr = sys.argv[1], sys.argv[2]
    host, port = addr.rsplit(":", 1)
    if kind == "zmq":
        channel = ZmqChannel(user="arkwire-test", server=host, port=int(port))
    else:
        from arkwire import ArkwireChannel
        channel = ArkwireChannel("arkwire-test", host, int(port), mode=sys.argv[3])
        assert isinstance(channel, ak.client.Channel), type(channel).__mro__
    builtin = "builtin" in sys.argv[3:]
    ak.connect(access_channel=channel)
    step("connect", "ok")
    config = ak.get_config()
    step("get_config", sorted(k for k in ("numLocales", "regexMaxCaptures", "byteorder") if k in config))
    if not builtin:
        ones = ak.ones(10, dtype=ak.int64).to_ndarray()
        step("ones", digest(ones) + " " + str(ones.tolist()))
        a = np.arange(1000)
        back = ak.array(a).to_ndarray()
        step("arange", digest(back) + " equal=" + str(bool((back == a).all())))
        # int64 values whose bytes are all valid UTF-8 (ASCII), and ones whose are not.
        text = np.frombuffer(b"arkwire!" * 64, dtype=np.int64)
        back = ak.array(text).to_ndarray()
        bytes(back.tobytes()).decode("utf-8")
        step("utf8_bytes", digest(back) + " equal=" + str(bool((back == text).all())))
        raw = np.frombuffer(bytes(range(256)) * 8 + b"\xff\xfe\xfd\xfc\x80\x81\x82\x83", dtype=np.int64)
        back = ak.array(raw).to_ndarray()
        step("non_utf8_bytes", digest(back) + " equal=" + str(bool((back == raw).all())))
        # 80 MB each way: past a sync proxy's 1 MiB it passes through in
        # parts, past the C session's old 64 MiB reply limit.
        big = np.arange(10_000_000, dtype=np.int64) * 7
        # Read-only, as an array over bytes is: the channel borrows its
        # memory rather than copying 80 MB to get a writable buffer.
        big.flags.writeable = False
        back = ak.array(big).to_ndarray()
        step("large_array", digest(back) + " equal=" + str(bool((back == big).all())))
        del big, back
        try:
            ak.client.generic_msg(cmd="noSuchCommand<int64,1>", args={"x": 1})
            step("server_error", "no error raised")
        except RuntimeError as e:
            step("server_error", f"RuntimeError {e}")
        try:
            ak.client.generic_msg(cmd="tondarray<int64,1>", args={"array": "id_missing"}, recv_binary=True)
            step("binary_error", "no error raised")
        except RuntimeError as e:
            step("binary_error", f"RuntimeError {e}")
        # Ctrl-C during a call: Arkouda's client resets with connect(timeout=0),
        # and the session goes on.
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            ak.client.generic_msg(cmd="sleep", args={"ms": 1500})
            step("interrupt", "not interrupted")
        except KeyboardInterrupt:
            step("interrupt", "KeyboardInterrupt " + ak.client.generic_msg(cmd="ruok"))
        timer.join()
    ak.disconnect()
    step("disconnect", "ok")
    print("SESSION DONE", flush=True)


if __name__ == "__main__":
    main()
