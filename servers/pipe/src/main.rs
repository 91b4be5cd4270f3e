//! pipe: the pipe server. A program asks it for a pipe and gets two
//! handles, a read end and a write end; bytes written to one are read from
//! the other, in order (`docs/pipes.md`). The shell makes one per `|`.
//!
//! Started with the service handle of its endpoint (`serve`), as the
//! `pipe` line of a system manifest, which also says who may use it
//! (`clients=*`: every program the proc server starts).
//!
//! | request | on | what the server does |
//! | --- | --- | --- |
//! | `CONTROL [1, 0, 0]` | the service handle | a new pipe; answers with its read end, a handle moved to the client |
//! | `CONTROL [2, 0, 0]` | a read end | answers with the pipe's write end (once per pipe) |
//! | `CONTROL [3, 0, 0]` | the service handle | the number of pipes |
//! | `CONTROL [4, 0, 0]` | the service handle | the bytes of the server's heap in use |
//! | `READ` | a read end | as many bytes as there are, up to the buffer; held while the pipe is empty; 0 once it is empty and the write end closed |
//! | `WRITE` | a write end | as many bytes as there is room for (a short write; `libring` writes the rest); held while the pipe is full; `EPIPE` once the read end is closed |
//! | `RELEASE` | an end | (the kernel's, when the end's last handle is closed) that end is closed: held `READ`s see the end, held `WRITE`s `EPIPE` |
//! | anything else | | `-EINVAL` (`-EBADF` for an end used as the other end) |
//!
//! A held request keeps one of the server's message slots until it is
//! answered, so at most [`HELD_MAX`] are held at once, [`HELD_PER_CLIENT`]
//! from one process; past that, a request that would wait is answered
//! `-EBUSY` at once. The rest of the slots stay free for the requests that
//! let the held ones go.
//!
//! On the host this builds to a stub, so that `cargo test -p pipe` can
//! test the library.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the pipe server runs on Annulus: try `cargo xtask run`");
}

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use libring::abi::{Errno, Opcode, RECEIVE_SLOTS_MAX, RequestMessage};
    use libring::ops;
    use libring::println;
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};
    use pipe::{COUNT, CREATE, HEAP, Pipes, Readable, WRITE_END, Writable};

    libring::entry!(main);

    /// Message slots.
    const SLOTS: usize = RECEIVE_SLOTS_MAX as usize;
    /// Requests held at once, at most: the other slots stay free.
    pub const HELD_MAX: usize = 48;
    /// Requests of one process held at once, at most.
    pub const HELD_PER_CLIENT: usize = 8;
    /// Bytes moved through the server's own buffer at a time.
    const PIECE: usize = 16 * 1024;

    struct PipeServer {
        service: u32,
        server: Server,
        pipes: Pipes,
        /// Requests waiting for bytes or room, oldest first.
        held: Vec<RequestMessage>,
        /// Where bytes pass between a client and a pipe.
        piece: Box<[u8]>,
    }

    fn main(_arguments: Arguments) -> i32 {
        let Some(&service) = runtime::handles().first() else {
            println!("pipe: started without a service handle (serve)");
            return 1;
        };
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        let Ok(server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            println!("pipe: cannot serve");
            return 1;
        };
        let mut state = PipeServer {
            service,
            server,
            pipes: Pipes::new(),
            held: Vec::with_capacity(HELD_MAX),
            piece: vec![0u8; PIECE].into_boxed_slice(),
        };
        loop {
            match with_ring(|ring| state.server.wait(ring)) {
                Ok(Event::Request { message, .. }) => state.serve(&message),
                Ok(Event::Other(_)) => {}
                Ok(Event::Stopped(_)) | Err(_) => {
                    println!("pipe: the endpoint is gone; stopping");
                    return 1;
                }
            }
        }
    }

    /// What became of a request.
    enum Outcome {
        /// Answered with this result.
        Answer(i32),
        /// Answered already (with a handle).
        Answered,
        /// It must wait.
        Wait,
    }

    impl PipeServer {
        fn serve(&mut self, message: &RequestMessage) {
            let outcome = match Opcode::try_from(message.opcode) {
                Ok(Opcode::Control) => self.control(message),
                Ok(Opcode::Read) => self.read(message),
                Ok(Opcode::Write) => self.write(message),
                // Only the kernel's: a client closing an end for everyone
                // that shares it is not its call.
                Ok(Opcode::Release) if message.client == 0 => {
                    let slot = self.pipes.release(message.badge);
                    self.reply(message.request, 0);
                    self.retry_held(slot);
                    return;
                }
                _ => Outcome::Answer(Errno::InvalidArgument.result()),
            };
            match outcome {
                Outcome::Answer(result) => self.reply(message.request, result),
                Outcome::Answered => {}
                Outcome::Wait => self.hold(message),
            }
            // Bytes moved, room made: the other side may go on now.
            self.retry_held(self.pipes.slot_of(message.badge));
        }

        fn reply(&mut self, request: u64, result: i32) {
            with_ring(|ring| self.server.reply(ring, request, result));
        }

        fn control(&mut self, message: &RequestMessage) -> Outcome {
            let made = match message.arguments {
                [CREATE, 0, 0] if pipe::end_of(message.badge).is_none() => {
                    self.pipes.create(message.client)
                }
                [WRITE_END, 0, 0] => self.pipes.write_end(message.badge),
                [COUNT, 0, 0] if pipe::end_of(message.badge).is_none() => {
                    return Outcome::Answer(self.pipes.count() as i32);
                }
                [HEAP, 0, 0] if pipe::end_of(message.badge).is_none() => {
                    let bytes = runtime::heap_bytes_in_use();
                    return Outcome::Answer(i32::try_from(bytes).unwrap_or(i32::MAX));
                }
                _ => Err(Errno::InvalidArgument),
            };
            let badge = match made {
                Ok(badge) => badge,
                Err(error) => return Outcome::Answer(error.result()),
            };
            let minted = with_ring(|ring| ring.run(ops::mint(self.service, badge)));
            match minted {
                Ok(handle) => {
                    let request = message.request;
                    with_ring(|ring| self.server.reply_passing(ring, request, 0, handle as u32));
                    Outcome::Answered
                }
                Err(error) => {
                    // Nobody has the end: it is as good as closed.
                    self.pipes.release(badge);
                    Outcome::Answer(error.result())
                }
            }
        }

        /// A `READ` of a read end, now if it can be answered.
        fn read(&mut self, message: &RequestMessage) -> Outcome {
            match self.pipes.readable(message.badge) {
                Err(error) => Outcome::Answer(error.result()),
                Ok(Readable::End) => Outcome::Answer(0),
                Ok(Readable::Empty) if message.length == 0 => Outcome::Answer(0),
                Ok(Readable::Empty) => Outcome::Wait,
                Ok(Readable::Bytes(_)) => {
                    let wanted = (message.length as usize).min(PIECE);
                    let Ok(count) = self.pipes.peek(message.badge, &mut self.piece[..wanted])
                    else {
                        return Outcome::Answer(Errno::BadHandle.result());
                    };
                    let piece = &self.piece[..count];
                    // Taken only once the reader has them: a reader that
                    // cannot (gone, gave up, a bad buffer) leaves them for
                    // the next.
                    match with_ring(|ring| self.server.copy_out(ring, message, 0, piece)) {
                        Ok(copied) => {
                            let _ = self.pipes.consume(message.badge, copied);
                            Outcome::Answer(copied as i32)
                        }
                        Err(error) => Outcome::Answer(error.result()),
                    }
                }
            }
        }

        /// A `WRITE` to a write end, now if there is room.
        fn write(&mut self, message: &RequestMessage) -> Outcome {
            match self.pipes.writable(message.badge) {
                Err(error) => Outcome::Answer(error.result()),
                Ok(_) if message.length == 0 => Outcome::Answer(0),
                Ok(Writable::Full) => Outcome::Wait,
                Ok(Writable::Room(room)) => {
                    let wanted = (message.length as usize).min(room).min(PIECE);
                    let piece = &mut self.piece[..wanted];
                    let copied =
                        match with_ring(|ring| self.server.copy_in(ring, message, 0, piece)) {
                            Ok(copied) => copied,
                            Err(error) => return Outcome::Answer(error.result()),
                        };
                    match self.pipes.push(message.badge, &self.piece[..copied]) {
                        Ok(taken) => Outcome::Answer(taken as i32),
                        Err(error) => Outcome::Answer(error.result()),
                    }
                }
            }
        }

        /// Keeps a request that must wait, if the bounds allow; `EBUSY`
        /// otherwise.
        fn hold(&mut self, message: &RequestMessage) {
            let from_client = self
                .held
                .iter()
                .filter(|held| held.client == message.client)
                .count();
            if self.held.len() >= HELD_MAX || from_client >= HELD_PER_CLIENT {
                self.reply(message.request, Errno::Busy.result());
                return;
            }
            // Capacity for HELD_MAX was reserved at start: no allocation.
            self.held.push(*message);
        }

        /// Answers the held requests of pipe `slot` that can be answered
        /// now, oldest first, until none moves.
        fn retry_held(&mut self, slot: Option<usize>) {
            let Some(slot) = slot else {
                self.answer_orphans();
                return;
            };
            loop {
                let mut moved = false;
                let mut index = 0;
                while index < self.held.len() {
                    let message = self.held[index];
                    if self.pipes.slot_of(message.badge) != Some(slot) {
                        index += 1;
                        continue;
                    }
                    let outcome = match Opcode::try_from(message.opcode) {
                        Ok(Opcode::Read) => self.read(&message),
                        _ => self.write(&message),
                    };
                    match outcome {
                        Outcome::Wait => index += 1,
                        Outcome::Answer(result) => {
                            self.held.remove(index);
                            self.reply(message.request, result);
                            moved = true;
                        }
                        Outcome::Answered => {
                            self.held.remove(index);
                            moved = true;
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
            self.answer_orphans();
        }

        /// Held requests whose pipe has gone (both ends closed while they
        /// waited, their own handle among them): `EBADF`.
        fn answer_orphans(&mut self) {
            let mut index = 0;
            while index < self.held.len() {
                if self.pipes.slot_of(self.held[index].badge).is_none() {
                    let message = self.held.remove(index);
                    self.reply(message.request, Errno::BadHandle.result());
                } else {
                    index += 1;
                }
            }
        }
    }
}
