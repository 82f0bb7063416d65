//! The C ABI's sans-IO tier, called from Rust exactly as C would call it,
//! against in-process `net::Server`s (the sync and the async proxy).
#![cfg(feature = "ffi")]

mod ffi_driver;

use std::ffi::CStr;
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::proxy::{AsyncConfig, AsyncProxy, BuiltinBackend, SyncProxy};
use arkwire::ffi::arkwire_request_state::*;
use arkwire::ffi::arkwire_status::*;
use arkwire::ffi::conn::arkwire_outcome_kind::*;
use arkwire::ffi::conn::*;
use arkwire::ffi::{arkwire_status_str, arkwire_version};
use arkwire::net::{Handler, Server, ServerConfig};
use ffi_driver::{msg, Driver};

fn serve(handler: impl Handler) -> Server {
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    Server::bind("127.0.0.1:0".parse().unwrap(), Arc::new(handler), config).unwrap()
}

#[test]
fn blocking_calls_through_the_sans_io_tier() {
    let server = serve(SyncProxy::new(BuiltinBackend, 2));
    let mut d = Driver::connect(server.local_addr().port());

    let op = d.run(arkwire_conn_call, c"connect", c"");
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_OK);
    assert_eq!(o.kind, ARKWIRE_OUTCOME_REPLY);
    assert_eq!(msg(&o), "connected to arkouda server tcp://*:5555");
    assert!(!o.warning);
    d.finish(op);

    // Escapes in the reply JSON are decoded into the connection's buffer.
    let text = c"a \"quoted\" \\ line\nnext \xe2\x9c\x93";
    let op = d.run(arkwire_conn_call, c"echo", text);
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_OK);
    assert_eq!(msg(&o), text.to_str().unwrap());
    d.finish(op);

    // An Arkouda ERROR reply is an error status with Arkouda's text.
    let op = d.run(arkwire_conn_call, c"bogus", c"");
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_ARKOUDA_ERROR);
    assert_eq!(o.kind, ARKWIRE_OUTCOME_ERROR);
    assert_eq!(msg(&o), "Unrecognized command: bogus");
    // SAFETY: live conn; the last error is a NUL-terminated string.
    let last = unsafe { CStr::from_ptr(arkwire_conn_last_error(d.conn)) };
    assert!(last
        .to_str()
        .unwrap()
        .contains("Unrecognized command: bogus"));
    d.finish(op);

    // A finished operation is gone.
    // SAFETY: live conn.
    assert_eq!(
        unsafe { arkwire_conn_finish(d.conn, op) },
        ARKWIRE_NOT_FOUND
    );
    assert_eq!(d.outcome(op).0, ARKWIRE_NOT_FOUND);
}

#[test]
fn polling_submit_and_status_against_the_async_proxy() {
    let server = serve(AsyncProxy::new(BuiltinBackend, AsyncConfig::default()).unwrap());
    let mut d = Driver::connect(server.local_addr().port());

    let op = d.run(arkwire_conn_call_polling, c"sleep", c"30");
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_OK);
    assert_eq!(msg(&o), "slept");
    d.finish(op);

    // A blocking call the proxy answers SUBMITTED is followed up transparently.
    let op = d.run(arkwire_conn_call, c"ruok", c"");
    assert_eq!(msg(&d.outcome(op).1), "imok");
    d.finish(op);

    let op = d.run(arkwire_conn_submit, c"echo", c"fire and forget");
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_OK);
    assert_eq!(o.kind, ARKWIRE_OUTCOME_SUBMITTED);
    let id = std::ffi::CString::new(msg(&o)).unwrap();
    assert_eq!(id.as_bytes().len(), 32);
    d.finish(op);

    let mut finished = false;
    for _ in 0..100 {
        let mut op = 0;
        let now = d.now_us();
        // SAFETY: live conn, NUL-terminated id, valid out-pointer.
        let s = unsafe { arkwire_conn_status(d.conn, id.as_ptr(), now, &mut op) };
        assert_eq!(s, ARKWIRE_OK);
        d.wait(op, Duration::from_secs(10));
        let (s, o) = d.outcome(op);
        assert_eq!(s, ARKWIRE_OK);
        assert_eq!(o.kind, ARKWIRE_OUTCOME_STATUS);
        if o.state == ARKWIRE_STATE_FINISHED {
            assert_eq!(msg(&o), "fire and forget");
            assert!(!o.is_error);
            finished = true;
        }
        d.finish(op);
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(finished, "the submitted request never finished");
}

