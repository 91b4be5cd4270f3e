//! Touching memory that may fault, and surviving it.
//!
//! The self-tests check that the MMU really enforces the kernel's
//! permissions: a write to kernel text must fault, and so must executing
//! data. A fault in the kernel normally stops the machine, so these probes
//! are marked: when the exception handler sees a fault at a probe's known
//! instruction, it returns to the probe's recovery point with the syndrome
//! (`ESR_EL1`) as the result instead (the same idea as Linux's exception
//! tables). The rings issue will use the same mechanism for copies from
//! user memory.

use super::exceptions::TrapFrame;
use crate::exception_class::{self, class};
use core::sync::atomic::{AtomicBool, Ordering};

core::arch::global_asm!(
    r#"
    .section .text
    .global probe_write_byte
// probe_write_byte(address: x0, value: w1) -> 0, or ESR_EL1 if the store faulted.
probe_write_byte:
probe_write_instruction:
    strb    w1, [x0]
    mov     x0, #0
probe_write_recovery:
    ret

    .global probe_execute
// probe_execute(address: x0) -> what the code at x0 returns, or ESR_EL1 if
// fetching it faulted.
probe_execute:
    stp     x29, x30, [sp, #-16]!
    blr     x0
    ldp     x29, x30, [sp], #16
    ret

    .section .rodata
    .balign 8
    .global probe_write_addresses
probe_write_addresses:
    .quad   probe_write_instruction
    .quad   probe_write_recovery
"#
);

unsafe extern "C" {
    fn probe_write_byte(address: usize, value: u8) -> u64;
    fn probe_execute(address: usize) -> u64;
    static probe_write_addresses: [u64; 2];
}

/// Set while [`execute`] runs, so an instruction abort is expected.
static EXECUTE_PROBE_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Writes `value` to `address` if the MMU allows it. `Err` holds the
/// syndrome (`ESR_EL1`) of the fault.
///
/// # Safety
/// If the write succeeds it changes memory: `address` must be a byte whose
/// change breaks nothing (tests write back the value that is already there).
pub unsafe fn write_byte(address: usize, value: u8) -> Result<(), u64> {
    // SAFETY: the store either completes (the caller allows it) or faults
    // and is recovered by `recover`.
    match unsafe { probe_write_byte(address, value) } {
        0 => Ok(()),
        syndrome => Err(syndrome),
    }
}

/// Calls the code at `address` if the MMU lets the kernel execute it.
/// `Ok` holds what it returned in x0; `Err` the syndrome of the fault.
///
/// # Safety
/// If `address` is executable, the code there runs: it must be a function
/// that follows the C calling convention (tests use a lone `ret`).
pub unsafe fn execute(address: usize) -> Result<u64, u64> {
    let interrupts = super::cpu::disable_interrupts();
    EXECUTE_PROBE_ACTIVE.store(true, Ordering::SeqCst);
    // SAFETY: see above; a fetch fault returns here through `recover`.
    let result = unsafe { probe_execute(address) };
    let faulted = !EXECUTE_PROBE_ACTIVE.swap(false, Ordering::SeqCst);
    super::cpu::restore_interrupts(interrupts);
    if faulted { Err(result) } else { Ok(result) }
}

/// Called by the exception handler for every synchronous exception from
/// EL1. If it was a probe's expected fault, sets the frame up to resume at
/// the probe's recovery point with the syndrome in x0 and returns true.
pub fn recover(frame: &mut TrapFrame, syndrome: u64) -> bool {
    let exception_class = exception_class::class_of(syndrome);
    // SAFETY: a static array of two addresses, written by the assembler.
    let [write_instruction, write_recovery] = unsafe { probe_write_addresses };
    if exception_class == class::DATA_ABORT_SAME
        && frame.exception_link_register == write_instruction
    {
        frame.registers[0] = syndrome;
        frame.exception_link_register = write_recovery;
        return true;
    }
    if exception_class == class::INSTRUCTION_ABORT_SAME
        && EXECUTE_PROBE_ACTIVE.swap(false, Ordering::SeqCst)
    {
        // The fault is at the probed address; return to probe_execute just
        // after its `blr`, as if the probed code had returned.
        frame.registers[0] = syndrome;
        frame.exception_link_register = frame.registers[30];
        return true;
    }
    false
}
