#!/usr/bin/env python3
"""The pyzmq floor of the proxy rows: REQ clients sending the connect
request's JSON straight to the fake arkouda_server.

With ``--inflight K`` (default 1) it opens K REQ sockets, since a REQ socket
has one request outstanding at a time: each round sends one request on every
socket, then waits for every reply (zmq.Poller). A call's latency runs from
its send to its reply.

Usage: zmq_floor.py --port P --name NAME [--inflight K] [--warm W] [--calls N]
Prints ``RESULT NAME.p50_us X``, ``.p99_us``, ``.p999_us``, ``.per_s``.
"""

import argparse
import json
import time

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--inflight", type=int, default=1)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    ctx = zmq.Context()
    socks = []
    for _ in range(max(1, a.inflight)):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(f"tcp://127.0.0.1:{a.port}")
        socks.append(s)
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    req = json.dumps({"user": "kjyost", "token": "", "cmd": "connect", "format": "STRING",
                      "size": -1, "args": ""}).encode()
    clock = time.perf_counter

    def run(calls, lat):
        done = 0
        while done < calls:
            batch = socks[: min(len(socks), calls - done)]
            sent = {}
            for s in batch:
                sent[s] = clock()
                s.send(req)
            while sent:
                for s, _ in poller.poll():
                    if s in sent:
                        s.recv()
                        if lat is not None:
                            lat.append((clock() - sent[s]) * 1e6)
                        del sent[s]
            done += len(batch)

    run(max(a.warm, len(socks)), None)
    lat = []
    start = clock()
    run(a.calls, lat)
    total = clock() - start
    lat.sort()

    def pick(q):
        return lat[round((len(lat) - 1) * q)]

    print(f"RESULT {a.name}.p50_us {pick(0.50):.2f}")
    print(f"RESULT {a.name}.p99_us {pick(0.99):.2f}")
    print(f"RESULT {a.name}.p999_us {pick(0.999):.2f}")
    print(f"RESULT {a.name}.per_s {len(lat) / total:.2f}")
    for s in socks:
        s.close()
    ctx.term()


if __name__ == "__main__":
    main()
