//! Header blocks filled field by field into a stream's send queue.

use crate::buf::{Buffer, BufferFull};
use crate::h2::stream::Stream;

use super::StreamError;

/// Fills one queued header block; see
/// [`Connection::begin_headers`](super::Connection::begin_headers).
pub struct HeaderBlockWriter<'c, H: Buffer, B: Buffer> {
    pub(super) stream: &'c mut Stream<H, B>,
    pub(super) start: usize,
    /// The queue length to restore if the block is abandoned.
    pub(super) rollback: usize,
    pub(super) failed: bool,
}

impl<H: Buffer, B: Buffer> HeaderBlockWriter<'_, H, B> {
    /// Adds a field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        if !self.failed {
            self.failed = crate::h2::header_list::push(&mut self.stream.send, name, value).is_err();
        }
    }

    /// Adds a field whose value is `raw` in base64 (RFC 4648, padded), as
    /// gRPC sends `-bin` metadata, encoding straight into the queue.
    pub fn push_base64(&mut self, name: &[u8], raw: &[u8]) {
        use base64::Engine;
        let engine = &base64::engine::general_purpose::STANDARD;
        let len = base64::encoded_len(raw.len(), true).unwrap_or(usize::MAX);
        let mut chunk = [0u8; 64];
        if self.failed
            || crate::h2::header_list::push_prefix(&mut self.stream.send, name, len).is_err()
        {
            self.failed = true;
            return;
        }
        // 48 input bytes are 64 output bytes: whole chunks never need padding.
        for part in raw.chunks(48) {
            let n = engine.encode_slice(part, &mut chunk).unwrap_or(0);
            if self.stream.send.try_extend(&chunk[..n]).is_err() {
                self.failed = true;
                return;
            }
        }
    }

    /// Queues the block; nothing is queued if any field did not fit.
    pub fn finish(mut self) -> Result<(), StreamError> {
        if self.failed {
            return Err(StreamError::BufferFull); // Drop rolls back
        }
        let start = self.start;
        // Mark done so Drop leaves the queue alone.
        self.rollback = usize::MAX;
        finish_item(self.stream, start, Ok(()))
    }
}

impl<H: Buffer, B: Buffer> Drop for HeaderBlockWriter<'_, H, B> {
    fn drop(&mut self) {
        if self.rollback != usize::MAX {
            self.stream.truncate_send(self.rollback);
        }
    }
}

/// Writes the item's length into its prefix, or undoes a partial append.
pub(super) fn finish_item<H: Buffer, B: Buffer>(
    stream: &mut Stream<H, B>,
    start: usize,
    result: Result<(), BufferFull>,
) -> Result<(), StreamError> {
    match result {
        Ok(()) => {
            let len = (stream.send.len() - start - crate::h2::stream::ITEM_PREFIX) as u32;
            stream.patch_item_len(start, len);
            stream.last_item = Some(start);
            Ok(())
        }
        Err(e) => {
            stream.truncate_send(start);
            Err(e.into())
        }
    }
}
