//! Everything that touches the CPU directly: `asm!`, system registers,
//! exception vectors, context switching, the GIC, the generic timer, PSCI.
//!
//! The rest of the kernel calls the safe functions here and never writes
//! assembly itself.

pub mod context;
pub mod cpu;
pub mod eret_window;
pub mod exceptions;
pub mod gic;
pub mod pmu;
pub mod probe;
pub mod psci;
pub mod timer;
pub mod user;
