//! The TLS layer in memory: `Tls<grpc::Client>` against `Tls<grpc::Server>`
//! through `sans_io::Pair` with a fake clock. Real gRPC calls, mutual TLS,
//! ALPN, plaintext on either side, the chain and handshake limits, reload,
//! and hostile bytes. Certificates are made by each test.
#![cfg(feature = "tls")]

use std::sync::Arc;
use std::time::Duration;

use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
use arkwire::h2::conn::GrowableStorage;
use arkwire::h2::ErrorCode;
use arkwire::sans_io::{Pair, SansIo};
use arkwire::time::Instant;
use arkwire::tls::rustls;
use arkwire::tls::{
    Acceptor, ClientConfig, ConfigError, Connector, Credentials, ErrorKind, Fault, Limits,
    ServerConfig, Tls, TlsEvent, Version, NOT_TLS_GOAWAY,
};

#[path = "tls/pki.rs"]
mod pki;
use pki::{Ca, Leaf};

const PATH: &str = "/arkouda.Arkouda/HandleRequest";
type C = Client<GrowableStorage>;
type S = Server<GrowableStorage>;

fn t0() -> Instant {
    Instant::from_millis(0)
}

fn grpc_client() -> C {
    Client::new("localhost", Options::default(), t0()).unwrap()
}

fn grpc_server() -> S {
    Server::new(PATH, Options::default(), t0()).unwrap()
}

/// A CA, a server certificate for localhost, and a server configuration.
struct Setup {
    ca: Ca,
    server: ServerConfig,
    client: ClientConfig,
}

fn setup() -> Setup {
    let ca = Ca::root("arkwire test CA");
    let leaf = ca.leaf("proxy.example.test", &["localhost", "127.0.0.1"]);
    Setup {
        server: ServerConfig::new(leaf.credentials()),
        client: ClientConfig::new(ca.pem.as_bytes(), "localhost").unwrap(),
        ca,
    }
}

fn pair(client: &ClientConfig, server: &ServerConfig) -> Pair<Tls<C>, Tls<S>> {
    let connector = Connector::new(client).unwrap();
    let acceptor = Acceptor::new(server).unwrap();
    Pair::new(
        connector.connect(grpc_client(), t0()).unwrap(),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    )
}

/// The events queued on a machine, all of them.
fn events<M: SansIo>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Answers every request on the server with its own bytes reversed.
fn answer_all(server: &mut Tls<S>) -> usize {
    let mut answered = 0;
    for event in events(server) {
        if let TlsEvent::Inner(ServerEvent::Request(id)) = event {
            let mut body = server.inner().request(id).unwrap().to_vec();
            body.reverse();
            server.inner_mut().respond(id, &body).unwrap();
            answered += 1;
        }
    }
    answered
}

/// Makes one call through an established (or establishing) pair and
/// returns the answer.
fn call(pair: &mut Pair<Tls<C>, Tls<S>>, body: &[u8]) -> Vec<u8> {
    let now = pair.now();
    let id = pair
        .a
        .inner_mut()
        .start_call(PATH, body, &[], Some(Duration::from_secs(5)), now)
        .unwrap();
    pair.drive();
    assert_eq!(answer_all(&mut pair.b), 1, "the server saw the request");
    pair.drive();
    let done = events(&mut pair.a)
        .into_iter()
        .any(|e| matches!(e, TlsEvent::Inner(ClientEvent::Complete(c)) if c == id));
    assert!(done, "the call completed");
    let reply = pair.a.inner().response(id).unwrap().to_vec();
    pair.a.inner_mut().finish_call(id);
    reply
}

fn reversed(b: &[u8]) -> Vec<u8> {
    b.iter().rev().copied().collect()
}

