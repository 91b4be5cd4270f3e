//! Typed constructors for submissions: one function per opcode.
//!
//! Filling in a 64-byte [`Submission`] by hand is easy to get wrong: each
//! operation uses a few fields and the kernel refuses (`-EINVAL`) any
//! submission whose unused fields are not zero. So, as liburing's
//! `io_uring_prep_*` functions do, this module builds them for you:
//!
//! ```
//! use libring::ops::{self, SubmissionOptions};
//!
//! // Sleep 1 ms, then (only if that worked) do nothing, tagged 7.
//! let sleep = ops::timeout(1_000_000).linked();
//! let after = ops::nop().with_user_data(7);
//! # let _ = (sleep, after);
//! ```
//!
//! The constructors come in four groups: kernel operations (`nop` to
//! `system_info`), the server side (`receive`, `reply`, `copy_in`,
//! `copy_out`, `mint`), drivers (`irq_wait`, `irq_ack`, `map_device`), and
//! requests forwarded to a server (`read`, `write`, `control`).
//!
//! # Invariants
//! - Every constructor starts from an all-zero submission and sets only the
//!   fields its operation uses, so reserved and unused fields are zero.
//! - Nothing here touches memory: a submission is a plain value until it is
//!   pushed onto a ring (see [`crate::ring`]). One that names a buffer
//!   records only its address and length; the buffer must outlive the
//!   operation, which [`crate::ring::Ring::run`] makes sure of.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use crate::abi::{
    Opcode, RequestMessage, Submission, SystemValue, map_flags, submission_flags, timeout_flags,
};

/// An all-zero submission for `opcode`: the starting point of every
/// constructor below.
const fn blank(opcode: Opcode) -> Submission {
    Submission {
        opcode: opcode as u8,
        flags: 0,
        reserved: 0,
        handle: 0,
        address: 0,
        length: 0,
        operation_flags: 0,
        offset: 0,
        user_data: 0,
        arguments: [0; 3],
    }
}

/// A submission for `opcode` whose first argument word is `argument`.
const fn with_argument(opcode: Opcode, argument: u64) -> Submission {
    let mut submission = blank(opcode);
    submission.arguments[0] = argument;
    submission
}

/// `NOP`: does nothing and completes with 0. Useful to measure the ring
/// itself, or as a harmless member of a LINK chain.
pub const fn nop() -> Submission {
    blank(Opcode::Nop)
}

/// `EXIT`: ends the process with exit `code`. It has no completion; the
/// process is gone before one could be read.
pub const fn exit(code: i32) -> Submission {
    // The kernel reads the low 32 bits (`arguments[0] as i32`); widening
    // through `u32` keeps the upper half zero for a negative code too.
    with_argument(Opcode::Exit, code as u32 as u64)
}

/// `TIMEOUT`: completes with 0 after `nanoseconds`, or with `-ECANCELED`
/// if cancelled first.
pub const fn timeout(nanoseconds: u64) -> Submission {
    with_argument(Opcode::Timeout, nanoseconds)
}

/// `TIMEOUT` with the `ABSOLUTE` flag: completes with 0 when the system
/// clock (nanoseconds since boot) reaches `deadline_nanoseconds`.
pub const fn timeout_at(deadline_nanoseconds: u64) -> Submission {
    let mut submission = with_argument(Opcode::Timeout, deadline_nanoseconds);
    submission.operation_flags = timeout_flags::ABSOLUTE;
    submission
}

/// `TIMEOUT` with the `MULTISHOT` flag: completes every
/// `period_nanoseconds`, `count` times (0: until cancelled), each
/// completion but the last carrying `completion_flags::MORE`.
pub const fn timeout_multishot(period_nanoseconds: u64, count: u64) -> Submission {
    let mut submission = with_argument(Opcode::Timeout, period_nanoseconds);
    submission.arguments[1] = count;
    submission.operation_flags = timeout_flags::MULTISHOT;
    submission
}

/// `LINK_TIMEOUT`: put it right after a [`SubmissionOptions::linked`]
/// submission to give that one `nanoseconds` to finish. If it does not, it
/// is cancelled and this completes with `-ETIME`; otherwise this completes
/// with `-ECANCELED`.
pub const fn link_timeout(nanoseconds: u64) -> Submission {
    with_argument(Opcode::LinkTimeout, nanoseconds)
}

