//! Processes: an address space, a ring, and a thread that runs at EL0.
//!
//! See `docs/processes.md`.

pub mod elf;
