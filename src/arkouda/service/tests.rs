//! The Arkouda channel against the sans-IO service, in memory: every call
//! pattern against the sync and the async proxy, lost replies and timeouts,
//! all on a fake clock with the proxies' work run by the test.

use core::time::Duration;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::*;
use crate::arkouda::clock::ManualClock;
use crate::arkouda::dispatch::{FairConfig, FairWorkers, Runner};
use crate::arkouda::owner::OwnerKeys;
use crate::arkouda::proxy::{
    AsyncParts, AsyncProxy, Backend, BackendError, BuiltinBackend, RegistryLimits, SyncProxy,
};
use crate::arkouda::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, MsgType, OpId, Outcome, PollConfig,
    RequestIdGenerator, RequestState,
};
use crate::grpc::{Client, Options};
use crate::proto::ArkoudaResponse;
use crate::sans_io::Pair;

type Chan = Channel<GrowableStorage, 16>;

const MS: Duration = Duration::from_millis(1);
const T0: Instant = Instant::from_millis(0);

/// The built-in commands; `fail` fails with a reason, and `sleep` may block
/// (so it goes to the workers) but answers at once when run.
struct TestBackend;

impl Backend for TestBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, BackendError> {
        match request.cmd.as_str() {
            "fail" => Err(BackendError::new(Code::Internal, "disk on fire")),
            "sleep" => Ok(crate::arkouda::builtin::envelope(
                "slept",
                MsgType::Normal,
                &request.user,
            )),
            _ => BuiltinBackend.execute(request, deadline),
        }
    }

    fn may_block(&self, request: &ArkoudaRequest) -> bool {
        request.cmd == "sleep"
    }
}

/// Holds back the first `getrequeststatus` answer forever: a lost reply.
struct LoseFirstStatus<H> {
    inner: H,
    held: Mutex<Vec<Responder>>,
}

impl<H: Handler> Handler for LoseFirstStatus<H> {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        let mut held = self.held.lock().unwrap();
        if request.cmd == "getrequeststatus" && held.is_empty() {
            held.push(responder);
            return;
        }
        drop(held);
        self.inner.handle(request, responder)
    }
}

enum Mode {
    Sync,
    Async(RegistryLimits),
    AsyncLosingFirstStatus,
}

fn channel_config(ordered: bool) -> ChannelConfig {
    ChannelConfig {
        call_timeout: Some(Duration::from_millis(200)),
        poll: PollConfig {
            interval: Duration::from_millis(10),
            backoff: 2,
            max_interval: Duration::from_millis(40),
            deadline: Duration::from_secs(2),
        },
        ordered,
    }
}

/// A channel and a proxy service joined in memory; the proxy's work runs
/// when the test says (or on every step with `work`).
struct Rig {
    pair: Pair<Chan, ArkoudaService>,
    runner: Runner,
    clock: ManualClock,
    work: bool,
    done: Vec<OpId>,
}

/// An outcome, owned.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Reply(String),
    Submitted(String),
    Status(&'static str),
    Finished(String),
}

/// A failure, owned.
#[derive(Debug, PartialEq, Eq)]
enum Lost {
    Arkouda(String),
    Failed(String),
    Status(Code),
    Deadline,
    Other(String),
}

fn rig_with(mode: Mode, config: ChannelConfig) -> Rig {
    let (workers, runner) = FairWorkers::manual(FairConfig::new(2));
    let clock = ManualClock::new(T0);
    let parts = |workers| AsyncParts {
        workers,
        clock: Arc::new(clock.clone()),
        ids: RequestIdGenerator::from_seed([1; 32]),
        owners: OwnerKeys::from_key([2; 32]),
    };
    let handler: Arc<dyn Handler> = match mode {
        Mode::Sync => Arc::new(SyncProxy::with_workers(TestBackend, workers)),
        Mode::Async(limits) => {
            Arc::new(AsyncProxy::with_parts(TestBackend, limits, parts(workers)))
        }
        Mode::AsyncLosingFirstStatus => Arc::new(LoseFirstStatus {
            inner: AsyncProxy::with_parts(TestBackend, RegistryLimits::default(), parts(workers)),
            held: Mutex::new(Vec::new()),
        }),
    };
    let service = ArkoudaService::new(handler, Options::default(), T0).unwrap();
    let grpc = Client::new("proxy", Options::default(), T0).unwrap();
    let ids = RequestIdGenerator::from_seed([3; 32]);
    let channel = Chan::new(grpc, "kjyost", "", config, ids).unwrap();
    Rig {
        pair: Pair::new(channel, service, T0).with_latency(MS),
        runner,
        clock,
        work: true,
        done: Vec::new(),
    }
}

fn rig(mode: Mode) -> Rig {
    rig_with(mode, channel_config(true))
}

fn async_rig() -> Rig {
    rig(Mode::Async(RegistryLimits::default()))
}

impl Rig {
    fn now(&self) -> Instant {
        self.pair.now()
    }

