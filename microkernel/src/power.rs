//! Turning the machine off.
//!
//! Through PSCI `SYSTEM_OFF`, by the method the device tree names. QEMU then
//! exits (always with status 0: the test runner judges from the serial
//! output, never from QEMU's exit status).

use crate::arch::{cpu, psci};
use crate::{console, kprintln};
use boot::boot_info::PsciMethod;

static METHOD: spin::Once<PsciMethod> = spin::Once::new();

/// Remembers how to call PSCI (from the device tree).
pub fn init(method: Option<PsciMethod>) {
    if let Some(method) = method {
        METHOD.call_once(|| method);
    }
}

/// The PSCI method, if the device tree named one.
pub fn psci_method() -> Option<PsciMethod> {
    METHOD.get().copied()
}

/// Powers off after a clean run.
pub fn shutdown() -> ! {
    // The one system call is ring_enter: anything else was refused (and
    // its caller killed), and shows here.
    let (ring_enter, other) = crate::syscall::counts();
    kprintln!("annulus: system calls: ring_enter (0) {ring_enter}, any other number {other}");
    let probed = crate::arch::eret_window::probed();
    if probed > 0 {
        kprintln!("annulus: debug=eret-window: {probed} returns probed");
    }
    kprintln!("annulus: powering off");
    power_off()
}

/// Powers off after a fatal error has been reported.
pub fn shutdown_after_failure() -> ! {
    kprintln!("annulus: stopped after a fatal error; powering off");
    power_off()
}

fn power_off() -> ! {
    // The console server may hold kept kernel log: it is not going to
    // print it now, so write it out directly.
    console::stop_buffering();
    console::flush();
    let _ = cpu::disable_interrupts();
    if let Some(method) = psci_method() {
        psci::system_off(method);
    }
    // No PSCI, or it refused: stop here, quietly.
    loop {
        cpu::wait_for_interrupt();
    }
}
