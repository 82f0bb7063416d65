#!/usr/bin/env python3
"""The floor for the proxy-overhead benchmark: a pyzmq REQ client sending the
connect request's JSON straight to the fake arkouda_server, sequentially.

Usage: zmq_floor.py --port P --name NAME --warm W --calls N
Prints ``RESULT NAME.p50_us X``, ``RESULT NAME.p99_us X``, ``RESULT NAME.per_s X``.
"""

import argparse
import json
import time

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    sock = zmq.Context().socket(zmq.REQ)
    sock.connect(f"tcp://127.0.0.1:{a.port}")
    req = json.dumps({"user": "kjyost", "token": "", "cmd": "connect", "format": "STRING",
                      "size": -1, "args": ""}).encode()
    for _ in range(a.warm):
        sock.send(req)
        sock.recv()
    lat = []
    start = time.perf_counter()
    for _ in range(a.calls):
        t = time.perf_counter()
        sock.send(req)
        sock.recv()
        lat.append((time.perf_counter() - t) * 1e6)
    total = time.perf_counter() - start
    lat.sort()
    print(f"RESULT {a.name}.p50_us {lat[len(lat) // 2]:.2f}")
    print(f"RESULT {a.name}.p99_us {lat[int(len(lat) * 0.99)]:.2f}")
    print(f"RESULT {a.name}.per_s {a.calls / total:.2f}")


if __name__ == "__main__":
    main()