/// `MAP`: maps `length` bytes of zeroed memory at `address`. Both must be
/// page aligned and the range inside `[MAP_BASE, MAP_LIMIT)`. The memory is
/// always readable, writable only if `writable`, and never executable.
pub const fn map(address: u64, length: u32, writable: bool) -> Submission {
    let mut submission = blank(Opcode::Map);
    submission.address = address;
    submission.length = length;
    if writable {
        submission.operation_flags = map_flags::WRITE;
    }
    submission
}

/// `UNMAP`: unmaps `length` bytes at `address`, all of it memory from
/// [`map`].
pub const fn unmap(address: u64, length: u32) -> Submission {
    let mut submission = blank(Opcode::Unmap);
    submission.address = address;
    submission.length = length;
    submission
}

/// `CLOSE`: closes `handle`.
pub const fn close(handle: u32) -> Submission {
    let mut submission = blank(Opcode::Close);
    submission.handle = handle;
    submission
}

/// `CANCEL`: cancels the pending submission whose `user_data` is
/// `target_user_data`. That one completes with `-ECANCELED` and this with
/// 0, or this completes with `-ENOENT` if nothing pending has that
/// `user_data`.
pub const fn cancel(target_user_data: u64) -> Submission {
    with_argument(Opcode::Cancel, target_user_data)
}

/// `LOG`: writes `bytes` to the kernel log as one piece and completes with
/// the number of bytes written.
///
/// The submission only records where the bytes are (`address`, `length`);
/// the kernel copies them when it takes the submission. So `bytes` must
/// stay alive and unchanged until the ring has been submitted (with
/// [`crate::ring::Ring::submit`] or friends), which the borrow checker
/// cannot see. [`crate::ring::Ring::run`] does all of that in one call.
///
/// The kernel refuses more than [`crate::abi::LOG_MAX`] bytes with
/// `-EINVAL`; a slice longer than `u32::MAX` is recorded as `u32::MAX`
/// bytes, which it refuses too, rather than wrapping to a short length.
pub fn log(bytes: &[u8]) -> Submission {
    let mut submission = blank(Opcode::Log);
    // A user address is at most 48 bits, so a pointer always fits in u64.
    submission.address = bytes.as_ptr() as u64;
    submission.length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    submission
}

/// `SQ_POLL`: turns kernel submission-queue polling on, with the poller
/// going to sleep after `idle_microseconds` without work, or off (0). While
/// it is on, [`crate::ring::Ring::submit`] usually needs no system call.
pub const fn sq_poll(idle_microseconds: u64) -> Submission {
    with_argument(Opcode::SqPoll, idle_microseconds)
}

/// `SYSTEM_INFO`: completes with the number `value` names (saturated to
/// `i32::MAX`).
pub const fn system_info(value: SystemValue) -> Submission {
    with_argument(Opcode::SystemInfo, value as u64)
}

/// The length of a buffer as a submission records it. A slice longer than
/// `u32::MAX` bytes is recorded as its first `u32::MAX` bytes: a shorter
/// operation on the same buffer, never one reaching past its end.
fn buffer_length(length: usize) -> u32 {
    u32::try_from(length).unwrap_or(u32::MAX)
}

// --------------------------------------------------------- server side

/// `RECEIVE`: takes requests sent to the endpoint behind `service` (a
/// service handle), for as long as it runs (multishot). Each request is
/// written as a [`RequestMessage`] into one of the `slot_count` message
/// slots at `slots_address`, and completes this submission with the slot's
/// index, flagged `completion_flags::MORE`. A slot stays busy until its
/// request is answered with [`reply`].
///
/// The slots are written by the kernel long after this returns, so they
/// must stay alive, and be read only as the kernel finishes with them, for
/// as long as the `RECEIVE` runs; [`crate::server::Server`] does that
/// bookkeeping for you. More than [`crate::abi::RECEIVE_SLOTS_MAX`] slots
/// (or so many that the byte length overflows) are refused with `-EINVAL`.
pub const fn receive(service: u32, slots_address: u64, slot_count: u32) -> Submission {
    let mut submission = blank(Opcode::Receive);
    submission.handle = service;
    submission.address = slots_address;
    submission.length = slot_count.saturating_mul(RequestMessage::SIZE);
    submission
}

