//! greet: asks the greeter (`servers/greeter`, the example server of
//! `docs/systems.md`) for a greeting and prints it. It finds the greeter
//! by name (`runtime::service`): the greeter system's manifest gives it to
//! `/bin/greet` (`clients = ["greet"]`), and a test's command line as
//! `greet+use=console+use=greeter`.

#![no_std]
#![no_main]

use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

fn main(_arguments: Arguments) -> i32 {
    let Some(greeter) = runtime::service("greeter") else {
        libring::eprintln!("greet: no greeter service was given to this program");
        return 1;
    };
    let mut buffer = [0u8; 64];
    match with_ring(|ring| ring.run(ops::read(greeter, &mut buffer, 0))) {
        Ok(count) => {
            let text = core::str::from_utf8(&buffer[..count as usize]).unwrap_or("?");
            libring::print!("greet: {text}");
            0
        }
        Err(error) => {
            libring::println!("greet: {}", error.description());
            1
        }
    }
}
