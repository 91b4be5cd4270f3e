//! init: the first process.
//!
//! For now it greets and then waits forever, so `cargo xtask run` shows
//! user space alive. (Later it reads the system manifest and starts the
//! servers and the shell.)

#![no_std]
#![no_main]

use libring::abi::SystemValue;
use libring::ops;
use libring::runtime::{Arguments, with_ring};

libring::entry!(main);

fn main(_arguments: Arguments) -> i32 {
    let id = with_ring(|ring| ring.run(ops::system_info(SystemValue::ProcessId))).unwrap_or(-1);
    libring::println!("init: user space is up (process {id}); nothing else to start yet");
    loop {
        // One second at a time: a TIMEOUT is how a process sleeps.
        let _ = with_ring(|ring| ring.run(ops::timeout(1_000_000_000)));
    }
}