    /// One simulated millisecond; the proxy's clock moves with the link's.
    fn step(&mut self) {
        let next = self.pair.now() + MS;
        self.clock.set(next);
        self.pair.advance_to(next);
        if self.work && self.runner.run_ready() > 0 {
            self.pair.drive();
        }
        while let Some(ChannelEvent::Complete(op)) = self.pair.a.poll_event() {
            self.done.push(op);
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.now() < until {
            self.step();
        }
    }

    /// Steps until `op` completes, at most `limit`; whether it did.
    fn wait(&mut self, op: OpId, limit: Duration) -> bool {
        let until = self.now() + limit;
        while !self.done.contains(&op) && self.now() < until {
            self.step();
        }
        self.done.contains(&op)
    }

    /// Waits for `op` (10 simulated seconds at most), reads and frees it.
    fn outcome(&mut self, op: OpId) -> Result<Got, Lost> {
        assert!(
            self.wait(op, Duration::from_secs(10)),
            "{op:?} never completed"
        );
        self.done.retain(|&o| o != op);
        let text = |s: crate::arkouda::JsonStr<'_>| s.to_string().unwrap();
        let got = match self.pair.a.outcome(op) {
            Ok(Outcome::Reply(r)) => Ok(Got::Reply(text(r.msg))),
            Ok(Outcome::Submitted(id)) => Ok(Got::Submitted(id.into())),
            Ok(Outcome::Status(RequestState::Finished(r))) => Ok(Got::Finished(text(r.msg))),
            Ok(Outcome::Status(RequestState::Pending)) => Ok(Got::Status("PENDING")),
            Ok(Outcome::Status(RequestState::Running)) => Ok(Got::Status("RUNNING")),
            Ok(Outcome::Status(RequestState::Submitted)) => Ok(Got::Status("SUBMITTED")),
            Ok(Outcome::Status(RequestState::Failed)) => Ok(Got::Status("FAILED")),
            Ok(other) => Err(Lost::Other(std::format!("{other:?}"))),
            Err(ChannelError::Arkouda(r)) => Err(Lost::Arkouda(text(r.msg))),
            Err(ChannelError::Failed(why)) => Err(Lost::Failed(text(why))),
            Err(ChannelError::Status(s)) => Err(Lost::Status(s.code)),
            Err(ChannelError::DeadlineExceeded) => Err(Lost::Deadline),
            Err(e) => Err(Lost::Other(e.to_string())),
        };
        self.pair.a.finish(op);
        got
    }
}

fn reply(msg: &str) -> Result<Got, Lost> {
    Ok(Got::Reply(msg.into()))
}

#[test]
fn blocking_and_polling_work_against_both_proxy_modes() {
    for mode in [Mode::Sync, Mode::Async(RegistryLimits::default())] {
        let mut r = rig(mode);
        let op = r.pair.a.call("connect", "", T0).unwrap();
        assert_eq!(
            r.outcome(op),
            reply("connected to arkouda server tcp://*:5555")
        );
        let text = "a \"quoted\" \\ ✓ {json} 😀";
        let now = r.now();
        let op = r.pair.a.call_polling("echo", text, now).unwrap();
        assert_eq!(r.outcome(op), reply(text));
        let op = r.pair.a.call("echo", text, r.now()).unwrap();
        assert_eq!(r.outcome(op), reply(text));
        let op = r.pair.a.call("bogus", "", r.now()).unwrap();
        assert_eq!(
            r.outcome(op),
            Err(Lost::Arkouda("Unrecognized command: bogus".into()))
        );
        // A command that may block goes through the workers.
        let op = r.pair.a.call("sleep", "5", r.now()).unwrap();
        assert_eq!(r.outcome(op), reply("slept"));
    }
}

#[test]
fn reads_of_any_size_make_no_difference() {
    let Rig {
        pair,
        runner,
        clock,
        ..
    } = rig(Mode::Sync);
    let mut r = Rig {
        pair: pair.with_chunk(3),
        runner,
        clock,
        work: true,
        done: Vec::new(),
    };
    let op = r.pair.a.call("echo", "in pieces", T0).unwrap();
    assert_eq!(r.outcome(op), reply("in pieces"));
    let op = r.pair.a.call_polling("sleep", "1", r.now()).unwrap();
    assert_eq!(r.outcome(op), reply("slept"));
}

#[test]
fn polling_waits_for_the_work_and_finishes_soon_after_it_ran() {
    let mut r = async_rig();
    r.work = false;
    let op = r.pair.a.call_polling("echo", "polled", T0).unwrap();
    // Nothing has run: the channel keeps polling and hears PENDING.
    assert!(!r.wait(op, Duration::from_millis(500)));
    assert_eq!(r.runner.queued(), 1);
    let ran_at = r.now();
    assert_eq!(r.runner.run_ready(), 1);
    assert!(r.wait(op, Duration::from_millis(100)));
    // The next poll comes within the largest interval (plus the round trip).
    let waited = r.now() - ran_at;
    assert!(waited <= Duration::from_millis(40) + 3 * MS, "{waited:?}");
    assert_eq!(r.outcome(op), reply("polled"));
}

#[test]
fn fire_and_forget_returns_an_id_and_the_status_is_typed() {
    let mut r = async_rig();
    r.work = false;
    let op = r.pair.a.submit("echo", "later", T0).unwrap();
    let Ok(Got::Submitted(id)) = r.outcome(op) else {
        panic!("no SUBMITTED");
    };
    assert!(crate::arkouda::request_id::is_valid_request_id(&id), "{id}");
    let op = r.pair.a.status(&id, r.now()).unwrap();
    assert_eq!(r.outcome(op), Ok(Got::Status("PENDING")));
    r.runner.run_ready();
    let op = r.pair.a.status(&id, r.now()).unwrap();
    assert_eq!(r.outcome(op), Ok(Got::Finished("later".into())));
    // An id nobody submitted is NOT_FOUND, and the proxy carries on.
    let op = r
        .pair
        .a
        .status("0123456789abcdefghijklmnopqrstuv", r.now())
        .unwrap();
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::NotFound)));
    let op = r.pair.a.call("ruok", "", r.now()).unwrap();
    r.work = true;
    assert_eq!(r.outcome(op), reply("imok"));
}

#[test]
fn a_result_stays_fetchable_for_the_grace_time_then_goes() {
    let limits = RegistryLimits {
        result_grace: Duration::from_millis(300),
        ..RegistryLimits::default()
    };
    let mut r = rig(Mode::Async(limits));
    let op = r.pair.a.submit("ruok", "", T0).unwrap();
    let Ok(Got::Submitted(id)) = r.outcome(op) else {
        panic!("no SUBMITTED");
    };
    for _ in 0..2 {
        // The client lost the first reply and asks again: still there.
        let op = r.pair.a.status(&id, r.now()).unwrap();
        assert_eq!(r.outcome(op), Ok(Got::Finished("imok".into())));
    }
    r.run_for(Duration::from_millis(300));
    let op = r.pair.a.status(&id, r.now()).unwrap();
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::NotFound)));
}

#[test]
fn failures_are_reported_with_the_reason() {
    let mut r = async_rig();
    let op = r.pair.a.call_polling("fail", "", T0).unwrap();
    assert_eq!(r.outcome(op), Err(Lost::Failed("disk on fire".into())));
    let op = r.pair.a.submit("fail", "", r.now()).unwrap();
    let Ok(Got::Submitted(id)) = r.outcome(op) else {
        panic!("no SUBMITTED");
    };
    let op = r.pair.a.status(&id, r.now()).unwrap();
    assert_eq!(r.outcome(op), Ok(Got::Status("FAILED")));
    // The sync proxy answers the backend's failure as a gRPC status.
    let mut r = rig(Mode::Sync);
    let op = r.pair.a.call("fail", "", T0).unwrap();
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::Internal)));
}

#[test]
fn a_full_registry_is_resource_exhausted() {
    let mut limits = RegistryLimits::new(2);
    limits.per_owner_entries = 2;
    let mut r = rig_with(Mode::Async(limits), channel_config(false));
    r.work = false;
    for _ in 0..2 {
        let op = r.pair.a.submit("sleep", "1", r.now()).unwrap();
        assert!(matches!(r.outcome(op), Ok(Got::Submitted(_))));
    }
    let op = r.pair.a.submit("ruok", "", r.now()).unwrap();
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::ResourceExhausted)));
}

