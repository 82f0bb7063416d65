//! Certificates made on the spot for the TLS tests (nothing is committed).
#![allow(dead_code)]

use arkwire::tls::Credentials;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

/// A certificate authority (a root, or an intermediate with its chain).
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// This CA's certificate, PEM.
    pub pem: String,
    /// PEM of the CAs between this one and the root (not the root), this
    /// one first: what a leaf it signs sends after itself.
    chain: String,
}

/// An end-entity certificate and its key.
pub struct Leaf {
    /// The leaf, then the intermediates, PEM.
    pub chain_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

impl Leaf {
    pub fn credentials(&self) -> Credentials {
        Credentials::from_pem(self.chain_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

impl Ca {
    pub fn root(name: &str) -> Ca {
        let issuer =
            CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Ca {
            issuer,
            pem,
            chain: String::new(),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let issuer =
            CertifiedIssuer::signed_by(ca_params(name), KeyPair::generate().unwrap(), &self.issuer)
                .unwrap();
        let pem = issuer.pem();
        let chain = format!("{pem}{}", self.chain);
        Ca { issuer, pem, chain }
    }

    /// A leaf with common name `cn` and subject alternative names `sans`
    /// (IP addresses and URIs recognised), signed by this CA.
    pub fn leaf(&self, cn: &str, sans: &[&str]) -> Leaf {
        let (uris, names): (Vec<&str>, Vec<&str>) = sans.iter().partition(|s| s.contains("://"));
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.to_string().try_into().unwrap()));
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "arkwire tests");
        self.sign(params)
    }

    /// A leaf for `localhost` and 127.0.0.1 with `extra` more DNS names
    /// (to make it as large as a test needs).
    pub fn big_leaf(&self, cn: &str, extra: usize) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        for i in 0..extra {
            params.subject_alt_names.push(SanType::DnsName(
                format!("alias-{i}.example.test").try_into().unwrap(),
            ));
        }
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.chain),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A temporary directory for certificate files, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A fresh directory named after `tag` and the process.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("arkwire-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server CA and its certificate for localhost and 127.0.0.1, a device
/// CA, and files for them (in a directory removed on drop).
pub struct Pki {
    pub dir: TempDir,
    pub ca: Ca,
    pub devices: Ca,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub devices_file: String,
}

/// A fresh [`Pki`] whose directory and names carry `tag`.
pub fn pki(tag: &str) -> Pki {
    let dir = TempDir::new(tag);
    let ca = Ca::root(&format!("{tag} server CA"));
    let devices = Ca::root(&format!("{tag} device CA"));
    let server = ca.leaf("proxy", &["localhost", "127.0.0.1"]);
    Pki {
        ca_file: dir.write("ca.pem", &ca.pem),
        cert_file: dir.write("server.pem", &server.chain_pem),
        key_file: dir.write("server.key", &server.key_pem),
        devices_file: dir.write("devices.pem", &devices.pem),
        dir,
        ca,
        devices,
    }
}
