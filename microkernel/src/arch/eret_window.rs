//! `debug=eret-window` on the command line: the `eret` paths tested on a
//! running system, with an interrupt forced into each one's window.
//!
//! Every way back from the kernel (to a process, or to the kernel code an
//! exception interrupted) writes `ELR_EL1` (where to resume) and
//! `SPSR_EL1` (in what state), then executes `eret`. An IRQ taken between
//! the writes and the `eret` would overwrite both with its own return
//! state, so every path masks interrupts first (`arch/enter_user.s`,
//! `arch/exceptions.s`; `eret_check` reads them for it on the host).
//!
//! With this option on, each path calls [`probe_eret_window`] right after
//! it writes `ELR_EL1`. The probe sends this core a software-generated
//! interrupt (SGI [`PROBE_SGI`]) and waits until the CPU interface raises
//! the IRQ line (`ISR_EL1.I`):
//!
//! ```text
//!   return path            probe                     GIC
//!   msr daifset (mask)
//!   msr elr_el1
//!   bl eret_window_probe -> send SGI 15 to self ---> pending
//!                           wait for ISR_EL1.I  <--- IRQ line raised
//!   msr spsr_el1            (masked: not taken)
//!   eret  ---------------------------------------->  taken after the eret,
//!                                                    where it returned to
//! ```
//!
//! If a path had interrupts on, the SGI would be taken inside the probe,
//! in the window, and the path would "return" to the probe's own code: a
//! process would be killed with a permission fault at a kernel address,
//! or the machine would hang. The QEMU rows `eret-window` (GICv3) and
//! `eret-window-gicv2` boot the system this way and use it.
//!
//! The probe's SGI is itself an exception with a return; that return is
//! let through unprobed ([`SKIP_NEXT`]), or the returned-to code would be
//! interrupted again before its first instruction, for ever.
//!
//! Off (the default), each path pays three instructions: a load of
//! [`ERET_WINDOW_PROBE`] and a branch past the call.

use crate::interrupts;
use boot::boot_info::Trigger;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The SGI the probe sends itself (SGIs 0-15 are free for the kernel).
pub const PROBE_SGI: u32 = 15;

/// How many times the probe reads `ISR_EL1` before it gives up on the SGI.
const WAIT_BOUND: u32 = 1_000_000;

/// Non-zero when the option is on; read by the assembly of every path.
#[unsafe(no_mangle)]
pub static ERET_WINDOW_PROBE: AtomicBool = AtomicBool::new(false);
/// Set by the SGI's handler: the next return is the SGI's own.
static SKIP_NEXT: AtomicBool = AtomicBool::new(false);
/// SGIs handled so far (to tell "taken already" from "never came").
static HANDLED: AtomicU64 = AtomicU64::new(0);
/// Returns probed so far, said at power-off ([`probed`]).
static PROBED: AtomicU64 = AtomicU64::new(0);

/// Reads `debug=eret-window` from the command line and, if it is there,
/// turns the probe on. Needs the interrupt controller (`interrupts::init`).
pub fn configure(bootargs: &str) {
    if !bootargs
        .split_whitespace()
        .any(|word| word == "debug=eret-window")
    {
        return;
    }
    if interrupts::register(PROBE_SGI, Trigger::Edge, sgi_taken).is_err() {
        crate::kprintln!(
            "kernel: debug=eret-window: SGI {PROBE_SGI} is taken; the probe stays off"
        );
        return;
    }
    crate::kprintln!(
        "kernel: debug=eret-window: every return interrupts itself (SGI {PROBE_SGI}) between ELR_EL1 and eret"
    );
    ERET_WINDOW_PROBE.store(true, Ordering::Release);
}

/// How many returns have been probed (0 with the option off).
pub fn probed() -> u64 {
    PROBED.load(Ordering::Relaxed)
}

fn sgi_taken(_id: u32) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
    SKIP_NEXT.store(true, Ordering::Relaxed);
}

/// Called by `eret_window_probe` (`arch/exceptions.s`, which keeps every
/// register for the path) between the write of `ELR_EL1` and the `eret`.
#[unsafe(no_mangle)]
extern "C" fn probe_eret_window() {
    if SKIP_NEXT.swap(false, Ordering::Relaxed) {
        return;
    }
    PROBED.fetch_add(1, Ordering::Relaxed);
    let handled = HANDLED.load(Ordering::Relaxed);
    interrupts::send_to_this_core(PROBE_SGI);
    for _ in 0..WAIT_BOUND {
        // Pending, held back by the mask (the right outcome), or taken
        // already (the window was open: the path is about to return to
        // the wrong place, which is what the test is there to show).
        if irq_line_raised() || HANDLED.load(Ordering::Relaxed) != handled {
            return;
        }
        core::hint::spin_loop();
    }
    panic!("debug=eret-window: SGI {PROBE_SGI} was sent but never signalled");
}

/// `ISR_EL1.I`: the CPU interface is signalling an IRQ to this core.
fn irq_line_raised() -> bool {
    let status: u64;
    // SAFETY: reads a status register; no side effects.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) status, options(nomem, nostack)) };
    status & (1 << 7) != 0
}
