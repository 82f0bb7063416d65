//! Command bodies (RFC 23 "Commands", RFC 37 PING/PONG): READY with its
//! metadata, PING, PONG and ERROR; other commands are passed through as
//! [`Command::Unknown`] for the caller to ignore.
//!
//! ```text
//! command-body = name-size(1) name data
//! READY data   = *( name-size(1) name value-size(4, big-endian) value )
//! PING data    = ttl(2, big-endian, deciseconds) context(0..=16)
//! PONG data    = context(0..=16)
//! ERROR data   = reason-size(1) reason
//! ```

use super::frame::FrameHeader;
use super::ZmtpError;

/// Longest PING/PONG context (RFC 37).
pub const MAX_PING_CONTEXT: usize = 16;

/// A checked view over READY metadata: every property lies within the bytes,
/// so iterating cannot fail or panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata<'a> {
    bytes: &'a [u8],
}

/// One metadata property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property<'a> {
    /// The name (ASCII; compared case-insensitively, RFC 23).
    pub name: &'a [u8],
    /// The value (any bytes).
    pub value: &'a [u8],
}

/// Splits one property off the front of `bytes`.
fn split_property(bytes: &[u8]) -> Result<(Property<'_>, &[u8]), ZmtpError> {
    let (&name_len, rest) = bytes
        .split_first()
        .ok_or(ZmtpError::MalformedCommand("empty metadata property"))?;
    if name_len == 0 {
        return Err(ZmtpError::MalformedCommand("empty metadata property name"));
    }
    let (name, rest) =
        rest.split_at_checked(usize::from(name_len))
            .ok_or(ZmtpError::MalformedCommand(
                "metadata name overruns the command",
            ))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(ZmtpError::MalformedCommand(
            "metadata value size overruns the command",
        ))?;
    let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
    let (value, rest) = rest
        .split_at_checked(len)
        .ok_or(ZmtpError::MalformedCommand(
            "metadata value overruns the command",
        ))?;
    Ok((Property { name, value }, rest))
}

impl<'a> Metadata<'a> {
    /// Checks that `bytes` is a sequence of whole properties.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, ZmtpError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            rest = split_property(rest)?.1;
        }
        Ok(Metadata { bytes })
    }

    /// The raw metadata bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The properties in wire order.
    pub fn iter(&self) -> MetadataIter<'a> {
        MetadataIter { rest: self.bytes }
    }

    /// The first property named `name` (ASCII case-insensitive), if any.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|p| p.value)
    }

    /// Bytes `props` take as metadata.
    pub fn encoded_len(props: &[Property<'_>]) -> usize {
        props
            .iter()
            .map(|p| {
                5usize
                    .saturating_add(p.name.len())
                    .saturating_add(p.value.len())
            })
            .fold(0, usize::saturating_add)
    }

    /// Writes `props` as metadata at the start of `buf`; returns the length.
    pub fn emit(props: &[Property<'_>], buf: &mut [u8]) -> Result<usize, ZmtpError> {
        let mut w = Writer { buf, pos: 0 };
        for p in props {
            let name_len = u8::try_from(p.name.len()).ok().filter(|n| *n > 0).ok_or(
                ZmtpError::MalformedCommand("property name not 1..=255 bytes"),
            )?;
            let value_len = u32::try_from(p.value.len())
                .map_err(|_| ZmtpError::MalformedCommand("property value over 4 GiB"))?;
            w.put(&[name_len])?;
            w.put(p.name)?;
            w.put(&value_len.to_be_bytes())?;
            w.put(p.value)?;
        }
        Ok(w.pos)
    }
}

/// Iterator over [`Metadata`] properties.
#[derive(Clone, Debug)]
pub struct MetadataIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for MetadataIter<'a> {
    type Item = Property<'a>;
    fn next(&mut self) -> Option<Property<'a>> {
        // The view was checked, so an error cannot happen; stop rather than panic.
        let (p, rest) = split_property(self.rest).ok()?;
        self.rest = rest;
        Some(p)
    }
}

/// A parsed command body, borrowing its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// READY: the NULL handshake, with the sender's metadata.
    Ready(Metadata<'a>),
    /// PING (ZMTP 3.1 heartbeat): answer with PONG carrying `context`.
    Ping {
        /// How long the sender may go quiet, in tenths of a second (0: no limit).
        ttl: u16,
        /// Opaque bytes to echo.
        context: &'a [u8],
    },
    /// PONG: the answer to a PING.
    Pong {
        /// The PING's context.
        context: &'a [u8],
    },
    /// ERROR: the peer is closing the connection, and says why.
    Error {
        /// The reason (RFC 23: printable ASCII, but not checked).
        reason: &'a [u8],
    },
    /// Any other command; RFC 37 says to ignore ones we do not know.
    Unknown {
        /// The command name.
        name: &'a [u8],
        /// The command data.
        data: &'a [u8],
    },
}

