//! sleep: waits for the number of milliseconds its argument gives (a
//! `TIMEOUT`), then exits with 0; `sleep` with a bad argument says so and
//! exits with 2. The shell's `&` and `kill` tests run it.

#![no_std]
#![no_main]

use libring::ops;
use libring::runtime::{Arguments, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let Some(milliseconds) = arguments.get(1).and_then(|text| text.parse::<u64>().ok()) else {
        libring::eprintln!("sleep: usage: sleep MILLISECONDS");
        return 2;
    };
    match with_ring(|ring| ring.run(ops::timeout(milliseconds.saturating_mul(1_000_000)))) {
        Ok(_) => 0,
        Err(error) => {
            libring::eprintln!("sleep: {}", error.description());
            1
        }
    }
}
