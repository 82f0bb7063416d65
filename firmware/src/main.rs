//! arkwire's no-alloc gRPC client on a Cortex-M4: qemu's mps2-an386 runs
//! this program, which makes real Arkouda calls to `arkwire serve` on the
//! host and checks every answer.
//!
//! - The byte pipe is UART0 ([`uart`]): qemu puts it on a TCP chardev, and
//!   `firmware/bridge.py` joins that socket to the server's port.
//! - Time comes from TIMER0, polled ([`clock`]): call deadlines are real.
//! - Results are printed by semihosting, and the program ends with a
//!   semihosting exit: qemu exits 0 when every call was right, 1 otherwise
//!   (a panic or a fault also ends in exit 1).
//! - All memory is static and declared in [`storage`].
//!
//! `firmware/run.sh` builds it and runs it against a fresh server.

#![no_std]
#![no_main]

mod clock;
mod storage;
mod uart;

use core::time::Duration;

use arkwire::arkouda::{parse_reply, MsgType};
use arkwire::grpc::{CallId, Client, ClientEvent, Code};
use arkwire::h2::ErrorCode;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef, HANDLE_REQUEST_PATH};
use arkwire::time::Instant;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};

use clock::Clock;
use storage::{Buffers, Device};
use uart::Uart;

/// The user every request names.
const USER: &str = "firmware";
/// The `:authority` of the calls (the server does not look at it).
const AUTHORITY: &str = "arkwire-serve";
/// What `echo` sends, repeated: text with characters JSON must escape.
const PATTERN: &[u8] = b"arkwire on a Cortex-M4 says \"hello\" from C:\\uart0; ";

/// The reply to an `echo` of [`PATTERN`] fits its buffer ([`storage::ECHO_GROWTH`]).
const _: () = {
    let mut escaped = 0;
    let mut i = 0;
    while i < PATTERN.len() {
        if PATTERN[i] == b'"' || PATTERN[i] == b'\\' {
            escaped += 1;
        }
        i += 1;
    }
    assert!(escaped * 16 <= PATTERN.len());
};
/// Polls of an empty UART before the bytes gathered so far go to the connection.
const RX_IDLE_POLLS: u32 = 64;
/// The deadline of every call but the `sleep`s: ample (a 17,000-byte echo
/// takes 1 to 3 s through qemu's one-byte UART on a busy host), and short
/// enough that a lost reply fails the run inside its minute.
const DEADLINE_MS: u64 = 20_000;
/// How long past its deadline a call may go without completing before the
/// program calls the connection stuck.
const GRACE: Duration = Duration::from_secs(3);

/// What a call must come back with.
#[derive(Clone, Copy)]
enum Expect {
    /// A NORMAL reply with exactly this message.
    Normal(&'static str),
    /// A NORMAL reply whose message is the `n` bytes of [`PATTERN`] sent.
    Echo(usize),
    /// An Arkouda ERROR reply.
    ArkoudaError,
    /// The call ends with this gRPC status.
    Status(Code),
}

/// One call and its expected outcome.
struct Case {
    /// The command.
    cmd: &'static str,
    /// Its arguments (an [`Expect::Echo`] sends pattern bytes instead).
    args: &'static str,
    /// The call's deadline.
    timeout: Duration,
    /// What it must come back with.
    expect: Expect,
}

/// A call of `cmd` with `args` and a deadline of `timeout_ms`.
const fn case(cmd: &'static str, args: &'static str, timeout_ms: u64, expect: Expect) -> Case {
    Case {
        cmd,
        args,
        timeout: Duration::from_millis(timeout_ms),
        expect,
    }
}

/// An `echo` of `n` bytes of [`PATTERN`].
const fn echo(n: usize) -> Case {
    case("echo", "", DEADLINE_MS, Expect::Echo(n))
}

/// The calls, in order.
const CASES: &[Case] = &[
    case(
        "connect",
        "",
        DEADLINE_MS,
        Expect::Normal("connected to arkouda server tcp://*:5555"),
    ),
    case("ruok", "", DEADLINE_MS, Expect::Normal("imok")),
    echo(0),
    echo(100),
    echo(4_000),
    echo(16_000),
    echo(storage::ECHO_MAX),
    // Past its deadline: the server sleeps 2 s, the call may take 300 ms.
    case("sleep", "2000", 300, Expect::Status(Code::DeadlineExceeded)),
    // The connection goes on after a call's deadline passed.
    case("ruok", "", DEADLINE_MS, Expect::Normal("imok")),
    case("sleep", "50", 5_000, Expect::Normal("slept")),
    case("nosuchcommand", "", DEADLINE_MS, Expect::ArkoudaError),
    echo(storage::ECHO_MAX),
];

/// The client, the UART and the clock, driven together.
struct Link<'a> {
    client: &'a mut Client<Device>,
    uart: Uart,
    clock: Clock,
    /// What `transmit` gave, sent up to `tx_pos` of `tx_len`.
    tx: &'a mut [u8],
    tx_len: usize,
    tx_pos: usize,
    /// Bytes gathered from the UART for one `recv`.
    rx: &'a mut [u8],
    /// Bytes written to and read from the UART.
    sent: u64,
    received: u64,
}

