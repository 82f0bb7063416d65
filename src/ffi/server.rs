//! The socket tier, server side: an Arkouda gRPC endpoint whose commands are
//! answered by a C callback.

use core::ffi::{c_char, c_void};
use std::boxed::Box;
use std::net::ToSocketAddrs;
use std::string::String;
use std::sync::Arc;

use super::{arg, arg_mut, arkwire_status, guard, guard_try, out, str_arg, StatusCode};
use crate::arkouda::builtin::envelope;
use crate::arkouda::MsgType;
use crate::grpc::Code;
use crate::net::{Responder, Server, ServerConfig};
use crate::proto::{ArkoudaRequest, ArkoudaResponse};
use arkwire_status::*;

/// One request handed to an `arkwire_handler_fn`. Valid only during the
/// callback; the strings it gives out are not NUL-terminated.
///
/// Thread safety: read it only on the callback's thread, during the callback.
pub struct arkwire_request {
    inner: ArkoudaRequest,
}

/// Where an `arkwire_handler_fn` puts its answer, with
/// `arkwire_reply_builder_set_msg`. Valid only during the callback.
pub struct arkwire_reply_builder {
    msg: Option<(String, bool)>,
}

/// A running server. Dropping it with `arkwire_server_free` stops it.
///
/// Thread safety: `arkwire_server_port` may be called from any thread;
/// `arkwire_server_free` once, from any thread but not from inside the
/// callback.
pub struct arkwire_server {
    server: Server,
}

/// Answers one Arkouda request: read it with the `arkwire_request_*`
/// accessors, answer with `arkwire_reply_builder_set_msg`, return
/// `ARKWIRE_OK`. Any other return value, or returning without setting a
/// message, answers the call with gRPC status INTERNAL.
///
/// The callback runs on the server's event-loop thread (one thread, so
/// calls never overlap), not on the thread that started the server:
/// `userdata` is shared between the two, so guard what both touch. The
/// loop waits while the callback runs: keep it short. It must not unwind
/// (no C++ exception may leave it) and must not free the server.
pub type arkwire_handler_fn = Option<
    unsafe extern "C" fn(
        req: *const arkwire_request,
        reply: *mut arkwire_reply_builder,
        userdata: *mut c_void,
    ) -> StatusCode,
>;

/// The callback and its userdata, moved to the loop thread.
struct CHandler {
    cb: unsafe extern "C" fn(
        *const arkwire_request,
        *mut arkwire_reply_builder,
        *mut c_void,
    ) -> StatusCode,
    userdata: *mut c_void,
}

// SAFETY: the header tells callers that the callback and its userdata are
// used from the server's event-loop thread; with one loop thread the
// callback never runs concurrently with itself.
unsafe impl Send for CHandler {}
// SAFETY: as above; the loop only calls through a shared reference.
unsafe impl Sync for CHandler {}

impl CHandler {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        let req = arkwire_request { inner: request };
        let mut builder = arkwire_reply_builder { msg: None };
        // SAFETY: `req` and `builder` outlive the call; the callback's
        // contract is stated on arkwire_handler_fn.
        let status = unsafe { (self.cb)(&req, &mut builder, self.userdata) };
        match (status, builder.msg) {
            (0, Some((msg, is_error))) => {
                let kind = if is_error {
                    MsgType::Error
                } else {
                    MsgType::Normal
                };
                let request = req.inner;
                responder.reply(ArkoudaResponse {
                    message: envelope(&msg, kind, &request.user),
                    user: Some(request.user),
                    cmd: Some(request.cmd),
                    ..ArkoudaResponse::default()
                });
            }
            (0, None) => responder.error(Code::Internal, "the handler set no reply"),
            (code, _) => responder.error(
                Code::Internal,
                &std::format!("the handler failed with arkwire_status {code}"),
            ),
        }
    }
}

std::thread_local! {
    /// Why the last `arkwire_server_start` on this thread failed.
    static START_ERROR: core::cell::RefCell<std::ffi::CString> =
        core::cell::RefCell::new(std::ffi::CString::default());
}

