//! What went wrong in a TLS session or a TLS configuration, and whose doing
//! it was.

use alloc::string::String;
use std::sync::Arc;

use rustls::{AlertDescription, CertificateError};

use super::verify::ChainTooLarge;

/// Whose doing the end of a TLS session was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The peer broke TLS or failed our checks: it did not speak TLS, offered
    /// no `h2`, presented no certificate, an untrusted or oversized one.
    Peer,
    /// The peer refused us with a fatal alert (our certificate, our offer);
    /// [`TlsError::kind`] says what the alert was about.
    Refused,
    /// The peer did not finish the handshake in time.
    Timeout,
    /// A failure on our side (the TLS library, our configuration).
    Local,
}

impl Fault {
    /// Whether the peer's conduct (not ours) ended the session.
    pub const fn is_remote(self) -> bool {
        !matches!(self, Fault::Local)
    }
}

/// What kind of failure ended a TLS session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The peer's bytes are not TLS records: plaintext HTTP/2 sent to a TLS
    /// port, or a plaintext server answering a TLS client.
    NotTls,
    /// The two sides did not agree on the application protocol `h2`.
    NoApplicationProtocol,
    /// A client certificate is required and none was presented.
    CertificateRequired,
    /// A certificate failed verification: unknown issuer, expired, wrong
    /// name, bad signature or encoding.
    CertificateRejected,
    /// The certificate chain is larger than [`Limits`](super::Limits) allow.
    ChainTooLarge,
    /// The handshake did not finish within [`Limits::handshake_timeout`](super::Limits::handshake_timeout).
    HandshakeTimeout,
    /// No protocol version, cipher suite or signature scheme in common.
    Incompatible,
    /// The peer sent malformed or out-of-order TLS.
    Protocol,
    /// The connection ended without `close_notify` (see
    /// [`Tls::transport_closed`](super::Tls::transport_closed)). A server
    /// that refuses a TLS 1.3 client's certificate may close before its
    /// alert reaches the client, so a client sees this rather than
    /// [`Fault::Refused`].
    Truncated,
    /// The TLS library failed on our side.
    Internal,
}

/// A fatal TLS failure: the session sends its alert (if any) and closes.
#[derive(Clone, Debug)]
pub struct TlsError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Whose doing it was.
    pub fault: Fault,
    /// The TLS library's own account, when it had one.
    pub detail: Option<rustls::Error>,
}

impl TlsError {
    /// A failure the TLS library did not report (our own checks).
    pub const fn new(kind: ErrorKind, fault: Fault) -> Self {
        TlsError {
            kind,
            fault,
            detail: None,
        }
    }

    /// Sorts an error from the TLS library by kind and fault.
    pub fn from_rustls(error: rustls::Error) -> Self {
        use rustls::Error as E;
        let (kind, fault) = match &error {
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::InvalidEncryptedClientHello(_)
            | E::PeerMisbehaved(_)
            | E::DecryptError
            | E::PeerSentOversizedRecord
            | E::UnsupportedNameType
            | E::BadMaxFragmentSize => (ErrorKind::Protocol, Fault::Peer),
            E::PeerIncompatible(_) => (ErrorKind::Incompatible, Fault::Peer),
            E::NoCertificatesPresented => (ErrorKind::CertificateRequired, Fault::Peer),
            E::InvalidCertificate(CertificateError::Other(other))
                if other.0.downcast_ref::<ChainTooLarge>().is_some() =>
            {
                (ErrorKind::ChainTooLarge, Fault::Peer)
            }
            E::InvalidCertificate(_) => (ErrorKind::CertificateRejected, Fault::Peer),
            E::NoApplicationProtocol => (ErrorKind::NoApplicationProtocol, Fault::Peer),
            E::AlertReceived(alert) => (alert_kind(*alert), Fault::Refused),
            _ => (ErrorKind::Internal, Fault::Local),
        };
        TlsError {
            kind,
            fault,
            detail: Some(error),
        }
    }
}

