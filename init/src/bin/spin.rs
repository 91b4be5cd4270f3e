//! spin: says `spin: spinning`, then loops for ever without a system call:
//! the program a Ctrl-C at the shell must be able to stop.

#![no_std]
#![no_main]

libring::entry!(main);

fn main(_arguments: libring::runtime::Arguments) -> i32 {
    libring::println!("spin: spinning");
    loop {
        core::hint::spin_loop();
    }
}