/// Why the connection cannot go on.
enum Broken {
    /// The connection refused what the server sent.
    Input(arkwire::h2::ConnectionError),
    /// The connection closed.
    Closed(ErrorCode),
    /// A call did not complete by its deadline and the grace after it.
    Stuck,
}

impl core::fmt::Display for Broken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Broken::Input(e) => write!(f, "connection error: {e}"),
            Broken::Closed(code) => write!(f, "connection closed ({code:?})"),
            Broken::Stuck => f.write_str("call never completed"),
        }
    }
}

impl Link<'_> {
    fn now(&mut self) -> Instant {
        self.clock.now()
    }

    /// One pass: bytes out, bytes in, timers.
    fn pump(&mut self) -> Result<(), Broken> {
        if self.tx_pos == self.tx_len {
            self.tx_len = self.client.transmit(self.tx);
            self.tx_pos = 0;
        }
        let pending = self.tx.get(self.tx_pos..self.tx_len).unwrap_or(&[]);
        let n = self.uart.write(pending);
        self.tx_pos += n;
        self.sent += n as u64;

        let mut got = 0;
        let mut idle = 0;
        while got < self.rx.len() && idle < RX_IDLE_POLLS {
            match self.uart.read_byte() {
                Some(b) => {
                    self.rx[got] = b;
                    got += 1;
                    idle = 0;
                }
                None => idle += 1,
            }
        }
        let now = self.now();
        if got > 0 {
            self.received += got as u64;
            self.client
                .recv(&self.rx[..got], now)
                .map_err(Broken::Input)?;
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
        Ok(())
    }

    /// Runs the connection until `call` completes.
    fn wait(&mut self, call: CallId, give_up: Instant) -> Result<(), Broken> {
        loop {
            self.pump()?;
            while let Some(event) = self.client.poll_event() {
                match event {
                    ClientEvent::Complete(c) if c == call => return Ok(()),
                    ClientEvent::Complete(other) => self.client.finish_call(other),
                    ClientEvent::GoAway | ClientEvent::StreamsAvailable => {}
                    ClientEvent::Closed { code } => return Err(Broken::Closed(code)),
                }
            }
            if self.now() > give_up {
                return Err(Broken::Stuck);
            }
        }
    }

    /// Sends GOAWAY and what else is queued, for up to a second.
    fn close(&mut self) {
        self.client.close();
        let until = self.now() + Duration::from_secs(1);
        while self.now() < until {
            if self.pump().is_err() {
                return;
            }
            if self.tx_pos == self.tx_len && !self.client.wants_transmit() {
                return;
            }
        }
    }
}

/// Fills `args` with `n` bytes of [`PATTERN`] and returns them as text.
fn pattern_args(args: &mut [u8], n: usize) -> Option<&str> {
    let args = args.get_mut(..n)?;
    for (i, b) in args.iter_mut().enumerate() {
        *b = PATTERN[i % PATTERN.len()];
    }
    core::str::from_utf8(args).ok()
}