/// The one TLS failure among a machine's events.
fn failure<M: SansIo<Event = TlsEvent<E>>, E: std::fmt::Debug>(
    m: &mut M,
) -> arkwire::tls::TlsError {
    let failures: Vec<_> = events(m)
        .into_iter()
        .filter_map(|e| match e {
            TlsEvent::Failed(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 1, "exactly one failure: {failures:?}");
    failures.into_iter().next().unwrap()
}

fn assert_fails(error: &arkwire::tls::TlsError, kind: ErrorKind, fault: Fault) {
    assert_eq!((error.kind, error.fault), (kind, fault), "{error}");
    // The text names the problem and whose it is.
    assert!(!error.to_string().is_empty());
}

#[test]
fn grpc_calls_over_tls_13() {
    let s = setup();
    let mut pair = pair(&s.client, &s.server);
    assert_eq!(call(&mut pair, b"hello"), b"olleh");
    let hs = pair.a.handshake().unwrap().clone();
    assert_eq!(hs.version, Version::Tls13);
    assert_eq!(hs.alpn, b"h2");
    assert!(hs.cipher_suite.starts_with("TLS13_"), "{}", hs.cipher_suite);
    // The client learns whom it reached; the server asked for no certificate.
    assert_eq!(hs.peer.as_ref().unwrap().name(), "proxy.example.test");
    assert!(pair.b.peer_identity().is_none());
    assert_eq!(pair.b.handshake().unwrap().version, Version::Tls13);

    // Messages larger than one TLS record (16 KiB) and many calls.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(call(&mut pair, &big), reversed(&big));
    for i in 0..20u32 {
        let body = i.to_be_bytes();
        assert_eq!(call(&mut pair, &body), reversed(&body));
    }
}

#[test]
fn grpc_calls_over_tls_12() {
    let mut s = setup();
    s.client.max_version = Version::Tls12;
    let mut pair = pair(&s.client, &s.server);
    assert_eq!(call(&mut pair, b"twelve"), b"evlewt");
    let hs = pair.b.handshake().unwrap();
    assert_eq!(hs.version, Version::Tls12);
    assert!(
        hs.cipher_suite.starts_with("TLS_ECDHE_"),
        "{}",
        hs.cipher_suite
    );
    // And a 1.3-only server refuses a 1.2-only client: no version in common.
    s.server.min_version = Version::Tls13;
    let mut pair = self::pair(&s.client, &s.server);
    pair.drive();
    assert_fails(&failure(&mut pair.b), ErrorKind::Incompatible, Fault::Peer);
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::Incompatible,
        Fault::Refused,
    );
}

#[test]
fn tiny_reads_tiny_transmit_buffers_and_latency() {
    let s = setup();
    let mut pair = pair(&s.client, &s.server)
        .with_chunk(7)
        .with_latency(Duration::from_millis(40));
    let now = pair.now();
    let id = pair
        .a
        .inner_mut()
        .start_call(PATH, b"slowly", &[], None, now)
        .unwrap();
    pair.advance(Duration::from_millis(200));
    assert_eq!(answer_all(&mut pair.b), 1);
    pair.advance(Duration::from_millis(200));
    assert!(events(&mut pair.a)
        .iter()
        .any(|e| matches!(e, TlsEvent::Inner(ClientEvent::Complete(c)) if *c == id)));
    assert_eq!(pair.a.inner().response(id).unwrap(), b"ylwols");

    // A driver with a small transmit buffer (as `exchange` gives) works too.
    let s = setup();
    let connector = Connector::new(&s.client).unwrap();
    let acceptor = Acceptor::new(&s.server).unwrap();
    let mut a = connector.connect(grpc_client(), t0()).unwrap();
    let mut b = acceptor.accept(grpc_server(), t0()).unwrap();
    let id = a
        .inner_mut()
        .start_call(PATH, b"small", &[], None, t0())
        .unwrap();
    arkwire::sans_io::exchange(&mut a, &mut b, t0());
    assert_eq!(answer_all(&mut b), 1);
    arkwire::sans_io::exchange(&mut a, &mut b, t0());
    assert_eq!(a.inner().response(id).unwrap(), b"llams");
}

#[test]
fn mutual_tls_identifies_the_client() {
    let mut s = setup();
    let devices = Ca::root("device CA");
    s.server = s.server.with_client_ca_pem(devices.pem.as_bytes()).unwrap();
    let device = devices.leaf(
        "device-17",
        &["device-17.fleet.example", "spiffe://fleet/device-17"],
    );
    let client = s.client.clone().with_credentials(device.credentials());
    let mut pair = pair(&client, &s.server);
    assert_eq!(call(&mut pair, b"who"), b"ohw");
    let id = pair.b.peer_identity().unwrap();
    assert_eq!(id.common_name.as_deref(), Some("device-17"));
    assert_eq!(id.name(), "device-17");
    assert_eq!(id.dns_names, ["device-17.fleet.example"]);
    assert_eq!(id.uris, ["spiffe://fleet/device-17"]);
    assert!(id.subject.contains("CN=device-17"), "{}", id.subject);

    // Through an intermediate CA too, in TLS 1.2.
    let batch = devices.intermediate("batch 2 CA");
    let mut client = s
        .client
        .clone()
        .with_credentials(batch.leaf("device-99", &[]).credentials());
    client.max_version = Version::Tls12;
    let mut pair = self::pair(&client, &s.server);
    assert_eq!(call(&mut pair, b"ab"), b"ba");
    assert_eq!(pair.b.peer_identity().unwrap().name(), "device-99");
}

/// Runs a handshake that must fail, long enough for every timer to fire,
/// and checks both ends end up closed.
fn run_to_failure(pair: &mut Pair<Tls<C>, Tls<S>>) {
    let now = pair.now();
    // A call started before the handshake: it must never be delivered.
    let _ = pair
        .a
        .inner_mut()
        .start_call(PATH, b"secret", &[], None, now);
    pair.advance(Duration::from_secs(30));
    assert!(pair.a.is_closed(), "client closed");
    assert!(pair.b.is_closed(), "server closed");
}

#[test]
fn mutual_tls_without_a_client_certificate() {
    let mut s = setup();
    let devices = Ca::root("device CA");
    s.server = s.server.with_client_ca_pem(devices.pem.as_bytes()).unwrap();
    let mut pair = pair(&s.client, &s.server);
    run_to_failure(&mut pair);
    assert_fails(
        &failure(&mut pair.b),
        ErrorKind::CertificateRequired,
        Fault::Peer,
    );
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::CertificateRequired,
        Fault::Refused,
    );
    assert!(events(&mut pair.b).is_empty());
}

