//! A whole unary call, client to server and back, in the fixed-capacity
//! configuration: after setup, not one heap allocation.

use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
use arkwire::h2::conn::{FixedStorage, MIN_TRANSMIT_BUFFER};
use arkwire::h2::Config;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef, HANDLE_REQUEST_PATH};
use arkwire::time::Instant;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

type Device = FixedStorage<2, 1024, 512>;

#[test]
fn a_fixed_capacity_call_allocates_nothing_after_setup() {
    let options = Options {
        h2: Config::embedded(),
        max_message_size: 400,
        ..Options::default()
    };
    // Setup: the connections and the wire buffer (on the heap here only
    // because a test thread's stack is small; a device would use statics).
    let mut client =
        Box::new(Client::<Device>::new("arkouda:50053", options, Instant::from_millis(0)).unwrap());
    let mut server = Box::new(
        Server::<Device>::new(HANDLE_REQUEST_PATH, options, Instant::from_millis(0)).unwrap(),
    );
    let mut wire = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut encoded = [0u8; 128];
    let mut reply = [0u8; 256];

    let before = counting_alloc::allocations();
    for round in 0..3u64 {
        let now = Instant::from_millis(round);
        let req = ArkoudaRequestRef {
            user: "kjyost",
            cmd: "connect",
            format: "STRING",
            size: -1,
            ..Default::default()
        };
        let n = req.encode_to_slice(&mut encoded).unwrap();
        let call = client
            .start_call(
                HANDLE_REQUEST_PATH,
                &encoded[..n],
                &[("x-device", b"7")],
                None,
                now,
            )
            .unwrap();
        let mut done = false;
        for _ in 0..20 {
            let len = client.transmit(&mut wire);
            server.recv(&wire[..len], now).unwrap();
            while let Some(ev) = server.poll_event() {
                if let ServerEvent::Request(id) = ev {
                    let got = ArkoudaRequestRef::decode(server.request(id).unwrap()).unwrap();
                    let resp = ArkoudaResponseRef {
                        message: r#"{"msg": "connected", "msgType": "NORMAL", "msgFormat": "STRING", "user": "kjyost"}"#,
                        user: Some(got.user),
                        ..Default::default()
                    };
                    let m = resp.encode_to_slice(&mut reply).unwrap();
                    server.respond(id, &reply[..m]).unwrap();
                }
            }
            let len = server.transmit(&mut wire);
            client.recv(&wire[..len], now).unwrap();
            while let Some(ev) = client.poll_event() {
                if ev == ClientEvent::Complete(call) {
                    let resp = ArkoudaResponseRef::decode(client.response(call).unwrap()).unwrap();
                    assert_eq!(resp.user, Some("kjyost"));
                    client.finish_call(call);
                    done = true;
                }
            }
            if done {
                break;
            }
        }
        assert!(done, "round {round} did not complete");
    }
    let after = counting_alloc::allocations();
    assert_eq!(after - before, 0, "heap allocations during three calls");
}
