//! The C ABI's sans-IO tier, called from Rust exactly as C would call it,
//! against in-process `net::Server`s (the sync and the async proxy).
#![cfg(feature = "ffi")]

mod ffi_driver;

use std::ffi::CStr;
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::proxy::{
    AsyncConfig, AsyncProxy, Backend, BackendError, BuiltinBackend, SyncProxy,
};
use arkwire::arkouda::upstream_msg::Reply;
use arkwire::arkouda::{builtin, MsgType};
use arkwire::ffi::arkwire_error_kind::*;
use arkwire::ffi::arkwire_request_state::*;
use arkwire::ffi::arkwire_result_kind::*;
use arkwire::ffi::arkwire_status::*;
use arkwire::ffi::conn::*;
use arkwire::ffi::{arkwire_status_str, arkwire_version};
use arkwire::net::{Handler, Server, ServerConfig};
use arkwire::proto::ArkoudaRequest;
use ffi_driver::{msg, payload, request_id, Driver};

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
    assert_eq!(o.kind, ARKWIRE_RESULT_REPLY);
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
    assert_eq!(o.kind, ARKWIRE_RESULT_NONE);
    assert_eq!(o.error_kind, ARKWIRE_ERROR_ARKOUDA);
    assert_eq!(o.grpc_code, 0, "an Arkouda ERROR is a gRPC success");
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
    assert_eq!(o.kind, ARKWIRE_RESULT_SUBMITTED);
    assert_eq!(msg(&o), "");
    let id = std::ffi::CString::new(request_id(&o)).unwrap();
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
        assert_eq!(o.kind, ARKWIRE_RESULT_STATUS);
        assert_eq!(request_id(&o), id.to_str().unwrap());
        if o.state == ARKWIRE_STATE_FINISHED {
            assert_eq!(msg(&o), "fire and forget");
            assert_eq!(o.error_kind, ARKWIRE_ERROR_NONE);
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
        assert_eq!(o.kind, ARKWIRE_RESULT_SUBMITTED);
        ids.push(request_id(&o).to_string());
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
        let text = CStr::from_ptr(arkwire_status_str(ARKWIRE_PENDING as u32));
        assert_eq!(text.to_str().unwrap(), "the operation is still running");
        let text = CStr::from_ptr(arkwire_status_str(ARKWIRE_NO_TIMER as u32));
        assert_eq!(text.to_str().unwrap(), "no timer is armed");
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
        // Every failure sets the last error, argument errors too.
        let last = CStr::from_ptr(arkwire_conn_last_error(d.conn));
        assert_eq!(last.to_str().unwrap(), "a required argument was NULL");
        let long = c"0123456789012345678901234567890123456789";
        assert_eq!(
            arkwire_conn_status(d.conn, long.as_ptr(), 0, &mut op),
            ARKWIRE_INVALID_ARGUMENT
        );
        assert_eq!(arkwire_conn_poll_event(d.conn, &mut op), ARKWIRE_NO_EVENT);
        let s = arkwire_conn_poll_timeout(d.conn, &mut at);
        assert!(s == ARKWIRE_OK || s == ARKWIRE_NO_TIMER, "{s:?}");
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
        // Still running: the result says only that.
        let mut out = std::mem::MaybeUninit::uninit();
        assert_eq!(
            arkwire_conn_outcome(d.conn, op, out.as_mut_ptr()),
            ARKWIRE_PENDING
        );
        let r = out.assume_init();
        assert_eq!(
            (r.status, r.op, r.kind),
            (ARKWIRE_PENDING, op, ARKWIRE_RESULT_NONE)
        );
        assert_eq!(msg(&r), "");
    }
}

/// `binecho` returns its payload as a binary reply.
struct BinaryBackend;

