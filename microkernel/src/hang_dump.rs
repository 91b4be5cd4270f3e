//! `hangdump=SECONDS` on the command line: every SECONDS the kernel writes
//! what each process is waiting for straight to the UART (past the console
//! server, which may be the one that is stuck). The QEMU tests boot the
//! system with it, so a run that hangs shows, before its timeout, which
//! process waits for what (`docs/testing.md`).

use crate::process::System;
use core::sync::atomic::{AtomicU64, Ordering};

/// The interval in nanoseconds (0: off) and the next dump's time.
static INTERVAL: AtomicU64 = AtomicU64::new(0);
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Reads `hangdump=SECONDS` from the command line.
pub fn configure(bootargs: &str) {
    let seconds = bootargs
        .split_whitespace()
        .find_map(|word| word.strip_prefix("hangdump="))
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    let interval = seconds.saturating_mul(1_000_000_000);
    INTERVAL.store(interval, Ordering::Relaxed);
    NEXT.store(interval, Ordering::Relaxed);
}

/// On every tick: writes the dump if its time has come.
pub fn tick(system: &System, now: u64) {
    let interval = INTERVAL.load(Ordering::Relaxed);
    if interval == 0 || now < NEXT.load(Ordering::Relaxed) {
        return;
    }
    NEXT.store(now + interval, Ordering::Relaxed);
    crate::console::print_direct(|out| {
        let _ = writeln!(out, "hangdump: at {} ms", now / 1_000_000);
        for process in system.processes.values() {
            let _ = write!(
                out,
                "hangdump: process {} ({}): {} ready",
                process.id,
                process.name,
                process.ring.completions_ready()
            );
            if let Some((_, wanted)) = process.ring.waiter {
                let _ = write!(out, ", waits for {wanted}");
            }
            let _ = writeln!(out);
            for request in process.ring.requests.iter() {
                let _ = writeln!(
                    out,
                    "hangdump:   request {} (running {}): {:?}",
                    request.id, request.running, request.operation
                );
            }
        }
        for endpoint in system.endpoints.values() {
            let _ = writeln!(
                out,
                "hangdump: endpoint {} (server {}): receive armed {}, busy slots {:#x}, queued {}",
                endpoint.name,
                endpoint.server,
                endpoint.receive.is_some(),
                endpoint.busy_slots,
                endpoint.queue.len()
            );
        }
    });
}
