//! The receive path: greeting, then frames, each rule of RFC 23/37/28 checked
//! in one place.

use super::{
    Input, Phase, ReqConnection, Request, ZmtpEvent, GREETING_FIRST_PART, MAX_COMMAND_LEN,
    MAX_PONG_LEN,
};
use crate::buf::Buffer;
use crate::time::Instant;
use crate::zmtp::command::Command;
use crate::zmtp::frame::FrameHeader;
use crate::zmtp::ZmtpError;

impl<B: Buffer> ReqConnection<B> {
    /// Feeds bytes read from the peer, in any split. A fatal error is returned
    /// and also reported as [`ZmtpEvent::Closed`]; after that, and after
    /// [`ZmtpEvent::TimedOut`], input is ignored. Deadlines that `now` has
    /// reached fire first, so a reply that comes too late is never delivered.
    pub fn recv(&mut self, bytes: &[u8], now: Instant) -> Result<(), ZmtpError> {
        if !bytes.is_empty() {
            // Anything from the peer shows it is alive.
            self.last_input = now;
            self.ping_sent = None;
        }
        self.handle_timeout(now);
        if self.phase == Phase::Closed {
            return Ok(());
        }
        match self.recv_inner(bytes) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    fn recv_inner(&mut self, mut input: &[u8]) -> Result<(), ZmtpError> {
        if self.phase == Phase::Greeting {
            let (used, result) = self.greeting.feed(input);
            input = &input[used..];
            let greeting = result?;
            if self.greeting.received() >= GREETING_FIRST_PART {
                // A ZMTP 3 peer (checked above): the rest of our greeting may go.
                self.handshake_unsent += core::mem::take(&mut self.greeting_rest_held);
            }
            let Some(greeting) = greeting else {
                return Ok(());
            };
            self.peer_minor = greeting.minor;
            self.phase = Phase::AwaitReady;
            self.handshake_unsent += core::mem::take(&mut self.ready_held);
        }
        while !input.is_empty() && self.phase != Phase::Closed {
            let used = match self.input {
                Input::Header => {
                    // Commands may exceed a tiny max_message_size up to
                    // MAX_COMMAND_LEN; a reply that may stream, up to its
                    // own bound (`on_header` holds the rest to
                    // max_message_size).
                    let held = self.config.max_message_size.max(MAX_COMMAND_LEN) as u64;
                    let max = match self.streaming.reply_above {
                        Some(_) => held.max(self.streaming.max_streamed_reply),
                        None => held,
                    };
                    let (used, header) = self.header.feed(input, max);
                    if let Some(h) = header? {
                        self.on_header(h)?;
                    }
                    used
                }
                Input::Message { remaining, more } => {
                    let n = input
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    self.reply.try_extend(&input[..n])?;
                    let remaining = remaining - n as u64;
                    self.input = Input::Message { remaining, more };
                    if remaining == 0 {
                        self.end_message_frame(more);
                    }
                    n
                }
                Input::Streamed { remaining } => {
                    let n = input
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    self.reply.try_extend(&input[..n])?;
                    let remaining = remaining - n as u64;
                    self.input = Input::Streamed { remaining };
                    if remaining == 0 {
                        self.end_message_frame(false);
                    }
                    n
                }
                Input::Command { size, seen } => {
                    let n = input
                        .len()
                        .min(usize::try_from(size - seen).unwrap_or(usize::MAX));
                    // Past MAX_COMMAND_LEN bytes are counted but dropped.
                    let keep = n.min(MAX_COMMAND_LEN - self.cmd.len());
                    let _ = self.cmd.extend_from_slice(&input[..keep]);
                    let seen = seen + n as u64;
                    self.input = Input::Command { size, seen };
                    if seen == size {
                        self.end_command(size)?;
                    }
                    n
                }
            };
            input = &input[used..];
        }
        Ok(())
    }

    fn on_header(&mut self, h: FrameHeader) -> Result<(), ZmtpError> {
        if h.command {
            if h.size == 0 {
                return Err(ZmtpError::MalformedCommand("empty command"));
            }
            self.cmd.clear();
            self.input = Input::Command {
                size: h.size,
                seen: 0,
            };
            return Ok(());
        }
        if self.phase != Phase::Open {
            return Err(ZmtpError::ProtocolViolation(
                "message frame before the handshake completed",
            ));
        }
        if !matches!(self.request, Request::Outstanding { .. }) {
            return Err(ZmtpError::ProtocolViolation(
                "reply without an outstanding request",
            ));
        }
        if !self.delimiter_seen {
            // RFC 28: a REP reply starts with the empty delimiter, and more follows.
            if h.size != 0 || !h.more {
                return Err(ZmtpError::ProtocolViolation(
                    "reply does not start with an empty delimiter frame",
                ));
            }
            self.delimiter_seen = true;
            return Ok(());
        }
        let first_and_last = self.frame_lens.is_empty() && !h.more;
        if let Some(above) = self.streaming.reply_above.filter(|_| first_and_last) {
            if h.size > above {
                let max = self.streaming.max_streamed_reply;
                if h.size > max {
                    return Err(ZmtpError::FrameTooLarge { size: h.size, max });
                }
                // The application takes the bytes as they come; how many
                // wait is up to how fast it reads us (see the module docs).
                self.streaming_reply = true;
                self.input = Input::Streamed { remaining: h.size };
                self.push_event(ZmtpEvent::StreamedReply { size: h.size });
                return Ok(());
            }
        }
        let total = (self.reply.len() as u64).saturating_add(h.size);
        let max = self.config.max_message_size as u64;
        if total > max {
            return Err(ZmtpError::FrameTooLarge { size: total, max });
        }
        self.frame_lens
            .push(h.size as usize) // fits: bounded by max_message_size, a usize
            .map_err(|_| ZmtpError::TooManyFrames {
                max: super::MAX_REPLY_FRAMES,
            })?;
        self.input = Input::Message {
            remaining: h.size,
            more: h.more,
        };
        if h.size == 0 {
            self.end_message_frame(h.more);
        }
        Ok(())
    }

    fn end_message_frame(&mut self, more: bool) {
        self.input = Input::Header;
        if !more {
            self.request = Request::Replied;
            self.push_event(ZmtpEvent::Reply);
        }
    }

    fn end_command(&mut self, size: u64) -> Result<(), ZmtpError> {
        self.input = Input::Header;
        if size > MAX_COMMAND_LEN as u64 {
            // Only the prefix is kept: enough for the name, not to parse.
            let (name, _) = Command::split_name(&self.cmd)?;
            return match name {
                b"READY" | b"PING" | b"PONG" | b"ERROR" => Err(ZmtpError::FrameTooLarge {
                    size,
                    max: MAX_COMMAND_LEN as u64,
                }),
                _ => Ok(()),
            };
        }
        let cmd = core::mem::take(&mut self.cmd);
        let result = self.on_command(Command::parse(&cmd)?);
        self.cmd = cmd;
        result
    }

    fn on_command(&mut self, cmd: Command<'_>) -> Result<(), ZmtpError> {
        match (self.phase, cmd) {
            (_, Command::Error { reason }) => Err(ZmtpError::peer_error(reason)),
            (Phase::AwaitReady, Command::Ready(meta)) => {
                // RFC 28: REQ talks to REP or ROUTER. Socket types are case-sensitive.
                match meta.get("Socket-Type") {
                    Some(b"REP") | Some(b"ROUTER") => {}
                    _ => return Err(ZmtpError::WrongSocketType),
                }
                self.phase = Phase::Open;
                self.push_event(ZmtpEvent::Ready);
                Ok(())
            }
            (Phase::Open, Command::Ping { context, .. }) => {
                self.queue_pong(context);
                Ok(())
            }
            // We never PING, so a PONG answers nothing; it is harmless.
            (Phase::Open, Command::Pong { .. }) => Ok(()),
            // RFC 37: unknown commands are ignored, in any phase.
            (_, Command::Unknown { .. }) => Ok(()),
            _ => Err(ZmtpError::UnexpectedCommand),
        }
    }

    fn queue_pong(&mut self, context: &[u8]) {
        let mut frame = [0u8; MAX_PONG_LEN];
        // Cannot fail: the context was checked to be at most 16 bytes.
        let Ok(n) = (Command::Pong { context }).emit(&mut frame) else {
            return;
        };
        // One PONG waits at a time and a newer PING replaces it: PINGs that
        // arrive faster than we transmit cannot grow the send queue.
        self.pong = heapless::Vec::from_slice(&frame[..n]).ok();
    }
}
