//! The pipe server's bookkeeping: which pipes exist, their bytes, and
//! which of their ends are still open. The server (`main.rs`) moves the
//! bytes between clients and these buffers and answers the requests; this
//! part has no ring and no machine, so the host tests it
//! (`cargo test -p pipe`).
//!
//! # The life of a pipe
//!
//! ```text
//!   CONTROL [CREATE] on the service handle
//!        │  a new pipe; the client gets its read end (a handle)
//!        ▼
//!   CONTROL [WRITE_END] on the read end
//!        │  the client gets the write end (once)
//!        ▼
//!   WRITE on the write end ──► buffer (CAPACITY bytes) ──► READ on the read end
//!        │ full: held until a READ makes room     empty: held until a WRITE,
//!        │ read end gone: EPIPE                   or 0 (the end) once the
//!        ▼                                        write end is gone
//!   RELEASE of both ends (the kernel's, when the last copy of each
//!   handle is closed, or its processes end): the pipe and its buffer go
//! ```
//!
//! Each end is one badge ([`badge`]), minted into a client handle; a
//! handle given to a child is a copy of the same badge, and the kernel
//! sends the `RELEASE` only when the last copy is closed. So "the write
//! end is closed" means every process that had it has closed it or ended.
//!
//! # Bounds (`docs/pipes.md`)
//! - at most [`PIPES_MAX`] pipes at once, [`PIPES_PER_CLIENT`] made by one
//!   process (`ENOMEM` past either);
//! - at most [`CAPACITY`] bytes in a pipe; its buffer grows as bytes
//!   arrive and goes with the pipe.
//!
//! # Invariants
//! - A slot's generation grows each time its pipe goes, so a badge of a
//!   pipe that is gone never names the slot's next pipe.
//! - A pipe exists while its read end is open, or its write end is open;
//!   a read end closed before the write end was handed out ends it too
//!   (nobody can ask for the write end any more).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use libring::abi::Errno;

/// The most pipes at once.
pub const PIPES_MAX: usize = 64;
/// The most pipes one process may have made and not yet closed.
pub const PIPES_PER_CLIENT: usize = 16;

/// The `CONTROL` words (shared with the clients, in libring).
pub use libring::pipe::{CAPACITY, COUNT, CREATE, HEAP, WRITE_END};

/// Which end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Read,
    Write,
}

/// Set in every end's badge (the service handles' badges are small).
const END_BADGE: u64 = 1 << 63;

/// The badge of `end` of the pipe in slot `index`, generation `generation`.
pub fn badge(index: usize, generation: u32, end: End) -> u64 {
    END_BADGE | (u64::from(generation) << 32) | ((index as u64) << 1) | (end == End::Write) as u64
}

/// The slot, generation and end a badge names, if it is an end's badge.
pub fn end_of(badge: u64) -> Option<(usize, u32, End)> {
    if badge & END_BADGE == 0 {
        return None;
    }
    let index = ((badge & 0xffff_ffff) >> 1) as usize;
    let generation = ((badge >> 32) & 0x7fff_ffff) as u32;
    let end = if badge & 1 == 0 {
        End::Read
    } else {
        End::Write
    };
    Some((index, generation, end))
}

/// What a `READ` of a pipe would get now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readable {
    /// This many bytes are there.
    Bytes(usize),
    /// Nothing, and the write end is closed: the end of the input.
    End,
    /// Nothing yet: the `READ` waits.
    Empty,
}

/// What a `WRITE` to a pipe would get now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writable {
    /// Room for this many bytes.
    Room(usize),
    /// No room: the `WRITE` waits.
    Full,
}

struct Pipe {
    /// The process that made it (charged for it: [`PIPES_PER_CLIENT`]).
    owner: u32,
    bytes: VecDeque<u8>,
    read_open: bool,
    write_open: bool,
    write_given: bool,
}

struct Slot {
    generation: u32,
    pipe: Option<Pipe>,
}

/// Every pipe.
#[derive(Default)]
pub struct Pipes {
    slots: Vec<Slot>,
}

impl Pipes {
    pub fn new() -> Pipes {
        Pipes::default()
    }

    /// How many pipes exist.
    pub fn count(&self) -> usize {
        self.slots.iter().filter(|slot| slot.pipe.is_some()).count()
    }

