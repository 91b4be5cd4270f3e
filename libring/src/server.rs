//! A small helper for writing servers: take requests, move their data,
//! answer them.
//!
//! A client's request to a server (`READ`, `WRITE`, `CONTROL`, any opcode
//! from 32 up) reaches the server as a [`RequestMessage`]: what the client
//! asked, never where its buffer is. A [`Server`] takes those messages off
//! the ring with one multishot `RECEIVE`, and answers each with `REPLY`:
//!
//! ```ignore
//! let mut server = Server::new(ring, slots, service)?;   // arms RECEIVE
//! loop {
//!     match server.wait(ring)? {
//!         Event::Request { message, .. } => {
//!             let mut bytes = [0; 256];
//!             let count = server.copy_in(ring, &message, 0, &mut bytes)?;
//!             // ... use bytes[..count] ...
//!             server.reply(ring, message.request, count as i32);
//!         }
//!         Event::Other(completion) => { /* an interrupt, a timer: yours */ }
//!         Event::Stopped(error) => return error.result(),
//!     }
//! }
//! ```
//!
//! # What a request costs, in steady state
//! - The kernel writes the message into a free slot and posts one
//!   completion of the `RECEIVE` (no submission: it is multishot).
//! - The server pushes one `REPLY`. It is not submitted on its own: the
//!   next [`Server::wait`] (or `Ring::submit`, or `Ring::run`) publishes
//!   every reply pushed so far with the same `ring_enter` that waits for
//!   the next requests (commit-and-fetch). So a busy server makes one
//!   system call per *batch* of requests, not per request.
//! - A `REPLY` that succeeds posts nothing on the server's own ring (it is
//!   submitted with `SKIP_SUCCESS`); one that fails completes there with
//!   its error, which [`Server::next`] takes and counts
//!   ([`Server::reply_errors`]).
//! - Moving data costs one `COPY_IN` or `COPY_OUT` per piece, each a
//!   [`Ring::run`]: a system call of its own.
//!
//! # When the `RECEIVE` ends
//! A final completion of the `RECEIVE` (one without `MORE`) that carries a
//! request is handled like the others, and a new `RECEIVE` is pushed over
//! the same slots. One that carries an error is reported once as
//! [`Event::Stopped`] and not retried: the same mistake (a bad handle,
//! unmapped slots) would fail again at once, and for ever.
//!
//! # User data
//! The server's own submissions carry user data with [`SERVER_USER_DATA`]
//! set; every other completion is handed back as [`Event::Other`]. Tag your
//! own submissions without that bit (and without
//! [`crate::ring::RESERVED_USER_DATA`], which is the ring's).
//!
//! # Trust
//! The message slots are shared with the kernel, like the ring: each
//! message is copied out of its slot once, when its completion arrives, and
//! a slot index the kernel gives is checked against the array before use.
//!
//! # Invariants
//! - `slots` points to `slot_count` message slots (1 to
//!   [`RECEIVE_SLOTS_MAX`]) that live for the whole program and that
//!   nothing but the kernel and [`Server::next`] touches.
//! - At most one `RECEIVE` of this server is pushed or running at a time:
//!   `receiving` is true from pushing one until its final completion.

#![warn(missing_docs)]

#[cfg(test)]
mod tests;

use core::ptr::NonNull;

use crate::abi::{Completion, Errno, RECEIVE_SLOTS_MAX, RequestMessage, completion_flags};
use crate::ops::{self, SubmissionOptions};
use crate::ring::{Kernel, Ring, check_result};

/// User data with this bit set belongs to a [`Server`]: its `RECEIVE` and
/// its `REPLY`s.
pub const SERVER_USER_DATA: u64 = 1 << 62;
/// The user data of the server's `RECEIVE`.
const RECEIVE_USER_DATA: u64 = SERVER_USER_DATA | 1;
/// The user data of every `REPLY`: they are told apart by nothing but
/// their result, which is all a fire-and-forget reply needs.
const REPLY_USER_DATA: u64 = SERVER_USER_DATA | 2;

/// What [`Server::next`] found on the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A client's request, copied out of message slot `slot`. Answer it
    /// with [`Server::reply`] (the slot stays busy until then).
    Request {
        /// The message slot it arrived in: unique among the requests not
        /// yet answered, so it can index per-request state.
        slot: usize,
        /// The request.
        message: RequestMessage,
    },
    /// A completion that is not the server's own (an interrupt, a timer,
    /// anything else the program submitted): the caller's to handle.
    Other(Completion),
    /// The `RECEIVE` failed (a bad service handle, say): no request will
    /// arrive any more. Reported once; see [`Server::stopped`].
    Stopped(Errno),
}

