//! The Annulus ABI: everything a process and the kernel agree on.
//!
//! A process talks to the kernel through one shared *ring region* and one
//! system call, `ring_enter`. The region holds a [`RingHeader`], a
//! submission queue (SQ) of [`Submission`]s the process writes, and a
//! completion queue (CQ) of [`Completion`]s the kernel writes:
//!
//! ```text
//!  RING_ADDRESS ┬───────────────────────────────┐
//!               │ RingHeader (64 bytes)         │ indices, sizes, flags
//!   + sq_offset ├───────────────────────────────┤
//!               │ Submission[sq_entries]        │ 64 bytes each, process writes
//!   + cq_offset ├───────────────────────────────┤
//!               │ Completion[cq_entries]        │ 16 bytes each, kernel writes
//!               └───────────────────────────────┘
//! ```
//!
//! The layout of every shared structure is pinned by compile-time asserts:
//! changing a field's size or place is an ABI break and must bump
//! [`ABI_VERSION`]. See `docs/rings.md` for each operation.
//!
//! # Rules both sides follow
//! - Indices are free-running `u32`s; the slot is `index & (entries - 1)`.
//!   Entry counts are powers of two.
//! - The process owns `sq_tail` and `cq_head`; the kernel owns `sq_head`,
//!   `cq_tail`, `flags` and `cq_overflow`. Each side only reads the other's.
//! - Publish with a release store of the index after writing the entries;
//!   consume with an acquire load of the index before reading them.
//! - The kernel copies each submission out of shared memory exactly once,
//!   then validates the copy; nothing the process writes later can change
//!   what the kernel does with it.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bumped on any incompatible change to this file.
pub const ABI_VERSION: u32 = 2;

/// The one system call: `svc #0` with this number in `x8`, and
/// `to_submit`, `min_complete`, `flags` in `x0`..`x2`. The result (a count,
/// or a negative [`Errno`]) comes back in `x0`. Any other number, or a
/// non-zero `svc` immediate, kills the caller.
pub const SYSCALL_RING_ENTER: u64 = 0;

/// `ring_enter` flags.
pub mod enter_flags {
    /// Wait until at least `min_complete` completions are in the CQ.
    pub const GET_EVENTS: u32 = 1 << 0;
    /// Wake the kernel's SQ polling thread (see [`super::ring_flags::NEED_WAKEUP`]).
    pub const SQ_WAKEUP: u32 = 1 << 1;
    /// Every flag this ABI version knows; others give `-EINVAL`.
    pub const ALL: u32 = GET_EVENTS | SQ_WAKEUP;
}

/// Bits of [`RingHeader::flags`], written by the kernel.
pub mod ring_flags {
    /// The SQ polling thread has gone to sleep: after publishing new
    /// submissions, call `ring_enter` with `SQ_WAKEUP`.
    pub const NEED_WAKEUP: u32 = 1 << 0;
    /// Kernel SQ polling is on for this ring.
    pub const SQ_POLL: u32 = 1 << 1;
}

/// The start of the shared ring region (header, SQ, CQ), the same in every
/// process.
pub const RING_ADDRESS: u64 = 0x0000_0000_1000_0000;
/// Submission queue entries per ring.
pub const SQ_ENTRIES: u32 = 64;
/// Completion queue entries per ring: twice the SQ, as in io_uring, so a
/// full SQ of requests can all be in flight with room to spare.
pub const CQ_ENTRIES: u32 = 128;

/// The read-only page where a process finds its [`StartupBlock`]; its
/// entry point also gets this address in `x0`.
pub const STARTUP_ADDRESS: u64 = 0x0000_0000_0fff_0000;
/// Programs are linked to load here (see `libring/user.ld`).
pub const PROGRAM_BASE: u64 = 0x0000_0000_0040_0000;
/// The top of the initial stack; below it `STACK_SIZE` bytes, and below
/// those one unmapped guard page.
pub const STACK_TOP: u64 = 0x0000_0000_8000_0000;
pub const STACK_SIZE: u64 = 64 * 1024;
/// Where `MAP` may place anonymous memory: `[MAP_BASE, MAP_LIMIT)`.
pub const MAP_BASE: u64 = 0x0000_0001_0000_0000;
pub const MAP_LIMIT: u64 = 0x0000_0080_0000_0000;
/// The first address user space can never have (48-bit TTBR0).
pub const USER_LIMIT: u64 = 1 << 48;
/// User memory is mapped in pages of this size.
pub const PAGE_SIZE: u64 = 4096;

/// The ring region's first 64 bytes.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RingHeader {
    /// [`ABI_VERSION`], for the process to check.
    pub abi_version: u32,
    /// Number of SQ entries (a power of two).
    pub sq_entries: u32,
    /// Number of CQ entries (a power of two).
    pub cq_entries: u32,
    /// Byte offset of the SQ array from the region's start.
    pub sq_offset: u32,
    /// Byte offset of the CQ array from the region's start.
    pub cq_offset: u32,
    /// [`ring_flags`], kernel-written.
    pub flags: u32,
    /// Next submission the kernel will take; kernel-written.
    pub sq_head: u32,
    /// One past the last submission published; process-written.
    pub sq_tail: u32,
    /// Next completion the process will read; process-written.
    pub cq_head: u32,
    /// One past the last completion posted; kernel-written.
    pub cq_tail: u32,
    /// Always 0: the kernel never accepts a submission without a CQ slot
    /// reserved for its completion (see `docs/rings.md`), so it never has
    /// completions waiting outside the ring. Kept for io_uring familiarity.
    pub cq_overflow: u32,
    /// Must be zero.
    pub reserved: [u32; 5],
}

