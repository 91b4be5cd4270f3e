//! Creating processes, running them, and ending them.

use super::address_space::{AddressSpace, UserAccess};
use super::elf;
use super::handles::{EndpointId, HandleTable, Object};
use crate::arch::user::enter_user;
use crate::id_map::IdMap;
use crate::ring::drivers::{PendingLogRead, Route};
use crate::ring::forward::{Endpoint, Forward};
use crate::ring::{KernelRing, Timer};
use crate::scheduler::{self, ThreadId};
use crate::slab::Slab;
use crate::sync::IrqMutex;
use crate::{initrd, kprintln, mm, power};
use alloc::boxed::Box;
use alloc::vec::Vec;
use boot::boot_info::PhysicalRange;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libring::abi::{
    ABI_VERSION, Errno, PAGE_SIZE, RING_ADDRESS, RING_SIZE, STACK_SIZE, STACK_TOP, STARTUP_ADDRESS,
    STARTUP_ARGUMENTS_OFFSET, STARTUP_SERVICES_MAX, STARTUP_SERVICES_OFFSET, StartupBlock,
    StartupService,
};
use zerocopy::IntoBytes;

pub type ProcessId = u32;

/// Why a process ended.
#[derive(Clone, Debug)]
pub enum Ending {
    Exited(i32),
    Killed(heapless::String<160>),
}

pub struct Process {
    pub id: ProcessId,
    pub name: heapless::String<32>,
    pub address_space: AddressSpace,
    pub ring: KernelRing,
    pub thread: ThreadId,
    pub entry: u64,
    /// Set once the process must stop; its thread then tears it down.
    pub ending: Option<Ending>,
    /// Set by `KILL`: as it is torn down, the processes it holds handles
    /// to (those it started, and their own) are killed too, so a killed
    /// job never leaves its programs running. An exit or a fault leaves
    /// them alone.
    pub kill_children: bool,
    /// A fault `INJECT` armed, waiting for its next reply
    /// (`ring/faults.rs`).
    pub fault: Option<crate::ring::decode::Fault>,
    /// `ring_enter` calls so far.
    pub system_calls: u64,
    /// Its capabilities.
    pub handles: HandleTable,
    /// How many process handles name it (see [`Ended`]).
    pub process_handles: u32,
    /// The device register blocks it has mapped (`MAP_DEVICE`): the
    /// devices it may have set to work, reset when it ends.
    pub mapped_devices: Vec<PhysicalRange>,
    /// Free frames and heap pages just before it was created, for the
    /// leak report when it ends.
    frames_before: usize,
    heap_pages_before: usize,
}

/// A process being built (`PROCESS_CREATE` to `PROCESS_START`): an
/// address space and handles, no thread, no ring yet.
pub struct Unstarted {
    pub name: heapless::String<32>,
    pub address_space: AddressSpace,
    pub handles: HandleTable,
    /// How many process handles name it; at 0 it is thrown away.
    pub process_handles: u32,
    /// Bytes `PROCESS_MAP` has mapped so far (at most
    /// `elf::MAX_PROGRAM_BYTES`).
    pub mapped_bytes: u64,
    frames_before: usize,
    heap_pages_before: usize,
}

/// A process that has ended while process handles still name it: what
/// `WAIT` reports. Dropped when the last such handle is closed.
pub struct Ended {
    pub id: ProcessId,
    pub ending: Ending,
    pub process_handles: u32,
    /// Set once it is torn down (its frames are back): only then is a
    /// `WAIT` answered.
    pub reported: bool,
}

/// A pending `WAIT`.
#[derive(Clone, Copy)]
pub struct Waiting {
    pub waiter: ProcessId,
    pub request: u64,
    pub child: ProcessId,
    /// Where the reason goes (length 0: nowhere).
    pub address: u64,
    pub length: u32,
}