#[test]
fn an_ordered_channel_sends_a_command_only_after_the_previous_finished() {
    let mut r = async_rig();
    r.work = false;
    let first = r.pair.a.submit("sleep", "300", T0).unwrap();
    let second = r.pair.a.submit("echo", "second", T0).unwrap();
    assert!(r.wait(first, Duration::from_millis(50)));
    // The second waits while the first is still pending on the proxy.
    assert!(!r.wait(second, Duration::from_millis(500)));
    r.runner.run_ready();
    assert!(r.wait(second, Duration::from_millis(100)));
    assert!(matches!(r.outcome(first), Ok(Got::Submitted(_))));
    assert!(matches!(r.outcome(second), Ok(Got::Submitted(_))));

    // Unordered, both are submitted at once.
    let mut r = rig_with(
        Mode::Async(RegistryLimits::default()),
        channel_config(false),
    );
    r.work = false;
    let a = r.pair.a.submit("sleep", "300", T0).unwrap();
    let b = r.pair.a.submit("echo", "x", T0).unwrap();
    assert!(r.wait(a, Duration::from_millis(10)) && r.wait(b, Duration::from_millis(10)));
    assert_eq!(r.runner.queued(), 2);
}

#[test]
fn a_lost_status_reply_is_retried_after_the_call_timeout() {
    let mut r = rig(Mode::AsyncLosingFirstStatus);
    let op = r.pair.a.call_polling("echo", "survived", T0).unwrap();
    assert!(
        !r.wait(op, Duration::from_millis(150)),
        "the first poll got no answer"
    );
    // The call timeout (200 ms) ends the lost poll; the next one answers.
    assert!(r.wait(op, Duration::from_millis(150)));
    assert_eq!(r.outcome(op), reply("survived"));
}

#[test]
fn a_reply_lost_on_the_link_ends_at_the_call_timeout() {
    let mut r = rig(Mode::Sync);
    let op = r.pair.a.call("echo", "gone", T0).unwrap();
    // The request arrives after 1 ms and is answered at once; the answer
    // is on the link when the link drops it.
    r.pair.advance_to(T0 + MS);
    r.pair.lose_in_flight();
    assert!(!r.wait(op, Duration::from_millis(190)));
    assert!(r.wait(op, Duration::from_millis(20)));
    assert!(r.now() >= T0 + Duration::from_millis(200));
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::DeadlineExceeded)));
}

#[test]
fn a_blocking_call_whose_work_never_runs_times_out() {
    let mut r = rig(Mode::Sync);
    r.work = false;
    let op = r.pair.a.call("sleep", "10", T0).unwrap();
    assert!(r.wait(op, Duration::from_millis(250)));
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::DeadlineExceeded)));
    // The queued job answers a call nobody waits for: nothing breaks.
    assert_eq!(r.runner.run_ready(), 1);
    r.run_for(Duration::from_millis(5));
    let op = r.pair.a.call("ruok", "", r.now()).unwrap();
    assert_eq!(r.outcome(op), reply("imok"));
}

#[test]
fn polling_gives_up_at_its_deadline() {
    let mut config = channel_config(true);
    config.poll.deadline = Duration::from_millis(300);
    let mut r = rig_with(Mode::Async(RegistryLimits::default()), config);
    r.work = false;
    let op = r.pair.a.call_polling("sleep", "3000", T0).unwrap();
    assert!(!r.wait(op, Duration::from_millis(299)));
    assert!(r.wait(op, Duration::from_millis(2)));
    assert_eq!(r.outcome(op), Err(Lost::Deadline));
}

#[test]
fn a_dead_link_ends_polling_at_its_deadline_not_never() {
    let mut config = channel_config(true);
    config.poll.deadline = Duration::from_millis(500);
    let mut r = rig_with(Mode::Async(RegistryLimits::default()), config);
    r.work = false;
    let op = r.pair.a.call_polling("echo", "x", T0).unwrap();
    // SUBMITTED comes back; then every byte either way is lost, so each
    // status poll ends at the call timeout and is tried again.
    r.run_for(5 * MS);
    assert_eq!(r.runner.queued(), 1);
    for _ in 0..600 {
        r.pair.lose_in_flight();
        r.step();
        r.pair.lose_in_flight();
        if r.done.contains(&op) {
            break;
        }
    }
    assert_eq!(r.outcome(op), Err(Lost::Deadline));
    assert!(r.now() <= T0 + Duration::from_millis(501), "{:?}", r.now());
}

#[test]
fn a_submit_lost_on_the_link_ends_at_the_call_timeout() {
    let mut r = async_rig();
    r.run_for(5 * MS); // the connection is up
    let op = r.pair.a.call_polling("echo", "x", r.now()).unwrap();
    r.pair.drive();
    r.pair.lose_in_flight();
    assert!(!r.wait(op, Duration::from_millis(190)));
    assert!(r.wait(op, Duration::from_millis(20)));
    assert_eq!(r.outcome(op), Err(Lost::Status(Code::DeadlineExceeded)));
}

#[test]
fn not_an_arkouda_request_is_invalid_argument_and_the_handler_never_sees_it() {
    let seen = Arc::new(Mutex::new(0usize));
    let counted = seen.clone();
    let handler = Arc::new(move |_: ArkoudaRequest, r: Responder| {
        *counted.lock().unwrap() += 1;
        r.reply(ArkoudaResponse::default());
    });
    let service = ArkoudaService::new(handler, Options::default(), T0).unwrap();
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), T0).unwrap();
    let mut pair = Pair::new(client, service, T0);
    // Field 1 with wire type 7 does not exist.
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &[0x0f, 0x00], &[], None, T0)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.a.response(call).unwrap_err().code,
        Code::InvalidArgument
    );
    assert_eq!(*seen.lock().unwrap(), 0);
    assert!(matches!(
        pair.b.poll_event(),
        Some(ServiceEvent::Refused {
            code: Code::InvalidArgument,
            ..
        })
    ));
    // A responder dropped unanswered answers INTERNAL.
    let service = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0).unwrap();
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), T0).unwrap();
    let mut pair = Pair::new(client, service, T0);
    let request = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "ruok".into(),
        ..Default::default()
    };
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    pair.drive();
    assert_eq!(pair.a.response(call).unwrap_err().code, Code::Internal);
    assert_eq!(pair.b.poll_event(), Some(ServiceEvent::Request(call)));
    assert_eq!(pair.b.active_calls(), 0);
}