/// Byte offsets of the header's index words, for atomic access.
pub mod header_offset {
    use super::RingHeader;
    use core::mem::offset_of;
    pub const FLAGS: usize = offset_of!(RingHeader, flags);
    pub const SQ_HEAD: usize = offset_of!(RingHeader, sq_head);
    pub const SQ_TAIL: usize = offset_of!(RingHeader, sq_tail);
    pub const CQ_HEAD: usize = offset_of!(RingHeader, cq_head);
    pub const CQ_TAIL: usize = offset_of!(RingHeader, cq_tail);
}

/// One request, written by a process into its submission queue.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Submission {
    /// An [`Opcode`]; unknown values complete with `-EINVAL`.
    pub opcode: u8,
    /// [`submission_flags`]; unknown bits complete with `-EINVAL`.
    pub flags: u8,
    /// Must be zero.
    pub reserved: u16,
    /// The handle the operation acts on, for operations that take one.
    pub handle: u32,
    /// A user address (a buffer), per operation.
    pub address: u64,
    /// A length in bytes, per operation.
    pub length: u32,
    /// Operation-specific flags (for example [`timeout_flags`]).
    pub operation_flags: u32,
    /// A file offset, per operation.
    pub offset: u64,
    /// Echoed unchanged in the matching [`Completion`].
    pub user_data: u64,
    /// Operation-specific words; unused ones must be zero.
    pub arguments: [u64; 3],
}

/// One result, written by the kernel into the completion queue.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Completion {
    /// The `user_data` of the submission this completes.
    pub user_data: u64,
    /// Zero or a positive value on success, a negative [`Errno`] on failure.
    pub result: i32,
    /// [`completion_flags`].
    pub flags: u32,
}

const _: () = assert!(core::mem::size_of::<RingHeader>() == 64);
const _: () = assert!(core::mem::size_of::<Submission>() == 64);
const _: () = assert!(core::mem::size_of::<Completion>() == 16);
const _: () = assert!(core::mem::offset_of!(Submission, handle) == 4);
const _: () = assert!(core::mem::offset_of!(Submission, address) == 8);
const _: () = assert!(core::mem::offset_of!(Submission, length) == 16);
const _: () = assert!(core::mem::offset_of!(Submission, offset) == 24);
const _: () = assert!(core::mem::offset_of!(Submission, user_data) == 32);
const _: () = assert!(core::mem::offset_of!(Submission, arguments) == 40);
const _: () = assert!(core::mem::offset_of!(Completion, result) == 8);
const _: () = assert!(SQ_ENTRIES.is_power_of_two() && CQ_ENTRIES.is_power_of_two());

/// Where the SQ and CQ arrays sit in the ring region.
pub const SQ_OFFSET: u32 = 64;
pub const CQ_OFFSET: u32 = SQ_OFFSET + SQ_ENTRIES * 64;
/// The ring region's size, rounded up to whole pages.
pub const RING_SIZE: u64 =
    (CQ_OFFSET as u64 + CQ_ENTRIES as u64 * 16).div_ceil(PAGE_SIZE) * PAGE_SIZE;

// The ring region holds its arrays, and the user regions do not overlap.
const _: () = assert!(RING_SIZE >= CQ_OFFSET as u64 + CQ_ENTRIES as u64 * 16);
const _: () = assert!(RING_SIZE.is_multiple_of(PAGE_SIZE));
const _: () = assert!(PROGRAM_BASE < STARTUP_ADDRESS);
const _: () = assert!(STARTUP_ADDRESS + PAGE_SIZE <= RING_ADDRESS);
const _: () = assert!(RING_ADDRESS + RING_SIZE <= STACK_TOP - STACK_SIZE - PAGE_SIZE);
const _: () = assert!(STACK_TOP <= MAP_BASE && MAP_LIMIT <= USER_LIMIT);

/// `Submission::flags`.
pub mod submission_flags {
    /// The next submission runs only after this one succeeds; if this one
    /// fails, every later member of the chain completes with `-ECANCELED`.
    pub const LINK: u8 = 1 << 0;
    /// No completion if it succeeds (its result is not negative): the CQ
    /// slot taken for it is given back instead. A failure completes as
    /// usual, so errors are never lost. For fire-and-forget work, such as
    /// a server's `REPLY`s; a multishot operation's events (`MORE`) are
    /// still posted, only its final completion is left out. A program
    /// that waits for completions must not count on these.
    pub const SKIP_SUCCESS: u8 = 1 << 1;
    /// Every flag this ABI version knows.
    pub const ALL: u8 = LINK | SKIP_SUCCESS;
}

/// `Completion::flags`.
pub mod completion_flags {
    /// More completions will follow for the same submission (multishot).
    pub const MORE: u32 = 1 << 0;
}

/// `operation_flags` of `TIMEOUT` and `LINK_TIMEOUT`.
pub mod timeout_flags {
    /// `arguments[0]` is a deadline on the system clock (nanoseconds since
    /// boot), not a duration.
    pub const ABSOLUTE: u32 = 1 << 0;
    /// `TIMEOUT` only: fire every `arguments[0]` nanoseconds, `arguments[1]`
    /// times (0: until cancelled), one completion each, all but the last
    /// with `completion_flags::MORE`. Cannot be combined with `ABSOLUTE`.
    pub const MULTISHOT: u32 = 1 << 1;
    pub const ALL: u32 = ABSOLUTE | MULTISHOT;
}

/// `arguments[0]` of `INJECT`: how the server fails its next reply.
pub mod inject {
    /// No fault: takes back one armed before and not yet used.
    pub const NONE: u64 = 0;
    /// The server is killed instead of replying: a crash in the middle
    /// of the request (what it did for it stays done).
    pub const CRASH: u64 = 1;
    /// The reply says `-EIO`, whatever the server answered: a wrong
    /// reply, a failure the server did not have (a handle it passed is
    /// closed instead).
    pub const WRONG_REPLY: u64 = 2;
    /// The reply reaches the client `arguments[1]` milliseconds late: a
    /// stall, past the client's deadline if it has a shorter one.
    pub const STALL: u64 = 3;
    /// The longest stall: 60 s.
    pub const STALL_MAX_MS: u64 = 60_000;
}

