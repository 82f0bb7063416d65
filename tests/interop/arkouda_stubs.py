"""Generate and import the Python protobuf/gRPC stubs for proto/arkouda.proto.

The stubs are generated at run time with ``grpc_tools.protoc`` (from the
grpcio-tools package) into a fresh temporary directory, so no generated code is
ever committed. Usage::

    import arkouda_stubs
    pb2, pb2_grpc = arkouda_stubs.load()

``load()`` is idempotent within one process.
"""

import atexit
import importlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO_FILE = "arkouda.proto"

_loaded = None


def load():
    """Return ``(arkouda_pb2, arkouda_pb2_grpc)``, generating them on first use."""
    global _loaded
    if _loaded is not None:
        return _loaded

    from grpc_tools import protoc  # imported lazily: a clear ImportError if missing

    src = os.path.join(PROTO_DIR, PROTO_FILE)
    if not os.path.isfile(src):
        raise FileNotFoundError(f"arkouda_stubs: schema not found at {src}")

    out = tempfile.mkdtemp(prefix="arkwire-interop-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)

    # grpc_tools ships the well-known .proto files next to its own module.
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
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
    _loaded = (pb2, pb2_grpc)
    return _loaded


if __name__ == "__main__":
    pb2, pb2_grpc = load()
    req = pb2.ArkoudaRequest(user="kjyost", cmd="connect", format="STRING", size=-1)
    print(req.SerializeToString().hex())
