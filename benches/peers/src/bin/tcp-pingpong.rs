//! The floor: one TCP connection on loopback, a server thread that reads
//! `--req` bytes and writes `--resp` bytes back, and a client that does that
//! sequentially, as one unary call would with no HTTP/2, gRPC or protobuf.
//! Byte counts default to one steady-state arkwire connect call's
//! (`arkwire_bench::wire_bytes`).
//!
//! `tcp-pingpong [--req N] [--resp N] [--warm N] [--calls N] [--name NAME]`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use arkwire_bench::{arg, report, result, summarise, wire_bytes};

fn main() {
    let (wire_req, wire_resp) = wire_bytes();
    let req: usize = arg("--req", wire_req);
    let resp: usize = arg("--resp", wire_resp);
    let warm: usize = arg("--warm", 2000);
    let calls: usize = arg("--calls", 20000);
    let name: String = arg("--name", "tcp".to_string());
    result(&format!("{name}.req_bytes"), req as f64);
    result(&format!("{name}.resp_bytes"), resp as f64);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut inbuf = vec![0u8; req];
        let out = vec![0x5au8; resp];
        while s.read_exact(&mut inbuf).is_ok() {
            s.write_all(&out).expect("write");
        }
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    let out = vec![0xa5u8; req];
    let mut inbuf = vec![0u8; resp];
    let mut one = |c: &mut TcpStream| {
        c.write_all(&out).expect("write");
        c.read_exact(&mut inbuf).expect("read");
    };
    for _ in 0..warm {
        one(&mut c);
    }
    let mut lat = Vec::with_capacity(calls);
    let start = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        one(&mut c);
        lat.push(t.elapsed());
    }
    report(&name, &summarise(lat, start.elapsed()));
    drop(c);
    server.join().expect("server thread");
}
