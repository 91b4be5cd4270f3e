//! PSCI, the firmware interface for powering cores and the machine off.
//!
//! A PSCI call is an `hvc` or `smc` instruction with a function number in
//! x0; the device tree says which instruction (`/psci/method`). QEMU
//! implements PSCI itself, so `SYSTEM_OFF` makes QEMU exit.
//! (Arm DEN 0022, "Power State Coordination Interface".)

use boot::boot_info::PsciMethod;
use core::arch::asm;

/// `SYSTEM_OFF`: power the machine off. Does not return.
const SYSTEM_OFF: u64 = 0x8400_0008;
/// `AFFINITY_INFO` (64-bit calling convention): is a core on or off?
const AFFINITY_INFO: u64 = 0xc400_0004;

/// What `AFFINITY_INFO` says of a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreState {
    On,
    Off,
    OnPending,
    /// An error code: the core does not exist, or the call is not supported.
    Error(i64),
}

fn call(method: PsciMethod, function: u64, argument1: u64, argument2: u64) -> i64 {
    let mut result = function;
    // SAFETY: a PSCI call changes no memory we can see; the firmware
    // preserves every register but x0 to x3 (SMCCC), which we mark clobbered.
    unsafe {
        match method {
            PsciMethod::Hvc => asm!("hvc #0", inout("x0") result, inout("x1") argument1 => _,
                inout("x2") argument2 => _, out("x3") _, options(nostack)),
            PsciMethod::Smc => asm!("smc #0", inout("x0") result, inout("x1") argument1 => _,
                inout("x2") argument2 => _, out("x3") _, options(nostack)),
        }
    }
    result as i64
}

/// Powers the machine off; returns only if the firmware refuses.
pub fn system_off(method: PsciMethod) {
    call(method, SYSTEM_OFF, 0, 0);
}

/// The power state of the core with affinity `target` (MPIDR Aff fields).
pub fn affinity_info(method: PsciMethod, target: u64) -> CoreState {
    match call(method, AFFINITY_INFO, target, 0) {
        0 => CoreState::On,
        1 => CoreState::Off,
        2 => CoreState::OnPending,
        error => CoreState::Error(error),
    }
}
