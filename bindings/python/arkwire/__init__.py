"""arkwire for Python: an Arkouda channel over the Arkouda gRPC proxy protocol.

    import arkouda as ak
    from arkwire import ArkwireChannel
    ak.connect(access_channel=ArkwireChannel("kjyost", "localhost", 50053))

`ArkwireChannel` is an `arkouda.client.Channel` when arkouda can be imported
(duck-typed otherwise) with the signatures of Arkouda's own channels. It calls
libarkwire (the C ABI, through ctypes); the library is taken from
$ARKWIRE_LIB, else from this package (the wheel carries it), else from
ctypes.util.find_library("arkwire").
"""

import concurrent.futures
import ctypes
import ctypes.util
import logging
import os
import threading
import warnings

__all__ = ["ArkwireChannel", "ArkwireError", "version", "MODES"]

#: The call patterns: one call per command; submit then poll
#: `getrequeststatus` with backoff; submit on a worker and hand out futures.
MODES = ("blocking", "polling", "async")

ARKWIRE_OK = 0
ARKWIRE_ARKOUDA_ERROR = 8
ARKWIRE_RESULT_BINARY = 2
# arkwire_error_kind values after which a connection is not reused.
_BROKEN_KINDS = (4, 5, 6)  # TRANSPORT, TIMEOUT, PROTOCOL


class ArkwireError(RuntimeError):
    """A call that failed other than by an Arkouda ERROR reply: `status` is the
    arkwire_status code, `grpc_code` the gRPC status code, `error_kind` the
    arkwire_error_kind; the message keeps the gRPC status name and text
    (such as ``RESOURCE_EXHAUSTED: binary request of ...``)."""

    def __init__(self, status, message, grpc_code=0, error_kind=0):
        super().__init__(message)
        self.status = status
        self.grpc_code = grpc_code
        self.error_kind = error_kind


class _Result(ctypes.Structure):
    """arkwire_result (arkwire.h): what one operation came to."""
    _fields_ = [("status", ctypes.c_uint32), ("op", ctypes.c_uint32),
                ("kind", ctypes.c_uint32), ("error_kind", ctypes.c_uint32),
                ("grpc_code", ctypes.c_uint32), ("state", ctypes.c_uint32),
                ("warning", ctypes.c_bool),
                ("msg", ctypes.c_void_p), ("msg_len", ctypes.c_size_t),
                ("payload", ctypes.c_void_p), ("payload_len", ctypes.c_size_t),
                ("request_id", ctypes.c_void_p), ("request_id_len", ctypes.c_size_t)]


# ---------------------------------------------------------------- the library

_lib = None
_lib_lock = threading.Lock()