    /// A new pipe made by process `owner`; returns its read end's badge.
    /// `ENOMEM` past [`PIPES_MAX`], or [`PIPES_PER_CLIENT`] for `owner`.
    pub fn create(&mut self, owner: u32) -> Result<u64, Errno> {
        let owned = self
            .slots
            .iter()
            .filter_map(|slot| slot.pipe.as_ref())
            .filter(|pipe| pipe.owner == owner)
            .count();
        if owned >= PIPES_PER_CLIENT {
            return Err(Errno::OutOfMemory);
        }
        let index = match self.slots.iter().position(|slot| slot.pipe.is_none()) {
            Some(index) => index,
            None if self.slots.len() < PIPES_MAX => {
                self.slots.try_reserve(1).map_err(|_| Errno::OutOfMemory)?;
                self.slots.push(Slot {
                    generation: 0,
                    pipe: None,
                });
                self.slots.len() - 1
            }
            None => return Err(Errno::OutOfMemory),
        };
        let slot = &mut self.slots[index];
        slot.pipe = Some(Pipe {
            owner,
            bytes: VecDeque::new(),
            read_open: true,
            write_open: false,
            write_given: false,
        });
        Ok(badge(index, slot.generation, End::Read))
    }

    /// The write end of the pipe whose read end is `read_badge`, the
    /// first time it is asked for; `EBADF` for anything but a live read
    /// end, `EINVAL` the second time.
    pub fn write_end(&mut self, read_badge: u64) -> Result<u64, Errno> {
        let (index, generation, end) = end_of(read_badge).ok_or(Errno::BadHandle)?;
        if end != End::Read {
            return Err(Errno::BadHandle);
        }
        let pipe = self.pipe_mut(index, generation)?;
        if pipe.write_given {
            return Err(Errno::InvalidArgument);
        }
        pipe.write_given = true;
        pipe.write_open = true;
        Ok(badge(index, generation, End::Write))
    }

    /// The kernel's `RELEASE` of `badge`: that end is closed everywhere.
    /// Returns the pipe's slot if it still exists (its waiting requests
    /// may now be answered), `None` if it has gone or the badge named
    /// nothing.
    pub fn release(&mut self, badge: u64) -> Option<usize> {
        let (index, generation, end) = end_of(badge)?;
        let pipe = self.pipe_mut(index, generation).ok()?;
        match end {
            End::Read => pipe.read_open = false,
            End::Write => pipe.write_open = false,
        }
        let gone = !pipe.read_open && (!pipe.write_open || !pipe.write_given);
        if gone {
            let slot = &mut self.slots[index];
            slot.pipe = None;
            slot.generation = (slot.generation + 1) & 0x7fff_ffff;
            None
        } else {
            Some(index)
        }
    }

    /// What a `READ` through `badge` would get; `EBADF` if it is not a
    /// live pipe's read end.
    pub fn readable(&self, badge: u64) -> Result<Readable, Errno> {
        let pipe = self.end(badge, End::Read)?;
        Ok(if !pipe.bytes.is_empty() {
            Readable::Bytes(pipe.bytes.len())
        } else if pipe.write_given && !pipe.write_open {
            Readable::End
        } else {
            Readable::Empty
        })
    }

    /// What a `WRITE` through `badge` would get; `EBADF` if it is not a
    /// live pipe's write end, `EPIPE` once its read end is closed.
    pub fn writable(&self, badge: u64) -> Result<Writable, Errno> {
        let pipe = self.end(badge, End::Write)?;
        if !pipe.read_open {
            return Err(Errno::BrokenPipe);
        }
        let room = CAPACITY - pipe.bytes.len();
        Ok(if room == 0 {
            Writable::Full
        } else {
            Writable::Room(room)
        })
    }

    /// Adds `bytes` (at most the room there is) to the pipe of write end
    /// `badge`; returns how many it took. `ENOMEM` if the buffer cannot
    /// grow.
    pub fn push(&mut self, badge: u64, bytes: &[u8]) -> Result<usize, Errno> {
        let room = match self.writable(badge)? {
            Writable::Room(room) => room,
            Writable::Full => return Ok(0),
        };
        let (index, generation, _) = end_of(badge).ok_or(Errno::BadHandle)?;
        let pipe = self.pipe_mut(index, generation)?;
        let taken = &bytes[..bytes.len().min(room)];
        // Exact: amortized growth could take twice CAPACITY per pipe.
        pipe.bytes
            .try_reserve_exact(taken.len())
            .map_err(|_| Errno::OutOfMemory)?;
        pipe.bytes.extend(taken);
        Ok(taken.len())
    }

