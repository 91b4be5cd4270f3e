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
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};
use libring::abi::{
    ABI_VERSION, Errno, PAGE_SIZE, RING_ADDRESS, RING_SIZE, STACK_SIZE, STACK_TOP, STARTUP_ADDRESS,
    STARTUP_ARGUMENTS_MAX, STARTUP_ARGUMENTS_OFFSET, StartupBlock,
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
    /// `ring_enter` calls so far.
    pub system_calls: u64,
    /// Its capabilities.
    pub handles: HandleTable,
    /// Free frames and heap pages just before it was created, for the
    /// leak report when it ends.
    frames_before: usize,
    heap_pages_before: usize,
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
    next_id: 1,
    starting: false,
});

impl System {
    pub fn process(&mut self, id: ProcessId) -> Option<&mut Process> {
        self.processes.get_mut(id).map(|process| &mut **process)
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
/// (the program's name comes first in its argv) and makes it runnable.
pub fn create(name: &str, arguments: &[&str], grants: &[Grant]) -> Result<ProcessId, CreateError> {
    let mut path: heapless::String<64> = heapless::String::new();
    write!(path, "bin/{name}").map_err(|_| CreateError::NoSuchFile)?;
    let file = initrd::find(&path).ok_or(CreateError::NoSuchFile)?;
    let plan = elf::plan(file).map_err(CreateError::BadProgram)?;
    let mut argument_text: heapless::Vec<u8, STARTUP_ARGUMENTS_MAX> = heapless::Vec::new();
    for argument in core::iter::once(name).chain(arguments.iter().copied()) {
        argument_text
            .extend_from_slice(argument.as_bytes())
            .map_err(|_| CreateError::ArgumentsTooLong)?;
        argument_text
            .push(0)
            .map_err(|_| CreateError::ArgumentsTooLong)?;
    }

    let frames_before = mm::free_frames();
    let heap_pages_before = crate::heap_pages_held();
    let mut address_space = AddressSpace::new()?;
    let ring_region = match build(
        &mut address_space,
        &plan,
        file,
        &argument_text,
        arguments.len() + 1,
    ) {
        Ok(ring_region) => ring_region,
        Err(error) => {
            let _ = address_space.destroy();
            return Err(error);
        }
    };
    let table_register = address_space.table_register();

    let mut system = SYSTEM.lock();
    let id = system.next_id;
    let thread = match scheduler::spawn_with_tables(
        "process",
        process_main,
        id as u64,
        Some(table_register),
        id,
    ) {
        Ok(thread) => thread,
        Err(_) => {
            drop(system);
            let _ = address_space.destroy();
            return Err(CreateError::OutOfMemory);
        }
    };
    let mut handles = HandleTable::new();
    let startup = match grant_handles(&mut system, id, grants, &mut handles) {
        Ok((given, console, file_system)) => StartupBlock {
            abi_version: ABI_VERSION,
            argument_count: arguments.len() as u32 + 1,
            ring: RING_ADDRESS,
            arguments_length: argument_text.len() as u32,
            handle_count: given.len() as u32,
            handles: core::array::from_fn(|index| given.get(index).copied().unwrap_or(0)),
            console,
            file_system,
        },
        Err(error) => {
            // The thread finds no process and ends by itself.
            drop(system);
            let _ = address_space.destroy();
            return Err(error);
        }
    };
    let _ = address_space.fill(STARTUP_ADDRESS, startup.as_bytes());
    system.next_id += 1;
    let mut short_name = heapless::String::new();
    for character in name.chars() {
        if short_name.push(character).is_err() {
            break;
        }
    }
    let process = Process {
        id,
        name: short_name,
        address_space,
        ring: KernelRing::new(ring_region),
        thread,
        entry: plan.entry,
        ending: None,
        system_calls: 0,
        handles,
        frames_before,
        heap_pages_before,
    };
    system.processes.insert(id, Box::new(process));
    Ok(id)
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
}

/// Makes the handles `grants` ask for, in order, for new process `id`.
/// Returns them, the console handle and the file system handle (0 if
/// none: the handles given as `+use=console` and `+use=fs`).
fn grant_handles(
    system: &mut System,
    id: ProcessId,
    grants: &[Grant],
    handles: &mut HandleTable,
) -> Result<(heapless::Vec<u32, 8>, u32, u32), CreateError> {
    let mut given = heapless::Vec::new();
    let mut console = 0;
    let mut file_system = 0;
    let uart = crate::boot_info().and_then(|info| info.console);
    for grant in grants {
        let object = match *grant {
            Grant::Serve(name) => Object::Service {
                endpoint: crate::ring::forward::create_endpoint(system, id, name),
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
            Grant::Device(_) | Grant::Interrupt(_) => return Err(CreateError::NoSuchDevice),
            Grant::KernelLog => Object::KernelLog,
            Grant::Power => Object::Power,
            Grant::BootImage => Object::BootImage {
                image: crate::boot_info()
                    .and_then(|info| info.initrd)
                    .ok_or(CreateError::NoSuchDevice)?,
            },
        };
        let handle = handles
            .insert(object)
            .map_err(|_| CreateError::OutOfMemory)?;
        given
            .push(handle)
            .map_err(|_| CreateError::TooManyHandles)?;
        if *grant == Grant::Use("console") {
            console = handle;
        }
        if *grant == Grant::Use("fs") {
            file_system = handle;
        }
    }
    Ok((given, console, file_system))
}

/// Maps and fills everything a new process needs.
fn build(
    space: &mut AddressSpace,
    plan: &elf::LoadPlan,
    file: &[u8],
    argument_text: &[u8],
    argument_count: usize,
) -> Result<u64, CreateError> {
    for segment in &plan.segments {
        let (first, end) = segment.pages();
        let access = if segment.executable {
            UserAccess::ReadExecute
        } else if segment.writable {
            UserAccess::ReadWrite
        } else {
            UserAccess::ReadOnly
        };
        space.map_new(first, end - first, access)?;
        let start = segment.file_offset as usize;
        let bytes = &file[start..start + segment.file_bytes as usize]; // checked by elf::plan
        space.fill(segment.address, bytes)?;
    }
    // The stack, with the page below it left unmapped as a guard.
    space.map_new(STACK_TOP - STACK_SIZE, STACK_SIZE, UserAccess::ReadWrite)?;
    // The ring region, contiguous so the kernel reaches it in one piece
    // through the linear map; the kernel fills in its header.
    let ring_region = space.map_new_contiguous(RING_ADDRESS, RING_SIZE, UserAccess::ReadWrite)?;
    space.fill(RING_ADDRESS, crate::ring::initial_header().as_bytes())?;
    // The startup page: read-only for the process.
    space.map_new(STARTUP_ADDRESS, PAGE_SIZE, UserAccess::ReadOnly)?;
    let startup = StartupBlock {
        abi_version: ABI_VERSION,
        argument_count: argument_count as u32,
        ring: RING_ADDRESS,
        arguments_length: argument_text.len() as u32,
        handle_count: 0,
        handles: [0; 8],
        console: 0,
        file_system: 0,
    };
    space.fill(STARTUP_ADDRESS, startup.as_bytes())?;
    space.fill(
        STARTUP_ADDRESS + STARTUP_ARGUMENTS_OFFSET as u64,
        argument_text,
    )?;
    Ok(ring_region)
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
    let Some(id) = current() else {
        scheduler::exit()
    };
    let process = {
        let mut system = SYSTEM.lock();
        let Some(mut process) = system.processes.remove(id) else {
            scheduler::exit()
        };
        if process.ending.is_some() {
            ENDING_PROCESSES.fetch_sub(1, Ordering::Relaxed);
        }
        system.timers.retain(|timer| timer.process != id);
        process.ring.stop_poller();
        // Its endpoints die (their clients get ESRVDEAD), its requests to
        // other servers are forgotten, its interrupt lines unrouted.
        crate::ring::forward::process_ended(&mut system, id);
        // The servers it was a client of hear that its handles are gone.
        for object in process.handles.objects() {
            if let Object::Client { endpoint, badge } = object {
                crate::ring::forward::client_handle_closed(&mut system, endpoint, badge);
            }
        }
        crate::ring::drivers::process_ended(&mut system, id);
        crate::ring::drivers::log_reader_ended(&mut system, id);
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
    stop_if_all_ended();
    scheduler::exit()
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