/// What a fatal alert from the peer says was wrong with us.
fn alert_kind(alert: AlertDescription) -> ErrorKind {
    use AlertDescription as A;
    match alert {
        A::CertificateRequired => ErrorKind::CertificateRequired,
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateRevoked
        | A::CertificateExpired
        | A::CertificateUnknown
        | A::UnknownCA
        | A::AccessDenied
        | A::BadCertificateStatusResponse => ErrorKind::CertificateRejected,
        A::NoApplicationProtocol => ErrorKind::NoApplicationProtocol,
        A::HandshakeFailure | A::ProtocolVersion | A::InsufficientSecurity => {
            ErrorKind::Incompatible
        }
        _ => ErrorKind::Protocol,
    }
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ErrorKind::NotTls => "the peer does not speak TLS",
            ErrorKind::NoApplicationProtocol => "no agreement on the application protocol h2",
            ErrorKind::CertificateRequired => "a client certificate is required",
            ErrorKind::CertificateRejected => "certificate rejected",
            ErrorKind::ChainTooLarge => "certificate chain too large",
            ErrorKind::HandshakeTimeout => "TLS handshake timed out",
            ErrorKind::Incompatible => "no TLS version, cipher suite or signature scheme in common",
            ErrorKind::Protocol => "TLS protocol violation",
            ErrorKind::Truncated => "connection closed without a TLS close_notify",
            ErrorKind::Internal => "TLS failure on our side",
        })
    }
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let whose = match self.fault {
            Fault::Peer => "peer's fault",
            Fault::Refused => "refused by the peer",
            Fault::Timeout => "peer too slow",
            Fault::Local => "our side",
        };
        write!(f, "{} ({whose})", self.kind)?;
        match &self.detail {
            // Our own verifier's reasons read better than their wrapping.
            Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => {
                write!(f, ": {}", other.0)
            }
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TlsError {}

/// Why a [`Tls`](super::Tls) machine refused input: its own TLS failure or
/// the inner machine's error.
#[derive(Clone, Debug)]
pub enum Error<E> {
    /// The TLS session failed.
    Tls(TlsError),
    /// The machine inside refused the plaintext.
    Inner(E),
}

impl<E: core::fmt::Display> core::fmt::Display for Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Tls(e) => write!(f, "tls: {e}"),
            Error::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> std::error::Error for Error<E> {}

/// Why a TLS configuration could not be built. Never carries key material.
#[derive(Clone, Debug)]
pub enum ConfigError {
    /// A file could not be read.
    Io {
        /// The file.
        path: String,
        /// Why.
        error: Arc<std::io::Error>,
    },
    /// PEM input held no certificate (`what` names the input).
    NoCertificate {
        /// Which input: "certificate chain", "client CA", "CA roots".
        what: &'static str,
    },
    /// PEM certificate input could not be parsed.
    BadCertificatePem {
        /// Which input.
        what: &'static str,
        /// The parser's account (about PEM framing, never key bytes).
        detail: String,
    },
    /// CA certificates that cannot serve as trust anchors.
    InvalidCa {
        /// Which input: "client CA", "CA roots".
        what: &'static str,
        /// The TLS library's account.
        detail: String,
    },
    /// The private key input held no usable PEM private key (its contents
    /// are never echoed).
    BadKey,
    /// The server name is not a DNS name or an IP address.
    InvalidServerName(String),
    /// A limit is out of range.
    InvalidLimit(&'static str),
    /// The TLS library refused the configuration (a key that does not
    /// match the certificate, an unusable CA certificate, ...).
    Rustls(rustls::Error),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::Io { path, error } => write!(f, "cannot read {path}: {error}"),
            ConfigError::NoCertificate { what } => write!(f, "no PEM certificate in the {what}"),
            ConfigError::BadCertificatePem { what, detail } => {
                write!(f, "the {what} is not valid PEM: {detail}")
            }
            ConfigError::InvalidCa { what, detail } => {
                write!(f, "the {what} cannot verify certificates: {detail}")
            }
            ConfigError::BadKey => {
                f.write_str("the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)")
            }
            ConfigError::InvalidServerName(name) => write!(f, "invalid TLS server name {name:?}"),
            ConfigError::InvalidLimit(what) => write!(f, "invalid TLS limit: {what}"),
            ConfigError::Rustls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}
