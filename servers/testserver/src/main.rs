//! testserver: a server that exists to be tested against.
//!
//! It serves the endpoint behind its first startup handle (`run=` gives it
//! with `+serve=NAME`), and its client is init's `serverclient`. The
//! protocol is in `src/lib.rs`; this is the server, built by hand on the
//! ring operations so that it exercises exactly what the kernel offers:
//!
//! ```text
//!  RECEIVE (multishot, 16 message slots) ──► CQE: slot k, MORE
//!     read slot k ──► COPY_IN / COPY_OUT pieces (each with Ring::run)
//!                 ──► one REPLY: the client's completion; slot k is free
//! ```
//!
//! Each request is answered with exactly one `REPLY`, except those it is
//! told to hold, which wait in [`Server::held`] until a `RELEASE` (or a
//! `MISUSE`) answers them. It never prints while it serves, since printing
//! takes the ring.
//!
//! # Invariants
//! - One `RECEIVE` is armed, from start to exit; if the kernel ends it,
//!   the server says why and exits.
//! - A message slot is read (copied out) before its request is answered:
//!   the `REPLY` hands the slot back to the kernel.

#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use libring::abi::{Completion, Errno, Opcode, RequestMessage, completion_flags};
use libring::ops::{self, SubmissionOptions};
use libring::ring::Ring;
use libring::runtime::{Arguments, Syscall, handles, with_ring};
use testserver::{
    Checksum, HOLD_READ, MINTED_BADGE, MISUSE_BYTES, RELEASED, control, misuse, pattern_byte,
};
use zerocopy::FromBytes;

libring::entry!(main);

/// Message slots in the one `RECEIVE`.
const SLOTS: usize = 16;

/// The `user_data` of the `RECEIVE`. (Everything else goes through
/// `Ring::run`, which picks its own.)
const RECEIVE_TAG: u64 = 1;

/// The largest `READ` or `WRITE` the server moves, and its buffer's size.
const BUFFER_SIZE: usize = 8192;

/// Bytes per `COPY_IN`/`COPY_OUT`: an odd size, so pieces start at offsets
/// that are not aligned to anything.
const PIECE: usize = 1500;

/// The message slots the kernel writes requests into: 16 of 64 bytes.
#[repr(C, align(64))]
struct MessageSlots(UnsafeCell<[[u8; RequestMessage::SIZE as usize]; SLOTS]>);

// SAFETY: the process has one thread, and the slots are only ever read
// (with volatile copies) by it; the kernel writes them between system calls.
unsafe impl Sync for MessageSlots {}

static MESSAGES: MessageSlots =
    MessageSlots(UnsafeCell::new([[0; RequestMessage::SIZE as usize]; SLOTS]));

impl MessageSlots {
    fn address(&self) -> u64 {
        self.0.get() as u64
    }

    /// A copy of slot `slot`'s message.
    fn read(&self, slot: usize) -> Option<RequestMessage> {
        if slot >= SLOTS {
            return None;
        }
        // SAFETY: `slot` is in bounds (checked above), the array is static,
        // and this is a copy made with one volatile read: the kernel wrote
        // the slot behind the compiler's back, before posting the
        // completion we just took (inside a system call, which the
        // compiler treats as touching all memory).
        let bytes = unsafe {
            self.0
                .get()
                .cast::<[u8; RequestMessage::SIZE as usize]>()
                .add(slot)
                .read_volatile()
        };
        RequestMessage::read_from_bytes(&bytes).ok()
    }
}

/// A request kept unanswered.
#[derive(Clone, Copy)]
struct Held {
    request: u64,
    opcode: u8,
    length: u32,
}

/// What the loop does after a step.
enum Step {
    Continue,
    /// Exit with this code (after a `CONTROL EXIT`).
    Exit(i32),
    /// The `RECEIVE` ended, or the ring failed: exit and say why.
    Failed(&'static str, i32),
}

struct Server {
    /// The service handle.
    service: u32,
    /// Held requests, oldest first.
    held: [Option<Held>; SLOTS],
    buffer: [u8; BUFFER_SIZE],
}

fn main(_arguments: Arguments) -> i32 {
    let Some(&service) = handles().first() else {
        libring::println!("testserver: started without a service handle (run it with +serve=NAME)");
        return 2;
    };
    let mut server = Server {
        service,
        held: [None; SLOTS],
        buffer: [0; BUFFER_SIZE],
    };
    let receive = ops::receive(service, MESSAGES.address(), SLOTS as u32);
    let armed = with_ring(|ring| {
        ring.push(receive.with_user_data(RECEIVE_TAG))
            .map_err(Errno::from)?;
        ring.submit()
    });
    if let Err(error) = armed {
        libring::println!("testserver: cannot arm RECEIVE: {}", error.name());
        return 1;
    }
    loop {
        match with_ring(|ring| server.step(ring)) {
            Step::Continue => {}
            Step::Exit(code) => return code,
            Step::Failed(why, result) => {
                libring::println!("testserver: {why} ({result})");
                return 1;
            }
        }
    }
}

impl Server {
    /// Waits for the next request and deals with it.
    fn step(&mut self, ring: &mut Ring<Syscall>) -> Step {
        let completion = match next_completion(ring) {
            Ok(completion) => completion,
            Err(error) => return Step::Failed("the ring failed", error.result()),
        };
        if completion.user_data != RECEIVE_TAG {
            return Step::Continue; // a late completion of something else
        }
        if completion.flags & completion_flags::MORE == 0 {
            return Step::Failed("the kernel ended RECEIVE", completion.result);
        }
        let Some(message) = usize::try_from(completion.result)
            .ok()
            .and_then(|slot| MESSAGES.read(slot))
        else {
            return Step::Failed("RECEIVE named no slot of ours", completion.result);
        };
        self.handle(ring, &message)
    }