/// `operation_flags` of `MAP`: what the new memory allows. Reading is
/// always allowed; memory from `MAP` is never executable.
pub mod map_flags {
    pub const WRITE: u32 = 1 << 0;
    pub const ALL: u32 = WRITE;
}

/// What a submission asks for. A retired number is never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// Does nothing; completes with 0.
    Nop = 0,
    /// Ends the process with exit code `arguments[0] as i32`. No completion.
    Exit = 1,
    /// Completes with 0 after `arguments[0]` nanoseconds (or at that
    /// deadline, with `timeout_flags::ABSOLUTE`); `-ECANCELED` if cancelled.
    /// With `timeout_flags::MULTISHOT` it repeats (the multishot example).
    Timeout = 2,
    /// Limits the previous submission in its LINK chain: if that one has
    /// not completed by the deadline it is cancelled and this completes with
    /// `-ETIME`; otherwise this completes with `-ECANCELED`.
    LinkTimeout = 3,
    /// Maps `length` bytes of zeroed memory at `address` (page aligned,
    /// inside `[MAP_BASE, MAP_LIMIT)`); completes with 0.
    Map = 4,
    /// Unmaps `length` bytes at `address`, all of it memory from `MAP`.
    Unmap = 5,
    /// Closes `handle`.
    Close = 6,
    /// Cancels the pending submission whose `user_data` is `arguments[0]`:
    /// it completes with `-ECANCELED` and this with 0, or this completes
    /// with `-ENOENT` when nothing pending has that `user_data`.
    Cancel = 7,
    /// Writes `length` bytes at `address` to the kernel log, as one piece;
    /// completes with the number of bytes written. (Until the console
    /// server exists this is how programs print.)
    Log = 8,
    /// Turns kernel SQ polling on (`arguments[0]` = idle time in
    /// microseconds before the poller sleeps, at least 1) or off (0).
    SqPoll = 9,
    /// Reports a number about the system: `arguments[0]` is a
    /// [`SystemValue`]; completes with the value (saturated to `i32::MAX`).
    SystemInfo = 10,

    // Server side: taking and answering forwarded requests.
    /// Multishot: takes requests sent to the endpoint behind `handle` (a
    /// service handle). `address`/`length`: an array of `length / 64`
    /// message slots (at most 64) where each request is written as a
    /// [`RequestMessage`]; each completion's result is the slot it went in,
    /// flagged `MORE`. A slot is busy until the request in it is answered.
    Receive = 11,
    /// Answers forwarded request `arguments[0]` with the result in
    /// `arguments[1]`, sign-extended to 64 bits (an `i32` stored as `i64`;
    /// anything outside `i32` is `-EINVAL`): that becomes the client's
    /// completion, and the
    /// request's slot is free for the next one (commit-and-fetch). With
    /// `handle` non-zero, that handle moves from the server to the client,
    /// and the client's result is its number there. Completes with 0, or
    /// `-ENOENT` if the request is not one of this server's pending ones.
    Reply = 12,
    /// Copies from forwarded request `arguments[0]`'s grant, at `offset`,
    /// into this process's buffer `address`/`length`; completes with the
    /// number of bytes copied (all of them: a copy that would leave the
    /// grant is refused whole with `-EFAULT`, never shortened). Only while
    /// the request is pending (`-ENOENT`; `-ECANCELED` if the client gave
    /// up), only for a grant the client lets the server read (`-EPERM`).
    CopyIn = 13,
    /// Copies this process's buffer `address`/`length` into forwarded
    /// request `arguments[0]`'s grant at `offset`; the mirror of `CopyIn`,
    /// for a grant the client lets the server write.
    CopyOut = 14,
    /// Makes a new client handle, in the caller's table, to the endpoint of
    /// service handle `handle`, carrying badge `arguments[0]` (the server
    /// sees it in every request sent through that handle). Completes with
    /// the new handle.
    Mint = 15,

    // Drivers: interrupts and device registers.
    /// Multishot: one completion per interrupt on the line behind IRQ
    /// handle `handle`, flagged `MORE`. The line stays masked after each
    /// interrupt until `IRQ_ACK`.
    IrqWait = 16,
    /// Unmasks the line behind IRQ handle `handle` again.
    IrqAck = 17,
    /// Maps the registers of the device behind device handle `handle` at
    /// `address` (page aligned, in the map area): device memory, read and
    /// write, never executable. Completes with the offset of the first
    /// register within the first page. With a boot-image handle instead,
    /// maps the boot image (the initrd, a cpio archive) there, read only,
    /// and completes with its size in bytes.
    MapDevice = 18,
    /// Reads the kernel log (needs a kernel-log handle in `handle`):
    /// completes, once there is some, with up to `length` bytes copied to
    /// `address`. While a process reads it, the kernel stops writing its
    /// log to the UART itself (see `docs/servers.md`): the console server
    /// prints it.
    LogRead = 19,
    /// Powers the machine off (needs a power handle in `handle`): the
    /// shell's `shutdown`. Does not complete when it works; `-EPERM` for
    /// another handle.
    PowerOff = 20,

    // Processes (`docs/spawn.md`): building one, waiting for it, ending it.
    /// Makes a new, empty process called by the buffer `address`/`length`
    /// (1 to 31 bytes of UTF-8); needs a spawner handle in `handle` (the
    /// proc server's, and init's). Completes with a process handle to it.
    /// Nothing of it runs until `PROCESS_START`; closing the handle before
    /// then throws it away, frames and all.
    ProcessCreate = 21,
    /// Maps `arguments[0]` bytes of new memory at `offset` (inside the
    /// program area `[PROGRAM_BASE, STARTUP_ADDRESS)`; the pages it touches
    /// are mapped whole, zero around it) in the
    /// unstarted process behind `handle`, filled with the `length` bytes of
    /// the caller's buffer at `address` and zeros after them;
    /// `operation_flags` are [`process_map_flags`] (never both). Pages
    /// already mapped there: `-EEXIST`, and nothing changes.
    ProcessMap = 22,
    /// Copies handle `arguments[0]` into the unstarted process behind
    /// `handle`; completes with its number there. With `arguments[1]`
    /// non-zero, the handle is not the caller's but the client's of
    /// forwarded request `arguments[1]` (pending, delivered to the caller),
    /// and must be one the client listed in that request's `arguments`
    /// (`SPAWN`'s handles); `-EPERM` otherwise.
    ProcessGive = 23,
    /// Starts the unstarted process behind `handle` at entry point
    /// `offset`: the kernel maps its stack, ring and startup page, fills
    /// the startup page with the buffer `address`/`length` (a
    /// [`StartupBlock`] and, at [`STARTUP_ARGUMENTS_OFFSET`], the argument
    /// text; the kernel sets `abi_version` and `ring` itself), and lets it
    /// run. Completes with its process id.
    ProcessStart = 24,
    /// Completes when the process behind `handle` has ended (at once if it
    /// has): with its exit code's low 8 bits (0 to 255), or
    /// [`WAIT_KILLED`] if it was killed (it faulted, or `KILL`). The
    /// buffer `address`/`length`, if any, gets why it ended, in words
    /// (for example `killed: data abort ...`), cut to fit, no NUL;
    /// `offset` is not used.
    Wait = 25,
    /// Ends the process behind `handle` (it is reported as killed), and,
    /// as it is torn down, every process it holds a handle to, and theirs:
    /// a killed shell script takes the programs it started with it. (A
    /// process that exits or faults leaves its children running.)
    Kill = 26,
    /// Completes with the id of the process behind `handle` (0 while it is
    /// unstarted).
    ProcessInfo = 27,
    /// Fills the buffer with one [`ProcessRecord`] per live process, in id
    /// order, as many as fit; completes with how many it wrote (`ps`).
    ProcessList = 28,
    /// Makes a new endpoint called by the buffer (1 to 16 bytes), served by
    /// the caller; completes with its service handle (`MINT` makes client
    /// handles to it). How init sets up the servers of the system manifest.
    EndpointCreate = 29,

    // Drivers that move data by DMA (`docs/drivers.md`).
    /// Maps `length` bytes (whole pages, at most [`DMA_MAX`]) of new zeroed
    /// memory at `address` (page aligned, in the map area), read and
    /// write, in physically contiguous frames a device may read and write
    /// itself; needs a DMA handle in `handle`. Completes with the physical
    /// address of the first byte divided by [`PAGE_SIZE`] (a frame number:
    /// a physical address does not fit the result). `UNMAP` gives it back,
    /// and so does the process's end.
    DmaMap = 30,

    // Fault injection (`docs/supervision.md`), for tests: only when the
    // kernel was booted with `faults` on its command line.
    /// Makes the server behind process handle `handle` fail its next
    /// reply (to a client other than process 1): `arguments[0]` says how ([`inject`]), `arguments[1]` is a
    /// stall's length in milliseconds (1 to [`inject::STALL_MAX_MS`], 0
    /// for the other kinds). Replaces a fault armed before and not yet
    /// used, and completes with 1 if there was one, else 0; `-EPERM` on a
    /// kernel booted without `faults`.
    Inject = 31,

    // Forwarded to the server behind `handle` (any opcode from 32 up).
    /// Read up to `length` bytes into `address` (a grant the server may
    /// write), from `offset` where that means something.
    Read = 32,
    /// Write `length` bytes from `address` (a grant the server may read).
    Write = 33,
    /// Server-defined control request: `arguments` say what.
    Control = 34,

    // File servers (`docs/fs.md`). A path travels in the buffer
    // `address`/`length` (a grant the server may read), without a NUL.
    /// Opens the path in the buffer with [`open_flags`] in
    /// `operation_flags`; completes with a new handle to the open file or
    /// directory.
    Open = 35,
    /// Fills the buffer (a grant the server may write) with a
    /// [`FileStatus`] of the open file behind the handle.
    Stat = 36,
    /// Fills the buffer (server may write) with whole [`DirectoryEntry`]
    /// records of the open directory behind the handle, from entry number
    /// `offset`; completes with the bytes filled, 0 past the last entry.
    Readdir = 37,
    /// Makes the directory at the path in the buffer.
    Mkdir = 38,
    /// Removes the file, or empty directory, at the path in the buffer.
    Unlink = 39,
    /// Renames: the buffer holds the old path, a NUL, the new path.
    Rename = 40,
    /// Tells the server the open file behind the handle is no longer used.
    /// The kernel sends one itself, with the handle's badge, when a client
    /// handle is closed or its process ends (`docs/servers.md`).
    Release = 41,

    // The proc server (`docs/spawn.md`).
    /// Starts a program: the buffer (a grant the server may read) holds
    /// its path, a NUL, then its argument text (each argument followed by
    /// a NUL; the first is the program's name). `arguments` name up to six
    /// of the client's handles for the child, two per word (low 32 bits
    /// first; 0 = none), in the order [`spawn_handles`] gives them roles.
    /// Completes with a process handle to the new child.
    Spawn = 42,

    /// Completes when everything written so far through the handle (an
    /// open file, a disk) is on stable storage: a file server writes out
    /// what it holds, a disk driver flushes the disk's write cache.
    Fsync = 43,
}

