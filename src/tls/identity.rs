//! Who a verified certificate says its holder is.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use x509_parser::extensions::GeneralName;

/// The subject of a peer's verified end-entity certificate: for a server,
/// the client device that proved itself with mutual TLS; for a client, the
/// server it reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The whole subject name, RFC 4514 style (`CN=device-17, O=Fleet`).
    pub subject: String,
    /// The subject's first common name (CN), if it has one in UTF-8.
    pub common_name: Option<String>,
    /// DNS names from the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// URIs from the subject alternative name extension (SPIFFE IDs, say).
    pub uris: Vec<String>,
    /// E-mail addresses from the subject alternative name extension.
    pub emails: Vec<String>,
}

impl PeerIdentity {
    /// Reads the subject of a DER certificate; `None` when it cannot be
    /// parsed (the caller treats that as a rejected certificate).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let common_name = subject
            .iter_common_name()
            .find_map(|cn| cn.as_str().ok())
            .map(ToString::to_string);
        let mut identity = PeerIdentity {
            subject: subject.to_string(),
            common_name,
            dns_names: Vec::new(),
            uris: Vec::new(),
            emails: Vec::new(),
        };
        let san = cert.subject_alternative_name().ok()?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(n) => identity.dns_names.push(n.to_string()),
                GeneralName::URI(u) => identity.uris.push(u.to_string()),
                GeneralName::RFC822Name(e) => identity.emails.push(e.to_string()),
                _ => {}
            }
        }
        Some(identity)
    }

    /// One string naming the peer: the common name, else the first DNS
    /// name, URI or e-mail address, else the whole subject.
    pub fn name(&self) -> &str {
        self.common_name
            .as_deref()
            .or(self.dns_names.first().map(String::as_str))
            .or(self.uris.first().map(String::as_str))
            .or(self.emails.first().map(String::as_str))
            .unwrap_or(&self.subject)
    }
}

impl core::fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
