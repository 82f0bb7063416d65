#!/usr/bin/env python3
"""A grpcio client over TLS (grpc.ssl_channel_credentials), for arkwire's
TLS server.

Usage:
    tls_client.py --target HOST:PORT --ca PEM [--cert PEM --key PEM]
                  [--name SERVER_NAME] [--user USER] [--args TEXT]
                  (--expect MESSAGE | --expect-contains TEXT | --expect-fail)
    tls_client.py --target HOST:PORT --insecure --expect-fail

Sends one HandleRequest (user USER, default "kjyost"; cmd "echo", args TEXT) and prints
``OK <message>`` or ``FAILED <status code> <details>``. Exits 0 when the
outcome is the expected one (--expect MESSAGE: the reply's message equals
MESSAGE; --expect-contains TEXT: it contains TEXT; --expect-fail: the
call failed), 1 otherwise.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, pb2_grpc = arkouda_stubs.load()


def read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--name", default="localhost")
    ap.add_argument("--args", default="hello over TLS")
    ap.add_argument("--user", default="kjyost")
    ap.add_argument("--insecure", action="store_true",
                    help="plaintext HTTP/2 (to check a TLS server refuses it)")
    want = ap.add_mutually_exclusive_group(required=True)
    want.add_argument("--expect")
    want.add_argument("--expect-contains")
    want.add_argument("--expect-fail", action="store_true")
    opts = ap.parse_args()

    if opts.insecure:
        channel = grpc.insecure_channel(opts.target)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(opts.ca),
            private_key=read(opts.key),
            certificate_chain=read(opts.cert))
        channel = grpc.secure_channel(
            opts.target, creds,
            options=[("grpc.ssl_target_name_override", opts.name)])
    stub = pb2_grpc.ArkoudaStub(channel)
    request = pb2.ArkoudaRequest(user=opts.user, cmd="echo", format="STRING",
                                 size=-1, args=opts.args)
    try:
        reply = stub.HandleRequest(request, timeout=10)
    except grpc.RpcError as e:
        print(f"FAILED {e.code().name} {e.details()}", flush=True)
        return 0 if opts.expect_fail else 1
    finally:
        channel.close()
    print(f"OK {reply.message}", flush=True)
    if opts.expect_fail:
        return 1
    if opts.expect_contains is not None:
        return 0 if opts.expect_contains in reply.message else 1
    return 0 if reply.message == opts.expect else 1


if __name__ == "__main__":
    sys.exit(main())