#[test]
fn an_answer_from_another_thread_wakes_the_driver_and_goes_out_on_transmit() {
    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let wakes = Arc::new(Count(Default::default()));
    let held = Arc::new(Mutex::new(None));
    let keep = held.clone();
    let handler = Arc::new(move |_: ArkoudaRequest, r: Responder| {
        *keep.lock().unwrap() = Some(r);
    });
    let service = ArkoudaService::new(handler, Options::default(), T0)
        .unwrap()
        .with_wake(wakes.clone());
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), T0).unwrap();
    let mut pair = Pair::new(client, service, T0);
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &[], &[], None, T0)
        .unwrap();
    pair.drive();
    let responder = held.lock().unwrap().take().unwrap();
    assert!(pair.a.response(call).is_err(), "not answered yet");
    std::thread::spawn(move || {
        responder.reply(ArkoudaResponse {
            message: "late".into(),
            ..Default::default()
        })
    })
    .join()
    .unwrap();
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    pair.drive();
    let bytes = pair.a.response(call).unwrap();
    assert_eq!(ArkoudaResponse::decode(bytes).unwrap().message, "late");
}

#[test]
fn a_request_decoded_into_an_earlier_ones_memory_carries_nothing_of_it() {
    // Each call's handler sees exactly its request, and an empty buffer for
    // its reply, though both reuse the memory of the call before (another
    // user's, here).
    type Seen = (ArkoudaRequest, String, usize);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let handler = Arc::new(move |request: ArkoudaRequest, mut r: Responder| {
        let mut buffer = r.take_buffer();
        let (text, capacity) = (buffer.clone(), buffer.capacity());
        log.lock().unwrap().push((request.clone(), text, capacity));
        buffer.push_str("reply to ");
        buffer.push_str(&request.args);
        let response = ArkoudaResponse {
            message: buffer,
            user: Some(request.user.clone()),
            ..Default::default()
        };
        if request.cmd == "plain" {
            r.reply(response)
        } else {
            r.reply_with_request(response, request)
        }
    });
    let service = ArkoudaService::new(handler, Options::default(), T0).unwrap();
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), T0).unwrap();
    let mut pair = Pair::new(client, service, T0);
    let alice = ArkoudaRequest {
        user: "alice".into(),
        token: "alice-secret-token".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        args: "a".repeat(100),
        request_id: Some("r-1".into()),
        payload: std::vec![7; 50],
        ..Default::default()
    };
    let bob = ArkoudaRequest {
        user: "bob".into(),
        cmd: "ruok".into(),
        ..Default::default()
    };
    let carol = ArkoudaRequest {
        user: "carol".into(),
        cmd: "plain".into(),
        args: "c".into(),
        ..Default::default()
    };
    for request in [&alice, &bob, &carol, &bob] {
        let call = pair
            .a
            .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
            .unwrap();
        pair.drive();
        let response = ArkoudaResponse::decode(pair.a.response(call).unwrap()).unwrap();
        assert_eq!(response.message, std::format!("reply to {}", request.args));
        assert_eq!(response.user.as_deref(), Some(&*request.user));
    }
    let seen = seen.lock().unwrap();
    let got: Vec<&ArkoudaRequest> = seen.iter().map(|(r, _, _)| r).collect();
    assert_eq!(got, [&alice, &bob, &carol, &bob]);
    assert!(seen.iter().all(|(_, text, _)| text.is_empty()));
    // Bob's reply was written into the memory of Alice's.
    assert!(seen[1].2 >= "reply to ".len() + 100, "{}", seen[1].2);
}

#[test]
fn a_streamed_answer_for_a_connection_that_is_gone_stops_its_writer() {
    // Two calls held by the handler; one answer streams before the
    // connection goes (queued, never collected), one after. Each pipe is
    // aborted, so a backend writing an array into it stops rather than
    // waiting for a reader that will never come.
    let (mut pair, held) = holding_service(T0);
    for _ in 0..2 {
        pair.a
            .start_call(HANDLE_REQUEST_PATH, &ruok(), &[], None, T0)
            .unwrap();
    }
    pair.drive();
    let mut responders = core::mem::take(&mut *held.lock().unwrap());
    assert_eq!(responders.len(), 2);
    let late = responders.pop().unwrap();
    let early = responders.pop().unwrap();
    let queued = early.stream(ArkoudaResponse::default(), 1 << 20, 1024);
    assert!(
        queued.aborted().is_none(),
        "not aborted while the service lives"
    );
    drop(pair);
    let after = late.stream(ArkoudaResponse::default(), 1 << 20, 1024);
    for pipe in [queued, after] {
        let aborted = pipe.aborted().expect("the pipe is aborted");
        assert_eq!(aborted.code, Code::Cancelled);
        assert!(pipe.push(std::vec![1, 2, 3]).is_err());
    }
}

type ServicePair = Pair<Client<GrowableStorage>, ArkoudaService>;

/// A service whose handler keeps every responder, for the test to answer.
fn holding_service(now: Instant) -> (ServicePair, Arc<Mutex<Vec<Responder>>>) {
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let handler = Arc::new(move |_: ArkoudaRequest, r: Responder| {
        keep.lock().unwrap().push(r);
    });
    let service = ArkoudaService::new(handler, Options::default(), now).unwrap();
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), now).unwrap();
    (Pair::new(client, service, now), held)
}

fn ruok() -> Vec<u8> {
    ArkoudaRequest {
        user: "kjyost".into(),
        token: "secret-token".into(),
        cmd: "ruok".into(),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn health_check_answers_from_its_cell_and_reflection_answers_each_request() {
    use crate::ops::{health, reflection};
    let cell: &'static Health =
        std::boxed::Box::leak(std::boxed::Box::new(Health::new(ServingStatus::Serving)));
    let (mut pair, _) = holding_service(T0);
    pair.b = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0)
        .unwrap()
        .with_health(cell);
    let ask = |pair: &mut ServicePair, path, body: &[u8]| {
        let call = pair.a.start_call(path, body, &[], None, T0).unwrap();
        pair.drive();
        pair.a
            .response(call)
            .map(<[u8]>::to_vec)
            .map_err(|s| s.code)
    };
    assert_eq!(
        ask(&mut pair, health::CHECK_PATH, &[]),
        Ok(std::vec![0x08, 0x01])
    );
    cell.set(ServingStatus::NotServing);
    assert_eq!(
        ask(&mut pair, health::CHECK_PATH, &[]),
        Ok(std::vec![0x08, 0x02])
    );
    let other = health::HealthCheckRequest {
        service: "other.Service".into(),
    };
    assert_eq!(
        ask(&mut pair, health::CHECK_PATH, &other.encode_to_vec()),
        Err(Code::NotFound)
    );
    assert_eq!(
        ask(&mut pair, health::CHECK_PATH, &[0xff]),
        Err(Code::InvalidArgument)
    );
    // Reflection: one answer per request, the stream ends OK at the half-close.
    let list = reflection::ServerReflectionRequest {
        host: String::new(),
        ask: Some(reflection::Ask::ListServices(String::new())),
    };
    for path in [reflection::V1_PATH, reflection::V1ALPHA_PATH] {
        let answer = ask(&mut pair, path, &list.encode_to_vec()).unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.contains("arkouda.Arkouda"), "{path}: {text}");
        assert_eq!(ask(&mut pair, path, &[0xff]), Err(Code::InvalidArgument));
    }
    // Health checks are not Arkouda calls: the handler never saw one.
    assert_eq!(pair.b.poll_event(), None);
}

