#!/usr/bin/env python3
"""A stand-in for arkouda_server, written for tests/arkouda_session.rs.

A ZeroMQ REP socket (pyzmq) on 127.0.0.1 that answers Arkouda's Python client
with the message shapes of arkouda_server (ServerDaemon.chpl, Message.chpl):
string requests are one JSON frame, binary requests two frames (the JSON with
"format":"BINARY" and BINARY_PAYLOAD appended, then the payload); replies are
reply JSON, or for a client that asked recv_binary one frame of raw bytes, or
a frame starting "Error:". Arrays live in memory as NumPy arrays.

Commands (their real names and argument formats):
  connect, disconnect, getconfig, getRegistrationConfig, ruok, sleep {"ms"}
  create<dtype,1>      {"shape"}                 -> "created <name> <dtype> <size> 1 (<size>,) <itemsize>"
  set<dtype,1>         {"array","val"}           -> fills in place ("set" is how ak.full/ones fill)
  array<dtype,1>       {"dtype","shape","seg_string"} + binary payload -> created ...
  tondarray<dtype,1>   {"array"}                 -> the array's bytes (binary), or "Error: ..." when unknown
  delete               {"name"}                  -> "deleted <name>"
  anything else        -> msgType ERROR "Unrecognized command: <cmd>"

Prints "PORT <n>" once bound; exits when stdin closes.
"""

import json
import os
import sys
import threading
import time

import numpy as np
import zmq

ARRAYS = {}
NEXT = [0]
CONFIG = {
    "arkoudaVersion": "stand-in", "chplVersion": "none", "ZMQVersion": zmq.zmq_version(),
    "serverHostname": "localhost", "ServerPort": 0, "numLocales": 1, "numPUs": 2,
    "maxTaskPar": 2, "physicalMemory": 1 << 30, "distributionType": "domain(1,int(64),one)",
    "LocaleConfigs": [], "authenticate": False, "logLevel": "INFO", "logChannel": "CONSOLE",
    "regexMaxCaptures": 20, "byteorder": sys.byteorder, "autoShutdown": False,
    "serverInfoNoSplash": False,
}
REGISTRATION = {"parameter_classes": {"array": {"nd": [1], "dtype": ["int64", "uint64", "float64", "bool"]}}}


def reply(msg, user, msg_type="NORMAL"):
    return [json.dumps({"msg": msg, "msgType": msg_type, "msgFormat": "STRING", "user": user}).encode()]


def params(args):
    """Arkouda's args: a JSON list of JSON objects {"key","dtype","val"}."""
    out = {}
    for p in json.loads(args or "[]"):
        p = json.loads(p) if isinstance(p, str) else p
        out[p["key"]] = p["val"]
    return out


def created(name):
    a = ARRAYS[name]
    return f"created {name} {a.dtype.name} {a.size} 1 ({a.size},) {a.itemsize}"


def new_name():
    NEXT[0] += 1
    return f"id_stand_in_{NEXT[0]}"


def answer(frames):
    first, payload = frames[0], None
    if first.endswith(b"BINARY_PAYLOAD"):
        first, payload = first[: -len(b"BINARY_PAYLOAD")], frames[1]
    req = json.loads(first.decode())
    user, cmd = req["user"], req["cmd"]
    if (payload is not None) != (req["format"] == "BINARY"):
        return reply(f"format {req['format']} does not match the frames", user, "ERROR")
    p = params(req["args"])
    base, _, tparams = cmd.partition("<")
    dtype = tparams.split(",")[0] if tparams else None
    if cmd == "connect":
        return reply("connected to arkouda server tcp://*:5555", user)
    if cmd == "disconnect":
        return reply("disconnected from arkouda server tcp://*:5555", user)
    if cmd == "getconfig":
        return reply(json.dumps(CONFIG), user)
    if cmd == "getRegistrationConfig":
        return reply(json.dumps(REGISTRATION), user)
    if cmd == "ruok":
        return reply("imok", user)
    if cmd == "sleep":
        time.sleep(int(p["ms"]) / 1000.0)
        return reply("slept", user)
    if base == "create":
        shape = p["shape"]
        size = int(json.loads(shape)[0] if isinstance(shape, str) and shape.startswith("[") else shape)
        name = new_name()
        ARRAYS[name] = np.zeros(size, dtype=dtype)
        return reply(created(name), user)
    if base == "set":
        name = p["array"]
        if name not in ARRAYS:
            return reply(f"unknown symbol: {name}", user, "ERROR")
        ARRAYS[name][:] = np.array(p["val"]).astype(ARRAYS[name].dtype)
        return reply(f"set {name}", user)
    if base == "array":
        name = new_name()
        ARRAYS[name] = np.frombuffer(payload, dtype=dtype).copy()
        return reply(created(name), user)
    if base == "tondarray":
        name = p["array"]
        if name not in ARRAYS:
            return [f"Error: unknown symbol: {name}".encode()]
        return [ARRAYS[name].tobytes()]
    if cmd == "delete":
        ARRAYS.pop(p.get("name"), None)
        return reply(f"deleted {p.get('name')}", user)
    sys.stderr.write(f"stand-in: unrecognized {cmd} {req['args']}\n")
    return reply(f"Unrecognized command: {cmd}", user, "ERROR")


def main():
    sock = zmq.Context().socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    CONFIG["ServerPort"] = port
    print(f"PORT {port}", flush=True)

    def exit_on_stdin_eof():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    while True:
        frames = sock.recv_multipart()
        try:
            out = answer(frames)
        except Exception as e:  # a bad request is an Arkouda error, as the server's
            out = reply(f"stand-in could not run the request: {e!r}", "", "ERROR")
        sock.send_multipart(out)


if __name__ == "__main__":
    main()