/// `REPLY`: answers forwarded request `request` with `result`, which
/// becomes the client's completion, and frees the request's message slot
/// for the next one. With `pass_handle` non-zero, that handle moves from
/// this process to the client, and the client's result is its number
/// there. Completes with 0, or `-ENOENT` if `request` is not pending here.
pub const fn reply(request: u64, result: i32, pass_handle: u32) -> Submission {
    let mut submission = with_argument(Opcode::Reply, request);
    // Sign-extended: the kernel takes `arguments[1]` as an i64 and refuses
    // (-EINVAL) one that does not fit an i32, so -22 must be all ones above.
    submission.arguments[1] = result as i64 as u64;
    submission.handle = pass_handle;
    submission
}

/// `COPY_IN`: copies up to `length` bytes from forwarded request
/// `request`'s grant, starting `offset` bytes into it, to this process's
/// buffer at `address`. Completes with the number of bytes copied. Only
/// while the request is pending, only inside the grant, and only if the
/// client let the server read it (`grant_flags::READ`, a `WRITE`).
pub const fn copy_in(request: u64, offset: u64, address: u64, length: u32) -> Submission {
    copy(Opcode::CopyIn, request, offset, address, length)
}

/// `COPY_OUT`: copies `length` bytes from this process's buffer at
/// `address` into forwarded request `request`'s grant, starting `offset`
/// bytes into it. Completes with the number of bytes copied. The mirror
/// of [`copy_in`], for a grant the client lets the server write
/// (`grant_flags::WRITE`, a `READ`).
pub const fn copy_out(request: u64, offset: u64, address: u64, length: u32) -> Submission {
    copy(Opcode::CopyOut, request, offset, address, length)
}

/// `COPY_IN` or `COPY_OUT`: they use the same fields.
const fn copy(opcode: Opcode, request: u64, offset: u64, address: u64, length: u32) -> Submission {
    let mut submission = with_argument(opcode, request);
    submission.offset = offset;
    submission.address = address;
    submission.length = length;
    submission
}

/// `MINT`: makes a new client handle, in this process's table, to the
/// endpoint of service handle `service`, carrying `badge`: the server sees
/// the badge in every request sent through the new handle, so it can tell
/// its clients apart. Completes with the new handle.
pub const fn mint(service: u32, badge: u64) -> Submission {
    let mut submission = with_argument(Opcode::Mint, badge);
    submission.handle = service;
    submission
}

// -------------------------------------------------------------- drivers

/// `IRQ_WAIT`: one completion per interrupt on the line behind IRQ handle
/// `handle`, each flagged `completion_flags::MORE` (multishot). After each
/// interrupt the line stays masked until [`irq_ack`].
pub const fn irq_wait(handle: u32) -> Submission {
    let mut submission = blank(Opcode::IrqWait);
    submission.handle = handle;
    submission
}

/// `IRQ_ACK`: unmasks the line behind IRQ handle `handle` again, once the
/// driver has dealt with the device (cleared its interrupt).
pub const fn irq_ack(handle: u32) -> Submission {
    let mut submission = blank(Opcode::IrqAck);
    submission.handle = handle;
    submission
}

/// `MAP_DEVICE`: maps the registers of the device behind device handle
/// `handle` at `address` (page aligned, inside `[MAP_BASE, MAP_LIMIT)`),
/// as device memory, read and write, never executable. Completes with the
/// offset of the first register within the first page: the registers are
/// at `address + result`.
pub const fn map_device(handle: u32, address: u64) -> Submission {
    let mut submission = blank(Opcode::MapDevice);
    submission.handle = handle;
    submission.address = address;
    submission
}

/// `DMA_MAP`: `length` bytes (whole pages, at most
/// [`crate::abi::DMA_MAX`]) of new zeroed memory at `address` (page
/// aligned, in the map area), physically contiguous, for a device to read
/// and write; needs the DMA handle `dma`. Completes with the physical
/// address of `address` divided by `PAGE_SIZE`.
pub const fn dma_map(dma: u32, address: u64, length: u32) -> Submission {
    let mut submission = blank(Opcode::DmaMap);
    submission.handle = dma;
    submission.address = address;
    submission.length = length;
    submission
}

// ------------------------------------- forwarded to the server behind a handle

