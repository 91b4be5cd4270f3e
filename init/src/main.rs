//! init: the first process.
//!
//! For now it greets and then waits forever, so `cargo xtask run` shows
//! user space alive. (Later it reads the system manifest and starts the
//! servers and the shell.)
//!
//! Started as `init:bench` (by `cargo xtask bench`, on a kernel booted with
//! `bench`), it also reports the boot figures of docs/performance.md:
//! instructions retired from the kernel's first instruction until its
//! greeting has gone through the console server, and the RAM in use then.

#![no_std]
#![no_main]

use core::arch::asm;
use libring::abi::SystemValue;
use libring::ops;
use libring::runtime::{Arguments, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let id = with_ring(|ring| ring.run(ops::system_info(SystemValue::ProcessId))).unwrap_or(-1);
    libring::println!("init: user space is up (process {id}); nothing else to start yet");
    if arguments.iter().any(|argument| argument == "bench") {
        report_boot();
    }
    loop {
        // One second at a time: a TIMEOUT is how a process sleeps.
        let _ = with_ring(|ring| ring.run(ops::timeout(1_000_000_000)));
    }
}

/// The boot figures, read right after the greeting was written.
fn report_boot() {
    let instructions: u64;
    // SAFETY: reads PMU counter 0, which the kernel lets EL0 read when
    // booted with `bench` (the only way `init:bench` is started).
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) instructions, options(nomem, nostack)) };
    let frames = |value| with_ring(|ring| ring.run(ops::system_info(value))).unwrap_or(0) as i64;
    let in_use = frames(SystemValue::TotalFrames) - frames(SystemValue::FreeFrames);
    libring::println!("bench: boot_to_first_line {} 1", instructions as u32);
    libring::println!("bench: frames_in_use_kib {} 1", in_use * 4);
}