#[test]
fn mutual_tls_with_a_certificate_from_another_ca() {
    let mut s = setup();
    let devices = Ca::root("device CA");
    s.server = s.server.with_client_ca_pem(devices.pem.as_bytes()).unwrap();
    let impostors = Ca::root("impostor CA");
    // A lookalike CA of the same name: the signature is what fails.
    let lookalikes = Ca::root("device CA");
    for version in [Version::Tls13, Version::Tls12] {
        for (ca, client_kind) in [
            (&impostors, ErrorKind::CertificateRejected),
            // The alert for a bad signature is decrypt_error, which says
            // only that a check failed.
            (&lookalikes, ErrorKind::Protocol),
        ] {
            let mut client = s
                .client
                .clone()
                .with_credentials(ca.leaf("device-17", &[]).credentials());
            client.max_version = version;
            let mut pair = pair(&client, &s.server);
            run_to_failure(&mut pair);
            assert_fails(
                &failure(&mut pair.b),
                ErrorKind::CertificateRejected,
                Fault::Peer,
            );
            assert_fails(&failure(&mut pair.a), client_kind, Fault::Refused);
            // No request reached the server's gRPC machine.
            assert!(pair.b.peer_identity().is_none());
            assert!(events(&mut pair.b).is_empty());
        }
    }
}

