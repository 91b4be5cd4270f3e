//! What happens when user space traps into the kernel synchronously: the
//! one system call, and faults.
//!
//! `svc #0` with `x8 = SYSCALL_RING_ENTER` is `ring_enter(x0, x1, x2)`;
//! the result goes back in `x0`, every other register is preserved.
//! Anything else — another number, another `svc` immediate, an abort, an
//! undefined instruction — ends the process with the reason on the log.
//! Nothing a process does here can stop the kernel or another process.

use crate::arch::exceptions::TrapFrame;
use crate::exception_class::{self, class, class_name};
use crate::process;
use core::sync::atomic::{AtomicU64, Ordering};
use libring::abi::SYSCALL_RING_ENTER;

/// How many times each system call number was used: `ring_enter`, and
/// every other number together.
static RING_ENTER_CALLS: AtomicU64 = AtomicU64::new(0);
static OTHER_CALLS: AtomicU64 = AtomicU64::new(0);

/// `(ring_enter calls, calls with any other number)` so far.
pub fn counts() -> (u64, u64) {
    (
        RING_ENTER_CALLS.load(Ordering::Relaxed),
        OTHER_CALLS.load(Ordering::Relaxed),
    )
}

/// A synchronous exception from EL0.
pub fn handle_user_synchronous(frame: &mut TrapFrame, syndrome: u64, fault_address: u64) {
    let exception_class = exception_class::class_of(syndrome);
    let pc = frame.exception_link_register;
    match exception_class {
        class::SVC_AARCH64 => {
            let immediate = syndrome & 0xffff;
            let number = frame.registers[8];
            if immediate != 0 || number != SYSCALL_RING_ENTER {
                OTHER_CALLS.fetch_add(1, Ordering::Relaxed);
                process::kill_current(format_args!(
                    "unknown system call {number} (svc #{immediate}) at pc {pc:#x}; the only one is ring_enter (0)"
                ));
            }
            RING_ENTER_CALLS.fetch_add(1, Ordering::Relaxed);
            let Some(id) = process::current() else { return };
            let [to_submit, min_complete, flags] =
                [frame.registers[0], frame.registers[1], frame.registers[2]]
                    .map(|word| word as u32);
            frame.registers[0] = crate::ring::enter(id, to_submit, min_complete, flags) as u64;
            crate::power::shutdown_if_requested();
        }
        class::DATA_ABORT_LOWER | class::INSTRUCTION_ABORT_LOWER => {
            let access = if exception_class == class::INSTRUCTION_ABORT_LOWER {
                "executing"
            } else if exception_class::is_write(syndrome) {
                "writing"
            } else {
                "reading"
            };
            process::kill_current(format_args!(
                "{} {} {:#x} at pc {:#x}",
                exception_class::fault_kind(syndrome),
                access,
                fault_address,
                pc
            ));
        }
        _ => process::kill_current(format_args!(
            "{} (ESR {:#x}) at pc {:#x}",
            class_name(exception_class),
            syndrome,
            pc
        )),
    }
}
