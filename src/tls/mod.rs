//! TLS and mutual TLS as one more sans-IO layer (std tier, feature `tls`).
//!
//! [`Tls<M>`](Tls) wraps any [`SansIo`](crate::sans_io::SansIo) machine:
//! ciphertext from the peer goes in through [`recv`](Tls::recv), rustls
//! decrypts it and the plaintext goes into `M`; what `M` transmits is
//! encrypted and comes out of [`transmit`](Tls::transmit). `Tls<M>` is a
//! `SansIo` machine itself, so the driver that runs a
//! `grpc::Server` (the `net` loop, a test's [`Pair`](crate::sans_io::Pair), a
//! C host) runs a `Tls<grpc::Server>` unchanged. Its events are `M`'s
//! ([`TlsEvent::Inner`]) after its own: [`TlsEvent::HandshakeComplete`] with
//! the agreed protocol and the peer's verified identity,
//! [`TlsEvent::Failed`] with a [`TlsError`] that says what went wrong and
//! whose doing it was ([`Fault`]), and [`TlsEvent::PeerClosed`].
//!
//! ```
//! use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
//! use arkwire::h2::conn::GrowableStorage;
//! use arkwire::sans_io::Pair;
//! use arkwire::time::Instant;
//! use arkwire::tls::{Acceptor, ClientConfig, Connector, Credentials, ServerConfig, TlsEvent};
//! use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
//!
//! // A CA and a server certificate for "localhost", made on the spot.
//! let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
//! ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
//! let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
//! let key = KeyPair::generate().unwrap();
//! let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap()
//!     .signed_by(&key, &ca).unwrap();
//!
//! let server_tls = ServerConfig::new(
//!     Credentials::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
//! );
//! let client_tls = ClientConfig::new(ca.pem().as_bytes(), "localhost").unwrap();
//! let acceptor = Acceptor::new(&server_tls).unwrap();
//! let connector = Connector::new(&client_tls).unwrap();
//!
//! const PATH: &str = "/arkouda.Arkouda/HandleRequest";
//! let t0 = Instant::from_millis(0);
//! let client = Client::<GrowableStorage>::new("localhost", Options::default(), t0).unwrap();
//! let server = Server::<GrowableStorage>::new(PATH, Options::default(), t0).unwrap();
//! let mut pair = Pair::new(
//!     connector.connect(client, t0).unwrap(),
//!     acceptor.accept(server, t0).unwrap(),
//!     t0,
//! );
//! let call = pair.a.inner_mut().start_call(PATH, b"ping", &[], None, t0).unwrap();
//! pair.drive();
//! assert!(matches!(pair.b.poll_event(), Some(TlsEvent::HandshakeComplete(_))));
//! let Some(TlsEvent::Inner(ServerEvent::Request(id))) = pair.b.poll_event() else { panic!() };
//! pair.b.inner_mut().respond(id, b"pong").unwrap();
//! pair.drive();
//! assert!(matches!(pair.a.poll_event(), Some(TlsEvent::HandshakeComplete(_))));
//! assert!(matches!(pair.a.poll_event(), Some(TlsEvent::Inner(ClientEvent::Complete(c))) if c == call));
//! assert_eq!(pair.a.inner().response(call).unwrap(), b"pong");
//! ```
//!
//! # Configuration and reload
//! A [`ServerConfig`] holds the server's [`Credentials`] (certificate chain
//! and key, read from PEM) and, for mutual TLS, the client CA: when one is
//! given, every client must present a certificate that chains to it, and
//! the certificate's subject becomes the session's [`PeerIdentity`] (common
//! name, DNS/URI/e-mail SANs; [`PeerIdentity::name`] picks one string). A
//! [`ClientConfig`] holds the CA roots the server must chain to (only those:
//! the operating system's store is not consulted), optional client
//! credentials and the server name. Both offer TLS 1.2 and 1.3
//! ([`Version`]) and ALPN `h2` only.
//!
//! [`Acceptor`] and [`Connector`] start sessions from a built configuration
//! held behind a lock: [`Acceptor::reload`] (the SIGHUP path) swaps it in one
//! step, new handshakes use the new certificate, and sessions already
//! started keep the configuration they began with. A configuration that
//! fails to load (missing file, key not matching the certificate) is
//! refused and the old one stays in use.
//!
//! # Limits and failures
//! Every limit is in [`Limits`], with a safe default:
//! [`handshake_timeout`](Limits::handshake_timeout) (10 s, from the
//! session's start), [`max_chain_bytes`](Limits::max_chain_bytes) (32 KiB)
//! and [`max_chain_certs`](Limits::max_chain_certs) (8) for the peer's
//! certificate chain, checked before any signature is verified. What each
//! side sees:
//!
//! | case | this side | the other side |
//! |---|---|---|
//! | client presents no certificate | server: `CertificateRequired`, `Peer` | client: `CertificateRequired`, `Refused` |
//! | client certificate from another CA | server: `CertificateRejected`, `Peer` | client: `CertificateRejected`, `Refused` |
//! | chain over the limits | `ChainTooLarge`, `Peer` | `CertificateRejected`, `Refused` |
//! | client does not offer `h2` | server: `NoApplicationProtocol`, `Peer` | the alert, or `close_notify` when it offered no ALPN at all |
//! | plaintext HTTP/2 to a TLS port | server: `NotTls`, `Peer` | an HTTP/2 client: GOAWAY `INADEQUATE_SECURITY` ([`NOT_TLS_GOAWAY`]) with no SETTINGS before it, so its connection attempt fails at once |
//! | TLS to a plaintext HTTP/2 port | client: `NotTls`, `Peer` (the server's SETTINGS is not a TLS record) | the server's HTTP/2 preface error |
//! | peer silent or stalled | `HandshakeTimeout`, `Timeout` | — |
//!
//! After a failure the session queues its alert, reads no more input and
//! takes no more plaintext from the inner machine; once the alert is out,
//! [`Tls::is_closed`] says the socket can be closed. Nothing here logs key
//! material: keys are never formatted (`Debug` of [`Credentials`] prints
//! `<redacted>`) and key errors do not echo their input.
//!
//! # Choices
//! - **Buffered rustls API** (`ServerConnection`/`ClientConnection` with
//!   `read_tls`/`write_tls` on in-memory slices) rather than the unbuffered
//!   one: a slice is an `io::Read`/`io::Write`, so `recv` and `transmit` map
//!   onto it one to one, partial writes into a small `transmit` buffer are
//!   kept by rustls, and rustls sizes its own buffers; the unbuffered API
//!   would have us manage its record buffers and state transitions for no
//!   gain in this shape. The copies are one per direction (rustls's buffer
//!   to the caller's), as in the unbuffered API with a caller buffer.
//! - **ring** as the one crypto provider: it builds with only a C compiler,
//!   which every machine that builds arkwire's C library already has, and
//!   cross-compiles to the ARM Linux boards of an edge fleet without cmake,
//!   Go or NASM (which aws-lc-rs needs). What we give up: aws-lc-rs's FIPS
//!   module and post-quantum hybrid key exchange (X25519MLKEM768). rustls
//!   0.23.48 marks ring's provider deprecated for that last reason; it is
//!   complete for TLS 1.2 and 1.3 and still maintained, and the provider is
//!   chosen in one function, so moving to aws-lc-rs when post-quantum key
//!   exchange is wanted is a small change.
//! - **Feature `tls`**, on in `default` and in `ffi`: the tiers that face
//!   the network have TLS out of the box, while a std build for a host that
//!   ends TLS elsewhere (a sidecar, a load balancer) can leave out the
//!   crypto and its C build (`--no-default-features --features std`). The
//!   no-alloc tier never has it: rustls needs an allocator. There, a device
//!   wraps the connection's bytes in its own TLS stack (mbedTLS, a hardware
//!   engine) exactly where this layer sits.
//! - Certificate validity is checked against the system clock (rustls's
//!   default time provider); the sans-IO clock only drives the handshake
//!   deadline and the inner machine.
//!
//! # Deployment
//! TLS belongs between the edge devices and the proxy. The upstream link
//! from the proxy to arkouda_server stays plaintext ZMTP: arkouda_server
//! speaks only ZMTP's NULL mechanism (no CURVE, no TLS), so run the proxy
//! beside arkouda_server (the same host, or a private network segment) and
//! expose only the proxy's TLS port:
//!
//! ```text
//!  device ──TLS 1.2/1.3, ALPN h2, client cert──▶ arkwire serve ──ZMTP (NULL), loopback──▶ arkouda_server
//! ```
//!
//! `arkwire serve --tls-cert --tls-key [--tls-client-ca]
//! [--tls-require-user-match]` and `arkwire call --tls [--ca] [--cert --key]
//! [--server-name]` run this layer on the `net` driver
//! (`net::Server::bind_tls`, `net::Session::connect_tls`,
//! `net::Client::connect_tls`). Not yet: the C ABI's TLS options.

mod config;
mod error;
mod identity;
mod machine;
mod verify;

pub use config::{
    certs_from_pem, Acceptor, ClientConfig, Connector, Credentials, Limits, ServerConfig, Version,
};
pub use error::{ConfigError, Error, ErrorKind, Fault, TlsError};
pub use identity::PeerIdentity;
pub use machine::{Handshake, Role, Tls, TlsEvent, NOT_TLS_GOAWAY};
/// The TLS library, for [`Acceptor::from_rustls`] and
/// [`Connector::from_rustls`] and the types in [`TlsError::detail`].
pub use rustls;

/// The one application protocol spoken over TLS: HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