    fn handle(&mut self, ring: &mut Ring<Syscall>, message: &RequestMessage) -> Step {
        let request = message.request;
        let result = match Opcode::try_from(message.opcode) {
            Ok(Opcode::Write) => self.checksum(ring, message),
            Ok(Opcode::Read) if message.operation_flags & HOLD_READ != 0 => {
                return self.hold(ring, message);
            }
            Ok(Opcode::Read) => self.fill(ring, message),
            Ok(Opcode::Control) => return self.control(ring, message),
            _ => Errno::InvalidArgument.result(),
        };
        reply(ring, request, result);
        Step::Continue
    }

    /// `WRITE`: the checksum of the grant, read in pieces.
    fn checksum(&mut self, ring: &mut Ring<Syscall>, message: &RequestMessage) -> i32 {
        let length = message.length as usize;
        if length > BUFFER_SIZE {
            return Errno::InvalidArgument.result();
        }
        let mut checksum = Checksum::new();
        for start in (0..length).step_by(PIECE) {
            let piece = &mut self.buffer[..PIECE.min(length - start)];
            let copy = ops::copy_in(
                message.request,
                start as u64,
                piece.as_mut_ptr() as u64,
                piece.len() as u32,
            );
            match ring.run(copy) {
                Ok(copied) if copied as usize == piece.len() => checksum.update(piece),
                Ok(_) => return Errno::Fault.result(),
                Err(error) => return error.result(),
            }
        }
        checksum.result()
    }

    /// `READ`: fills the grant with the pattern, in pieces.
    fn fill(&mut self, ring: &mut Ring<Syscall>, message: &RequestMessage) -> i32 {
        let length = message.length as usize;
        if length > BUFFER_SIZE {
            return Errno::InvalidArgument.result();
        }
        for start in (0..length).step_by(PIECE) {
            let piece = &mut self.buffer[..PIECE.min(length - start)];
            for (index, byte) in piece.iter_mut().enumerate() {
                *byte = pattern_byte(message.offset.wrapping_add((start + index) as u64));
            }
            let copy = ops::copy_out(
                message.request,
                start as u64,
                piece.as_ptr() as u64,
                piece.len() as u32,
            );
            match ring.run(copy) {
                Ok(copied) if copied as usize == piece.len() => {}
                Ok(_) => return Errno::Fault.result(),
                Err(error) => return error.result(),
            }
        }
        length as i32
    }

    /// Keeps `message`'s request unanswered.
    fn hold(&mut self, ring: &mut Ring<Syscall>, message: &RequestMessage) -> Step {
        let held = Held {
            request: message.request,
            opcode: message.opcode,
            length: message.length,
        };
        match self.held.iter_mut().find(|place| place.is_none()) {
            Some(place) => *place = Some(held),
            // Cannot happen: every held request has a slot of its own.
            None => reply(ring, message.request, Errno::Busy.result()),
        }
        Step::Continue
    }

    /// The most recently held request that `wanted` accepts, taken out of
    /// the list.
    fn take_held(&mut self, wanted: impl Fn(&Held) -> bool) -> Option<Held> {
        let place = self
            .held
            .iter_mut()
            .rev()
            .find(|place| place.as_ref().is_some_and(&wanted))?;
        place.take()
    }

    fn control(&mut self, ring: &mut Ring<Syscall>, message: &RequestMessage) -> Step {
        let request = message.request;
        let [what, argument, _] = message.arguments;
        let result = match what {
            control::ECHO => argument as i32,
            control::HOLD => return self.hold(ring, message),
            control::WHOAMI => self
                .held
                .iter()
                .rev()
                .flatten()
                .next()
                .map_or(Errno::NotFound.result(), |held| {
                    testserver::pack_request(held.request)
                }),
            control::RELEASE => {
                for held in self.held.iter_mut().filter_map(Option::take) {
                    reply(ring, held.request, RELEASED);
                }
                0
            }
            control::MISUSE => self.misuse(ring, request) as i32,
            control::STEAL => {
                match ring.run(ops::reply(testserver::unpack_request(argument), 0, 0)) {
                    Ok(result) => result,
                    Err(error) => error.result(),
                }
            }
            control::CRASH => crash(),
            control::BADGE => (message.badge & 0x7fff_ffff) as i32,
            control::GIVE_HANDLE => match ring.run(ops::mint(self.service, MINTED_BADGE)) {
                Ok(handle) => {
                    // The handle moves to the client, whose result is its
                    // number there.
                    if let Err(error) = ring.run(ops::reply(request, 0, handle as u32)) {
                        reply(ring, request, error.result());
                    }
                    return Step::Continue;
                }
                Err(error) => error.result(),
            },
            control::EXIT => {
                reply(ring, request, 0);
                return Step::Exit(0);
            }
            _ => Errno::InvalidArgument.result(),
        };
        reply(ring, request, result);
        Step::Continue
    }

