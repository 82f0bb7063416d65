//! Drives an `arkwire_conn` (the C ABI's sans-IO tier) over a std
//! `TcpStream`, the way a C host would: transmit, read with a timeout, feed
//! bytes and time, poll events. Nothing here allocates after setup.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use arkwire::ffi::arkwire_status::{self, *};
use arkwire::ffi::conn::*;

pub struct Driver {
    pub conn: *mut arkwire_conn,
    pub stream: TcpStream,
    pub clock: Instant,
    pub wire: Vec<u8>,
}

impl Driver {
    /// Connects to `127.0.0.1:port` and creates the connection, with the
    /// fixed seed 7 for its request ids.
    pub fn connect(port: u16) -> Driver {
        Self::connect_seeded(port, Some(7))
    }

    /// Connects with `seed` for request ids, or the config's default (0:
    /// from the operating system) when `None`.
    pub fn connect_seeded(port: u16, seed: Option<u64>) -> Driver {
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
        if let Some(seed) = seed {
            config.seed = seed;
        }
        let mut conn = std::ptr::null_mut();
        // SAFETY: valid config and out-pointer.
        assert_eq!(unsafe { arkwire_conn_new(&config, &mut conn) }, ARKWIRE_OK);
        Driver {
            conn,
            stream,
            clock,
            wire: vec![0u8; ARKWIRE_MIN_TRANSMIT_BUFFER],
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
        let mut buf = [0u8; 16 * 1024];
        let start = Instant::now();
        loop {
            self.flush();
            let mut done = 0u32;
            // SAFETY: live conn, valid out-pointer.
            while unsafe { arkwire_conn_poll_event(self.conn, &mut done) } == ARKWIRE_OK {
                if done == op {
                    self.flush();
                    return;
                }
            }
            assert!(start.elapsed() < limit, "operation {op} did not complete");
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

    /// Reads `op`'s outcome: its status and, for text, a copy of the message.
    pub fn outcome(&mut self, op: u32) -> (arkwire_status, arkwire_outcome) {
        let mut out = std::mem::MaybeUninit::<arkwire_outcome>::uninit();
        // SAFETY: live conn, valid out-pointer.
        let s = unsafe { arkwire_conn_outcome(self.conn, op, out.as_mut_ptr()) };
        assert_ne!(s, ARKWIRE_NULL_ARGUMENT);
        // SAFETY: written whenever the arguments are valid (all but WOULD_BLOCK
        // and NOT_FOUND also fill it; those write it too).
        (s, unsafe { out.assume_init() })
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
        // SAFETY: from arkwire_conn_new, freed once.
        unsafe { arkwire_conn_free(self.conn) };
    }
}

/// The outcome's message as text.
pub fn msg(o: &arkwire_outcome) -> &str {
    // SAFETY: the library promises `msg_len` readable bytes of UTF-8.
    let bytes = unsafe { std::slice::from_raw_parts(o.msg.cast::<u8>(), o.msg_len) };
    std::str::from_utf8(bytes).unwrap()
}