#[test]
fn a_drain_lets_calls_finish_then_cancels_the_rest_unavailable_and_counts_it_all() {
    let metrics: &'static Metrics = std::boxed::Box::leak(std::boxed::Box::new(Metrics::new()));
    let drain = Arc::new(Drain::new());
    let (mut pair, held) = holding_service(T0);
    pair.b = {
        let keep = held.clone();
        let handler = Arc::new(move |_: ArkoudaRequest, r: Responder| {
            keep.lock().unwrap().push(r);
        });
        ArkoudaService::new(handler, Options::default(), T0)
            .unwrap()
            .with_metrics(metrics)
            .with_drain(drain.clone())
    };
    assert_eq!(drain.connections(), 1);
    let first = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &ruok(), &[], None, T0)
        .unwrap();
    let second = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &ruok(), &[], None, T0)
        .unwrap();
    pair.drive();
    assert_eq!(held.lock().unwrap().len(), 2);
    assert!(metrics.encode().contains("arkwire_calls_in_flight 2"));
    drain.start();
    pair.drive();
    // GOAWAY is out: a call started now is not taken.
    let late = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &ruok(), &[], None, T0);
    pair.drive();
    if let Ok(late) = late {
        assert!(pair.a.response(late).is_err());
    }
    assert_eq!(
        held.lock().unwrap().len(),
        2,
        "the late call reached the handler"
    );
    // The first call finishes within the grace.
    let r = held.lock().unwrap().remove(0);
    r.reply(ArkoudaResponse {
        message: "imok".into(),
        ..Default::default()
    });
    pair.drive();
    assert!(pair.a.response(first).is_ok());
    assert!(!pair.b.is_closed(), "a call is still in flight");
    // The grace ends: the second is answered UNAVAILABLE, the connection ends.
    drain.expire();
    pair.drive();
    assert_eq!(pair.a.response(second).unwrap_err().code, Code::Unavailable);
    assert!(pair.b.is_closed());
    // Its handler answering late changes nothing.
    held.lock()
        .unwrap()
        .remove(0)
        .reply(ArkoudaResponse::default());
    pair.drive();
    let text = metrics.encode();
    for line in [
        "arkwire_calls_total{command=\"ruok\",code=\"OK\"} 1",
        "arkwire_calls_total{command=\"ruok\",code=\"UNAVAILABLE\"} 1",
        "arkwire_calls_in_flight 0",
        "arkwire_connections 1",
        "arkwire_call_duration_seconds_count 2",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    drop(pair);
    assert!(metrics.encode().contains("arkwire_connections 0"));
    assert_eq!(drain.connections(), 0);
}

#[test]
fn a_connection_made_during_a_drain_closes_at_once() {
    let drain = Arc::new(Drain::new());
    drain.start();
    let (mut pair, held) = holding_service(T0);
    pair.b = std::mem::replace(
        &mut pair.b,
        ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0).unwrap(),
    )
    .with_drain(drain.clone());
    pair.drive();
    assert!(pair.b.is_closed());
    assert!(held.lock().unwrap().is_empty());
}

#[test]
fn a_connection_error_counts_as_a_defence_under_its_reason() {
    let metrics: &'static Metrics = std::boxed::Box::leak(std::boxed::Box::new(Metrics::new()));
    let mut service = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0)
        .unwrap()
        .with_metrics(metrics);
    let err = service
        .recv(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", T0)
        .unwrap_err();
    let line = std::format!("arkwire_defences_total{{reason=\"{}\"}} 1", err.reason);
    let text = metrics.encode();
    assert!(text.contains(&line), "{line} missing in\n{text}");
}

/// A body of length-prefixed messages, split.
fn messages(mut body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push(body[5..5 + len].to_vec());
        body = &body[5 + len..];
    }
    out
}

#[test]
fn health_watch_sends_the_status_now_and_on_each_change_until_the_drain() {
    use crate::ops::health;
    let cell: &'static Health =
        std::boxed::Box::leak(std::boxed::Box::new(Health::new(ServingStatus::Serving)));
    let drain = Arc::new(Drain::new());
    let (mut pair, _) = holding_service(T0);
    pair.b = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0)
        .unwrap()
        .with_health(cell)
        .with_drain(drain.clone());
    let watch = pair
        .a
        .start_call(health::WATCH_PATH, &[], &[], None, T0)
        .unwrap();
    let unknown = health::HealthCheckRequest {
        service: "other.Service".into(),
    };
    let other = pair
        .a
        .start_call(health::WATCH_PATH, &unknown.encode_to_vec(), &[], None, T0)
        .unwrap();
    pair.drive();
    let body = |pair: &ServicePair, call: CallId| {
        messages(pair.a.connection().stream(call.0).unwrap().body())
    };
    assert_eq!(body(&pair, watch), [std::vec![0x08, 0x01]]);
    assert_eq!(
        body(&pair, other),
        [std::vec![0x08, 0x03]],
        "SERVICE_UNKNOWN"
    );
    assert_eq!(pair.a.poll_event(), None, "the streams stay open");
    // No change, no message; a change is seen within the watch interval.
    pair.advance(Duration::from_millis(250));
    assert_eq!(body(&pair, watch).len(), 1);
    cell.set(ServingStatus::NotServing);
    pair.advance(Duration::from_millis(100));
    cell.set(ServingStatus::Serving);
    pair.advance(Duration::from_millis(100));
    assert_eq!(
        body(&pair, watch),
        [
            std::vec![0x08, 0x01],
            std::vec![0x08, 0x02],
            std::vec![0x08, 0x01]
        ]
    );
    // The drain: NOT_SERVING, then the stream ends UNAVAILABLE.
    cell.set_draining();
    drain.start();
    pair.drive();
    assert_eq!(body(&pair, watch).last(), Some(&std::vec![0x08, 0x02]));
    assert_eq!(pair.a.response(watch).unwrap_err().code, Code::Unavailable);
    assert_eq!(pair.a.response(other).unwrap_err().code, Code::Unavailable);
    assert_eq!(pair.b.poll_timeout(), None, "nothing left to watch");
    assert!(pair.b.is_closed());
}