/// Whether `msg` unescapes to the first `n` bytes of [`PATTERN`].
fn is_pattern(msg: arkwire::arkouda::JsonStr<'_>, n: usize) -> bool {
    let mut expected = PATTERN.iter().cycle().take(n).map(|&b| char::from(b));
    let mut got = msg.chars();
    loop {
        match (got.next(), expected.next()) {
            (None, None) => return true,
            (Some(Ok(a)), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Arkouda's name for a message type.
fn msg_type_name(t: MsgType) -> &'static str {
    match t {
        MsgType::Normal => "NORMAL",
        MsgType::Warning => "WARNING",
        MsgType::Error => "ERROR",
    }
}

/// Prints one call's result; returns whether it was the expected one.
fn judge(client: &Client<Device>, call: CallId, case: &Case, label: &str, ms: u64) -> bool {
    let bytes = match (client.response(call), case.expect) {
        (Err(status), Expect::Status(code)) => {
            let ok = status.code == code;
            report(ok, label, ms, format_args!("{status}"));
            return ok;
        }
        (Err(status), _) => {
            report(false, label, ms, format_args!("{status}"));
            return false;
        }
        (Ok(bytes), _) => bytes,
    };
    let Some(response) = ArkoudaResponseRef::decode(bytes).ok() else {
        report(false, label, ms, format_args!("not an ArkoudaResponse"));
        return false;
    };
    let Some(reply) = parse_reply(response.message.as_bytes()).ok() else {
        report(false, label, ms, format_args!("not Arkouda reply JSON"));
        return false;
    };
    let kind = msg_type_name(reply.msg_type);
    match case.expect {
        Expect::Echo(n) => {
            let ok = reply.msg_type == MsgType::Normal && is_pattern(reply.msg, n);
            let back = reply.msg.chars().count();
            let verdict = if ok { "intact" } else { "NOT the bytes sent" };
            let detail = format_args!("{kind}, {back} B back, {verdict}");
            report(ok, label, ms, detail);
            ok
        }
        Expect::Normal(text) => {
            let ok = reply.msg_type == MsgType::Normal && reply.msg.eq_str(text);
            report(ok, label, ms, format_args!("{kind} \"{}\"", reply.msg));
            ok
        }
        Expect::ArkoudaError => {
            let ok = reply.msg_type == MsgType::Error;
            report(ok, label, ms, format_args!("{kind} \"{}\"", reply.msg));
            ok
        }
        Expect::Status(code) => {
            let detail = format_args!("{kind} \"{}\", expected {}", reply.msg, code.name());
            report(false, label, ms, detail);
            false
        }
    }
}

/// Prints one result line: verdict, call, time taken, what came back.
fn report(ok: bool, label: &str, ms: u64, detail: core::fmt::Arguments<'_>) {
    let verdict = if ok { "ok   " } else { "WRONG" };
    hprintln!("{verdict} {label:<40} {ms:>5} ms  {detail}");
}

/// A call's label: the command, its argument size or text, and its deadline.
fn label<'b>(case: &Case, buf: &'b mut heapless::String<64>) -> &'b str {
    use core::fmt::Write;
    buf.clear();
    let deadline = case.timeout.as_millis();
    let _ = match case.expect {
        Expect::Echo(n) => write!(buf, "{} {n} B", case.cmd),
        _ if case.args.is_empty() => write!(buf, "{}", case.cmd),
        _ => write!(buf, "{} {}", case.cmd, case.args),
    };
    let _ = write!(buf, ", deadline {deadline} ms:");
    buf.as_str()
}

/// Makes every call and prints its result; `Err` when any was wrong or not made.
fn run() -> Result<(), ()> {
    let mut clock = Clock::start();
    let uart = Uart::init();
    let now = clock.now();
    let taken = match storage::take(AUTHORITY, now) {
        Ok(t) => t,
        Err(e) => {
            hprintln!("firmware: no client: {e}");
            return Err(());
        }
    };
    let Buffers {
        tx,
        rx,
        request,
        args,
    } = taken.buffers;
    hprintln!(
        "firmware: Cortex-M4 (mps2-an386), arkwire no-alloc client; static RAM: connection {} B (one stream {} B), buffers {} B; stack used building it {} B",
        storage::CLIENT_BYTES,
        storage::STREAM_BYTES,
        storage::BUFFER_BYTES,
        stack_used()
    );
    let mut link = Link {
        client: taken.client,
        uart,
        clock,
        tx,
        tx_len: 0,
        tx_pos: 0,
        rx,
        sent: 0,
        received: 0,
    };
    let (mut right, mut wrong) = (0u32, 0u32);
    let mut text = heapless::String::<64>::new();
    let started = link.now();
    for case in CASES {
        let label = label(case, &mut text);
        let call_args = match case.expect {
            Expect::Echo(n) => pattern_args(args, n),
            _ => Some(case.args),
        };
        let Some(call_args) = call_args else {
            report(false, label, 0, format_args!("no room for the arguments"));
            wrong += 1;
            continue;
        };
        let req = ArkoudaRequestRef {
            user: USER,
            cmd: case.cmd,
            format: "STRING",
            size: -1,
            args: call_args,
            ..Default::default()
        };
        let Ok(len) = req.encode_to_slice(request) else {
            report(false, label, 0, format_args!("request does not fit"));
            wrong += 1;
            continue;
        };
        let now = link.now();
        let started = link.client.start_call(
            HANDLE_REQUEST_PATH,
            &request[..len],
            &[],
            Some(case.timeout),
            now,
        );
        let call = match started {
            Ok(call) => call,
            Err(e) => {
                report(false, label, 0, format_args!("not started: {e}"));
                wrong += 1;
                continue;
            }
        };
        if let Err(why) = link.wait(call, now + case.timeout + GRACE) {
            let ms = (link.now() - now).as_millis() as u64;
            report(false, label, ms, format_args!("{why}"));
            wrong += 1;
            break;
        }
        let ms = (link.now() - now).as_millis() as u64;
        if judge(link.client, call, case, label, ms) {
            right += 1;
        } else {
            wrong += 1;
        }
        link.client.finish_call(call);
    }
    let total = (link.now() - started).as_millis();
    link.close();
    let missing = CASES.len() as u32 - right - wrong;
    hprintln!(
        "firmware: {} B sent, {} B received over the UART in {total} ms",
        link.sent,
        link.received,
    );
    let s = sections();
    hprintln!(
        "firmware: flash {} B (.vector_table + .text {} B, .rodata {} B); static RAM {} B (.data {} B, .bss {} B); stack used {} B",
        s.text + s.rodata + s.data,
        s.text,
        s.rodata,
        s.data + s.bss,
        s.data,
        s.bss,
        stack_used()
    );
    hprintln!("firmware: {right} right, {wrong} wrong, {missing} not made");
    if wrong == 0 && missing == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// The program's sections, in bytes, from cortex-m-rt's linker symbols.
struct Sections {
    /// The vector table and the code.
    text: usize,
    /// Constants, in flash.
    rodata: usize,
    /// Initialised statics: RAM, with their initial values in flash.
    data: usize,
    /// Zeroed statics: RAM.
    bss: usize,
}

/// The program's sections, measured.
fn sections() -> Sections {
    extern "C" {
        static __etext: u8;
        static __srodata: u8;
        static __erodata: u8;
        static __sdata: u8;
        static __edata: u8;
        static __sbss: u8;
        static __ebss: u8;
    }
    // The linker script defines the symbols; only their addresses are used.
    let span = |start: *const u8, end: *const u8| (end as usize).saturating_sub(start as usize);
    use core::ptr::addr_of;
    Sections {
        // The vector table starts at address 0 and ends where .text starts.
        text: addr_of!(__etext) as usize,
        rodata: span(addr_of!(__srodata), addr_of!(__erodata)),
        data: span(addr_of!(__sdata), addr_of!(__edata)),
        bss: span(addr_of!(__sbss), addr_of!(__ebss)),
    }
}

/// Bytes of stack ever used: cortex-m-rt paints the stack at reset
/// (`paint-stack`); this finds the deepest word no longer painted.
fn stack_used() -> usize {
    extern "C" {
        static _stack_end: u32;
        static _stack_start: u32;
    }
    // The linker script defines both symbols; only their addresses are used.
    let low = core::ptr::addr_of!(_stack_end) as usize;
    let high = core::ptr::addr_of!(_stack_start) as usize;
    let mut at = low;
    while at < high {
        // SAFETY: an aligned word inside the stack region.
        let word = unsafe { core::ptr::read_volatile(at as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        at += 4;
    }
    high - at
}

#[entry]
fn main() -> ! {
    let status = match run() {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

/// A bug, not bad input: report it and end the run as a failure.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("firmware: panic: {info}");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("firmware: hard fault: {frame:?}");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// arkwire's no-alloc tier never allocates, but its `bytes` dependency
/// links the `alloc` crate, so a binary must name a global allocator. This
/// one has no memory: an allocation would fail.
struct NoHeap;

// SAFETY: never hands out memory.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static HEAP: NoHeap = NoHeap;
