//! Certificates, keys and limits, and the reloadable [`Acceptor`] and
//! [`Connector`] that start TLS sessions from them.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, SupportedProtocolVersion};

use super::verify::{LimitedClientVerifier, LimitedServerVerifier};
use super::{ConfigError, Role, Tls, ALPN_H2};
use crate::sans_io::SansIo;
use crate::time::Instant;

/// The limits one TLS session holds its peer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long the peer has, from the session's start, to finish the
    /// handshake. Default 10 s: a handshake is two round trips, so this
    /// leaves room for slow links while a silent or stalled peer (a
    /// plaintext client waiting for a SETTINGS frame that never comes)
    /// is found quickly.
    pub handshake_timeout: Duration,
    /// Most bytes in the peer's certificate chain (end entity plus
    /// intermediates). Default 32 KiB: real chains of two or three
    /// certificates are 2–6 KiB; the TLS library's own bound is 64 KiB per
    /// handshake message.
    pub max_chain_bytes: usize,
    /// Most certificates in the peer's chain. Default 8.
    pub max_chain_certs: usize,
}

impl Limits {
    /// Refuses limits that would let no handshake finish.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::InvalidLimit(
                "handshake_timeout must be above zero",
            ));
        }
        if self.max_chain_bytes == 0 {
            return Err(ConfigError::InvalidLimit(
                "max_chain_bytes must be above zero",
            ));
        }
        if self.max_chain_certs == 0 {
            return Err(ConfigError::InvalidLimit(
                "max_chain_certs must be above zero",
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            max_chain_bytes: 32 * 1024,
            max_chain_certs: 8,
        }
    }
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// TLS 1.2 (RFC 5246), with the ECDHE AEAD cipher suites only.
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl Version {
    /// The versions from `min` to `max`, or an error if there are none.
    fn range(
        min: Version,
        max: Version,
    ) -> Result<&'static [&'static SupportedProtocolVersion], ConfigError> {
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        match (min, max) {
            (Version::Tls12, Version::Tls13) => Ok(&BOTH),
            (Version::Tls13, Version::Tls13) => Ok(&TLS13),
            (Version::Tls12, Version::Tls12) => Ok(&TLS12),
            (Version::Tls13, Version::Tls12) => Err(ConfigError::InvalidLimit(
                "min_version is above max_version",
            )),
        }
    }

    pub(crate) fn from_rustls(v: rustls::ProtocolVersion) -> Option<Version> {
        match v {
            rustls::ProtocolVersion::TLSv1_2 => Some(Version::Tls12),
            rustls::ProtocolVersion::TLSv1_3 => Some(Version::Tls13),
            _ => None,
        }
    }
}

/// A certificate chain and its private key: a server's, or a client's for
/// mutual TLS. Its `Debug` never shows the key.
pub struct Credentials {
    /// The end-entity certificate first, then the intermediates.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The private key of the end-entity certificate.
    pub key: PrivateKeyDer<'static>,
}

impl Credentials {
    /// From PEM text: every `CERTIFICATE` in `cert_chain_pem` (other
    /// sections are skipped, so one file may hold both), and the first
    /// private key (PKCS#8, PKCS#1 or SEC1) in `key_pem`.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, ConfigError> {
        Ok(Credentials {
            cert_chain: certs_from_pem(cert_chain_pem, "certificate chain")?,
            key: PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| ConfigError::BadKey)?,
        })
    }

    /// From PEM files (see [`from_pem`](Self::from_pem)).
    pub fn from_pem_files(cert_chain: &Path, key: &Path) -> Result<Self, ConfigError> {
        Self::from_pem(&read(cert_chain)?, &read(key)?)
    }
}

impl Clone for Credentials {
    fn clone(&self) -> Self {
        Credentials {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Every certificate in PEM text; `what` names the input in errors.
pub fn certs_from_pem(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::BadCertificatePem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ConfigError::NoCertificate { what });
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|error| ConfigError::Io {
        path: path.display().to_string(),
        error: Arc::new(error),
    })
}

/// What a TLS server presents and whom it admits.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The server's certificate chain and key.
    pub credentials: Credentials,
    /// CA certificates client certificates must chain to. Empty: no client
    /// certificate is asked for. Not empty: every client must present one
    /// (mutual TLS) and its subject is the session's
    /// [`peer identity`](super::Handshake::peer).
    pub client_ca: Vec<CertificateDer<'static>>,
    /// The oldest version accepted. Default TLS 1.2.
    pub min_version: Version,
    /// The newest version offered. Default TLS 1.3.
    pub max_version: Version,
    /// Limits on each session.
    pub limits: Limits,
}

