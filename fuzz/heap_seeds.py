#!/usr/bin/env python3
"""Writes the seed scripts of the heap_* fuzz targets (fuzz/seeds/heap_*/).

A heap_* input is a script of choices for the hostile peers of
tests/common/hostile.rs: each byte picks the next action, its size, its
stream. The seeds are a few fixed pseudo-random scripts (the generator keeps
most of them valid protocol) and, for the HTTP/2 targets, a script that is
mostly dead-stream header-block runs. Small on purpose: 3 files of at most
512 bytes per target.

Usage: python3 fuzz/heap_seeds.py   (from anywhere)
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
TARGETS = ("heap_h2_server", "heap_h2_client", "heap_grpc_server", "heap_zmtp")


def write(target, name, data):
    assert len(data) <= 512, (target, name, len(data))
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dead_stream_runs():
    """Peer setup bytes, then: open (action 0) and a dead-stream run (action
    7) on a half-closed stream (0) with four references (3) and a short run,
    over and over, with milliseconds passing between steps."""
    out = bytearray([0, 255, 0])
    for i in range(48):
        out += bytes([0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 3, 200, 7, 0, 0, 5])
    return bytes(out[:512])


def main():
    for t, target in enumerate(TARGETS):
        for n in range(2):
            rng = random.Random(f"{target}-{n}")
            write(target, f"random_{n}", bytes(rng.randrange(256) for _ in range(256 + 256 * n)))
        if target != "heap_zmtp":
            write(target, "dead_stream_runs", dead_stream_runs())
        else:
            rng = random.Random("heap_zmtp-replies")
            # Mostly small reply steps (action bytes 0..11 of 32).
            write(target, "replies", bytes(rng.choice((0, 1, 2, 5, 32, 33)) for _ in range(384)))


if __name__ == "__main__":
    main()