def _load():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("ARKWIRE_LIB"), os.path.join(here, "libarkwire.so"),
                  ctypes.util.find_library("arkwire")]
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.isabs(c)):
            lib = ctypes.CDLL(c)
            break
    else:
        raise OSError("libarkwire.so not found: set ARKWIRE_LIB or install the arkwire wheel")
    P, U32, SZ = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_size_t
    sig = {
        "arkwire_status_str": ([U32], ctypes.c_char_p),
        "arkwire_version": ([], ctypes.c_char_p),
        "arkwire_session_connect": ([ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, U32,
                                     ctypes.POINTER(P)], U32),
        "arkwire_session_command": ([P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int32, P, SZ,
                                     ctypes.c_bool, ctypes.c_bool, ctypes.POINTER(_Result)], U32),
        "arkwire_session_finish": ([P, U32], U32),
        "arkwire_session_last_error": ([P], ctypes.c_char_p),
        "arkwire_session_free": ([P], None),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def library():
    """The loaded libarkwire (loaded on first use)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load()
        return _lib


def version():
    """libarkwire's version."""
    return library().arkwire_version().decode()


# ------------------------------------------------------------ result memory

class _Session:
    """Owns an arkwire_session; frees it once nothing refers to it: neither
    the channel's pool nor a result still held (a result's bytes live in its
    session until the operation is finished)."""

    __slots__ = ("handle",)

    def __init__(self, handle):
        self.handle = handle

    def __del__(self):
        if self.handle:
            library().arkwire_session_free(self.handle)
            self.handle = None


class _Held:
    """One operation's result, kept in its session until the last view of it
    is gone (arkwire_session_finish may run on any thread)."""

    __slots__ = ("session", "op")

    def __init__(self, session, op):
        self.session, self.op = session, op

    def __del__(self):
        if self.op:
            library().arkwire_session_finish(self.session.handle, self.op)
            self.op = 0


def _binary_view(result, held):
    """A writable memoryview of the result's bytes, no copy: the bytes stay in
    the session, which keeps them for as long as the view (or anything made
    from it) lives."""
    n = result.payload_len
    if n == 0:
        return memoryview(bytearray())
    array = (ctypes.c_ubyte * n).from_address(result.payload)
    array._arkwire_result = held  # keeps the memory alive with the array
    return memoryview(array).cast("B")


# ------------------------------------------------------------------ channel

try:  # Arkouda's base class, when arkouda is installed.
    from arkouda.client import Channel as _Base
except Exception:  # pragma: no cover - duck-typed without arkouda
    _Base = object


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to borrow a read-only buffer's memory."""

    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


class _Borrowed:
    """A read-only buffer's memory, held (and the buffer kept alive) until
    `release`: ctypes can point only at writable buffers, and copying an
    array of gigabytes to get one would cost the copy and the memory."""

    _api = None

    @classmethod
    def _buffer_api(cls):
        if cls._api is None:
            api = ctypes.pythonapi
            api.PyObject_GetBuffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
            api.PyObject_GetBuffer.restype = ctypes.c_int
            api.PyBuffer_Release.argtypes = [ctypes.POINTER(_PyBuffer)]
            api.PyBuffer_Release.restype = None
            cls._api = api
        return cls._api

    def __init__(self, obj):
        api = self._buffer_api()
        self._view = None
        view = _PyBuffer()
        # PyBUF_SIMPLE: one contiguous run of bytes, read-only allowed.
        if api.PyObject_GetBuffer(obj, ctypes.byref(view), 0) != 0:
            raise BufferError("the payload's buffer cannot be borrowed")
        self._view = view
        self.address = view.buf

    def release(self):
        if self._view is not None:
            self._buffer_api().PyBuffer_Release(ctypes.byref(self._view))
            self._view = None

    def __del__(self):
        # Released even if the call never got to its `finally`.
        self.release()


def _payload_pointer(payload):
    """(address, length, keep) of `payload`'s bytes without a copy; `keep`
    holds them until the call returns (a `_Borrowed` must be released)."""
    view = memoryview(payload).cast("B")
    n = view.nbytes
    if not n:
        return None, 0, None
    if not view.readonly:
        keep = (ctypes.c_ubyte * n).from_buffer(view)
        return ctypes.addressof(keep), n, keep
    try:
        keep = _Borrowed(view)
        return keep.address, n, keep
    except (AttributeError, BufferError):
        # No CPython API to borrow through: a copy it is.
        keep = bytearray(view)
        return ctypes.addressof((ctypes.c_ubyte * n).from_buffer(keep)), n, keep


def _logger():
    try:
        from arkouda.logger import getArkoudaLogger
        return getArkoudaLogger(name="Arkouda Client")
    except Exception:
        return logging.getLogger("arkwire")


def _address(server, port, connect_url):
    """`host:port` of the proxy from Arkouda's (server, port, connect_url);
    a `connect_url` may be `tcp://`, `http://` or `grpc://` and carry
    `?token=`. Returns (address, url, token from the url)."""
    if not connect_url:
        return f"{server}:{port}", f"tcp://{server}:{port}", None
    rest, token = connect_url, None
    for scheme in ("tcp://", "http://", "grpc://"):
        if rest.startswith(scheme):
            rest = rest[len(scheme):]
    if "?" in rest:
        rest, query = rest.split("?", 1)
        for part in query.split("&"):
            if part.startswith("token="):
                token = part[len("token="):]
    return rest.rstrip("/"), connect_url, token


class ArkwireChannel(_Base):
    """An Arkouda channel to an Arkouda gRPC proxy (``arkwire serve``).

    Constructed like Arkouda's channels, plus a `mode`:
    ``'blocking'`` (one call per command; a proxy that answers SUBMITTED is
    followed up by polling), ``'polling'`` (submit under a request id, then
    poll ``getrequeststatus`` with backoff) or ``'async'`` (commands run on
    worker threads; :meth:`submit` hands out futures, and the
    ``send_*_message`` methods still return the command's reply).

    Thread-safe: each thread's call uses its own connection from a small
    pool. Binary replies are ``memoryview`` objects over the result's bytes
    in the library, without a copy (the operation is finished, and its
    connection may close, once the last view is gone). Ctrl-C during a call abandons it (its connection
    is closed once the call ends); Arkouda then calls ``connect(timeout=0)``,
    which opens fresh connections.
    """

    def __init__(self, user, server="localhost", port=50053, token=None, connect_url=None,
                 mode="blocking", workers=4):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self._address, self.url, url_token = _address(server, port, connect_url)
        self.user = user
        self.token = token if token not in (None, "", "None") else url_token
        self.logger = _logger()
        self.mode = mode
        self._timeout_ms = 0
        self._lock = threading.Lock()
        self._idle = []          # sessions ready for a call
        self._generation = 0     # bumped by connect/disconnect: older sessions are closed
        self._connected = False
        self._workers = workers
        self._executor = None

    # ----------------------------------------------------------- Channel API

    def connect(self, timeout=0):
        """Opens the channel (and closes any connections of an earlier one,
        such as a call abandoned by Ctrl-C). `timeout` in seconds bounds the
        TCP connect and each gRPC call; 0 means the library's defaults."""
        self._timeout_ms = int(timeout * 1000) if timeout and timeout > 0 else 0
        with self._lock:
            self._generation += 1
            stale, self._idle = self._idle, []
            self._connected = True
        del stale  # each is freed once no result of it is held
        # Connect now, so an unreachable proxy fails here as with ZeroMQ's.
        self._release(self._acquire(), self._generation)

    def disconnect(self):
        """Closes every connection; calls still running end first, and a
        connection whose binary reply is still viewed closes with the view."""
        with self._lock:
            self._generation += 1
            stale, self._idle = self._idle, []
            self._connected = False
            executor, self._executor = self._executor, None
        del stale  # each is freed once no result of it is held
        if executor is not None:
            executor.shutdown(wait=False)

    def send_string_message(self, cmd, recv_binary=False, args=None, size=-1, request_id=None):
        """Sends a string command; returns the reply's text, or a
        ``memoryview`` of its bytes when `recv_binary`. An Arkouda ERROR
        raises ``RuntimeError`` with the server's message; a WARNING is
        issued as a warning and its text returned."""
        return self._call(cmd, None, recv_binary, args, size)

    def send_binary_message(self, cmd, payload, recv_binary=False, args=None, size=-1,
                            request_id=None):
        """Sends a binary command: `payload` (a buffer such as a memoryview of
        a NumPy array) goes as the command's binary payload. Otherwise as
        :meth:`send_string_message`."""
        return self._call(cmd, payload, recv_binary, args, size)

    # --------------------------------------------------------------- futures

    def submit(self, cmd, recv_binary=False, args=None, size=-1, payload=None):
        """Starts a command on a worker thread and returns a
        ``concurrent.futures.Future`` of what ``send_*_message`` would
        return (the polling pattern runs it: submit, then poll)."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix="arkwire")
            executor = self._executor
        return executor.submit(self._execute, cmd, payload, recv_binary, args, size, True)

    # ------------------------------------------------------------- internals

    def _call(self, cmd, payload, recv_binary, args, size):
        if self.mode == "async":
            future = self.submit(cmd, recv_binary, args, size, payload)
            return self._interruptible(future.result, future.cancel)
        polling = self.mode == "polling"
        if threading.current_thread() is not threading.main_thread():
            return self._execute(cmd, payload, recv_binary, args, size, polling)
        # On the main thread the call runs on a helper thread, so Ctrl-C
        # reaches Python at once instead of after the call.
        box, done = {}, threading.Event()

        def work():
            try:
                box["value"] = self._execute(cmd, payload, recv_binary, args, size, polling)
            except BaseException as e:  # handed to the caller
                box["error"] = e
            finally:
                done.set()

        threading.Thread(target=work, name="arkwire-call", daemon=True).start()
        self._interruptible(lambda: done.wait(), lambda: None)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _interruptible(self, wait, cancel):
        """Runs `wait`; on Ctrl-C abandons the call: its connection is closed
        when it ends, the next call (or connect) uses a fresh one."""
        try:
            return wait()
        except KeyboardInterrupt:
            cancel()
            with self._lock:
                self._generation += 1
                stale, self._idle = self._idle, []
            del stale  # each is freed once no result of it is held
            raise

    def _acquire(self):
        with self._lock:
            if not self._connected:
                raise RuntimeError("the channel is not connected; call connect() first")
            if self._idle:
                return self._idle.pop()
        lib = library()
        handle = ctypes.c_void_p()
        status = lib.arkwire_session_connect(self._address.encode(), self.user.encode(),
                                             (self.token or "").encode(), self._timeout_ms,
                                             ctypes.byref(handle))
        if status != ARKWIRE_OK:
            raise ConnectionError("%s: %s" % (self._address,
                                              lib.arkwire_status_str(status).decode()))
        return _Session(handle.value)

    def _release(self, session, generation, broken=False):
        with self._lock:
            if not broken and generation == self._generation and self._connected:
                self._idle.append(session)
        # Otherwise dropped: freed once no result of it is held.

    def _execute(self, cmd, payload, recv_binary, args, size, polling):
        lib = library()
        if payload is None:
            data, n, keep = None, 0, None
        else:
            data, n, keep = _payload_pointer(payload)
        generation = self._generation
        try:
            session = self._acquire()
            result = _Result()
            status = lib.arkwire_session_command(
                session.handle, cmd.encode(), (args or "").encode(), int(size), data, n,
                bool(recv_binary), bool(polling), ctypes.byref(result))
        finally:
            if isinstance(keep, _Borrowed):
                keep.release()
            del keep
        held = _Held(session, result.op)
        if status != ARKWIRE_OK:
            why = ctypes.string_at(result.msg, result.msg_len).decode(errors="replace")
            del held  # finishes the operation
            # A connection that failed or timed out is not reused.
            self._release(session, generation, broken=result.error_kind in _BROKEN_KINDS)
            if status == ARKWIRE_ARKOUDA_ERROR:
                raise RuntimeError(why)
            raise ArkwireError(status, why or lib.arkwire_status_str(status).decode(),
                               result.grpc_code, result.error_kind)
        self._release(session, generation)
        if result.kind == ARKWIRE_RESULT_BINARY:
            return _binary_view(result, held)
        text = ctypes.string_at(result.msg, result.msg_len).decode()
        del held  # finishes the operation
        if result.warning:
            warnings.warn(text)
        return text

    def __del__(self):
        try:
            self.disconnect()
        except Exception:
            pass