#[test]
fn a_cancelled_watch_is_forgotten_and_watches_are_bounded() {
    use crate::ops::health;
    let (mut pair, _) = holding_service(T0);
    pair.b = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0)
        .unwrap()
        .with_options(ServiceOptions {
            max_watches: 2,
            ..ServiceOptions::default()
        });
    // Watches whose client gives up after a second.
    let calls: Vec<CallId> = (0..3)
        .map(|_| {
            let timeout = Some(Duration::from_secs(1));
            pair.a
                .start_call(health::WATCH_PATH, &[], &[], timeout, T0)
                .unwrap()
        })
        .collect();
    pair.drive();
    assert_eq!(
        pair.a.response(calls[2]).unwrap_err().code,
        Code::ResourceExhausted
    );
    assert!(pair.b.poll_timeout().is_some());
    assert_eq!(pair.b.active_calls(), 2);
    pair.advance(Duration::from_millis(1100));
    assert_eq!(pair.b.active_calls(), 0);
    assert_eq!(pair.b.poll_timeout(), None, "no watch left to poll for");
}

/// A machine that stops answering once `mute` is set: a half-open peer (a
/// dead host, a dropped NAT mapping) whose bytes never arrive again.
struct Mute<M> {
    inner: M,
    mute: bool,
}

impl<M: crate::sans_io::SansIo> crate::sans_io::SansIo for Mute<M> {
    type Event = M::Event;
    type Error = M::Error;
    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), M::Error> {
        if self.mute {
            return Ok(());
        }
        self.inner.recv(input, now)
    }
    fn transmit(&mut self, out: &mut [u8]) -> usize {
        if self.mute {
            return 0;
        }
        self.inner.transmit(out)
    }
    fn poll_event(&mut self) -> Option<M::Event> {
        self.inner.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.mute {
            return None;
        }
        self.inner.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now)
    }
}

fn keepalive_pair() -> Pair<Mute<Client<GrowableStorage>>, ArkoudaService> {
    let service = ArkoudaService::new(Arc::new(|_, _| {}), Options::default(), T0)
        .unwrap()
        .with_options(ServiceOptions {
            keepalive_interval: Some(Duration::from_secs(10)),
            keepalive_timeout: Duration::from_secs(5),
            ..ServiceOptions::default()
        });
    let client = Client::<GrowableStorage>::new("proxy", Options::default(), T0).unwrap();
    let mut pair = Pair::new(
        Mute {
            inner: client,
            mute: false,
        },
        service,
        T0,
    )
    .with_latency(MS);
    pair.drive();
    pair.advance(MS * 10);
    pair
}

#[test]
fn keepalive_closes_a_silent_half_open_client_within_interval_and_timeout() {
    let mut pair = keepalive_pair();
    // The handshake is done (the client acknowledged our SETTINGS); from
    // now on nothing it would send arrives.
    pair.a.mute = true;
    let silent_since = pair.now();
    pair.advance_to(silent_since + Duration::from_millis(14_900));
    assert!(!pair.b.is_closed(), "closed before interval + timeout");
    assert!(!pair.b.keepalive_failed());
    pair.advance_to(silent_since + Duration::from_millis(15_100));
    assert!(pair.b.keepalive_failed());
    assert!(pair.b.is_closed(), "still open past interval + timeout");
    assert_eq!(pair.b.poll_timeout(), None);
    let closed = core::iter::from_fn(|| pair.b.poll_event())
        .any(|e| matches!(e, ServiceEvent::Closed { .. }));
    assert!(closed);
}

#[test]
fn keepalive_leaves_a_live_idle_client_alone_and_calls_still_work() {
    let mut pair = keepalive_pair();
    // Ten minutes of idleness: PINGs go out and are answered.
    pair.advance(Duration::from_secs(600));
    assert!(!pair.b.is_closed());
    assert!(!pair.b.keepalive_failed());
    let call = pair
        .a
        .inner
        .start_call(crate::ops::health::CHECK_PATH, &[], &[], None, pair.now())
        .unwrap();
    pair.advance(MS * 10);
    assert_eq!(pair.a.inner.response(call), Ok(&[0x08, 0x01][..]));
}

#[test]
fn without_keepalive_a_silent_client_is_not_pinged() {
    let (mut pair, _) = holding_service(T0);
    pair.drive();
    assert_eq!(pair.b.poll_timeout(), None, "no keepalive timer by default");
}

/// A payload whose every byte says where it is (mod 251).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A streamed request as the handler got it.
type Taken = (ArkoudaRequest, crate::arkouda::pipe::Upload, Responder);

/// Keeps each streamed request for the test; whole requests are answered
/// UNIMPLEMENTED, so a test sees which way a request went.
#[derive(Default)]
struct Taker(Mutex<Vec<Taken>>);

impl Handler for Taker {
    fn handle(&self, _: ArkoudaRequest, responder: Responder) {
        responder.error(Code::Unimplemented, "assembled whole");
    }
    fn takes_streamed(&self) -> bool {
        true
    }
    fn handle_streamed(
        &self,
        request: ArkoudaRequest,
        upload: crate::arkouda::pipe::Upload,
        responder: Responder,
    ) {
        // Reads at once, as a worker that took the call does.
        upload.pipe.attach_reader(None);
        self.0.lock().unwrap().push((request, upload, responder));
    }
}

impl Taker {
    fn take(&self) -> Taken {
        let mut taken = self.0.lock().unwrap();
        assert_eq!(taken.len(), 1, "one streamed request expected");
        taken.pop().unwrap()
    }
}

const STREAM_ABOVE: usize = 64 * 1024;
const PIPE: usize = 128 * 1024;
const BIG: usize = 16 << 20;

fn big_options() -> Options {
    Options {
        max_message_size: BIG,
        ..Options::default()
    }
}

/// A service streaming requests above 64 KiB through 128 KiB pipes to
/// `handler`.
fn streaming_service(handler: Arc<dyn Handler>) -> ArkoudaService {
    ArkoudaService::new(handler, big_options(), T0)
        .unwrap()
        .with_options(ServiceOptions {
            stream_above: STREAM_ABOVE,
            pipe_capacity: PIPE,
            max_assembled: MAX_ASSEMBLED,
            ..ServiceOptions::default()
        })
}

/// The largest request the streaming service assembles whole when it cannot
/// pass through in parts.
const MAX_ASSEMBLED: usize = 512 << 10;

fn streaming_pair(handler: Arc<dyn Handler>) -> ServicePair {
    let client = Client::<GrowableStorage>::new("proxy", big_options(), T0).unwrap();
    Pair::new(client, streaming_service(handler), T0)
}

fn big_request(payload: Vec<u8>) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "kjyost".into(),
        token: "secret-token".into(),
        cmd: "array".into(),
        format: "BINARY".into(),
        size: 3,
        args: "{\"dtype\":\"int64\"}".into(),
        request_id: Some("r1".into()),
        recv_binary: false,
        payload,
    }
}

