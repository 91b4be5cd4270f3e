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
//! # Invariants
//! - Every constructor starts from an all-zero submission and sets only the
//!   fields its operation uses, so reserved and unused fields are zero.
//! - Nothing here touches memory: a submission is a plain value until it is
//!   pushed onto a ring (see [`crate::ring`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use crate::abi::{Opcode, Submission, SystemValue, map_flags, submission_flags, timeout_flags};

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{MAP_BASE, PAGE_SIZE};

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
    fn options_chain_and_touch_only_their_fields() {
        let submission = timeout(10).with_user_data(42).linked();
        let mut expected = timeout(10);
        expected.user_data = 42;
        expected.flags = submission_flags::LINK;
        assert_eq!(submission, expected);
        assert_eq!(submission.linked(), expected, "linking twice is linking");
    }
}
