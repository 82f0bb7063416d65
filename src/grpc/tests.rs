//! Client and server driven against each other in memory.

use core::time::Duration;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::h2::conn::{FixedStorage, GrowableStorage, Storage, MIN_TRANSMIT_BUFFER};
use crate::sans_io::{exchange, SansIo};
use crate::time::Instant;

const PATH: &str = "/arkouda.Arkouda/HandleRequest";

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn pair<S: Storage + Default>(client: Options, server: Options) -> (Client<S>, Server<S>) {
    (
        Client::new("localhost:50053", client, t(0)).unwrap(),
        Server::new(PATH, server, t(0)).unwrap(),
    )
}

/// Moves bytes both ways until neither side has anything to send.
fn pump<A: SansIo, B: SansIo>(a: &mut A, b: &mut B, now: Instant) {
    exchange(a, b, now);
}

fn server_events<S: Storage>(s: &mut Server<S>) -> Vec<ServerEvent> {
    core::iter::from_fn(|| s.poll_event()).collect()
}

fn client_events<S: Storage>(c: &mut Client<S>) -> Vec<ClientEvent> {
    core::iter::from_fn(|| c.poll_event()).collect()
}

type Outcome = Result<Vec<u8>, (Code, String)>;

/// Runs one call where the server answers with `answer`; returns the client's view.
fn round_trip<S: Storage + Default>(
    request: &[u8],
    answer: impl FnOnce(&mut Server<S>, CallId),
) -> (Outcome, Vec<ServerEvent>) {
    let (mut c, mut s) = pair::<S>(Options::default(), Options::default());
    let call = c.start_call(PATH, request, &[], None, t(0)).unwrap();
    pump(&mut c, &mut s, t(1));
    let ev = server_events(&mut s);
    if let Some(ServerEvent::Request(id)) = ev
        .iter()
        .copied()
        .find(|e| matches!(e, ServerEvent::Request(_)))
    {
        answer(&mut s, id);
    }
    pump(&mut c, &mut s, t(2));
    assert_eq!(client_events(&mut c), [ClientEvent::Complete(call)]);
    let result = c
        .response(call)
        .map(<[u8]>::to_vec)
        .map_err(|st| (st.code, st.message()));
    c.finish_call(call);
    (result, ev)
}

#[test]
fn a_unary_call_returns_the_servers_message() {
    let (result, _) = round_trip::<GrowableStorage>(b"ping", |s, id| {
        assert_eq!(s.request(id), Ok(&b"ping"[..]));
        s.respond(id, b"pong").unwrap();
    });
    assert_eq!(result, Ok(b"pong".to_vec()));
}

#[test]
fn the_same_call_works_in_fixed_storage() {
    let (result, _) = round_trip::<FixedStorage<4, 1024, 256>>(b"ping", |s, id| {
        s.respond(id, b"pong").unwrap();
    });
    assert_eq!(result, Ok(b"pong".to_vec()));
}

#[test]
fn empty_request_and_response_are_messages() {
    let (result, _) = round_trip::<GrowableStorage>(b"", |s, id| {
        assert_eq!(s.request(id), Ok(&b""[..]));
        s.respond(id, b"").unwrap();
    });
    assert_eq!(result, Ok(Vec::new()));
}

#[test]
fn a_status_with_any_text_arrives_intact() {
    let (result, _) = round_trip::<GrowableStorage>(b"x", |s, id| {
        s.respond_status(id, Code::Aborted, "échec: 100% ✓\nline")
            .unwrap();
    });
    assert_eq!(
        result,
        Err((Code::Aborted, String::from("échec: 100% ✓\nline")))
    );
}

#[test]
fn large_messages_cross_many_frames_and_windows() {
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expect = big.clone();
    let (result, _) = round_trip::<GrowableStorage>(&big, |s, id| {
        let req = s.request(id).unwrap().to_vec();
        assert_eq!(req, expect);
        s.respond(id, &req).unwrap();
    });
    assert_eq!(result.unwrap(), big);
}

