//! greeter: the example server of `docs/systems.md`, the smallest useful
//! server there is. Each `READ` gets a greeting naming the client's
//! process; anything else gets `EINVAL`.
//!
//! Started with the service handle of its endpoint and a console client,
//! in that order: the manifest line
//! `role.greeter = { server = "greeter", grants = ["serve", "use=console"] }`.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;
    use libring::abi::{Errno, Opcode, RequestMessage};
    use libring::println;
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};

    libring::entry!(main);

    fn main(_arguments: Arguments) -> i32 {
        // The handles, in the order the manifest grants them.
        let [service, _console] = *runtime::handles() else {
            println!("greeter: expected the handles [service, console]");
            return 1;
        };
        // Where the kernel writes requests: up to 4 at once.
        let slots = Box::leak(vec![RequestMessage::default(); 4].into_boxed_slice());
        let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            println!("greeter: cannot serve");
            return 1;
        };
        println!("greeter: ready");
        loop {
            let message = match with_ring(|ring| server.wait(ring)) {
                Ok(Event::Request { message, .. }) => message,
                Ok(Event::Other(_)) => continue,
                Ok(Event::Stopped(_)) | Err(_) => return 1,
            };
            let result = match Opcode::try_from(message.opcode) {
                Ok(Opcode::Read) => {
                    // The kernel says which process asks.
                    let text = alloc::format!("hello, process {}\n", message.client);
                    let room = (message.length as usize).min(text.len());
                    with_ring(|ring| server.copy_out(ring, &message, 0, &text.as_bytes()[..room]))
                        .map_or_else(Errno::result, |copied| copied as i32)
                }
                _ => Errno::InvalidArgument.result(),
            };
            with_ring(|ring| server.reply(ring, message.request, result));
        }
    }
}
