//! Drives an `arkwire_conn` (the C ABI's sans-IO tier) over a std
//! `TcpStream`, the way a C host would: transmit, read with a timeout, feed
//! bytes and time, poll events. Nothing here allocates after setup.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use arkwire::ffi::arkwire_result;
use arkwire::ffi::arkwire_status::{self, *};
use arkwire::ffi::conn::*;

pub struct Driver {
    pub conn: *mut arkwire_conn,
    pub stream: TcpStream,
    pub clock: Instant,
    pub wire: Vec<u8>,
    /// The caller's memory the connection is built in.
    pub memory: Vec<u8>,
}

impl Driver {
    /// Connects to `127.0.0.1:port` and creates the connection, with the
    /// fixed seed 7 for its request ids.
    pub fn connect(port: u16) -> Driver {
        Self::connect_with(port, |_| {})
    }

    /// Connects with `seed` for request ids, or the config's default (0:
    /// from the operating system) when `None`.
    pub fn connect_seeded(port: u16, seed: Option<u64>) -> Driver {
        Self::connect_with(port, |config| config.seed = seed.unwrap_or(0))
    }

    /// Connects with the test defaults (seed 7, fast polls) changed by
    /// `adjust`, building the connection in memory of this driver's with
    /// `arkwire_conn_size` and `arkwire_conn_init`.
    pub fn connect_with(port: u16, adjust: impl FnOnce(&mut arkwire_conn_config)) -> Driver {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        let authority = CString::new(format!("127.0.0.1:{port}")).unwrap();
        let user = c"kjyost";
        let clock = Instant::now();
        let mut config = std::mem::MaybeUninit::<arkwire_conn_config>::uninit();
        // SAFETY: valid out-pointer.
        assert_eq!(
            unsafe { arkwire_conn_config_init(config.as_mut_ptr()) },
            ARKWIRE_OK
        );
        // SAFETY: initialized by arkwire_conn_config_init.
        let mut config = unsafe { config.assume_init() };
        config.authority = authority.as_ptr();
        config.user = user.as_ptr();
        config.poll_interval_ms = 5;
        config.poll_max_interval_ms = 50;
        config.seed = 7;
        adjust(&mut config);
        let mut size = 0;
        // SAFETY: valid config and out-pointer.
        assert_eq!(unsafe { arkwire_conn_size(&config, &mut size) }, ARKWIRE_OK);
        let mut memory = vec![0u8; size];
        let mut conn = std::ptr::null_mut();
        // SAFETY: `size` writable bytes, a valid config and out-pointer.
        let s = unsafe { arkwire_conn_init(memory.as_mut_ptr().cast(), size, &config, &mut conn) };
        assert_eq!(s, ARKWIRE_OK);
        Driver {
            conn,
            stream,
            clock,
            wire: vec![0u8; ARKWIRE_MIN_TRANSMIT_BUFFER],
            memory,
        }
    }

    pub fn now_us(&self) -> u64 {
        self.clock.elapsed().as_micros() as u64
    }

    fn flush(&mut self) {
        loop {
            let mut n = 0usize;
            // SAFETY: live conn, buffer of the stated size, valid out-pointer.
            let s = unsafe {
                arkwire_conn_transmit(self.conn, self.wire.as_mut_ptr(), self.wire.len(), &mut n)
            };
            assert_eq!(s, ARKWIRE_OK);
            if n == 0 {
                return;
            }
            self.stream.write_all(&self.wire[..n]).unwrap();
        }
    }

    /// Runs the connection until operation `op` completes (or `limit` passes);
    /// other operations' completions are ignored.
    pub fn wait(&mut self, op: u32, limit: Duration) {
        self.wait_all(&[op], limit);
    }

