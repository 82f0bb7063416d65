//! TLS for the socket tier: whom a session trusts, what it presents, and
//! the session opened over TLS.
//!
//! The sans-IO tier has no TLS of its own: its bytes in and out are the
//! plaintext HTTP/2 stream, which a device hands to its own TLS stack
//! (mbedTLS, wolfSSL, a secure element's) between the socket and
//! `arkwire_conn_recv`/`arkwire_conn_transmit`; see `arkwire_conn`.

use core::ffi::c_char;
use std::boxed::Box;
use std::ffi::CString;
use std::path::Path;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use super::session::{arkwire_session, arkwire_session_config, open_with};
use super::{arg, arg_mut, arkwire_status, bytes_arg, guard_try, str_arg};
use crate::tls::{certs_from_pem, ClientConfig, ConfigError, Connector, Credentials};
use arkwire_status::*;

/// TLS settings of a session: the CA certificates the proxy's certificate
/// must chain to, the name it must carry, and (for a proxy that requires
/// mutual TLS) the client's certificate and key. Made by
/// `arkwire_tls_config_new`, filled with the `arkwire_tls_config_set_*`
/// functions, used by `arkwire_session_open_tls`, freed by
/// `arkwire_tls_config_free`. One config may open many sessions; it is
/// copied when a session opens, so it may be changed or freed afterwards.
///
/// Only the CAs given are trusted (the operating system's store is not
/// consulted). TLS 1.2 and 1.3, ALPN `h2`, rustls with the ring provider.
/// Keys are never echoed in any error text.
///
/// Thread safety: one thread at a time per config (it may move between
/// threads).
pub struct arkwire_tls_config {
    /// The CA certificates, PEM, as given (checked when set).
    roots_pem: Option<Vec<u8>>,
    /// The name the proxy's certificate must carry; None: the host of the
    /// address `arkwire_session_open_tls` connects to.
    server_name: Option<String>,
    credentials: Option<Credentials>,
    last_error: CString,
}

fn c_text(text: &str) -> CString {
    // Interior NULs would cut the C string short.
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// Runs a setter: its failure's text becomes the config's last error.
///
/// # Safety
/// `config` is NULL or live and not in use on another thread.
unsafe fn with_config(
    config: *mut arkwire_tls_config,
    f: impl FnOnce(&mut arkwire_tls_config) -> Result<(), (arkwire_status, String)>,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let c = unsafe { arg_mut(config) }?;
        match f(c) {
            Ok(()) => {
                c.last_error = CString::default();
                Ok(())
            }
            Err((status, text)) => {
                c.last_error = c_text(&text);
                Err(status)
            }
        }
    })
}

/// A string argument, or the status and a text naming `what`.
///
/// # Safety
/// `p` is NULL or NUL-terminated.
unsafe fn text_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, (arkwire_status, String)> {
    // SAFETY: forwarded contract.
    unsafe { str_arg(p) }.map_err(|s| (s, std::format!("{what}: {}", s.text().to_string_lossy())))
}

fn config_error(e: ConfigError) -> (arkwire_status, String) {
    (ARKWIRE_INVALID_ARGUMENT, e.to_string())
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, (arkwire_status, String)> {
    std::fs::read(Path::new(path))
        .map_err(|e| (ARKWIRE_INVALID_ARGUMENT, std::format!("{what} {path}: {e}")))
}

/// Makes an empty TLS config (no CA yet: a session cannot open with it
/// until one is set) and writes it to `*config_out`; free it with
/// `arkwire_tls_config_free`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `config_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_new(
    config_out: *mut *mut arkwire_tls_config,
) -> arkwire_status {
    guard_try(|| {
        if config_out.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        let config = Box::new(arkwire_tls_config {
            roots_pem: None,
            server_name: None,
            credentials: None,
            last_error: CString::default(),
        });
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { super::out(config_out, Box::into_raw(config)) }
    })
}

/// Frees a TLS config. NULL is ignored. Sessions opened with it keep
/// their own copy.
///
/// # Safety
/// `config` is NULL or from `arkwire_tls_config_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_free(config: *mut arkwire_tls_config) {
    let _ = guard_try(|| {
        if !config.is_null() {
            // SAFETY: from Box::into_raw in arkwire_tls_config_new, freed once.
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(())
    });
}