impl Backend for BinaryBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        _: Option<std::time::Instant>,
    ) -> Result<String, BackendError> {
        let text = match request.cmd.as_str() {
            "echo" => request.args.clone(),
            other => format!("Unrecognized command: {other}"),
        };
        let kind = if request.cmd == "echo" {
            MsgType::Normal
        } else {
            MsgType::Error
        };
        Ok(builtin::envelope(&text, kind, &request.user))
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<Reply, BackendError> {
        match request.cmd.as_str() {
            "binecho" if request.recv_binary => Ok(Reply::Binary(request.payload.clone())),
            _ => self.execute(request, deadline).map(Reply::Json),
        }
    }
}

/// Starts `cmd` with `args` (and a binary payload for `binecho`) without waiting.
fn start(d: &mut Driver, cmd: &std::ffi::CStr, args: &std::ffi::CStr, bytes: &[u8]) -> u32 {
    let mut op = 0;
    let now = d.now_us();
    // SAFETY: live conn, NUL-terminated strings, `bytes` readable, valid out-pointer.
    let s = unsafe {
        arkwire_conn_command(
            d.conn,
            cmd.as_ptr(),
            args.as_ptr(),
            -1,
            bytes.as_ptr(),
            bytes.len(),
            !bytes.is_empty(),
            false,
            now,
            &mut op,
        )
    };
    assert_eq!(s, ARKWIRE_OK);
    op
}

#[test]
fn each_result_keeps_its_own_reply_until_its_operation_is_finished() {
    let server = serve(SyncProxy::new(BinaryBackend, 2));
    let mut d = Driver::connect_with(server.local_addr().port(), |c| c.ordered = false);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    // Escaped text goes through the unescaper, which once shared one buffer.
    let a = start(&mut d, c"echo", c"alpha \"A\"\n", &[]);
    let b = start(&mut d, c"echo", c"beta \"B\"\t", &[]);
    let bin = start(&mut d, c"binecho", c"", &bytes);
    let bad = start(&mut d, c"bogus", c"", &[]);
    d.wait_all(&[a, b, bin, bad], Duration::from_secs(20));

    let (_, rb) = d.outcome(b);
    let (_, rbin) = d.outcome(bin);
    let (s, rbad) = d.outcome(bad);
    assert_eq!(s, ARKWIRE_ARKOUDA_ERROR);
    assert_eq!(msg(&rb), "beta \"B\"\t");
    assert_eq!(rbin.kind, ARKWIRE_RESULT_BINARY);
    assert_eq!(payload(&rbin), &bytes[..]);
    assert_eq!(msg(&rbin), "");
    // Finish A unread, start and read C and D: B, the binary reply and the
    // error keep their own bytes.
    d.finish(a);
    let c = start(&mut d, c"echo", c"gamma \"C\"\\", &[]);
    let e = start(&mut d, c"echo", c"delta", &[]);
    d.wait_all(&[c, e], Duration::from_secs(20));
    let (_, rc) = d.outcome(c);
    assert_eq!(msg(&rc), "gamma \"C\"\\");
    assert_eq!(msg(&d.outcome(e).1), "delta");
    d.finish(e);
    // Reading again gives the same result, at the same place.
    let (_, rb2) = d.outcome(b);
    assert_eq!((rb2.msg, rb2.msg_len), (rb.msg, rb.msg_len));
    assert_eq!(msg(&rb), "beta \"B\"\t");
    assert_eq!(payload(&rbin), &bytes[..]);
    assert_eq!(msg(&rbad), "Unrecognized command: bogus");
    assert_eq!(msg(&rc), "gamma \"C\"\\");
    for op in [b, bin, bad, c] {
        d.finish(op);
    }
}

