//! `ring_enter`, and the life of every request from submission to
//! completion.
//!
//! 1. **Accept** ([`drain`]): for each published submission, reserve a CQ
//!    slot (stop if there is none), copy the submission out once, decode
//!    it, and record a [`Request`]. A LINK flag puts the next submission in
//!    the same chain, even one taken by a later `ring_enter`; a chain ends
//!    at a submission without LINK.
//! 2. **Run** ([`advance`]): the first waiting request of each chain
//!    starts. Most operations complete at once; a `TIMEOUT` arms a timer.
//! 3. **Complete** ([`finish`]): the completion goes into the reserved
//!    slot. If the request failed (negative result), every later member of
//!    its chain completes with `-ECANCELED`; otherwise the next member may
//!    start. A `LINK_TIMEOUT` right after a request is armed when that
//!    request starts and disarmed (`-ECANCELED`) when it completes first.

use super::decode::{Deadline, Operation};
use super::requests::Request;
use super::{drivers, faults, forward, processes, sq_poll, timers};
use crate::arch::cpu;
use crate::process::handles::Object;
use crate::process::{self, Ending, ProcessId, SYSTEM, System};
use crate::{console, kprintln, mm, scheduler, time};
use libring::abi::{
    CQ_ENTRIES, Completion, Errno, SystemValue, completion_flags, enter_flags, submission_flags,
};

/// `ring_enter(to_submit, min_complete, flags)` for process `id`, on its
/// own thread. Returns how many submissions were taken, or `-errno`.
pub fn enter(id: ProcessId, to_submit: u32, min_complete: u32, flags: u32) -> i64 {
    if flags & !enter_flags::ALL != 0 {
        return Errno::InvalidArgument.result() as i64;
    }
    let interrupts = cpu::disable_interrupts();
    let mut system = SYSTEM.lock();
    let taken = if to_submit > 0 {
        drain(&mut system, id, to_submit)
    } else {
        0
    };
    // The process may have made room in its CQ for requests waiting at
    // its endpoints.
    forward::deliver_to(&mut system, id);
    settle(&mut system);
    // One lookup of the process for the rest (the tables are behind one
    // lock, so each lookup is a search: see `id_map`).
    let Some(mut process) = system.process(id) else {
        cpu::restore_interrupts(interrupts);
        return 0;
    };
    process.system_calls += 1;
    if to_submit == 0 {
        // `drain` has done this otherwise.
        process.ring.publish_indices();
    }
    if flags & enter_flags::SQ_WAKEUP != 0
        && let Some(poller) = process.ring.poller
    {
        scheduler::wake(poller);
    }
    // No room for any of them: EBUSY, unless the caller waits for
    // completions (then it gets them, and 0, and makes room by reaping).
    let no_room = to_submit > 0
        && taken == 0
        && process.ring.submissions_waiting() > 0
        && flags & enter_flags::GET_EVENTS == 0;
    if flags & enter_flags::GET_EVENTS != 0 {
        let wanted = min_complete.min(CQ_ENTRIES);
        loop {
            if process.ending.is_some() || process.ring.completions_ready() >= wanted {
                process.ring.waiter = None;
                break;
            }
            process.ring.waiter = Some((process.thread, wanted));
            // IRQs stay masked from the check above until the thread is
            // blocked, so no completion can be posted in between unseen.
            drop(system);
            scheduler::block();
            system = SYSTEM.lock();
            match system.process(id) {
                Some(found) => process = found,
                None => break,
            }
        }
    }
    drop(system);
    cpu::restore_interrupts(interrupts);
    if no_room {
        Errno::Busy.result() as i64
    } else {
        taken as i64
    }
}

