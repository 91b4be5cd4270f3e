//! cat: writes each file named on its command line to standard output, in
//! order (`cat /README.txt`); with no file, copies standard input to
//! standard output until its end (`ls | cat`, or lines typed until Ctrl-D).
//! A file that cannot be read gets one line on standard error, `cat: PATH:
//! why`, and the others are still written; the exit code is 1 if any
//! failed. Once standard output is a pipe no one reads (`EPIPE`), it stops.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::eprintln;
use libring::ops;
use libring::runtime::{self, Arguments, Output, with_ring};

libring::entry!(main);

/// Bytes read and written at a time.
const CHUNK: usize = 64 * 1024;

/// Where a copy went wrong: reading its source, or writing the output.
enum Failed {
    Reading(Errno),
    Writing(Errno),
}

/// Copies the file at `path` to standard output.
fn cat(fs: u32, path: &str, buffer: &mut [u8]) -> Result<(), Failed> {
    let file = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))
        .map_err(Failed::Reading)? as u32;
    let mut offset = 0u64;
    let result = loop {
        let count = match with_ring(|ring| ring.run(ops::read(file, buffer, offset))) {
            Ok(0) => break Ok(()),
            Ok(count) => count as usize,
            Err(error) => break Err(Failed::Reading(error)),
        };
        if let Err(error) = runtime::write_output(Output::Out, &buffer[..count]) {
            break Err(Failed::Writing(error));
        }
        offset += count as u64;
    };
    let _ = with_ring(|ring| ring.run(ops::close(file)));
    result
}

/// Copies standard input to standard output.
fn cat_stdin(buffer: &mut [u8]) -> Result<(), Failed> {
    loop {
        match runtime::read_stdin(buffer) {
            Ok(0) => return Ok(()),
            Ok(count) => {
                runtime::write_output(Output::Out, &buffer[..count]).map_err(Failed::Writing)?
            }
            // ^C at the console ends the line being typed, not cat.
            Err(Errno::Interrupted) => {}
            Err(error) => return Err(Failed::Reading(error)),
        }
    }
}

fn main(arguments: Arguments) -> i32 {
    let mut buffer = vec![0u8; CHUNK];
    let paths = arguments.iter().skip(1);
    if arguments.len() <= 1 {
        return match cat_stdin(&mut buffer) {
            Ok(()) => 0,
            Err(Failed::Writing(Errno::BrokenPipe)) => 1,
            Err(Failed::Reading(error) | Failed::Writing(error)) => {
                eprintln!("cat: {}", error.description());
                1
            }
        };
    }
    let Some(fs) = runtime::file_system() else {
        eprintln!("cat: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    for path in paths {
        match cat(fs, path, &mut buffer) {
            Ok(()) => {}
            Err(Failed::Reading(error)) => {
                eprintln!("cat: {path}: {}", error.description());
                failed = true;
            }
            // No one reads any more: nothing more to do.
            Err(Failed::Writing(Errno::BrokenPipe)) => return 1,
            Err(Failed::Writing(error)) => {
                eprintln!("cat: {}", error.description());
                return 1;
            }
        }
    }
    i32::from(failed)
}
