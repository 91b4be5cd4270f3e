//! stat: for each path, its kind and size: `PATH: file, 425 bytes` or
//! `PATH: directory, 5 entries` (what the file server's `STAT` says).

#![no_std]
#![no_main]

use libring::abi::{Errno, FileStatus, file_kind, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// The status of the file or directory at `path`.
pub fn status(fs: u32, path: &str) -> Result<FileStatus, Errno> {
    let file = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))? as u32;
    let mut status = FileStatus::default();
    let result = with_ring(|ring| ring.run(ops::stat(file, &mut status)));
    let _ = with_ring(|ring| ring.run(ops::close(file)));
    result.map(|_| status)
}

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        eprintln!("stat: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    for path in arguments.iter().skip(1) {
        match status(fs, path) {
            Ok(status) if status.kind == file_kind::DIRECTORY => {
                println!("{path}: directory, {} entries", status.size);
            }
            Ok(status) => println!("{path}: file, {} bytes", status.size),
            Err(error) => {
                eprintln!("stat: {path}: {}", error.description());
                failed = true;
            }
        }
    }
    i32::from(failed)
}