/// Accepts up to `limit` published submissions of process `id`, then runs
/// what can run. Returns how many were accepted.
pub fn drain(system: &mut System, id: ProcessId, limit: u32) -> u32 {
    let mut available = None;
    let mut taken = 0;
    let mut recorded = false;
    // A LINK_TIMEOUT taken as the first request of this drain, joining a
    // chain whose member before it may be running already: its id.
    let mut late_link_timeout = None;
    // An EXIT the kernel had no room to record (it ends the process all
    // the same, once the indices are published).
    let mut exit_now = None;
    // Each pass takes submissions until one must run with the whole system
    // in hand (see the fast path below), runs that one, and goes on. (The
    // process is looked up before the first pass and after each such run:
    // each lookup is a search.)
    let Some(mut process) = system.process(id) else {
        return taken;
    };
    loop {
        let ring = &mut process.ring;
        let available = *available.get_or_insert_with(|| ring.submissions_waiting().min(limit));
        let mut immediate = None;
        while taken < available {
            let submission = ring.peek_submission();
            let operation = super::decode::decode(&submission);
            // EXIT ends the process here and now, with no CQ slot, when
            // nothing comes before it: no chain open (or being refused) and
            // no request recorded by this drain, which would run first.
            // Otherwise it is recorded like any other submission, with a
            // slot: it may wait behind a running member of its chain, or
            // be cancelled (`CANCEL`, a failed chain), and then completes;
            // slotless, EXITs queued behind a long TIMEOUT would be kernel
            // records without bound. Should no slot be left, it ends the
            // process at once all the same: a process whose CQ is all
            // reserved (128 endless timers) can always end itself. (A
            // submission left in the queue for want of a slot is copied and
            // checked afresh next time.)
            if let Ok(Operation::Exit { code }) = operation {
                let waits = ring.chain_open || ring.refusing_chain || recorded;
                if !waits || !ring.reserve_slot() {
                    ring.advance_sq_head();
                    taken += 1;
                    exit_now = Some(code);
                    break;
                }
            } else if !ring.reserve_slot() {
                break;
            }
            ring.advance_sq_head();
            taken += 1;
            let linked = submission.flags & submission_flags::LINK != 0;
            let skip_success = submission.flags & submission_flags::SKIP_SUCCESS != 0;
            // The rest of a chain a member of which had no room (below), or
            // failed (`finish`): cancelled.
            if ring.refusing_chain {
                ring.refusing_chain = linked;
                ring.post_final(Completion {
                    user_data: submission.user_data,
                    result: Errno::Cancelled.result(),
                    flags: 0,
                });
                continue;
            }
            // The fast path: an operation that completes at once and is a
            // chain of its own needs nothing but its completion, posted into
            // the slot just reserved; no request is recorded. A NOP or a
            // refused submission completes right here; the others run after
            // this pass, with the whole system. Only while no request has
            // been recorded in this drain: those run in `advance`, after the
            // loop, and completions that come at once must keep the order
            // their submissions were taken in.
            if !ring.chain_open && !linked && !recorded {
                let result = match operation {
                    Ok(Operation::Nop) => Some(0),
                    Err(error) => Some(error.result()),
                    Ok(other) if completes_at_once(&other) => {
                        immediate = Some((submission.user_data, other, skip_success));
                        break;
                    }
                    Ok(_) => None,
                };
                if let Some(result) = result {
                    let completion = Completion {
                        user_data: submission.user_data,
                        result,
                        flags: 0,
                    };
                    ring.post_final_unless_skipped(completion, skip_success);
                    continue;
                }
            }
            // The record needs room in the ring's list; if the kernel heap
            // has none, the submission fails with ENOMEM, and the members
            // after it in its chain with ECANCELED (`refusing_chain`). An
            // EXIT ends the process regardless.
            if ring.requests.try_reserve_one().is_err() {
                if let Ok(Operation::Exit { code }) = operation {
                    exit_now = Some(code);
                    break;
                }
                ring.post_final(Completion {
                    user_data: submission.user_data,
                    result: Errno::OutOfMemory.result(),
                    flags: 0,
                });
                ring.chain_open = false;
                ring.refusing_chain = linked;
                continue;
            }
            if !ring.chain_open {
                ring.next_chain += 1;
            }
            // A LINK flag puts the next submission in this chain, even if it
            // only arrives with a later ring_enter.
            if ring.chain_open
                && !recorded
                && matches!(operation, Ok(Operation::LinkTimeout { .. }))
            {
                late_link_timeout = Some(ring.next_request + 1);
            }
            ring.chain_open = linked;
            ring.next_request += 1;
            let request = Request {
                id: ring.next_request,
                chain: ring.next_chain,
                user_data: submission.user_data,
                operation,
                linked,
                skip_success,
                running: false,
                fired: 0,
                pending_event: false,
                forward: 0,
            };
            ring.requests.push(request);
            recorded = true;
        }
        ring.publish_indices();
        if let Some(code) = exit_now {
            // What this drain took before the EXIT runs first, in order
            // (a LOG, a REPLY a client waits for), then the process ends.
            if recorded {
                advance(system, id);
            }
            if system
                .process(id)
                .is_some_and(|process| process.ending.is_none())
            {
                process::end(system, id, Ending::Exited(code));
            }
            settle(system);
            return taken;
        }
        // (The process is looked up again only then: each lookup is a
        // search, and this is every NOP's path.)
        let ring = match late_link_timeout.take() {
            Some(timeout_id) => {
                arm_late_link_timeout(system, id, timeout_id);
                match system.process(id) {
                    Some(process) => &mut process.ring,
                    None => return taken,
                }
            }
            None => ring,
        };
        let Some((user_data, operation, skip_success)) = immediate else {
            // Start what this drain recorded. (Nothing waits to start when
            // no request is pending.)
            if !ring.requests.is_empty() {
                advance(system, id);
            }
            settle(system);
            return taken;
        };
        let result =
            run_immediate(system, id, &operation, 0).unwrap_or(Errno::InvalidArgument.result());
        process = match system.process(id) {
            Some(process) => process,
            None => return taken,
        };
        let completion = Completion {
            user_data,
            result,
            flags: 0,
        };
        process
            .ring
            .post_final_unless_skipped(completion, skip_success);
        // It ended itself (an injected crash, `faults.rs`): what it
        // submitted after this is never run, as for a process that crashed.
        if process.ending.is_some() {
            process.ring.publish_indices();
            return taken;
        }
        wake_if_ready(process);
    }
}