fn set_start_error(text: &str) {
    // Interior NULs would cut the C string.
    let text = std::ffi::CString::new(text.replace('\0', " ")).unwrap_or_default();
    START_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Why the last `arkwire_server_start` on the calling thread failed, as one
/// NUL-terminated line (for a port in use: "127.0.0.1:50053 is already in
/// use"); empty after one that succeeded. Valid until the next
/// `arkwire_server_start` on this thread; never freed by the caller.
///
/// Thread safety: each thread sees its own last start.
#[no_mangle]
pub extern "C" fn arkwire_server_last_error() -> *const c_char {
    START_ERROR.with(|e| e.borrow().as_ptr())
}

/// Starts serving `/arkouda.Arkouda/HandleRequest` on `listen_addr`
/// (`host:port`; port 0 picks a free one, see `arkwire_server_port`) with
/// one event-loop thread that calls `cb` for every request. Writes the
/// server to `*server_out`; stop and free it with `arkwire_server_free`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT` (listen_addr, cb or server_out),
/// `ARKWIRE_INVALID_UTF8`, `ARKWIRE_INVALID_ARGUMENT` (the address does not
/// resolve), `ARKWIRE_CONNECTION_FAILED` (cannot bind or listen, such as a
/// port another socket listens on). `arkwire_server_last_error` says why.
///
/// # Safety
/// `listen_addr` NULL or NUL-terminated; `server_out` NULL or writable;
/// `cb` and `userdata` usable from another thread until the server is freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_server_start(
    listen_addr: *const c_char,
    cb: arkwire_handler_fn,
    userdata: *mut c_void,
    server_out: *mut *mut arkwire_server,
) -> arkwire_status {
    set_start_error("");
    guard_try(|| {
        let cb = cb.ok_or(ARKWIRE_NULL_ARGUMENT)?;
        if server_out.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: NULL or NUL-terminated (caller contract).
        let addr = unsafe { str_arg(listen_addr) }?;
        let addr = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                set_start_error(&std::format!("{addr} is not an address"));
                ARKWIRE_INVALID_ARGUMENT
            })?;
        let handler = Arc::new(CHandler { cb, userdata });
        let config = ServerConfig {
            threads: 1,
            ..ServerConfig::default()
        };
        let server = Server::bind(
            addr,
            Arc::new(move |req: ArkoudaRequest, responder: Responder| {
                // A panic here would end the loop thread; answer INTERNAL instead.
                let h = handler.clone();
                let mut responder = Some(responder);
                let status = guard(|| {
                    if let Some(r) = responder.take() {
                        h.handle(req, r);
                    }
                    ARKWIRE_OK
                });
                if status != ARKWIRE_OK {
                    if let Some(r) = responder {
                        r.error(Code::Internal, "the handler panicked");
                    }
                }
            }),
            config,
        )
        .map_err(|e| {
            set_start_error(&match e.kind() {
                std::io::ErrorKind::AddrInUse => std::format!("{addr} is already in use"),
                _ => std::format!("cannot listen on {addr}: {e}"),
            });
            ARKWIRE_CONNECTION_FAILED
        })?;
        let server = Box::new(arkwire_server { server });
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out(server_out, Box::into_raw(server)) }
    })
}

/// Writes the port the server listens on to `*port`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `server` NULL or live; `port` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_server_port(
    server: *const arkwire_server,
    port: *mut u16,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let s = unsafe { arg(server) }?;
        // SAFETY: NULL or writable (caller contract).
        unsafe { out(port, s.server.local_addr().port()) }
    })
}

/// Stops the server (closing its connections; waits for a callback that is
/// running to return) and frees it. NULL is ignored.
///
/// # Safety
/// `server` NULL or from `arkwire_server_start`, not yet freed; not called
/// from inside the callback.
#[no_mangle]
pub unsafe extern "C" fn arkwire_server_free(server: *mut arkwire_server) {
    let _ = guard_try(|| {
        if !server.is_null() {
            // SAFETY: from Box::into_raw in arkwire_server_start, freed once.
            drop(unsafe { Box::from_raw(server) });
        }
        Ok(())
    });
}

/// Reads one string field of a request.
///
/// # Safety
/// `req` NULL or live; `data`, `len` NULL or writable.
unsafe fn field(
    req: *const arkwire_request,
    data: *mut *const c_char,
    len: *mut usize,
    pick: fn(&ArkoudaRequest) -> &str,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let r = unsafe { arg(req) }?;
        if data.is_null() || len.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        let s = pick(&r.inner);
        // SAFETY: both checked non-NULL; writable by the caller's contract.
        unsafe {
            out(data, s.as_ptr().cast())?;
            out(len, s.len())
        }
    })
}