#[test]
fn a_connection_is_built_in_caller_memory_with_its_operation_capacity() {
    let server = serve(SyncProxy::new(BuiltinBackend, 2));
    let port = server.local_addr().port();
    let authority = std::ffi::CString::new(format!("127.0.0.1:{port}")).unwrap();
    let mut config = std::mem::MaybeUninit::uninit();
    // SAFETY: valid pointers throughout; the values are what is tested.
    unsafe {
        assert_eq!(arkwire_conn_config_init(config.as_mut_ptr()), ARKWIRE_OK);
        let mut config = config.assume_init();
        config.authority = authority.as_ptr();
        config.user = c"kjyost".as_ptr();
        config.seed = 3;
        let mut full = 0;
        assert_eq!(arkwire_conn_size(&config, &mut full), ARKWIRE_OK);
        config.max_ops = 2;
        let mut two = 0;
        assert_eq!(arkwire_conn_size(&config, &mut two), ARKWIRE_OK);
        assert!(
            full - two >= 6 * ARKWIRE_CONN_RESULT_BUFFER,
            "each operation takes a result slot: {full} vs {two}"
        );
        config.result_buffer_size = 1024;
        let mut small = 0;
        assert_eq!(arkwire_conn_size(&config, &mut small), ARKWIRE_OK);
        assert!(two - small >= 2 * (ARKWIRE_CONN_RESULT_BUFFER - 1024));
        println!(
            "arkwire_conn_size: {full} B (8 ops), {two} B (2 ops), {small} B (2 ops of 1 KiB)"
        );

        let mut bad = config;
        bad.max_ops = ARKWIRE_CONN_MAX_OPS as u32 + 1;
        assert_eq!(arkwire_conn_size(&bad, &mut full), ARKWIRE_INVALID_ARGUMENT);
        bad = config;
        bad.result_buffer_size = ARKWIRE_CONN_MIN_RESULT_BUFFER - 1;
        assert_eq!(arkwire_conn_size(&bad, &mut full), ARKWIRE_INVALID_ARGUMENT);

        // Any alignment will do; too little memory will not.
        let mut memory = vec![0u8; small + 1];
        let mut conn = std::ptr::null_mut();
        let mem = memory.as_mut_ptr().add(1).cast();
        assert_eq!(
            arkwire_conn_init(mem, small - 1, &config, &mut conn),
            ARKWIRE_BUFFER_TOO_SMALL
        );
        assert!(conn.is_null());
        assert_eq!(
            arkwire_conn_init(mem, small, &config, &mut conn),
            ARKWIRE_OK
        );
        let start = memory.as_ptr() as usize;
        assert!((start..start + small + 1).contains(&(conn as usize)));
        let mut op = 0;
        for _ in 0..2 {
            let s = arkwire_conn_call(conn, c"noop".as_ptr(), std::ptr::null(), 0, &mut op);
            assert_eq!(s, ARKWIRE_OK);
        }
        let s = arkwire_conn_call(conn, c"noop".as_ptr(), std::ptr::null(), 0, &mut op);
        assert_eq!(s, ARKWIRE_RESOURCE_EXHAUSTED);
        let why = CStr::from_ptr(arkwire_conn_last_error(conn))
            .to_str()
            .unwrap();
        assert!(why.contains("all 2 operations"), "{why}");
        arkwire_conn_free(conn);
        drop(memory);

        // The library's own block, the same way.
        let mut conn = std::ptr::null_mut();
        assert_eq!(arkwire_conn_new(&config, &mut conn), ARKWIRE_OK);
        arkwire_conn_free(conn);
    }
}

#[test]
fn a_reply_larger_than_its_result_slot_is_refused_whole() {
    let server = serve(SyncProxy::new(BuiltinBackend, 2));
    let mut d = Driver::connect_with(server.local_addr().port(), |c| {
        c.result_buffer_size = ARKWIRE_CONN_MIN_RESULT_BUFFER;
    });
    let fits = "x".repeat(ARKWIRE_CONN_MIN_RESULT_BUFFER - 1);
    let fits = std::ffi::CString::new(fits).unwrap();
    let op = d.run(arkwire_conn_call, c"echo", &fits);
    assert_eq!(msg(&d.outcome(op).1), fits.to_str().unwrap());
    d.finish(op);
    let long = std::ffi::CString::new("y".repeat(ARKWIRE_CONN_MIN_RESULT_BUFFER)).unwrap();
    let op = d.run(arkwire_conn_call, c"echo", &long);
    let (s, r) = d.outcome(op);
    assert_eq!(s, ARKWIRE_BUFFER_TOO_SMALL);
    assert_eq!(r.error_kind, ARKWIRE_ERROR_LOCAL);
    assert!(msg(&r).starts_with("the reply does not fit"), "{}", msg(&r));
    d.finish(op);
}