/// The most bytes one `DMA_MAP` maps.
pub const DMA_MAX: u32 = 1 << 20;

/// `SPAWN`'s handle slots: `arguments[i / 2]`, low half for even `i`. The
/// child's startup block names them in the same roles. One handle may be
/// listed in several slots (the console as all three streams): the child
/// gets it once, playing each of those roles.
pub mod spawn_handles {
    /// Its standard input: what it reads (the console, a file, a pipe).
    pub const STDIN: usize = 0;
    /// Its standard output: where `print!` writes.
    pub const STDOUT: usize = 1;
    /// Its standard error: where `eprint!` writes.
    pub const STDERR: usize = 2;
    /// Its file system.
    pub const FILE_SYSTEM: usize = 3;
    /// The proc server, to start programs itself.
    pub const PROCESSES: usize = 4;
    /// The right to power off.
    pub const POWER: usize = 5;
    /// How many slots.
    pub const COUNT: usize = 6;
    /// The set of slots `slot` alone (roles are sets of slots: bit `i` is
    /// slot `i`).
    pub const fn role(slot: usize) -> u8 {
        1 << slot
    }
    /// All three standard streams: how a console is given to a server or
    /// a program started on the kernel command line.
    pub const STREAMS: u8 = role(STDIN) | role(STDOUT) | role(STDERR);

