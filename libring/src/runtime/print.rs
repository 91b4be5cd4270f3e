//! Standard output and standard error: `print!`/`println!` and
//! `eprint!`/`eprintln!`.
//!
//! Each call formats into a [`LogWriter`] whose pieces go out through
//! [`send_piece`], one [`Ring::run`] each. The ring is locked per piece,
//! not while formatting, so a `Display` implementation may itself print
//! or allocate.
//!
//! Where a piece goes:
//! - to the stream's handle from the startup block ([`stdout`],
//!   [`stderr`]): the console, an open file or a pipe, as one `WRITE` (or
//!   more, if the server takes less). The console writes each `WRITE`
//!   whole before it takes the next request, so a line is never
//!   interleaved with another process's output;
//! - a process without that stream (a server, or one started without
//!   `use=console`) sends it to the kernel log as one `LOG`.
//!
//! A server whose stdout is its named `console` service reconnects it
//! when the console server was restarted (`ESRVDEAD`), and sends the
//! piece again to the new one (`reconnect.rs`).
//!
//! Each stream keeps the offset it has written up to and passes it with
//! every `WRITE`: the console and pipes ignore it, a file opened with
//! `APPEND` (as the shell opens `>` and `2>` files) too, and a plain file
//! is written from its start onwards.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use super::LogWriter;
use super::reconnect::reconnect_in;
use super::start::{service, stderr, stdout, with_ring};
use crate::abi::Errno;
use crate::ops;
use crate::ring::{Kernel, Ring};

/// One of the two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Out,
    /// Standard error.
    Error,
}

/// How far each stream has written (the offset of its next `WRITE`).
static WRITTEN: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// What [`crate::print!`] and [`crate::println!`] call: formats
/// `arguments` and sends the text to standard output, whole lines in one
/// piece (see [`LogWriter`]). Like `print!` itself it cannot fail: a piece
/// that cannot be sent is lost.
pub fn print_arguments(arguments: fmt::Arguments<'_>) {
    print_to(Output::Out, arguments);
}

/// What [`crate::eprint!`] and [`crate::eprintln!`] call: the same, to
/// standard error.
pub fn eprint_arguments(arguments: fmt::Arguments<'_>) {
    print_to(Output::Error, arguments);
}

fn print_to(output: Output, arguments: fmt::Arguments<'_>) {
    let mut writer = LogWriter::new(|piece: &[u8]| {
        with_ring(|ring| send_piece(ring, output, piece));
    });
    // Writing to a LogWriter never fails; a Display impl might, and then
    // what it wrote so far is still worth sending.
    let _ = writer.write_fmt(arguments);
    writer.flush();
}

/// Sends one piece of text to `output`: `WRITE`s to its handle if there is
/// one, else a `LOG`. The piece lives until `run` returns, which is after
/// the server (or the kernel) has copied it.
pub(super) fn send_piece<K: Kernel>(ring: &mut Ring<K>, output: Output, piece: &[u8]) {
    let handle = match output {
        Output::Out => stdout(),
        Output::Error => stderr(),
    };
    match handle {
        Some(handle) => {
            let written = &WRITTEN[output as usize];
            // A console restarted: the stream is the named console handle
            // (a server's, given by init), so reconnect it and say it again.
            if write_all(ring, handle, written, piece) == Err(Errno::ServerDead)
                && service("console") == Some(handle)
                && let Ok(new) = reconnect_in(ring, "console", handle)
            {
                let _ = write_all(ring, new, written, piece);
            }
        }
        None => {
            let _ = ring.run(ops::log(piece));
        }
    }
}

/// Writes all of `bytes` to standard output or standard error, as they
/// are (no formatting): what `cat` does with a file. `EPIPE` once no one
/// reads the pipe any more; `EBADF` for a stream the process does not
/// have.
pub fn write_output(output: Output, bytes: &[u8]) -> Result<(), Errno> {
    let handle = match output {
        Output::Out => stdout(),
        Output::Error => stderr(),
    }
    .ok_or(Errno::BadHandle)?;
    with_ring(|ring| write_all(ring, handle, &WRITTEN[output as usize], bytes))
}

/// Writes all of `bytes` to `handle` from offset `written` on, again from
/// where a short `WRITE` stopped, and again after a pause if the server is
/// busy (`Ring::run_patiently`). A `WRITE` that takes nothing is `EIO`.
fn write_all<K: Kernel>(
    ring: &mut Ring<K>,
    handle: u32,
    written: &AtomicU64,
    bytes: &[u8],
) -> Result<(), Errno> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = written.load(Ordering::Relaxed);
        let count = ring.run_patiently(ops::write(handle, rest, offset))?;
        if count <= 0 {
            return Err(Errno::Io);
        }
        written.fetch_add(count as u64, Ordering::Relaxed);
        rest = rest.get(count as usize..).unwrap_or_default();
    }
    Ok(())
}

/// Prints to standard output, like `std`'s `print!`. The text of one call
/// goes out whole if it fits in [`LOG_BUFFER_SIZE`](super::LOG_BUFFER_SIZE)
/// bytes, and otherwise in pieces of whole lines.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::runtime::print_arguments(::core::format_args!($($argument)*))
    };
}

/// Prints to standard output with a newline, like `std`'s `println!`. A
/// line is sent as one `WRITE` (or `LOG`), so it is never interleaved with
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

/// Prints to standard error, like `std`'s `eprint!`.
#[macro_export]
macro_rules! eprint {
    ($($argument:tt)*) => {
        $crate::runtime::eprint_arguments(::core::format_args!($($argument)*))
    };
}

/// Prints to standard error with a newline, like `std`'s `eprintln!`:
/// where a program says what went wrong.
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::runtime::eprint_arguments(::core::format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::runtime::eprint_arguments(::core::format_args!(
            "{}\n",
            ::core::format_args!($($argument)*)
        ))
    };
}