fn limits(d: &Driver) -> arkwire::ffi::arkwire_limits {
    let mut l = arkwire::ffi::arkwire_limits::default();
    // SAFETY: live conn, valid out-pointer.
    assert_eq!(unsafe { arkwire_conn_limits(d.conn, &mut l) }, ARKWIRE_OK);
    l
}

fn call_len(d: &mut Driver, cmd: &CStr, args: &[u8]) -> (arkwire::ffi::arkwire_status, u32) {
    let mut op = 0;
    let now = d.now_us();
    // SAFETY: live conn, `args.len()` readable bytes, valid out-pointer.
    let s = unsafe {
        arkwire_conn_call_len(
            d.conn,
            cmd.as_ptr(),
            args.as_ptr().cast(),
            args.len(),
            now,
            &mut op,
        )
    };
    (s, op)
}

/// A request at exactly the connection's limit while a neighbour is in
/// flight, then one byte more (refused before anything is sent); the
/// neighbour and the connection live on.
fn around_the_limit(d: &mut Driver) {
    let l = limits(d);
    // A call in flight that must outlive its neighbours' sizes.
    let (s, sleeper) = call_len(d, c"sleep", b"300");
    assert_eq!(s, ARKWIRE_OK);
    // A 16-character command with the largest arguments: sent, and
    // answered (an Arkouda ERROR for the unknown command).
    let cmd = c"cccccccccccccccc";
    let args = vec![b'a'; l.max_args];
    let (s, op) = call_len(d, cmd, &args);
    assert_eq!(s, ARKWIRE_OK, "{}", l.max_args);
    // One byte more is refused before anything is sent.
    let more = vec![b'a'; l.max_args + 1];
    let (s, none) = call_len(d, cmd, &more);
    assert_eq!((s, none), (ARKWIRE_RESOURCE_EXHAUSTED, 0));
    // SAFETY: live conn; the last error is NUL-terminated.
    let why = unsafe { CStr::from_ptr(arkwire_conn_last_error(d.conn)) };
    assert!(
        why.to_str().unwrap().contains("nothing was sent"),
        "{why:?}"
    );
    d.wait_all(&[op, sleeper], Duration::from_secs(10));
    let (s, o) = d.outcome(op);
    assert_eq!(s, ARKWIRE_ARKOUDA_ERROR, "{}", msg(&o));
    d.finish(op);
    let (s, o) = d.outcome(sleeper);
    assert_eq!((s, msg(&o)), (ARKWIRE_OK, "slept"));
    d.finish(sleeper);
    // SAFETY: live conn.
    assert_eq!(unsafe { arkwire_conn_check(d.conn) }, ARKWIRE_OK);
}

#[test]
fn requests_around_the_reported_limit_leave_the_connection_alive() {
    let server = serve(SyncProxy::new(BuiltinBackend, 4));
    // A long authority and a call timeout do not take room from the
    // request: the send queues are sized for them. Ordered, the request
    // waits in a lent request buffer; unordered, it goes straight into its
    // stream's send queue. Both hold exactly `max_message`.
    let cases = [
        ("", 30_000, 0, true),
        ("x", 0, 0, false),
        ("a-long-authority", 59_999, 0, true),
        ("a-long-authority", 59_999, 0, false),
        ("", 2_999, 1000, true),
        ("", 30_000, 1000, false),
    ];
    for (authority, timeout, max_message, ordered) in cases {
        let port = server.local_addr().port();
        let authority = std::ffi::CString::new(format!("127.0.0.1:{port}{authority}")).unwrap();
        let mut d = Driver::connect_with(port, |c| {
            c.authority = authority.as_ptr();
            c.call_timeout_ms = timeout;
            c.max_message = max_message;
            c.ordered = ordered;
        });
        let l = limits(&d);
        let want = if max_message == 0 {
            ARKWIRE_CONN_MAX_MESSAGE
        } else {
            max_message
        };
        assert_eq!(l.max_request, want, "exactly what a request buffer holds");
        assert_eq!(l.max_reply, want);
        assert_eq!((l.max_ops, l.request_id_len), (8, 32));
        around_the_limit(&mut d);
    }
}