/// Does `operation` complete at once, with nothing to wait for (so that
/// [`run_immediate`] gives its result)?
fn completes_at_once(operation: &Operation) -> bool {
    !matches!(
        operation,
        Operation::Exit { .. }
            | Operation::Timeout { .. }
            | Operation::Forward { .. }
            | Operation::Receive { .. }
            | Operation::IrqWait { .. }
            | Operation::LogRead { .. }
            | Operation::Wait { .. }
    )
}

/// Asks for process `id`'s ring to be advanced by the outermost caller
/// ([`settle`]) instead of now.
///
/// Work that completes a request (a `REPLY`, a process ending, a timer)
/// may unblock the next member of another ring's chain, and that member
/// may itself be a `REPLY` that completes a third request, and so on,
/// as deep as user programs like. Starting it on the spot would make the
/// kernel recurse once per link; marking it here and starting it from
/// the loop in [`settle`] keeps the kernel stack flat, whatever the
/// chains look like.
pub fn advance_later(system: &mut System, id: ProcessId) {
    // (A ring with nothing waiting to start has nothing to advance.)
    if let Some(process) = system.process(id)
        && !process.ring.advance_due
        && process.ring.requests.unstarted() > 0
    {
        process.ring.advance_due = true;
        system.advances_due += 1;
    }
}

/// Advances every ring [`advance_later`] marked, until none is marked.
/// Called by the outermost kernel code that completes requests
/// (`ring_enter`, the tick, a process's tear-down), with the lock held.
///
/// Bound: each pass starts at least one request or unmarks a ring, and a
/// request starts once; so the passes are at most the requests pending
/// in the whole system (at most `CQ_ENTRIES` per process) plus the
/// processes, all with interrupts masked.
pub fn settle(system: &mut System) {
    while system.advances_due > 0 {
        let marked = system
            .processes
            .values_mut()
            .find(|process| process.ring.advance_due)
            .map(|process| {
                process.ring.advance_due = false;
                process.id
            });
        let Some(id) = marked else {
            // Every marked ring belonged to a process that has gone.
            system.advances_due = 0;
            return;
        };
        system.advances_due -= 1;
        advance(system, id);
    }
}

