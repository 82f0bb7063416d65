//! [`Tls`]: one TLS session around any [`SansIo`] machine.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use std::io::{Read, Write};

use super::error::{Error, ErrorKind, Fault, TlsError};
use super::{PeerIdentity, Version, ALPN_H2};
use crate::h2::frame::GoAway;
use crate::h2::ErrorCode;
use crate::sans_io::SansIo;
use crate::time::Instant;

use super::config::Limits;

/// Plaintext moved per step between the inner machine and the TLS library:
/// one full TLS record.
const CHUNK: usize = 16 * 1024;

/// What a plaintext HTTP/2 client is told when it reaches a TLS port: the
/// debug data of the GOAWAY (INADEQUATE_SECURITY) sent in answer.
pub const NOT_TLS_GOAWAY: &[u8] = b"this port speaks TLS (ALPN h2); connect with TLS";

/// Which end of the session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends the ClientHello; verifies the server's certificate.
    Client,
    /// Answers it; verifies the client's certificate when it asks for one.
    Server,
}

/// How a finished handshake came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The application protocol agreed: always `h2` (a peer that does not
    /// agree to it is refused).
    pub alpn: Vec<u8>,
    /// The protocol version.
    pub version: Version,
    /// The cipher suite's IANA name, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: &'static str,
    /// The subject of the peer's verified certificate: a server learns the
    /// client's under mutual TLS (otherwise `None`); a client always learns
    /// the server's.
    pub peer: Option<PeerIdentity>,
}

/// What a [`Tls`] machine reports: its own events and the inner machine's.
#[derive(Clone, Debug)]
pub enum TlsEvent<E> {
    /// The handshake finished; plaintext now flows. Comes before any inner
    /// event. Under TLS 1.3 a client reports it before the server has
    /// checked the client's certificate, so a refusal may still follow as
    /// [`TlsEvent::Failed`].
    HandshakeComplete(Handshake),
    /// An event of the machine inside.
    Inner(E),
    /// The session failed; the alert (if any) is queued to transmit, then
    /// the connection is finished ([`Tls::is_closed`]). The inner machine is
    /// not told: the driver drops it with the connection.
    Failed(TlsError),
    /// The peer ended the session cleanly: its `close_notify` (ours is
    /// queued in answer), or end of file after application data (see
    /// [`Tls::transport_closed`]).
    PeerClosed,
}

/// One TLS session around the machine `M`: ciphertext in, plaintext to `M`;
/// `M`'s bytes out, ciphertext out. Start one with
/// [`Acceptor::accept`](super::Acceptor::accept) or
/// [`Connector::connect`](super::Connector::connect). See the
/// [module documentation](super).
pub struct Tls<M: SansIo> {
    conn: rustls::Connection,
    role: Role,
    inner: M,
    limits: Limits,
    /// When the handshake must be finished by.
    deadline: Instant,
    /// The handshake finished and `h2` was agreed.
    established: bool,
    /// The session failed or the peer closed it: no more input is read and
    /// no more plaintext is taken from `inner`.
    ended: bool,
    /// The application asked for a graceful close.
    close_requested: bool,
    /// Our `close_notify` is queued (graceful close done).
    close_sent: bool,
    /// Application data has arrived from the peer.
    received_plaintext: bool,
    /// Bytes of the first record header checked (content type, version).
    sniffed: u8,
    handshake: Option<Handshake>,
    failure: Option<TlsError>,
    events: VecDeque<TlsEvent<M::Event>>,
    /// Bytes sent as they are, ahead of any TLS: the HTTP/2 answer to a
    /// plaintext client.
    raw_out: Vec<u8>,
    /// Room for one chunk of plaintext either way.
    scratch: Vec<u8>,
    /// Plaintext taken from `inner` that the TLS library did not accept yet.
    pending: Vec<u8>,
    /// Told the handshake's outcome before the inner machine sees any
    /// plaintext (see [`Tls::with_handshake_hook`]).
    hook: Option<fn(&mut M, &Handshake)>,
}

