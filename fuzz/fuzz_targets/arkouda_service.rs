//! The sans-IO Arkouda service with the built-in backend: byte 0 picks chunk
//! sizes, byte 1 the proxy (even: sync, odd: async); the service gets the
//! preface and an empty SETTINGS frame, then the rest as client bytes in
//! chunks. After each chunk the proxy's queued work runs, time moves on,
//! and everything the service has to send is taken.
#![no_main]

use std::sync::Arc;
use std::time::Instant as StdInstant;

use arkwire::arkouda::builtin::{self, Action};
use arkwire::arkouda::clock::ManualClock;
use arkwire::arkouda::dispatch::{FairConfig, FairWorkers, Runner};
use arkwire::arkouda::owner::OwnerKeys;
use arkwire::arkouda::proxy::{
    AsyncParts, AsyncProxy, Backend, BackendError, RegistryLimits, SyncProxy,
};
use arkwire::arkouda::service::{ArkoudaService, Handler};
use arkwire::arkouda::RequestIdGenerator;
use arkwire::grpc::Options;
use arkwire::h2::conn::MIN_TRANSMIT_BUFFER;
use arkwire::h2::frame::PREFACE;
use arkwire::proto::ArkoudaRequest;
use arkwire::time::Instant;
use arkwire_fuzz::{chunks, debug, EMPTY_SETTINGS, MAX_TRANSMITS};
use libfuzzer_sys::fuzz_target;

/// The built-in backend, except that `sleep` answers without sleeping.
struct Builtin;

impl Backend for Builtin {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        _deadline: Option<StdInstant>,
    ) -> Result<String, BackendError> {
        match builtin::answer(&request.user, &request.cmd, &request.args) {
            Action::Reply(json) | Action::Sleep(_, json) => Ok(json),
        }
    }

    fn may_block(&self, request: &ArkoudaRequest) -> bool {
        request.cmd == "sleep"
    }
}

fn proxy(asynchronous: bool, clock: &ManualClock) -> (Arc<dyn Handler>, Runner) {
    let (workers, runner) = FairWorkers::manual(FairConfig::new(2));
    let handler: Arc<dyn Handler> = if asynchronous {
        let parts = AsyncParts {
            workers,
            clock: Arc::new(clock.clone()),
            ids: RequestIdGenerator::from_seed([1; 32]),
            owners: OwnerKeys::from_key([2; 32]),
        };
        Arc::new(AsyncProxy::with_parts(
            Builtin,
            RegistryLimits::new(8),
            parts,
        ))
    } else {
        Arc::new(SyncProxy::with_workers(Builtin, workers))
    };
    (handler, runner)
}

fn drain(service: &mut ArkoudaService, runner: &Runner, out: &mut [u8]) {
    runner.run_ready();
    while let Some(event) = service.poll_event() {
        if debug() {
            eprintln!("event: {event:?}");
        }
    }
    for _ in 0..MAX_TRANSMITS {
        let n = service.transmit(out);
        assert!(n <= out.len());
        if n == 0 {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [seed, mode, input @ ..] = data else {
        return;
    };
    let mut now = Instant::from_millis(0);
    let clock = ManualClock::new(now);
    let (handler, runner) = proxy(mode & 1 == 1, &clock);
    let mut service = ArkoudaService::new(handler, Options::default(), now).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    service.recv(PREFACE, now).expect("the preface is valid");
    service
        .recv(&EMPTY_SETTINGS, now)
        .expect("an empty SETTINGS frame is valid");
    drain(&mut service, &runner, &mut out);
    for chunk in chunks(*seed, input) {
        let result = service.recv(chunk, now);
        if debug() {
            eprintln!("recv {} bytes: {result:?}", chunk.len());
        }
        drain(&mut service, &runner, &mut out);
        now = now + core::time::Duration::from_millis(u64::from(chunk[0]));
        clock.set(now);
        let _ = service.poll_timeout();
        service.handle_timeout(now);
        drain(&mut service, &runner, &mut out);
    }
    now = now + core::time::Duration::from_secs(3600);
    clock.set(now);
    service.handle_timeout(now);
    drain(&mut service, &runner, &mut out);
});
