//! Process operations: building a process (the proc server's privileged
//! operations), waiting for one, killing one, listing them, and making
//! endpoints. See `docs/spawn.md`.
//!
//! ```text
//!  PROCESS_CREATE spawner, "ls"        -> process handle P (unstarted)
//!  PROCESS_MAP P, bytes, at, size, RX  -> program pages, filled
//!  PROCESS_GIVE P, handle [, request]  -> the handle's number in the child
//!  PROCESS_START P, startup, entry     -> the child's id; it runs
//!  WAIT P                              -> exit code, when it ends
//! ```
//!
//! The kernel checks everything a builder asks for as it would user input
//! (it is): destinations inside the program area, never over
//! pages already mapped, at most `elf::MAX_PROGRAM_BYTES` in all, sources
//! the builder can read. A process thrown away before it starts (its last
//! handle closed, or a failed `PROCESS_START`) gives every frame back.
//!
//! # Invariants
//! - Only a spawner handle makes a process; only a process handle builds,
//!   waits for or kills one.
//! - An unstarted process never runs and holds no process handles, so
//!   throwing one away never recurses.

use crate::mm;
use crate::process::address_space::AddressSpace;
use crate::process::handles::Object;
use crate::process::{self, Ending, ProcessId, System, Waiting, elf};
use core::fmt::Write;
use libring::abi::{
    Errno, Opcode, PAGE_SIZE, PROGRAM_BASE, ProcessRecord, STARTUP_ADDRESS, process_map_flags,
    process_state, spawn_handles,
};
use zerocopy::IntoBytes;

/// The longest process name.
const NAME_MAX: usize = 31;
/// The longest endpoint name.
const ENDPOINT_NAME_MAX: usize = 16;
/// The most live endpoints one process may serve.
const ENDPOINTS_PER_PROCESS: usize = 16;

/// Reads a name of 1 to `N` bytes of UTF-8 from the caller's memory.
fn read_name<const N: usize>(
    system: &mut System,
    caller: ProcessId,
    address: u64,
    length: u32,
) -> Result<heapless::String<N>, Errno> {
    let length = length as usize;
    if length == 0 || length > N {
        return Err(Errno::InvalidArgument);
    }
    let mut bytes = [0u8; N];
    system
        .process(caller)
        .ok_or(Errno::BadHandle)?
        .address_space
        .copy_from_user(address, &mut bytes[..length])?;
    let text = core::str::from_utf8(&bytes[..length]).map_err(|_| Errno::InvalidArgument)?;
    let mut name = heapless::String::new();
    name.push_str(text).map_err(|_| Errno::InvalidArgument)?;
    Ok(name)
}

/// The object behind the caller's `handle`.
fn handle_object(system: &mut System, caller: ProcessId, handle: u32) -> Result<Object, Errno> {
    system
        .process(caller)
        .ok_or(Errno::BadHandle)?
        .handles
        .get(handle)
}

/// The unstarted process the caller's `handle` names.
fn unstarted_of(system: &mut System, caller: ProcessId, handle: u32) -> Result<ProcessId, Errno> {
    match handle_object(system, caller, handle)? {
        Object::Process { id } if system.unstarted.contains_key(id) => Ok(id),
        // Started, ended, or thrown away: too late to build.
        Object::Process { .. } => Err(Errno::InvalidArgument),
        _ => Err(Errno::NotPermitted),
    }
}

/// `PROCESS_CREATE`: a new unstarted process; returns a handle to it.
pub fn create(
    system: &mut System,
    caller: ProcessId,
    handle: u32,
    address: u64,
    length: u32,
    memory_bytes: u64,
) -> Result<i32, Errno> {
    if handle_object(system, caller, handle)? != Object::Spawner {
        return Err(Errno::NotPermitted);
    }
    let name: heapless::String<NAME_MAX> = read_name(system, caller, address, length)?;
    let budget = match memory_bytes {
        0 => process::address_space::DEFAULT_FRAME_BUDGET,
        bytes => usize::try_from(bytes.div_ceil(PAGE_SIZE)).map_err(|_| Errno::InvalidArgument)?,
    };
    let mut unstarted = process::unstarted(&name, budget)?;
    let id = system.allocate_id();
    let caller_process = system.process(caller).ok_or(Errno::BadHandle)?;
    let handle = match caller_process.handles.insert(Object::Process { id }) {
        Ok(handle) => handle,
        Err(error) => {
            let _ = unstarted.address_space.destroy();
            return Err(error);
        }
    };
    unstarted.process_handles = 1;
    if system.unstarted.try_reserve_one().is_err() {
        // (The handle names nothing yet: closing it is all that is left.)
        let _ = system
            .process(caller)
            .map(|process| process.handles.remove(handle));
        let _ = unstarted.address_space.destroy();
        return Err(Errno::OutOfMemory);
    }
    system
        .unstarted
        .insert(id, alloc::boxed::Box::new(unstarted));
    Ok(handle as i32)
}