    /// The handle in slot `slot` of `arguments`.
    pub const fn get(arguments: &[u64; 3], slot: usize) -> u32 {
        (arguments[slot / 2] >> ((slot % 2) * 32)) as u32
    }

    /// `arguments` with `handle` in slot `slot`.
    pub const fn set(mut arguments: [u64; 3], slot: usize, handle: u32) -> [u64; 3] {
        let shift = (slot % 2) * 32;
        arguments[slot / 2] =
            (arguments[slot / 2] & !(0xffff_ffff << shift)) | ((handle as u64) << shift);
        arguments
    }
}

/// `PROCESS_MAP`'s `operation_flags`: how the child may use the pages
/// (always readable).
pub mod process_map_flags {
    /// Writable (data).
    pub const WRITE: u32 = 1 << 0;
    /// Executable (code).
    pub const EXECUTE: u32 = 1 << 1;
}

/// `WAIT`'s result for a process that was killed rather than exited.
pub const WAIT_KILLED: i32 = 256;

/// One process, as `PROCESS_LIST` reports it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ProcessRecord {
    pub id: u32,
    /// [`process_state`].
    pub state: u8,
    /// Bytes of `name` in use.
    pub name_length: u8,
    /// With state [`process_state::WAITING`]: the opcode of what it waits
    /// for (`WAIT`: a child; `TIMEOUT`: asleep; a forwarded `READ`...;
    /// `RECEIVE`: requests to serve), the most telling of the operations it
    /// has going; 0 otherwise.
    pub waits_for: u8,
    pub reserved: u8,
    pub name: [u8; 24],
}

const _: () = assert!(core::mem::size_of::<ProcessRecord>() == 32);

/// `ProcessRecord::state`.
pub mod process_state {
    /// On the processor (the process asking, on one core).
    pub const RUNNING: u8 = 1;
    /// Being torn down.
    pub const ENDING: u8 = 2;
    /// Runnable, waiting for its turn on the processor.
    pub const READY: u8 = 3;
    /// Blocked in `ring_enter` until completions come
    /// (`ProcessRecord::waits_for` says for what).
    pub const WAITING: u8 = 4;
}

impl Opcode {
    /// For a forwarded operation, what the server may do with the
    /// client's buffer: `Some(true)` write it (it receives data), `Some(false)`
    /// read it (it carries data), `None` no buffer.
    pub const fn server_writes_buffer(self) -> Option<bool> {
        match self {
            Opcode::Read | Opcode::Stat | Opcode::Readdir => Some(true),
            Opcode::Write
            | Opcode::Open
            | Opcode::Mkdir
            | Opcode::Unlink
            | Opcode::Rename
            | Opcode::Spawn => Some(false),
            _ => None,
        }
    }
}

/// `OPEN`'s `operation_flags`.
pub mod open_flags {
    /// Will be read.
    pub const READ: u32 = 1 << 0;
    /// Will be written (a directory: `EISDIR`).
    pub const WRITE: u32 = 1 << 1;
    /// Create the file if it is missing.
    pub const CREATE: u32 = 1 << 2;
    /// Cut the file to length 0.
    pub const TRUNCATE: u32 = 1 << 3;
    /// Every `WRITE` goes to the end of the file, whatever its offset.
    pub const APPEND: u32 = 1 << 4;
    /// Must be a directory (`ENOTDIR` otherwise): for `READDIR`.
    pub const DIRECTORY: u32 = 1 << 5;
    /// With `CREATE`: `EEXIST` if it exists already.
    pub const EXCLUSIVE: u32 = 1 << 6;
    pub const ALL: u32 = (1 << 7) - 1;
}

/// What a file is (`FileStatus::kind`, `DirectoryEntry::kind`).
pub mod file_kind {
    pub const FILE: u8 = 1;
    pub const DIRECTORY: u8 = 2;
}

/// `STAT`'s answer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct FileStatus {
    /// Bytes in a file; entries in a directory.
    pub size: u64,
    /// [`file_kind`].
    pub kind: u8,
    pub reserved: [u8; 7],
}

const _: () = assert!(core::mem::size_of::<FileStatus>() == 16);

/// The head of one `READDIR` record; `name_length` bytes of name follow,
/// then zeros up to a multiple of 8 bytes ([`DirectoryEntry::record_size`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct DirectoryEntry {
    /// As in [`FileStatus::size`].
    pub size: u64,
    /// [`file_kind`].
    pub kind: u8,
    pub reserved: u8,
    pub name_length: u16,
    pub reserved2: u32,
}

