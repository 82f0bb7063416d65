#!/usr/bin/env python3
"""Regenerates the committed seed corpora under fuzz/seeds/.

Protobuf seeds are the golden bytes of tests/proto_golden.rs and the Arkouda
proxy's replies; JSON seeds are Arkouda reply texts; HPACK seeds are header
blocks of the hpack-test-case nghttp2 story_00 (from shared/testdata when it
is there); HTTP/2 seeds are real gRPC calls produced by python-hyper's `h2`
(pip install h2). Targets whose first input byte picks chunk sizes get a
leading byte: 0 = one chunk, small = tiny chunks.

Usage: python3 fuzz/seeds.py   (from the repository root or fuzz/)
"""
import json
import os
import sys

import h2.config
import h2.connection

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
STORY = os.path.join(HERE, "..", "..", "shared", "testdata", "hpack-test-case", "nghttp2", "story_00.json")
STORY_ALT = "/work/shared/testdata/hpack-test-case/nghttp2/story_00.json"

PATH = "/arkouda.Arkouda/HandleRequest"


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string_field(field, text):
    data = text.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def bytes_field(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def request(user="kjyost", token="", cmd="", fmt="STRING", size=0, args="", request_id=None,
            recv_binary=False, payload=b""):
    out = b""
    for field, value in ((1, user), (2, token), (3, cmd), (4, fmt)):
        if value:
            out += string_field(field, value)
    if size:
        out += varint(5 << 3) + varint(size)
    if args:
        out += string_field(6, args)
    if request_id is not None:
        out += string_field(7, request_id)
    if recv_binary:
        out += varint(8 << 3) + varint(1)
    if payload:
        out += bytes_field(9, payload)
    return out


def response(message="", **optional):
    out = string_field(1, message) if message else b""
    for field, name in ((2, "request_id"), (3, "request_status"), (4, "user"), (5, "cmd"), (6, "args")):
        if name in optional:
            out += string_field(field, optional[name])
    if optional.get("payload"):
        out += bytes_field(7, optional["payload"])
    return out


def grpc_message(payload):
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def reply(msg, msg_type="NORMAL", user="kjyost"):
    return json.dumps({"msg": msg, "msgType": msg_type, "msgFormat": "STRING", "user": user})


CONNECT = request(cmd="connect", size=-1)
GETCONFIG = request(cmd="getconfig", args="[]")
REQUEST_ID = "0123456789abcdefghijklmnopqrstuv"
CONNECT_REPLY = reply("connected to arkouda server tcp://*:5555")
GETCONFIG_REPLY = reply(json.dumps({"arkoudaVersion": "v2024.10.02", "numLocales": 1, "serverHostname": "node0"}))
SUBMITTED = response("submitted request to Arkouda", request_id=REQUEST_ID, request_status="SUBMITTED")
STATUS_REQUEST = request(cmd="getrequeststatus", request_id=REQUEST_ID)
PENDING = json.dumps({"request_id": REQUEST_ID, "request_status": "PENDING"})
# The binary extension: an `ak.array` request and a `tondarray` reply.
BINARY_REQUEST = request(cmd="array", fmt="BINARY", size=-1, recv_binary=True, payload=b"\x00\xff\x80\x01")
BINARY_REPLY = response(json.dumps({"msg": "", "msgType": "NORMAL", "msgFormat": "BINARY", "user": "kjyost"}),
                        user="kjyost", payload=bytes(range(256)))
FINISHED = json.dumps({"request_id": REQUEST_ID, "request_result": json.loads(CONNECT_REPLY)})

assert CONNECT.hex() == "0a066b6a796f73741a07636f6e6e6563742206535452494e4728ffffffffffffffffff01"
assert BINARY_REQUEST.hex() == ("0a066b6a796f73741a056172726179220642494e415259"
                                "28ffffffffffffffffff0140014a0400ff8001")
assert GETCONFIG.hex() == "0a066b6a796f73741a09676574636f6e6669672206535452494e4732025b5d"


def write(target, name, data):
    assert len(data) < 4096, (target, name, len(data))
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def grpc_exchange(calls):
    """Runs unary calls through an h2 client and server; returns
    (client bytes, server bytes) as they went over the wire."""
    config = dict(header_encoding="utf-8", validate_inbound_headers=True)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, **config))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, **config))
    client.initiate_connection()
    server.initiate_connection()
    to_server, to_client = b"", b""
    for i, (req, resp) in enumerate(calls):
        stream = 1 + 2 * i
        client.send_headers(stream, [
            (":method", "POST"), (":scheme", "http"), (":path", PATH),
            (":authority", "localhost:50051"), ("content-type", "application/grpc"),
            ("te", "trailers"), ("grpc-timeout", "10S"), ("user-agent", "grpc-python/1.66.1"),
        ])
        client.send_data(stream, grpc_message(req), end_stream=True)
        out = client.data_to_send()
        to_server += out
        server.receive_data(out)
        server.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc")])
        server.send_data(stream, grpc_message(resp))
        server.send_headers(stream, [("grpc-status", "0"), ("grpc-message", "")], end_stream=True)
        out = server.data_to_send()
        to_client += out
        client.receive_data(out)
    # Acknowledgements and a ping each way finish the exchange.
    client.ping(b"arkwire!")
    out = client.data_to_send()
    to_server += out
    server.receive_data(out)
    to_client += server.data_to_send()
    return to_server, to_client


