//! bystander: prints a counter, one line every 20 ms, 150 times.
//!
//! It runs beside programs that misbehave (`hostile`, `faulty`); the test
//! checks that every one of its lines arrives, whole and in order: nothing
//! another process does can disturb it.

#![no_std]
#![no_main]

use libring::ops;
use libring::runtime::{Arguments, with_ring};

libring::entry!(main);

/// Lines to print.
const COUNT: u32 = 150;

fn main(_arguments: Arguments) -> i32 {
    for count in 1..=COUNT {
        libring::println!("bystander: {count} of {COUNT}");
        if with_ring(|ring| ring.run(ops::timeout(20_000_000))).is_err() {
            libring::println!("bystander: a timeout failed");
            return 1;
        }
    }
    libring::println!("bystander: done");
    0
}
