//! Injected faults: a server made to fail a request, for the supervision
//! tests (`docs/supervision.md`).
//!
//! Off unless the kernel command line says `faults`. Then `INJECT` arms
//! one fault in a server (it needs a process handle to it: init holds
//! them, and `faultinject` asks init). The fault waits in the server's
//! process for its next `REPLY` and is used up by it.
//!
//! What a fault does to the `REPLY` it meets:
//!
//! ```text
//!   server: REPLY(request, result) ──► faults::reply ──► forward::reply ──► client's CQE
//!                                         │ armed fault?
//!                                         ├─ crash: the server is killed instead; teardown
//!                                         │         answers the client -ESRVDEAD
//!                                         ├─ wrong reply: forward::reply(-EIO); a handle
//!                                         │         it passed is closed instead
//!                                         └─ stall: kept in `System::stalled`; the tick
//!                                                   replies when it is due
//! ```
//!
//! The server's own `REPLY` completes with 0 in every case (a crash ends
//! it before it looks); a stalled request stays the server's until it is
//! due, like one it has not answered yet.
//!
//! # Invariants
//! - Never faulted: a reply from or to process 1 (init, the supervisor:
//!   the one part the tests trust), and a reply that is itself invalid
//!   (no such request of the server's, or a handle to pass it does not
//!   hold: `forward::reply` refuses it as usual). The fault waits for the
//!   next.
//! - A stalled reply's handle stays in the server's table until it is
//!   due (the server, having replied, no longer uses it); if that number
//!   no longer names the same object then, the client gets `-EBADF`
//!   instead and the server keeps what the number names.
//! - At most [`STALLED_MAX`] replies are held at once; past that a stall
//!   fault lets the reply through on time.
//! - A held reply whose server has ended, or whose client gave up, is
//!   dropped when due: `forward::reply` no longer finds the request as
//!   the server's, or finds no client to answer.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use libring::abi::Errno;

use super::decode::Fault;
use super::forward;
use crate::process::handles::Object;
use crate::process::{self, Ending, ProcessId, System};

/// How many replies may be held back by stalls at once.
pub const STALLED_MAX: usize = 16;

/// `faults` was on the command line.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// A reply held back by a stall.
#[derive(Clone, Copy, Debug)]
pub struct Stalled {
    server: ProcessId,
    request: u64,
    result: i32,
    /// The handle it passes (0: none), and the object that was then.
    pass: u32,
    passed: Option<Object>,
    /// When it goes out (system clock, nanoseconds).
    due: u64,
}

/// Reads `faults` from the command line.
pub fn configure(bootargs: &str) {
    let on = bootargs.split_whitespace().any(|word| word == "faults");
    ENABLED.store(on, Ordering::Relaxed);
}

/// `INJECT`: arms `fault` in the process behind `handle` (it replaces one
/// armed before; `None` takes that back).
pub fn inject(
    system: &mut System,
    caller: ProcessId,
    handle: u32,
    fault: Option<Fault>,
) -> Result<i32, Errno> {
    if !ENABLED.load(Ordering::Relaxed) {
        return Err(Errno::NotPermitted);
    }
    let target = super::processes::process_behind(system, caller, handle)?;
    let process = system
        .process(target)
        .filter(|process| process.ending.is_none())
        .ok_or(Errno::NoSuchProcess)?;
    // 1: a fault armed before was still waiting (it is replaced).
    Ok(core::mem::replace(&mut process.fault, fault).is_some() as i32)
}

/// `REPLY` from `server`: [`forward::reply`], unless a fault takes this
/// reply (see the module doc).
pub fn reply(
    system: &mut System,
    server: ProcessId,
    request: u64,
    result: i32,
    pass: u32,
) -> Result<(), Errno> {
    let Some(fault) = fault_for(system, server, request, pass) else {
        return forward::reply(system, server, request, result, pass);
    };
    let client = forward::client_of(system, server, request).unwrap_or(0);
    let result = apply(system, fault, server, client, (request, result, pass));
    // The line to the log's reader now, so that it usually comes out
    // before what the client prints next (`drivers::deliver_log`).
    super::drivers::deliver_log(system);
    result
}

/// Does what `fault` says to the reply `result` of `server` to `client`.
fn apply(
    system: &mut System,
    fault: Fault,
    server: ProcessId,
    client: ProcessId,
    (request, result, pass): (u64, i32, u32),
) -> Result<(), Errno> {
    match fault {
        Fault::Crash => {
            crate::kprintln!(
                "faults: process {server} crashes in the middle of a request of process {client}"
            );
            let mut reason = heapless::String::new();
            let _ = write!(reason, "fault injected: crashed in the middle of a request");
            process::end(system, server, Ending::Killed(reason));
            Ok(())
        }
        Fault::WrongReply => {
            crate::kprintln!(
                "faults: process {server} answers process {client} -EIO instead of {result}"
            );
            // The handle it meant to pass goes nowhere: closed.
            if pass != 0
                && let Some(object) = system
                    .process(server)
                    .and_then(|process| process.handles.remove(pass).ok())
            {
                process::handle_dropped(system, object);
            }
            forward::reply(system, server, request, Errno::Io.result(), 0)
        }
        Fault::Stall(nanoseconds) => {
            let due = crate::time::now_nanoseconds().saturating_add(nanoseconds);
            let passed = system
                .process(server)
                .and_then(|process| process.handles.get(pass).ok());
            let held = Stalled {
                server,
                request,
                result,
                pass,
                passed,
                due,
            };
            if system.stalled.push(held).is_err() {
                crate::kprintln!(
                    "faults: process {server} not stalled: {STALLED_MAX} replies are held already"
                );
                return forward::reply(system, server, request, result, pass);
            }
            crate::kprintln!(
                "faults: process {server} stalls {} ms before answering process {client}",
                nanoseconds / 1_000_000
            );
            Ok(())
        }
    }
}

/// The fault that takes this reply, if any: the server's armed one, used
/// up when it is returned.
fn fault_for(system: &mut System, server: ProcessId, request: u64, pass: u32) -> Option<Fault> {
    if !ENABLED.load(Ordering::Relaxed) || server == 1 {
        return None;
    }
    match forward::client_of(system, server, request) {
        Some(client) if client != 1 => {}
        _ => return None,
    }
    let holds = |process: &mut process::Process| pass == 0 || process.handles.get(pass).is_ok();
    if !system.process(server).is_some_and(holds) {
        return None;
    }
    system
        .process(server)
        .and_then(|process| process.fault.take())
}

/// On every tick: the held replies that are due go out.
pub fn release_stalled(system: &mut System, now: u64) {
    while let Some(index) = system.stalled.iter().position(|held| held.due <= now) {
        let held = system.stalled.swap_remove(index);
        let (server, request) = (held.server, held.request);
        // A handle number that names something else now (the server
        // closed it, and it was reused): the client hears EBADF.
        let still = held.pass == 0
            || system
                .process(server)
                .and_then(|process| process.handles.get(held.pass).ok())
                == held.passed;
        let (result, pass) = if still {
            (held.result, held.pass)
        } else {
            (Errno::BadHandle.result(), 0)
        };
        // The server ended, or the client gave up: nothing to answer.
        let _ = forward::reply(system, server, request, result, pass);
    }
}