/// Drives until the client's call is complete; the client's DATA events
/// are read as they come (that returns its window to the server).
fn complete(pair: &mut ServicePair, call: CallId) {
    for _ in 0..10_000 {
        pair.drive();
        while let Some(event) = pair.a.poll_event() {
            if event == crate::grpc::ClientEvent::Complete(call) {
                return;
            }
        }
    }
    panic!("the call never completed");
}

#[test]
fn a_large_request_reaches_the_handler_in_parts_within_a_window() {
    let taker = Arc::new(Taker::default());
    let mut pair = streaming_pair(taker.clone());
    let payload = pattern(8 << 20);
    let request = big_request(payload.clone());
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    pair.drive();
    let (head, upload, responder) = taker.take();
    assert_eq!(
        head,
        ArkoudaRequest {
            payload: Vec::new(),
            ..request
        },
        "every field before the payload"
    );
    assert_eq!(upload.len, payload.len() as u64);
    assert_eq!(pair.b.poll_event(), Some(ServiceEvent::Request(call)));
    // While it passes, the service looks at the pipe again soon even if no
    // wake comes from the handler's thread.
    let soon = pair
        .b
        .poll_timeout()
        .expect("a timer while an upload passes");
    assert!(soon <= pair.now() + core::time::Duration::from_millis(50));
    // The handler reads slowly: one chunk per turn of the connection.
    let window = crate::h2::Config::default().initial_window_size as usize;
    let mut got = Vec::new();
    let mut most_held = 0;
    loop {
        let held = pair.b.server().connection().body_bytes();
        most_held = most_held.max(held);
        assert!(
            held <= window + 16 * 1024,
            "the service holds {held} bytes of the request"
        );
        assert!(upload.pipe.queued() <= PIPE);
        match upload.pipe.pop() {
            crate::arkouda::pipe::Popped::Chunk(chunk) => {
                got.extend_from_slice(&chunk);
                upload.pipe.recycle(chunk);
            }
            crate::arkouda::pipe::Popped::Empty => {}
            crate::arkouda::pipe::Popped::End => break,
            crate::arkouda::pipe::Popped::Aborted(a) => panic!("aborted: {a:?}"),
        }
        pair.drive();
    }
    assert!(most_held > 0, "the bound was never put to the test");
    assert_eq!(got.len(), payload.len());
    assert!(
        got == payload,
        "the payload arrived changed or out of order"
    );
    responder.reply(ArkoudaResponse {
        message: "stored".into(),
        ..Default::default()
    });
    complete(&mut pair, call);
    let answer = ArkoudaResponse::decode(pair.a.response(call).unwrap()).unwrap();
    assert_eq!(answer.message, "stored");
    assert_eq!(pair.b.active_calls(), 0);
    assert_eq!(pair.b.server().connection().body_bytes(), 0);
}

#[test]
fn a_large_request_whose_payload_is_not_last_is_resource_exhausted() {
    let taker = Arc::new(Taker::default());
    let mut pair = streaming_pair(taker.clone());
    let mut bytes = big_request(pattern(1 << 20)).encode_to_vec();
    // `user` again, after the payload: valid protobuf, but the payload
    // cannot be passed on as it comes.
    bytes.extend_from_slice(&[0x0a, 1, b'u']);
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &bytes, &[], None, T0)
        .unwrap();
    complete(&mut pair, call);
    let status = pair.a.response(call).unwrap_err();
    assert_eq!(status.code, Code::ResourceExhausted, "{status:?}");
    assert!(taker.0.lock().unwrap().is_empty(), "the handler saw it");
    assert!(matches!(
        pair.b.poll_event(),
        Some(ServiceEvent::Refused {
            code: Code::ResourceExhausted,
            ..
        })
    ));
    // The rest of the request, sent after the answer, is dropped and the
    // stream closes rather than wait for a window nobody opens.
    pair.drive();
    assert_eq!(pair.b.active_calls(), 0);
    assert_eq!(pair.b.server().connection().body_bytes(), 0);
    // The same shape below the bound is assembled and handled whole, past
    // stream_above as well as below it (the handler's plain `handle`
    // answers UNIMPLEMENTED).
    for len in [1000, 300 << 10] {
        let mut small = big_request(pattern(len)).encode_to_vec();
        small.extend_from_slice(&[0x0a, 1, b'u']);
        let call = pair
            .a
            .start_call(HANDLE_REQUEST_PATH, &small, &[], None, T0)
            .unwrap();
        complete(&mut pair, call);
        assert_eq!(pair.a.response(call).unwrap_err().code, Code::Unimplemented);
    }
    assert!(taker.0.lock().unwrap().is_empty(), "none was streamed");
    // So is a request without a payload whose text alone passes
    // stream_above (a large `args`).
    let text = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "echo".into(),
        args: "x".repeat(200 << 10),
        ..ArkoudaRequest::default()
    };
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &text.encode_to_vec(), &[], None, T0)
        .unwrap();
    complete(&mut pair, call);
    assert_eq!(pair.a.response(call).unwrap_err().code, Code::Unimplemented);
}

#[test]
fn a_client_that_resets_mid_upload_aborts_the_pipe_cancelled() {
    let taker = Arc::new(Taker::default());
    let mut pair = streaming_pair(taker.clone());
    let request = big_request(pattern(8 << 20));
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    pair.drive();
    let (_, upload, responder) = taker.take();
    assert!(matches!(
        upload.pipe.pop(),
        crate::arkouda::pipe::Popped::Chunk(_)
    ));
    assert!(upload.pipe.aborted().is_none());
    pair.a.finish_call(call); // RST_STREAM CANCEL
    pair.drive();
    let why = upload.pipe.aborted().expect("the pipe was not aborted");
    assert_eq!(why.code, Code::Cancelled);
    assert!(matches!(
        upload.pipe.pop(),
        crate::arkouda::pipe::Popped::Aborted(_)
    ));
    assert_eq!(upload.pipe.queued(), 0, "waiting bytes are dropped");
    assert_eq!(pair.b.server().connection().body_bytes(), 0);
    assert_eq!(pair.b.active_calls(), 0);
    // The handler's late answer goes nowhere, harmlessly.
    responder.error(Code::Cancelled, "gave up");
    pair.drive();
    let events: Vec<ServiceEvent> = core::iter::from_fn(|| pair.b.poll_event()).collect();
    assert!(
        events.contains(&ServiceEvent::Cancelled(call)),
        "{events:?}"
    );
}

