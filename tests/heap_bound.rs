//! The property that closes the memory class: whatever a hostile peer sends,
//! a connection whose application polls, consumes and releases promptly
//! never holds more heap than the bound computed from its config.
//!
//! One proptest per connection role (h2 server, h2 client, gRPC server,
//! ZMTP REQ). Each case is a byte script that `common/hostile.rs` turns into
//! valid peer traffic and noise (see there); after every step the test
//! thread's peak heap since the connection was created is held to
//! `heap_bound(config)` plus the driver's own queued answers (documented
//! with the drivers). Small configs (`hostile::limits`) keep every limit within
//! reach of a 4 KiB script. The same generator drives the `heap_*` fuzz targets.

use proptest::prelude::*;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[path = "common/hostile.rs"]
mod hostile;

use counting_alloc::Counting;
use hostile::{limits, Meter};

#[global_allocator]
static GLOBAL: Counting = Counting;

const METER: Meter = Meter {
    start: counting_alloc::thread_start,
    peak_growth: counting_alloc::thread_peak_growth,
};

/// Cases per role: enough for every action to meet every stream state,
/// few enough that the four properties take seconds in a debug build.
const CASES: u32 = 200;
/// Longest script: a few hundred peer steps.
const SCRIPT: usize = 4096;

fn script() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..SCRIPT)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        // A failing script shrinks well below these.
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn h2_server_heap_stays_within_its_bound(script in script()) {
        hostile::h2_server(&script, limits::h2(), METER);
    }

    #[test]
    fn h2_client_heap_stays_within_its_bound(script in script()) {
        hostile::h2_client(&script, limits::h2(), METER);
    }

    #[test]
    fn grpc_server_heap_stays_within_its_bound(script in script()) {
        hostile::grpc_server(&script, limits::grpc(), METER);
    }

    #[test]
    fn zmtp_heap_stays_within_its_bound(script in script()) {
        hostile::zmtp(&script, limits::zmtp(), METER);
    }
}

/// The generator reaches what the properties are about: runs last many
/// steps before the victim cuts them off, and they make the connection hold
/// memory (headers, bodies, queued frames) well above what it holds when
/// created (at least one whole message). A generator that only produced garbage would pass the
/// properties above without testing anything.
#[test]
fn the_generator_reaches_the_states_that_hold_memory() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let runs = 100;
    for role in ["h2 server", "h2 client", "gRPC server", "ZMTP"] {
        let (mut steps, mut created, mut held) = (0, usize::MAX, 0);
        for _ in 0..runs {
            let s = script().new_tree(&mut runner).unwrap().current();
            let run = match role {
                "h2 server" => hostile::h2_server(&s, limits::h2(), METER),
                "h2 client" => hostile::h2_client(&s, limits::h2(), METER),
                "gRPC server" => hostile::grpc_server(&s, limits::grpc(), METER),
                _ => hostile::zmtp(&s, limits::zmtp(), METER),
            };
            steps += run.steps;
            created = created.min(run.created);
            held = held.max(run.peak);
        }
        eprintln!(
            "{role}: {} steps per run, peak {held} bytes (created with {created})",
            steps / runs
        );
        assert!(
            steps / runs >= 10,
            "{role}: runs end after {} steps",
            steps / runs
        );
        // Every config here lets one message of 8 KiB be held.
        let message = limits::grpc().max_message_size;
        assert!(
            held >= created + message,
            "{role}: the peer never made the connection hold a message's worth \
             ({held} bytes at the peak, {created} at creation)"
        );
    }
}