/// Runs `f` on a thread with a `stack`-byte stack.
fn on_small_stack(stack: usize, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_small_connection_is_built_and_called_on_a_small_stack() {
    let server = serve(SyncProxy::new(BuiltinBackend, 4));
    let port = server.local_addr().port();
    // Built in place: the connection's state (about 6 KiB) is copied through
    // the constructors' frames a few times, more often unoptimized.
    let stack = if cfg!(debug_assertions) { 128 } else { 64 } << 10;
    on_small_stack(stack, move || {
        let mut d = Driver::connect_with(port, |c| {
            c.max_ops = 2;
            c.scratch_size = 1024;
            c.decoder_table_size = 4096;
            c.max_message = ARKWIRE_CONN_MAX_MESSAGE;
        });
        println!(
            "a connection of 2 ops, 1 KiB scratch, 4 KiB table, {} B messages: {} B \
             (state {} B)",
            ARKWIRE_CONN_MAX_MESSAGE,
            d.memory.len(),
            std::mem::size_of::<arkwire_conn>()
        );
        let op = d.run(arkwire_conn_call, c"connect", c"");
        assert_eq!(d.outcome(op).0, ARKWIRE_OK);
        d.finish(op);
        let op = d.run(arkwire_conn_call, c"echo", c"small stack");
        let (s, o) = d.outcome(op);
        assert_eq!((s, msg(&o)), (ARKWIRE_OK, "small stack"));
        d.finish(op);
        around_the_limit(&mut d);
        // A reply as large as the connection takes.
        let big = "b".repeat(ARKWIRE_CONN_MAX_MESSAGE - 200);
        let big = std::ffi::CString::new(big).unwrap();
        let op = d.run(arkwire_conn_call, c"echo", &big);
        let (s, o) = d.outcome(op);
        assert_eq!((s, msg(&o).len()), (ARKWIRE_OK, big.as_bytes().len()));
        d.finish(op);
    });
    // The library-allocated connection is the same layout in one block.
    on_small_stack(stack, move || {
        let authority = std::ffi::CString::new(format!("127.0.0.1:{port}")).unwrap();
        let mut c = std::mem::MaybeUninit::uninit();
        // SAFETY: valid pointers; the connection is freed once.
        unsafe {
            assert_eq!(arkwire_conn_config_init(c.as_mut_ptr()), ARKWIRE_OK);
            let mut c = c.assume_init();
            c.authority = authority.as_ptr();
            c.user = c"u".as_ptr();
            c.max_ops = 2;
            let mut conn = std::ptr::null_mut();
            assert_eq!(arkwire_conn_new(&c, &mut conn), ARKWIRE_OK);
            let mut l = std::mem::zeroed();
            assert_eq!(arkwire_conn_limits(conn, &mut l), ARKWIRE_OK);
            assert_eq!((l.max_ops, l.max_request), (2, ARKWIRE_CONN_MAX_MESSAGE));
            arkwire_conn_free(conn);
        }
    });
}

#[test]
fn end_of_stream_fails_operations_in_flight_at_once_and_refuses_new_ones() {
    let server = serve(SyncProxy::new(BuiltinBackend, 4));
    let mut d = Driver::connect(server.local_addr().port());
    let done = d.run(arkwire_conn_call, c"echo", c"kept");
    let (s, a) = call_len(&mut d, c"sleep", b"20000");
    assert_eq!(s, ARKWIRE_OK);
    let (s, b) = call_len(&mut d, c"sleep", b"20000");
    assert_eq!(s, ARKWIRE_OK);
    // SAFETY: live conn; NULL with 0 is the end of the stream.
    assert_eq!(
        unsafe { arkwire_conn_recv(d.conn, std::ptr::null(), 0, d.now_us()) },
        ARKWIRE_OK
    );
    let mut seen = vec![];
    let mut op = 0;
    // SAFETY: live conn, valid out-pointer.
    while unsafe { arkwire_conn_poll_event(d.conn, &mut op) } == ARKWIRE_OK {
        seen.push(op);
    }
    seen.sort();
    assert_eq!(seen, vec![a, b]);
    for op in [a, b] {
        let (s, o) = d.outcome(op);
        assert_eq!(
            (s, o.error_kind, o.grpc_code),
            (ARKWIRE_CLOSED, ARKWIRE_ERROR_TRANSPORT, 14)
        );
        assert!(msg(&o).contains("end of stream"), "{}", msg(&o));
        d.finish(op);
    }
    // The result that was there stays.
    assert_eq!(msg(&d.outcome(done).1), "kept");
    let (s, none) = call_len(&mut d, c"ruok", b"");
    assert_eq!((s, none), (ARKWIRE_CLOSED, 0));
    // SAFETY: live conn, valid out-pointers.
    unsafe {
        assert_eq!(arkwire_conn_check(d.conn), ARKWIRE_CLOSED);
        assert_eq!(arkwire_conn_eof(d.conn), ARKWIRE_OK, "again: nothing");
        let mut at = 0;
        assert_eq!(arkwire_conn_poll_timeout(d.conn, &mut at), ARKWIRE_NO_TIMER);
        assert!(!arkwire_conn_wants_transmit(d.conn));
    }
}

#[test]
fn a_graceful_close_lets_calls_finish_then_sends_goaway() {
    let server = serve(SyncProxy::new(BuiltinBackend, 4));
    let mut d = Driver::connect(server.local_addr().port());
    let (s, a) = call_len(&mut d, c"sleep", b"100");
    assert_eq!(s, ARKWIRE_OK);
    // SAFETY: live conn.
    assert_eq!(unsafe { arkwire_conn_close(d.conn) }, ARKWIRE_OK);
    assert_eq!(call_len(&mut d, c"ruok", b"").0, ARKWIRE_CLOSED);
    d.wait(a, Duration::from_secs(10));
    assert_eq!(msg(&d.outcome(a).1), "slept");
    // The driver's last transmit after the completion carried the GOAWAY.
    let mut wire = vec![0u8; ARKWIRE_MIN_TRANSMIT_BUFFER];
    let mut n = 0;
    // SAFETY: live conn, buffer of the stated size, valid out-pointer.
    unsafe {
        assert_eq!(arkwire_conn_check(d.conn), ARKWIRE_CLOSED);
        let why = CStr::from_ptr(arkwire_conn_last_error(d.conn));
        assert!(why.to_str().unwrap().contains("GOAWAY is out"), "{why:?}");
        assert!(!arkwire_conn_wants_transmit(d.conn));
        assert_eq!(
            arkwire_conn_transmit(d.conn, wire.as_mut_ptr(), wire.len(), &mut n),
            ARKWIRE_OK
        );
        assert_eq!(n, 0);
    }
    d.finish(a);
}

#[test]
fn a_submit_to_a_synchronous_proxy_is_a_bad_reply() {
    let server = serve(SyncProxy::new(BuiltinBackend, 4));
    let mut d = Driver::connect(server.local_addr().port());
    let op = d.run(arkwire_conn_submit, c"ruok", c"");
    let (s, o) = d.outcome(op);
    assert_eq!(
        (s, o.error_kind),
        (ARKWIRE_BAD_REPLY, ARKWIRE_ERROR_PROTOCOL)
    );
    assert!(msg(&o).contains("synchronously"), "{}", msg(&o));
    d.finish(op);
    // An over-long request id is an argument error, nothing started.
    let mut op = 0;
    let id = c"0123456789abcdef0123456789abcdef0";
    // SAFETY: live conn, NUL-terminated id, valid out-pointer.
    let s = unsafe { arkwire_conn_status(d.conn, id.as_ptr(), d.now_us(), &mut op) };
    assert_eq!((s, op), (ARKWIRE_INVALID_ARGUMENT, 0));
}
