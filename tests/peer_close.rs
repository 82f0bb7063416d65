//! A peer whose last bytes and close arrive together: the server reads the
//! bytes and sees the close at once, not at a handshake or idle timeout.
//! (The driver stops reading at a short read, which leaves the socket
//! drained; a close reported with the bytes must still be read to its end.)

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::net::{Server, ServerConfig};

/// HTTP/2's client connection preface and an empty SETTINGS frame (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[test]
fn bytes_and_a_close_sent_together_close_the_connection_at_once() {
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    for round in 0..20 {
        let mut peer = TcpStream::connect(server.local_addr()).unwrap();
        peer.write_all(PREFACE).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let start = Instant::now();
        let mut answer = Vec::new();
        // The server's SETTINGS (and perhaps a GOAWAY), then the end of
        // the stream; a server that missed the close never ends it.
        let ended = peer.read_to_end(&mut answer);
        assert!(
            ended.is_ok(),
            "round {round}: {ended:?} after {:?}",
            start.elapsed()
        );
        assert!(!answer.is_empty(), "round {round}: the server sent nothing");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "round {round}: closed after {:?}",
            start.elapsed()
        );
    }
}