/// Every process and every ring timer. One lock for all of it.
pub struct System {
    pub processes: IdMap<ProcessId, Box<Process>>,
    pub timers: Vec<Timer>,
    pub endpoints: IdMap<EndpointId, Endpoint>,
    pub next_endpoint: EndpointId,
    pub forwards: Slab<Forward>,
    pub routes: Vec<Route>,
    /// The process reading the kernel log, and its pending `LOG_READ`.
    pub log_reader: Option<(ProcessId, Option<PendingLogRead>)>,
    /// Processes being built.
    pub unstarted: IdMap<ProcessId, Box<Unstarted>>,
    /// Ended processes someone may still `WAIT` for.
    pub ended: Vec<Ended>,
    pub waits: Vec<Waiting>,
    /// Rings marked by `engine::advance_later`, not yet advanced.
    pub advances_due: u32,
    /// Replies held back by injected stalls (`ring/faults.rs`).
    pub stalled: heapless::Vec<crate::ring::faults::Stalled, { crate::ring::faults::STALLED_MAX }>,
    next_id: ProcessId,
    /// Set while the boot programs are being started: the machine stops
    /// when the last process ends, but not while more are on their way.
    pub starting: bool,
}

pub static SYSTEM: IrqMutex<System> = IrqMutex::new(System {
    processes: IdMap::new(),
    timers: Vec::new(),
    endpoints: IdMap::new(),
    next_endpoint: 0,
    forwards: Slab::new(),
    routes: Vec::new(),
    log_reader: None,
    unstarted: IdMap::new(),
    ended: Vec::new(),
    waits: Vec::new(),
    advances_due: 0,
    stalled: heapless::Vec::new(),
    next_id: 1,
    starting: false,
});

impl System {
    pub fn process(&mut self, id: ProcessId) -> Option<&mut Process> {
        self.processes.get_mut(id).map(|process| &mut **process)
    }

    /// A new process id (ids are never reused).
    pub fn allocate_id(&mut self) -> ProcessId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Gives back the memory of tables a burst grew and that are (almost)
    /// empty again: the forwarded requests (once none is left), timers,
    /// `WAIT`s, ended processes' statuses, endpoints. Called when a
    /// process ends, so what it made the kernel hold comes back with it.
    pub fn shrink_emptied(&mut self) {
        /// Places a table keeps whatever it holds.
        const KEEP: usize = 64;
        fn shrink<T>(table: &mut Vec<T>) {
            if table.capacity() > KEEP && table.len() * 4 < table.capacity() {
                table.shrink_to(KEEP.max(table.len() * 2));
            }
        }
        self.forwards.shrink_if_empty(KEEP);
        shrink(&mut self.timers);
        shrink(&mut self.waits);
        shrink(&mut self.ended);
        self.endpoints.shrink(KEEP);
    }

    /// The process whose thread is `thread`.
    pub fn process_of_thread(&mut self, thread: ThreadId) -> Option<ProcessId> {
        self.processes
            .values()
            .find(|process| process.thread == thread)
            .map(|process| process.id)
    }
}

/// Why a process could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    NoSuchFile,
    BadProgram(elf::ElfError),
    ArgumentsTooLong,
    OutOfMemory,
    /// `Use` names an endpoint nobody serves (yet).
    NoSuchService,
    /// `Device`/`Interrupt` names a device the machine does not have.
    NoSuchDevice,
    /// More than eight startup handles.
    TooManyHandles,
}

impl CreateError {
    pub fn describe(self) -> &'static str {
        match self {
            CreateError::NoSuchFile => "no such program in the initrd",
            CreateError::BadProgram(error) => error.describe(),
            CreateError::ArgumentsTooLong => "arguments too long",
            CreateError::OutOfMemory => "out of memory",
            CreateError::NoSuchService => "no process serves the endpoint it should use",
            CreateError::NoSuchDevice => "no such device",
            CreateError::TooManyHandles => "more than eight startup handles",
        }
    }
}

impl From<Errno> for CreateError {
    fn from(_: Errno) -> CreateError {
        CreateError::OutOfMemory
    }
}

/// Turns TTBR0 walks on (for processes). Called once at boot.
pub fn init() {
    crate::arch::cpu::enable_user_tables(mm::setup::empty_table_physical());
    crate::arch::cpu::allow_user_counter();
}