#[test]
fn two_fresh_connections_with_the_default_config_send_different_ids() {
    let server = serve(AsyncProxy::new(BuiltinBackend, AsyncConfig::default()).unwrap());
    let port = server.local_addr().port();
    let mut ids = Vec::new();
    for _ in 0..2 {
        // The config's default seed (0) means "from the operating system".
        let mut d = Driver::connect_seeded(port, None);
        let op = d.run(arkwire_conn_submit, c"noop", c"");
        let (s, o) = d.outcome(op);
        assert_eq!(s, ARKWIRE_OK);
        assert_eq!(o.kind, ARKWIRE_OUTCOME_SUBMITTED);
        ids.push(msg(&o).to_string());
        d.finish(op);
    }
    assert_eq!(ids[0].len(), 32);
    assert_ne!(
        ids[0], ids[1],
        "two devices with the default config sent the same id"
    );
}

#[test]
fn bad_arguments_are_codes_not_crashes() {
    let null: *mut arkwire_conn = std::ptr::null_mut();
    // SAFETY: every pointer is NULL or valid; NULLs must be answered with a code.
    unsafe {
        assert_eq!(
            arkwire_conn_new(std::ptr::null(), &mut null.clone()),
            ARKWIRE_NULL_ARGUMENT
        );
        assert_eq!(
            arkwire_conn_recv(null, std::ptr::null(), 0, 0),
            ARKWIRE_NULL_ARGUMENT
        );
        assert_eq!(
            arkwire_conn_poll_event(null, std::ptr::null_mut()),
            ARKWIRE_NULL_ARGUMENT
        );
        assert_eq!(arkwire_conn_finish(null, 1), ARKWIRE_NULL_ARGUMENT);
        assert!(!arkwire_conn_wants_transmit(null));
        arkwire_conn_free(null);
        let text = CStr::from_ptr(arkwire_status_str(ARKWIRE_WOULD_BLOCK as u32));
        assert!(text.to_str().unwrap().contains("would block"));
        let text = CStr::from_ptr(arkwire_status_str(9999));
        assert_eq!(text.to_str().unwrap(), "unknown status");
        assert_eq!(
            CStr::from_ptr(arkwire_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }

    let server = serve(SyncProxy::new(BuiltinBackend, 1));
    let d = Driver::connect(server.local_addr().port());
    let mut small = [0u8; 100];
    let mut n = 0;
    let mut op = 0;
    let mut at = 0;
    // SAFETY: live conn and valid buffers; the values are what is wrong.
    unsafe {
        let s = arkwire_conn_transmit(d.conn, small.as_mut_ptr(), small.len(), &mut n);
        assert_eq!(s, ARKWIRE_BUFFER_TOO_SMALL);
        assert!(!CStr::from_ptr(arkwire_conn_last_error(d.conn)).is_empty());
        let bad = c"\xff\xfe";
        assert_eq!(
            arkwire_conn_call(d.conn, bad.as_ptr(), std::ptr::null(), 0, &mut op),
            ARKWIRE_INVALID_UTF8
        );
        assert_eq!(
            arkwire_conn_call(d.conn, std::ptr::null(), std::ptr::null(), 0, &mut op),
            ARKWIRE_NULL_ARGUMENT
        );
        let long = c"0123456789012345678901234567890123456789";
        assert_eq!(
            arkwire_conn_status(d.conn, long.as_ptr(), 0, &mut op),
            ARKWIRE_INVALID_ARGUMENT
        );
        assert_eq!(
            arkwire_conn_poll_event(d.conn, &mut op),
            ARKWIRE_WOULD_BLOCK
        );
        let _ = arkwire_conn_poll_timeout(d.conn, &mut at);
        // The capacity of operations is fixed.
        for _ in 0..ARKWIRE_CONN_MAX_OPS {
            assert_eq!(
                arkwire_conn_call(d.conn, c"noop".as_ptr(), std::ptr::null(), 0, &mut op),
                ARKWIRE_OK
            );
        }
        assert_eq!(
            arkwire_conn_call(d.conn, c"noop".as_ptr(), std::ptr::null(), 0, &mut op),
            ARKWIRE_RESOURCE_EXHAUSTED
        );
        // Still running: the outcome would block.
        let mut out = std::mem::MaybeUninit::uninit();
        assert_eq!(
            arkwire_conn_outcome(d.conn, op, out.as_mut_ptr()),
            ARKWIRE_WOULD_BLOCK
        );
    }
}
