//! From the kernel's first jump into the program to its `EXIT`.
//!
//! The kernel enters EL0 at `_start` with `x0` = [`STARTUP_ADDRESS`], `sp`
//! = [`STACK_TOP`](crate::abi::STACK_TOP) (16-byte aligned) and every other
//! register zero. `_start` only ends the frame-pointer chain and calls
//! [`runtime_start`], which:
//!
//! 1. takes over the ring region at [`RING_ADDRESS`] and keeps the
//!    [`Ring`] in [`RING`];
//! 2. copies the [`StartupBlock`] out of its page and checks it, and keeps
//!    its handles in [`HANDLES`];
//! 3. calls the program's `main` (named with [`crate::entry!`]) with its
//!    [`Arguments`];
//! 4. exits with what `main` returned.
//!
//! # Invariants
//! - [`RING`] is `Some` from step 1 until the process ends, and there is
//!   one `Ring` over the region: `runtime_start` runs once.
//! - Only code on the process's one stack takes the [`RING`] lock (see the
//!   runtime's invariants), so a lock found taken when [`exit`] or the
//!   panic handler runs is held by a caller that will never resume.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::{Mutex, MutexGuard, Once};

use super::Arguments;
use super::handles::{Renewals, StartupHandles};
use super::syscall::{Syscall, die};
use crate::abi::{
    ABI_VERSION, Errno, RING_ADDRESS, STARTUP_ADDRESS, STARTUP_ARGUMENTS_MAX,
    STARTUP_ARGUMENTS_OFFSET, STARTUP_SERVICES_OFFSET, StartupBlock,
};
use crate::ops;
use crate::ring::Ring;

// The process's entry point (`ENTRY(_start)` in user.ld). Zeroing x29 and
// x30 ends the frame-pointer chain, so a debugger's backtrace stops here.
// `runtime_start` never returns; `brk` catches it if it ever did.
global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {runtime_start}",
    "    brk #0",
    ".size _start, . - _start",
    runtime_start = sym runtime_start,
);

/// The process's ring, from startup until exit.
static RING: Mutex<Option<Ring<Syscall>>> = Mutex::new(None);

/// The handles from the startup block, set once before `main` runs.
static HANDLES: Once<StartupHandles> = Once::new();

/// The handles replaced since, by reconnecting (`super::reconnect`).
static RENEWED: Mutex<Renewals> = Mutex::new(Renewals::new());

/// What `handle` is now: itself, or what replaced it when its server was
/// restarted and the process reconnected.
fn current(handle: Option<u32>) -> Option<u32> {
    handle.map(|handle| RENEWED.lock().current(handle))
}

/// What replaced `handle` (itself if nothing did).
pub(super) fn renewed(handle: u32) -> u32 {
    RENEWED.lock().current(handle)
}

/// Records that `new` replaces `old` (see [`Renewals::record`]).
pub(super) fn renew(old: u32, new: u32) -> bool {
    RENEWED.lock().record(old, new)
}

/// Set by the first (and only) `runtime_start`.
static STARTED: AtomicBool = AtomicBool::new(false);

// SAFETY: `crate::entry!` defines both, with exactly these types; a program
// without it does not link.
unsafe extern "Rust" {
    /// The program's `main`, as named with `entry!`.
    safe fn __libring_main(arguments: Arguments) -> i32;
    /// The program's name, for panic messages.
    safe static __libring_program_name: &'static str;
}

/// The program's name (its binary's name), for messages.
pub(super) fn program_name() -> &'static str {
    __libring_program_name
}

