//! chatter: prints 100 long lines as fast as it can.
//!
//! Two of them run beside each other (`run=...,chatter:a+use=console,
//! chatter:b+use=console`), printing through the console server; the test
//! checks that every line arrives whole, once and in order: the console
//! must never let one client's line into the middle of another's. Line
//! `n` of the chatter with tag `T` is `chatter T n of 100: ` and 300
//! letters, `a` + (n + i) mod 26 for i = 0..300 (xtask's `chatter_line`
//! makes the same text to compare).

#![no_std]
#![no_main]

use libring::ops;
use libring::println;
use libring::runtime::{Arguments, with_ring};

libring::entry!(main);

const LINES: usize = 100;
const LETTERS: usize = 300;
/// When every chatter starts, on the system clock (nanoseconds since boot).
const START_AT_NANOSECONDS: u64 = 1_000_000_000;

fn main(arguments: Arguments) -> i32 {
    let tag = arguments.get(1).unwrap_or("x");
    // Every chatter starts printing at the same moment, one second after
    // boot: processes are started one after the other, and one that
    // prints without pause could finish before the next one is made.
    let _ = with_ring(|ring| ring.run(ops::timeout_at(START_AT_NANOSECONDS)));
    let mut letters = [0u8; LETTERS];
    for count in 1..=LINES {
        for (index, letter) in letters.iter_mut().enumerate() {
            *letter = b'a' + ((count + index) % 26) as u8;
        }
        // ASCII letters, so always UTF-8.
        let text = core::str::from_utf8(&letters).unwrap_or_default();
        println!("chatter {tag} {count} of {LINES}: {text}");
    }
    0
}