#[test]
fn client_refuses_an_untrusted_or_misnamed_server() {
    let s = setup();
    let other = Ca::root("someone else");
    let client = ClientConfig::new(other.pem.as_bytes(), "localhost").unwrap();
    let mut pair = pair(&client, &s.server);
    run_to_failure(&mut pair);
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::CertificateRejected,
        Fault::Peer,
    );
    assert_fails(
        &failure(&mut pair.b),
        ErrorKind::CertificateRejected,
        Fault::Refused,
    );

    let client = ClientConfig::new(s.ca.pem.as_bytes(), "elsewhere.example").unwrap();
    let mut pair = self::pair(&client, &s.server);
    run_to_failure(&mut pair);
    let error = failure(&mut pair.a);
    assert_fails(&error, ErrorKind::CertificateRejected, Fault::Peer);
    assert!(matches!(
        error.detail,
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { .. }
                | rustls::CertificateError::NotValidForName
        ))
    ));
}

/// A client configuration of our own making, offering `alpn`.
fn raw_client(s: &Setup, alpn: &[&[u8]]) -> Tls<C> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in arkwire::tls::certs_from_pem(s.ca.pem.as_bytes(), "roots").unwrap() {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    Connector::from_rustls(Arc::new(config), name, Limits::default())
        .connect(grpc_client(), t0())
        .unwrap()
}

#[test]
fn alpn_h2_is_required_of_clients() {
    let s = setup();
    let acceptor = Acceptor::new(&s.server).unwrap();

    // Offers only HTTP/1.1: the server refuses in the handshake.
    let mut pair = Pair::new(
        raw_client(&s, &[b"http/1.1"]),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    );
    run_to_failure(&mut pair);
    assert_fails(
        &failure(&mut pair.b),
        ErrorKind::NoApplicationProtocol,
        Fault::Peer,
    );
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::NoApplicationProtocol,
        Fault::Refused,
    );

    // Offers no ALPN at all: the handshake completes, then both refuse.
    let mut pair = Pair::new(
        raw_client(&s, &[]),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    );
    run_to_failure(&mut pair);
    assert_fails(
        &failure(&mut pair.b),
        ErrorKind::NoApplicationProtocol,
        Fault::Peer,
    );
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::NoApplicationProtocol,
        Fault::Peer,
    );

    // Offers h2 among others: fine.
    let mut pair = Pair::new(
        raw_client(&s, &[b"http/1.1", b"h2"]),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    );
    assert_eq!(call(&mut pair, b"x1"), b"1x");
}

#[test]
fn alpn_h2_is_required_of_servers() {
    let s = setup();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        s.server.credentials.cert_chain.clone(),
        s.server.credentials.key.clone_key(),
    )
    .unwrap();
    config.alpn_protocols.clear();
    let acceptor = Acceptor::from_rustls(Arc::new(config), Limits::default());
    let connector = Connector::new(&s.client).unwrap();
    let mut pair = Pair::new(
        connector.connect(grpc_client(), t0()).unwrap(),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    );
    run_to_failure(&mut pair);
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::NoApplicationProtocol,
        Fault::Peer,
    );
}

#[test]
fn plaintext_http2_client_at_a_tls_server() {
    let s = setup();
    let acceptor = Acceptor::new(&s.server).unwrap();
    let mut pair = Pair::new(
        grpc_client(),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    );
    let id = pair
        .a
        .start_call(PATH, b"in the clear", &[], None, t0())
        .unwrap();
    pair.drive();
    // At once, without waiting for any timer.
    assert_fails(&failure(&mut pair.b), ErrorKind::NotTls, Fault::Peer);
    assert!(pair.b.is_closed());
    // The plaintext client is told in HTTP/2 why.
    let client_events = events(&mut pair.a);
    assert!(
        client_events.iter().any(|e| matches!(
            e,
            ClientEvent::Closed {
                code: ErrorCode::InadequateSecurity
            }
        )),
        "{client_events:?}"
    );
    assert!(pair.a.response(id).is_err());
    let _ = NOT_TLS_GOAWAY;
    // Nothing is left running.
    pair.advance(Duration::from_secs(60));
    assert!(pair.b.poll_timeout().is_none() || pair.b.is_closed());
}

