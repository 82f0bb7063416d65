"""Tests arkwire_ctypes against a running `arkwire serve` (ARKWIRE_ADDR,
default 127.0.0.1:50053); libarkwire.so from ARKWIRE_LIB. Plain asserts;
run as a script, exits 0 on success."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from arkwire_ctypes import (  # noqa: E402
    ARKWIRE_ARKOUDA_ERROR, ARKWIRE_CONNECTION_FAILED, ARKWIRE_ERROR_ARKOUDA, ArkwireError, Channel,
    version)


def main():
    addr = os.environ.get("ARKWIRE_ADDR", "127.0.0.1:50053")
    assert version().count(".") == 2, version()

    ch = Channel(addr, user="kjyost")
    assert ch.connect() == "connected to arkouda server tcp://*:5555"
    assert ch.send_string_message("ruok") == "imok"
    text = 'unicode \u2713, "quotes", back\\slash'
    assert ch.send_string_message("echo", text, 1) == text
    assert ch.send_string_message("echo", "polled", polling=True) == "polled"
    try:
        ch.send_string_message("bogus")
        raise AssertionError("an Arkouda ERROR must raise")
    except ArkwireError as e:
        assert e.status == ARKWIRE_ARKOUDA_ERROR, e.status
        assert e.error_kind == ARKWIRE_ERROR_ARKOUDA and e.grpc_code == 0, vars(e)
        assert str(e) == "Unrecognized command: bogus", str(e)
    ch.disconnect()
    ch.disconnect()  # twice is fine

    try:
        Channel("127.0.0.1:1", user="x", timeout_ms=2000).connect()
        raise AssertionError("connecting to a closed port must raise")
    except ArkwireError as e:
        assert e.status == ARKWIRE_CONNECTION_FAILED, e.status

    with Channel(addr, user="ctx") as c:
        assert c.send_string_message("noop") == "noop"
    print("python: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
