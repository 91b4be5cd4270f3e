//! cp: copies file FROM to TO (made, or emptied first), 64 KiB at a time.
//! `cp: PATH: why` on standard error for a file that cannot be read or
//! written; exit code 1 then.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::eprintln;
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

/// Bytes moved at a time.
const CHUNK: usize = 64 * 1024;

/// Which file an error is about.
enum Failed<'a> {
    At(&'a str, Errno),
}

fn copy<'a>(fs: u32, from: &'a str, to: &'a str) -> Result<(), Failed<'a>> {
    let source = with_ring(|ring| ring.run(ops::open(fs, from.as_bytes(), open_flags::READ)))
        .map_err(|error| Failed::At(from, error))? as u32;
    let flags = open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
    let target = match with_ring(|ring| ring.run(ops::open(fs, to.as_bytes(), flags))) {
        Ok(target) => target as u32,
        Err(error) => {
            let _ = with_ring(|ring| ring.run(ops::close(source)));
            return Err(Failed::At(to, error));
        }
    };
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    let result = loop {
        let count = match with_ring(|ring| ring.run(ops::read(source, &mut buffer, offset))) {
            Ok(0) => break Ok(()),
            Ok(count) => count as usize,
            Err(error) => break Err(Failed::At(from, error)),
        };
        let mut done = 0;
        while done < count {
            let at = offset + done as u64;
            match with_ring(|ring| ring.run(ops::write(target, &buffer[done..count], at))) {
                Ok(written) if written > 0 => done += written as usize,
                Ok(_) => return Err(Failed::At(to, Errno::Io)),
                Err(error) => return Err(Failed::At(to, error)),
            }
        }
        offset += count as u64;
    };
    let _ = with_ring(|ring| ring.run(ops::close(source)));
    let _ = with_ring(|ring| ring.run(ops::close(target)));
    result
}

fn main(arguments: Arguments) -> i32 {
    let (Some(from), Some(to), None) = (arguments.get(1), arguments.get(2), arguments.get(3))
    else {
        eprintln!("cp: usage: cp FROM TO");
        return 2;
    };
    let Some(fs) = runtime::file_system() else {
        eprintln!("cp: needs the file system (+use=fs)");
        return 1;
    };
    match copy(fs, from, to) {
        Ok(()) => 0,
        Err(Failed::At(path, error)) => {
            eprintln!("cp: {path}: {}", error.description());
            1
        }
    }
}