#[test]
fn tls_client_at_a_plaintext_server() {
    let s = setup();
    let connector = Connector::new(&s.client).unwrap();
    let mut pair = Pair::new(
        connector.connect(grpc_client(), t0()).unwrap(),
        grpc_server(),
        t0(),
    );
    let _ = pair.a.inner_mut().start_call(PATH, b"x", &[], None, t0());
    pair.drive();
    assert_fails(&failure(&mut pair.a), ErrorKind::NotTls, Fault::Peer);
    assert!(pair.a.is_closed());
    // The plaintext server saw no HTTP/2 preface and closed.
    pair.advance(Duration::from_secs(30));
    let server_events = events(&mut pair.b);
    assert!(
        server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Closed { code } if *code != ErrorCode::NoError)),
        "{server_events:?}"
    );
}

#[test]
fn handshake_timeout_on_a_silent_or_stalled_peer() {
    let s = setup();
    let mut config = s.server.clone();
    config.limits.handshake_timeout = Duration::from_secs(2);
    let acceptor = Acceptor::new(&config).unwrap();

    // Nobody says anything.
    let mut server = acceptor.accept(grpc_server(), t0()).unwrap();
    assert_eq!(server.poll_timeout(), Some(t0() + Duration::from_secs(2)));
    server.handle_timeout(t0() + Duration::from_millis(1999));
    assert!(server.failure().is_none());
    server.handle_timeout(t0() + Duration::from_secs(2));
    assert_fails(
        &failure(&mut server),
        ErrorKind::HandshakeTimeout,
        Fault::Timeout,
    );

    // The ClientHello arrives, then the link goes dead: both sides time out.
    let mut client_config = s.client.clone();
    client_config.limits.handshake_timeout = Duration::from_secs(3);
    let connector = Connector::new(&client_config).unwrap();
    let mut client = connector.connect(grpc_client(), t0()).unwrap();
    let mut server = acceptor.accept(grpc_server(), t0()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = client.transmit(&mut buf);
    assert!(n > 0);
    server.recv(&buf[..n], t0()).unwrap();
    while server.transmit(&mut buf) > 0 {} // the ServerHello flight is lost
    assert_eq!(client.poll_timeout(), Some(t0() + Duration::from_secs(3)));
    server.handle_timeout(t0() + Duration::from_secs(2));
    assert_fails(
        &failure(&mut server),
        ErrorKind::HandshakeTimeout,
        Fault::Timeout,
    );
    client.handle_timeout(t0() + Duration::from_millis(2999));
    assert!(client.failure().is_none());
    client.handle_timeout(t0() + Duration::from_secs(3));
    assert_fails(
        &failure(&mut client),
        ErrorKind::HandshakeTimeout,
        Fault::Timeout,
    );
    while client.transmit(&mut buf) > 0 {}
    assert!(client.is_closed());

    // An established session has no handshake deadline.
    let mut pair = self::pair(&s.client, &config);
    assert_eq!(call(&mut pair, b"ok"), b"ko");
    pair.advance(Duration::from_secs(60));
    assert!(pair.a.failure().is_none() && pair.b.failure().is_none());
    assert_eq!(call(&mut pair, b"still"), b"llits");
}

#[test]
fn chain_size_limits_hold_for_client_certificates() {
    let mut s = setup();
    let devices = Ca::root("device CA");
    s.server = s.server.with_client_ca_pem(devices.pem.as_bytes()).unwrap();

    // Too many certificates: leaf + 3 intermediates, against a limit of 3.
    s.server.limits.max_chain_certs = 3;
    let deep = devices
        .intermediate("i1")
        .intermediate("i2")
        .intermediate("i3");
    let client = s
        .client
        .clone()
        .with_credentials(deep.leaf("device-deep", &[]).credentials());
    let mut pair = pair(&client, &s.server);
    run_to_failure(&mut pair);
    let error = failure(&mut pair.b);
    assert_fails(&error, ErrorKind::ChainTooLarge, Fault::Peer);
    assert!(error.to_string().contains("4 certificates"), "{error}");
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::CertificateRejected,
        Fault::Refused,
    );

    // The same chain within the limit is accepted.
    s.server.limits.max_chain_certs = 4;
    let mut pair = self::pair(&client, &s.server);
    assert_eq!(call(&mut pair, b"deep"), b"peed");

    // Too many bytes: one certificate of a few kilobytes, limit 2 KiB.
    s.server.limits.max_chain_bytes = 2048;
    let big = devices.big_leaf("device-big", 150);
    let client = s.client.clone().with_credentials(big.credentials());
    let mut pair = self::pair(&client, &s.server);
    run_to_failure(&mut pair);
    assert_fails(&failure(&mut pair.b), ErrorKind::ChainTooLarge, Fault::Peer);
    assert_fails(
        &failure(&mut pair.a),
        ErrorKind::CertificateRejected,
        Fault::Refused,
    );
}