/// `READ`: asks the server behind `handle` for up to `buffer.len()` bytes,
/// from `offset` where that means something (a file; the console ignores
/// it). Completes with the number of bytes read, 0 at end of file.
///
/// The kernel lends `buffer` to the server (a grant it may write) until
/// the server replies, long after this returns. So `buffer` must stay
/// alive, and untouched, until this submission's completion has been
/// read, which the borrow checker cannot see. [`crate::ring::Ring::run`]
/// does all of that in one call.
pub fn read(handle: u32, buffer: &mut [u8], offset: u64) -> Submission {
    let mut submission = blank(Opcode::Read);
    submission.handle = handle;
    // A user address is at most 48 bits, so a pointer always fits in u64.
    submission.address = buffer.as_mut_ptr() as u64;
    submission.length = buffer_length(buffer.len());
    submission.offset = offset;
    submission
}

/// `WRITE`: asks the server behind `handle` to take `bytes`, at `offset`
/// where that means something. Completes with the number of bytes
/// written.
///
/// As for [`read`], `bytes` is lent to the server until it replies, so it
/// must stay alive and unchanged until this submission's completion has
/// been read; [`crate::ring::Ring::run`] does that.
pub fn write(handle: u32, bytes: &[u8], offset: u64) -> Submission {
    let mut submission = blank(Opcode::Write);
    submission.handle = handle;
    submission.address = bytes.as_ptr() as u64;
    submission.length = buffer_length(bytes.len());
    submission.offset = offset;
    submission
}

/// `CONTROL`: a request whose meaning the server behind `handle` defines,
/// by `arguments` (the console's: `arguments[0]` 1 for raw input, 0 for
/// lines).
pub const fn control(handle: u32, arguments: [u64; 3]) -> Submission {
    let mut submission = blank(Opcode::Control);
    submission.handle = handle;
    submission.arguments = arguments;
    submission
}

/// `POWER_OFF`: powers the machine off, with the power handle `handle`.
pub const fn power_off(handle: u32) -> Submission {
    let mut submission = blank(Opcode::PowerOff);
    submission.handle = handle;
    submission
}

// ------------------------------------------- file servers (docs/fs.md)

/// A forwarded file-system request carrying `buffer` to or from the server.
fn with_buffer(opcode: Opcode, handle: u32, address: u64, length: usize) -> Submission {
    let mut submission = blank(opcode);
    submission.handle = handle;
    submission.address = address;
    submission.length = buffer_length(length);
    submission
}

/// `OPEN`: opens `path` (absolute, no NUL) on the file server behind
/// `handle` with [`crate::abi::open_flags`]; completes with a new handle
/// to the open file. `path` is lent to the server until the completion.
pub fn open(handle: u32, path: &[u8], flags: u32) -> Submission {
    let mut submission = with_buffer(Opcode::Open, handle, path.as_ptr() as u64, path.len());
    submission.operation_flags = flags;
    submission
}

/// `STAT`: a [`crate::abi::FileStatus`] of the open file behind `handle`
/// into `status` (lent until the completion).
pub fn stat(handle: u32, status: &mut crate::abi::FileStatus) -> Submission {
    let address = core::ptr::from_mut(status) as u64;
    with_buffer(
        Opcode::Stat,
        handle,
        address,
        size_of::<crate::abi::FileStatus>(),
    )
}

/// `READDIR`: [`crate::abi::DirectoryEntry`] records of the open directory
/// behind `handle`, from entry number `first`, into `buffer` (lent until
/// the completion); completes with the bytes filled, 0 past the end.
pub fn readdir(handle: u32, buffer: &mut [u8], first: u64) -> Submission {
    let mut submission = with_buffer(
        Opcode::Readdir,
        handle,
        buffer.as_mut_ptr() as u64,
        buffer.len(),
    );
    submission.offset = first;
    submission
}

/// `MKDIR`: makes the directory `path`.
pub fn mkdir(handle: u32, path: &[u8]) -> Submission {
    with_buffer(Opcode::Mkdir, handle, path.as_ptr() as u64, path.len())
}

/// `UNLINK`: removes the file or empty directory `path`.
pub fn unlink(handle: u32, path: &[u8]) -> Submission {
    with_buffer(Opcode::Unlink, handle, path.as_ptr() as u64, path.len())
}