/// A server's side of its service endpoint: one multishot `RECEIVE` over
/// an array of message slots, and fire-and-forget `REPLY`s.
pub struct Server {
    /// The message slots: written by the kernel, read by `next` only.
    slots: NonNull<RequestMessage>,
    /// How many slots there are, 1 to `RECEIVE_SLOTS_MAX`.
    slot_count: u32,
    /// The service handle the `RECEIVE` names.
    service: u32,
    /// A `RECEIVE` is pushed or running.
    receiving: bool,
    /// Why the `RECEIVE` ended for good, once it has.
    stopped: Option<Errno>,
    /// How many replies failed (or could not be pushed).
    reply_errors: u64,
    /// The latest of those failures.
    last_reply_error: Option<Errno>,
    /// `RECEIVE` completions that named no slot of ours (a kernel bug).
    bad_slots: u64,
}

impl Server {
    /// Starts serving the endpoint behind `service` (a service handle):
    /// pushes and submits one multishot `RECEIVE` over `slots`, one slot
    /// per request in progress at once (1 to [`RECEIVE_SLOTS_MAX`]).
    ///
    /// The slots are given up for good: the kernel writes them from now
    /// on. `Box::leak` of a boxed array is an easy way to make them.
    /// Fails with [`Errno::InvalidArgument`] for a slot array of the wrong
    /// size, or with the error of pushing or submitting the `RECEIVE`; an
    /// error the kernel finds later (a bad handle) arrives as
    /// [`Event::Stopped`].
    pub fn new<K: Kernel>(
        ring: &mut Ring<K>,
        slots: &'static mut [RequestMessage],
        service: u32,
    ) -> Result<Server, Errno> {
        let slot_count = u32::try_from(slots.len())
            .ok()
            .filter(|count| (1..=RECEIVE_SLOTS_MAX).contains(count))
            .ok_or(Errno::InvalidArgument)?;
        let mut server = Server {
            // From here on the slots are reached only through this
            // pointer, never through a reference the kernel writes behind.
            slots: NonNull::from(slots).cast(),
            slot_count,
            service,
            receiving: false,
            stopped: None,
            reply_errors: 0,
            last_reply_error: None,
            bad_slots: 0,
        };
        server.arm(ring)?;
        ring.submit()?;
        Ok(server)
    }

    /// The next event, if one is ready: takes completions off the ring
    /// until one is a request or not the server's own. Never waits; see
    /// [`Server::wait`].
    ///
    /// Along the way it counts failed replies, and, if the `RECEIVE`
    /// ended without an error (its final completion, without `MORE`),
    /// pushes a new one; it is submitted with the next `ring_enter`.
    pub fn next<K: Kernel>(&mut self, ring: &mut Ring<K>) -> Option<Event> {
        self.rearm_if_needed(ring);
        while let Some(completion) = ring.completion() {
            let event = match completion.user_data {
                RECEIVE_USER_DATA => self.received(completion),
                REPLY_USER_DATA => {
                    if let Err(error) = check_result(completion.result) {
                        self.count_reply_error(error);
                    }
                    None
                }
                _ => Some(Event::Other(completion)),
            };
            if event.is_some() {
                self.rearm_if_needed(ring);
                return event;
            }
        }
        self.rearm_if_needed(ring);
        None
    }

    /// The next event, waiting for one if none is ready. Waiting submits
    /// every pushed submission first, so the replies pushed since the last
    /// wait go to the kernel with the same system call.
    pub fn wait<K: Kernel>(&mut self, ring: &mut Ring<K>) -> Result<Event, Errno> {
        loop {
            if let Some(event) = self.next(ring) {
                return Ok(event);
            }
            ring.submit_and_wait(1)?;
        }
    }

    /// Answers `request` with `result` (a count, or an `Errno::result()`),
    /// which becomes the client's completion; the request's slot is free
    /// again. Fire and forget: the `REPLY` is pushed, and submitted with
    /// the next `ring_enter`; if it fails, [`Server::reply_errors`] counts
    /// it.
    pub fn reply<K: Kernel>(&mut self, ring: &mut Ring<K>, request: u64, result: i32) {
        self.reply_passing(ring, request, result, 0);
    }

    /// Like [`Server::reply`], and moves `handle` from this process to the
    /// client, whose result is then the handle's number there.
    pub fn reply_passing<K: Kernel>(
        &mut self,
        ring: &mut Ring<K>,
        request: u64,
        result: i32,
        handle: u32,
    ) {
        let reply = ops::reply(request, result, handle)
            .with_user_data(REPLY_USER_DATA)
            .skip_success();
        if let Err(error) = push(ring, reply) {
            self.count_reply_error(error);
        }
    }

