//! Processes: an address space, a ring, and a thread that runs at EL0.
//!
//! A process is created whole from an ELF file: there is no fork and no
//! exec. A builder (init, the proc server) makes one with the
//! process-building operations (`ring::processes`, `docs/spawn.md`); the
//! kernel itself makes the programs of a `run=` command line with
//! [`create`], which checks the file (`elf::plan`), builds the
//! address space (program segments W^X, a stack with a guard page below it,
//! the ring region, a read-only startup page), and starts a kernel thread
//! that drops to EL0 at the program's entry point. From then on the process
//! talks to the kernel only through its ring and `ring_enter`.
//!
//! A process ends when it submits `EXIT`, when it faults, or when a holder
//! of its process handle `KILL`s it. Either way its
//! own thread tears it down ([`end_current`]): every frame it had goes
//! back, its pending requests die with it, and its ASID is freed.
//!
//! All process and ring state lives in one [`System`] behind one lock: one
//! core, and simple beats clever. See `docs/processes.md`.
//!
//! # Invariants
//! - A process in `System::processes` has a live address space and thread.
//! - Once `ending` is set, the process runs no more user code: its thread
//!   tears it down at its next return towards EL0.

pub use libring::elf;
pub mod handles;

#[cfg(target_os = "none")]
pub mod address_space;
#[cfg(target_os = "none")]
mod lifecycle;

#[cfg(target_os = "none")]
pub use lifecycle::*;