def main():
    # Protobuf views and the differential target.
    for target in ("proto_views", "proto_differential"):
        write(target, "connect_request", CONNECT)
        write(target, "getconfig_request", GETCONFIG)
        write(target, "status_request", STATUS_REQUEST)
        write(target, "connect_response", response(CONNECT_REPLY))
        write(target, "submitted_response", SUBMITTED)
        write(target, "binary_request", BINARY_REQUEST)
        write(target, "binary_response", BINARY_REPLY)

    # Arkouda reply JSON.
    write("arkouda_json", "connect_reply", CONNECT_REPLY.encode())
    write("arkouda_json", "getconfig_reply", GETCONFIG_REPLY.encode())
    write("arkouda_json", "error_reply", reply("Error: unrecognized command \u00e9\t\"x\"", "ERROR").encode())
    write("arkouda_json", "status_pending", PENDING.encode())
    write("arkouda_json", "status_finished", FINISHED.encode())
    write("arkouda_json", "surrogates", b'{"msg":"\\ud83d\\ude00 \\u00e9\\n","msgType":"WARNING","user":"k"}')

    # HPACK: control byte (bits 0-2: number of length bytes, bits 3-4: scratch
    # 64 << n, bits 5-7: table shrink), the block lengths, the blocks.
    story = STORY if os.path.exists(STORY) else STORY_ALT
    with open(story) as f:
        wires = [bytes.fromhex(c["wire"]) for c in json.load(f)["cases"]]

    def hpack_seed(blocks, scratch_bits=1, shrink=0):
        assert all(len(b) < 256 for b in blocks[:-1])
        control = (len(blocks) - 1) | (scratch_bits << 3) | (shrink << 5)
        return bytes([control] + [len(b) for b in blocks[:-1]]) + b"".join(blocks)

    write("hpack", "story_00", hpack_seed(wires))
    write("hpack", "story_00_shrink", hpack_seed(wires, scratch_bits=0, shrink=1))
    write("hpack", "story_00_last", hpack_seed(wires[-1:], scratch_bits=0))
    # The header blocks of a gRPC call as python-hyper's encoder writes them.
    import hpack
    enc = hpack.Encoder()
    grpc_blocks = [
        enc.encode([(":method", "POST"), (":scheme", "http"), (":path", PATH),
                    (":authority", "localhost:50051"), ("content-type", "application/grpc"),
                    ("te", "trailers"), ("grpc-timeout", "10S")]),
        enc.encode([(":status", "200"), ("content-type", "application/grpc")]),
        enc.encode([("grpc-status", "0"), ("grpc-message", "")]),
    ]
    write("hpack", "grpc_call", hpack_seed(grpc_blocks))

    # HTTP/2: one call, and the async pattern (submit, then getrequeststatus).
    one = grpc_exchange([(CONNECT, response(CONNECT_REPLY))])
    two = grpc_exchange([(CONNECT, SUBMITTED), (STATUS_REQUEST, response(FINISHED))])
    for name, (to_server, to_client) in (("unary", one), ("async", two)):
        frames_from_client = to_server[24:]  # without the preface
        for seed in (0, 3):
            write("h2_frame", f"client_{name}_{seed}", bytes([seed]) + frames_from_client)
            write("h2_frame", f"server_{name}_{seed}", bytes([seed]) + to_client)
            write("h2_client", f"{name}_{seed}", bytes([seed]) + to_client)
            # The harness sends the preface and an empty SETTINGS itself.
            write("h2_server", f"{name}_{seed}", bytes([seed]) + frames_from_client)
            write("grpc_server", f"{name}_{seed}", bytes([seed]) + frames_from_client)
            # Byte 1 picks the proxy: the sync one for the unary call, the
            # async one for submit and status.
            mode = 1 if name == "async" else 0
            write("arkouda_service", f"{name}_{seed}", bytes([seed, mode]) + frames_from_client)


if __name__ == "__main__":
    sys.exit(main())