    /// Copies up to `out.len()` bytes from the pipe of read end `badge`
    /// into `out`, leaving them there; returns how many. The server takes
    /// them with [`Pipes::consume`] once the reader has them, so bytes a
    /// reader that gave up could not take stay for the next.
    pub fn peek(&self, badge: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let pipe = self.end(badge, End::Read)?;
        let count = out.len().min(pipe.bytes.len());
        for (slot, byte) in out.iter_mut().zip(pipe.bytes.iter()) {
            *slot = *byte;
        }
        Ok(count)
    }

    /// Drops the first `count` bytes of the pipe of read end `badge` (at
    /// most what it holds). An emptied buffer gives its memory back.
    pub fn consume(&mut self, badge: u64, count: usize) -> Result<(), Errno> {
        self.end(badge, End::Read)?;
        let (index, generation, _) = end_of(badge).ok_or(Errno::BadHandle)?;
        let pipe = self.pipe_mut(index, generation)?;
        let count = count.min(pipe.bytes.len());
        pipe.bytes.drain(..count);
        if pipe.bytes.is_empty() {
            pipe.bytes = VecDeque::new();
        }
        Ok(())
    }

    /// [`Pipes::peek`] then [`Pipes::consume`].
    pub fn pop(&mut self, badge: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let count = self.peek(badge, out)?;
        self.consume(badge, count)?;
        Ok(count)
    }

    /// The slot of the pipe `badge` is an end of, if it is live.
    pub fn slot_of(&self, badge: u64) -> Option<usize> {
        let (index, generation, _) = end_of(badge)?;
        self.slots
            .get(index)
            .filter(|slot| slot.generation == generation && slot.pipe.is_some())
            .map(|_| index)
    }

    fn end(&self, badge: u64, wanted: End) -> Result<&Pipe, Errno> {
        let (index, generation, end) = end_of(badge).ok_or(Errno::BadHandle)?;
        if end != wanted {
            return Err(Errno::BadHandle);
        }
        let slot = self.slots.get(index).ok_or(Errno::BadHandle)?;
        let pipe = slot.pipe.as_ref().ok_or(Errno::BadHandle)?;
        let open = match end {
            End::Read => pipe.read_open,
            End::Write => pipe.write_open,
        };
        if slot.generation != generation || !open {
            return Err(Errno::BadHandle);
        }
        Ok(pipe)
    }

    fn pipe_mut(&mut self, index: usize, generation: u32) -> Result<&mut Pipe, Errno> {
        self.slots
            .get_mut(index)
            .filter(|slot| slot.generation == generation)
            .and_then(|slot| slot.pipe.as_mut())
            .ok_or(Errno::BadHandle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_pipe(pipes: &mut Pipes) -> (u64, u64) {
        let read = pipes.create(7).unwrap();
        let write = pipes.write_end(read).unwrap();
        (read, write)
    }

    #[test]
    fn bytes_written_are_read_in_order_then_the_end() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        assert_eq!(pipes.readable(read), Ok(Readable::Empty));
        assert_eq!(pipes.push(write, b"hello "), Ok(6));
        assert_eq!(pipes.push(write, b"world"), Ok(5));
        assert_eq!(pipes.readable(read), Ok(Readable::Bytes(11)));
        let mut out = [0u8; 8];
        assert_eq!(pipes.pop(read, &mut out), Ok(8));
        assert_eq!(&out, b"hello wo");
        assert_eq!(pipes.release(write), Some(0));
        // What is left is still read, then the end.
        assert_eq!(pipes.readable(read), Ok(Readable::Bytes(3)));
        assert_eq!(pipes.pop(read, &mut out), Ok(3));
        assert_eq!(pipes.readable(read), Ok(Readable::End));
        assert_eq!(pipes.release(read), None);
        assert_eq!(pipes.count(), 0);
    }

    #[test]
    fn peeked_bytes_stay_until_consumed() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        pipes.push(write, b"abc").unwrap();
        let mut out = [0u8; 2];
        assert_eq!(pipes.peek(read, &mut out), Ok(2));
        assert_eq!(pipes.readable(read), Ok(Readable::Bytes(3)));
        pipes.consume(read, 2).unwrap();
        assert_eq!(pipes.pop(read, &mut out), Ok(1));
        assert_eq!(out[0], b'c');
    }