/// `RENAME`: `paths` is the old path, a NUL, and the new path.
pub fn rename(handle: u32, paths: &[u8]) -> Submission {
    with_buffer(Opcode::Rename, handle, paths.as_ptr() as u64, paths.len())
}

/// `RELEASE`: the open file behind `handle` is no longer needed. `CLOSE`
/// of the handle sends one too (the kernel does), so this is rarely needed.
pub const fn release(handle: u32) -> Submission {
    let mut submission = blank(Opcode::Release);
    submission.handle = handle;
    submission
}

/// `FSYNC`: completes when everything written through `handle` (an open
/// file, a disk) is on stable storage.
pub const fn fsync(handle: u32) -> Submission {
    let mut submission = blank(Opcode::Fsync);
    submission.handle = handle;
    submission
}

// ------------------------------------- processes (docs/spawn.md)

/// `PROCESS_CREATE`: a new, empty, unstarted process called `name`, with
/// the spawner handle `spawner`; completes with a process handle to it.
/// It may hold the kernel's default memory budget (32 MiB).
pub fn process_create(spawner: u32, name: &[u8]) -> Submission {
    process_create_with_budget(spawner, name, 0)
}

/// `PROCESS_CREATE` with a memory budget: the new process may hold at
/// most `memory_bytes` of memory, its page tables included (0: the
/// default, 32 MiB; `docs/trust.md`).
pub fn process_create_with_budget(spawner: u32, name: &[u8], memory_bytes: u64) -> Submission {
    let mut submission = with_buffer(
        Opcode::ProcessCreate,
        spawner,
        name.as_ptr() as u64,
        name.len(),
    );
    submission.offset = memory_bytes;
    submission
}

/// `PROCESS_MAP`: `memory_bytes` of new memory at `destination` in the
/// unstarted process behind `process`, starting with `bytes` (zeros after
/// them), with [`crate::abi::process_map_flags`] `flags`.
pub fn process_map(
    process: u32,
    bytes: &[u8],
    destination: u64,
    memory_bytes: u64,
    flags: u32,
) -> Submission {
    let mut submission = with_buffer(
        Opcode::ProcessMap,
        process,
        bytes.as_ptr() as u64,
        bytes.len(),
    );
    submission.offset = destination;
    submission.operation_flags = flags;
    submission.arguments[0] = memory_bytes;
    submission
}

/// `PROCESS_GIVE`: copies `handle` into the unstarted process behind
/// `process`: the caller's own handle (`request` 0), or the client's of
/// forwarded request `request` (one the client listed). Completes with its
/// number in the child.
pub const fn process_give(process: u32, handle: u32, request: u64) -> Submission {
    let mut submission = blank(Opcode::ProcessGive);
    submission.handle = process;
    submission.arguments = [handle as u64, request, 0];
    submission
}

/// `PROCESS_START`: starts the unstarted process behind `process` at
/// `entry`, its startup page filled from `startup` (a
/// [`crate::abi::StartupBlock`], and the argument text at
/// [`crate::abi::STARTUP_ARGUMENTS_OFFSET`]). Completes with its id.
pub fn process_start(process: u32, startup: &[u8], entry: u64) -> Submission {
    let mut submission = with_buffer(
        Opcode::ProcessStart,
        process,
        startup.as_ptr() as u64,
        startup.len(),
    );
    submission.offset = entry;
    submission
}

/// `WAIT`: completes when the process behind `process` has ended, with its
/// exit code (0 to 255) or [`crate::abi::WAIT_KILLED`]; `reason` (lent
/// until then; may be empty) gets why, in words.
pub fn wait(process: u32, reason: &mut [u8]) -> Submission {
    with_buffer(
        Opcode::Wait,
        process,
        reason.as_mut_ptr() as u64,
        reason.len(),
    )
}

/// `KILL`: ends the process behind `process`.
pub const fn kill(process: u32) -> Submission {
    let mut submission = blank(Opcode::Kill);
    submission.handle = process;
    submission
}

/// `INJECT`: makes the server behind `process` fail its next reply, the
/// way `kind` says ([`crate::abi::inject`]); `stall_ms` for a stall.
pub const fn inject(process: u32, kind: u64, stall_ms: u64) -> Submission {
    let mut submission = blank(Opcode::Inject);
    submission.handle = process;
    submission.arguments = [kind, stall_ms, 0];
    submission
}