/// Called by `_start` with the startup block's address (from `x0`): sets
/// the process up, runs `main`, exits.
extern "C" fn runtime_start(startup: *const StartupBlock) -> ! {
    if STARTED.swap(true, Ordering::Relaxed) {
        die(); // only `_start` calls this, and only once
    }
    // SAFETY: the kernel maps this process's ring region, RING_SIZE bytes,
    // at RING_ADDRESS for the process's whole life, and this is the only
    // Ring made over it (STARTED above).
    let ring = match unsafe { Ring::from_raw(RING_ADDRESS as *mut u8, Syscall) } {
        Ok(ring) => ring,
        // No ring means no way to say why; the kernel will report the
        // unknown system call that `die` makes.
        Err(_) => die(),
    };
    *RING.lock() = Some(ring);

    // With the ring in place, a panic can be reported from here on.
    let arguments = read_startup(startup);
    exit(__libring_main(arguments))
}

/// Copies out and checks the startup block, and returns the arguments it
/// describes.
fn read_startup(startup: *const StartupBlock) -> Arguments {
    assert!(
        startup as u64 == STARTUP_ADDRESS,
        "the startup block is at {startup:p}, not at {STARTUP_ADDRESS:#x}"
    );
    // SAFETY: the kernel maps the startup page read-only at STARTUP_ADDRESS
    // (checked above) for the process's whole life. A StartupBlock is
    // plain integers, so any bytes are a valid one; the volatile read makes
    // the one copy everything below uses.
    let block = unsafe { startup.read_volatile() };
    assert!(
        block.abi_version == ABI_VERSION,
        "built for ABI version {ABI_VERSION}, started with version {}",
        block.abi_version
    );
    assert!(
        block.ring == RING_ADDRESS,
        "the ring is at {:#x}, not at {RING_ADDRESS:#x}",
        block.ring
    );
    // Never read past the page, whatever the block says.
    let length = (block.arguments_length as usize).min(STARTUP_ARGUMENTS_MAX);
    let text_address = STARTUP_ADDRESS as usize + STARTUP_ARGUMENTS_OFFSET;
    // SAFETY: STARTUP_ARGUMENTS_OFFSET + STARTUP_ARGUMENTS_MAX is the page
    // size, so the `length` bytes lie inside the startup page, which stays
    // mapped and unchanged for the process's whole life (so `'static`).
    let text = unsafe { core::slice::from_raw_parts(text_address as *const u8, length) };
    let services_address = STARTUP_ADDRESS as usize + STARTUP_SERVICES_OFFSET;
    // SAFETY: the service table lies between the block and the argument
    // text, inside the startup page (a compile-time assert in abi), which
    // stays mapped for the process's whole life. Any bytes are a table.
    let services = unsafe {
        core::slice::from_raw_parts(
            services_address as *const u8,
            STARTUP_ARGUMENTS_OFFSET - STARTUP_SERVICES_OFFSET,
        )
    };
    HANDLES.call_once(|| StartupHandles::from_block(&block).with_services(services));
    Arguments::new(text, block.argument_count)
}

/// The handles this process was started with, in the order it was given
/// them (`StartupBlock::handles`). Empty until the runtime has read the
/// startup block, which is before `main`. (As started: the accessors
/// below, [`stdout`] and the rest, follow reconnections; this list does
/// not.)
pub fn handles() -> &'static [u32] {
    HANDLES.get().map_or(&[], StartupHandles::handles)
}

/// Standard input, where [`super::read_stdin`] reads, if this process was
/// given one (`StartupBlock::stdin`): the console, a file or a pipe.
pub fn stdin() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::stdin))
}

/// Standard output, where [`crate::print!`] writes, if this process was
/// given one (`StartupBlock::stdout`).
pub fn stdout() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::stdout))
}

/// Standard error, where [`crate::eprint!`] writes, if this process was
/// given one (`StartupBlock::stderr`).
pub fn stderr() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::stderr))
}

/// The file server's handle, where paths are opened, if this process was
/// given one (`StartupBlock::file_system`).
pub fn file_system() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::file_system))
}

/// The proc server's handle, where programs are started, if this process
/// was given one (`StartupBlock::processes`).
pub fn processes() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::processes))
}

