//! `print!` and `println!`: formatted text to the console, or to the
//! kernel log when the process has no console.
//!
//! Each call formats into a [`LogWriter`] whose pieces go out through
//! [`send_piece`], one [`Ring::run`] each. The ring is locked per piece,
//! not while formatting, so a `Display` implementation may itself print
//! or allocate.
//!
//! Where a piece goes:
//! - a process with a console handle ([`console`], from the startup
//!   block) sends it to the console server as one `WRITE`. The console
//!   writes each `WRITE` whole before it takes the next request, so a line
//!   is never interleaved with another process's output;
//! - a process without one (the console server itself, or one started
//!   without `use=console`) sends it to the kernel log as one `LOG`.

use core::fmt::{self, Write};

use super::LogWriter;
use super::start::{console, with_ring};
use crate::ops;
use crate::ring::{Kernel, Ring};

/// What [`crate::print!`] and [`crate::println!`] call: formats
/// `arguments` and sends the text out, whole lines in one piece (see
/// [`LogWriter`]). Like `print!` itself it cannot fail: a piece that
/// cannot be sent is lost.
pub fn print_arguments(arguments: fmt::Arguments<'_>) {
    let mut writer = LogWriter::new(|piece: &[u8]| {
        with_ring(|ring| send_piece(ring, piece));
    });
    // Writing to a LogWriter never fails; a Display impl might, and then
    // what it wrote so far is still worth sending.
    let _ = writer.write_fmt(arguments);
    writer.flush();
}

/// Sends one piece of text where this process's output goes: a `WRITE` to
/// the console handle if there is one, else a `LOG`. The piece lives until
/// `run` returns, which is after the server (or the kernel) has copied it.
pub(super) fn send_piece<K: Kernel>(ring: &mut Ring<K>, piece: &[u8]) {
    match console() {
        Some(console) => write_all(ring, console, piece),
        // FIXME: LOG leaves the kernel at the end of the servers issue.
        // Then this arm becomes `None => {}`: no console, no output.
        None => {
            let _ = ring.run(ops::log(piece));
        }
    }
}

/// Writes all of `bytes` to `handle`, again from where a short `WRITE`
/// stopped. An error, or a `WRITE` that takes nothing, loses the rest.
fn write_all<K: Kernel>(ring: &mut Ring<K>, handle: u32, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match ring.run(ops::write(handle, rest, 0)) {
            Ok(written) if written > 0 => {
                rest = rest.get(written as usize..).unwrap_or_default();
            }
            _ => return,
        }
    }
}

/// Prints to the console, like `std`'s `print!`. The text of one call goes
/// out whole if it fits in [`LOG_BUFFER_SIZE`](super::LOG_BUFFER_SIZE)
/// bytes, and otherwise in pieces of whole lines.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::runtime::print_arguments(::core::format_args!($($argument)*))
    };
}

/// Prints to the console with a newline, like `std`'s `println!`. A line
/// is sent as one `WRITE` (or `LOG`), so it is never interleaved with
/// another process's output.
#[macro_export]
macro_rules! println {
    () => {
        $crate::runtime::print_arguments(::core::format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::runtime::print_arguments(::core::format_args!(
            "{}\n",
            ::core::format_args!($($argument)*)
        ))
    };
}