/// `PROCESS_INFO`: completes with the id of the process behind `process`.
pub const fn process_info(process: u32) -> Submission {
    let mut submission = blank(Opcode::ProcessInfo);
    submission.handle = process;
    submission
}

/// `PROCESS_LIST`: [`crate::abi::ProcessRecord`]s of the live processes
/// into `buffer`; completes with how many.
pub fn process_list(buffer: &mut [u8]) -> Submission {
    with_buffer(
        Opcode::ProcessList,
        0,
        buffer.as_mut_ptr() as u64,
        buffer.len(),
    )
}

/// `ENDPOINT_CREATE`: a new endpoint called `name`, served by the caller;
/// completes with its service handle.
pub fn endpoint_create(name: &[u8]) -> Submission {
    with_buffer(Opcode::EndpointCreate, 0, name.as_ptr() as u64, name.len())
}

/// `SPAWN`: asks the proc server behind `processes` to start a program.
/// `request` is its path, a NUL, then the argument text (each argument
/// NUL-terminated, the program's name first); `handles` go to the child in
/// the roles of [`crate::abi::spawn_handles`] (0: none). Completes with a
/// process handle. `request` is lent to the server until the completion.
pub fn spawn(
    processes: u32,
    request: &[u8],
    handles: [u32; crate::abi::spawn_handles::COUNT],
) -> Submission {
    let mut submission = with_buffer(
        Opcode::Spawn,
        processes,
        request.as_ptr() as u64,
        request.len(),
    );
    for (slot, handle) in handles.into_iter().enumerate() {
        submission.arguments = crate::abi::spawn_handles::set(submission.arguments, slot, handle);
    }
    submission
}

/// Chainable adjustments to a submission, so a whole request reads as one
/// expression: `ops::nop().with_user_data(3).linked()`.
pub trait SubmissionOptions {
    /// Sets `user_data`, the caller's tag that comes back unchanged in the
    /// completion. Values with [`crate::ring::RESERVED_USER_DATA`] set
    /// belong to the ring itself; see there.
    fn with_user_data(self, user_data: u64) -> Self;
    /// Sets the `LINK` flag: the next submission runs only after this one
    /// succeeds, and is cancelled if it fails.
    fn linked(self) -> Self;
    /// Sets the `SKIP_SUCCESS` flag: no completion unless it fails.
    fn skip_success(self) -> Self;
}

impl SubmissionOptions for Submission {
    fn with_user_data(mut self, user_data: u64) -> Submission {
        self.user_data = user_data;
        self
    }

    fn linked(mut self) -> Submission {
        self.flags |= submission_flags::LINK;
        self
    }