const _: () = assert!(core::mem::size_of::<DirectoryEntry>() == 16);

impl DirectoryEntry {
    /// Bytes a record with a name of `name_length` bytes takes.
    pub const fn record_size(name_length: usize) -> usize {
        (core::mem::size_of::<DirectoryEntry>() + name_length).div_ceil(8) * 8
    }
}

/// Opcodes from this one up are forwarded to the server behind the
/// submission's handle; the kernel never interprets them beyond checking
/// the handle and the buffer ([`Opcode::server_writes_buffer`]).
pub const FIRST_FORWARDED_OPCODE: u8 = 32;

/// What a server finds in a message slot for each request (`RECEIVE`).
/// Never a client address: data moves only through `COPY_IN`/`COPY_OUT`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RequestMessage {
    /// Names the request in `REPLY`, `COPY_IN` and `COPY_OUT`.
    pub request: u64,
    /// The badge of the client handle the request came through.
    pub badge: u64,
    /// The client's opcode (32 or more).
    pub opcode: u8,
    /// [`grant_flags`]: what the server may do with the client's buffer.
    pub grant: u8,
    pub reserved: u16,
    /// The client's `length` (the grant's size, for `READ`/`WRITE`).
    pub length: u32,
    /// The client's `operation_flags`.
    pub operation_flags: u32,
    /// The process id of the client (0 for a `RELEASE`, which the kernel
    /// sends). Clients that share a badge (copies of one handle) are told
    /// apart by it, so a server can bound what each one holds.
    pub client: u32,
    /// The client's `offset`.
    pub offset: u64,
    /// The client's `arguments`.
    pub arguments: [u64; 3],
}

impl RequestMessage {
    /// Bytes per message slot.
    pub const SIZE: u32 = 64;
}

const _: () = assert!(core::mem::size_of::<RequestMessage>() == RequestMessage::SIZE as usize);

/// `RequestMessage::grant`.
pub mod grant_flags {
    /// The server may read the client's buffer (`COPY_IN`): a `WRITE`.
    pub const READ: u8 = 1 << 0;
    /// The server may write the client's buffer (`COPY_OUT`): a `READ`.
    pub const WRITE: u8 = 1 << 1;
}

/// The most message slots one `RECEIVE` may have.
pub const RECEIVE_SLOTS_MAX: u32 = 64;

impl TryFrom<u8> for Opcode {
    type Error = Errno;
    fn try_from(value: u8) -> Result<Opcode, Errno> {
        Ok(match value {
            0 => Opcode::Nop,
            1 => Opcode::Exit,
            2 => Opcode::Timeout,
            3 => Opcode::LinkTimeout,
            4 => Opcode::Map,
            5 => Opcode::Unmap,
            6 => Opcode::Close,
            7 => Opcode::Cancel,
            8 => Opcode::Log,
            9 => Opcode::SqPoll,
            10 => Opcode::SystemInfo,
            11 => Opcode::Receive,
            12 => Opcode::Reply,
            13 => Opcode::CopyIn,
            14 => Opcode::CopyOut,
            15 => Opcode::Mint,
            16 => Opcode::IrqWait,
            17 => Opcode::IrqAck,
            18 => Opcode::MapDevice,
            19 => Opcode::LogRead,
            20 => Opcode::PowerOff,
            21 => Opcode::ProcessCreate,
            22 => Opcode::ProcessMap,
            23 => Opcode::ProcessGive,
            24 => Opcode::ProcessStart,
            25 => Opcode::Wait,
            26 => Opcode::Kill,
            27 => Opcode::ProcessInfo,
            28 => Opcode::ProcessList,
            29 => Opcode::EndpointCreate,
            30 => Opcode::DmaMap,
            31 => Opcode::Inject,
            32 => Opcode::Read,
            33 => Opcode::Write,
            34 => Opcode::Control,
            35 => Opcode::Open,
            36 => Opcode::Stat,
            37 => Opcode::Readdir,
            38 => Opcode::Mkdir,
            39 => Opcode::Unlink,
            40 => Opcode::Rename,
            41 => Opcode::Release,
            42 => Opcode::Spawn,
            43 => Opcode::Fsync,
            _ => return Err(Errno::InvalidArgument),
        })
    }
}

/// What `SYSTEM_INFO` can report (`arguments[0]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SystemValue {
    /// Free physical frames (4 KiB each).
    FreeFrames = 0,
    /// This process's id.
    ProcessId = 1,
    /// How many times this process has called `ring_enter` so far (to see
    /// that kernel SQ polling saves system calls).
    SystemCalls = 2,
    /// Physical frames (4 KiB each) of RAM the kernel manages, free or not.
    TotalFrames = 3,
    /// Whole seconds since the kernel started (a supervisor's clock for
    /// its restart limits).
    Seconds = 4,
    /// Bytes the kernel heap has allocated (to check that what a workload
    /// made is all given back).
    KernelHeapBytes = 5,
    /// Frames the live processes' address spaces own, pages and tables
    /// (those being built too): what is neither free nor theirs, the
    /// kernel holds.
    ProcessFrames = 6,
}

/// The longest `LOG` write.
pub const LOG_MAX: u32 = 4096;

