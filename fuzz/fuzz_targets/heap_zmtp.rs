//! The heap bound of a ZMTP `ReqConnection<Vec<u8>>` against a hostile REP peer: the input is a
//! script the shared generator (`tests/common/hostile.rs`) turns into valid
//! traffic and noise; after every step the heap held since the connection
//! was created must stay below the bound computed from its config (the
//! driver panics otherwise). The limits are `hostile::limits`, as in `tests/heap_bound.rs`.
#![no_main]

use arkwire_fuzz::counting_alloc::Counting;
use arkwire_fuzz::hostile::{self, limits};
use arkwire_fuzz::METER;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static GLOBAL: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let run = hostile::zmtp(data, limits::zmtp(), METER);
    if arkwire_fuzz::debug() {
        eprintln!("{run:?}");
    }
});