/// Starts every request whose turn has come, until none is left to start.
/// Never calls itself: requests this completes in other rings (or in
/// this one) are left to [`settle`].
pub fn advance(system: &mut System, id: ProcessId) {
    loop {
        let Some(process) = system.process(id) else {
            return;
        };
        if process.ending.is_some() {
            return;
        }
        let requests = &mut process.ring.requests;
        let Some(index) = requests.next_to_start() else {
            return;
        };
        let request_id = requests[index].id;
        start(system, id, request_id);
    }
}

fn find(system: &mut System, id: ProcessId, request_id: u64) -> Option<usize> {
    system.process(id)?.ring.requests.index_of(request_id)
}

/// Runs request `request_id`: immediate operations complete here.
fn start(system: &mut System, id: ProcessId, request_id: u64) {
    // (Each lookup of the process is a search: one here, and another only
    // where the operation needs it again.)
    let Some(process) = system.process(id) else {
        return;
    };
    let Some(index) = process.ring.requests.index_of(request_id) else {
        return;
    };
    let request = &process.ring.requests[index];
    // Only a request with LINK set can have a LINK_TIMEOUT after it.
    let linked = request.linked;
    let operation = match request.operation {
        Ok(operation) => operation,
        Err(error) => return finish(system, id, request_id, error.result()),
    };
    if completes_at_once(&operation)
        && let Some(result) = run_immediate(system, id, &operation, request_id)
    {
        finish(system, id, request_id, result);
        return;
    }
    let begun = match operation {
        Operation::Exit { code } => {
            if let Some(process) = system.process(id) {
                process.ring.requests.remove(index);
            }
            process::end(system, id, Ending::Exited(code));
            return;
        }
        Operation::Timeout { deadline, .. } => {
            if let Err(error) = timers::arm(system, id, request_id, deadline) {
                return finish(system, id, request_id, error.result());
            }
            mark_running(system, id, request_id, 0);
            if linked {
                arm_link_timeout(system, id, request_id);
            }
            return;
        }
        Operation::Forward {
            opcode,
            handle,
            address,
            length,
            operation_flags,
            offset,
            arguments,
        } => {
            // `submit` marks the request running itself (it has the
            // client in hand).
            match forward::submit(
                system,
                id,
                request_id,
                opcode,
                handle,
                address,
                length,
                operation_flags,
                offset,
                arguments,
            ) {
                Ok(_) if linked => arm_link_timeout(system, id, request_id),
                Ok(_) => {}
                Err(error) => finish(system, id, request_id, error.result()),
            }
            return;
        }
        Operation::Receive {
            handle,
            address,
            slots,
        } => forward::receive(system, id, request_id, handle, address, slots).map(|()| 0),
        Operation::IrqWait { handle } => {
            drivers::irq_wait(system, id, request_id, handle).map(|()| 0)
        }
        Operation::LogRead {
            handle,
            address,
            length,
        } => drivers::log_read(system, id, request_id, handle, address, length).map(|()| 0),
        Operation::Wait {
            handle,
            address,
            length,
        } => match processes::wait(system, id, request_id, handle, address, length) {
            Ok(Some(result)) => return finish(system, id, request_id, result),
            Ok(None) => Ok(0),
            Err(error) => Err(error),
        },
        // `run_immediate` has run every other operation.
        _ => Err(Errno::InvalidArgument),
    };
    if let Some(error) = stays_pending(system, id, request_id, begun, linked) {
        finish(system, id, request_id, error);
    }
}