/// What `PROCESS_MAP` asks for.
pub struct MapRequest {
    pub handle: u32,
    pub address: u64,
    pub length: u32,
    pub destination: u64,
    pub memory_bytes: u64,
    pub flags: u32,
}

/// `PROCESS_MAP`: new pages in an unstarted process, filled from the
/// caller's buffer.
pub fn map(system: &mut System, caller: ProcessId, request: &MapRequest) -> Result<i32, Errno> {
    let child = unstarted_of(system, caller, request.handle)?;
    let writable = request.flags & process_map_flags::WRITE != 0;
    let executable = request.flags & process_map_flags::EXECUTE != 0;
    // The pages the memory touches: the destination need not be page
    // aligned (an ELF segment seldom is); the bytes before it are zero.
    let first = request.destination / PAGE_SIZE * PAGE_SIZE;
    let end = request
        .destination
        .checked_add(request.memory_bytes)
        .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
        .ok_or(Errno::InvalidArgument)?;
    let fits = request.memory_bytes > 0
        && request.length as u64 <= request.memory_bytes
        && first >= PROGRAM_BASE
        && end <= STARTUP_ADDRESS
        && !(writable && executable);
    if !fits {
        return Err(Errno::InvalidArgument);
    }
    let size = end - first;
    let Some(unstarted) = system.unstarted.get_mut(child) else {
        return Err(Errno::InvalidArgument);
    };
    let total = unstarted.mapped_bytes + size;
    if total > elf::MAX_PROGRAM_BYTES || size / PAGE_SIZE >= mm::free_frames() as u64 {
        return Err(Errno::OutOfMemory);
    }
    let source = &system
        .processes
        .get(caller)
        .ok_or(Errno::BadHandle)?
        .address_space;
    source.check_readable(request.address, request.length as usize)?;
    unstarted
        .address_space
        .map_new(first, size, process::access(writable, executable))?;
    if let Err(error) = AddressSpace::fill_from(
        source,
        request.address,
        &unstarted.address_space,
        request.destination,
        request.length as usize,
    ) {
        let _ = unstarted.address_space.unmap(first, size);
        return Err(error);
    }
    unstarted.mapped_bytes = total;
    Ok(0)
}

/// `PROCESS_GIVE`: copies a handle (the caller's, or a `SPAWN` client's)
/// into an unstarted process; returns its number there.
pub fn give(
    system: &mut System,
    caller: ProcessId,
    handle: u32,
    given: u32,
    request: u64,
) -> Result<i32, Errno> {
    let child = unstarted_of(system, caller, handle)?;
    let object = if request == 0 {
        handle_object(system, caller, given)?
    } else {
        let (client, listed) = crate::ring::forward::spawn_client(system, caller, request)?;
        let is_listed = (0..spawn_handles::COUNT)
            .any(|slot| given != 0 && spawn_handles::get(&listed, slot) == given);
        if !is_listed {
            return Err(Errno::NotPermitted);
        }
        let object = handle_object(system, client, given)?;
        // A client lends the server no endpoint of its own to serve.
        if matches!(object, Object::Service { .. }) {
            return Err(Errno::NotPermitted);
        }
        object
    };
    // Process handles stay with whoever made the process: no cycles of
    // unstarted processes holding each other.
    if matches!(object, Object::Process { .. }) {
        return Err(Errno::NotPermitted);
    }
    let unstarted = system
        .unstarted
        .get_mut(child)
        .ok_or(Errno::InvalidArgument)?;
    let number = unstarted.handles.insert(object)?;
    process::handle_copied(system, object);
    // A service handle given on makes the child the endpoint's server
    // (init makes the endpoints of the manifest and hands them out): the
    // endpoint then dies with the child, even one that never runs.
    if let Object::Service { endpoint } = object
        && let Some(target) = system.endpoints.get_mut(endpoint)
        && target.receive.is_none()
        && target.busy_slots == 0
    {
        target.server = child;
    }
    Ok(number as i32)
}