/// Why the last setter on `config` failed, one NUL-terminated line (for a
/// PEM file without a certificate: "CA roots: no certificate in the PEM
/// input"); empty after one that succeeded. Valid until the next call on
/// `config`. NULL gives a static "NULL TLS config".
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_last_error(
    config: *const arkwire_tls_config,
) -> *const c_char {
    // SAFETY: NULL or live (caller contract).
    match unsafe { config.as_ref() } {
        Some(c) => c.last_error.as_ptr(),
        None => c"NULL TLS config".as_ptr(),
    }
}

/// The CA certificates to trust, as `len` bytes of PEM text (one or more
/// `CERTIFICATE` sections; other sections are skipped). Replaces any CA
/// set before. The bytes are copied.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_ARGUMENT` (no
/// certificate in the text, or one that does not parse; the config's last
/// error says which). The config is unchanged on failure.
///
/// # Safety
/// `config` is NULL or live; `pem` is NULL (then `len` is 0) or readable
/// for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_set_ca_pem(
    config: *mut arkwire_tls_config,
    pem: *const u8,
    len: usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |c| {
            let pem = bytes_arg(pem, len).map_err(|s| (s, "pem is NULL".to_string()))?;
            set_roots(c, pem.to_vec())
        })
    }
}

/// The CA certificates to trust, read now from the PEM file at `path`.
/// As `arkwire_tls_config_set_ca_pem`; a file that cannot be read is
/// `ARKWIRE_INVALID_ARGUMENT` too, the last error naming the file and the
/// operating system's reason.
///
/// # Safety
/// `config` is NULL or live; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_set_ca_file(
    config: *mut arkwire_tls_config,
    path: *const c_char,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |c| {
            let path = text_arg(path, "path")?;
            set_roots(c, read_file(path, "CA file")?)
        })
    }
}

fn set_roots(c: &mut arkwire_tls_config, pem: Vec<u8>) -> Result<(), (arkwire_status, String)> {
    certs_from_pem(&pem, "CA roots").map_err(config_error)?;
    c.roots_pem = Some(pem);
    Ok(())
}

/// The client certificate chain (the device's certificate first, then any
/// intermediates) and its private key (PKCS#8, PKCS#1 or SEC1), as PEM
/// text, presented to a proxy that requires mutual TLS. Replaces any set
/// before. The bytes are copied.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_ARGUMENT` (no
/// certificate, a certificate that does not parse, no usable key; the last
/// error says which, never quoting the key). The config is unchanged on
/// failure.
///
/// # Safety
/// `config` is NULL or live; `cert_pem` and `key_pem` are NULL (then their
/// length is 0) or readable for their lengths.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_set_client_cert_pem(
    config: *mut arkwire_tls_config,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |c| {
            let cert =
                bytes_arg(cert_pem, cert_len).map_err(|s| (s, "cert_pem is NULL".to_string()))?;
            let key =
                bytes_arg(key_pem, key_len).map_err(|s| (s, "key_pem is NULL".to_string()))?;
            c.credentials = Some(Credentials::from_pem(cert, key).map_err(config_error)?);
            Ok(())
        })
    }
}

/// The client certificate chain and key, read now from the PEM files at
/// `cert_path` and `key_path` (they may be the same file). As
/// `arkwire_tls_config_set_client_cert_pem`; a file that cannot be read is
/// `ARKWIRE_INVALID_ARGUMENT` too, the last error naming it.
///
/// # Safety
/// `config` is NULL or live; `cert_path` and `key_path` NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_set_client_cert_files(
    config: *mut arkwire_tls_config,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |c| {
            let cert = read_file(text_arg(cert_path, "cert_path")?, "certificate file")?;
            let key = read_file(text_arg(key_path, "key_path")?, "key file")?;
            c.credentials = Some(Credentials::from_pem(&cert, &key).map_err(config_error)?);
            Ok(())
        })
    }
}

/// The name the proxy's certificate must carry (a DNS name or an IP
/// address; also sent as SNI). Without one, the host of the address the
/// session connects to is used. NULL clears it.
///
/// Errors: `ARKWIRE_INVALID_UTF8`, `ARKWIRE_INVALID_ARGUMENT` (not a DNS
/// name or IP address).
///
/// # Safety
/// `config` is NULL or live; `name` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn arkwire_tls_config_set_server_name(
    config: *mut arkwire_tls_config,
    name: *const c_char,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |c| {
            if name.is_null() {
                c.server_name = None;
                return Ok(());
            }
            let name = text_arg(name, "name")?;
            check_name(name)?;
            c.server_name = Some(name.to_string());
            Ok(())
        })
    }
}

