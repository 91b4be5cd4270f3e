//! ls: lists each directory named on its command line (`.`, the current
//! directory, if none), one entry a line, sorted by name (file systems
//! keep their own order: a FAT directory the order entries were made), a
//! directory's name followed by `/`. A file is listed as itself. Names
//! starting with `.` are left out unless `-a`; `-l` puts each entry's kind
//! (`d` or `-`) and size (bytes, or entries for a directory) before it. A
//! path that cannot be listed gets one line on standard error, `ls: PATH:
//! why`; the exit code is 1 if any failed.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{DirectoryEntry, Errno, FileStatus, file_kind, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use zerocopy::FromBytes;

libring::entry!(main);

/// What to show.
#[derive(Clone, Copy)]
struct Options {
    all: bool,
    long: bool,
}

/// `-l`'s prefix for the entry at `path`: kind and size.
fn long_prefix(fs: u32, path: &str) -> String {
    let opened = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)));
    let Ok(file) = opened else {
        return String::from("?          ? ");
    };
    let mut status = FileStatus::default();
    let stat = with_ring(|ring| ring.run(ops::stat(file as u32, &mut status)));
    let _ = with_ring(|ring| ring.run(ops::close(file as u32)));
    match stat {
        Ok(_) if status.kind == file_kind::DIRECTORY => alloc::format!("d {:>10} ", status.size),
        Ok(_) => alloc::format!("- {:>10} ", status.size),
        Err(_) => String::from("?          ? "),
    }
}

/// Prints the entries of directory `path`.
fn list(fs: u32, path: &str, options: Options) -> Result<(), Errno> {
    let flags = open_flags::READ | open_flags::DIRECTORY;
    let opened = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), flags)));
    let directory = match opened {
        Ok(handle) => handle as u32,
        // A file: list it as itself, if it is there.
        Err(Errno::NotADirectory) => {
            let file =
                with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))?;
            let _ = with_ring(|ring| ring.run(ops::close(file as u32)));
            let prefix = if options.long {
                long_prefix(fs, path)
            } else {
                String::new()
            };
            libring::println!("{prefix}{path}");
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
            if options.all || !name.starts_with('.') {
                names.push(alloc::format!("{name}{slash}"));
            }
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
        let prefix = if options.long {
            let entry = alloc::format!(
                "{}/{}",
                path.trim_end_matches('/'),
                name.trim_end_matches('/')
            );
            long_prefix(fs, &entry)
        } else {
            String::new()
        };
        libring::println!("{prefix}{name}");
    }
    result
}

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        libring::eprintln!("ls: needs the file system (+use=fs)");
        return 1;
    };
    let mut options = Options {
        all: false,
        long: false,
    };
    let mut paths = Vec::new();
    for word in arguments.iter().skip(1) {
        match word {
            "-a" => options.all = true,
            "-l" => options.long = true,
            "-la" | "-al" => {
                options.all = true;
                options.long = true;
            }
            option if option.starts_with('-') && option.len() > 1 => {
                libring::eprintln!("ls: {option}: not an option (-a, -l)");
                return 2;
            }
            path => paths.push(path),
        }
    }
    let mut failed = false;
    let mut listed = 0;
    for path in paths {
        listed += 1;
        if let Err(error) = list(fs, path, options) {
            libring::eprintln!("ls: {path}: {}", error.description());
            failed = true;
        }
    }
    // No path: the current directory (the one the file system handle
    // names; relative paths start there).
    if listed == 0
        && let Err(error) = list(fs, ".", options)
    {
        libring::eprintln!("ls: .: {}", error.description());
        failed = true;
    }
    i32::from(failed)
}
