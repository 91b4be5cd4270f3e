//! cmp: compares two files byte by byte. Says nothing and exits 0 if they
//! are the same; otherwise says where they first differ (`A B differ: byte
//! N`, or `cmp: EOF on A` if one is the start of the other) and exits 1.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// Bytes read from each file at a time.
const CHUNK: usize = 16 * 1024;

fn open(fs: u32, path: &str) -> Result<u32, Errno> {
    with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ))).map(|h| h as u32)
}

/// Fills as much of `buffer` as the file has from `offset`.
fn fill(file: u32, buffer: &mut [u8], offset: u64) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buffer.len() {
        let at = offset + done as u64;
        let count = with_ring(|ring| ring.run(ops::read(file, &mut buffer[done..], at)))? as usize;
        if count == 0 {
            break;
        }
        done += count;
    }
    Ok(done)
}

fn main(arguments: Arguments) -> i32 {
    let (Some(a), Some(b), None) = (arguments.get(1), arguments.get(2), arguments.get(3)) else {
        eprintln!("cmp: usage: cmp FILE1 FILE2");
        return 2;
    };
    let Some(fs) = runtime::file_system() else {
        eprintln!("cmp: needs the file system (+use=fs)");
        return 2;
    };
    let files = match (open(fs, a), open(fs, b)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(error), _) => {
            eprintln!("cmp: {a}: {}", error.description());
            return 2;
        }
        (_, Err(error)) => {
            eprintln!("cmp: {b}: {}", error.description());
            return 2;
        }
    };
    let (mut first, mut second) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    let verdict = loop {
        let (count_a, count_b) = match (
            fill(files.0, &mut first, offset),
            fill(files.1, &mut second, offset),
        ) {
            (Ok(count_a), Ok(count_b)) => (count_a, count_b),
            (Err(error), _) | (_, Err(error)) => {
                eprintln!("cmp: {}", error.description());
                break 2;
            }
        };
        let same = count_a.min(count_b);
        if let Some(at) = (0..same).find(|&index| first[index] != second[index]) {
            println!("{a} {b} differ: byte {}", offset + at as u64 + 1);
            break 1;
        }
        if count_a != count_b {
            let shorter = if count_a < count_b { a } else { b };
            println!("cmp: EOF on {shorter}");
            break 1;
        }
        if count_a == 0 {
            break 0;
        }
        offset += count_a as u64;
    };
    let _ = with_ring(|ring| ring.run(ops::close(files.0)));
    let _ = with_ring(|ring| ring.run(ops::close(files.1)));
    verdict
}
