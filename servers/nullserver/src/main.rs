//! nullserver: a server that does as little as a server can, for
//! `cargo xtask bench` (docs/performance.md).
//!
//! Startup handles: [service]. Every request is answered at once:
//! - `CONTROL [0, ..]`: 0 (the forwarded NOP); `CONTROL [1, ..]`: 0, then
//!   the server exits (the benchmark's last request);
//! - `READ`: the grant filled from a static buffer with one `COPY_OUT`,
//!   answered with the length (a read through a server: one copy);
//! - `WRITE`: answered with the length, nothing copied;
//! - anything else: `-EINVAL`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec;
use libring::abi::{Errno, Opcode, RequestMessage};
use libring::runtime::{self, Arguments, with_ring};
use libring::server::{Event, Server};

libring::entry!(main);

/// Message slots: enough for a batch of 32 requests in flight.
const SLOTS: usize = 64;
/// The largest READ served from the static buffer.
const LARGEST_READ: usize = 64 * 1024;

fn main(_arguments: Arguments) -> i32 {
    let &[service] = runtime::handles() else {
        libring::println!("nullserver: expected one startup handle (+serve=NAME)");
        return 1;
    };
    let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
    let data: &'static [u8] = Box::leak(vec![0x5a; LARGEST_READ].into_boxed_slice());
    let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
        libring::println!("nullserver: cannot serve");
        return 1;
    };
    loop {
        let done = with_ring(|ring| {
            let Ok(event) = server.wait(ring) else {
                return true;
            };
            let Event::Request { message, .. } = event else {
                return false;
            };
            let (result, exit) = match Opcode::try_from(message.opcode) {
                Ok(Opcode::Control) => (0, message.arguments[0] == 1),
                Ok(Opcode::Read) => {
                    let length = (message.length as usize).min(LARGEST_READ);
                    match server.copy_out(ring, &message, 0, &data[..length]) {
                        Ok(copied) => (copied as i32, false),
                        Err(error) => (error.result(), false),
                    }
                }
                Ok(Opcode::Write) => (message.length as i32, false),
                _ => (Errno::InvalidArgument.result(), false),
            };
            server.reply(ring, message.request, result);
            if exit {
                // Hand the last reply to the kernel before leaving.
                let _ = ring.submit();
            }
            exit
        });
        if done {
            return 0;
        }
    }
}
