//! The client side's socket loop, shared by every sans-IO endpoint that
//! speaks over one TCP connection.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::string::String;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{Clock, IO_CHUNK, READ_SLICE};
use crate::sans_io::SansIo;

/// One non-blocking TCP connection and the buffers to move an endpoint's bytes.
pub(crate) struct Transport {
    poll: Poll,
    events: Events,
    stream: TcpStream,
    pub(crate) clock: Clock,
    /// Frames produced but not yet written: `out[out_pos..out_end]`.
    out: Vec<u8>,
    out_pos: usize,
    out_end: usize,
    read_buf: Vec<u8>,
    /// The last read stopped at [`READ_SLICE`] with the socket still readable.
    more_to_read: bool,
    /// Why the connection ended, once it has.
    pub(crate) closed: Option<String>,
}

impl Transport {
    pub(crate) fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Transport> {
        let std_stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        std_stream.set_nonblocking(true)?;
        std_stream.set_nodelay(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        let poll = Poll::new()?;
        poll.registry().register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Transport {
            poll,
            events: Events::with_capacity(16),
            stream,
            clock: Clock::new(),
            out: vec![0; IO_CHUNK],
            out_pos: 0,
            out_end: 0,
            read_buf: vec![0; IO_CHUNK],
            more_to_read: false,
            closed: None,
        })
    }

    /// One turn: write what is ready, wait for input or the endpoint's next
    /// deadline, read, and run due timers.
    pub(crate) fn turn(&mut self, endpoint: &mut impl SansIo) -> io::Result<()> {
        self.flush(endpoint)?;
        let timeout = if self.more_to_read {
            Some(Duration::ZERO)
        } else {
            endpoint.poll_timeout().map(|at| self.clock.until(at))
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if self.more_to_read
            || self
                .events
                .iter()
                .any(|e| e.is_readable() || e.is_read_closed())
        {
            self.read(endpoint)?;
        }
        let now = self.clock.now();
        if endpoint.poll_timeout().is_some_and(|at| at <= now) {
            endpoint.handle_timeout(now);
        }
        self.flush(endpoint)
    }

    /// Reads at most [`READ_SLICE`] bytes, so a server that never stops
    /// sending cannot keep the endpoint's timers from running.
    fn read(&mut self, endpoint: &mut impl SansIo) -> io::Result<()> {
        self.more_to_read = false;
        let mut budget = READ_SLICE;
        loop {
            if budget == 0 {
                self.more_to_read = true;
                return Ok(());
            }
            let len = self.read_buf.len().min(budget);
            match self.stream.read(&mut self.read_buf[..len]) {
                Ok(0) => {
                    self.closed
                        .get_or_insert_with(|| "server closed the connection".into());
                    return Ok(());
                }
                Ok(n) => {
                    budget -= n;
                    let now = self.clock.now();
                    if let Err(e) = endpoint.recv(&self.read_buf[..n], now) {
                        self.closed = Some(std::format!("{e}"));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn flush(&mut self, endpoint: &mut impl SansIo) -> io::Result<()> {
        loop {
            if self.out_pos == self.out_end {
                self.out_pos = 0;
                self.out_end = endpoint.transmit(&mut self.out);
                if self.out_end == 0 {
                    return Ok(());
                }
            }
            match self.stream.write(&self.out[self.out_pos..self.out_end]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