    #[test]
    fn a_full_pipe_takes_no_more_until_read() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        let big = alloc::vec![1u8; CAPACITY + 100];
        assert_eq!(pipes.push(write, &big), Ok(CAPACITY));
        assert_eq!(pipes.writable(write), Ok(Writable::Full));
        assert_eq!(pipes.push(write, b"x"), Ok(0));
        let mut out = [0u8; 10];
        assert_eq!(pipes.pop(read, &mut out), Ok(10));
        assert_eq!(pipes.writable(write), Ok(Writable::Room(10)));
    }

    #[test]
    fn writing_with_no_reader_is_a_broken_pipe() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        assert_eq!(pipes.release(read), Some(0));
        assert_eq!(pipes.writable(write), Err(Errno::BrokenPipe));
        assert_eq!(pipes.push(write, b"x"), Err(Errno::BrokenPipe));
        assert_eq!(pipes.release(write), None);
        assert_eq!(pipes.count(), 0);
    }

    #[test]
    fn the_write_end_is_given_once_and_only_for_a_read_end() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        assert_eq!(pipes.write_end(read), Err(Errno::InvalidArgument));
        assert_eq!(pipes.write_end(write), Err(Errno::BadHandle));
        assert_eq!(pipes.write_end(5), Err(Errno::BadHandle));
        // Ends are used only as what they are.
        assert_eq!(pipes.readable(write), Err(Errno::BadHandle));
        assert_eq!(pipes.writable(read), Err(Errno::BadHandle));
    }

    #[test]
    fn a_read_end_closed_before_the_write_end_was_asked_for_ends_the_pipe() {
        let mut pipes = Pipes::new();
        let read = pipes.create(1).unwrap();
        assert_eq!(pipes.readable(read), Ok(Readable::Empty));
        assert_eq!(pipes.release(read), None);
        assert_eq!(pipes.count(), 0);
    }

    #[test]
    fn an_old_badge_never_names_the_slots_next_pipe() {
        let mut pipes = Pipes::new();
        let (read, write) = new_pipe(&mut pipes);
        pipes.release(read);
        pipes.release(write);
        let (new_read, new_write) = new_pipe(&mut pipes);
        assert_eq!(pipes.slot_of(new_read), pipes.slot_of(new_write));
        assert_ne!(read, new_read);
        assert_eq!(pipes.readable(read), Err(Errno::BadHandle));
        assert_eq!(pipes.push(write, b"x"), Err(Errno::BadHandle));
        assert_eq!(pipes.release(read), None);
        assert_eq!(pipes.readable(new_read), Ok(Readable::Empty));
    }

    #[test]
    fn pipes_are_bounded_per_process_and_in_all() {
        let mut pipes = Pipes::new();
        for _ in 0..PIPES_PER_CLIENT {
            pipes.create(1).unwrap();
        }
        assert_eq!(pipes.create(1), Err(Errno::OutOfMemory));
        let mut made = PIPES_PER_CLIENT;
        let mut owner = 2;
        while made < PIPES_MAX {
            if pipes.create(owner).is_err() {
                owner += 1;
                continue;
            }
            made += 1;
        }
        assert_eq!(pipes.create(100), Err(Errno::OutOfMemory));
        assert_eq!(pipes.count(), PIPES_MAX);
    }

    #[test]
    fn a_thousand_pipes_made_and_dropped_leave_nothing() {
        let mut pipes = Pipes::new();
        for round in 0..1000 {
            let (read, write) = new_pipe(&mut pipes);
            pipes.push(write, &[round as u8; 100]).unwrap();
            if round % 2 == 0 {
                pipes.release(write);
                pipes.release(read);
            } else {
                pipes.release(read);
                pipes.release(write);
            }
        }
        assert_eq!(pipes.count(), 0);
        assert_eq!(pipes.slots.len(), 1);
    }

    #[test]
    fn a_badge_round_trips() {
        for (index, generation, end) in [(0, 0, End::Read), (63, 0x7fff_ffff, End::Write)] {
            assert_eq!(
                end_of(badge(index, generation, end)),
                Some((index, generation, end))
            );
        }
        assert_eq!(end_of(42), None);
    }
}
