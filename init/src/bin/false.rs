//! false: does nothing, and fails: exit code 1 (for `false || echo no`).

#![no_std]
#![no_main]

libring::entry!(main);

fn main(_arguments: libring::runtime::Arguments) -> i32 {
    1
}