/// `PROCESS_START`: the unstarted process gets its stack, ring and startup
/// page (from the caller's buffer) and runs from `entry`; returns its id.
pub fn start(
    system: &mut System,
    caller: ProcessId,
    handle: u32,
    address: u64,
    length: u32,
    entry: u64,
) -> Result<i32, Errno> {
    let child = unstarted_of(system, caller, handle)?;
    if length as u64 > PAGE_SIZE || !(PROGRAM_BASE..STARTUP_ADDRESS).contains(&entry) {
        return Err(Errno::InvalidArgument);
    }
    let mut startup = alloc::vec::Vec::new();
    startup
        .try_reserve_exact(length as usize)
        .map_err(|_| Errno::OutOfMemory)?;
    startup.resize(length as usize, 0);
    system
        .process(caller)
        .ok_or(Errno::BadHandle)?
        .address_space
        .copy_from_user(address, &mut startup)?;
    let unstarted = system
        .unstarted
        .remove(child)
        .ok_or(Errno::InvalidArgument)?;
    let handles = unstarted.process_handles;
    if let Err(error) = process::launch(system, child, *unstarted, entry, &startup) {
        // Thrown away; the holders of its handles may still WAIT for it.
        let mut reason = heapless::String::new();
        let _ = write!(reason, "could not be started: {}", error.description());
        system.ended.push(process::Ended {
            id: child,
            ending: Ending::Killed(reason),
            process_handles: handles,
            reported: true,
        });
        return Err(error);
    }
    Ok(child as i32)
}

/// `WAIT`: `Ok(Some(result))` when the process has ended already,
/// `Ok(None)` when the request waits (it is answered when the process is
/// gone, `process::report_ending`).
pub fn wait(
    system: &mut System,
    caller: ProcessId,
    request: u64,
    handle: u32,
    address: u64,
    length: u32,
) -> Result<Option<i32>, Errno> {
    let Object::Process { id: child } = handle_object(system, caller, handle)? else {
        return Err(Errno::NotPermitted);
    };
    if length > 0 {
        system
            .process(caller)
            .ok_or(Errno::BadHandle)?
            .address_space
            .check_writable(address, length as usize)?;
    }
    if system.unstarted.contains_key(child) {
        return Err(Errno::InvalidArgument);
    }
    let waiting = Waiting {
        waiter: caller,
        request,
        child,
        address,
        length,
    };
    let reported = system
        .ended
        .iter()
        .find(|ended| ended.id == child && ended.reported)
        .map(|ended| ended.ending.clone());
    match reported {
        Some(ending) => Ok(Some(process::tell_waiter(system, &waiting, &ending))),
        None => {
            system
                .waits
                .try_reserve(1)
                .map_err(|_| Errno::OutOfMemory)?;
            system.waits.push(waiting);
            Ok(None)
        }
    }
}

/// A pending `WAIT` ended some other way (cancelled): forget it.
pub fn wait_ended(system: &mut System, waiter: ProcessId, request: u64) {
    system
        .waits
        .retain(|waiting| !(waiting.waiter == waiter && waiting.request == request));
}

/// `KILL`: ends the process behind `handle`, and, as it is torn down,
/// every process it holds a handle to (`Process::kill_children`).
pub fn kill(system: &mut System, caller: ProcessId, handle: u32) -> Result<i32, Errno> {
    let Object::Process { id } = handle_object(system, caller, handle)? else {
        return Err(Errno::NotPermitted);
    };
    if !system.processes.contains_key(id) {
        return Err(Errno::NoSuchProcess);
    }
    let mut reason = heapless::String::new();
    let _ = write!(reason, "killed by process {caller}");
    if let Some(process) = system.process(id) {
        process.kill_children = true;
    }
    process::end(system, id, Ending::Killed(reason));
    Ok(0)
}

/// The running process behind process handle `handle` of `caller`.
pub fn process_behind(
    system: &mut System,
    caller: ProcessId,
    handle: u32,
) -> Result<ProcessId, Errno> {
    let Object::Process { id } = handle_object(system, caller, handle)? else {
        return Err(Errno::NotPermitted);
    };
    if !system.processes.contains_key(id) {
        return Err(Errno::NoSuchProcess);
    }
    Ok(id)
}

/// `PROCESS_INFO`: the id of the process behind `handle` (0 if unstarted).
pub fn info(system: &mut System, caller: ProcessId, handle: u32) -> Result<i32, Errno> {
    let Object::Process { id } = handle_object(system, caller, handle)? else {
        return Err(Errno::NotPermitted);
    };
    Ok(if system.unstarted.contains_key(id) {
        0
    } else {
        id as i32
    })
}

