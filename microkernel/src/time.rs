//! Kernel time: a periodic tick from the generic timer.
//!
//! The virtual timer fires [`TICKS_PER_SECOND`] times a second. Each tick
//! re-arms it, counts, and tells the scheduler (time slices, sleepers).
//! A periodic tick is the simplest design that works; a tickless kernel
//! would program the timer for the next deadline instead.

use crate::arch::timer;
use crate::{interrupts, scheduler};
use boot::boot_info::Timer;
use core::sync::atomic::{AtomicU64, Ordering};

/// The scheduler's clock rate.
pub const TICKS_PER_SECOND: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);
/// Counter ticks between two kernel ticks.
static INTERVAL: AtomicU64 = AtomicU64::new(0);
/// The counter value the next tick is due at.
static NEXT_TICK: AtomicU64 = AtomicU64::new(0);

/// Starts the tick.
pub fn init(timers: &Timer) -> Result<(), interrupts::InterruptError> {
    let interval = timer::frequency() / TICKS_PER_SECOND;
    INTERVAL.store(interval, Ordering::Relaxed);
    NEXT_TICK.store(timer::counter() + interval, Ordering::Relaxed);
    interrupts::register(
        timers.virtual_timer.id,
        timers.virtual_timer.trigger,
        on_tick,
    )?;
    timer::fire_at(NEXT_TICK.load(Ordering::Relaxed));
    Ok(())
}

fn on_tick(_interrupt: u32) {
    // Each tick is one interval after the last one was due, not after the
    // interrupt was taken, so ticks do not drift. A tick that is already
    // late (a long stretch with IRQs masked) is skipped, not queued up.
    let interval = INTERVAL.load(Ordering::Relaxed);
    let mut next = NEXT_TICK.load(Ordering::Relaxed) + interval;
    let now = timer::counter();
    if next <= now {
        next = now + interval;
    }
    NEXT_TICK.store(next, Ordering::Relaxed);
    timer::fire_at(next);
    TICKS.fetch_add(1, Ordering::Relaxed);
    scheduler::tick(now);
    let mut system = crate::process::SYSTEM.lock();
    crate::ring::expire_timers(&mut system, now_nanoseconds());
    crate::hang_dump::tick(&system, now_nanoseconds());
    crate::ring::drivers::deliver_log(&mut system);
    crate::ring::faults::release_stalled(&mut system, now_nanoseconds());
    crate::ring::engine::settle(&mut system);
}

/// Counter ticks between two kernel ticks.
pub fn tick_interval() -> u64 {
    INTERVAL.load(Ordering::Relaxed)
}

/// Ticks since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Ticks for a duration in milliseconds, rounded up.
pub fn ticks_for_milliseconds(milliseconds: u64) -> u64 {
    (milliseconds * TICKS_PER_SECOND).div_ceil(1000)
}

/// Nanoseconds on the hardware counter: the system clock that absolute
/// ring timeouts use.
pub fn now_nanoseconds() -> u64 {
    let frequency = timer::frequency().max(1);
    (timer::counter() as u128 * 1_000_000_000 / frequency as u128) as u64
}

/// Microseconds on the hardware counter (runs without interrupts).
pub fn counter_microseconds() -> u64 {
    let frequency = timer::frequency().max(1);
    (timer::counter() as u128 * 1_000_000 / frequency as u128) as u64
}
