//! mv: renames `FROM` to `TO` (`mv FROM TO`, `+use=console+use=fs`), as
//! rename(2) does: a file replaces a file, a directory an empty directory.
//! Failure gets one line, `mv: FROM -> TO: why`, and exit code 1.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        libring::eprintln!("mv: needs the file system (+use=fs)");
        return 1;
    };
    let words: Vec<&str> = arguments.iter().skip(1).collect();
    let &[from, to] = words.as_slice() else {
        libring::eprintln!("mv: usage: mv FROM TO");
        return 1;
    };
    // RENAME's buffer: the old path, a NUL, the new path.
    let mut paths = Vec::with_capacity(from.len() + 1 + to.len());
    paths.extend_from_slice(from.as_bytes());
    paths.push(0);
    paths.extend_from_slice(to.as_bytes());
    match with_ring(|ring| ring.run(ops::rename(fs, &paths))) {
        Ok(_) => 0,
        Err(error) => {
            libring::eprintln!("mv: {from} -> {to}: {}", error.description());
            1
        }
    }
}
