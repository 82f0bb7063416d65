//! Every byte of static RAM the client uses, declared here and nowhere
//! else: the connection's capacities, the messages' buffers and the UART
//! staging buffers. When the connection takes caller-lent buffers, this is
//! the one file to change.

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use arkwire::grpc::{Client, Options};
use arkwire::h2::conn::{FixedStorage, MIN_TRANSMIT_BUFFER};
use arkwire::h2::{Config, ConfigError};
use arkwire::time::Instant;

/// Streams the connection holds at once: the calls are made one at a time.
pub const STREAMS: usize = 1;
/// Bytes of received header list per stream, and of header-block scratch.
pub const HEADERS: usize = 1024;
/// One stream's received body, and its send queue (the request's HEADERS
/// item and its framed message).
pub const BODY: usize = 19 * 1024;
/// The largest request or reply message: a body less room for the gRPC
/// prefix and, in the send queue, the request's header fields.
pub const MAX_MESSAGE: usize = BODY - 512;
/// The longest `echo` argument the program sends: past one 16 KiB HTTP/2
/// frame (the frame buffer is fixed at 16 KiB), so both the request and the
/// reply cross a frame boundary.
pub const ECHO_MAX: usize = 17_000;
/// Bytes taken from the connection per `transmit`. Under
/// `MIN_TRANSMIT_BUFFER` on purpose: DATA and header blocks are split to fit,
/// and the preface and control frames are far smaller.
pub const TX: usize = 512;
/// Bytes gathered from the UART per `recv`.
pub const RX: usize = 256;

const _: () = assert!(TX < MIN_TRANSMIT_BUFFER && TX >= 256);
/// Bytes an `echo` reply adds to its argument at most: JSON escapes (the
/// program's pattern escapes under 1 byte in 16) and the reply's other fields.
pub const ECHO_GROWTH: usize = ECHO_MAX / 16 + 256;

const _: () = assert!(ECHO_MAX > 16_384 && ECHO_MAX + ECHO_GROWTH <= MAX_MESSAGE);

/// The connection's storage: fixed capacities, no allocator.
pub type Device = FixedStorage<STREAMS, HEADERS, BODY>;

/// The buffers besides the connection.
pub struct Buffers {
    /// Bytes on their way to the UART.
    pub tx: [u8; TX],
    /// Bytes read from the UART, not yet fed to the connection.
    pub rx: [u8; RX],
    /// The encoded request message.
    pub request: [u8; MAX_MESSAGE],
    /// The arguments of an `echo`.
    pub args: [u8; ECHO_MAX],
}

/// The client's options: the embedded HTTP/2 settings, with the body and
/// header limits matching the capacities above.
pub fn options() -> Options {
    Options {
        h2: Config {
            max_header_list_size: HEADERS as u32,
            max_connection_body_size: BODY,
            max_concurrent_streams: STREAMS as u32,
            ..Config::embedded()
        },
        max_message_size: MAX_MESSAGE,
        ..Options::default()
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);
static mut CLIENT: MaybeUninit<Client<Device>> = MaybeUninit::uninit();
static mut BUFFERS: Buffers = Buffers {
    tx: [0; TX],
    rx: [0; RX],
    request: [0; MAX_MESSAGE],
    args: [0; ECHO_MAX],
};

/// What [`take`] hands out.
pub struct Taken {
    /// The client connection, in its static.
    pub client: &'static mut Client<Device>,
    /// The other buffers.
    pub buffers: &'static mut Buffers,
}

/// Why [`take`] gave nothing.
#[derive(Debug)]
pub enum TakeError {
    /// Taken before.
    Again,
    /// The options are not a valid connection config.
    Config(ConfigError),
}

impl core::fmt::Display for TakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TakeError::Again => f.write_str("the client was taken before"),
            TakeError::Config(e) => write!(f, "{e}"),
        }
    }
}

/// Builds the client for `authority` in its static and lends out the
/// buffers; once only.
pub fn take(authority: &str, now: Instant) -> Result<Taken, TakeError> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(TakeError::Again);
    }
    let client = Client::new(authority, options(), now).map_err(TakeError::Config)?;
    // SAFETY: TAKEN lets this point be passed once, so these are the only
    // references ever made to the two statics.
    unsafe {
        let client = (*addr_of_mut!(CLIENT)).write(client);
        let buffers = &mut *addr_of_mut!(BUFFERS);
        Ok(Taken { client, buffers })
    }
}

/// Bytes of static RAM the connection takes.
pub const CLIENT_BYTES: usize = core::mem::size_of::<Client<Device>>();
/// Bytes of one stream in the connection's stream table (its header and
/// body buffers inline).
pub const STREAM_BYTES: usize = core::mem::size_of::<
    arkwire::h2::stream::Stream<
        <Device as arkwire::h2::conn::Storage>::Headers,
        <Device as arkwire::h2::conn::Storage>::Body,
    >,
>();
/// Bytes of static RAM the other buffers take.
pub const BUFFER_BYTES: usize = core::mem::size_of::<Buffers>();