/// `PROCESS_LIST`: one record per live process into the caller's buffer.
pub fn list(
    system: &mut System,
    caller: ProcessId,
    address: u64,
    length: u32,
) -> Result<i32, Errno> {
    let room = length as usize / size_of::<ProcessRecord>();
    let mut records = alloc::vec::Vec::new();
    records
        .try_reserve_exact(room.min(system.processes.len()))
        .map_err(|_| Errno::OutOfMemory)?;
    for process in system.processes.values().take(room) {
        let (state, waits_for) = if process.ending.is_some() {
            (process_state::ENDING, 0)
        } else if process.ring.waiter.is_some() {
            // Of the operations still going, the one that says most.
            let telling = process
                .ring
                .requests
                .iter()
                .filter(|request| request.running)
                .filter_map(|request| request.operation.as_ref().ok())
                .map(opcode_of)
                .max_by_key(|&opcode| telling_rank(opcode));
            (process_state::WAITING, telling.unwrap_or(0))
        } else if process.id == caller {
            (process_state::RUNNING, 0)
        } else {
            (process_state::READY, 0)
        };
        let mut record = ProcessRecord {
            id: process.id,
            state,
            waits_for,
            name_length: process.name.len().min(24) as u8,
            ..ProcessRecord::default()
        };
        let name = &process.name.as_bytes()[..record.name_length as usize];
        record.name[..name.len()].copy_from_slice(name);
        records.push(record);
    }
    system
        .process(caller)
        .ok_or(Errno::BadHandle)?
        .address_space
        .copy_to_user(address, records.as_slice().as_bytes())?;
    Ok(records.len() as i32)
}

/// How much an operation says about what a waiting process waits for,
/// when it has several going: a child (`WAIT`), then a sleep (`TIMEOUT`),
/// then a request at a server (a forwarded opcode), then serving
/// (`RECEIVE`), then what a server keeps going beside that (interrupts,
/// the kernel log), then anything else (a shell's Ctrl-C wait is a
/// forwarded `CONTROL`, which says little).
fn telling_rank(opcode: u8) -> u8 {
    match Opcode::try_from(opcode) {
        Ok(Opcode::Wait) => 6,
        Ok(Opcode::Timeout) => 5,
        Ok(Opcode::Control) => 1,
        Ok(Opcode::Receive) => 3,
        Ok(Opcode::IrqWait | Opcode::LogRead) => 2,
        Ok(_) if opcode >= Opcode::Read as u8 => 4,
        _ => 0,
    }
}

/// The opcode an operation came from (for `PROCESS_LIST`'s `waits_for`).
fn opcode_of(operation: &crate::ring::decode::Operation) -> u8 {
    use crate::ring::decode::Operation;
    let opcode = match operation {
        Operation::Forward { opcode, .. } => return *opcode,
        Operation::Timeout { .. } => Opcode::Timeout,
        Operation::LinkTimeout { .. } => Opcode::LinkTimeout,
        Operation::Receive { .. } => Opcode::Receive,
        Operation::Wait { .. } => Opcode::Wait,
        Operation::IrqWait { .. } => Opcode::IrqWait,
        Operation::LogRead { .. } => Opcode::LogRead,
        _ => return 0,
    };
    opcode as u8
}

/// `ENDPOINT_CREATE`: a new endpoint served by the caller; returns its
/// service handle.
pub fn endpoint_create(
    system: &mut System,
    caller: ProcessId,
    address: u64,
    length: u32,
) -> Result<i32, Errno> {
    let name: heapless::String<ENDPOINT_NAME_MAX> = read_name(system, caller, address, length)?;
    let served = system
        .endpoints
        .values()
        .filter(|endpoint| endpoint.server == caller && !endpoint.dead)
        .count();
    if served >= ENDPOINTS_PER_PROCESS {
        return Err(Errno::OutOfMemory);
    }
    let endpoint =
        crate::ring::forward::create_endpoint(system, caller, &name).ok_or(Errno::OutOfMemory)?;
    let process = system.process(caller).ok_or(Errno::BadHandle)?;
    match process.handles.insert(Object::Service { endpoint }) {
        Ok(handle) => Ok(handle as i32),
        Err(error) => {
            // Nobody can serve it, and nobody has heard of it: gone.
            system.endpoints.remove(endpoint);
            Err(error)
        }
    }
}