#[test]
fn metadata_reaches_the_server() {
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), Options::default());
    c.start_call(
        PATH,
        b"",
        &[("x-user", b"kjyost"), ("trace-bin", &[0, 1, 2, 254, 255])],
        None,
        t(0),
    )
    .unwrap();
    pump(&mut c, &mut s, t(1));
    let Some(ServerEvent::Request(id)) = s.poll_event() else {
        panic!("no request")
    };
    let meta: Vec<(Vec<u8>, Vec<u8>)> = custom_metadata(s.request_headers(id).unwrap())
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    assert!(
        meta.contains(&(b"x-user".to_vec(), b"kjyost".to_vec())),
        "{meta:?}"
    );
    // RFC 4648 base64 of 00 01 02 fe ff.
    assert!(
        meta.contains(&(b"trace-bin".to_vec(), b"AAEC/v8=".to_vec())),
        "{meta:?}"
    );
    assert_eq!(
        c.start_call(PATH, b"", &[("Bad-Key", b"v")], None, t(0)),
        Err(CallError::InvalidMetadata)
    );
    assert_eq!(
        c.start_call(PATH, b"", &[("k", "é".as_bytes())], None, t(0)),
        Err(CallError::InvalidMetadata)
    );
}

#[test]
fn a_client_deadline_ends_the_call_and_cancels_the_server_side() {
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), Options::default());
    let call = c
        .start_call(PATH, b"slow", &[], Some(Duration::from_millis(300)), t(0))
        .unwrap();
    pump(&mut c, &mut s, t(0));
    assert!(matches!(s.poll_event(), Some(ServerEvent::Request(_))));
    assert_eq!(c.poll_timeout(), Some(t(300)));
    c.handle_timeout(t(299));
    assert_eq!(client_events(&mut c), []);
    c.handle_timeout(t(300));
    assert_eq!(client_events(&mut c), [ClientEvent::Complete(call)]);
    assert_eq!(c.response(call).unwrap_err().code, Code::DeadlineExceeded);
    pump(&mut c, &mut s, t(301));
    assert_eq!(
        server_events(&mut s),
        [ServerEvent::Cancelled(CallId(call.0))]
    );
}

#[test]
fn the_server_enforces_the_deadline_the_client_sent() {
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), Options::default());
    let call = c
        .start_call(PATH, b"slow", &[], Some(Duration::from_secs(2)), t(0))
        .unwrap();
    pump(&mut c, &mut s, t(0));
    let Some(ServerEvent::Request(id)) = s.poll_event() else {
        panic!()
    };
    // grpc-timeout rounds up, never down.
    assert!(s.poll_timeout().unwrap() >= t(2000));
    s.handle_timeout(t(2001));
    assert_eq!(server_events(&mut s), [ServerEvent::Cancelled(id)]);
    // The server's timer beat the client's: the client still reads DEADLINE_EXCEEDED
    // (a trailers-only answer, not a bare RST_STREAM CANCEL).
    pump(&mut c, &mut s, t(2001));
    assert_eq!(client_events(&mut c), [ClientEvent::Complete(call)]);
    assert_eq!(c.response(call).unwrap_err().code, Code::DeadlineExceeded);
    let stream = c.connection().stream(call.0).unwrap();
    assert_eq!(stream.reset(), None, "answered with a status, not reset");
    assert_eq!(stream.headers().get(b"grpc-status"), Some(&b"4"[..]));
    assert!(s.respond(id, b"too late").is_err());
}

#[test]
fn an_oversized_request_is_resource_exhausted() {
    let small = Options {
        max_message_size: 1000,
        ..Options::default()
    };
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), small);
    let call = c.start_call(PATH, &[b'x'; 1001], &[], None, t(0)).unwrap();
    pump(&mut c, &mut s, t(1));
    assert_eq!(server_events(&mut s), []);
    pump(&mut c, &mut s, t(2));
    let _ = client_events(&mut c);
    let status = c.response(call).unwrap_err();
    assert_eq!(status.code, Code::ResourceExhausted);
}

