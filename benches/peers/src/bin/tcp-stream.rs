//! The floor of the large-message rows: one loopback TCP connection and a
//! server thread, moving `--size` bytes as a plain stream, no HTTP/2, gRPC
//! or protobuf. `up`: the client writes the bytes and the server answers one
//! byte once it has read them all (a `noop` upload's shape); `down`: the
//! client writes one byte and the server writes the bytes back (a payload
//! download's shape). Both ends reuse one buffer each, allocated and touched
//! before the timing: the best case a transport can reach.
//!
//! `tcp-stream --mode up|down --size BYTES --reps N --name NAME` prints
//! `RESULT NAME.mb_s X` (median of N after one warm-up).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use arkwire_bench::{arg, transfer_report, MIB};

fn main() {
    let mode: String = arg("--mode", "up".to_string());
    let size: usize = arg("--size", 8 * MIB);
    let reps: usize = arg("--reps", 3);
    let name: String = arg("--name", "tcp_stream".to_string());
    let up = match mode.as_str() {
        "up" => true,
        "down" => false,
        other => panic!("unknown --mode {other}"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = vec![0x5au8; size];
        let mut one = [0u8; 1];
        loop {
            if up {
                if s.read_exact(&mut buf).is_err() {
                    break;
                }
                s.write_all(&one).expect("write");
            } else {
                if s.read_exact(&mut one).is_err() {
                    break;
                }
                s.write_all(&buf).expect("write");
            }
        }
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0xa5u8; size];
    let mut one = [1u8; 1];
    let mut times = Vec::new();
    for _ in 0..=reps {
        let t = Instant::now();
        if up {
            c.write_all(&buf).expect("write");
            c.read_exact(&mut one).expect("read");
        } else {
            c.write_all(&one).expect("write");
            c.read_exact(&mut buf).expect("read");
        }
        times.push(t.elapsed());
    }
    transfer_report(&name, size, times);
    drop(c);
    server.join().expect("server thread");
}