#[test]
fn a_request_stream_that_ends_before_its_payload_is_internal_and_aborts_the_pipe() {
    use crate::h2::conn::Connection;
    use crate::h2::Role;
    let taker = Arc::new(Taker::default());
    let client =
        Connection::<GrowableStorage>::new(Role::Client, crate::h2::Config::default(), T0).unwrap();
    let mut pair = Pair::new(client, streaming_service(taker.clone()), T0);
    let message = big_request(pattern(1 << 20)).encode_to_vec();
    let prefix = crate::grpc::message::prefix(message.len() as u32);
    let id = pair
        .a
        .open_stream(
            [
                (&b":method"[..], &b"POST"[..]),
                (b":scheme", b"http"),
                (b":path", HANDLE_REQUEST_PATH.as_bytes()),
                (b":authority", b"proxy"),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
            ],
            false,
        )
        .unwrap();
    // Half the message, then END_STREAM.
    pair.a
        .send_data(id, &[&prefix, &message[..message.len() / 2]], true)
        .unwrap();
    pair.drive();
    let (_, upload, _responder) = taker.take();
    let mut got = 0;
    let why = loop {
        match upload.pipe.pop() {
            crate::arkouda::pipe::Popped::Chunk(chunk) => got += chunk.len(),
            crate::arkouda::pipe::Popped::Aborted(why) => break why,
            other => assert_eq!(other, crate::arkouda::pipe::Popped::Empty),
        }
        pair.drive();
        assert!(got <= message.len(), "read past what was sent");
    };
    assert_eq!(why.code, Code::Internal, "{why:?}");
    assert!(
        why.message.contains("before the end of its payload"),
        "{why:?}"
    );
    while pair.a.poll_event().is_some() {}
    let stream = pair.a.stream(id).expect("the stream is gone");
    let status = stream
        .trailers()
        .unwrap_or(stream.headers())
        .get(b"grpc-status");
    assert_eq!(status, Some(&b"13"[..]), "INTERNAL");
    assert_eq!(pair.b.active_calls(), 0);
}

#[test]
fn a_streamed_response_arrives_whole_and_an_abort_ends_it_with_its_status() {
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let handler = Arc::new(move |_: ArkoudaRequest, r: Responder| {
        keep.lock().unwrap().push(r);
    });
    let mut pair = streaming_pair(handler);
    let payload = pattern(3 << 20);
    let head = ArkoudaResponse {
        message: "binary follows".into(),
        user: Some("kjyost".into()),
        ..Default::default()
    };
    for abort_at in [None, Some(1 << 20)] {
        let call = pair
            .a
            .start_call(HANDLE_REQUEST_PATH, &ruok(), &[], None, T0)
            .unwrap();
        pair.drive();
        let responder = held.lock().unwrap().pop().unwrap();
        let pipe = responder.stream(head.clone(), payload.len() as u64, PIPE);
        let mut at = 0;
        let mut turns = 0;
        while at < payload.len() {
            if abort_at.is_some_and(|stop| at >= stop) {
                pipe.abort(Code::Unavailable, "arkouda_server went away");
                break;
            }
            let n = pipe.room().min(payload.len() - at).min(40_000);
            if n > 0 {
                let mut chunk = pipe.chunk();
                chunk.extend_from_slice(&payload[at..at + n]);
                pipe.push(chunk).unwrap();
                at += n;
            }
            assert!(pipe.queued() <= PIPE);
            pair.drive();
            while pair.a.poll_event().is_some() {}
            turns += 1;
            assert!(turns < 100_000, "the response stalled at {at}");
        }
        if abort_at.is_none() {
            pipe.finish();
        }
        complete(&mut pair, call);
        match abort_at {
            None => {
                let bytes = pair.a.response(call).unwrap();
                let answer = ArkoudaResponse::decode(bytes).unwrap();
                assert_eq!(answer.message, head.message);
                assert_eq!(answer.user, head.user);
                assert_eq!(answer.payload.len(), payload.len());
                assert!(answer.payload == payload, "payload changed");
            }
            Some(_) => {
                let status = pair.a.response(call).unwrap_err();
                assert_eq!(status.code, Code::Unavailable, "{status:?}");
                assert!(status.message().contains("arkouda_server went away"));
            }
        }
        pair.a.finish_call(call);
        assert_eq!(pair.b.active_calls(), 0);
    }
}

#[test]
fn a_handler_that_takes_no_streamed_payloads_gets_large_requests_whole() {
    // A plain closure keeps `takes_streamed`'s default: false.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler: Arc<dyn Handler> = Arc::new(move |request: ArkoudaRequest, r: Responder| {
        log.lock().unwrap().push(request.payload.len());
        r.reply(ArkoudaResponse::default());
    });
    let mut pair = streaming_pair(handler);
    let request = big_request(pattern(300 << 10));
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    complete(&mut pair, call);
    assert!(pair.a.response(call).is_ok());
    assert_eq!(*seen.lock().unwrap(), std::vec![300 << 10]);
    // Past max_assembled it is refused, naming the limit.
    let request = big_request(pattern(MAX_ASSEMBLED + 1));
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    complete(&mut pair, call);
    let status = pair.a.response(call).unwrap_err();
    assert_eq!(status.code, Code::ResourceExhausted, "{status:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_large_whole_request_and_reply_pass_without_being_held_twice() {
    // A handler of whole requests (as tonic-style servers are): the
    // payload reaches it in the buffer it arrived in, and its reply's
    // payload goes out from its own buffer as the client reads.
    let reply = pattern(3 << 20);
    let sent = reply.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_handler = seen.clone();
    let handler = move |request: ArkoudaRequest, responder: Responder| {
        *seen_by_handler.lock().unwrap() = request.payload;
        responder.reply(ArkoudaResponse {
            message: "here".into(),
            payload: sent.clone(),
            ..Default::default()
        });
    };
    let service = ArkoudaService::new(Arc::new(handler), big_options(), T0).unwrap();
    let client = Client::<GrowableStorage>::new("proxy", big_options(), T0).unwrap();
    let mut pair = Pair::new(client, service, T0);
    let payload = pattern(2 << 20);
    let request = ArkoudaRequest {
        payload: payload.clone(),
        ..big_request(Vec::new())
    };
    let call = pair
        .a
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, T0)
        .unwrap();
    let mut most_queued = 0;
    let mut done = false;
    for _ in 0..10_000 {
        pair.drive();
        most_queued = most_queued.max(pair.b.server().queued(call));
        while let Some(event) = pair.a.poll_event() {
            done |= event == crate::grpc::ClientEvent::Complete(call);
        }
        if done {
            break;
        }
    }
    assert!(done, "the call never completed");
    assert!(
        *seen.lock().unwrap() == payload,
        "the request's payload changed"
    );
    let answer = ArkoudaResponse::decode(pair.a.response(call).unwrap()).unwrap();
    assert_eq!(answer.message, "here");
    assert!(answer.payload == reply, "the reply's payload changed");
    assert!(most_queued > 0, "the reply went out");
    assert!(
        most_queued <= 2 * SEND_AHEAD,
        "{most_queued} bytes of the reply queued at once"
    );
    assert_eq!(pair.b.active_calls(), 0);
}
