//! Kernel SQ polling: a kernel thread that takes a ring's submissions as
//! they are published, so a busy process submits without system calls.
//!
//! The io_uring protocol: while the poller is awake the process only
//! publishes `sq_tail`. After `idle` microseconds with nothing to take, the
//! poller sets `NEED_WAKEUP` in the ring's flags, looks once more (a
//! submission may have arrived just before the flag), and sleeps. A process
//! that sees `NEED_WAKEUP` after publishing calls `ring_enter` with
//! `SQ_WAKEUP`. On one core the poller yields after every pass, so it never
//! keeps the process it serves from running.

use super::engine;
use crate::arch::cpu;
use crate::process::{ProcessId, SYSTEM, System};
use crate::{scheduler, time};
use core::sync::atomic::{Ordering, fence};
use libring::abi::{Errno, ring_flags};

/// `SQ_POLL`: turns polling on with `idle_microseconds` (or changes it), or
/// off (0).
pub fn configure(system: &mut System, id: ProcessId, idle_microseconds: u64) -> i32 {
    let Some(process) = system.process(id) else {
        return Errno::InvalidArgument.result();
    };
    let ring = &mut process.ring;
    if idle_microseconds == 0 {
        ring.stop_poller();
        return 0;
    }
    ring.poll_idle_microseconds = idle_microseconds;
    if ring.poller.is_some() && !ring.poller_stop {
        return 0;
    }
    match scheduler::spawn("sq-poll", poller_main, id as u64) {
        Ok(thread) => {
            ring.poller = Some(thread);
            ring.poller_stop = false;
            ring.set_flag(ring_flags::NEED_WAKEUP, false);
            ring.set_flag(ring_flags::SQ_POLL, true);
            0
        }
        Err(_) => Errno::OutOfMemory.result(),
    }
}

/// What the poller does after one look at the ring.
enum Next {
    Stop,
    Yield,
    Sleep,
}

fn poller_main(id: u64) {
    let id = id as ProcessId;
    let me = scheduler::current();
    let mut idle_since = time::counter_microseconds();
    loop {
        let interrupts = cpu::disable_interrupts();
        let mut system = SYSTEM.lock();
        let next = look(&mut system, id, me, &mut idle_since);
        if let Next::Sleep = next {
            // IRQs stay masked until blocked: a wake-up cannot be missed.
            drop(system);
            scheduler::block();
            idle_since = time::counter_microseconds();
            if let Some(process) = SYSTEM.lock().process(id) {
                process.ring.set_flag(ring_flags::NEED_WAKEUP, false);
            }
        } else {
            drop(system);
        }
        cpu::restore_interrupts(interrupts);
        // A POWER_OFF it took powers off here.
        crate::power::shutdown_if_requested();
        match next {
            Next::Stop => return,
            Next::Yield => scheduler::yield_now(),
            Next::Sleep => {}
        }
    }
}

fn look(system: &mut System, id: ProcessId, me: scheduler::ThreadId, idle_since: &mut u64) -> Next {
    let Some(process) = system.process(id) else {
        return Next::Stop;
    };
    if process.ring.poller != Some(me) || process.ring.poller_stop || process.ending.is_some() {
        if process.ring.poller == Some(me) {
            process.ring.poller = None;
        }
        return Next::Stop;
    }
    let taken = engine::drain(system, id, u32::MAX);
    if taken > 0 {
        // As `ring_enter` does after a drain: what was taken may have made
        // room in the CQ (a `SKIP_SUCCESS` completion gives its slot back
        // without a word) for requests waiting at the process's endpoints.
        super::forward::deliver_to(system, id);
        *idle_since = time::counter_microseconds();
        return Next::Yield;
    }
    let Some(process) = system.process(id) else {
        return Next::Stop;
    };
    if time::counter_microseconds().saturating_sub(*idle_since)
        < process.ring.poll_idle_microseconds
    {
        return Next::Yield;
    }
    process.ring.set_flag(ring_flags::NEED_WAKEUP, true);
    // The flag must be visible before the last look at sq_tail (the
    // process does the mirror image: publish tail, fence, read flags).
    fence(Ordering::SeqCst);
    if process.ring.submissions_waiting() > 0 && process.ring.free_slots() > 0 {
        process.ring.set_flag(ring_flags::NEED_WAKEUP, false);
        return Next::Yield;
    }
    Next::Sleep
}