#[test]
fn a_spent_memory_budget_is_resource_exhausted_naming_the_flag() {
    static BUDGET: crate::h2::MemoryBudget = crate::h2::MemoryBudget::new(500);
    let tight = Options {
        h2: crate::h2::Config {
            body_budget: Some(&BUDGET),
            ..crate::h2::Config::default()
        },
        ..Options::default()
    };
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), tight);
    let call = c.start_call(PATH, &[b'x'; 1000], &[], None, t(0)).unwrap();
    pump(&mut c, &mut s, t(1));
    assert_eq!(server_events(&mut s), []);
    pump(&mut c, &mut s, t(2));
    let _ = client_events(&mut c);
    let status = c.response(call).unwrap_err();
    assert_eq!(status.code, Code::ResourceExhausted);
    assert!(status.message().contains("--memory-budget"), "{status:?}");
    drop(s);
    assert_eq!(BUDGET.used(), 0);
}

#[test]
fn a_server_dispatches_each_of_its_methods() {
    const HEALTH: &str = "/grpc.health.v1.Health/Check";
    let t0 = t(0);
    let mut c = Client::<GrowableStorage>::new("localhost", Options::default(), t0).unwrap();
    let mut s =
        Server::<GrowableStorage>::with_methods(&[PATH, HEALTH], Options::default(), t0).unwrap();
    let a = c.start_call(HEALTH, b"", &[], None, t0).unwrap();
    let b = c.start_call(PATH, b"x", &[], None, t0).unwrap();
    let other = c
        .start_call("/other.Service/M", b"", &[], None, t0)
        .unwrap();
    pump(&mut c, &mut s, t(1));
    let mut methods = Vec::new();
    for event in server_events(&mut s) {
        if let ServerEvent::Request(id) = event {
            methods.push(s.method(id).unwrap());
            s.respond(id, b"").unwrap();
        }
    }
    methods.sort_unstable();
    assert_eq!(methods, [PATH, HEALTH]);
    pump(&mut c, &mut s, t(2));
    let _ = client_events(&mut c);
    assert!(c.response(a).is_ok() && c.response(b).is_ok());
    assert_eq!(c.response(other).unwrap_err().code, Code::Unimplemented);
    let too_many = [PATH; MAX_METHODS + 1];
    assert!(Server::<GrowableStorage>::with_methods(&too_many, Options::default(), t0).is_err());
}

#[test]
fn an_unknown_method_is_unimplemented() {
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), Options::default());
    let call = c
        .start_call("/other.Service/Method", b"", &[], None, t(0))
        .unwrap();
    pump(&mut c, &mut s, t(1));
    assert_eq!(server_events(&mut s), []);
    pump(&mut c, &mut s, t(2));
    assert_eq!(client_events(&mut c), [ClientEvent::Complete(call)]);
    assert_eq!(c.response(call).unwrap_err().code, Code::Unimplemented);
}

#[test]
fn the_client_refuses_requests_over_its_limit() {
    let small = Options {
        max_message_size: 10,
        ..Options::default()
    };
    let (mut c, _s) = pair::<GrowableStorage>(small, Options::default());
    assert_eq!(
        c.start_call(PATH, &[0; 11], &[], None, t(0)),
        Err(CallError::MessageTooLarge)
    );
}

#[test]
fn many_calls_share_one_connection_and_each_gets_its_own_reply() {
    let (mut c, mut s) = pair::<GrowableStorage>(Options::default(), Options::default());
    let calls: Vec<(CallId, Vec<u8>)> = (0..100u32)
        .map(|i| {
            let body = std::format!("request {i}").into_bytes();
            (c.start_call(PATH, &body, &[], None, t(0)).unwrap(), body)
        })
        .collect();
    pump(&mut c, &mut s, t(1));
    for ev in server_events(&mut s) {
        let ServerEvent::Request(id) = ev else {
            continue;
        };
        let mut reply = s.request(id).unwrap().to_vec();
        reply.extend_from_slice(b" done");
        s.respond(id, &reply).unwrap();
    }
    pump(&mut c, &mut s, t(2));
    let completed = client_events(&mut c)
        .into_iter()
        .filter(|e| matches!(e, ClientEvent::Complete(_)))
        .count();
    assert_eq!(completed, 100);
    for (call, body) in calls {
        let mut expect = body.clone();
        expect.extend_from_slice(b" done");
        assert_eq!(c.response(call).unwrap(), &expect[..]);
        c.finish_call(call);
    }
    assert_eq!(s.connection().active_streams(), 0);
}

