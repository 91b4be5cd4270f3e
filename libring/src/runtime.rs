//! The user runtime: what turns a `fn main` into an Annulus program.
//!
//! A program is an ELF the kernel starts at `_start`, in EL0, with the
//! startup block's address in `x0` and a stack, and nothing else. This
//! module fills the gap between that and ordinary Rust:
//!
//! - `_start` and `runtime_start` (in `start`): take over the ring, read
//!   the startup block, call the program's `main` (named with
//!   [`crate::entry!`]) with its [`Arguments`], and [`exit`] with what it
//!   returns.
//! - [`with_ring`]: the process's one [`Ring`](crate::ring::Ring), for
//!   programs that want more than the helpers below.
//! - [`handles`], [`stdin`], [`stdout`], [`stderr`] and the rest: the
//!   handles the process was started with (from the startup block).
//! - [`crate::print!`] and [`crate::println!`] to standard output,
//!   [`crate::eprint!`] and [`crate::eprintln!`] to standard error:
//!   formatted text, a line at a time (see [`LogWriter`]), as a `WRITE` to
//!   the stream's handle (the console, a file, a pipe), or to the kernel
//!   log when the process has no such stream.
//! - [`read_stdin`] and [`read_line`]: standard input.
//! - A global allocator, so `alloc` works: libring's size-class
//!   [`Heap`](crate::heap::Heap) over pages from the `MAP` operation.
//! - A panic handler that prints `panic in <program>: <message> at
//!   <file>:<line>` and exits with code 101.
//!
//! Compiled only with the `runtime` feature, for `target_os = "none"`
//! (the argument list and the print buffer also compile on the host, for
//! their unit tests). The kernel uses libring without it.
//!
//! A program looks like this:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! use libring::println;
//! use libring::runtime::Arguments;
//!
//! libring::entry!(main);
//!
//! fn main(arguments: Arguments) -> i32 {
//!     for argument in arguments {
//!         println!("{argument}");
//!     }
//!     0
//! }
//! ```
//!
//! It is linked with `libring/user.ld` (for example from the program's
//! `build.rs`: `cargo:rustc-link-arg=-T<path to>/libring/user.ld`).
//!
//! # Invariants
//! - A process has exactly one thread. The ring lock is therefore only
//!   ever contended by code on the same stack, which is how [`exit`] and
//!   the panic handler may take the ring over from code that will never
//!   run again.
//! - The ring is set up before `main` runs and lives until the process
//!   ends.

#![warn(missing_docs)]

mod arguments;
mod handles;
mod log_writer;

#[cfg(target_os = "none")]
mod allocator;
#[cfg(target_os = "none")]
pub mod boot_image;
#[cfg(target_os = "none")]
mod panic;
#[cfg(target_os = "none")]
mod print;
#[cfg(target_os = "none")]
mod reconnect;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod stdin;
#[cfg(target_os = "none")]
mod syscall;

#[cfg(target_os = "none")]
pub use allocator::{heap_bytes_in_use, keep_ballast, restore_ballast};
pub use arguments::{ArgumentIterator, Arguments};
pub use handles::{HANDLES_MAX, StartupHandles};
pub use log_writer::{LOG_BUFFER_SIZE, LogWriter};

#[cfg(target_os = "none")]
pub use print::{Output, eprint_arguments, print_arguments, write_output};
#[cfg(target_os = "none")]
pub use reconnect::{Retry, reconnect, role_handle, with_service};
#[cfg(target_os = "none")]
pub use start::{
    exit, file_system, handles, power, processes, service, stderr, stdin, stdout, with_ring,
};
#[cfg(target_os = "none")]
pub use stdin::{read_line, read_stdin};
#[cfg(target_os = "none")]
pub use syscall::Syscall;