    /// Breaks each rule in turn and returns the [`misuse`] bits of the
    /// refusals that came as documented. `request` is the `MISUSE` request
    /// itself; the grant misuses use the most recent held `READ`.
    fn misuse(&mut self, ring: &mut Ring<Syscall>, request: u64) -> u32 {
        let mut bits = 0;
        let mut expect = |bit: u32, result: Result<i32, Errno>, wanted: Result<i32, Errno>| {
            if result == wanted {
                bits |= bit;
            }
        };
        expect(
            misuse::REPLY_TO_AN_UNKNOWN_REQUEST,
            ring.run(ops::reply(0x0bad_0000_0000_0001, 0, 0)),
            Err(Errno::NotFound),
        );
        let source = MISUSE_BYTES.as_ptr() as u64;
        expect(
            misuse::COPY_WITHOUT_A_GRANT,
            ring.run(ops::copy_in(request, 0, self.buffer.as_mut_ptr() as u64, 4)),
            Err(Errno::NotPermitted),
        );
        expect(
            misuse::FORWARD_THROUGH_A_SERVICE_HANDLE,
            ring.run(ops::control(self.service, [control::ECHO, 1, 0])),
            Err(Errno::NotPermitted),
        );
        let Some(held) =
            self.take_held(|held| held.opcode == Opcode::Read as u8 && held.length >= 4)
        else {
            return bits; // no grant to misuse: those bits stay clear
        };
        let id = held.request;
        expect(
            misuse::COPY_OUT_PAST_THE_GRANT,
            ring.run(ops::copy_out(id, held.length as u64 - 2, source, 4)),
            Err(Errno::Fault),
        );
        expect(
            misuse::COPY_OUT_AT_A_WRAPPING_OFFSET,
            ring.run(ops::copy_out(id, u64::MAX - 1, source, 4)),
            Err(Errno::Fault),
        );
        expect(
            misuse::COPY_IN_FROM_A_WRITE_ONLY_GRANT,
            ring.run(ops::copy_in(id, 0, self.buffer.as_mut_ptr() as u64, 4)),
            Err(Errno::NotPermitted),
        );
        // The first page is never mapped.
        expect(
            misuse::COPY_OUT_FROM_UNMAPPED_MEMORY,
            ring.run(ops::copy_out(id, 0, 0x10, 4)),
            Err(Errno::Fault),
        );
        expect(
            misuse::REPLY_PASSING_A_FORGED_HANDLE,
            ring.run(ops::reply(id, 4, 0x7ff0_0fff)),
            Err(Errno::BadHandle),
        );
        // The request is still pending (the forged REPLY changed nothing).
        expect(
            misuse::COPY_OUT_INSIDE_THE_GRANT,
            ring.run(ops::copy_out(id, 0, source, 4)),
            Ok(4),
        );
        expect(misuse::FIRST_REPLY, ring.run(ops::reply(id, 4, 0)), Ok(0));
        expect(
            misuse::SECOND_REPLY,
            ring.run(ops::reply(id, 4, 0)),
            Err(Errno::NotFound),
        );
        expect(
            misuse::COPY_AFTER_THE_REPLY,
            ring.run(ops::copy_out(id, 0, source, 4)),
            Err(Errno::NotFound),
        );
        bits
    }
}

/// Answers `request` with `result`. A refused `REPLY` has nobody to tell:
/// the client then sees whatever the kernel decides (a cancelled client
/// gets nothing).
fn reply(ring: &mut Ring<Syscall>, request: u64, result: i32) {
    let _ = ring.run(ops::reply(request, result, 0));
}

/// The next completion, waiting for one if there is none.
fn next_completion(ring: &mut Ring<Syscall>) -> Result<Completion, Errno> {
    loop {
        if let Some(completion) = ring.completion() {
            return Ok(completion);
        }
        ring.submit_and_wait(1)?;
    }
}

/// `CONTROL CRASH`: a write to our own (read-only) program text.
fn crash() -> ! {
    let text = main as *const () as *mut u32;
    // SAFETY: not safe, on purpose: the kernel must kill us here, with
    // requests in flight.
    unsafe { text.write_volatile(0) };
    // If the kernel let that pass, die another way rather than answer.
    libring::runtime::exit(99)
}
