//! grep: prints the lines of each file named, or of standard input with
//! none, that hold the text PATTERN (a fixed string: no regular
//! expressions). With two files or more each line starts with its file's
//! name. Exit code 0 if a line matched, 1 if none did, 2 on an error.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// Prints the lines of `text` (whole lines; the last may lack its `\n`)
/// holding `pattern`, each after `prefix`; returns how many.
fn matching(text: &[u8], pattern: &str, prefix: &str) -> usize {
    let mut found = 0;
    for line in text.split(|&byte| byte == b'\n') {
        let line = String::from_utf8_lossy(line);
        if line.contains(pattern) {
            println!("{prefix}{line}");
            found += 1;
        }
    }
    found
}

/// Standard input, line by line.
fn grep_stdin(pattern: &str) -> Result<usize, Errno> {
    let mut found = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        match runtime::read_line(&mut line) {
            Ok(0) => return Ok(found),
            Ok(_) => {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                found += matching(text, pattern, "");
            }
            Err(Errno::Interrupted) => {}
            Err(error) => return Err(error),
        }
    }
}

/// The file at `path`, line by line (read 64 KiB at a time; a line cut
/// between two reads is put back together).
fn grep_file(fs: u32, path: &str, pattern: &str, prefix: &str) -> Result<usize, Errno> {
    let file = with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ)))? as u32;
    let mut buffer = alloc::vec![0u8; 64 * 1024];
    let mut carried: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    let mut found = 0;
    let result = loop {
        let count = match with_ring(|ring| ring.run(ops::read(file, &mut buffer, offset))) {
            Ok(0) => {
                if !carried.is_empty() {
                    found += matching(&carried, pattern, prefix);
                }
                break Ok(found);
            }
            Ok(count) => count as usize,
            Err(error) => break Err(error),
        };
        offset += count as u64;
        carried.extend_from_slice(&buffer[..count]);
        if let Some(last) = carried.iter().rposition(|&byte| byte == b'\n') {
            found += matching(&carried[..last], pattern, prefix);
            carried.drain(..=last);
        }
    };
    let _ = with_ring(|ring| ring.run(ops::close(file)));
    result
}

fn main(arguments: Arguments) -> i32 {
    let Some(pattern) = arguments.get(1) else {
        eprintln!("grep: usage: grep PATTERN [FILE...]");
        return 2;
    };
    let paths: Vec<&str> = arguments.iter().skip(2).collect();
    if paths.is_empty() {
        return match grep_stdin(pattern) {
            Ok(0) => 1,
            Ok(_) => 0,
            Err(error) => {
                eprintln!("grep: {}", error.description());
                2
            }
        };
    }
    let Some(fs) = runtime::file_system() else {
        eprintln!("grep: needs the file system (+use=fs)");
        return 2;
    };
    let (mut found, mut failed) = (0, false);
    for path in &paths {
        let prefix = if paths.len() > 1 {
            alloc::format!("{path}:")
        } else {
            String::new()
        };
        match grep_file(fs, path, pattern, &prefix) {
            Ok(count) => found += count,
            Err(error) => {
                eprintln!("grep: {path}: {}", error.description());
                failed = true;
            }
        }
    }
    if failed {
        2
    } else if found > 0 {
        0
    } else {
        1
    }
}