#[test]
fn chain_size_limits_hold_for_server_certificates() {
    let s = setup();
    let long = s.ca.intermediate("i1").intermediate("i2");
    let server = ServerConfig::new(long.leaf("proxy", &["localhost"]).credentials());
    let mut client = s.client.clone();
    client.limits.max_chain_certs = 2;
    let mut pair = pair(&client, &server);
    run_to_failure(&mut pair);
    assert_fails(&failure(&mut pair.a), ErrorKind::ChainTooLarge, Fault::Peer);
    assert_fails(
        &failure(&mut pair.b),
        ErrorKind::CertificateRejected,
        Fault::Refused,
    );

    client.limits.max_chain_certs = 3;
    let mut pair = self::pair(&client, &server);
    assert_eq!(call(&mut pair, b"ok"), b"ko");
}

#[test]
fn reload_changes_new_sessions_only() {
    let s = setup();
    let acceptor = Acceptor::new(&s.server).unwrap();
    let connector = Connector::new(&s.client).unwrap();
    let connect = |acceptor: &Acceptor| {
        Pair::new(
            connector.connect(grpc_client(), t0()).unwrap(),
            acceptor.accept(grpc_server(), t0()).unwrap(),
            t0(),
        )
    };
    let mut old = connect(&acceptor);
    assert_eq!(call(&mut old, b"1"), b"1");
    assert_eq!(old.a.peer_identity().unwrap().name(), "proxy.example.test");

    // A broken configuration (key of another certificate) is refused and
    // the one in use stays.
    let other: Leaf = s.ca.leaf("renewed.example.test", &["localhost"]);
    let wrong = Credentials {
        cert_chain: other.credentials().cert_chain,
        key: s.server.credentials.key.clone_key(),
    };
    assert!(matches!(
        acceptor.reload(&ServerConfig::new(wrong)),
        Err(ConfigError::Rustls(_))
    ));
    let mut still = connect(&acceptor);
    assert_eq!(call(&mut still, b"2"), b"2");
    assert_eq!(
        still.a.peer_identity().unwrap().name(),
        "proxy.example.test"
    );

    // The renewed certificate: new sessions present it...
    acceptor
        .reload(&ServerConfig::new(other.credentials()))
        .unwrap();
    let mut new = connect(&acceptor);
    assert_eq!(call(&mut new, b"34"), b"43");
    assert_eq!(
        new.a.peer_identity().unwrap().name(),
        "renewed.example.test"
    );
    // ...while the session started before goes on with the old one.
    assert_eq!(call(&mut old, b"56"), b"65");
    assert_eq!(old.a.peer_identity().unwrap().name(), "proxy.example.test");

    // Turning on mutual TLS by reload: new sessions without a client
    // certificate are refused, the old one is untouched.
    let devices = Ca::root("device CA");
    acceptor
        .reload(
            &ServerConfig::new(other.credentials())
                .with_client_ca_pem(devices.pem.as_bytes())
                .unwrap(),
        )
        .unwrap();
    let mut refused = connect(&acceptor);
    run_to_failure(&mut refused);
    assert_fails(
        &failure(&mut refused.b),
        ErrorKind::CertificateRequired,
        Fault::Peer,
    );
    assert_eq!(call(&mut old, b"78"), b"87");
}

