//! The C ABI's socket tier, called from Rust exactly as C would call it,
//! against an in-process `net::Server`: results that keep their bytes until
//! their operation is finished, `arkwire_session_finish` from another
//! thread during a call, and argument errors as results of no operation.
#![cfg(feature = "ffi")]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::ffi::arkwire_error_kind::*;
use arkwire::ffi::arkwire_result_kind::*;
use arkwire::ffi::arkwire_status::*;
use arkwire::ffi::session::*;
use arkwire::ffi::{arkwire_result, arkwire_status};
use arkwire::net::{Server, ServerConfig};

fn text(ptr: *const std::ffi::c_char, len: usize) -> &'static str {
    // SAFETY: the library promises `len` bytes of UTF-8 and a NUL after them,
    // alive while the test holds the operation.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len + 1) };
    assert_eq!(bytes[len], 0, "NUL-terminated");
    std::str::from_utf8(&bytes[..len]).unwrap()
}

fn call(s: *mut arkwire_session, cmd: &CStr, args: &CStr) -> (arkwire_status, arkwire_result) {
    let mut r = MaybeUninit::uninit();
    // SAFETY: live session, NUL-terminated strings, valid out-pointer.
    let st = unsafe { arkwire_session_call(s, cmd.as_ptr(), args.as_ptr(), r.as_mut_ptr()) };
    // SAFETY: written whenever the out-pointer is valid.
    let r = unsafe { r.assume_init() };
    assert_eq!(r.status, st);
    (st, r)
}

struct Session(*mut arkwire_session);
// SAFETY: the tests hand the pointer to another thread only for
// arkwire_session_finish, which the header says may run on any thread.
unsafe impl Send for Session {}

#[test]
fn results_live_until_finished_and_finish_runs_on_any_thread() {
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    let handler = Arc::new(SyncProxy::new(BuiltinBackend, 2));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, config).unwrap();
    let addr = std::ffi::CString::new(server.local_addr().to_string()).unwrap();
    let mut s = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings, valid out-pointer.
    let st = unsafe {
        arkwire_session_connect(
            addr.as_ptr(),
            c"kjyost".as_ptr(),
            std::ptr::null(),
            5000,
            &mut s,
        )
    };
    assert_eq!(st, ARKWIRE_OK);

    let (st, a) = call(s, c"echo", c"alpha \"A\"");
    assert_eq!(
        (st, a.kind, a.error_kind),
        (ARKWIRE_OK, ARKWIRE_RESULT_REPLY, ARKWIRE_ERROR_NONE)
    );
    let (st, bad) = call(s, c"bogus", c"");
    assert_eq!(
        (st, bad.error_kind, bad.grpc_code),
        (ARKWIRE_ARKOUDA_ERROR, ARKWIRE_ERROR_ARKOUDA, 0)
    );
    assert_eq!(text(bad.msg, bad.msg_len), "Unrecognized command: bogus");

    // Finishing A on another thread while this one calls.
    let other = Session(s);
    let op = a.op;
    let finisher = std::thread::spawn(move || {
        let other = other;
        // SAFETY: live session; finish may run during a call on it.
        unsafe { arkwire_session_finish(other.0, op) }
    });
    let mut results = Vec::new();
    for i in 0..20 {
        let args = std::ffi::CString::new(format!("call {i}")).unwrap();
        results.push(call(s, c"echo", &args).1);
    }
    assert_eq!(finisher.join().unwrap(), ARKWIRE_OK);
    // SAFETY: live session.
    assert_eq!(
        unsafe { arkwire_session_finish(s, a.op) },
        ARKWIRE_NOT_FOUND
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(text(r.msg, r.msg_len), format!("call {i}"));
    }
    assert_eq!(text(bad.msg, bad.msg_len), "Unrecognized command: bogus");

    // Argument errors: a result of no operation, with the last error set.
    let mut r = MaybeUninit::uninit();
    // SAFETY: live session; the id is too long, the rest valid.
    let st = unsafe {
        arkwire_session_status(
            s,
            c"0123456789012345678901234567890123".as_ptr(),
            r.as_mut_ptr(),
        )
    };
    assert_eq!(st, ARKWIRE_INVALID_ARGUMENT);
    // SAFETY: written.
    let r = unsafe { r.assume_init() };
    assert_eq!((r.op, r.error_kind), (0, ARKWIRE_ERROR_LOCAL));
    // SAFETY: live session, NUL-terminated text.
    let last = unsafe { CStr::from_ptr(arkwire_session_last_error(s)) };
    assert!(last.to_str().unwrap().contains("32 characters"), "{last:?}");
    // SAFETY: as above; a NULL command.
    let st =
        unsafe { arkwire_session_call(s, std::ptr::null(), std::ptr::null(), &mut results[0]) };
    assert_eq!((st, results[0].op), (ARKWIRE_NULL_ARGUMENT, 0));
    assert_eq!(
        text(results[0].msg, results[0].msg_len),
        "a required argument was NULL"
    );
    // SAFETY: a NULL session is a code, and op 0 has nothing to finish.
    unsafe {
        let st = arkwire_session_call(
            std::ptr::null_mut(),
            c"ruok".as_ptr(),
            std::ptr::null(),
            &mut results[1],
        );
        assert_eq!((st, results[1].op), (ARKWIRE_NULL_ARGUMENT, 0));
        assert_eq!(arkwire_session_finish(s, 0), ARKWIRE_OK);
        assert_eq!(
            arkwire_session_finish(std::ptr::null(), 1),
            ARKWIRE_NULL_ARGUMENT
        );
    }
    // Unfinished results (these and `bad`) go with the session.
    // SAFETY: from arkwire_session_connect, freed once.
    unsafe { arkwire_session_free(s) };
}

