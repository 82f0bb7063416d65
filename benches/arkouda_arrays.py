#!/usr/bin/env python3
"""Array transfer through the proxy against the same transfer straight over
ZeroMQ: a 16 MiB int64 array sent to a stand-in arkouda_server
(`ak.array`'s binary request, `array<int64,1>`) and fetched back
(`tondarray<int64,1>`, a binary reply), in interleaved rounds.

  direct: pyzmq REQ -> stand-in (Arkouda's ZmqChannel frames)
  proxy:  ArkwireChannel (libarkwire) -> arkwire serve --upstream -> stand-in

  (or, with --client rust, the proxy path's client is net::Session in
   benches/peers' arkwire-arrays, which takes arrays past the C ABI's
   64 MiB default: the 1 GiB row)

Usage: arkouda_arrays.py --arkwire target/release/arkwire --lib target/release/libarkwire.so
                         [--rounds 9] [--mib 16] [--client python|rust --arrays-bin PATH]
Prints the median and spread (min..max) of MB/s per direction and path, the
proxy/direct ratio, the proxy's peak resident memory, and ``RESULT name
value`` lines for benches/run.sh (names carry the size when --tag is given).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(cmd, marker):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert marker in line, line
    return p, int(line.rsplit(":", 1)[-1].split()[-1])


def request(cmd, args, fmt):
    return json.dumps({"user": "bench", "token": "", "cmd": cmd, "format": fmt,
                       "size": len(args), "args": json.dumps([json.dumps(a) for a in args])})


def arg(key, dtype, val):
    return {"key": key, "dtype": dtype, "val": val}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arkwire", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--client", choices=("python", "rust"), default="python")
    ap.add_argument("--arrays-bin", default=os.path.join(ROOT, "target/release/arkwire-arrays"))
    ap.add_argument("--tag", default="")
    ap.add_argument("--raw", action="store_true",
                    help="also print RESULT name value ROUND for every round (benches/run.sh)")
    a = ap.parse_args()
    if a.client == "python":
        os.environ["ARKWIRE_LIB"] = a.lib
        sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
        from arkwire import ArkwireChannel

    server, zport = start([sys.executable, os.path.join(ROOT, "tests/arkouda/stand_in_server.py")], "PORT")
    max_binary = str(a.mib * (1 << 20) + (1 << 20))
    proxy, gport = start([a.arkwire, "serve", "--listen", "127.0.0.1:0", "--threads", "1",
                          "--max-binary-size", max_binary,
                          "--upstream", f"tcp://127.0.0.1:{zport}"], "listening on")
    try:
        data = np.arange(a.mib * (1 << 20) // 8, dtype=np.int64)
        nbytes = data.nbytes
        upload = [arg("dtype", "str", "int64"), arg("shape", "int64", str(data.size)),
                  arg("seg_string", "bool", "False")]

        sock = zmq.Context().socket(zmq.REQ)
        sock.connect(f"tcp://127.0.0.1:{zport}")

        def delete(name):
            # The stand-in keeps every array: free each round's (1 GiB rows).
            sock.send(request("delete", [arg("name", "str", name)], "STRING").encode())
            sock.recv()

        def direct():
            t0 = time.perf_counter()
            sock.send((request("array<int64,1>", upload, "BINARY") + "BINARY_PAYLOAD").encode(),
                      flags=zmq.SNDMORE)
            sock.send(memoryview(data), copy=False)
            name = json.loads(sock.recv())["msg"].split()[1]
            t1 = time.perf_counter()
            sock.send(request("tondarray<int64,1>", [arg("array", "pdarray", name)], "STRING").encode())
            back = sock.recv(copy=False).buffer
            t2 = time.perf_counter()
            assert len(back) == nbytes
            delete(name)
            return t1 - t0, t2 - t1

        if a.client == "rust":
            rust = subprocess.Popen([a.arrays_bin, "--addr", f"127.0.0.1:{gport}", "--mib", str(a.mib)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert rust.stdout.readline().strip() == "READY"

            def through_rust():
                rust.stdin.write("round\n")
                rust.stdin.flush()
                words = rust.stdout.readline().split()
                assert words[0] == "TIMES", words
                delete(words[3])
                return float(words[1]), float(words[2])

        channel = None
        if a.client == "python":
            channel = ArkwireChannel("bench", "127.0.0.1", gport)
            channel.connect()

        def through_proxy():
            t0 = time.perf_counter()
            reply = channel.send_binary_message("array<int64,1>", memoryview(data),
                                                args=json.dumps([json.dumps(x) for x in upload]),
                                                size=len(upload))
            name = reply.split()[1]
            t1 = time.perf_counter()
            back = channel.send_string_message(
                "tondarray<int64,1>", recv_binary=True,
                args=json.dumps([json.dumps(arg("array", "pdarray", name))]), size=1)
            t2 = time.perf_counter()
            assert len(back) == nbytes and np.frombuffer(back, np.int64)[-1] == data[-1]
            delete(name)
            return t1 - t0, t2 - t1

        if a.client == "rust":
            through_proxy = through_rust  # noqa: F811
        direct(), through_proxy()  # warm up
        times = {"direct": ([], []), "proxy": ([], [])}
        for i in range(a.rounds):  # interleaved, so drift hits both alike
            order = (("direct", direct), ("proxy", through_proxy))
            for name, run in order if i % 2 == 0 else order[::-1]:
                up, down = run()
                times[name][0].append(nbytes / up / 1e6)
                times[name][1].append(nbytes / down / 1e6)
                if a.raw:
                    print(f"RESULT arrays{a.tag}.upload.{name}_mb_s {nbytes / up / 1e6:.1f} {i + 1}")
                    print(f"RESULT arrays{a.tag}.download.{name}_mb_s {nbytes / down / 1e6:.1f} {i + 1}")
        tag = a.tag
        print(f"{a.mib} MiB int64 array, {a.client} client, {a.rounds} interleaved rounds, "
              "MB/s median (min..max)")
        for i, direction in enumerate(("upload", "download")):
            row = []
            for name in ("direct", "proxy"):
                v = times[name][i]
                med = statistics.median(v)
                row.append(med)
                print(f"  {direction:8} {name:6} {med:8.0f}  ({min(v):.0f}..{max(v):.0f})")
                if not a.raw:
                    print(f"RESULT arrays{tag}.{direction}.{name}_mb_s {med:.0f}")
            print(f"  {direction:8} proxy/direct {row[1] / row[0]:.2f}")
            if not a.raw:
                print(f"RESULT arrays{tag}.{direction}.ratio {row[1] / row[0]:.2f}")
        peak = idle = 0
        with open(f"/proc/{proxy.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
                if line.startswith("VmRSS:"):
                    idle = int(line.split()[1]) / 1024
        print(f"  proxy peak RSS {peak:.1f} MiB (now {idle:.1f} MiB)")
        print(f"RESULT arrays{tag}.proxy_peak_rss_mib {peak:.1f}")
        if channel is not None:
            channel.disconnect()
        if a.client == "rust":
            rust.stdin.close()
            rust.wait()
    finally:
        for p in (proxy, server):
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