#[test]
fn graceful_close_both_ways() {
    let s = setup();
    let mut pair = pair(&s.client, &s.server);
    assert_eq!(call(&mut pair, b"bye"), b"eyb");
    pair.a.close();
    pair.drive();
    assert!(events(&mut pair.b)
        .iter()
        .any(|e| matches!(e, TlsEvent::PeerClosed)));
    assert!(events(&mut pair.a)
        .iter()
        .any(|e| matches!(e, TlsEvent::PeerClosed)));
    assert!(pair.a.is_closed() && pair.b.is_closed());
    assert!(pair.a.failure().is_none() && pair.b.failure().is_none());
}

/// A small deterministic generator for hostile bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn hostile_bytes_fail_cleanly() {
    let s = setup();
    let acceptor = Acceptor::new(&s.server).unwrap();
    let connector = Connector::new(&s.client).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = vec![0u8; 64 * 1024];
    for round in 0..300 {
        // Garbage that passes the first-bytes check: a handshake record
        // header then random bytes, in random pieces.
        let mut input = vec![22, 3, (round % 4) as u8];
        let len = (rng.next() % 3000) as usize;
        input.extend(rng.bytes(len));
        let mut server = acceptor.accept(grpc_server(), t0()).unwrap();
        let mut client = connector.connect(grpc_client(), t0()).unwrap();
        let _ = client.transmit(&mut out);
        for piece in input.chunks(1 + (rng.next() % 700) as usize) {
            let _ = server.recv(piece, t0());
            let _ = client.recv(piece, t0());
        }
        while server.transmit(&mut out) > 0 {}
        while client.transmit(&mut out) > 0 {}
        // Either refused already, or waiting for more within the deadline.
        server.handle_timeout(t0() + Duration::from_secs(10));
        client.handle_timeout(t0() + Duration::from_secs(10));
        while server.transmit(&mut out) > 0 {}
        while client.transmit(&mut out) > 0 {}
        assert!(
            server.failure().is_some() && server.is_closed(),
            "round {round}"
        );
        assert!(
            client.failure().is_some() && client.is_closed(),
            "round {round}"
        );
    }

    // A record header announcing more than TLS allows.
    let mut server = acceptor.accept(grpc_server(), t0()).unwrap();
    let error = server
        .recv(&[22, 3, 1, 0xff, 0xff, 1, 2, 3], t0())
        .unwrap_err();
    assert!(
        matches!(error, arkwire::tls::Error::Tls(ref e) if e.fault == Fault::Peer),
        "{error}"
    );

    // Garbage after an established handshake: the session fails, no panic.
    let mut pair = pair_for(&acceptor, &connector);
    assert_eq!(call(&mut pair, b"ok"), b"ko");
    for _ in 0..20 {
        let mut record = vec![23, 3, 3, 0, 64];
        record.extend(rng.bytes(64));
        let _ = pair.b.recv(&record, pair.now());
    }
    assert_fails(&failure(&mut pair.b), ErrorKind::Protocol, Fault::Peer);
    pair.drive();
    assert!(pair.b.is_closed());
}

fn pair_for(acceptor: &Acceptor, connector: &Connector) -> Pair<Tls<C>, Tls<S>> {
    Pair::new(
        connector.connect(grpc_client(), t0()).unwrap(),
        acceptor.accept(grpc_server(), t0()).unwrap(),
        t0(),
    )
}

