//! `print!` and `println!`: formatted text to the kernel log.
//!
//! Each call formats into a [`LogWriter`] whose pieces go out as `LOG`
//! operations through [`Ring::run`](crate::ring::Ring::run). The ring is
//! locked per piece, not while formatting, so a `Display` implementation
//! may itself print or allocate.

use core::fmt::{self, Write};

use super::LogWriter;
use super::start::with_ring;
use crate::ops;

/// What [`crate::print!`] and [`crate::println!`] call: formats
/// `arguments` and sends the text to the kernel log, whole lines in one
/// piece (see [`LogWriter`]). Like `print!` itself it cannot fail: a
/// piece the kernel refuses is lost.
pub fn print_arguments(arguments: fmt::Arguments<'_>) {
    let mut writer = LogWriter::new(|piece: &[u8]| {
        // The piece lives in the writer's buffer until `run` returns,
        // which is after the kernel has copied it.
        let _ = with_ring(|ring| ring.run(ops::log(piece)));
    });
    // Writing to a LogWriter never fails; a Display impl might, and then
    // what it wrote so far is still worth sending.
    let _ = writer.write_fmt(arguments);
    writer.flush();
}

/// Prints to the kernel log, like `std`'s `print!`. The text of one call
/// goes out whole if it fits in [`LOG_BUFFER_SIZE`](super::LOG_BUFFER_SIZE)
/// bytes, and otherwise in pieces of whole lines.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::runtime::print_arguments(::core::format_args!($($argument)*))
    };
}

/// Prints to the kernel log with a newline, like `std`'s `println!`. A
/// line is sent as one `LOG` operation, so it is never interleaved with
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
