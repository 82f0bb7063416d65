//! A complete no-alloc Arkouda gRPC client, as firmware would link it: a
//! `grpc::Client<LentStorage<..>>` in a static, working in buffers the
//! program lends it (statics: header scratch, HPACK table, two streams'
//! buffers), the connect request encoded with the views, bytes handed to
//! and taken from "the network driver" through small static buffers,
//! events polled, the reply's protobuf and Arkouda JSON parsed. It never
//! runs on a board here; it exists so `benches/run.sh` can report the
//! sections the real code occupies and, from the symbols below, the RAM
//! one connection takes.
//!
//! Build: `cargo build --release --target thumbv7em-none-eabihf` (rust-lld
//! links it; no linker script, entry `_start`).
//!
//! The statics that make up the connection carry unmangled `ARKWIRE_CONN_*`
//! names so their sizes can be read from the ELF (`llvm-nm -S`); the
//! message buffers (each stream's body and send queue) and the driver's
//! buffers are `ARKWIRE_MSG_*` and `ARKWIRE_NET_*`.

#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::panic::PanicInfo;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use arkwire::arkouda::{parse_reply, MsgType};
use arkwire::grpc::{Client, ClientEvent, Options};
use arkwire::h2::conn::{LentStorage, StreamBuffers};
use arkwire::h2::Config;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef, HANDLE_REQUEST_PATH};
use arkwire::time::Instant;

/// Two streams in memory the program lends.
type Device = LentStorage<'static, 2>;

/// Header scratch: the largest response header field is about half of it.
const SCRATCH: usize = 1024;
/// HTTP/2's default HPACK table (the encoder has none: it never indexes).
const TABLE: usize = 4096;
/// Received headers (and trailers) per stream.
const HEADERS: usize = 512;
/// A message and its 5-byte prefix, each way, per stream.
const MESSAGE: usize = 512;

#[no_mangle]
static mut ARKWIRE_CONN_CLIENT: MaybeUninit<Client<Device>> = MaybeUninit::uninit();
#[no_mangle]
static mut ARKWIRE_CONN_SCRATCH: [u8; SCRATCH] = [0; SCRATCH];
#[no_mangle]
static mut ARKWIRE_CONN_TABLE: [u8; TABLE] = [0; TABLE];
#[no_mangle]
static mut ARKWIRE_CONN_HEADERS: [[u8; HEADERS]; 2] = [[0; HEADERS]; 2];
/// Each stream's received body and send queue.
#[no_mangle]
static mut ARKWIRE_MSG_BUFFERS: [[[u8; MESSAGE]; 2]; 2] = [[[0; MESSAGE]; 2]; 2];
/// Bytes for the network driver to send, and how many. Each header block
/// must fit whole: a few hundred bytes for a request.
#[no_mangle]
static mut ARKWIRE_NET_TX: [u8; 512] = [0; 512];
static mut TX_LEN: usize = 0;
/// Bytes the network driver received, and how many (0: none yet).
#[no_mangle]
static mut ARKWIRE_NET_RX: [u8; 512] = [0; 512];
static mut RX_LEN: usize = 0;
/// Milliseconds, advanced by a timer interrupt.
static mut TICKS: u64 = 0;
/// What the last reply said: 1 NORMAL, 2 WARNING, 3 ERROR, 4 a failed call.
static mut OUTCOME: u32 = 0;

fn now() -> Instant {
    // SAFETY: a plain volatile read of a word the timer interrupt writes.
    Instant::from_millis(unsafe { read_volatile(addr_of!(TICKS)) })
}

fn set_outcome(v: u32) {
    // SAFETY: single-threaded; the "host" reads it volatile.
    unsafe { write_volatile(addr_of_mut!(OUTCOME), v) }
}

/// Moves what the connection wants to send into TX for the driver.
fn flush(client: &mut Client<Device>) {
    // SAFETY: the driver reads TX only after TX_LEN is set, and clears TX_LEN when done.
    unsafe {
        while read_volatile(addr_of!(TX_LEN)) != 0 {}
        let tx = &mut *addr_of_mut!(ARKWIRE_NET_TX);
        let n = client.transmit(tx);
        write_volatile(addr_of_mut!(TX_LEN), n);
    }
}

/// Feeds what the driver received into the connection.
fn feed(client: &mut Client<Device>) -> bool {
    // SAFETY: the driver writes RX before RX_LEN and waits for RX_LEN to be cleared.
    unsafe {
        let len = read_volatile(addr_of!(RX_LEN));
        if len == 0 {
            return true;
        }
        let rx = &*addr_of!(ARKWIRE_NET_RX);
        let ok = client.recv(&rx[..len.min(rx.len())], now()).is_ok();
        write_volatile(addr_of_mut!(RX_LEN), 0);
        ok
    }
}

fn run() -> Option<()> {
    let options = Options {
        h2: Config::embedded(),
        max_message_size: 400,
        ..Options::default()
    };
    // SAFETY: each static is borrowed once, here, for the program's life,
    // on the only thread.
    let storage = unsafe {
        let [h1, h2] = &mut *addr_of_mut!(ARKWIRE_CONN_HEADERS);
        let [[b1, s1], [b2, s2]] = &mut *addr_of_mut!(ARKWIRE_MSG_BUFFERS);
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
        LentStorage::new(
            &mut *addr_of_mut!(ARKWIRE_CONN_SCRATCH),
            &mut *addr_of_mut!(ARKWIRE_CONN_TABLE),
            streams,
        )
        .ok()?
    };
    let made = Client::with_storage("arkouda:50053", options, storage, now()).ok()?;
    // SAFETY: written once, before any use, on the only thread.
    let client = unsafe { (*addr_of_mut!(ARKWIRE_CONN_CLIENT)).write(made) };
    let mut encoded = [0u8; 128];
    loop {
        let request = ArkoudaRequestRef {
            user: "kjyost",
            cmd: "connect",
            format: "STRING",
            size: -1,
            ..Default::default()
        };
        let n = request.encode_to_slice(&mut encoded).ok()?;
        let call = client
            .start_call(
                HANDLE_REQUEST_PATH,
                &encoded[..n],
                &[("x-device", b"7")],
                Some(core::time::Duration::from_secs(5)),
                now(),
            )
            .ok()?;
        let mut finished = false;
        while !finished {
            flush(client);
            if !feed(client) {
                return None;
            }
            if client.poll_timeout().is_some_and(|t| t <= now()) {
                client.handle_timeout(now());
            }
            while let Some(event) = client.poll_event() {
                match event {
                    ClientEvent::Complete(c) if c == call => {
                        let outcome = match client.response(c) {
                            Ok(bytes) => ArkoudaResponseRef::decode(bytes)
                                .ok()
                                .and_then(|r| parse_reply(r.message.as_bytes()).ok())
                                .map_or(4, |reply| match reply.msg_type {
                                    MsgType::Normal => 1,
                                    MsgType::Warning => 2,
                                    MsgType::Error => 3,
                                }),
                            Err(_) => 4,
                        };
                        set_outcome(outcome);
                        client.finish_call(c);
                        finished = true;
                    }
                    ClientEvent::Closed { .. } => return None,
                    _ => {}
                }
            }
        }
    }
}

/// The reset handler.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let _ = run();
    set_outcome(4);
    loop {
        core::hint::spin_loop();
    }
}

/// arkwire's no-alloc tier never allocates, but its `bytes` dependency links
/// the `alloc` crate, so a binary must name a global allocator. This one has
/// no memory: any allocation would fail (and end in the panic handler).
/// With LTO the linker drops it when nothing can reach it: `run.sh` checks
/// the symbol is gone.
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

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