/// Error numbers, as negative `Completion::result`s and `ring_enter`
/// results. The values are Linux's, so they read familiarly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    /// The handle lacks the right this needs.
    NotPermitted = 1,
    /// Not found (for example `CANCEL` of unknown `user_data`).
    NotFound = 2,
    /// Interrupted (the console's Ctrl-C ends a pending `READ` so).
    Interrupted = 4,
    /// Not a program this machine can run (`ENOEXEC`): not an AArch64
    /// ELF executable, or a truncated or malformed one.
    NotExecutable = 8,
    /// No such process (`ESRCH`): `KILL` of a process not started.
    NoSuchProcess = 3,
    /// The device failed to read or write (`EIO`).
    Io = 5,
    /// A bad handle.
    BadHandle = 9,
    /// No such device (`ENODEV`): the machine lacks the disk a system
    /// manifest grants.
    NoSuchDevice = 19,
    /// No room left on the device (`ENOSPC`).
    NoSpace = 28,
    /// A change to the system's programs, `/bin`, which its file servers
    /// keep read-only (`EROFS`).
    ReadOnly = 30,
    /// A file would grow past what its file server allows (`EFBIG`).
    FileTooBig = 27,
    /// A `WRITE` to a pipe whose every read end is closed (`EPIPE`).
    BrokenPipe = 32,
    /// Out of memory.
    OutOfMemory = 12,
    /// An address the caller does not own, or a range that wraps.
    Fault = 14,
    /// No room: the CQ has no free slot for another request.
    Busy = 16,
    /// Something is already there (for example `MAP` over mapped memory,
    /// or a file where one is to be created).
    Exists = 17,
    /// A path goes through something that is not a directory, or a
    /// directory operation names a file.
    NotADirectory = 20,
    /// A file operation (writing, say) names a directory.
    IsADirectory = 21,
    /// A name longer than 255 bytes, or a path longer than 1024.
    NameTooLong = 36,
    /// Removing (or renaming over) a directory that still has entries.
    NotEmpty = 39,
    /// A bad argument: unknown opcode or flag, non-zero reserved field, ...
    InvalidArgument = 22,
    /// A timer ran out.
    TimedOut = 62,
    /// Cancelled (by `CANCEL`, a failed link, or a link timeout).
    Cancelled = 125,
    /// The server behind the handle has died (Linux's `EOWNERDEAD` number).
    ServerDead = 130,
}

impl Errno {
    /// The value a completion carries: `-(self as i32)`.
    pub const fn result(self) -> i32 {
        -(self as i32)
    }

    /// The error a negative result stands for, if it is one of ours.
    pub fn from_result(result: i32) -> Option<Errno> {
        const ALL: [Errno; 24] = [
            Errno::Io,
            Errno::ReadOnly,
            Errno::BrokenPipe,
            Errno::NoSuchDevice,
            Errno::NoSpace,
            Errno::FileTooBig,
            Errno::NotPermitted,
            Errno::NotExecutable,
            Errno::NoSuchProcess,
            Errno::NotADirectory,
            Errno::IsADirectory,
            Errno::NameTooLong,
            Errno::NotEmpty,
            Errno::Interrupted,
            Errno::ServerDead,
            Errno::NotFound,
            Errno::BadHandle,
            Errno::OutOfMemory,
            Errno::Fault,
            Errno::Busy,
            Errno::Exists,
            Errno::InvalidArgument,
            Errno::TimedOut,
            Errno::Cancelled,
        ];
        ALL.into_iter().find(|errno| errno.result() == result)
    }

    /// What went wrong, in words, as programs print it (`strerror`).
    pub fn description(self) -> &'static str {
        match self {
            Errno::NotPermitted => "Operation not permitted",
            Errno::NotFound => "No such file or directory",
            Errno::Interrupted => "Interrupted",
            Errno::NotExecutable => "Exec format error",
            Errno::NoSuchProcess => "No such process",
            Errno::BadHandle => "Bad handle",
            Errno::Io => "Input/output error",
            Errno::NoSuchDevice => "No such device",
            Errno::NoSpace => "No space left on device",
            Errno::ReadOnly => "Read-only file system",
            Errno::FileTooBig => "File too large",
            Errno::BrokenPipe => "Broken pipe",
            Errno::OutOfMemory => "Out of memory",
            Errno::Fault => "Bad address",
            Errno::Busy => "Busy",
            Errno::Exists => "File exists",
            Errno::NotADirectory => "Not a directory",
            Errno::IsADirectory => "Is a directory",
            Errno::InvalidArgument => "Invalid argument",
            Errno::NameTooLong => "File name too long",
            Errno::NotEmpty => "Directory not empty",
            Errno::TimedOut => "Timed out",
            Errno::Cancelled => "Cancelled",
            Errno::ServerDead => "The server has died",
        }
    }

    /// The C name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Errno::NotFound => "ENOENT",
            Errno::BadHandle => "EBADF",
            Errno::Io => "EIO",
            Errno::NoSuchDevice => "ENODEV",
            Errno::NoSpace => "ENOSPC",
            Errno::ReadOnly => "EROFS",
            Errno::FileTooBig => "EFBIG",
            Errno::BrokenPipe => "EPIPE",
            Errno::OutOfMemory => "ENOMEM",
            Errno::Fault => "EFAULT",
            Errno::Busy => "EBUSY",
            Errno::Exists => "EEXIST",
            Errno::NotADirectory => "ENOTDIR",
            Errno::IsADirectory => "EISDIR",
            Errno::NameTooLong => "ENAMETOOLONG",
            Errno::NotEmpty => "ENOTEMPTY",
            Errno::InvalidArgument => "EINVAL",
            Errno::TimedOut => "ETIME",
            Errno::Cancelled => "ECANCELED",
            Errno::NotPermitted => "EPERM",
            Errno::Interrupted => "EINTR",
            Errno::NotExecutable => "ENOEXEC",
            Errno::NoSuchProcess => "ESRCH",
            Errno::ServerDead => "ESRVDEAD",
        }
    }
}

