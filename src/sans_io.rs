//! The one driving contract every state machine in arkwire follows.
//!
//! A machine owns no socket and reads no clock. Its driver hands it the bytes
//! that arrived and the time ([`SansIo::recv`]), copies out what it wants sent
//! ([`SansIo::transmit`]), takes its events ([`SansIo::poll_event`]) and wakes
//! it at the instant it asks for ([`SansIo::poll_timeout`],
//! [`SansIo::handle_timeout`]). The HTTP/2 connection, the gRPC client and
//! server, the Arkouda channel and service and the ZMTP connection all
//! implement it, so one driver loop (the `net` module's, a C program's, a
//! test's) drives any of them.
//!
//! ```
//! use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
//! use arkwire::h2::conn::FixedStorage;
//! use arkwire::sans_io::{exchange, SansIo};
//! use arkwire::time::Instant;
//!
//! type Small = FixedStorage<4, 2048, 4096>;
//! const PATH: &str = "/arkouda.Arkouda/HandleRequest";
//! let now = Instant::from_millis(0);
//! let mut client = Client::<Small>::new("localhost", Options::default(), now).unwrap();
//! let mut server = Server::<Small>::new(PATH, Options::default(), now).unwrap();
//! let call = client.start_call(PATH, b"ping", &[], None, now).unwrap();
//!
//! // Any two machines: move bytes both ways until both are quiet.
//! exchange(&mut client, &mut server, now);
//! let Some(ServerEvent::Request(id)) = server.poll_event() else { panic!() };
//! assert_eq!(server.request(id).unwrap(), b"ping");
//! server.respond(id, b"pong").unwrap();
//! exchange(&mut client, &mut server, now);
//! assert_eq!(client.poll_event(), Some(ClientEvent::Complete(call)));
//! assert_eq!(client.response(call).unwrap(), b"pong");
//! ```

use crate::time::Instant;

/// A protocol state machine driven by bytes and time. See the module
/// documentation.
pub trait SansIo {
    /// What the machine reports to its application.
    type Event;
    /// Why input was refused; after an error the machine queues its last
    /// words (a GOAWAY, say) and ignores further input.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Feeds bytes read from the peer, with the current time.
    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), Self::Error>;
    /// Copies bytes to send into `out`; returns how many (0: nothing now).
    fn transmit(&mut self, out: &mut [u8]) -> usize;
    /// The next event for the application, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Advances time to `now`: deadlines that passed take effect.
    fn handle_timeout(&mut self, now: Instant);
}

/// The smallest buffer [`SansIo::transmit`] is always given by [`exchange`]
/// (every machine accepts it: an HTTP/2 frame header and one byte more).
pub const EXCHANGE_CHUNK: usize = crate::h2::conn::MIN_TRANSMIT_BUFFER;

/// Moves bytes between two machines, both ways, until neither has anything
/// to send, all at `now`; returns the bytes moved. Errors are the machines'
/// to report (they stay queued as events); input a machine refuses ends
/// nothing here. Gives up after a million rounds, which only a machine that
/// never stops sending reaches.
pub fn exchange<A: SansIo, B: SansIo>(a: &mut A, b: &mut B, now: Instant) -> usize {
    let mut buf = [0u8; EXCHANGE_CHUNK];
    let mut moved = 0;
    for _ in 0..1_000_000 {
        let n = a.transmit(&mut buf);
        if n > 0 {
            let _ = b.recv(&buf[..n], now);
        }
        let m = b.transmit(&mut buf);
        if m > 0 {
            let _ = a.recv(&buf[..m], now);
        }
        moved += n + m;
        if n == 0 && m == 0 {
            break;
        }
    }
    moved
}

#[cfg(feature = "alloc")]
mod pair;
#[cfg(feature = "alloc")]
pub use pair::Pair;

use crate::h2::conn::{Connection, Storage};

impl<S: Storage> SansIo for Connection<S> {
    type Event = crate::h2::Event;
    type Error = crate::h2::ConnectionError;
    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), Self::Error> {
        Connection::recv(self, input, now)
    }
    fn transmit(&mut self, out: &mut [u8]) -> usize {
        Connection::transmit(self, out)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        Connection::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Connection::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Connection::handle_timeout(self, now)
    }
}

/// Implements [`SansIo`] by forwarding to the type's inherent methods of the
/// same names.
macro_rules! forward_sans_io {
    ([$($generics:tt)*] $ty:ty, $event:ty, $error:ty) => {
        impl<$($generics)*> SansIo for $ty {
            type Event = $event;
            type Error = $error;
            fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), Self::Error> {
                <$ty>::recv(self, input, now)
            }
            fn transmit(&mut self, out: &mut [u8]) -> usize {
                <$ty>::transmit(self, out)
            }
            fn poll_event(&mut self) -> Option<Self::Event> {
                <$ty>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
        }
    };
}

forward_sans_io!([S: Storage] crate::grpc::Client<S>, crate::grpc::ClientEvent, crate::h2::ConnectionError);
forward_sans_io!([S: Storage] crate::grpc::Server<S>, crate::grpc::ServerEvent, crate::h2::ConnectionError);
forward_sans_io!(
    [S: Storage, const OPS: usize] crate::arkouda::Channel<S, OPS>,
    crate::arkouda::ChannelEvent,
    crate::h2::ConnectionError
);
forward_sans_io!(
    [B: crate::buf::Buffer + Default] crate::zmtp::ReqConnection<B>,
    crate::zmtp::ZmtpEvent,
    crate::zmtp::ZmtpError
);
