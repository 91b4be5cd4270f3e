//! clear: clears the terminal (`ESC [ H ESC [ 2 J`: cursor home, erase
//! the screen).

#![no_std]
#![no_main]

libring::entry!(main);

fn main(_arguments: libring::runtime::Arguments) -> i32 {
    libring::print!("\x1b[H\x1b[2J");
    0
}