/// The request's user: `*data` (not NUL-terminated) and `*len`, valid during
/// the callback. These are the request's inputs, not an operation's result:
/// they are borrowed for the callback only.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `req` NULL or the live request; `data`, `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_request_user(
    req: *const arkwire_request,
    data: *mut *const c_char,
    len: *mut usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { field(req, data, len, |r| &r.user) }
}

/// The request's token, as `arkwire_request_user`.
///
/// # Safety
/// As `arkwire_request_user`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_request_token(
    req: *const arkwire_request,
    data: *mut *const c_char,
    len: *mut usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { field(req, data, len, |r| &r.token) }
}

/// The request's command, as `arkwire_request_user`.
///
/// # Safety
/// As `arkwire_request_user`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_request_cmd(
    req: *const arkwire_request,
    data: *mut *const c_char,
    len: *mut usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { field(req, data, len, |r| &r.cmd) }
}

/// The request's arguments, as `arkwire_request_user`.
///
/// # Safety
/// As `arkwire_request_user`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_request_args(
    req: *const arkwire_request,
    data: *mut *const c_char,
    len: *mut usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { field(req, data, len, |r| &r.args) }
}

/// Sets the answer: `msg` (`len` bytes of UTF-8, need not be
/// NUL-terminated; NULL when `len` is 0) becomes Arkouda's reply JSON
/// `{"msg", "msgType", "msgFormat": "STRING", "user"}`, with msgType ERROR
/// when `is_error` is nonzero, else NORMAL. The text is copied. A second
/// call replaces the first.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_UTF8`.
///
/// # Safety
/// `builder` NULL or the live builder; `msg` NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_builder_set_msg(
    builder: *mut arkwire_reply_builder,
    msg: *const c_char,
    len: usize,
    is_error: i32,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let b = unsafe { arg_mut(builder) }?;
        let bytes: &[u8] = match (msg.is_null(), len) {
            (_, 0) => &[],
            (true, _) => return Err(ARKWIRE_NULL_ARGUMENT),
            // SAFETY: non-NULL and readable for `len` bytes (caller contract).
            (false, _) => unsafe { core::slice::from_raw_parts(msg.cast::<u8>(), len) },
        };
        let text = core::str::from_utf8(bytes).map_err(|_| ARKWIRE_INVALID_UTF8)?;
        b.msg = Some((text.into(), is_error != 0));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn answer_nothing(
        _req: *const arkwire_request,
        _reply: *mut arkwire_reply_builder,
        _userdata: *mut c_void,
    ) -> StatusCode {
        1
    }

    fn last_error() -> String {
        // SAFETY: a NUL-terminated string owned by this thread's slot.
        unsafe { std::ffi::CStr::from_ptr(arkwire_server_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_port_another_socket_listens_on_is_refused_with_a_reason() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std::format!("{}", taken.local_addr().unwrap());
        let c_addr = std::ffi::CString::new(addr.clone()).unwrap();
        let mut server: *mut arkwire_server = core::ptr::null_mut();
        // SAFETY: valid arguments; the callback never runs.
        let status = unsafe {
            arkwire_server_start(
                c_addr.as_ptr(),
                Some(answer_nothing),
                core::ptr::null_mut(),
                &mut server,
            )
        };
        assert_eq!(status, ARKWIRE_CONNECTION_FAILED);
        assert!(server.is_null());
        assert_eq!(last_error(), std::format!("{addr} is already in use"));

        // A free port starts, and the error is cleared.
        let free = c"127.0.0.1:0";
        // SAFETY: as above.
        let status = unsafe {
            arkwire_server_start(
                free.as_ptr(),
                Some(answer_nothing),
                core::ptr::null_mut(),
                &mut server,
            )
        };
        assert_eq!(status, ARKWIRE_OK);
        assert_eq!(last_error(), "");
        // SAFETY: from arkwire_server_start, freed once.
        unsafe { arkwire_server_free(server) };
    }
}
