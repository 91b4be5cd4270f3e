//! tail: the last lines (`-n N`, 10 by default) of the file named, or of
//! standard input with none. It keeps at most the last N lines, and at
//! most 1 MiB of them: a longer last stretch keeps its last 1 MiB.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use libring::abi::{Errno, open_flags};
use libring::eprintln;
use libring::ops;
use libring::runtime::{self, Arguments, Output, with_ring};

libring::entry!(main);

/// The most bytes kept.
const KEPT_MAX: usize = 1 << 20;

/// The last `wanted` lines seen so far.
struct Last {
    wanted: usize,
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Last {
    fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self
                .lines
                .back()
                .is_none_or(|line| line.last() == Some(&b'\n'))
            {
                self.lines.push_back(Vec::new());
            }
            if let Some(line) = self.lines.back_mut() {
                line.push(byte);
            }
            self.bytes += 1;
            while self.lines.len() > self.wanted || (self.bytes > KEPT_MAX && self.lines.len() > 1)
            {
                if let Some(old) = self.lines.pop_front() {
                    self.bytes -= old.len();
                }
            }
        }
    }
}

fn main(arguments: Arguments) -> i32 {
    let mut wanted = 10usize;
    let mut path = None;
    let mut words = arguments.iter().skip(1);
    while let Some(word) = words.next() {
        match word {
            "-n" => match words.next().and_then(|count| count.parse().ok()) {
                Some(count) => wanted = count,
                None => {
                    eprintln!("tail: -n needs a number");
                    return 2;
                }
            },
            option if option.starts_with('-') && option.len() > 1 => {
                eprintln!("tail: {option}: not an option (-n N)");
                return 2;
            }
            name => path = Some(name),
        }
    }
    let mut last = Last {
        wanted,
        lines: VecDeque::new(),
        bytes: 0,
    };
    if wanted == 0 {
        return 0;
    }
    let mut buffer = alloc::vec![0u8; 16 * 1024];
    let result: Result<(), Errno> = match path {
        None => loop {
            match runtime::read_stdin(&mut buffer) {
                Ok(0) => break Ok(()),
                Ok(count) => last.add(&buffer[..count]),
                Err(Errno::Interrupted) => {}
                Err(error) => break Err(error),
            }
        },
        Some(path) => {
            let Some(fs) = runtime::file_system() else {
                eprintln!("tail: needs the file system (+use=fs)");
                return 1;
            };
            match with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), open_flags::READ))) {
                Err(error) => Err(error),
                Ok(file) => {
                    let file = file as u32;
                    let mut offset = 0u64;
                    let result = loop {
                        match with_ring(|ring| ring.run(ops::read(file, &mut buffer, offset))) {
                            Ok(0) => break Ok(()),
                            Ok(count) => {
                                last.add(&buffer[..count as usize]);
                                offset += count as u64;
                            }
                            Err(error) => break Err(error),
                        }
                    };
                    let _ = with_ring(|ring| ring.run(ops::close(file)));
                    result
                }
            }
        }
    };
    if let Err(error) = result {
        eprintln!(
            "tail: {}{}",
            path.map_or(alloc::string::String::new(), |path| alloc::format!(
                "{path}: "
            )),
            error.description()
        );
        return 1;
    }
    for line in &last.lines {
        if runtime::write_output(Output::Out, line).is_err() {
            return 1;
        }
    }
    0
}
