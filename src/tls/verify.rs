//! Certificate verifiers: the TLS library's WebPKI verifiers behind a check
//! of the chain's size, made before any signature is looked at.

use alloc::vec::Vec;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use super::Limits;

/// A peer's certificate chain is larger than the limits allow.
#[derive(Debug)]
pub(crate) struct ChainTooLarge {
    certs: usize,
    bytes: usize,
    max_certs: usize,
    max_bytes: usize,
}

impl core::fmt::Display for ChainTooLarge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "certificate chain of {} certificates and {} bytes; the limits are {} and {}",
            self.certs, self.bytes, self.max_certs, self.max_bytes
        )
    }
}

impl std::error::Error for ChainTooLarge {}

/// Refuses a chain (end entity plus intermediates) over the limits.
fn check_chain(
    limits: &Limits,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<(), rustls::Error> {
    let certs = 1 + intermediates.len();
    let bytes = intermediates
        .iter()
        .fold(end_entity.len(), |sum, c| sum.saturating_add(c.len()));
    if certs > limits.max_chain_certs || bytes > limits.max_chain_bytes {
        let too_large = ChainTooLarge {
            certs,
            bytes,
            max_certs: limits.max_chain_certs,
            max_bytes: limits.max_chain_bytes,
        };
        return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(too_large)),
        )));
    }
    Ok(())
}

/// A server's certificate, checked for size, then by `inner`.
#[derive(Debug)]
pub(crate) struct LimitedServerVerifier {
    pub(crate) inner: Arc<dyn ServerCertVerifier>,
    pub(crate) limits: Limits,
}

impl ServerCertVerifier for LimitedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check_chain(&self.limits, end_entity, intermediates)?;
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client's certificate, checked for size, then by `inner`.
#[derive(Debug)]
pub(crate) struct LimitedClientVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    pub(crate) limits: Limits,
}

impl ClientCertVerifier for LimitedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_chain(&self.limits, end_entity, intermediates)?;
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