/// A plain HTTP/2 server (not gRPC) answering every stream with `status`.
fn http_status_reply(status: &[u8]) -> Result<Vec<u8>, (Code, String)> {
    use crate::h2::conn::{Connection, Event};
    use crate::h2::Role;
    let mut c = Client::<GrowableStorage>::new("x", Options::default(), t(0)).unwrap();
    let mut s =
        Connection::<GrowableStorage>::new(Role::Server, crate::h2::Config::default(), t(0))
            .unwrap();
    let call = c.start_call(PATH, b"", &[], None, t(0)).unwrap();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    for _ in 0..20 {
        let n = c.transmit(&mut buf);
        s.recv(&buf[..n], t(1)).unwrap();
        while let Some(ev) = s.poll_event() {
            if let Event::StreamEnded { stream } = ev {
                s.send_headers(stream, [(&b":status"[..], status)], true)
                    .unwrap();
            }
        }
        let m = s.transmit(&mut buf);
        c.recv(&buf[..m], t(1)).unwrap();
    }
    assert_eq!(client_events(&mut c), [ClientEvent::Complete(call)]);
    c.response(call)
        .map(<[u8]>::to_vec)
        .map_err(|st| (st.code, st.message()))
}

#[test]
fn non_200_http_statuses_map_to_grpc_codes() {
    // grpc/doc/http-grpc-status-mapping.md
    for (status, code) in [
        (&b"400"[..], Code::Internal),
        (b"401", Code::Unauthenticated),
        (b"403", Code::PermissionDenied),
        (b"404", Code::Unimplemented),
        (b"429", Code::Unavailable),
        (b"502", Code::Unavailable),
        (b"503", Code::Unavailable),
        (b"504", Code::Unavailable),
        (b"500", Code::Unknown),
    ] {
        assert_eq!(http_status_reply(status).unwrap_err().0, code, "{status:?}");
    }
}

#[test]
fn header_blocks_larger_than_a_frame_use_continuation() {
    let big = Options {
        h2: crate::h2::Config {
            max_header_list_size: 64 * 1024,
            ..crate::h2::Config::default()
        },
        ..Options::default()
    };
    let (mut c, mut s) = pair::<GrowableStorage>(big, big);
    let value = "v".repeat(40_000);
    c.start_call(PATH, b"", &[("x-big", value.as_bytes())], None, t(0))
        .unwrap();
    // Count the frames on the wire: one HEADERS and at least two CONTINUATION.
    let mut buf = vec![0u8; 1 << 20];
    let n = c.transmit(&mut buf);
    let (mut headers, mut continuations) = (0, 0);
    let mut rest = &buf[24..n]; // after the preface
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        headers += usize::from(rest[3] == 0x1);
        continuations += usize::from(rest[3] == 0x9);
        rest = &rest[9 + len..];
    }
    assert_eq!(headers, 1);
    assert!(continuations >= 2, "{continuations} CONTINUATION frames");
    s.recv(&buf[..n], t(1)).unwrap();
    pump(&mut c, &mut s, t(1));
    let Some(ServerEvent::Request(id)) = s.poll_event() else {
        panic!("no request")
    };
    let got = custom_metadata(s.request_headers(id).unwrap())
        .find(|(k, _)| *k == b"x-big")
        .map(|(_, v)| v.len());
    assert_eq!(got, Some(40_000));
}

