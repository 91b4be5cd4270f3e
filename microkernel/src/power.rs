//! Turning the machine off.
//!
//! Through PSCI `SYSTEM_OFF`, by the method the device tree names. QEMU then
//! exits (always with status 0: the test runner judges from the serial
//! output, never from QEMU's exit status).
//!
//! A process's `POWER_OFF` only asks ([`request`]); the machine stops when
//! the thread that asked leaves the ring engine ([`shutdown_if_requested`])
//! and the kernel log's reader has printed the last piece it was given:
//!
//! ```text
//!   POWER_OFF ─► request() ─► ring_enter ends ─► shutdown_if_requested:
//!                               reader has a LOG_READ pending again?
//!                                 no:  sleep a tick (up to 50), look again
//!                                 yes: kept log to the UART, SYSTEM_OFF
//! ```
//!
//! The console server takes the log 256 bytes at a time and asks for more
//! only once it has printed them; stopping at once lost the piece it held
//! (a server's last words before the power went).

use crate::arch::{cpu, psci};
use crate::process::SYSTEM;
use crate::{console, kprintln, scheduler};
use boot::boot_info::PsciMethod;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Set by `POWER_OFF` (see the module doc): the asking thread's id + 1;
/// 0 while nobody has asked. Only that thread waits for the log's reader:
/// the reader's own thread, leaving a `ring_enter` meanwhile, must go on
/// and print.
static REQUESTED_BY: AtomicUsize = AtomicUsize::new(0);

/// Ticks the shutdown waits at most for the log's reader: half a second.
const LOG_WAIT_TICKS: u32 = 50;

/// A process with the power right asked to power off: done by the asking
/// thread once it is out of the ring engine, [`shutdown_if_requested`].
pub fn request() {
    let _ = REQUESTED_BY.compare_exchange(
        0,
        scheduler::current() + 1,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}

/// If this thread asked for power-off, waits (a bounded while) for the
/// kernel log's reader to print what it was given, then powers off.
/// Called with no lock held, where a thread leaves the ring engine.
pub fn shutdown_if_requested() {
    let asked_by = REQUESTED_BY.load(Ordering::Relaxed);
    if asked_by == 0 || asked_by != scheduler::current() + 1 {
        return;
    }
    for turn in 0..=LOG_WAIT_TICKS {
        // Masked from the last look on: no tick hands the reader another
        // piece between the look and the power going.
        let interrupts = cpu::disable_interrupts();
        let printed = !matches!(SYSTEM.lock().log_reader, Some((_, None)));
        if printed || turn == LOG_WAIT_TICKS {
            console::stop_buffering();
            shutdown();
        }
        cpu::restore_interrupts(interrupts);
        scheduler::sleep_ticks(1);
    }
}

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
