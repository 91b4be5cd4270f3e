//! head: the first lines (`-n N`, 10 by default) or bytes (`-c N`) of each
//! file named, or of standard input with none (`yes | head -n 3`). Stops
//! reading as soon as it has them, so a writer into its pipe then gets
//! `EPIPE`. With two files or more, each is headed `==> NAME <==`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, Output, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// Bytes read at a time.
const CHUNK: usize = 16 * 1024;

/// How much to keep: lines or bytes.
#[derive(Clone, Copy)]
enum Amount {
    Lines(u64),
    Bytes(u64),
}

/// Where the bytes come from.
enum Source {
    Stdin,
    File(u32),
}

fn read(source: &Source, buffer: &mut [u8], offset: u64) -> Result<usize, Errno> {
    match source {
        Source::Stdin => runtime::read_stdin(buffer),
        Source::File(file) => {
            with_ring(|ring| ring.run(ops::read(*file, buffer, offset))).map(|count| count as usize)
        }
    }
}

/// Copies the first `amount` of `source` to standard output.
fn head(source: &Source, amount: Amount) -> Result<(), Errno> {
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let count = match read(source, &mut buffer, offset) {
            Ok(0) => return Ok(()),
            Ok(count) => count,
            Err(Errno::Interrupted) => continue,
            Err(error) => return Err(error),
        };
        offset += count as u64;
        let mut take = count;
        let mut done = false;
        match amount {
            Amount::Bytes(wanted) => {
                if bytes + count as u64 >= wanted {
                    take = (wanted - bytes) as usize;
                    done = true;
                }
                bytes += take as u64;
            }
            Amount::Lines(wanted) => {
                for (index, &byte) in buffer[..count].iter().enumerate() {
                    if byte == b'\n' {
                        lines += 1;
                        if lines == wanted {
                            take = index + 1;
                            done = true;
                            break;
                        }
                    }
                }
            }
        }
        runtime::write_output(Output::Out, &buffer[..take])?;
        if done {
            return Ok(());
        }
    }
}

fn main(arguments: Arguments) -> i32 {
    let mut amount = Amount::Lines(10);
    let mut paths = alloc::vec::Vec::new();
    let mut words = arguments.iter().skip(1);
    while let Some(word) = words.next() {
        let make: fn(u64) -> Amount = match word {
            "-n" => Amount::Lines,
            "-c" => Amount::Bytes,
            option if option.starts_with('-') && option.len() > 1 => {
                eprintln!("head: {option}: not an option (-n N, -c N)");
                return 2;
            }
            path => {
                paths.push(path);
                continue;
            }
        };
        match words.next().and_then(|count| count.parse::<u64>().ok()) {
            Some(count) => amount = make(count),
            None => {
                eprintln!("head: {word} needs a number");
                return 2;
            }
        }
    }
    if matches!(amount, Amount::Lines(0) | Amount::Bytes(0)) {
        return 0;
    }
    if paths.is_empty() {
        return match head(&Source::Stdin, amount) {
            Ok(()) | Err(Errno::BrokenPipe) => 0,
            Err(error) => {
                eprintln!("head: {}", error.description());
                1
            }
        };
    }
    let Some(fs) = runtime::file_system() else {
        eprintln!("head: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    for (index, path) in paths.iter().enumerate() {
        if paths.len() > 1 {
            if index > 0 {
                println!();
            }
            println!("==> {path} <==");
        }
        let opened = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)));
        let result = opened.and_then(|file| {
            let file = file as u32;
            let result = head(&Source::File(file), amount);
            let _ = with_ring(|ring| ring.run(ops::close(file)));
            result
        });
        match result {
            Ok(()) => {}
            Err(Errno::BrokenPipe) => return 1,
            Err(error) => {
                eprintln!("head: {path}: {}", error.description());
                failed = true;
            }
        }
    }
    i32::from(failed)
}
