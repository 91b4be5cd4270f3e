//! cat: writes each file named on its command line to the console, in
//! order (`cat /README.txt`). Started with the console and the file
//! system (`+use=console+use=fs`). A file that cannot be read gets one
//! line, `cat: PATH: why`, and the others are still written; the exit code
//! is 1 if any failed.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

/// Bytes read and written at a time.
const CHUNK: usize = 64 * 1024;

/// Copies the file at `path` to the console.
fn cat(fs: u32, console: u32, path: &str) -> Result<(), Errno> {
    let mut buffer = vec![0u8; CHUNK];
    with_ring(|ring| {
        let file = ring.run(ops::open(fs, path.as_bytes(), open_flags::READ))? as u32;
        let mut offset = 0u64;
        let result = loop {
            let count = match ring.run(ops::read(file, &mut buffer, offset)) {
                Ok(0) => break Ok(()),
                Ok(count) => count as usize,
                Err(error) => break Err(error),
            };
            // The console may take less than all of it (a short write).
            let mut rest = &buffer[..count];
            let mut failed = None;
            while !rest.is_empty() && failed.is_none() {
                match ring.run(ops::write(console, rest, 0)) {
                    Ok(written) if written > 0 => rest = &rest[written as usize..],
                    Ok(_) => failed = Some(Errno::Io),
                    Err(error) => failed = Some(error),
                }
            }
            if let Some(error) = failed {
                break Err(error);
            }
            offset += count as u64;
        };
        let _ = ring.run(ops::close(file));
        result
    })
}

fn main(arguments: Arguments) -> i32 {
    let (Some(fs), Some(console)) = (runtime::file_system(), runtime::console()) else {
        libring::println!("cat: needs the console and the file system (+use=console+use=fs)");
        return 1;
    };
    let mut failed = false;
    for path in arguments.iter().skip(1) {
        if let Err(error) = cat(fs, console, path) {
            libring::println!("cat: {path}: {}", error.description());
            failed = true;
        }
    }
    i32::from(failed)
}