#[test]
fn a_client_in_lent_memory_calls_through_a_small_transmit_buffer() {
    use crate::h2::conn::{LentStorage, StreamBuffers};
    let (mut scratch, mut table) = ([0u8; 1024], [0u8; 4096]);
    let mut bufs = [[0u8; 512]; 6];
    let [h1, b1, s1, h2, b2, s2] = &mut bufs;
    let streams = [
        StreamBuffers {
            headers: h1,
            body: b1,
            send: s1,
        },
        StreamBuffers {
            headers: h2,
            body: b2,
            send: s2,
        },
    ];
    let storage = LentStorage::<2>::new(&mut scratch, &mut table, streams).unwrap();
    let options = Options {
        h2: crate::h2::Config::embedded(),
        max_message_size: 400,
        ..Options::default()
    };
    let mut c = Client::with_storage("arkouda:50053", options, storage, t(0)).unwrap();
    let mut s = Server::<GrowableStorage>::new(PATH, Options::default(), t(0)).unwrap();
    // A 512-byte buffer: every header block goes out whole, encoded in place.
    let mut wire = [0u8; 512];
    let mut move_all = |c: &mut Client<_>, s: &mut Server<GrowableStorage>, now| loop {
        let n = c.transmit(&mut wire);
        s.recv(&wire[..n], now).unwrap();
        let m = s.transmit(&mut wire);
        c.recv(&wire[..m], now).unwrap();
        if n == 0 && m == 0 {
            break;
        }
    };
    for round in 0..5u64 {
        let body = std::format!("request {round}").into_bytes();
        let call = c
            .start_call(PATH, &body, &[("x-device", b"7")], None, t(round))
            .unwrap();
        move_all(&mut c, &mut s, t(round));
        let id = server_events(&mut s)
            .into_iter()
            .find_map(|e| match e {
                ServerEvent::Request(id) => Some(id),
                _ => None,
            })
            .expect("request");
        assert_eq!(s.request(id).unwrap(), &body[..]);
        let md = crate::grpc::custom_metadata(s.request_headers(id).unwrap());
        assert_eq!(md.collect::<Vec<_>>(), [(&b"x-device"[..], &b"7"[..])]);
        s.respond(id, b"reply").unwrap();
        move_all(&mut c, &mut s, t(round));
        assert!(client_events(&mut c).contains(&ClientEvent::Complete(call)));
        assert_eq!(c.response(call).unwrap(), b"reply");
        c.finish_call(call);
    }
}

mod streaming {
    use super::*;
    use crate::h2::conn::{Connection, Role};
    use crate::h2::Config;

    const STREAM: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

    fn framed(m: &[u8]) -> Vec<u8> {
        let mut v = message::prefix(m.len() as u32).to_vec();
        v.extend_from_slice(m);
        v
    }

    fn raw_pair(options: Options) -> (Connection<GrowableStorage>, Server<GrowableStorage>) {
        let client = Connection::new(Role::Client, Config::default(), t(0)).unwrap();
        let server = Server::<GrowableStorage>::with_methods(&[PATH], options, t(0))
            .unwrap()
            .with_streaming(&[STREAM])
            .unwrap();
        (client, server)
    }

    fn open(c: &mut Connection<GrowableStorage>, path: &str, encoding: Option<&str>) -> u32 {
        let mut headers: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        if let Some(e) = encoding {
            headers.push((b"grpc-encoding", e.as_bytes()));
        }
        c.open_stream(headers, false).unwrap()
    }

    fn grpc_status(c: &Connection<GrowableStorage>, id: u32) -> Option<Vec<u8>> {
        let s = c.stream(id)?;
        let block = s.trailers().unwrap_or(s.headers());
        block.get(b"grpc-status").map(<[u8]>::to_vec)
    }