impl<M: SansIo> Tls<M> {
    pub(crate) fn start(
        conn: rustls::Connection,
        role: Role,
        inner: M,
        limits: Limits,
        now: Instant,
    ) -> Self {
        Tls {
            conn,
            role,
            inner,
            limits,
            deadline: now + limits.handshake_timeout,
            established: false,
            ended: false,
            close_requested: false,
            close_sent: false,
            received_plaintext: false,
            sniffed: 0,
            handshake: None,
            failure: None,
            events: VecDeque::new(),
            raw_out: Vec::new(),
            scratch: vec![0; CHUNK],
            pending: Vec::new(),
            hook: None,
        }
    }

    /// Calls `hook` with the inner machine and the handshake's outcome as
    /// soon as the handshake finishes, before the inner machine is given
    /// any plaintext: a server hands the client's verified identity to the
    /// service this way, so the first request already carries it.
    pub fn with_handshake_hook(mut self, hook: fn(&mut M, &Handshake)) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Whether plaintext taken from the inner machine still waits for the
    /// TLS library: the stream is then in the middle of something the
    /// inner machine wrote.
    pub(crate) fn has_pending_plaintext(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sends `bytes` as plaintext of its own (an HTTP/2 PING the driver
    /// writes) ahead of what the inner machine writes next. Call it only
    /// when the inner machine is at a frame boundary and
    /// [`has_pending_plaintext`](Self::has_pending_plaintext) is false;
    /// false when the session carries no plaintext (not established, ended).
    pub(crate) fn inject_plaintext(&mut self, bytes: &[u8]) -> bool {
        if !self.is_established() || self.close_sent || !self.pending.is_empty() {
            return false;
        }
        self.pending.extend_from_slice(bytes);
        true
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The machine inside (to read its state).
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The machine inside (to start calls, answer requests).
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// The limits this session holds its peer to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How the handshake came out, once it has finished.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The subject of the peer's verified certificate, once known.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.handshake.as_ref().and_then(|h| h.peer.as_ref())
    }

    /// Whether plaintext flows (handshake done, `h2` agreed, not ended).
    pub fn is_established(&self) -> bool {
        self.established && !self.ended
    }

    /// Why the session failed, if it did.
    pub fn failure(&self) -> Option<&TlsError> {
        self.failure.as_ref()
    }

    /// Whether TLS bytes are waiting to be transmitted.
    pub fn wants_transmit(&self) -> bool {
        !self.raw_out.is_empty() || self.conn.wants_write()
    }

    /// Whether the session is over and everything it had to say is sent:
    /// the driver may close the socket.
    pub fn is_closed(&self) -> bool {
        (self.ended || self.close_sent) && !self.wants_transmit()
    }

    /// Ends the session gracefully: what the inner machine still has to
    /// send goes out, then `close_notify`. Call it when the inner machine is
    /// finished (its `Closed` event).
    pub fn close(&mut self) {
        self.close_requested = true;
        if !self.established && !self.ended {
            self.conn.send_close_notify();
            self.close_sent = true;
        }
    }

    /// The driver's socket reached end of file or failed. After the peer
    /// has sent application data, this is an ordinary end
    /// ([`TlsEvent::PeerClosed`]): HTTP/2 frames its own end, and peers
    /// such as grpcio close without `close_notify`. Before that (during the
    /// handshake, or a TLS 1.3 client whose server went silent after it)
    /// the session fails with [`ErrorKind::Truncated`].
    pub fn transport_closed(&mut self) {
        if self.ended || self.close_sent {
            self.ended = true;
        } else if self.established && self.received_plaintext {
            self.ended = true;
            self.events.push_back(TlsEvent::PeerClosed);
        } else {
            self.fail(TlsError::new(ErrorKind::Truncated, Fault::Peer));
        }
    }

    /// Records the failure once, queues its event, and returns it.
    fn fail(&mut self, error: TlsError) -> TlsError {
        if !self.ended {
            log::debug!("tls {:?}: {error}", self.role);
            self.ended = true;
            self.failure = Some(error.clone());
            self.events.push_back(TlsEvent::Failed(error.clone()));
        }
        error
    }

    /// Checks that the peer's first bytes begin a TLS record: content type
    /// handshake (22) or alert (21), then major version 3.
    fn sniff(&mut self, input: &[u8]) -> Result<(), TlsError> {
        for &byte in input.iter().take(usize::from(2 - self.sniffed.min(2))) {
            let ok = match self.sniffed {
                0 => byte == 22 || byte == 21,
                _ => byte == 3,
            };
            if !ok {
                if self.role == Role::Server {
                    self.answer_plaintext_client();
                }
                return Err(TlsError::new(ErrorKind::NotTls, Fault::Peer));
            }
            self.sniffed += 1;
        }
        Ok(())
    }

    /// Tells a plaintext HTTP/2 client, in HTTP/2, that this port speaks
    /// TLS: a GOAWAY with INADEQUATE_SECURITY and [`NOT_TLS_GOAWAY`], and
    /// no SETTINGS before it. A client that got a server preface would take
    /// the connection for ready and the GOAWAY for a passing one, and
    /// reconnect at once, over and over until its deadline (grpcio does);
    /// without one its connection attempt fails, and so does its call, at
    /// once.
    fn answer_plaintext_client(&mut self) {
        let goaway = GoAway::new(0, ErrorCode::InadequateSecurity, NOT_TLS_GOAWAY);
        let mut frame = vec![0u8; 9 + goaway.buffer_len()];
        let Ok(n) = goaway.emit(&mut frame) else {
            return;
        };
        frame.truncate(n);
        self.raw_out = frame;
    }

    /// The handshake just finished: require `h2`, read the peer's subject.
    fn on_handshake(&mut self) -> Result<(), TlsError> {
        if self.conn.alpn_protocol() != Some(ALPN_H2) {
            self.conn.send_close_notify();
            return Err(TlsError::new(ErrorKind::NoApplicationProtocol, Fault::Peer));
        }
        let peer = match self.conn.peer_certificates().and_then(|c| c.first()) {
            None => None,
            Some(der) => match PeerIdentity::from_der(der) {
                Some(identity) => Some(identity),
                None => {
                    self.conn.send_close_notify();
                    return Err(TlsError::new(ErrorKind::CertificateRejected, Fault::Peer));
                }
            },
        };
        let Some(version) = self.conn.protocol_version().and_then(Version::from_rustls) else {
            self.conn.send_close_notify();
            return Err(TlsError::new(ErrorKind::Internal, Fault::Local));
        };
        let cipher_suite = self
            .conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown");
        let handshake = Handshake {
            alpn: ALPN_H2.to_vec(),
            version,
            cipher_suite,
            peer,
        };
        self.established = true;
        if let Some(hook) = self.hook {
            hook(&mut self.inner, &handshake);
        }
        self.handshake = Some(handshake.clone());
        self.events
            .push_back(TlsEvent::HandshakeComplete(handshake));
        Ok(())
    }

    /// Hands the plaintext the TLS library has decrypted to the inner machine.
    fn drain_plaintext(&mut self, now: Instant) -> Result<(), M::Error> {
        loop {
            match self.conn.reader().read(&mut self.scratch) {
                Ok(0) => {
                    // The peer's close_notify: answer with ours.
                    if !self.ended {
                        self.ended = true;
                        self.events.push_back(TlsEvent::PeerClosed);
                    }
                    self.conn.send_close_notify();
                    return Ok(());
                }
                Ok(n) => {
                    self.received_plaintext = true;
                    if self.established {
                        self.inner.recv(&self.scratch[..n], now)?;
                    }
                }
                // WouldBlock: nothing more for now.
                Err(_) => return Ok(()),
            }
        }
    }

    /// Feeds ciphertext from the peer. See [`SansIo::recv`].
    pub fn recv(&mut self, mut input: &[u8], now: Instant) -> Result<(), Error<M::Error>> {
        if self.ended {
            return Ok(());
        }
        if let Err(e) = self.sniff(input) {
            return Err(Error::Tls(self.fail(e)));
        }
        while !input.is_empty() && !self.ended {
            match self.conn.read_tls(&mut input) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    // The library's buffer is full: a handshake message
                    // over its 64 KiB bound (decrypted plaintext is always
                    // drained below, so it is never that).
                    self.conn.send_close_notify();
                    let e = TlsError::new(ErrorKind::Protocol, Fault::Peer);
                    return Err(Error::Tls(self.fail(e)));
                }
            }
            if let Err(e) = self.conn.process_new_packets() {
                // The library has queued its alert.
                return Err(Error::Tls(self.fail(TlsError::from_rustls(e))));
            }
            if !self.established && !self.conn.is_handshaking() {
                if let Err(e) = self.on_handshake() {
                    return Err(Error::Tls(self.fail(e)));
                }
            }
            self.drain_plaintext(now).map_err(Error::Inner)?;
        }
        Ok(())
    }