impl<'a> Command<'a> {
    /// Splits a command body into its name and data.
    pub fn split_name(body: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), ZmtpError> {
        let (&len, rest) = body
            .split_first()
            .ok_or(ZmtpError::MalformedCommand("empty command"))?;
        if len == 0 {
            return Err(ZmtpError::MalformedCommand("empty command name"));
        }
        rest.split_at_checked(usize::from(len))
            .ok_or(ZmtpError::MalformedCommand(
                "command name overruns the frame",
            ))
    }

    /// Parses a whole command body (the frame body, header excluded).
    pub fn parse(body: &'a [u8]) -> Result<Self, ZmtpError> {
        let (name, data) = Self::split_name(body)?;
        Ok(match name {
            b"READY" => Command::Ready(Metadata::new_checked(data)?),
            b"PING" => {
                let (ttl, context) = data
                    .split_first_chunk::<2>()
                    .ok_or(ZmtpError::MalformedCommand("PING without TTL"))?;
                if context.len() > MAX_PING_CONTEXT {
                    return Err(ZmtpError::MalformedCommand("PING context over 16 bytes"));
                }
                Command::Ping {
                    ttl: u16::from_be_bytes(*ttl),
                    context,
                }
            }
            b"PONG" => {
                if data.len() > MAX_PING_CONTEXT {
                    return Err(ZmtpError::MalformedCommand("PONG context over 16 bytes"));
                }
                Command::Pong { context: data }
            }
            b"ERROR" => {
                let (&len, rest) = data
                    .split_first()
                    .ok_or(ZmtpError::MalformedCommand("ERROR without reason size"))?;
                let reason = rest
                    .get(..usize::from(len))
                    .ok_or(ZmtpError::MalformedCommand(
                        "ERROR reason overruns the frame",
                    ))?;
                Command::Error { reason }
            }
            _ => Command::Unknown { name, data },
        })
    }

    fn name(&self) -> &'a [u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Ping { .. } => b"PING",
            Command::Pong { .. } => b"PONG",
            Command::Error { .. } => b"ERROR",
            Command::Unknown { name, .. } => name,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Command::Ready(m) => m.as_bytes().len(),
            Command::Ping { context, .. } => 2 + context.len(),
            Command::Pong { context } => context.len(),
            Command::Error { reason } => 1 + reason.len(),
            Command::Unknown { data, .. } => data.len(),
        }
    }

    fn header(&self) -> FrameHeader {
        let body = 1usize
            .saturating_add(self.name().len())
            .saturating_add(self.data_len());
        FrameHeader::command(body as u64)
    }

    /// Bytes [`Command::emit`] writes, frame header included.
    pub fn buffer_len(&self) -> usize {
        let h = self.header();
        h.buffer_len().saturating_add(h.size as usize)
    }

    /// Writes the whole command frame at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ZmtpError> {
        let name = self.name();
        let name_len =
            u8::try_from(name.len())
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ZmtpError::MalformedCommand(
                    "command name not 1..=255 bytes",
                ))?;
        if buf.len() < self.buffer_len() {
            return Err(ZmtpError::BufferFull);
        }
        let pos = self.header().emit(buf)?;
        let mut w = Writer { buf, pos };
        w.put(&[name_len])?;
        w.put(name)?;
        match self {
            Command::Ready(m) => w.put(m.as_bytes())?,
            Command::Ping { ttl, context } => {
                w.put(&ttl.to_be_bytes())?;
                w.put(context)?;
            }
            Command::Pong { context } => w.put(context)?,
            Command::Error { reason } => {
                let len = u8::try_from(reason.len())
                    .map_err(|_| ZmtpError::MalformedCommand("ERROR reason over 255 bytes"))?;
                w.put(&[len])?;
                w.put(reason)?;
            }
            Command::Unknown { data, .. } => w.put(data)?,
        }
        Ok(w.pos)
    }
}

/// Bounds-checked sequential writes: a miscounted length is an error, not a panic.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ZmtpError> {
        let end = self.pos.saturating_add(bytes.len());
        let out = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(ZmtpError::BufferFull)?;
        out.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