fn check_name(name: &str) -> Result<(), (arkwire_status, String)> {
    rustls::pki_types::ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| {
            (
                ARKWIRE_INVALID_ARGUMENT,
                std::format!("{name:?} is not a DNS name or an IP address"),
            )
        })
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl arkwire_tls_config {
    /// The connector for a session to `addr`.
    fn connector(&self, addr: &str) -> Result<Arc<Connector>, (arkwire_status, String)> {
        let roots = self.roots_pem.as_deref().ok_or((
            ARKWIRE_INVALID_ARGUMENT,
            "the TLS config has no CA: set one with arkwire_tls_config_set_ca_file or _pem"
                .to_string(),
        ))?;
        let name = match &self.server_name {
            Some(n) => n.as_str(),
            None => host_of(addr),
        };
        check_name(name)?;
        let mut config = ClientConfig::new(roots, name).map_err(config_error)?;
        if let Some(c) = &self.credentials {
            config = config.with_credentials(c.clone());
        }
        Connector::new(&config)
            .map(Arc::new)
            .map_err(|e| (ARKWIRE_INVALID_ARGUMENT, std::format!("TLS config: {e}")))
    }
}

std::thread_local! {
    /// Why the last session open on this thread failed.
    static OPEN_ERROR: core::cell::RefCell<CString> = core::cell::RefCell::new(CString::default());
}

/// Records why an open on this thread failed ("" after one that succeeded).
pub(crate) fn set_open_error(text: &str) {
    let text = c_text(text);
    OPEN_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Why the last `arkwire_session_open`, `arkwire_session_connect` or
/// `arkwire_session_open_tls` on the calling thread failed, one
/// NUL-terminated line: for a refused TLS handshake the TLS cause and
/// whose it was ("tls: certificate rejected (the peer's fault): invalid
/// peer certificate: NotValidForName", "tls: a client certificate is
/// required (refused by the peer): ..."), for a bad TLS config what was
/// wrong with it, for a failed connect the operating system's reason.
/// Empty after one that succeeded. Valid until the next open on this
/// thread; never freed by the caller.
///
/// Thread safety: each thread sees its own last open.
#[no_mangle]
pub extern "C" fn arkwire_session_open_last_error() -> *const c_char {
    OPEN_ERROR.with(|e| e.borrow().as_ptr())
}

/// `arkwire_session_open` over TLS with the settings of `tls`: connects
/// to the proxy at `addr` (`host:port`) as `user` (with `token`, NULL for
/// none), and completes the TLS handshake and a first HTTP/2 round trip
/// within `config`'s `connect_timeout_ms` before returning, so a proxy
/// that refuses this client (or that this client refuses) fails here, not
/// at the first call. Every reconnect of the session is a new TLS
/// handshake with the same settings. Writes the session to
/// `*session_out`; free it with `arkwire_session_free`.
///
/// Errors: as `arkwire_session_open`, and `ARKWIRE_INVALID_ARGUMENT` (no
/// CA in `tls`, a server name that is neither a DNS name nor an IP
/// address), `ARKWIRE_TLS_FAILED` (the handshake failed: the proxy's
/// certificate is not from a trusted CA or does not carry the server
/// name, the proxy requires a client certificate and none or a refused one
/// was presented, the peer does not speak TLS or not `h2`, or the
/// handshake timed out). `arkwire_session_open_last_error` names the
/// cause. `*session_out` is untouched on failure.
///
/// # Safety
/// `addr`, `user` are NULL or NUL-terminated; `token` likewise; `config`
/// NULL or valid for reads; `tls` NULL or live; `session_out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_open_tls(
    addr: *const c_char,
    user: *const c_char,
    token: *const c_char,
    config: *const arkwire_session_config,
    tls: *const arkwire_tls_config,
    session_out: *mut *mut arkwire_session,
) -> arkwire_status {
    set_open_error("");
    guard_try(|| {
        // SAFETY: NULL or valid (caller contract).
        let c = *unsafe { arg(config) }?;
        // SAFETY: NULL or live (caller contract).
        let t = unsafe { arg(tls) }?;
        // SAFETY: NULL or NUL-terminated (caller contract).
        let host = unsafe { str_arg(addr) }?;
        let connector = t.connector(host).map_err(|(s, text)| {
            set_open_error(&text);
            s
        })?;
        // SAFETY: forwarded contract.
        unsafe { open_with(addr, user, token, c, Some(connector), session_out) }
    })
}