impl ServerConfig {
    /// A server presenting `credentials`, asking for no client certificate.
    pub fn new(credentials: Credentials) -> Self {
        ServerConfig {
            credentials,
            client_ca: Vec::new(),
            min_version: Version::Tls12,
            max_version: Version::Tls13,
            limits: Limits::default(),
        }
    }

    /// Requires client certificates signed by one of the CAs in `pem`.
    pub fn with_client_ca_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        self.client_ca = certs_from_pem(pem, "client CA")?;
        Ok(self)
    }

    /// The files of `arkwire serve --tls-cert --tls-key [--tls-client-ca]`.
    pub fn from_pem_files(
        cert_chain: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let config = ServerConfig::new(Credentials::from_pem_files(cert_chain, key)?);
        match client_ca {
            Some(path) => config.with_client_ca_pem(&read(path)?),
            None => Ok(config),
        }
    }

    /// The TLS library's configuration: ALPN `h2` only, the chain limits in
    /// front of the client certificate verifier.
    pub fn build(&self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        self.limits.check()?;
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(Version::range(self.min_version, self.max_version)?)
            .map_err(ConfigError::Rustls)?;
        let builder = if self.client_ca.is_empty() {
            builder.with_no_client_auth()
        } else {
            let roots = root_store(&self.client_ca, "client CA")?;
            let webpki = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| ConfigError::InvalidCa {
                    what: "client CA",
                    detail: e.to_string(),
                })?;
            builder.with_client_cert_verifier(Arc::new(LimitedClientVerifier {
                inner: webpki,
                limits: self.limits,
            }))
        };
        let mut config = builder
            .with_single_cert(
                self.credentials.cert_chain.clone(),
                self.credentials.key.clone_key(),
            )
            .map_err(ConfigError::Rustls)?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// Whom a TLS client trusts and what it presents.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The CA certificates the server's certificate must chain to. Only
    /// these: the operating system's store is not consulted.
    pub roots: Vec<CertificateDer<'static>>,
    /// The client's own certificate and key, for a server that requires
    /// mutual TLS.
    pub credentials: Option<Credentials>,
    /// The name the server's certificate must carry (a DNS name or an IP
    /// address), also sent as SNI.
    pub server_name: String,
    /// The oldest version accepted. Default TLS 1.2.
    pub min_version: Version,
    /// The newest version offered. Default TLS 1.3.
    pub max_version: Version,
    /// Limits on each session.
    pub limits: Limits,
}

impl ClientConfig {
    /// A client trusting the CAs in `roots_pem`, expecting a certificate for
    /// `server_name`.
    pub fn new(roots_pem: &[u8], server_name: &str) -> Result<Self, ConfigError> {
        Ok(ClientConfig {
            roots: certs_from_pem(roots_pem, "CA roots")?,
            credentials: None,
            server_name: server_name.to_string(),
            min_version: Version::Tls12,
            max_version: Version::Tls13,
            limits: Limits::default(),
        })
    }

    /// Presents `credentials` to servers that ask for a client certificate.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The server name, checked.
    pub fn server_name(&self) -> Result<ServerName<'static>, ConfigError> {
        ServerName::try_from(self.server_name.clone())
            .map_err(|_| ConfigError::InvalidServerName(self.server_name.clone()))
    }

    /// The TLS library's configuration: ALPN `h2` only, the chain limits in
    /// front of the server certificate verifier.
    pub fn build(&self) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
        self.limits.check()?;
        self.server_name()?;
        let provider = provider();
        let roots = root_store(&self.roots, "CA roots")?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| ConfigError::InvalidCa {
                what: "CA roots",
                detail: e.to_string(),
            })?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(Version::range(self.min_version, self.max_version)?)
            .map_err(ConfigError::Rustls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LimitedServerVerifier {
                inner: webpki,
                limits: self.limits,
            }));
        let mut config = match &self.credentials {
            Some(c) => builder
                .with_client_auth_cert(c.cert_chain.clone(), c.key.clone_key())
                .map_err(ConfigError::Rustls)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The one crypto provider: ring (see the module documentation for why).
/// rustls 0.23.48 marks ring's provider deprecated because it has no
/// post-quantum key exchange; it is still maintained and complete for TLS
/// 1.2 and 1.3. Moving to aws-lc-rs is this one function.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(
    certs: &[CertificateDer<'static>],
    what: &'static str,
) -> Result<Arc<RootCertStore>, ConfigError> {
    if certs.is_empty() {
        return Err(ConfigError::NoCertificate { what });
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|e| ConfigError::InvalidCa {
                what,
                detail: e.to_string(),
            })?;
    }
    Ok(Arc::new(roots))
}

