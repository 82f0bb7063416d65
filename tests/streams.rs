//! `arkwire serve` against grpcio's own clients on the streaming and
//! compression paths: the reflection client lists `arkouda.Arkouda` and
//! resolves `HandleRequest` (then calls it with the messages it resolved),
//! a client with gzip or deflate compression calls `HandleRequest`, and a
//! decompression bomb is answered RESOURCE_EXHAUSTED with the proxy's heap
//! staying small.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arkwire::h2::conn::{Connection, GrowableStorage, Role};
use arkwire::h2::Config;
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse, HANDLE_REQUEST_PATH};
use prost::Message;

/// Runs `script` with `args`; its stdout.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "python failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

const REFLECTION_CLIENT: &str = r#"
import sys, grpc
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf import message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
channel = grpc.insecure_channel(sys.argv[1])
db = ProtoReflectionDescriptorDatabase(channel)
print("services", " ".join(sorted(db.get_services())))
pool = DescriptorPool(db)
method = pool.FindMethodByName("arkouda.Arkouda.HandleRequest")
print("input", method.input_type.full_name, " ".join(f.name for f in method.input_type.fields))
print("output", method.output_type.full_name, " ".join(f.name for f in method.output_type.fields))
Request = message_factory.GetMessageClass(method.input_type)
Response = message_factory.GetMessageClass(method.output_type)
call = channel.unary_unary("/arkouda.Arkouda/HandleRequest",
    request_serializer=Request.SerializeToString,
    response_deserializer=Response.FromString)
reply = call(Request(user="ann", cmd="ruok", format="STRING", size=-1), timeout=10)
print("reply", reply.message)
"#;

#[test]
fn grpcio_reflection_lists_the_service_and_resolves_handle_request() {
    if !common::python_has("grpc, grpc_reflection.v1alpha.proto_reflection_descriptor_database") {
        return;
    }
    let server = common::arkwire_serve(&[]);
    let out = python(REFLECTION_CLIENT, &[&format!("127.0.0.1:{}", server.port)]);
    let line = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .trim()
            .to_string()
    };
    let services = line("services");
    assert!(
        services.split(' ').any(|s| s == "arkouda.Arkouda"),
        "{services}"
    );
    assert!(services.contains("grpc.health.v1.Health"), "{services}");
    let input = line("input");
    assert!(input.starts_with("arkouda.ArkoudaRequest "), "{input}");
    for field in ["user", "token", "cmd", "args"] {
        assert!(input.split(' ').any(|f| f == field), "{field} in {input}");
    }
    assert!(
        line("output").starts_with("arkouda.ArkoudaResponse "),
        "{out}"
    );
    assert!(line("reply").contains("imok"), "{out}");
}

const COMPRESSED_CLIENT: &str = r#"
import sys, grpc
kind = {"gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate}[sys.argv[2]]
channel = grpc.insecure_channel(sys.argv[1], compression=kind)
call = channel.unary_unary("/arkouda.Arkouda/HandleRequest")
try:
    print("ok", call(bytes.fromhex(sys.argv[3]), timeout=10, compression=kind).hex())
except grpc.RpcError as e:
    print("error", e.code().name, e.details())
"#;

fn ruok(args: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "ann".into(),
        cmd: "ruok".into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

#[test]
fn a_grpcio_client_with_compression_calls_handle_request() {
    if !common::python_has("grpc") {
        return;
    }
    let server = common::arkwire_serve(&[]);
    let addr = format!("127.0.0.1:{}", server.port);
    // Arguments that compress well, so the message really goes compressed.
    let request = ruok(&"x".repeat(20_000)).encode_to_vec();
    for kind in ["gzip", "deflate"] {
        let out = python(COMPRESSED_CLIENT, &[&addr, kind, &hex(&request)]);
        let reply = out
            .trim()
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{kind}: {out}"));
        let response = ArkoudaResponse::decode(&*unhex(reply)).unwrap();
        assert!(response.message.contains("imok"), "{kind}: {response:?}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// 1 GiB of zeros, gzip-compressed by python's zlib (about 1 MiB).
fn gzip_bomb() -> Vec<u8> {
    const BOMB: &str = r#"
import sys, zlib
z = zlib.compressobj(9, zlib.DEFLATED, 31)
chunk = bytes(1 << 20)
out = [z.compress(chunk) for _ in range(1024)]
out.append(z.flush())
sys.stdout.buffer.write(b"".join(out))
"#;
    let out = Command::new("python3").args(["-c", BOMB]).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The peak resident memory of process `pid`, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_decompression_bomb_is_resource_exhausted_and_the_heap_stays_small() {
    if !common::python_has("zlib") {
        return;
    }
    let bomb = gzip_bomb();
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let server = common::arkwire_serve(&[]);
    let mut sock = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let start = Instant::now();
    let now = || arkwire::time::Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut conn =
        Connection::<GrowableStorage>::new(Role::Client, Config::default(), now()).unwrap();
    let id = conn
        .open_stream(
            [
                (&b":method"[..], &b"POST"[..]),
                (b":scheme", b"http"),
                (b":path", HANDLE_REQUEST_PATH.as_bytes()),
                (b":authority", b"localhost"),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
                (b"grpc-encoding", b"gzip"),
            ],
            false,
        )
        .unwrap();
    let mut prefix = [1u8, 0, 0, 0, 0];
    prefix[1..].copy_from_slice(&(bomb.len() as u32).to_be_bytes());
    conn.send_data(id, &[&prefix, &bomb], true).unwrap();
    let mut out = vec![0u8; 64 * 1024];
    let mut input = vec![0u8; 64 * 1024];
    let status = loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no answer");
        loop {
            let n = conn.transmit(&mut out);
            if n == 0 {
                break;
            }
            sock.write_all(&out[..n]).unwrap();
        }
        match sock.read(&mut input) {
            Ok(0) => panic!("the proxy closed the connection"),
            Ok(n) => conn.recv(&input[..n], now()).unwrap(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("{e}"),
        }
        while conn.poll_event().is_some() {}
        let Some(stream) = conn.stream(id) else {
            continue;
        };
        let block = stream.trailers().unwrap_or(stream.headers());
        if let Some(status) = block.get(b"grpc-status") {
            break status.to_vec();
        }
    };
    assert_eq!(status, b"8", "RESOURCE_EXHAUSTED");
    // The proxy decompressed no further than the 4 MiB message limit.
    if let Some(kib) = peak_rss_kib(server.child.id()) {
        assert!(kib < 128 * 1024, "peak resident {kib} KiB");
    }
}
