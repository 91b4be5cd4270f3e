//! libring: what a process and the Annulus kernel agree on, and the
//! process's side of it.
//!
//! - [`abi`]: the shared ring layout, opcodes, flags, error numbers and the
//!   one system call, pinned by compile-time layout asserts. The kernel
//!   builds against this too, so both sides cannot disagree.
//! - [`heap`]: the size-class allocator used by both the kernel heap and
//!   the user runtime's heap.
//!
//! Everything here builds on the host and is unit tested there.

#![cfg_attr(not(test), no_std)]

pub mod abi;
pub mod heap;
