//! Deadlines of `TIMEOUT` and `LINK_TIMEOUT` requests.
//!
//! A sorted-by-nothing list in `System::timers`, checked on every scheduler
//! tick: simple, and the list is short. A deadline is therefore met to
//! within one tick (10 ms), never early.

use super::decode::{Deadline, Operation};
use super::engine::{self, absolute};
use crate::process::{ProcessId, System};
use libring::abi::Errno;

/// One armed deadline.
pub struct Timer {
    pub process: ProcessId,
    pub request: u64,
    /// Nanoseconds since boot.
    pub deadline: u64,
}

/// Arms a timer for `request` of process `id`. `ENOMEM` if the kernel
/// heap has no room for it.
pub fn arm(
    system: &mut System,
    id: ProcessId,
    request: u64,
    deadline: Deadline,
) -> Result<(), Errno> {
    let deadline = absolute(deadline);
    system
        .timers
        .try_reserve(1)
        .map_err(|_| Errno::OutOfMemory)?;
    system.timers.push(Timer {
        process: id,
        request,
        deadline,
    });
    Ok(())
}

/// Drops `request`'s timer, if it has one.
pub fn disarm(system: &mut System, id: ProcessId, request: u64) {
    system
        .timers
        .retain(|timer| !(timer.process == id && timer.request == request));
}

/// Called on every tick: fires every timer whose deadline has passed.
pub fn expire_timers(system: &mut System, now: u64) {
    // Multishot events that found the CQ full get another try first.
    retry_pending_events(system);
    // Earliest deadline first, so timers that expire in the same tick
    // complete in deadline order.
    loop {
        let earliest = system
            .timers
            .iter()
            .enumerate()
            .filter(|(_, timer)| timer.deadline <= now)
            .min_by_key(|(index, timer)| (timer.deadline, *index))
            .map(|(index, _)| index);
        let Some(index) = earliest else { break };
        let timer = system.timers.remove(index);
        let process = timer.process;
        fire(system, timer, now);
        // A completed request may let the next member of its chain start.
        engine::advance_later(system, process);
    }
    engine::settle(system);
}

fn fire(system: &mut System, timer: Timer, now: u64) {
    let Timer {
        process: id,
        request: request_id,
        deadline,
    } = timer;
    let Some(process) = system.process(id) else {
        return;
    };
    let Some(index) = process.ring.requests.index_of(request_id) else {
        return;
    };
    let request = &process.ring.requests[index];
    match request.operation {
        Ok(Operation::Timeout { repeat: None, .. }) => engine::finish(system, id, request_id, 0),
        Ok(Operation::Timeout {
            deadline: Deadline::After(period),
            repeat: Some(count),
        }) => {
            let last = count != 0 && request.fired + 1 >= count;
            if last {
                engine::finish(system, id, request_id, 0);
            } else if engine::post_event(system, id, request_id, 0) {
                // The next period counts from this one's deadline, not from
                // now, so a repeating timer does not drift.
                let next = deadline.saturating_add(period).max(now);
                system.timers.push(Timer {
                    process: id,
                    request: request_id,
                    deadline: next,
                });
            }
            // Otherwise the CQ had no free slot: the event waits in the
            // request (`pending_event`) and the timer re-arms once it is
            // posted, so no expiry is ever lost or merged.
        }
        Ok(Operation::LinkTimeout { .. }) => link_timeout_fired(system, id, index),
        _ => {}
    }
}

/// The request before link timeout `index` in its chain ran out of time:
/// it is cancelled (and with it the rest of the chain), and the link
/// timeout completes with `-ETIME`.
fn link_timeout_fired(system: &mut System, id: ProcessId, index: usize) {
    let Some(process) = system.process(id) else {
        return;
    };
    let requests = &process.ring.requests;
    let timeout_id = requests[index].id;
    let chain = requests[index].chain;
    let target = requests
        .before(index)
        .rev()
        .find(|request| request.chain == chain)
        .map(|request| request.id);
    engine::finish(system, id, timeout_id, Errno::TimedOut.result());
    if let Some(target) = target {
        engine::finish(system, id, target, Errno::Cancelled.result());
    }
}

/// Posts multishot events that were kept back for lack of CQ room, now
/// that the process may have made room, and re-arms their timers.
fn retry_pending_events(system: &mut System) {
    let mut pending: alloc::vec::Vec<(ProcessId, u64, Option<u64>)> = alloc::vec::Vec::new();
    for process in system.processes.values() {
        for request in process
            .ring
            .requests
            .iter()
            .filter(|request| request.pending_event)
        {
            match request.operation {
                Ok(Operation::Timeout {
                    deadline: Deadline::After(period),
                    ..
                }) => {
                    pending.push((process.id, request.id, Some(period)));
                }
                // An interrupt that found the driver's CQ full.
                Ok(Operation::IrqWait { .. }) => pending.push((process.id, request.id, None)),
                _ => {}
            }
        }
    }
    for (id, request, period) in pending {
        if engine::post_event(system, id, request, 0)
            && let Some(period) = period
        {
            let deadline = absolute(Deadline::After(period));
            system.timers.push(Timer {
                process: id,
                request,
                deadline,
            });
        }
    }
}
