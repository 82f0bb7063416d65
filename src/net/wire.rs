//! What runs on one socket: a machine as it is, or inside a TLS session.

use std::string::String;

use super::driver::Endpoint;
use crate::sans_io::SansIo;
use crate::time::Instant;
#[cfg(feature = "tls")]
use crate::tls::{Tls, TlsEvent};

/// How the reason a connection ended begins when its TLS session failed
/// (a refused handshake, ...): what follows is the TLS error.
#[cfg(feature = "tls")]
pub(crate) const TLS_FAILURE: &str = "tls: ";

/// The machine `M` over plaintext TCP, or (feature `tls`) over TLS. Its
/// events are `M`'s: the TLS session's own are logged, and its failure is
/// what [`Endpoint::failure`] reports when the driver closes the socket.
pub(crate) enum Wire<M: SansIo> {
    Plain(M),
    #[cfg(feature = "tls")]
    Tls(std::boxed::Box<Tls<M>>),
}

/// Why a [`Wire`] refused input.
#[derive(Debug)]
pub(crate) enum WireError<E> {
    Inner(E),
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsError),
}

impl<E: core::fmt::Display> core::fmt::Display for WireError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Inner(e) => e.fmt(f),
            #[cfg(feature = "tls")]
            WireError::Tls(e) => write!(f, "tls: {e}"),
        }
    }
}

impl<M: SansIo> Wire<M> {
    /// The machine inside.
    pub(crate) fn inner(&self) -> &M {
        match self {
            Wire::Plain(m) => m,
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.inner(),
        }
    }

    /// The machine inside, to act on.
    pub(crate) fn inner_mut(&mut self) -> &mut M {
        match self {
            Wire::Plain(m) => m,
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.inner_mut(),
        }
    }
}

impl<M: SansIo> SansIo for Wire<M> {
    type Event = M::Event;
    type Error = WireError<M::Error>;

    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), Self::Error> {
        match self {
            Wire::Plain(m) => m.recv(input, now).map_err(WireError::Inner),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.recv(input, now).map_err(|e| match e {
                crate::tls::Error::Tls(e) => WireError::Tls(e),
                crate::tls::Error::Inner(e) => WireError::Inner(e),
            }),
        }
    }

    fn transmit(&mut self, out: &mut [u8]) -> usize {
        match self {
            Wire::Plain(m) => m.transmit(out),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.transmit(out),
        }
    }

    fn poll_event(&mut self) -> Option<M::Event> {
        match self {
            Wire::Plain(m) => m.poll_event(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => loop {
                match t.poll_event()? {
                    TlsEvent::Inner(event) => return Some(event),
                    TlsEvent::HandshakeComplete(h) => log::debug!(
                        "tls {:?}: {:?} {}, peer {}",
                        t.role(),
                        h.version,
                        h.cipher_suite,
                        h.peer
                            .as_ref()
                            .map_or("without a certificate", |p| p.name())
                    ),
                    // Logged where the session failed; the driver reports
                    // it as the connection's end (Endpoint::failure).
                    TlsEvent::Failed(_) | TlsEvent::PeerClosed => {}
                }
            },
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Wire::Plain(m) => m.poll_timeout(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Wire::Plain(m) => m.handle_timeout(now),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.handle_timeout(now),
        }
    }
}

impl<M: Endpoint> Endpoint for Wire<M> {
    fn is_finished(&self) -> bool {
        match self {
            Wire::Plain(m) => m.is_finished(),
            // The inner machine's last frame (GOAWAY) is encrypted and out;
            // HTTP/2 framed the end, so no close_notify is waited for.
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.is_closed() || (t.inner().is_finished() && !t.wants_transmit()),
        }
    }

    fn is_idle(&self) -> bool {
        self.inner().is_idle()
    }

    fn close(&mut self) {
        match self {
            Wire::Plain(m) => m.close(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) if t.is_established() => t.inner_mut().close(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.close(),
        }
    }

    fn at_frame_boundary(&self) -> bool {
        match self {
            Wire::Plain(m) => m.at_frame_boundary(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => {
                t.is_established() && !t.has_pending_plaintext() && t.inner().at_frame_boundary()
            }
        }
    }

    fn write_frame(&mut self, frame: &[u8]) -> bool {
        match self {
            Wire::Plain(m) => m.write_frame(frame),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => {
                // Never as plaintext on a TLS stream: a frame that cannot
                // go in now is dropped (the keepalive sends another).
                t.inject_plaintext(frame);
                true
            }
        }
    }

    fn transport_closed(&mut self) {
        match self {
            Wire::Plain(m) => m.transport_closed(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.transport_closed(),
        }
    }

    fn failure(&self) -> Option<String> {
        match self {
            Wire::Plain(m) => m.failure(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.failure().map(|e| std::format!("{TLS_FAILURE}{e}")),
        }
    }
}

/// What starts a client connection's TLS session; without feature `tls`
/// there is none to give.
#[cfg(feature = "tls")]
pub(crate) type ClientTls = std::sync::Arc<crate::tls::Connector>;
/// What starts a client connection's TLS session; without feature `tls`
/// there is none to give.
#[cfg(not(feature = "tls"))]
pub(crate) type ClientTls = core::convert::Infallible;

/// Puts a client connection's machine on the wire: inside a TLS session
/// started by `tls` when given.
pub(crate) fn client_wire<M: SansIo>(
    machine: M,
    tls: Option<&ClientTls>,
    now: Instant,
) -> std::io::Result<Wire<M>> {
    match tls {
        None => Ok(Wire::Plain(machine)),
        #[cfg(feature = "tls")]
        Some(connector) => connector
            .connect(machine, now)
            .map(|t| Wire::Tls(std::boxed::Box::new(t)))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
        #[cfg(not(feature = "tls"))]
        Some(never) => {
            let _ = now;
            match *never {}
        }
    }
}