    #[test]
    fn each_message_is_reported_as_it_arrives_and_answers_go_out_before_the_end() {
        let (mut c, mut s) = raw_pair(Options::default());
        let id = open(&mut c, STREAM, None);
        c.send_data(id, &[&framed(b"one")], false).unwrap();
        pump(&mut c, &mut s, t(1));
        let call = CallId(id);
        assert_eq!(server_events(&mut s), [ServerEvent::Message(call)]);
        assert!(s.is_streaming(call));
        assert_eq!(s.next_message(call), Some(Ok(b"one".to_vec())));
        assert_eq!(s.next_message(call), None);
        s.send_message(call, b"ONE").unwrap();
        pump(&mut c, &mut s, t(2));
        assert_eq!(c.stream(id).unwrap().body(), framed(b"ONE"));
        assert_eq!(grpc_status(&c, id), None, "the call is still open");
        // A message and the start of the next in one frame.
        let mut both = framed(b"two");
        let three = framed(b"three");
        both.extend_from_slice(&three[..4]);
        c.send_data(id, &[&both], false).unwrap();
        pump(&mut c, &mut s, t(3));
        assert_eq!(server_events(&mut s), [ServerEvent::Message(call)]);
        assert_eq!(s.next_message(call), Some(Ok(b"two".to_vec())));
        assert_eq!(s.next_message(call), None, "three is not complete");
        assert_eq!(server_events(&mut s), []);
        c.send_data(id, &[&three[4..]], true).unwrap();
        pump(&mut c, &mut s, t(4));
        assert_eq!(s.poll_event(), Some(ServerEvent::Message(call)));
        assert_eq!(s.next_message(call), Some(Ok(b"three".to_vec())));
        // The half-close comes once the messages before it were taken.
        assert_eq!(server_events(&mut s), [ServerEvent::HalfClosed(call)]);
        s.send_message(call, b"THREE").unwrap();
        s.finish(call, Code::Ok, "").unwrap();
        pump(&mut c, &mut s, t(5));
        let mut want = framed(b"ONE");
        want.extend(framed(b"THREE"));
        assert_eq!(c.stream(id).unwrap().body(), want);
        assert_eq!(grpc_status(&c, id), Some(b"0".to_vec()));
        assert_eq!(s.connection().body_bytes(), 0);
        assert_eq!(s.connection().active_streams(), 0);
    }

    #[test]
    fn many_messages_through_small_windows_flow_as_they_are_taken() {
        let options = Options {
            max_message_size: 1000,
            ..Options::default()
        };
        let (mut c, mut s) = raw_pair(options);
        let id = open(&mut c, STREAM, None);
        let call = CallId(id);
        // 200 KB in all: far past the 64 KiB initial windows.
        let msg = [7u8; 1000];
        let mut got = 0;
        for i in 0..200 {
            c.send_data(id, &[&framed(&msg)], i == 199).unwrap();
            pump(&mut c, &mut s, t(1));
            while let Some(e) = s.poll_event() {
                match e {
                    ServerEvent::Message(_) => {
                        while let Some(m) = s.next_message(call) {
                            assert_eq!(m.unwrap().len(), 1000);
                            got += 1;
                        }
                    }
                    ServerEvent::HalfClosed(_) => s.finish(call, Code::Ok, "").unwrap(),
                    other => panic!("{other:?}"),
                }
            }
        }
        pump(&mut c, &mut s, t(2));
        assert_eq!(got, 200);
        assert_eq!(grpc_status(&c, id), Some(b"0".to_vec()));
    }

    #[test]
    fn hostile_streams_end_with_a_status() {
        // A message over the limit.
        let options = Options {
            max_message_size: 10,
            ..Options::default()
        };
        let (mut c, mut s) = raw_pair(options);
        let id = open(&mut c, STREAM, None);
        c.send_data(id, &[&framed(&[0; 11])], false).unwrap();
        pump(&mut c, &mut s, t(1));
        assert_eq!(server_events(&mut s), []);
        pump(&mut c, &mut s, t(1));
        assert_eq!(grpc_status(&c, id), Some(b"8".to_vec()));
        // The stream ends inside a message.
        let id = open(&mut c, STREAM, None);
        c.send_data(id, &[&framed(b"abc")[..6]], true).unwrap();
        pump(&mut c, &mut s, t(2));
        assert_eq!(server_events(&mut s), [ServerEvent::Cancelled(CallId(id))]);
        pump(&mut c, &mut s, t(3));
        assert_eq!(grpc_status(&c, id), Some(b"13".to_vec()));
        // A compressed flag without an encoding.
        let id = open(&mut c, STREAM, None);
        let mut flagged = framed(b"x");
        flagged[0] = 1;
        c.send_data(id, &[&flagged], false).unwrap();
        pump(&mut c, &mut s, t(4));
        assert_eq!(server_events(&mut s), []);
        pump(&mut c, &mut s, t(4));
        assert_eq!(grpc_status(&c, id), Some(b"12".to_vec()));
    }

