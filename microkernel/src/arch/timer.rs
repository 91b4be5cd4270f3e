//! The ARM generic timer: a system-wide counter and this core's EL1 virtual
//! timer, which raises its interrupt (a PPI) when the counter passes the
//! compare value. Annulus uses it for the scheduler tick.

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};

/// Counter ticks per second (`CNTFRQ_EL0`, set by firmware or QEMU).
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The counter now.
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Arms the virtual timer to fire when the counter reaches `deadline`, with
/// its interrupt unmasked.
pub fn fire_at(deadline: u64) {
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops the virtual timer.
pub fn stop() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
}