    /// Takes the next chunk of plaintext from the inner machine into the
    /// TLS library; false when there was none.
    fn pull_inner(&mut self) -> bool {
        if !self.pending.is_empty() {
            let taken = self.conn.writer().write(&self.pending).unwrap_or(0);
            self.pending.drain(..taken);
            return taken > 0;
        }
        let n = self.inner.transmit(&mut self.scratch);
        if n == 0 {
            return false;
        }
        let taken = self.conn.writer().write(&self.scratch[..n]).unwrap_or(0);
        self.pending.extend_from_slice(&self.scratch[taken..n]);
        true
    }

    /// Copies ciphertext to send into `out`. See [`SansIo::transmit`].
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        if !self.raw_out.is_empty() {
            n = self.raw_out.len().min(out.len());
            out[..n].copy_from_slice(&self.raw_out[..n]);
            self.raw_out.drain(..n);
            return n;
        }
        loop {
            while n < out.len() && self.conn.wants_write() {
                let mut window = &mut out[n..];
                match self.conn.write_tls(&mut window) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            if n == out.len() || self.conn.wants_write() {
                return n;
            }
            if !self.established || self.ended || self.close_sent {
                return n;
            }
            if !self.pull_inner() {
                if !self.close_requested {
                    return n;
                }
                self.conn.send_close_notify();
                self.close_sent = true;
            }
        }
    }

    /// The inner machine's events, after this session's own.
    pub fn poll_event(&mut self) -> Option<TlsEvent<M::Event>> {
        self.events
            .pop_front()
            .or_else(|| self.inner.poll_event().map(TlsEvent::Inner))
    }

    /// The handshake deadline (while handshaking) or the inner machine's
    /// next timer, whichever is sooner.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = (!self.established && !self.ended).then_some(self.deadline);
        match (own, self.inner.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails a handshake past its deadline; advances the inner machine.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.established && !self.ended && now >= self.deadline {
            self.conn.send_close_notify();
            self.fail(TlsError::new(ErrorKind::HandshakeTimeout, Fault::Timeout));
        }
        self.inner.handle_timeout(now);
    }
}

impl<M: SansIo> SansIo for Tls<M> {
    type Event = TlsEvent<M::Event>;
    type Error = Error<M::Error>;

    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), Self::Error> {
        Tls::recv(self, input, now)
    }
    fn transmit(&mut self, out: &mut [u8]) -> usize {
        Tls::transmit(self, out)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        Tls::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Tls::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Tls::handle_timeout(self, now)
    }
}
