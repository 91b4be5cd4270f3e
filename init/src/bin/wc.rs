//! wc: counts the lines, words and bytes of each file named, or of
//! standard input with none (`ls /bin | wc -l`). `-l`, `-w`, `-c` choose
//! the counts (all three without any), printed in that order, then the
//! file's name; a total line after two files or more.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// Lines, words and bytes.
#[derive(Clone, Copy, Default)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
    /// Whether the last byte counted was inside a word.
    in_word: bool,
}

impl Counts {
    fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.lines += 1;
            }
            let space = byte.is_ascii_whitespace();
            if !space && !self.in_word {
                self.words += 1;
            }
            self.in_word = !space;
        }
        self.bytes += bytes.len() as u64;
    }
}

/// Which counts to print.
struct Chosen {
    lines: bool,
    words: bool,
    bytes: bool,
}

fn show(counts: &Counts, chosen: &Chosen, name: &str) {
    let mut line = alloc::string::String::new();
    for (wanted, value) in [
        (chosen.lines, counts.lines),
        (chosen.words, counts.words),
        (chosen.bytes, counts.bytes),
    ] {
        if wanted {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&alloc::format!("{value}"));
        }
    }
    if !name.is_empty() {
        line.push(' ');
        line.push_str(name);
    }
    println!("{line}");
}

/// Counts the file at `path`.
fn count_file(fs: u32, path: &str, buffer: &mut [u8]) -> Result<Counts, Errno> {
    let file = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))? as u32;
    let mut counts = Counts::default();
    let mut offset = 0u64;
    let result = loop {
        match with_ring(|ring| ring.run(ops::read(file, buffer, offset))) {
            Ok(0) => break Ok(counts),
            Ok(count) => {
                counts.add(&buffer[..count as usize]);
                offset += count as u64;
            }
            Err(error) => break Err(error),
        }
    };
    let _ = with_ring(|ring| ring.run(ops::close(file)));
    result
}

fn main(arguments: Arguments) -> i32 {
    let mut chosen = Chosen {
        lines: false,
        words: false,
        bytes: false,
    };
    let mut paths = alloc::vec::Vec::new();
    for word in arguments.iter().skip(1) {
        match word {
            "-l" => chosen.lines = true,
            "-w" => chosen.words = true,
            "-c" => chosen.bytes = true,
            option if option.starts_with('-') && option.len() > 1 => {
                eprintln!("wc: {option}: not an option (-l, -w, -c)");
                return 2;
            }
            path => paths.push(path),
        }
    }
    if !(chosen.lines || chosen.words || chosen.bytes) {
        chosen = Chosen {
            lines: true,
            words: true,
            bytes: true,
        };
    }
    let mut buffer = vec![0u8; CHUNK];
    if paths.is_empty() {
        let mut counts = Counts::default();
        loop {
            match runtime::read_stdin(&mut buffer) {
                Ok(0) => break,
                Ok(count) => counts.add(&buffer[..count]),
                Err(Errno::Interrupted) => {}
                Err(error) => {
                    eprintln!("wc: {}", error.description());
                    return 1;
                }
            }
        }
        show(&counts, &chosen, "");
        return 0;
    }
    let Some(fs) = runtime::file_system() else {
        eprintln!("wc: needs the file system (+use=fs)");
        return 1;
    };
    let mut total = Counts::default();
    let mut failed = false;
    for path in &paths {
        match count_file(fs, path, &mut buffer) {
            Ok(counts) => {
                show(&counts, &chosen, path);
                total.lines += counts.lines;
                total.words += counts.words;
                total.bytes += counts.bytes;
            }
            Err(error) => {
                eprintln!("wc: {path}: {}", error.description());
                failed = true;
            }
        }
    }
    if paths.len() > 1 {
        show(&total, &chosen, "total");
    }
    i32::from(failed)
}