/// What a process finds at [`STARTUP_ADDRESS`] when it starts.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct StartupBlock {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// How many arguments (`argv`, the program's name first).
    pub argument_count: u32,
    /// The ring region ([`RING_ADDRESS`]).
    pub ring: u64,
    /// Bytes of argument text: the arguments, each followed by a NUL,
    /// starting at [`STARTUP_ARGUMENTS_OFFSET`] in the page.
    pub arguments_length: u32,
    /// How many of `handles` are valid.
    pub handle_count: u32,
    /// Handles the process starts with, in the order it was given them.
    pub handles: [u32; 12],
    /// Standard input (also among `handles`), or 0: none (reads see the
    /// end at once). The console, an open file or a pipe's read end.
    pub stdin: u32,
    /// Standard output, or 0: where the runtime's `print!` goes (with 0,
    /// the kernel log).
    pub stdout: u32,
    /// Standard error, or 0: where `eprint!` goes (with 0, the kernel
    /// log).
    pub stderr: u32,
    /// The file server's handle (also among `handles`; the one given as
    /// `+use=fs`), or 0: where paths are opened (`docs/fs.md`).
    pub file_system: u32,
    /// The proc server's handle (`+use=proc`), or 0: where programs are
    /// started (`docs/spawn.md`).
    pub processes: u32,
    /// A power handle (`+power`), or 0.
    pub power: u32,
}

const _: () = assert!(core::mem::size_of::<StartupBlock>() == 96);

/// One named service in the startup page: a client handle to a server and
/// the name of the role it plays (`pipe`, `kv`, ...), found with
/// `runtime::service`. The table follows the block, at
/// [`STARTUP_SERVICES_OFFSET`], [`STARTUP_SERVICES_MAX`] entries at most,
/// ended by the first entry with handle 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct StartupService {
    /// The role's name, NUL-padded (so at most [`SERVICE_NAME_MAX`] bytes).
    pub name: [u8; SERVICE_NAME_MAX],
    /// The client handle (also among the block's `handles`).
    pub handle: u32,
}

/// The longest service name.
pub const SERVICE_NAME_MAX: usize = 12;
const _: () = assert!(core::mem::size_of::<StartupService>() == 16);
/// Where the service table starts in the startup page.
pub const STARTUP_SERVICES_OFFSET: usize = 96;
/// The most services a process starts with.
pub const STARTUP_SERVICES_MAX: usize = 10;
const _: () =
    assert!(STARTUP_SERVICES_OFFSET + STARTUP_SERVICES_MAX * 16 <= STARTUP_ARGUMENTS_OFFSET);

impl StartupService {
    /// An entry for `handle` named `name`; `None` if the name is empty, too
    /// long, or holds a NUL.
    pub fn new(name: &str, handle: u32) -> Option<StartupService> {
        if name.is_empty() || name.len() > SERVICE_NAME_MAX || name.as_bytes().contains(&0) {
            return None;
        }
        let mut entry = StartupService {
            name: [0; SERVICE_NAME_MAX],
            handle,
        };
        entry.name[..name.len()].copy_from_slice(name.as_bytes());
        Some(entry)
    }

    /// The name, without its padding.
    pub fn name(&self) -> &[u8] {
        let length = self
            .name
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(SERVICE_NAME_MAX);
        &self.name[..length]
    }
}
/// Where the argument text starts in the startup page.
pub const STARTUP_ARGUMENTS_OFFSET: usize = 256;
/// The most argument text a process can be started with.
pub const STARTUP_ARGUMENTS_MAX: usize = PAGE_SIZE as usize - STARTUP_ARGUMENTS_OFFSET;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_round_trips_through_bytes() {
        let submission = Submission {
            opcode: Opcode::Timeout as u8,
            flags: submission_flags::LINK,
            address: 0x1234,
            user_data: 0xfeed_beef,
            arguments: [1, 2, 3],
            ..Submission::default()
        };
        let bytes = submission.as_bytes();
        assert_eq!(bytes.len(), 64);
        assert_eq!(bytes[0], 2);
        assert_eq!(&bytes[32..40], &0xfeed_beefu64.to_le_bytes());
        assert_eq!(Submission::read_from_bytes(bytes).unwrap(), submission);
    }

    #[test]
    fn every_opcode_number_round_trips_and_others_are_refused() {
        for value in 0..=u8::MAX {
            match Opcode::try_from(value) {
                Ok(opcode) => assert_eq!(opcode as u8, value),
                Err(error) => {
                    assert_eq!(error, Errno::InvalidArgument);
                    assert!((20..32).contains(&value) || value > 34);
                }
            }
        }
    }

    #[test]
    fn errno_results_are_negative_and_named() {
        assert_eq!(Errno::InvalidArgument.result(), -22);
        assert_eq!(Errno::from_result(-125), Some(Errno::Cancelled));
        assert_eq!(Errno::from_result(-1), Some(Errno::NotPermitted));
        assert_eq!(Errno::from_result(-6), None);
        assert_eq!(Errno::Fault.name(), "EFAULT");
        for (errno, number, name) in [
            (Errno::NoSuchProcess, 3, "ESRCH"),
            (Errno::NotExecutable, 8, "ENOEXEC"),
            (Errno::NotADirectory, 20, "ENOTDIR"),
            (Errno::IsADirectory, 21, "EISDIR"),
            (Errno::NameTooLong, 36, "ENAMETOOLONG"),
            (Errno::NotEmpty, 39, "ENOTEMPTY"),
            (Errno::Io, 5, "EIO"),
            (Errno::NoSuchDevice, 19, "ENODEV"),
            (Errno::NoSpace, 28, "ENOSPC"),
            (Errno::ReadOnly, 30, "EROFS"),
            (Errno::FileTooBig, 27, "EFBIG"),
        ] {
            assert_eq!(Errno::from_result(-number), Some(errno));
            assert_eq!(errno.name(), name);
        }
    }

    #[test]
    fn ring_region_fits_its_arrays() {
        assert_eq!(CQ_OFFSET, 64 + 64 * 64);
        assert_eq!(RING_SIZE, 2 * PAGE_SIZE);
    }
}
