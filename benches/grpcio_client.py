#!/usr/bin/env python3
"""The grpcio bench driver: sequential connect calls on one channel.

Usage: grpcio_client.py --addr HOST:PORT [--warm N] [--calls N] [--name NAME]
Prints ``RESULT NAME.p50_us|p99_us|p999_us|per_s VALUE`` lines, as the Rust drivers do.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--warm", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--name", default="grpcio")
    a = ap.parse_args()
    channel = grpc.insecure_channel(a.addr)
    stub = pb2_grpc.ArkoudaStub(channel)
    req = pb2.ArkoudaRequest(user="kjyost", cmd="connect", format="STRING", size=-1)
    call = stub.HandleRequest
    for _ in range(a.warm):
        call(req)
    lat = []
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(a.calls):
        t = clock()
        call(req)
        lat.append(clock() - t)
    wall = (clock() - start) / 1e9
    lat.sort()

    def pick(q):
        return lat[round((len(lat) - 1) * q)] / 1000.0

    print(f"RESULT {a.name}.p50_us {pick(0.50):.2f}")
    print(f"RESULT {a.name}.p99_us {pick(0.99):.2f}")
    print(f"RESULT {a.name}.p999_us {pick(0.999):.2f}")
    print(f"RESULT {a.name}.per_s {len(lat) / wall:.0f}")
    channel.close()


if __name__ == "__main__":
    main()