/// The client handle of the service named `name` (a role of the system
/// manifest: `pipe`, `kv`, ...), if this process was given one (the
/// startup page's service table, `docs/systems.md`).
pub fn service(name: &str) -> Option<u32> {
    current(HANDLES.get().and_then(|handles| handles.service(name)))
}

/// A power handle, if this process was given one (`StartupBlock::power`).
pub fn power() -> Option<u32> {
    current(HANDLES.get().and_then(StartupHandles::power))
}

/// Runs `action` with the process's ring, for programs that want more
/// than `print!` and the allocator: their own submissions, batches,
/// timeouts.
///
/// The ring is locked while `action` runs, so `action` must not print,
/// allocate (the heap may need to map pages) or call `with_ring`: any of
/// these panics, with a message saying so, rather than deadlock.
pub fn with_ring<Output>(action: impl FnOnce(&mut Ring<Syscall>) -> Output) -> Output {
    let Some(mut guard) = RING.try_lock() else {
        panic!("the ring is already in use: no printing, allocating or with_ring inside with_ring");
    };
    match guard.as_mut() {
        Some(ring) => action(ring),
        None => panic!("the ring is used before the runtime has set it up"),
    }
}

/// The ring lock for the process's last words ([`exit`], the panic
/// handler), taken over if it is held.
pub(super) fn ring_for_the_end() -> MutexGuard<'static, Option<Ring<Syscall>>> {
    if let Some(guard) = RING.try_lock() {
        return guard;
    }
    // SAFETY: the holder is below us on this one thread's stack (the
    // runtime's invariant) and will never run again: neither exit nor the
    // panic handler returns. So nothing else is using the ring.
    unsafe { RING.force_unlock() };
    RING.lock()
}

/// How many times [`exit`] offers `EXIT` to the kernel before it gives up
/// and dies by other means.
const EXIT_ATTEMPTS: usize = 16;

/// Ends the process with exit `code`, like `std::process::exit`. Callable
/// from anywhere, even inside [`with_ring`].
pub fn exit(code: i32) -> ! {
    let mut guard = ring_for_the_end();
    if let Some(ring) = guard.as_mut() {
        if ring.push(ops::exit(code)).is_err() {
            // A full SQ: hand it over to make room.
            let _ = ring.submit();
            let _ = ring.push(ops::exit(code));
        }
        // The kernel ends the process while taking EXIT, inside
        // ring_enter. It may not take it at once: with SQ polling the call
        // returns before the poller gets to it (waiting gives it time).
        // EXIT needs no CQ slot, so a full CQ does not stop it. Any other
        // error means it never will.
        for _ in 0..EXIT_ATTEMPTS {
            match ring.submit_and_wait(1) {
                Ok(_) | Err(Errno::Busy) => while ring.completion().is_some() {},
                Err(_) => break,
            }
        }
    }
    die()
}

/// Names the program's `main` for the runtime: `libring::entry!(main);`
/// at the top level of a `#![no_std]`, `#![no_main]` program, where
/// `fn main(arguments: libring::runtime::Arguments) -> i32`. The runtime
/// calls it after startup and exits with the code it returns.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's entry, called by libring's runtime.
        #[unsafe(export_name = "__libring_main")]
        fn __libring_main(arguments: $crate::runtime::Arguments) -> i32 {
            // A typed binding, so a `main` with the wrong signature is
            // reported here, plainly.
            let main: fn($crate::runtime::Arguments) -> i32 = $main;
            main(arguments)
        }

        /// The program's name for panic messages: the binary's, or else
        /// the package's.
        #[unsafe(export_name = "__libring_program_name")]
        static __LIBRING_PROGRAM_NAME: &str = match ::core::option_env!("CARGO_BIN_NAME") {
            ::core::option::Option::Some(name) => name,
            ::core::option::Option::None => ::core::env!("CARGO_PKG_NAME"),
        };
    };
}
