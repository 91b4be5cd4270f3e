//! yes: writes its arguments (or `y`) on a line, again and again, to
//! standard output, until no one reads any more (`EPIPE`): `yes | head -n
//! 3`. Whole 4 KiB pieces of lines at a time.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use libring::abi::Errno;
use libring::runtime::{self, Arguments, Output};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let mut line = String::new();
    for (index, word) in arguments.iter().skip(1).enumerate() {
        if index > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.is_empty() {
        line.push('y');
    }
    line.push('\n');
    let mut piece = String::new();
    while piece.len() + line.len() <= 4096 || piece.is_empty() {
        piece.push_str(&line);
    }
    loop {
        match runtime::write_output(Output::Out, piece.as_bytes()) {
            Ok(()) => {}
            // The reader has gone: done.
            Err(Errno::BrokenPipe) => return 0,
            Err(error) => {
                libring::eprintln!("yes: {}", error.description());
                return 1;
            }
        }
    }
}
