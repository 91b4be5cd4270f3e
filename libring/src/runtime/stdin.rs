//! Reading standard input: bytes as they come with [`read_stdin`], or a
//! line at a time with [`read_line`].
//!
//! Standard input is a handle from the startup block ([`stdin`]): the
//! console (whose cooked mode hands over a line per `READ`, Ctrl-D the
//! end), an open file, or a pipe's read end. Each is read with `READ`; a
//! `READ` that completes with 0 is the end of the input. A process with no
//! standard input sees the end at once.
//!
//! The offset of each `READ` is how much has been read so far: a file is
//! read from start to end, and the console and pipes ignore it.
//!
//! [`read_line`] reads ahead into [`PENDING`] and keeps what follows the
//! line for the next call; [`read_stdin`] hands out those kept bytes first,
//! so the two can be mixed.

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::start::{stdin, with_ring};
use crate::abi::Errno;
use crate::ops;

/// Bytes read ahead of the caller, at most.
const PENDING_MAX: usize = 4096;

/// How much of standard input has been read (the next `READ`'s offset).
static READ_SO_FAR: AtomicU64 = AtomicU64::new(0);

/// Bytes read but not yet handed out: `bytes[start..end]`.
struct Pending {
    bytes: [u8; PENDING_MAX],
    start: usize,
    end: usize,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    bytes: [0; PENDING_MAX],
    start: 0,
    end: 0,
});

/// Reads up to `buffer.len()` bytes of standard input: at least one,
/// unless the input has ended (`Ok(0)`). The console's Ctrl-C ends a
/// pending read with `EINTR`.
pub fn read_stdin(buffer: &mut [u8]) -> Result<usize, Errno> {
    if buffer.is_empty() {
        return Ok(0);
    }
    {
        let mut pending = PENDING.lock();
        if pending.start < pending.end {
            let count = buffer.len().min(pending.end - pending.start);
            let start = pending.start;
            buffer[..count].copy_from_slice(&pending.bytes[start..start + count]);
            pending.start += count;
            return Ok(count);
        }
    }
    read_more(buffer)
}

/// One `READ` of standard input into `buffer`.
fn read_more(buffer: &mut [u8]) -> Result<usize, Errno> {
    let Some(handle) = stdin() else {
        return Ok(0);
    };
    let offset = READ_SO_FAR.load(Ordering::Relaxed);
    // A busy server (every place for a waiting READ taken) is waited out.
    let count = with_ring(|ring| ring.run_patiently(ops::read(handle, buffer, offset)))? as usize;
    let count = count.min(buffer.len());
    READ_SO_FAR.fetch_add(count as u64, Ordering::Relaxed);
    Ok(count)
}

/// Appends the next line of standard input to `line`, its `\n` included
/// (the last line of a file may have none); returns the bytes appended, 0
/// at the end of the input. A line longer than [`PENDING_MAX`] comes in
/// pieces of that size.
pub fn read_line(line: &mut Vec<u8>) -> Result<usize, Errno> {
    let mut chunk = [0u8; PENDING_MAX];
    loop {
        {
            let mut pending = PENDING.lock();
            let (start, end) = (pending.start, pending.end);
            let kept = &pending.bytes[start..end];
            let newline = kept.iter().position(|&byte| byte == b'\n');
            if newline.is_some() || kept.len() == PENDING_MAX {
                let take = newline.map_or(kept.len(), |at| at + 1);
                line.try_reserve(take).map_err(|_| Errno::OutOfMemory)?;
                line.extend_from_slice(&kept[..take]);
                pending.start += take;
                return Ok(take);
            }
            // Move what is kept to the front, to make room behind it.
            pending.bytes.copy_within(start..end, 0);
            pending.start = 0;
            pending.end = end - start;
        }
        let room = PENDING_MAX - PENDING.lock().end;
        let count = read_more(&mut chunk[..room])?;
        let mut pending = PENDING.lock();
        if count == 0 {
            // The end: whatever is kept is the last line.
            let (start, end) = (pending.start, pending.end);
            line.try_reserve(end - start)
                .map_err(|_| Errno::OutOfMemory)?;
            line.extend_from_slice(&pending.bytes[start..end]);
            pending.start = end;
            return Ok(end - start);
        }
        let end = pending.end;
        pending.bytes[end..end + count].copy_from_slice(&chunk[..count]);
        pending.end += count;
    }
}
