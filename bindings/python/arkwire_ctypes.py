"""arkwire over ctypes: an Arkouda gRPC channel for Python through libarkwire.so.

    from arkwire_ctypes import Channel
    ch = Channel("127.0.0.1:50053", user="kjyost")
    ch.connect()
    print(ch.send_string_message("ruok"))   # imok
    ch.disconnect()

The library is found at $ARKWIRE_LIB, else next to this file, else by
ctypes.util.find_library("arkwire"). Build it with
`cargo build --release -p arkwire-capi` (target/release/libarkwire.so).
"""

import ctypes
import ctypes.util
import os

ARKWIRE_OK = 0
ARKWIRE_CONNECTION_FAILED = 4
ARKWIRE_ARKOUDA_ERROR = 8
ARKWIRE_ERROR_ARKOUDA = 1


class Result(ctypes.Structure):
    """arkwire_result: what one operation came to (see arkwire.h)."""
    _fields_ = [("status", ctypes.c_uint32), ("op", ctypes.c_uint32),
                ("kind", ctypes.c_uint32), ("error_kind", ctypes.c_uint32),
                ("grpc_code", ctypes.c_uint32), ("state", ctypes.c_uint32),
                ("warning", ctypes.c_bool),
                ("msg", ctypes.c_void_p), ("msg_len", ctypes.c_size_t),
                ("payload", ctypes.c_void_p), ("payload_len", ctypes.c_size_t),
                ("request_id", ctypes.c_void_p), ("request_id_len", ctypes.c_size_t)]

    def text(self):
        return ctypes.string_at(self.msg, self.msg_len).decode()


class ArkwireError(RuntimeError):
    """A failed call: `status` is the arkwire_status code, `grpc_code` the
    gRPC status code, `error_kind` the arkwire_error_kind."""

    def __init__(self, status, message, grpc_code=0, error_kind=0):
        super().__init__(message)
        self.status = status
        self.grpc_code = grpc_code
        self.error_kind = error_kind


def _load(path=None):
    candidates = [path, os.environ.get("ARKWIRE_LIB"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "libarkwire.so"),
                  ctypes.util.find_library("arkwire")]
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.isabs(c)):
            lib = ctypes.CDLL(c)
            break
    else:
        raise OSError("libarkwire.so not found: set ARKWIRE_LIB")
    P = ctypes.c_void_p
    lib.arkwire_status_str.argtypes = [ctypes.c_uint32]
    lib.arkwire_status_str.restype = ctypes.c_char_p
    lib.arkwire_version.argtypes = []
    lib.arkwire_version.restype = ctypes.c_char_p
    lib.arkwire_session_connect.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                            ctypes.c_uint32, ctypes.POINTER(P)]
    lib.arkwire_session_connect.restype = ctypes.c_uint32
    for name in ("arkwire_session_call", "arkwire_session_call_polling"):
        f = getattr(lib, name)
        f.argtypes = [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Result)]
        f.restype = ctypes.c_uint32
    lib.arkwire_session_finish.argtypes = [P, ctypes.c_uint32]
    lib.arkwire_session_finish.restype = ctypes.c_uint32
    lib.arkwire_session_last_error.argtypes = [P]
    lib.arkwire_session_last_error.restype = ctypes.c_char_p
    lib.arkwire_session_free.argtypes = [P]
    lib.arkwire_session_free.restype = None
    return lib


_lib = None


def library():
    """The loaded libarkwire (loaded on first use)."""
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def version():
    return library().arkwire_version().decode()


class Channel:
    """An Arkouda channel in the shape of arkouda's Python channels:
    connect(), send_string_message(cmd, args, size), disconnect()."""

    def __init__(self, address, user="", token="", timeout_ms=0):
        self.address, self.user, self.token = address, user, token
        self.timeout_ms = timeout_ms
        self._session = None

    def connect(self):
        """Opens the connection and sends Arkouda's `connect` command."""
        if self._session is not None:
            return
        lib = library()
        handle = ctypes.c_void_p()
        status = lib.arkwire_session_connect(self.address.encode(), self.user.encode(),
                                             self.token.encode(), self.timeout_ms,
                                             ctypes.byref(handle))
        if status != ARKWIRE_OK:
            raise ArkwireError(status, "%s: %s" % (self.address,
                                                   lib.arkwire_status_str(status).decode()))
        self._session = handle
        return self.send_string_message("connect")

    def send_string_message(self, cmd, args="", size=-1, polling=False):
        """Sends `cmd` and returns Arkouda's reply text; raises ArkwireError on
        any failure, an Arkouda ERROR reply included. `size` is Arkouda's
        argument count; the proxy protocol sends -1 and so does this."""
        del size
        if self._session is None:
            raise ArkwireError(5, "not connected")
        lib = library()
        call = lib.arkwire_session_call_polling if polling else lib.arkwire_session_call
        result = Result()
        status = call(self._session, cmd.encode(), args.encode(), ctypes.byref(result))
        try:
            # The text lives in the session until the operation is finished.
            text = result.text()
        finally:
            lib.arkwire_session_finish(self._session, result.op)
        if status != ARKWIRE_OK:
            raise ArkwireError(status, text, result.grpc_code, result.error_kind)
        return text

    def disconnect(self):
        if self._session is not None:
            library().arkwire_session_free(self._session)
            self._session = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.disconnect()

    def __del__(self):
        try:
            self.disconnect()
        except Exception:
            pass
