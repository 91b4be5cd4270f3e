//! ls: lists each directory named on its command line (`.`, the current
//! directory, if none), one
//! entry a line, sorted by name (file systems keep their own order: a
//! FAT directory the order entries were made), a directory's name
//! followed by `/`. A file is listed as
//! itself. Started with the console and the file system
//! (`+use=console+use=fs`). A path that cannot be listed gets one line,
//! `ls: PATH: why`; the exit code is 1 if any failed.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{DirectoryEntry, Errno, file_kind, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use zerocopy::FromBytes;

libring::entry!(main);

/// Prints the entries of directory `path`.
fn list(fs: u32, path: &str) -> Result<(), Errno> {
    let flags = open_flags::READ | open_flags::DIRECTORY;
    let opened = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), flags)));
    let directory = match opened {
        Ok(handle) => handle as u32,
        // A file: list it as itself, if it is there.
        Err(Errno::NotADirectory) => {
            let file =
                with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))?;
            let _ = with_ring(|ring| ring.run(ops::close(file as u32)));
            libring::println!("{path}");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let mut buffer = vec![0u8; 4096];
    let mut next = 0u64;
    let mut names: Vec<String> = Vec::new();
    let result = loop {
        let filled = match with_ring(|ring| ring.run(ops::readdir(directory, &mut buffer, next))) {
            Ok(0) => break Ok(()),
            Ok(filled) => filled as usize,
            Err(error) => break Err(error),
        };
        let mut at = 0;
        while let Ok((head, _)) = DirectoryEntry::read_from_prefix(&buffer[at..filled]) {
            let name_end = (at + 16 + head.name_length as usize).min(filled);
            let name = core::str::from_utf8(&buffer[at + 16..name_end]).unwrap_or("?");
            let slash = if head.kind == file_kind::DIRECTORY {
                "/"
            } else {
                ""
            };
            names.push(alloc::format!("{name}{slash}"));
            at += DirectoryEntry::record_size(head.name_length as usize);
            next += 1;
            if at >= filled {
                break;
            }
        }
    };
    let _ = with_ring(|ring| ring.run(ops::close(directory)));
    names.sort();
    for name in names {
        libring::println!("{name}");
    }
    result
}

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        libring::eprintln!("ls: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    let mut listed = 0;
    for path in arguments.iter().skip(1) {
        listed += 1;
        if let Err(error) = list(fs, path) {
            libring::eprintln!("ls: {path}: {}", error.description());
            failed = true;
        }
    }
    // No path: the current directory (the one the file system handle
    // names; relative paths start there).
    if listed == 0
        && let Err(error) = list(fs, ".")
    {
        libring::eprintln!("ls: .: {}", error.description());
        failed = true;
    }
    i32::from(failed)
}
