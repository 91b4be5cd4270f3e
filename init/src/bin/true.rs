//! true: does nothing and exits with 0 (the spawn+wait benchmark's and
//! the spawn tests' trivial program).

#![no_std]
#![no_main]

use libring::runtime::Arguments;

libring::entry!(main);

fn main(_arguments: Arguments) -> i32 {
    0
}