/// Runs an operation that completes at once and returns its result, or
/// `None` for one that needs its request recorded (it stays pending, or,
/// `EXIT`, never completes). `request_id` is the request's id, or 0 when
/// it has none (the fast path in [`drain`]).
fn run_immediate(
    system: &mut System,
    id: ProcessId,
    operation: &Operation,
    request_id: u64,
) -> Option<i32> {
    if !completes_at_once(operation) {
        return None;
    }
    // A server's answer, the commonest: it needs no lookup of the server.
    if let Operation::Reply {
        request,
        result,
        handle,
    } = *operation
    {
        return Some(
            faults::reply(system, id, request, result, handle).map_or_else(Errno::result, |()| 0),
        );
    }
    let process = system.process(id)?;
    let result = match *operation {
        Operation::Nop => 0,
        Operation::Exit { .. }
        | Operation::Timeout { .. }
        | Operation::Forward { .. }
        | Operation::Receive { .. }
        | Operation::IrqWait { .. }
        | Operation::LogRead { .. }
        | Operation::Wait { .. } => return None,
        // A link timeout with nothing before it in its chain.
        Operation::LinkTimeout { .. } => Errno::InvalidArgument.result(),
        Operation::Map {
            address,
            length,
            writable,
        } => {
            let access = if writable {
                crate::process::address_space::UserAccess::ReadWrite
            } else {
                crate::process::address_space::UserAccess::ReadOnly
            };
            // The address space checks the budget and the kernel's reserve.
            match process.address_space.map_new(address, length, access) {
                Ok(()) => 0,
                Err(error) => error.result(),
            }
        }
        Operation::Unmap { address, length } => {
            // Only memory from MAP lives in the map area, so "mapped" here
            // means "the caller's own anonymous memory".
            if process.address_space.is_mapped(address, length) {
                let _ = process.address_space.unmap(address, length);
                0
            } else {
                Errno::InvalidArgument.result()
            }
        }
        Operation::Close { handle } => match process.handles.remove(handle) {
            Ok(object) => {
                process::handle_dropped(system, object);
                0
            }
            Err(error) => error.result(),
        },
        Operation::ProcessCreate {
            handle,
            address,
            length,
            memory_bytes,
        } => processes::create(system, id, handle, address, length, memory_bytes)
            .unwrap_or_else(Errno::result),
        Operation::ProcessMap {
            handle,
            address,
            length,
            destination,
            memory_bytes,
            flags,
        } => processes::map(
            system,
            id,
            &processes::MapRequest {
                handle,
                address,
                length,
                destination,
                memory_bytes,
                flags,
            },
        )
        .unwrap_or_else(Errno::result),
        Operation::ProcessGive {
            handle,
            given,
            request,
        } => processes::give(system, id, handle, given, request).unwrap_or_else(Errno::result),
        Operation::ProcessStart {
            handle,
            address,
            length,
            entry,
        } => processes::start(system, id, handle, address, length, entry)
            .unwrap_or_else(Errno::result),
        Operation::Kill { handle } => {
            processes::kill(system, id, handle).unwrap_or_else(Errno::result)
        }
        Operation::Inject { handle, fault } => {
            faults::inject(system, id, handle, fault).unwrap_or_else(Errno::result)
        }
        Operation::ProcessInfo { handle } => {
            processes::info(system, id, handle).unwrap_or_else(Errno::result)
        }
        Operation::ProcessList { address, length } => {
            processes::list(system, id, address, length).unwrap_or_else(Errno::result)
        }
        Operation::EndpointCreate { address, length } => {
            processes::endpoint_create(system, id, address, length).unwrap_or_else(Errno::result)
        }
        Operation::Cancel { target } => cancel(system, id, request_id, target),
        Operation::Log { address, length } => {
            let result = log(process, address, length);
            // To the log's reader now, not at the next tick: a line logged
            // before this process's next request is printed before what
            // that request makes another process print.
            drivers::deliver_log(system);
            result
        }
        Operation::SqPoll { idle_microseconds } => {
            sq_poll::configure(system, id, idle_microseconds)
        }
        Operation::Reply { .. } => return None, // above
        Operation::Copy {
            to_client,
            request,
            offset,
            address,
            length,
        } => forward::copy(system, id, request, to_client, offset, address, length)
            .unwrap_or_else(Errno::result),
        Operation::Mint { handle, badge } => {
            forward::mint(system, id, handle, badge).unwrap_or_else(Errno::result)
        }
        Operation::IrqAck { handle } => {
            drivers::irq_ack(system, id, handle).map_or_else(Errno::result, |()| 0)
        }
        Operation::MapDevice { handle, address } => {
            drivers::map_device(system, id, handle, address).unwrap_or_else(Errno::result)
        }
        Operation::DmaMap {
            handle,
            address,
            length,
        } => drivers::dma_map(system, id, handle, address, length).unwrap_or_else(Errno::result),
        Operation::PowerOff { handle } => match process.handles.get(handle) {
            Ok(Object::Power) => {
                kprintln!("annulus: process {id} asked to power off");
                // Done once this thread leaves the engine: power.rs.
                crate::power::request();
                0
            }
            Ok(_) => Errno::NotPermitted.result(),
            Err(error) => error.result(),
        },
        Operation::SystemInfo { value } => match value {
            SystemValue::FreeFrames => mm::free_frames().min(i32::MAX as usize) as i32,
            SystemValue::TotalFrames => {
                mm::with_frames(|frames| frames.total_frames()).min(i32::MAX as usize) as i32
            }
            SystemValue::ProcessId => id as i32,
            SystemValue::SystemCalls => process.system_calls.min(i32::MAX as u64) as i32,
            SystemValue::Seconds => {
                (crate::time::now_nanoseconds() / 1_000_000_000).min(i32::MAX as u64) as i32
            }
            SystemValue::KernelHeapBytes => {
                crate::heap_bytes_in_use().min(i32::MAX as usize) as i32
            }
            SystemValue::ProcessFrames => {
                process::frames_owned(system).min(i32::MAX as usize) as i32
            }
        },
    };
    Some(result)
}