    /// Runs the connection until every operation of `ops` completed.
    pub fn wait_all(&mut self, ops: &[u32], limit: Duration) {
        let mut buf = [0u8; 16 * 1024];
        let mut pending = [true; 16];
        let start = Instant::now();
        loop {
            self.flush();
            let mut done = 0u32;
            let mut s;
            loop {
                // SAFETY: live conn, valid out-pointer.
                s = unsafe { arkwire_conn_poll_event(self.conn, &mut done) };
                if s != ARKWIRE_OK {
                    break;
                }
                if let Some(i) = ops.iter().position(|o| *o == done) {
                    pending[i] = false;
                }
            }
            assert_eq!(s, ARKWIRE_NO_EVENT);
            if !pending[..ops.len()].contains(&true) {
                self.flush();
                return;
            }
            assert!(
                start.elapsed() < limit,
                "operations {ops:?} did not complete"
            );
            // Sleep in read() until bytes arrive or the next timer is due.
            let mut at = 0u64;
            // SAFETY: live conn, valid out-pointer.
            let wait = match unsafe { arkwire_conn_poll_timeout(self.conn, &mut at) } {
                ARKWIRE_OK => Duration::from_micros(at.saturating_sub(self.now_us())),
                _ => Duration::from_millis(100),
            };
            let wait = wait.clamp(Duration::from_millis(1), Duration::from_millis(100));
            self.stream.set_read_timeout(Some(wait)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => {
                    let now = self.now_us();
                    // SAFETY: live conn, `n` readable bytes.
                    let s = unsafe { arkwire_conn_recv(self.conn, buf.as_ptr(), n, now) };
                    assert_eq!(s, ARKWIRE_OK);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
            let now = self.now_us();
            // SAFETY: live conn.
            assert_eq!(
                unsafe { arkwire_conn_handle_timeout(self.conn, now) },
                ARKWIRE_OK
            );
        }
    }

    /// Reads `op`'s result and the status returned with it.
    pub fn outcome(&mut self, op: u32) -> (arkwire_status, arkwire_result) {
        let mut out = std::mem::MaybeUninit::<arkwire_result>::uninit();
        // SAFETY: live conn, valid out-pointer.
        let s = unsafe { arkwire_conn_outcome(self.conn, op, out.as_mut_ptr()) };
        assert_ne!(s, ARKWIRE_NULL_ARGUMENT);
        // SAFETY: written whenever the arguments are valid.
        let r = unsafe { out.assume_init() };
        assert_eq!(r.status, s, "the result carries the returned status");
        (s, r)
    }

    /// Starts `cmd` with the given starter and waits for it.
    pub fn run(
        &mut self,
        start: unsafe extern "C" fn(
            *mut arkwire_conn,
            *const std::ffi::c_char,
            *const std::ffi::c_char,
            u64,
            *mut u32,
        ) -> arkwire_status,
        cmd: &std::ffi::CStr,
        args: &std::ffi::CStr,
    ) -> u32 {
        let mut op = 0;
        let now = self.now_us();
        // SAFETY: live conn, NUL-terminated strings, valid out-pointer.
        let s = unsafe { start(self.conn, cmd.as_ptr(), args.as_ptr(), now, &mut op) };
        assert_eq!(s, ARKWIRE_OK);
        self.wait(op, Duration::from_secs(20));
        op
    }

    pub fn finish(&mut self, op: u32) {
        // SAFETY: live conn.
        assert_eq!(unsafe { arkwire_conn_finish(self.conn, op) }, ARKWIRE_OK);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: from arkwire_conn_init, ended once (its memory is freed after).
        unsafe { arkwire_conn_free(self.conn) };
    }
}

/// The result's message as text; checks its NUL.
pub fn msg(r: &arkwire_result) -> &str {
    // SAFETY: the library promises `msg_len` readable bytes of UTF-8 and a NUL.
    let bytes = unsafe { std::slice::from_raw_parts(r.msg.cast::<u8>(), r.msg_len + 1) };
    assert_eq!(bytes[r.msg_len], 0, "msg is NUL-terminated");
    std::str::from_utf8(&bytes[..r.msg_len]).unwrap()
}

/// The result's request id; checks its NUL.
pub fn request_id(r: &arkwire_result) -> &str {
    // SAFETY: as `msg`.
    let bytes =
        unsafe { std::slice::from_raw_parts(r.request_id.cast::<u8>(), r.request_id_len + 1) };
    assert_eq!(bytes[r.request_id_len], 0, "request_id is NUL-terminated");
    std::str::from_utf8(&bytes[..r.request_id_len]).unwrap()
}

/// The result's binary payload.
pub fn payload(r: &arkwire_result) -> &[u8] {
    assert!(!r.payload.is_null());
    // SAFETY: the library promises `payload_len` readable bytes.
    unsafe { std::slice::from_raw_parts(r.payload, r.payload_len) }
}
