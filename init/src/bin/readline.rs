//! readline: reads lines from the console until end of file, and says
//! what it got.
//!
//! Started beside the console server with a client handle to it
//! (`readline+use=console`). It prints the prompt `readline> `, reads one
//! line with `READ` on its console handle, prints `got: <line>`, and
//! prompts again; Ctrl-C (the `READ` fails with `EINTR`) prints
//! `interrupted`; end of file (Ctrl-D on an empty line: the `READ` gets 0
//! bytes) prints `readline: end of file` and ends the program with 0. The
//! `console-input` QEMU test types into it.

#![no_std]
#![no_main]

use libring::abi::Errno;
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use libring::{print, println};

libring::entry!(main);

/// The longest line it reads at once (a longer one comes in pieces).
const LINE_MAX: usize = 256;

fn main(_arguments: Arguments) -> i32 {
    let Some(console) = runtime::stdin() else {
        println!("readline: no standard input (run it with +use=console)");
        return 2;
    };
    let mut buffer = [0u8; LINE_MAX];
    loop {
        print!("readline> ");
        match with_ring(|ring| ring.run(ops::read(console, &mut buffer, 0))) {
            Ok(0) => {
                println!("readline: end of file");
                return 0;
            }
            Ok(count) => {
                let line = &buffer[..(count as usize).min(LINE_MAX)];
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                match core::str::from_utf8(line) {
                    Ok(text) => println!("got: {text}"),
                    Err(_) => println!("got: {line:?} (not UTF-8)"),
                }
            }
            Err(Errno::Interrupted) => println!("interrupted"),
            Err(error) => {
                println!("readline: READ failed: {}", error.name());
                return 1;
            }
        }
    }
}