/// Writes a `LOG` buffer to the kernel log in one piece.
fn log(process: &mut process::Process, address: u64, length: u32) -> i32 {
    // All of it must be readable before any of it is printed.
    if let Err(error) = process
        .address_space
        .check_readable(address, length as usize)
    {
        return error.result();
    }
    // Copied a small piece at a time (this may run on any thread's kernel
    // stack, even in a timer interrupt), with the console held throughout
    // so the line comes out whole.
    const PIECE: usize = 256;
    console::write_whole(|write| {
        let mut buffer = [0u8; PIECE];
        for start in (0..length as usize).step_by(PIECE) {
            let piece = &mut buffer[..PIECE.min(length as usize - start)];
            if process
                .address_space
                .copy_from_user(address + start as u64, piece)
                .is_err()
            {
                break; // checked above; cannot happen
            }
            write(piece);
        }
    });
    length as i32
}

/// If the request after `request_id` in its chain is a `LINK_TIMEOUT`,
/// starts its timer.
fn arm_link_timeout(system: &mut System, id: ProcessId, request_id: u64) {
    let Some(index) = find(system, id, request_id) else {
        return;
    };
    let Some(process) = system.process(id) else {
        return;
    };
    let requests = &mut process.ring.requests;
    // The next member, if any: right after it (a chain's members are
    // next to each other).
    let next = index + 1;
    if requests
        .get(next)
        .is_none_or(|after| after.chain != requests[index].chain)
    {
        return;
    }
    if let Ok(Operation::LinkTimeout { deadline }) = requests[next].operation {
        requests.set_running(next);
        let timeout_id = requests[next].id;
        // With no room for its timer the link timeout fails at once
        // (`ENOMEM`); the request it guards runs on unguarded.
        if let Err(error) = timers::arm(system, id, timeout_id, deadline) {
            complete(system, id, timeout_id, error.result());
            wake_waiter(system, id);
        }
    }
}

/// LINK_TIMEOUT `timeout_id` came with a later `ring_enter` than the
/// request before it in its chain (the CQ was full between them, or the
/// program submitted them apart): if that request is running already, the
/// link timeout is armed now; its start armed nothing, as the link timeout
/// was not there yet.
fn arm_late_link_timeout(system: &mut System, id: ProcessId, timeout_id: u64) {
    let Some(process) = system.process(id) else {
        return;
    };
    let requests = &process.ring.requests;
    let Some(index) = requests.index_of(timeout_id).filter(|&index| index > 0) else {
        return;
    };
    let before = &requests[index - 1];
    // Only a request a link timeout can guard: not another link timeout
    // (a second one after it was never armed in one batch either).
    let guards = !matches!(before.operation, Ok(Operation::LinkTimeout { .. }));
    if guards && before.chain == requests[index].chain && before.running {
        let guarded = before.id;
        arm_link_timeout(system, id, guarded);
    }
}

/// What [`finish`] needs to know of a request [`complete`] removed.
struct Completed {
    chain: u64,
    was_link_timeout: bool,
    /// Submitted with LINK: only then can a link timeout come after it.
    linked: bool,
}