/// Creates a process running `bin/<name>` from the initrd with `arguments`
/// (the program's name comes first in its argv) and a budget of `budget`
/// frames, and makes it runnable.
/// (The boot programs of the `run=` command line; everything later is
/// built by the proc server, `docs/spawn.md`.)
pub fn create(
    name: &str,
    arguments: &[&str],
    grants: &[Grant],
    budget: usize,
) -> Result<ProcessId, CreateError> {
    let mut path: heapless::String<64> = heapless::String::new();
    write!(path, "bin/{name}").map_err(|_| CreateError::NoSuchFile)?;
    let file = initrd::find(&path).ok_or(CreateError::NoSuchFile)?;
    let plan = elf::plan(file).map_err(CreateError::BadProgram)?;
    // The startup page: the block (filled in below) and the argument text.
    let mut startup = alloc::vec![0u8; PAGE_SIZE as usize];
    let mut length = STARTUP_ARGUMENTS_OFFSET;
    for argument in core::iter::once(name).chain(arguments.iter().copied()) {
        let end = length + argument.len() + 1;
        if end > startup.len() {
            return Err(CreateError::ArgumentsTooLong);
        }
        startup[length..end - 1].copy_from_slice(argument.as_bytes());
        length = end;
    }

    let mut unstarted = unstarted(name, budget)?;
    if let Err(error) = map_program(&mut unstarted.address_space, &plan, file) {
        let _ = unstarted.address_space.destroy();
        return Err(error);
    }
    let mut system = SYSTEM.lock();
    let id = system.allocate_id();
    let roles = match grant_handles(&mut system, id, grants, &mut unstarted.handles) {
        Ok(roles) => roles,
        Err(error) => {
            discard(&mut system, id, unstarted);
            return Err(error);
        }
    };
    let block = StartupBlock {
        abi_version: ABI_VERSION,
        argument_count: arguments.len() as u32 + 1,
        ring: RING_ADDRESS,
        arguments_length: (length - STARTUP_ARGUMENTS_OFFSET) as u32,
        handle_count: roles.given.len() as u32,
        handles: core::array::from_fn(|index| roles.given.get(index).copied().unwrap_or(0)),
        // The console is all three standard streams.
        stdin: roles.console,
        stdout: roles.console,
        stderr: roles.console,
        file_system: roles.file_system,
        processes: roles.processes,
        power: roles.power,
    };
    startup[..size_of::<StartupBlock>()].copy_from_slice(block.as_bytes());
    // Each `+use=NAME` handle is also the service NAME (`runtime::service`).
    let named = grants
        .iter()
        .zip(roles.given.iter())
        .filter_map(|(grant, &handle)| match *grant {
            Grant::Use(name) => StartupService::new(name, handle),
            _ => None,
        });
    for (place, entry) in named.take(STARTUP_SERVICES_MAX).enumerate() {
        let at = STARTUP_SERVICES_OFFSET + place * size_of::<StartupService>();
        startup[at..at + size_of::<StartupService>()].copy_from_slice(entry.as_bytes());
    }
    launch(&mut system, id, unstarted, plan.entry, &startup[..length])?;
    Ok(id)
}

/// A new, empty process called `name` (cut to 32 bytes) whose budget is
/// `budget` frames, the kernel's allowance included (`address_space`).
pub fn unstarted(name: &str, budget: usize) -> Result<Unstarted, Errno> {
    let frames_before = mm::free_frames();
    let heap_pages_before = crate::heap_pages_held();
    let mut short_name = heapless::String::new();
    for character in name.chars() {
        if short_name.push(character).is_err() {
            break;
        }
    }
    Ok(Unstarted {
        name: short_name,
        address_space: AddressSpace::new(budget)?,
        handles: HandleTable::new(),
        process_handles: 0,
        mapped_bytes: 0,
        frames_before,
        heap_pages_before,
    })
}

/// Throws unstarted process `id` away: its frames go back, its handles
/// are closed, and the endpoints it was to serve (made for it at boot, or
/// given to it with `PROCESS_GIVE`) die, so their clients get `ESRVDEAD`
/// instead of waiting for a server that will never run.
pub fn discard(system: &mut System, id: ProcessId, unstarted: Unstarted) {
    for object in unstarted.handles.objects() {
        let_go_of(system, object);
    }
    let _ = unstarted.address_space.destroy();
    crate::ring::forward::process_ended(system, id);
    discard_orphans(system);
}