/// Reads a lock even if a thread panicked while holding it (the value is
/// only ever replaced whole, so it is never half-written).
fn current<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn replace<T>(lock: &RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

/// Starts server sessions. Share it (`Arc<Acceptor>`) between the thread
/// that accepts connections and the one that reloads certificates:
/// [`reload`](Self::reload) swaps the configuration new sessions use,
/// while sessions already started keep theirs.
#[derive(Debug)]
pub struct Acceptor {
    current: RwLock<(Arc<rustls::ServerConfig>, Limits)>,
}

impl Acceptor {
    /// Checks and builds `config`.
    pub fn new(config: &ServerConfig) -> Result<Self, ConfigError> {
        Ok(Acceptor {
            current: RwLock::new((config.build()?, config.limits)),
        })
    }

    /// Uses a TLS configuration built elsewhere (a key in a hardware
    /// module, a verifier of one's own). `h2` must still be agreed, and the
    /// handshake timeout applies; the chain limits apply only if its
    /// verifier enforces them.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>, limits: Limits) -> Self {
        Acceptor {
            current: RwLock::new((config, limits)),
        }
    }

    /// Sessions started from now on use `config` (a SIGHUP reload). If it
    /// is refused, the configuration in use stays.
    pub fn reload(&self, config: &ServerConfig) -> Result<(), ConfigError> {
        let built = config.build()?;
        replace(&self.current, (built, config.limits));
        Ok(())
    }

    /// A server session around `inner`, started at `now` (its handshake
    /// deadline counts from here).
    pub fn accept<M: SansIo>(&self, inner: M, now: Instant) -> Result<Tls<M>, ConfigError> {
        let (config, limits) = current(&self.current);
        let conn = rustls::ServerConnection::new(config).map_err(ConfigError::Rustls)?;
        Ok(Tls::start(conn.into(), Role::Server, inner, limits, now))
    }
}

/// Starts client sessions; reloadable like [`Acceptor`] (a device rotating
/// its client certificate).
#[derive(Debug)]
pub struct Connector {
    current: RwLock<(Arc<rustls::ClientConfig>, ServerName<'static>, Limits)>,
}

impl Connector {
    /// Checks and builds `config`.
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        Ok(Connector {
            current: RwLock::new((config.build()?, config.server_name()?, config.limits)),
        })
    }

    /// Uses a TLS configuration built elsewhere; see
    /// [`Acceptor::from_rustls`].
    pub fn from_rustls(
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
        limits: Limits,
    ) -> Self {
        Connector {
            current: RwLock::new((config, server_name, limits)),
        }
    }

    /// Sessions started from now on use `config`. If it is refused, the
    /// configuration in use stays.
    pub fn reload(&self, config: &ClientConfig) -> Result<(), ConfigError> {
        let built = (config.build()?, config.server_name()?, config.limits);
        replace(&self.current, built);
        Ok(())
    }

    /// A client session around `inner`, started at `now`; its first bytes
    /// (the ClientHello) are ready to [`transmit`](SansIo::transmit).
    pub fn connect<M: SansIo>(&self, inner: M, now: Instant) -> Result<Tls<M>, ConfigError> {
        let (config, name, limits) = current(&self.current);
        let conn = rustls::ClientConnection::new(config, name).map_err(ConfigError::Rustls)?;
        Ok(Tls::start(conn.into(), Role::Client, inner, limits, now))
    }
}
