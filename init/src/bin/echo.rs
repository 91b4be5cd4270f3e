//! echo: prints its arguments, separated by spaces, on one line, to
//! standard output (`echo hi > file` puts the line in a file).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use libring::runtime::Arguments;

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let mut line = String::new();
    for (index, word) in arguments.iter().skip(1).enumerate() {
        if index > 0 {
            line.push(' ');
        }
        line.push_str(word);
    }
    line.push('\n');
    // A write that fails (a file grown past its server's limit, a pipe
    // nobody reads) is said, not lost.
    match libring::runtime::write_output(libring::runtime::Output::Out, line.as_bytes()) {
        Ok(()) => 0,
        Err(error) => {
            libring::eprintln!("echo: {}", error.description());
            1
        }
    }
}