/// Throws away every unstarted process whose last handle has gone, one
/// after another. One may have held the last handle of the next (a
/// builder can give an unstarted process a handle to another), so this is
/// a loop, never a recursion, however long such a line is. Bound: each
/// pass removes one unstarted process.
fn discard_orphans(system: &mut System) {
    loop {
        let orphan = system
            .unstarted
            .iter()
            .find(|(_, unstarted)| unstarted.process_handles == 0)
            .map(|(id, _)| id);
        let Some(id) = orphan else { return };
        let Some(unstarted) = system.unstarted.remove(id) else {
            return;
        };
        for object in unstarted.handles.objects() {
            let_go_of(system, object);
        }
        let _ = unstarted.address_space.destroy();
        crate::ring::forward::process_ended(system, id);
    }
}

/// Gives unstarted process `id` (already built: program mapped, handles
/// given) its stack, ring and startup page, filled with `startup` (the
/// block, whose `abi_version` and `ring` are set here, and the argument
/// text), and a thread that enters it at `entry`. On failure it is thrown
/// away.
pub fn launch(
    system: &mut System,
    id: ProcessId,
    unstarted: Unstarted,
    entry: u64,
    startup: &[u8],
) -> Result<(), Errno> {
    let mut unstarted = unstarted;
    let mapped = map_runtime(&mut unstarted.address_space, startup).and_then(|ring_region| {
        let table_register = unstarted.address_space.table_register();
        scheduler::spawn_with_tables("process", process_main, id as u64, Some(table_register), id)
            .map(|thread| (ring_region, thread))
            .map_err(|_| Errno::OutOfMemory)
    });
    let (ring_region, thread) = match mapped {
        Ok(done) => done,
        Err(error) => {
            discard(system, id, unstarted);
            return Err(error);
        }
    };
    let Unstarted {
        name,
        address_space,
        handles,
        process_handles,
        frames_before,
        heap_pages_before,
        ..
    } = unstarted;
    let process = Process {
        id,
        name,
        address_space,
        ring: KernelRing::new(ring_region),
        thread,
        entry,
        ending: None,
        kill_children: false,
        fault: None,
        system_calls: 0,
        handles,
        process_handles,
        mapped_devices: Vec::new(),
        frames_before,
        heap_pages_before,
    };
    system.processes.insert(id, Box::new(process));
    Ok(())
}