    /// Copies bytes of `message`'s grant, from `offset` on, into `buffer`:
    /// as many as both have room for (the kernel refuses, with
    /// `-EFAULT`, a copy that would leave the grant, so this asks for no
    /// more than the grant holds). Returns how many it copied; 0 once
    /// `offset` reaches the end of the grant. Runs to completion
    /// ([`Ring::run`]): one system call.
    pub fn copy_in<K: Kernel>(
        &self,
        ring: &mut Ring<K>,
        message: &RequestMessage,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<usize, Errno> {
        let length = length_inside_grant(message, offset, buffer.len());
        if length == 0 {
            return Ok(0);
        }
        let address = buffer.as_mut_ptr() as u64;
        let copied = ring.run(ops::copy_in(message.request, offset, address, length))?;
        // The kernel's count is a claim: never more than was asked.
        Ok((copied as usize).min(length as usize))
    }

    /// Copies `bytes` into `message`'s grant at `offset`: as many as fit
    /// (see [`Server::copy_in`]). Returns how many it copied. Runs to
    /// completion ([`Ring::run`]): one system call.
    pub fn copy_out<K: Kernel>(
        &self,
        ring: &mut Ring<K>,
        message: &RequestMessage,
        offset: u64,
        bytes: &[u8],
    ) -> Result<usize, Errno> {
        let length = length_inside_grant(message, offset, bytes.len());
        if length == 0 {
            return Ok(0);
        }
        let address = bytes.as_ptr() as u64;
        let copied = ring.run(ops::copy_out(message.request, offset, address, length))?;
        Ok((copied as usize).min(length as usize))
    }

    /// Whether `message`'s client still waits for its answer: `Ok` if so,
    /// `-ECANCELED` if it gave up (`CANCEL`, a link timeout) or ended.
    /// Asks the kernel (a `COPY_OUT` of nothing: one system call). For an
    /// answer that carries something to the client without moving a byte
    /// (an end of file the client must not miss): [`Server::copy_out`] of
    /// nothing answers `Ok(0)` without asking.
    pub fn client_waits<K: Kernel>(
        &self,
        ring: &mut Ring<K>,
        message: &RequestMessage,
    ) -> Result<(), Errno> {
        let nothing = [0u8; 1];
        ring.run(ops::copy_out(
            message.request,
            0,
            nothing.as_ptr() as u64,
            0,
        ))
        .map(|_| ())
    }

    /// How many replies have failed so far (usually `-ENOENT`: the request
    /// was no longer pending, for example because its client gave up).
    pub fn reply_errors(&self) -> u64 {
        self.reply_errors
    }

    /// The latest reply failure, if there has been one.
    pub fn last_reply_error(&self) -> Option<Errno> {
        self.last_reply_error
    }

    /// Why the `RECEIVE` ended for good, once it has.
    pub fn stopped(&self) -> Option<Errno> {
        self.stopped
    }

    /// How many `RECEIVE` completions named a slot outside the array; they
    /// are dropped. Always 0 with a correct kernel.
    pub fn bad_slots(&self) -> u64 {
        self.bad_slots
    }

    /// Handles a completion of the `RECEIVE`.
    fn received(&mut self, completion: Completion) -> Option<Event> {
        if completion.flags & completion_flags::MORE == 0 {
            self.receiving = false;
        }
        let slot = match check_result(completion.result) {
            Ok(slot) => slot as usize,
            Err(error) => {
                // Re-arming after an error would most likely fail the same
                // way, and fast: stop, and say so once.
                self.stopped = Some(error);
                return Some(Event::Stopped(error));
            }
        };
        if slot >= self.slot_count as usize {
            self.bad_slots += 1;
            return None;
        }
        // SAFETY: `slots` points to `slot_count` message slots that live
        // for the whole program (the `'static` slice given to `new`), and
        // slot < slot_count. A RequestMessage is plain integers, so any
        // bytes are a valid one. The kernel wrote the slot before posting
        // this completion, which the ring read with an acquire load, and
        // will not write it again until the request is answered. Volatile,
        // so this is exactly one copy of what the kernel wrote.
        let message = unsafe { self.slots.add(slot).read_volatile() };
        Some(Event::Request { slot, message })
    }

    /// Pushes a new `RECEIVE` if the last one ended without an error.
    fn rearm_if_needed<K: Kernel>(&mut self, ring: &mut Ring<K>) {
        if !self.receiving && self.stopped.is_none() {
            // A full SQ leaves it for the next call.
            let _ = self.arm(ring);
        }
    }

    /// Pushes the `RECEIVE`.
    fn arm<K: Kernel>(&mut self, ring: &mut Ring<K>) -> Result<(), Errno> {
        let address = self.slots.as_ptr() as u64;
        let receive = ops::receive(self.service, address, self.slot_count);
        push(ring, receive.with_user_data(RECEIVE_USER_DATA))?;
        self.receiving = true;
        Ok(())
    }

    fn count_reply_error(&mut self, error: Errno) {
        self.reply_errors += 1;
        self.last_reply_error = Some(error);
    }
}

/// Pushes `submission`, submitting what is queued first if the SQ is full.
fn push<K: Kernel>(ring: &mut Ring<K>, submission: crate::abi::Submission) -> Result<(), Errno> {
    if ring.push(submission).is_err() {
        ring.submit()?;
        ring.push(submission)?;
    }
    Ok(())
}

/// How many bytes a copy of a `buffer_length`-byte buffer at `offset` in
/// `message`'s grant can move: the smaller of the buffer and what the grant
/// has left (`message.length` is the grant's size).
fn length_inside_grant(message: &RequestMessage, offset: u64, buffer_length: usize) -> u32 {
    let left = u64::from(message.length).saturating_sub(offset);
    // `left` fits a u32, because `message.length` does.
    left.min(buffer_length as u64) as u32
}