/// Removes request `request_id`, posts its final completion with `result`
/// and lets go of whatever it held (its timer, its place at a server, its
/// interrupt route). Returns what the chain logic needs of it (`None` if
/// it was not pending). The chain is not touched: see [`finish`].
fn complete(system: &mut System, id: ProcessId, request_id: u64, result: i32) -> Option<Completed> {
    let process = system.process(id)?;
    let index = process.ring.requests.index_of(request_id)?;
    // Only the words needed are copied out of the request: moving a whole
    // `Request` (about 100 bytes) costs a `memcpy` call.
    let request = &process.ring.requests[index];
    let (user_data, skip_success) = (request.user_data, request.skip_success);
    let completed = Completed {
        chain: request.chain,
        was_link_timeout: matches!(request.operation, Ok(Operation::LinkTimeout { .. })),
        linked: request.linked,
    };
    let operation = &request.operation;
    let forward = request.forward;
    // Only TIMEOUT and LINK_TIMEOUT arm timers.
    let timed = matches!(
        operation,
        Ok(Operation::Timeout { .. } | Operation::LinkTimeout { .. })
    );
    let (receive, irq_wait, log_read, wait) = (
        matches!(operation, Ok(Operation::Receive { .. })),
        matches!(operation, Ok(Operation::IrqWait { .. })),
        matches!(operation, Ok(Operation::LogRead { .. })),
        matches!(operation, Ok(Operation::Wait { .. })),
    );
    process.ring.requests.remove(index);
    let completion = Completion {
        user_data,
        result,
        flags: 0,
    };
    let skipped = process
        .ring
        .post_final_unless_skipped(completion, skip_success);
    if timed {
        timers::disarm(system, id, request_id);
    }
    if forward != 0 {
        forward::client_gave_up(system, id, request_id, forward);
    } else if receive {
        for endpoint in system.endpoints.values_mut() {
            if endpoint.server == id
                && endpoint
                    .receive
                    .is_some_and(|receive| receive.request == request_id)
            {
                endpoint.receive = None;
            }
        }
    } else if irq_wait {
        drivers::wait_ended(system, id, request_id);
    } else if log_read {
        drivers::log_read_ended(system, id, request_id);
    } else if wait {
        processes::wait_ended(system, id, request_id);
    }
    // A slot came free with nothing posted: a request waiting at one of
    // this process's endpoints for CQ room can go now (nothing else would
    // wake the process to retry; the tick or another process may be
    // completing this request).
    if skipped {
        forward::deliver_to(system, id);
    }
    Some(completed)
}

/// After starting an operation that stays pending (a forwarded request,
/// `RECEIVE`, `IRQ_WAIT`, `LOG_READ`): if it began (with its forward's id,
/// or 0), it is running and a `LINK_TIMEOUT` after it (if it is `linked`)
/// is armed (`None`); if not, the error to complete it with.
fn stays_pending(
    system: &mut System,
    id: ProcessId,
    request_id: u64,
    begun: Result<u64, Errno>,
    linked: bool,
) -> Option<i32> {
    match begun {
        Ok(forward) => {
            mark_running(system, id, request_id, forward);
            if linked {
                arm_link_timeout(system, id, request_id);
            }
            None
        }
        Err(error) => Some(error.result()),
    }
}

/// Marks request `request_id` as started and not yet complete; a
/// forwarded one keeps its forward's id (`forward`, else 0), so that
/// giving up on it finds the forward at once.
fn mark_running(system: &mut System, id: ProcessId, request_id: u64, forward: u64) {
    let Some(process) = system.process(id) else {
        return;
    };
    let requests = &mut process.ring.requests;
    if let Some(index) = requests.index_of(request_id) {
        requests.set_running(index);
        if let Some(request) = requests.get_mut(index) {
            request.forward = forward;
        }
    }
}