/// A capability a process is started with (until `init` hands them out
/// from the system manifest, the kernel command line names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant<'a> {
    /// A new endpoint with this name, served by the process.
    Serve(&'a str),
    /// A client handle to the endpoint with this name (badge: the
    /// process's id).
    Use(&'a str),
    /// The registers of this device (`console`: the console UART).
    Device(&'a str),
    /// The interrupt line of this device.
    Interrupt(&'a str),
    /// The right to read the kernel log.
    KernelLog,
    /// The boot image, to map read-only.
    BootImage,
    /// The right to power the machine off.
    Power,
    /// The right to build processes (the proc server's and init's).
    Spawner,
    /// The right to `DMA_MAP` (driver servers').
    Dma,
}

/// The handles a boot program was given, and which of them play the roles
/// the startup block names (0: none).
#[derive(Default)]
struct Roles {
    given: heapless::Vec<u32, 12>,
    console: u32,
    file_system: u32,
    processes: u32,
    power: u32,
}

/// Makes the handles `grants` ask for, in order, for new process `id`.
/// The handles given as `+use=console` (the three standard streams),
/// `+use=fs`, `+use=proc` and `+power` play the startup block's roles.
fn grant_handles(
    system: &mut System,
    id: ProcessId,
    grants: &[Grant],
    handles: &mut HandleTable,
) -> Result<Roles, CreateError> {
    let mut roles = Roles::default();
    let uart = crate::boot_info().and_then(|info| info.console);
    for grant in grants {
        let object = match *grant {
            Grant::Serve(name) => Object::Service {
                endpoint: crate::ring::forward::create_endpoint(system, id, name)
                    .ok_or(CreateError::OutOfMemory)?,
            },
            Grant::Use(name) => {
                let endpoint = crate::ring::forward::find_endpoint(system, name)
                    .ok_or(CreateError::NoSuchService)?;
                Object::Client {
                    endpoint,
                    badge: id as u64,
                }
            }
            Grant::Device("console") => Object::Device {
                registers: uart.ok_or(CreateError::NoSuchDevice)?.registers,
            },
            Grant::Interrupt("console") => Object::Interrupt {
                interrupt: uart.ok_or(CreateError::NoSuchDevice)?.interrupt,
            },
            Grant::Device(name) => Object::Device {
                registers: crate::virtio::find(name)
                    .ok_or(CreateError::NoSuchDevice)?
                    .registers,
            },
            Grant::Interrupt(name) => Object::Interrupt {
                interrupt: crate::virtio::find(name)
                    .ok_or(CreateError::NoSuchDevice)?
                    .interrupt,
            },
            Grant::Dma => Object::Dma,
            Grant::KernelLog => Object::KernelLog,
            Grant::Power => Object::Power,
            Grant::Spawner => Object::Spawner,
            Grant::BootImage => Object::BootImage {
                image: crate::boot_info()
                    .and_then(|info| info.initrd)
                    .ok_or(CreateError::NoSuchDevice)?,
            },
        };
        let handle = handles
            .insert(object)
            .map_err(|_| CreateError::OutOfMemory)?;
        roles
            .given
            .push(handle)
            .map_err(|_| CreateError::TooManyHandles)?;
        let role = match *grant {
            Grant::Use("console") => &mut roles.console,
            Grant::Use("fs") => &mut roles.file_system,
            Grant::Use("proc") => &mut roles.processes,
            Grant::Power => &mut roles.power,
            _ => continue,
        };
        *role = handle;
    }
    Ok(roles)
}

/// Maps a program's segments (as `elf::plan` checked them) and fills
/// them from the file.
fn map_program(
    space: &mut AddressSpace,
    plan: &elf::LoadPlan,
    file: &[u8],
) -> Result<(), CreateError> {
    for segment in &plan.segments {
        let (first, end) = segment.pages();
        space.map_new(
            first,
            end - first,
            access(segment.writable, segment.executable),
        )?;
        let start = segment.file_offset as usize;
        let bytes = &file[start..start + segment.file_bytes as usize]; // checked by elf::plan
        space.fill(segment.address, bytes)?;
    }
    Ok(())
}

/// What a program page may be used for.
pub fn access(writable: bool, executable: bool) -> UserAccess {
    if executable {
        UserAccess::ReadExecute
    } else if writable {
        UserAccess::ReadWrite
    } else {
        UserAccess::ReadOnly
    }
}

/// Maps what every process has beside its program: the stack, the ring
/// region and the startup page (filled with `startup`, whose block gets
/// the kernel's `abi_version` and `ring`). Returns the ring region's
/// first frame.
fn map_runtime(space: &mut AddressSpace, startup: &[u8]) -> Result<u64, Errno> {
    // The stack, with the page below it left unmapped as a guard.
    space.map_new(STACK_TOP - STACK_SIZE, STACK_SIZE, UserAccess::ReadWrite)?;
    // The ring region, contiguous so the kernel reaches it in one piece
    // through the linear map; the kernel fills in its header.
    let ring_region = space.map_new_contiguous(RING_ADDRESS, RING_SIZE, UserAccess::ReadWrite)?;
    space.fill(RING_ADDRESS, crate::ring::initial_header().as_bytes())?;
    // The startup page: read-only for the process.
    space.map_new(STARTUP_ADDRESS, PAGE_SIZE, UserAccess::ReadOnly)?;
    space.fill(
        STARTUP_ADDRESS,
        &startup[..startup.len().min(PAGE_SIZE as usize)],
    )?;
    set_kernel_fields(space)?;
    Ok(ring_region)
}

/// Writes the startup block's fields that are the kernel's to say.
fn set_kernel_fields(space: &AddressSpace) -> Result<(), Errno> {
    space.fill(
        STARTUP_ADDRESS + core::mem::offset_of!(StartupBlock, abi_version) as u64,
        ABI_VERSION.as_bytes(),
    )?;
    space.fill(
        STARTUP_ADDRESS + core::mem::offset_of!(StartupBlock, ring) as u64,
        RING_ADDRESS.as_bytes(),
    )
}

/// The first code of a process's thread: drop to EL0 at its entry point.
fn process_main(id: u64) {
    let entry = SYSTEM
        .lock()
        .process(id as ProcessId)
        .map(|process| process.entry);
    let Some(entry) = entry else { return };
    let kernel_stack_top = scheduler::current_stack_top();
    // SAFETY: this thread's switch-in loaded the process's tables (TTBR0),
    // which map `entry` and the stack; this function's frame is the only
    // thing on the kernel stack and is never returned to.
    unsafe { enter_user(entry, STACK_TOP, STARTUP_ADDRESS, kernel_stack_top) }
}

/// The process the running thread belongs to, if any.
pub fn current() -> Option<ProcessId> {
    match scheduler::current_owner() {
        0 => None,
        id => Some(id),
    }
}

/// Print every process's ending and frame report? Yes for the programs of
/// a `run=` command line (the tests read those lines); no for a system
/// init starts from the manifest, whose shell reports to its user: then
/// only a leak is reported.
static REPORT_EVERY_ENDING: AtomicBool = AtomicBool::new(true);

/// Chooses whether every process ending is reported (the default) or only
/// leaks.
pub fn report_every_ending(every: bool) {
    REPORT_EVERY_ENDING.store(every, Ordering::Relaxed);
}

/// Processes whose `ending` is set and that are not torn down yet
/// (changed only with the `SYSTEM` lock held).
static ENDING_PROCESSES: AtomicUsize = AtomicUsize::new(0);

/// Marks process `id` to stop with `ending` (if it is not stopping
/// already) and wakes its thread, so it tears itself down.
pub fn end(system: &mut System, id: ProcessId, ending: Ending) {
    let Some(process) = system.process(id) else {
        return;
    };
    if process.ending.is_none() {
        process.ending = Some(ending);
        ENDING_PROCESSES.fetch_add(1, Ordering::Relaxed);
    }
    let thread = process.thread;
    scheduler::wake(thread);
}

/// Kills the running process with `reason`; never returns.
pub fn kill_current(reason: core::fmt::Arguments) -> ! {
    let mut text = heapless::String::new();
    let _ = text.write_fmt(reason);
    if let Some(id) = current() {
        end(&mut SYSTEM.lock(), id, Ending::Killed(text));
    }
    end_current()
}

/// Called on every way back to EL0: if the running process must stop,
/// tear it down now instead.
pub fn before_return_to_user() {
    // Almost always none is ending: then no lock and no lookup.
    if ENDING_PROCESSES.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(id) = current() else { return };
    let ending = SYSTEM
        .lock()
        .process(id)
        .is_some_and(|process| process.ending.is_some());
    if ending {
        end_current();
    }
}

/// Tears down the running thread's process and ends the thread.
pub fn end_current() -> ! {
    if let Some(id) = current() {
        tear_down(id);
        stop_if_all_ended();
    }
    scheduler::exit()
}

/// Tears down process `id` (the running thread's). A function of its
/// own so that everything it owns is dropped before the thread exits:
/// `scheduler::exit` never returns, so locals alive at that call would
/// never be freed.
fn tear_down(id: ProcessId) {
    let process = {
        let mut system = SYSTEM.lock();
        let Some(mut process) = system.processes.remove(id) else {
            return;
        };
        if process.ending.is_some() {
            ENDING_PROCESSES.fetch_sub(1, Ordering::Relaxed);
        }
        system.timers.retain(|timer| timer.process != id);
        process.ring.stop_poller();
        // Its endpoints die (their clients get ESRVDEAD), its requests to
        // other servers are forgotten, its interrupt lines unrouted.
        crate::ring::forward::process_ended(&mut system, id);
        // The servers it was a client of hear that its handles are gone;
        // children it holds handles to are no longer its to wait for, and,
        // if it was killed, end too (each tears itself down on its own
        // thread, and takes its own children with it in turn: no
        // recursion here, and a bounded loop over one handle table).
        for object in process.handles.objects() {
            if let (true, Object::Process { id: child }) = (process.kill_children, object) {
                let mut reason = heapless::String::new();
                let _ = write!(reason, "killed with process {id}");
                // Its own children go with it in turn.
                if let Some(child) = system.process(child) {
                    child.kill_children = true;
                }
                end(&mut system, child, Ending::Killed(reason));
            }
            handle_dropped(&mut system, object);
        }
        // A virtio device it mapped, and so may have set to work, is
        // reset, so that it stops using the DMA memory freed below.
        for &registers in &process.mapped_devices {
            crate::virtio::reset(registers);
        }
        crate::ring::drivers::process_ended(&mut system, id);
        crate::ring::drivers::log_reader_ended(&mut system, id);
        system.waits.retain(|waiting| waiting.waiter != id);
        // Clients whose requests it held were answered: start what that
        // unblocked in their rings.
        crate::ring::engine::settle(&mut system);
        system.shrink_emptied();
        // Its status, for whoever holds a handle to it, once it is gone.
        let ending = process.ending.clone().unwrap_or(Ending::Exited(0));
        system.ended.push(Ended {
            id,
            ending,
            process_handles: process.process_handles,
            reported: false,
        });
        process
    };
    // Let the poller (if any) see that its process is gone and stop, so
    // its stack is back before the frames are counted.
    if let Some(poller) = process.ring.poller {
        for _ in 0..100 {
            if !scheduler::is_alive(poller) {
                break;
            }
            scheduler::wake(poller);
            scheduler::yield_now();
        }
    }
    let ending = process.ending.clone().unwrap_or(Ending::Exited(0));
    let Process {
        address_space,
        name,
        frames_before,
        heap_pages_before,
        ..
    } = *process;
    let leaked = address_space.destroy();
    // This thread's kernel stack goes back once the thread has stopped
    // (the scheduler reaps it); count it as returned.
    let frames_after = mm::free_frames() + scheduler::STACK_PAGES;
    // Frames the kernel heap took meanwhile are not lost (the heap keeps
    // size-class pages, and other processes' requests come and go).
    let heap_growth = crate::heap_pages_held() as i64 - heap_pages_before as i64;
    let change = frames_after as i64 + heap_growth - frames_before as i64;
    // A system started by init reports only what went wrong: its shell
    // reports the rest to the user (see `report_every_ending`).
    if !REPORT_EVERY_ENDING.load(Ordering::Relaxed) && leaked == 0 {
        report_ending(&mut SYSTEM.lock(), id);
        return;
    }
    match &ending {
        Ending::Exited(code) => kprintln!("process {} ({}): exited with code {}", id, name, code),
        Ending::Killed(reason) => kprintln!("process {} ({}): killed: {}", id, name, reason),
    }
    // `leaked` is exact: frames the address space held and did not give
    // back. `change` is the machine-wide free-frame count after minus
    // before (net of the kernel heap), exact only when no other process
    // started or ended meanwhile.
    kprintln!(
        "process {} ({}): leaked frames: {}; free frames {} before, {} after, kernel heap {:+} pages: free-frame change {:+}",
        id,
        name,
        leaked,
        frames_before,
        frames_after,
        heap_growth,
        change
    );
    report_ending(&mut SYSTEM.lock(), id);
}

/// Process `id` is gone: answers every `WAIT` for it, and keeps its
/// status only while process handles name it.
fn report_ending(system: &mut System, id: ProcessId) {
    let Some(index) = system.ended.iter().position(|ended| ended.id == id) else {
        return;
    };
    system.ended[index].reported = true;
    let ending = system.ended[index].ending.clone();
    if system.ended[index].process_handles == 0 {
        system.ended.swap_remove(index);
    }
    while let Some(index) = system.waits.iter().position(|waiting| waiting.child == id) {
        let waiting = system.waits.swap_remove(index);
        let result = tell_waiter(system, &waiting, &ending);
        crate::ring::engine::finish(system, waiting.waiter, waiting.request, result);
        crate::ring::engine::advance_later(system, waiting.waiter);
    }
    crate::ring::engine::settle(system);
}

/// Writes why a process ended into `waiting`'s buffer (cut to fit) and
/// returns `WAIT`'s result: the exit code's low 8 bits, or `WAIT_KILLED`.
pub fn tell_waiter(system: &mut System, waiting: &Waiting, ending: &Ending) -> i32 {
    let mut text: heapless::String<192> = heapless::String::new();
    let result = match ending {
        Ending::Exited(code) => {
            let _ = write!(text, "exited with code {code}");
            code & 0xff
        }
        Ending::Killed(reason) => {
            let _ = write!(text, "killed: {reason}");
            libring::abi::WAIT_KILLED
        }
    };
    if let Some(process) = system.process(waiting.waiter) {
        let length = text.len().min(waiting.length as usize);
        // Checked writable when the WAIT began; if the waiter has unmapped
        // it since, it gets the result without the words.
        let _ = process
            .address_space
            .copy_to_user(waiting.address, &text.as_bytes()[..length]);
    }
    result
}

/// A handle to `object` has been copied (`PROCESS_GIVE`): counted, so the
/// last close is the one that counts.
pub fn handle_copied(system: &mut System, object: Object) {
    match object {
        Object::Client { endpoint, badge } => {
            crate::ring::forward::client_handle_copied(system, endpoint, badge)
        }
        Object::Process { id } => {
            if let Some(count) = process_handle_count(system, id) {
                *count += 1;
            }
        }
        _ => {}
    }
}

/// Frames the address spaces of every live or unstarted process own
/// (`SYSTEM_INFO` 6).
pub fn frames_owned(system: &System) -> usize {
    let live = system
        .processes
        .values()
        .map(|process| process.address_space.owned_frames());
    let unstarted = system
        .unstarted
        .values()
        .map(|process| process.address_space.owned_frames());
    live.chain(unstarted).sum()
}

/// A handle to `object` is gone (closed, or its holder ended): a server
/// hears its client handle is gone; an unstarted process whose last
/// handle this was is thrown away, an ended one forgotten.
pub fn handle_dropped(system: &mut System, object: Object) {
    let_go_of(system, object);
    discard_orphans(system);
}

/// [`handle_dropped`]'s first half: counts the handle as gone. An
/// unstarted process left with no handle stays in `System::unstarted`
/// with a count of 0 until [`discard_orphans`] throws it away.
fn let_go_of(system: &mut System, object: Object) {
    match object {
        Object::Client { endpoint, badge } => {
            crate::ring::forward::client_handle_closed(system, endpoint, badge)
        }
        Object::Process { id } => {
            let Some(count) = process_handle_count(system, id) else {
                return;
            };
            *count = count.saturating_sub(1);
            if *count > 0 {
                return;
            }
            if let Some(index) = system
                .ended
                .iter()
                .position(|ended| ended.id == id && ended.reported)
            {
                system.ended.swap_remove(index);
            }
        }
        _ => {}
    }
}

/// How many process handles name process `id`, wherever it is in its life.
fn process_handle_count(system: &mut System, id: ProcessId) -> Option<&mut u32> {
    if let Some(process) = system.processes.get_mut(id) {
        return Some(&mut process.process_handles);
    }
    if let Some(unstarted) = system.unstarted.get_mut(id) {
        return Some(&mut unstarted.process_handles);
    }
    system
        .ended
        .iter_mut()
        .find(|ended| ended.id == id)
        .map(|ended| &mut ended.process_handles)
}

/// Powers off when no process is left and none is being started.
pub fn stop_if_all_ended() {
    let system = SYSTEM.lock();
    if system.processes.is_empty() && !system.starting {
        drop(system);
        kprintln!("annulus: every process has ended");
        power::shutdown();
    }
}