#[test]
fn configuration_errors_say_what_and_never_show_keys() {
    let s = setup();
    let leaf = s.ca.leaf("x", &["localhost"]);
    assert!(matches!(
        Credentials::from_pem(b"not pem", leaf.key_pem.as_bytes()),
        Err(ConfigError::NoCertificate {
            what: "certificate chain"
        })
    ));
    assert!(matches!(
        Credentials::from_pem(
            leaf.chain_pem.as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA"
        ),
        Err(ConfigError::BadKey)
    ));
    // A certificate where the key should be: refused, and the message does
    // not echo the input.
    let err =
        Credentials::from_pem(leaf.chain_pem.as_bytes(), leaf.chain_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, ConfigError::BadKey));
    assert!(!err.to_string().contains("MII"));
    assert!(matches!(
        ClientConfig::new(b"", "localhost"),
        Err(ConfigError::NoCertificate { .. })
    ));
    let mut bad_name = s.client.clone();
    bad_name.server_name = "not a name!".into();
    assert!(matches!(
        Connector::new(&bad_name),
        Err(ConfigError::InvalidServerName(_))
    ));
    let mut zero = s.server.clone();
    zero.limits.handshake_timeout = Duration::ZERO;
    assert!(matches!(
        Acceptor::new(&zero),
        Err(ConfigError::InvalidLimit(_))
    ));
    zero.limits = Limits {
        max_chain_bytes: 0,
        ..Limits::default()
    };
    assert!(matches!(
        Acceptor::new(&zero),
        Err(ConfigError::InvalidLimit(_))
    ));
    let mut inverted = s.server.clone();
    inverted.min_version = Version::Tls13;
    inverted.max_version = Version::Tls12;
    assert!(matches!(
        Acceptor::new(&inverted),
        Err(ConfigError::InvalidLimit(_))
    ));
    let missing = ServerConfig::from_pem_files(
        "/nonexistent/cert.pem".as_ref(),
        "/nonexistent/key.pem".as_ref(),
        None,
    );
    assert!(matches!(missing, Err(ConfigError::Io { .. })));

    // Debug output of credentials and configurations carries no key bytes.
    let key_body: String = leaf
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for text in [
        format!("{:?}", leaf.credentials()),
        format!("{:?}", s.server),
        format!(
            "{:?}",
            s.client.clone().with_credentials(leaf.credentials())
        ),
    ] {
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains(&key_body[..16]), "key material in {text}");
    }
}

#[test]
fn pem_files_load() {
    let s = setup();
    let devices = Ca::root("device CA");
    let leaf = s.ca.leaf("from-files", &["localhost"]);
    let dir = std::env::temp_dir().join(format!("arkwire-tls-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert, &leaf.chain_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, &devices.pem).unwrap();
    let config = ServerConfig::from_pem_files(&cert, &key, Some(&ca));
    std::fs::remove_dir_all(&dir).unwrap();
    let config = config.unwrap();
    assert_eq!(config.client_ca.len(), 1);
    let client = s
        .client
        .clone()
        .with_credentials(devices.leaf("dev", &[]).credentials());
    let mut pair = pair(&client, &config);
    assert_eq!(call(&mut pair, b"f"), b"f");
    assert_eq!(pair.a.peer_identity().unwrap().name(), "from-files");
}

#[test]
fn end_of_file_from_the_transport() {
    let s = setup();
    // During the handshake: a truncated session, the peer's doing.
    let acceptor = Acceptor::new(&s.server).unwrap();
    let mut server = acceptor.accept(grpc_server(), t0()).unwrap();
    server.transport_closed();
    assert_fails(&failure(&mut server), ErrorKind::Truncated, Fault::Peer);
    assert!(server.is_closed());

    // After application data: an ordinary end (HTTP/2 frames its own end).
    let mut pair = pair(&s.client, &s.server);
    assert_eq!(call(&mut pair, b"done"), b"enod");
    pair.b.transport_closed();
    assert!(matches!(events(&mut pair.b)[..], [TlsEvent::PeerClosed]));
    assert!(pair.b.failure().is_none() && pair.b.is_closed());
    // Input after the end is ignored.
    assert!(pair.b.recv(&[23, 3, 3, 0, 1, 0], pair.now()).is_ok());
}