/// Posts request `request_id`'s final completion and moves its chain on:
/// on failure the rest of the chain is cancelled.
pub fn finish(system: &mut System, id: ProcessId, request_id: u64, result: i32) {
    let Some(request) = complete(system, id, request_id, result) else {
        return;
    };
    // The member after this one, in the same chain (none unless it had
    // LINK: then no lookup, the common case).
    let next = request
        .linked
        .then(|| system.process(id))
        .flatten()
        .and_then(|process| {
            let requests = &process.ring.requests;
            let next = &requests[requests.first_of_chain(request.chain)?];
            Some((
                next.id,
                matches!(next.operation, Ok(Operation::LinkTimeout { .. })),
            ))
        });
    if let Some((next_id, true)) = next
        && !request.was_link_timeout
    {
        // The request finished before its link timeout: the timeout is
        // cancelled, and does not count as a failure of the chain.
        complete(system, id, next_id, Errno::Cancelled.result());
    }
    if result < 0 {
        cancel_chain(system, id, request.chain, request_id);
        // Members not taken yet (the chain is still open: its last member
        // so far had LINK) are cancelled as they come (`drain`).
        if let Some(process) = system.process(id)
            && process.ring.chain_open
            && process.ring.next_chain == request.chain
        {
            process.ring.chain_open = false;
            process.ring.refusing_chain = true;
        }
    }
    wake_waiter(system, id);
}

/// Completes every member of `chain` that came after request `after`
/// with `-ECANCELED`. (Request ids grow in submission order; members
/// before `after` have either completed or are still running, like the
/// request a link timeout guards, and are left alone.)
fn cancel_chain(system: &mut System, id: ProcessId, chain: u64, after: u64) {
    while let Some(member) = system
        .process(id)
        .and_then(|process| {
            let requests = &process.ring.requests;
            let first = requests.first_of_chain(chain)?;
            requests
                .iter()
                .skip(first)
                .take_while(|request| request.chain == chain)
                .find(|request| request.id > after)
        })
        .map(|request| request.id)
    {
        complete(system, id, member, Errno::Cancelled.result());
    }
}

/// `CANCEL`: the oldest pending request (other than the `CANCEL` itself)
/// whose `user_data` is `target` completes with `-ECANCELED`.
fn cancel(system: &mut System, id: ProcessId, canceller: u64, target: u64) -> i32 {
    let Some(process) = system.process(id) else {
        return Errno::NotFound.result();
    };
    let found = process
        .ring
        .requests
        .iter()
        .find(|request| request.user_data == target && request.id != canceller)
        .map(|request| request.id);
    match found {
        Some(victim) => {
            finish(system, id, victim, Errno::Cancelled.result());
            0
        }
        None => Errno::NotFound.result(),
    }
}

/// A multishot event for request `request_id`: posts a `MORE` completion
/// if the CQ has an unreserved slot (and returns true), otherwise marks the
/// event pending in the request, to be posted later.
pub fn post_event(system: &mut System, id: ProcessId, request_id: u64, result: i32) -> bool {
    system
        .process(id)
        .is_some_and(|process| post_event_to(process, request_id, result))
}

/// [`post_event`] for a process already in hand.
pub fn post_event_to(process: &mut process::Process, request_id: u64, result: i32) -> bool {
    let ring = &mut process.ring;
    let Some(index) = ring.requests.index_of(request_id) else {
        return false;
    };
    let Some(request) = ring.requests.get(index) else {
        return false;
    };
    let completion = Completion {
        user_data: request.user_data,
        result,
        flags: completion_flags::MORE,
    };
    let posted = ring.post_extra(completion);
    if let Some(request) = ring.requests.get_mut(index) {
        request.pending_event = !posted;
        if posted {
            request.fired += 1;
        }
    }
    wake_if_ready(process);
    posted
}

/// Wakes the process's thread if it waits for completions that are there.
pub fn wake_waiter(system: &mut System, id: ProcessId) {
    if let Some(process) = system.process(id) {
        wake_if_ready(process);
    }
}

/// [`wake_waiter`] for a process already in hand.
fn wake_if_ready(process: &mut process::Process) {
    if let Some((thread, wanted)) = process.ring.waiter
        && process.ring.completions_ready() >= wanted
    {
        process.ring.waiter = None;
        scheduler::wake(thread);
    }
}

/// The absolute deadline (nanoseconds since boot) of `deadline`, measured
/// from now.
pub fn absolute(deadline: Deadline) -> u64 {
    match deadline {
        Deadline::After(nanoseconds) => time::now_nanoseconds().saturating_add(nanoseconds),
        Deadline::At(nanoseconds) => nanoseconds,
    }
}