    fn skip_success(mut self) -> Submission {
        self.flags |= submission_flags::SKIP_SUCCESS;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{Errno, FIRST_FORWARDED_OPCODE, MAP_BASE, PAGE_SIZE};

    /// What `opcode` with every other field zero looks like.
    fn zero(opcode: Opcode) -> Submission {
        Submission {
            opcode: opcode as u8,
            ..Submission::default()
        }
    }

    #[test]
    fn argument_only_operations_set_just_the_first_word() {
        let cases = [
            (nop(), Opcode::Nop, 0),
            (exit(3), Opcode::Exit, 3),
            (timeout(1_500), Opcode::Timeout, 1_500),
            (link_timeout(99), Opcode::LinkTimeout, 99),
            (cancel(0xfeed), Opcode::Cancel, 0xfeed),
            (sq_poll(250), Opcode::SqPoll, 250),
            (system_info(SystemValue::ProcessId), Opcode::SystemInfo, 1),
            (system_info(SystemValue::FreeFrames), Opcode::SystemInfo, 0),
        ];
        for (submission, opcode, argument) in cases {
            let mut expected = zero(opcode);
            expected.arguments[0] = argument;
            assert_eq!(submission, expected, "{opcode:?}");
        }
    }

    #[test]
    fn exit_code_reads_back_as_the_same_i32() {
        for code in [0, 1, 101, -1, i32::MIN, i32::MAX] {
            let submission = exit(code);
            assert_eq!(submission.arguments[0] as i32, code);
            assert_eq!(submission.arguments[0] >> 32, 0, "upper half stays zero");
        }
    }

    #[test]
    fn timeout_at_sets_the_absolute_flag() {
        let mut expected = zero(Opcode::Timeout);
        expected.arguments[0] = 7_000;
        expected.operation_flags = timeout_flags::ABSOLUTE;
        assert_eq!(timeout_at(7_000), expected);
    }

    #[test]
    fn timeout_multishot_sets_period_count_and_flag() {
        let mut expected = zero(Opcode::Timeout);
        expected.arguments = [1_000, 5, 0];
        expected.operation_flags = timeout_flags::MULTISHOT;
        assert_eq!(timeout_multishot(1_000, 5), expected);
    }

    #[test]
    fn map_and_unmap_use_address_and_length() {
        let length = 2 * PAGE_SIZE as u32;
        let mut expected = zero(Opcode::Map);
        expected.address = MAP_BASE;
        expected.length = length;
        assert_eq!(map(MAP_BASE, length, false), expected);
        expected.operation_flags = map_flags::WRITE;
        assert_eq!(map(MAP_BASE, length, true), expected);

        let mut expected = zero(Opcode::Unmap);
        expected.address = MAP_BASE;
        expected.length = length;
        assert_eq!(unmap(MAP_BASE, length), expected);
    }

    #[test]
    fn close_uses_the_handle_field() {
        let mut expected = zero(Opcode::Close);
        expected.handle = 5;
        assert_eq!(close(5), expected);
    }

    #[test]
    fn log_points_at_the_bytes() {
        let text = b"hello\n";
        let submission = log(text);
        let mut expected = zero(Opcode::Log);
        expected.address = text.as_ptr() as u64;
        expected.length = 6;
        assert_eq!(submission, expected);
        assert_eq!(log(&[]).length, 0);
    }

    #[test]
    fn receive_records_the_service_and_the_slot_array() {
        let mut expected = zero(Opcode::Receive);
        expected.handle = 3;
        expected.address = MAP_BASE;
        expected.length = 16 * 64;
        assert_eq!(receive(3, MAP_BASE, 16), expected);
        assert_eq!(
            receive(3, MAP_BASE, u32::MAX).length,
            u32::MAX,
            "an overflowing count saturates, and the kernel refuses it"
        );
    }

    #[test]
    fn reply_sign_extends_the_result_and_passes_a_handle() {
        let mut expected = zero(Opcode::Reply);
        expected.arguments = [77, 5, 0];
        assert_eq!(reply(77, 5, 0), expected);

        let failed = reply(77, Errno::Interrupted.result(), 0);
        assert_eq!(failed.arguments[1], (-4i64) as u64);
        assert_eq!(failed.arguments[1] as i64, -4, "fits an i32 as an i64");
        for result in [0, 1, -1, i32::MIN, i32::MAX] {
            let submission = reply(1, result, 0);
            assert_eq!(i32::try_from(submission.arguments[1] as i64), Ok(result));
        }

        let mut expected = zero(Opcode::Reply);
        expected.arguments = [8, 0, 0];
        expected.handle = 6;
        assert_eq!(reply(8, 0, 6), expected);
    }

    #[test]
    fn copy_in_and_copy_out_use_request_offset_address_and_length() {
        for (submission, opcode) in [
            (copy_in(9, 256, 0x4000, 100), Opcode::CopyIn),
            (copy_out(9, 256, 0x4000, 100), Opcode::CopyOut),
        ] {
            let mut expected = zero(opcode);
            expected.arguments[0] = 9;
            expected.offset = 256;
            expected.address = 0x4000;
            expected.length = 100;
            assert_eq!(submission, expected, "{opcode:?}");
        }
    }

    #[test]
    fn mint_carries_the_service_handle_and_the_badge() {
        let mut expected = zero(Opcode::Mint);
        expected.handle = 1;
        expected.arguments[0] = 0xbad9e;
        assert_eq!(mint(1, 0xbad9e), expected);
    }

    #[test]
    fn driver_operations_use_the_handle_field() {
        for (submission, opcode) in [
            (irq_wait(4), Opcode::IrqWait),
            (irq_ack(4), Opcode::IrqAck),
            (power_off(4), Opcode::PowerOff),
        ] {
            let mut expected = zero(opcode);
            expected.handle = 4;
            assert_eq!(submission, expected, "{opcode:?}");
        }
        let mut expected = zero(Opcode::MapDevice);
        expected.handle = 2;
        expected.address = MAP_BASE + (1 << 30);
        assert_eq!(map_device(2, MAP_BASE + (1 << 30)), expected);
    }

    #[test]
    fn read_and_write_lend_the_buffer_at_an_offset() {
        let mut buffer = [0u8; 32];
        let address = buffer.as_ptr() as u64;
        let mut expected = zero(Opcode::Read);
        expected.handle = 5;
        expected.address = address;
        expected.length = 32;
        expected.offset = 1024;
        assert_eq!(read(5, &mut buffer, 1024), expected);

        let bytes = b"hello\n";
        let mut expected = zero(Opcode::Write);
        expected.handle = 5;
        expected.address = bytes.as_ptr() as u64;
        expected.length = 6;
        assert_eq!(write(5, bytes, 0), expected);
        assert_eq!(write(5, &[], 0).length, 0);
    }

    #[test]
    fn a_buffer_too_long_to_record_is_recorded_as_its_prefix() {
        assert_eq!(buffer_length(7), 7);
        assert_eq!(buffer_length(u32::MAX as usize), u32::MAX);
        assert_eq!(buffer_length(u32::MAX as usize + 10), u32::MAX);
    }

    #[test]
    fn control_carries_the_three_arguments() {
        let mut expected = zero(Opcode::Control);
        expected.handle = 7;
        expected.arguments = [1, 2, 3];
        assert_eq!(control(7, [1, 2, 3]), expected);
    }

    #[test]
    fn forwarded_operations_use_forwarded_opcodes() {
        let mut buffer = [0u8; 1];
        for submission in [
            read(1, &mut buffer, 0),
            write(1, b"x", 0),
            control(1, [0; 3]),
        ] {
            assert!(submission.opcode >= FIRST_FORWARDED_OPCODE);
        }
    }

    #[test]
    fn file_operations_carry_their_buffer_and_direction() {
        use crate::abi::{FileStatus, open_flags};
        let path = b"/tmp/a";
        let submission = open(3, path, open_flags::READ | open_flags::CREATE);
        assert_eq!(submission.opcode, Opcode::Open as u8);
        assert_eq!((submission.handle, submission.length), (3, 6));
        assert_eq!(submission.address, path.as_ptr() as u64);
        assert_eq!(
            submission.operation_flags,
            open_flags::READ | open_flags::CREATE
        );
        let mut status = FileStatus::default();
        let submission = stat(4, &mut status);
        assert_eq!(
            (submission.opcode, submission.length),
            (Opcode::Stat as u8, 16)
        );
        let mut buffer = [0u8; 512];
        let submission = readdir(5, &mut buffer, 7);
        assert_eq!((submission.length, submission.offset), (512, 7));
        for (submission, opcode) in [
            (mkdir(3, path), Opcode::Mkdir),
            (unlink(3, path), Opcode::Unlink),
            (rename(3, b"/a\0/b"), Opcode::Rename),
        ] {
            assert_eq!(submission.opcode, opcode as u8);
            assert!(submission.length > 0);
        }
        assert_eq!(release(9).handle, 9);
        for opcode in [Opcode::Read, Opcode::Stat, Opcode::Readdir] {
            assert_eq!(opcode.server_writes_buffer(), Some(true), "{opcode:?}");
        }
        for opcode in [
            Opcode::Write,
            Opcode::Open,
            Opcode::Mkdir,
            Opcode::Unlink,
            Opcode::Rename,
        ] {
            assert_eq!(opcode.server_writes_buffer(), Some(false), "{opcode:?}");
        }
        assert_eq!(Opcode::Release.server_writes_buffer(), None);
        assert_eq!(Opcode::Control.server_writes_buffer(), None);
    }

    #[test]
    fn options_chain_and_touch_only_their_fields() {
        let submission = timeout(10).with_user_data(42).linked();
        let mut expected = timeout(10);
        expected.user_data = 42;
        expected.flags = submission_flags::LINK;
        assert_eq!(submission, expected);
        assert_eq!(submission.linked(), expected, "linking twice is linking");
        expected.flags |= submission_flags::SKIP_SUCCESS;
        assert_eq!(submission.skip_success(), expected);
    }
}
