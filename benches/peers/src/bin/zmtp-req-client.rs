//! The direct ZeroMQ floor in Rust: REQ clients built on arkwire's own ZMTP
//! state machine (`arkwire::zmtp::ReqConnection`), each over a blocking
//! `std::net::TcpStream`, sending the connect request's JSON straight to a
//! ZeroMQ REP server (the fake arkouda_server). Writes what `transmit`
//! gives, feeds `recv` what it reads, until `ZmtpEvent::Reply`.
//!
//! `zmtp-req-client --port P --name NAME [--conns K] [--warm N] [--calls N]`
//! prints `RESULT NAME.p50_us|p99_us|p999_us|per_s`. REQ is strictly one
//! request at a time per connection, so K calls in flight take K
//! connections (K REQ sockets): each round sends one request on every
//! connection, then reads the replies in the same order (a REP server
//! answers them in turn). A call's latency runs from its send to its reply.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use arkwire::zmtp::{ReqConnection, ZmtpConfig, ZmtpEvent};
use arkwire_bench::{arg, report, summarise};

const REQUEST: &[u8] = br#"{"user": "kjyost", "token": "", "cmd": "connect", "format": "STRING", "size": -1, "args": ""}"#;

struct Req {
    conn: ReqConnection<Vec<u8>>,
    tcp: TcpStream,
    out: Vec<u8>,
    inp: Vec<u8>,
}

fn now() -> arkwire::time::Instant {
    arkwire::time::Instant::from_millis(0)
}

impl Req {
    fn connect(port: u16) -> Req {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let conn = ReqConnection::new(ZmtpConfig::default(), now()).expect("zmtp");
        Req {
            conn,
            tcp,
            out: vec![0; 64 * 1024],
            inp: vec![0; 64 * 1024],
        }
    }

    fn flush(&mut self) {
        while self.conn.wants_transmit() {
            let n = self.conn.transmit(&mut self.out);
            self.tcp.write_all(&self.out[..n]).expect("write");
        }
    }

    /// Queues the request and writes what may go out now (all of it once
    /// the handshake is done).
    fn send(&mut self) {
        self.conn
            .send_request(&[REQUEST], None)
            .expect("send_request");
        self.flush();
    }

    /// Reads until the reply is whole, writing whatever the connection
    /// wants to send meanwhile (the handshake's later steps, the request).
    fn reply(&mut self) {
        loop {
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    ZmtpEvent::Reply => {
                        let len: usize = self.conn.reply_frames().map(<[u8]>::len).sum();
                        assert!(len > 0, "empty reply");
                        self.conn.release_reply();
                        return;
                    }
                    ZmtpEvent::Ready | ZmtpEvent::StreamedReply { .. } => {}
                    other => panic!("zmtp: {other:?}"),
                }
            }
            self.flush();
            let n = self.tcp.read(&mut self.inp).expect("read");
            assert!(n > 0, "the server closed the connection");
            self.conn.recv(&self.inp[..n], now()).expect("recv");
        }
    }
}

/// `calls` requests over `conns`, one in flight on each; latencies into `lat`.
fn run(conns: &mut [Req], calls: usize, mut lat: Option<&mut Vec<Duration>>) {
    let mut done = 0;
    let mut sent = vec![Instant::now(); conns.len()];
    while done < calls {
        let k = conns.len().min(calls - done);
        for (c, t) in conns[..k].iter_mut().zip(&mut sent) {
            *t = Instant::now();
            c.send();
        }
        for (c, t) in conns[..k].iter_mut().zip(&sent) {
            c.reply();
            if let Some(lat) = lat.as_deref_mut() {
                lat.push(t.elapsed());
            }
        }
        done += k;
    }
}

fn main() {
    let port: u16 = arg("--port", 0);
    let name: String = arg("--name", "zmtp".to_string());
    let k: usize = arg("--conns", 1);
    let warm: usize = arg("--warm", 2000);
    let calls: usize = arg("--calls", 20000);
    let mut conns: Vec<Req> = (0..k.max(1)).map(|_| Req::connect(port)).collect();
    run(&mut conns, warm.max(k), None);
    let mut lat = Vec::with_capacity(calls);
    let start = Instant::now();
    run(&mut conns, calls, Some(&mut lat));
    report(&name, &summarise(lat, start.elapsed()));
}
