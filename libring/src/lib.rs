//! libring: what a process and the Annulus kernel agree on, and the
//! process's side of it.
//!
//! - [`abi`]: the shared ring layout, opcodes, flags, error numbers and the
//!   one system call, pinned by compile-time layout asserts. The kernel
//!   builds against this too, so both sides cannot disagree.
//! - [`elf`]: checks a program file and plans what to map where (the
//!   kernel, init and the proc server all use it).
//! - [`heap`]: the size-class allocator used by both the kernel heap and
//!   the user runtime's heap.
//! - [`ops`]: one constructor per operation, so submissions are built
//!   right.
//! - [`console`]: the console server's `CONTROL` words.
//! - [`names`]: init's names service: a role's current server after a
//!   restart, and the list of roles.
//! - [`pipe`]: the pipe server's protocol, and making a pipe.
//! - [`process`]: building a process from a program file with the
//!   kernel's process-building operations (the proc server, init).
//! - [`ring`]: the process's side of its ring (push, submit, read
//!   completions, or `run` one operation to completion), over any
//!   [`ring::Kernel`].
//! - [`server`]: a helper for servers: take forwarded requests with one
//!   multishot `RECEIVE`, move their data, answer them with `REPLY`.
//! - `runtime` (feature `runtime`, programs only): `_start`, the argument
//!   list, `print!`, the heap and the panic handler for a user program. The
//!   kernel uses libring without it.
//!
//! Everything but the runtime's machine-level parts builds on the host and
//! is unit tested there.

#![cfg_attr(not(test), no_std)]

pub mod abi;
pub mod console;
pub mod elf;
pub mod file_server;
pub mod heap;
pub mod names;
pub mod ops;
pub mod pipe;
pub mod process;
pub mod ring;
pub mod server;
// On the host the runtime's pure parts (argument parsing, the print
// buffer) are compiled for their unit tests; the rest needs the machine.
#[cfg(any(test, all(feature = "runtime", target_os = "none")))]
pub mod runtime;
