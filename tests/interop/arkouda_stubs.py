"""Generate and import the Python protobuf/gRPC stubs for proto/arkouda.proto.

The stubs are generated at run time with ``grpc_tools.protoc`` (from the
grpcio-tools package) into a fresh temporary directory, so no generated code is
ever committed. Usage::

    import arkouda_stubs
    pb2, pb2_grpc = arkouda_stubs.load()

``load()`` is idempotent within one process.

By default the stubs are generated from the *seed* schema: proto/arkouda.proto
with the binary extension (request fields 8 and up, response fields 7 and up)
left out, which is what a grpcio peer built before the extension has. The
interop tests thereby prove the extension stays wire-compatible with it.
``load(extended=True)`` generates from the whole schema.
"""

import atexit
import importlib
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO_FILE = "arkouda.proto"

_loaded = {}

# The last field number of each message in the seed schema.
SEED_LAST_FIELD = {"ArkoudaRequest": 7, "ArkoudaResponse": 6}


def seed_schema(text):
    """``text`` without the fields the seed schema does not have."""
    out, message = [], None
    for line in text.splitlines():
        m = re.match(r"\s*message\s+(\w+)", line)
        if m:
            message = m.group(1)
        field = re.match(r"\s*(?:optional\s+)?\w+\s+\w+\s*=\s*(\d+)\s*;", line)
        if field and message in SEED_LAST_FIELD and int(field.group(1)) > SEED_LAST_FIELD[message]:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def load(extended=False):
    """Return ``(arkouda_pb2, arkouda_pb2_grpc)``, generating them on first use."""
    if extended in _loaded:
        return _loaded[extended]

    from grpc_tools import protoc  # imported lazily: a clear ImportError if missing

    src = os.path.join(PROTO_DIR, PROTO_FILE)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"arkouda_stubs: schema not found at {src}")

    out = tempfile.mkdtemp(prefix="arkwire-interop-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    schema_dir = PROTO_DIR
    if not extended:
        schema_dir = os.path.join(out, "seed")
        os.makedirs(schema_dir)
        with open(src) as f:
            seed = seed_schema(f.read())
        src = os.path.join(schema_dir, PROTO_FILE)
        with open(src, "w") as f:
            f.write(seed)

    # grpc_tools ships the well-known .proto files next to its own module.
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{schema_dir}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        src,
    ])
    if rc != 0:
        raise RuntimeError(f"arkouda_stubs: protoc failed (exit {rc}) on {src}")

    # arkouda_pb2_grpc does `import arkouda_pb2`, so the directory must be on sys.path.
    sys.path.insert(0, out)
    try:
        pb2 = importlib.import_module("arkouda_pb2")
        pb2_grpc = importlib.import_module("arkouda_pb2_grpc")
    finally:
        sys.path.remove(out)
    _loaded[extended] = (pb2, pb2_grpc)
    return _loaded[extended]


if __name__ == "__main__":
    pb2, pb2_grpc = load(extended="--extended" in sys.argv)
    req = pb2.ArkoudaRequest(user="kjyost", cmd="connect", format="STRING", size=-1)
    print(req.SerializeToString().hex())