#[test]
fn a_closed_port_is_connection_failed() {
    let mut s = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings, valid out-pointer.
    let st = unsafe {
        arkwire_session_connect(
            c"127.0.0.1:1".as_ptr(),
            c"x".as_ptr(),
            std::ptr::null(),
            2000,
            &mut s,
        )
    };
    assert_eq!(st, ARKWIRE_CONNECTION_FAILED);
    assert!(s.is_null());
}

/// A session opened with `adjust`ed settings to `addr`.
fn open(addr: &str, adjust: impl FnOnce(&mut arkwire_session_config)) -> *mut arkwire_session {
    let mut c = MaybeUninit::uninit();
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { arkwire_session_config_init(c.as_mut_ptr()) },
        ARKWIRE_OK
    );
    // SAFETY: initialized above.
    let mut c = unsafe { c.assume_init() };
    adjust(&mut c);
    let addr = std::ffi::CString::new(addr).unwrap();
    let mut s = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings, valid config and out-pointer.
    let st =
        unsafe { arkwire_session_open(addr.as_ptr(), c"u".as_ptr(), std::ptr::null(), &c, &mut s) };
    assert_eq!(st, ARKWIRE_OK);
    s
}

fn last_error(s: *mut arkwire_session) -> String {
    // SAFETY: live session; NUL-terminated text.
    unsafe { CStr::from_ptr(arkwire_session_last_error(s)) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn keepalive_finds_a_silent_peer_and_leaves_a_live_one_alone() {
    // A peer that accepts and reads but never answers: a host gone silent.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let hold = std::thread::spawn(move || {
        let (mut conn, _) = silent.accept().unwrap();
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut conn, &mut sink);
    });
    let s = open(&addr, |c| {
        c.keepalive_interval_ms = 100;
        c.keepalive_timeout_ms = 200;
    });
    let t = std::time::Instant::now();
    let (st, r) = call(s, c"ruok", c"");
    let took = t.elapsed();
    assert_eq!(
        (st, r.error_kind, r.grpc_code),
        (ARKWIRE_CLOSED, ARKWIRE_ERROR_TRANSPORT, 14)
    );
    assert!(
        text(r.msg, r.msg_len).contains("keepalive PING"),
        "{}",
        text(r.msg, r.msg_len)
    );
    assert!(
        took < std::time::Duration::from_secs(2),
        "{took:?} of a 30 s deadline"
    );
    // SAFETY: live session.
    assert_eq!(unsafe { arkwire_session_check(s, 0) }, ARKWIRE_CLOSED);
    // SAFETY: from arkwire_session_open, freed once.
    unsafe { arkwire_session_free(s) };
    hold.join().unwrap();

    // A live proxy answers the PINGs of a call longer than the interval.
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    let handler = Arc::new(SyncProxy::new(BuiltinBackend, 2));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, config).unwrap();
    let s = open(&server.local_addr().to_string(), |c| {
        c.keepalive_interval_ms = 50;
        c.keepalive_timeout_ms = 500;
    });
    let (st, r) = call(s, c"sleep", c"600");
    assert_eq!((st, text(r.msg, r.msg_len)), (ARKWIRE_OK, "slept"));
    // SAFETY: live session.
    unsafe {
        assert_eq!(
            arkwire_session_check(s, 1000),
            ARKWIRE_OK,
            "{}",
            last_error(s)
        );
        arkwire_session_free(s);
    }
}

#[test]
fn a_silent_peer_fails_the_ping_check_and_a_closed_session_reconnects() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let hold = std::thread::spawn(move || {
        let (mut conn, _) = silent.accept().unwrap();
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut conn, &mut sink);
        // A reconnect accepted and dropped before the peer spoke fails.
        drop(silent.accept());
    });
    let s = open(&addr, |c| c.keepalive_interval_ms = 0);
    // SAFETY: live session.
    unsafe {
        assert_eq!(arkwire_session_check(s, 0), ARKWIRE_OK, "nothing known yet");
        assert_eq!(arkwire_session_check(s, 200), ARKWIRE_CLOSED);
        assert!(last_error(s).contains("PING"), "{}", last_error(s));
        let (st, _) = call(s, c"ruok", c"");
        assert_eq!(st, ARKWIRE_CLOSED, "stays closed");
        assert_eq!(arkwire_session_reconnect(s), ARKWIRE_CONNECTION_FAILED);
        assert!(
            last_error(s).contains("closed the new connection"),
            "{}",
            last_error(s)
        );
        assert_eq!(call(s, c"ruok", c"").0, ARKWIRE_CLOSED, "still closed");
        arkwire_session_free(s);
    }
    hold.join().unwrap();
}
