//! The performance monitors (PMU), for `cargo xtask bench`.
//!
//! The boot code starts event counter 0 counting retired instructions
//! (event 0x08) at EL0 and EL1 from the kernel's first instructions. Under
//! QEMU with `-icount`, that count is exact and repeats from run to run.
//! When the kernel command line says `bench`, user programs may read the
//! counters too (`PMUSERENR_EL0`), so the benchmark program can measure
//! its own operations, user side and kernel side together.

use core::arch::asm;

/// Lets EL0 read the event counters and the cycle counter.
pub fn allow_user_reads() {
    // SAFETY: PMUSERENR_EL0.EN (bit 0) and .ER (bit 3) only let EL0 read
    // the counters; it cannot change them.
    unsafe { asm!("msr pmuserenr_el0, {}", in(reg) 0b1001u64, options(nomem, nostack)) };
}

/// Instructions retired since boot, modulo 2^32 (counter 0 is 32 bits).
pub fn instructions() -> u32 {
    let count: u64;
    // SAFETY: reading a counter has no effect.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) count, options(nomem, nostack)) };
    count as u32
}