    #[cfg(feature = "std")]
    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        let mut v = gz.finish().unwrap();
        let mut framed = message::prefix(v.len() as u32).to_vec();
        framed[0] = 1;
        framed.append(&mut v);
        framed
    }

    #[cfg(feature = "std")]
    #[test]
    fn compressed_requests_are_decoded_within_the_message_limit() {
        let (mut c, mut s) = raw_pair(Options::default());
        let id = open(&mut c, PATH, Some("gzip"));
        c.send_data(id, &[&gzip(b"arkouda")], true).unwrap();
        pump(&mut c, &mut s, t(1));
        assert_eq!(server_events(&mut s), [ServerEvent::Request(CallId(id))]);
        assert_eq!(s.request(CallId(id)).unwrap_err().code, Code::Unimplemented);
        assert_eq!(&*s.request_decoded(CallId(id)).unwrap(), b"arkouda");
        s.respond(CallId(id), b"ok").unwrap();
        pump(&mut c, &mut s, t(2));
        let accept = c.stream(id).unwrap().headers().get(b"grpc-accept-encoding");
        assert_eq!(accept, Some(&b"identity,deflate,gzip"[..]));
        // 64 MiB of zeros in a few KiB: refused at the 4 MiB limit.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100 << 10);
        let id = open(&mut c, PATH, Some("gzip"));
        c.send_data(id, &[&bomb], true).unwrap();
        pump(&mut c, &mut s, t(3));
        assert_eq!(server_events(&mut s), [ServerEvent::Request(CallId(id))]);
        let err = s.request_decoded(CallId(id)).unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        // An encoding nobody here decodes.
        let id = open(&mut c, PATH, Some("br"));
        c.send_data(id, &[&framed(b"x")], true).unwrap();
        pump(&mut c, &mut s, t(4));
        assert_eq!(server_events(&mut s), []);
        pump(&mut c, &mut s, t(4));
        assert_eq!(grpc_status(&c, id), Some(b"12".to_vec()));
        // Compressed messages on a stream.
        let id = open(&mut c, STREAM, Some("gzip"));
        c.send_data(id, &[&gzip(b"first"), &gzip(b"second")], true)
            .unwrap();
        pump(&mut c, &mut s, t(5));
        assert_eq!(s.poll_event(), Some(ServerEvent::Message(CallId(id))));
        assert_eq!(s.next_message(CallId(id)), Some(Ok(b"first".to_vec())));
        assert_eq!(s.next_message(CallId(id)), Some(Ok(b"second".to_vec())));
        assert_eq!(s.poll_event(), Some(ServerEvent::HalfClosed(CallId(id))));
    }

    #[test]
    fn unary_calls_are_unchanged_beside_streams() {
        let (mut c, mut s) = raw_pair(Options::default());
        let id = open(&mut c, PATH, None);
        c.send_data(id, &[&framed(b"ping")], false).unwrap();
        pump(&mut c, &mut s, t(1));
        assert_eq!(server_events(&mut s), [], "a unary call waits for the end");
        c.send_data(id, &[], true).unwrap();
        pump(&mut c, &mut s, t(2));
        assert_eq!(server_events(&mut s), [ServerEvent::Request(CallId(id))]);
        assert!(!s.is_streaming(CallId(id)));
        assert_eq!(s.request(CallId(id)), Ok(&b"ping"[..]));
    }
}
