//! ringtest: the ring ABI's test suite, run inside Annulus (in the spirit
//! of liburing's `test/`).
//!
//! Every operation and every error path of `docs/rings.md`: batches of 1
//! and 32, LINK chains and their cancellation, timeouts (relative,
//! absolute, multishot, link timeouts), `MAP`/`UNMAP`, `CANCEL`, `LOG`,
//! bad pointers, reserved fields, a full CQ, kernel SQ polling. One line per
//! case, then `ringtest: N passed, M failed`; the exit code is the number
//! of failures.

#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};
use heapless::Vec;
use libring::abi::{
    CQ_ENTRIES, Completion, Errno, MAP_BASE, Opcode, PAGE_SIZE, RING_ADDRESS, SQ_ENTRIES,
    Submission, SystemValue, completion_flags, header_offset, ring_flags,
};
use libring::ops::{self, SubmissionOptions};
use libring::ring::{Kernel, Ring};
use libring::runtime::{Arguments, Syscall, with_ring};

libring::entry!(main);

type Outcome = Result<(), &'static str>;
/// A test: its name and the function that runs it on the process's ring.
type Test = (&'static str, fn(&mut Ring<Syscall>) -> Outcome);

const TESTS: &[Test] = &[
    ("nop_batch_of_1", nop_batch_of_1),
    ("nop_batch_of_32", nop_batch_of_32),
    ("many_batches_wrap_the_queues", many_batches_wrap_the_queues),
    (
        "immediate_completions_keep_submission_order",
        immediate_completions_keep_submission_order,
    ),
    ("unknown_opcode_is_einval", unknown_opcode_is_einval),
    (
        "skip_success_posts_only_failures",
        skip_success_posts_only_failures,
    ),
    (
        "skipped_successes_give_their_cq_slots_back",
        skipped_successes_give_their_cq_slots_back,
    ),
    (
        "unknown_submission_flag_is_einval",
        unknown_submission_flag_is_einval,
    ),
    (
        "nonzero_reserved_fields_are_einval",
        nonzero_reserved_fields_are_einval,
    ),
    ("unknown_enter_flag_is_einval", unknown_enter_flag_is_einval),
    ("timeout_waits_its_time", timeout_waits_its_time),
    (
        "absolute_timeout_waits_for_its_deadline",
        absolute_timeout_waits_for_its_deadline,
    ),
    (
        "multishot_timeout_sets_more_on_all_but_the_last",
        multishot_timeout_sets_more_on_all_but_the_last,
    ),
    (
        "endless_multishot_ends_when_cancelled",
        endless_multishot_ends_when_cancelled,
    ),
    (
        "cancel_completes_a_pending_timeout",
        cancel_completes_a_pending_timeout,
    ),
    (
        "cancel_of_unknown_user_data_is_enoent",
        cancel_of_unknown_user_data_is_enoent,
    ),
    ("link_chain_runs_in_order", link_chain_runs_in_order),
    (
        "link_failure_cancels_the_rest",
        link_failure_cancels_the_rest,
    ),
    (
        "cancelled_chain_member_cancels_the_rest",
        cancelled_chain_member_cancels_the_rest,
    ),
    (
        "cancelling_a_waiting_member_leaves_the_running_one",
        cancelling_a_waiting_member_leaves_the_running_one,
    ),
    (
        "a_link_carries_over_to_the_next_ring_enter",
        a_link_carries_over_to_the_next_ring_enter,
    ),
    (
        "a_failed_member_cancels_members_taken_later",
        a_failed_member_cancels_members_taken_later,
    ),
    (
        "exits_waiting_in_a_chain_take_cq_slots",
        exits_waiting_in_a_chain_take_cq_slots,
    ),
    (
        "a_cancelled_exit_completes_and_the_process_goes_on",
        a_cancelled_exit_completes_and_the_process_goes_on,
    ),
    (
        "a_link_timeout_taken_after_its_request_started_is_armed",
        a_link_timeout_taken_after_its_request_started_is_armed,
    ),
    (
        "a_second_late_link_timeout_does_not_guard_the_first",
        a_second_late_link_timeout_does_not_guard_the_first,
    ),
    (
        "link_timeout_cancels_a_slow_request",
        link_timeout_cancels_a_slow_request,
    ),
    (
        "link_timeout_is_disarmed_by_a_fast_request",
        link_timeout_is_disarmed_by_a_fast_request,
    ),
    (
        "link_timeout_at_chain_head_is_einval",
        link_timeout_at_chain_head_is_einval,
    ),
    (
        "map_gives_zeroed_writable_memory",
        map_gives_zeroed_writable_memory,
    ),
    (
        "map_and_unmap_return_their_frames",
        map_and_unmap_return_their_frames,
    ),
    ("map_errors", map_errors),
    (
        "unmap_of_memory_not_from_map_is_einval",
        unmap_of_memory_not_from_map_is_einval,
    ),
    (
        "log_writes_and_returns_its_length",
        log_writes_and_returns_its_length,
    ),
    (
        "log_with_bad_pointers_is_efault",
        log_with_bad_pointers_is_efault,
    ),
    (
        "close_of_a_bad_handle_is_ebadf",
        close_of_a_bad_handle_is_ebadf,
    ),
    (
        "system_info_reports_process_and_frames",
        system_info_reports_process_and_frames,
    ),
    (
        "full_cq_refuses_with_ebusy_and_loses_nothing",
        full_cq_refuses_with_ebusy_and_loses_nothing,
    ),
    (
        "sq_polling_submits_without_system_calls",
        sq_polling_submits_without_system_calls,
    ),
    (
        "sleeping_poller_needs_a_wakeup",
        sleeping_poller_needs_a_wakeup,
    ),
];

fn main(_arguments: Arguments) -> i32 {
    let mut passed = 0;
    let mut failed = 0;
    for (name, test) in TESTS {
        let outcome = with_ring(|ring| {
            let outcome = test(ring);
            drain(ring);
            outcome
        });
        match outcome {
            Ok(()) => {
                passed += 1;
                libring::println!("test {name} ... ok");
            }
            Err(why) => {
                failed += 1;
                libring::println!("test {name} ... FAILED: {why}");
            }
        }
    }
    libring::println!("ringtest: {passed} passed, {failed} failed");
    // Leave every CQ slot reserved by a timer that never ends: EXIT (which
    // the runtime submits when main returns) needs no slot, so the process
    // still ends, with this exit code, and gives every frame back.
    with_ring(|ring| {
        for index in 0..CQ_ENTRIES as u64 {
            let _ =
                ring.push(ops::timeout_multishot(1_000_000_000, 0).with_user_data(2000 + index));
            if ring.space() == 0 {
                let _ = ring.submit();
            }
        }
        let _ = ring.submit();
    });
    failed
}

fn check(condition: bool, message: &'static str) -> Outcome {
    if condition { Ok(()) } else { Err(message) }
}

/// Publishes everything pushed and waits for `count` completions, returned
/// in arrival order.
fn submit_and_collect<const N: usize>(
    ring: &mut Ring<Syscall>,
    count: usize,
) -> Result<Vec<Completion, N>, &'static str> {
    ring.submit().map_err(|_| "submit failed")?;
    let mut collected = Vec::<Completion, N>::new();
    while collected.len() < count {
        if ring.ready() == 0 {
            ring.submit_and_wait(1).map_err(|_| "waiting failed")?;
        }
        // Take only what was asked for; later ones stay in the CQ.
        while collected.len() < count {
            let Some(completion) = ring.completion() else {
                break;
            };
            collected
                .push(completion)
                .map_err(|_| "more completions than expected")?;
        }
    }
    Ok(collected)
}

/// The result of the completion carrying `user_data`, if it came.
fn result_of(completions: &[Completion], user_data: u64) -> Option<i32> {
    completions
        .iter()
        .find(|completion| completion.user_data == user_data)
        .map(|completion| completion.result)
}

/// Consumes stray completions a failed test may have left.
fn drain(ring: &mut Ring<Syscall>) {
    while ring.completion().is_some() {}
}

fn run_one(ring: &mut Ring<Syscall>, submission: Submission) -> i32 {
    match ring.run(submission) {
        Ok(result) => result,
        Err(error) => error.result(),
    }
}

/// Nanoseconds on the system clock (the virtual counter, readable at EL0).
fn now_nanoseconds() -> u64 {
    let (count, frequency): (u64, u64);
    // SAFETY: reading the counter and its frequency; the kernel lets EL0.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", "mrs {}, cntfrq_el0", out(reg) count, out(reg) frequency)
    };
    (count as u128 * 1_000_000_000 / frequency.max(1) as u128) as u64
}

fn nop_batch_of_1(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::nop().with_user_data(42))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<1>(ring, 1)?;
    let completion = completions[0];
    check(completion.user_data == 42, "user_data not echoed")?;
    check(
        completion.result == 0 && completion.flags == 0,
        "NOP did not complete with 0",
    )
}

fn nop_batch_of_32(ring: &mut Ring<Syscall>) -> Outcome {
    for index in 0..32 {
        ring.push(ops::nop().with_user_data(1000 + index))
            .map_err(|_| "SQ full")?;
    }
    let completions = submit_and_collect::<32>(ring, 32)?;
    for (index, completion) in completions.iter().enumerate() {
        check(
            completion.user_data == 1000 + index as u64,
            "completions out of order or user_data lost",
        )?;
        check(completion.result == 0, "a NOP failed")?;
    }
    Ok(())
}

fn many_batches_wrap_the_queues(ring: &mut Ring<Syscall>) -> Outcome {
    // 40 batches of 17: the SQ and CQ indices wrap around many times.
    for batch in 0..40u64 {
        for index in 0..17 {
            ring.push(ops::nop().with_user_data(batch * 100 + index))
                .map_err(|_| "SQ full")?;
        }
        let completions = submit_and_collect::<17>(ring, 17)?;
        for (index, completion) in completions.iter().enumerate() {
            check(
                completion.user_data == batch * 100 + index as u64,
                "a completion went missing",
            )?;
        }
    }
    Ok(())
}

fn immediate_completions_keep_submission_order(ring: &mut Ring<Syscall>) -> Outcome {
    // A NOP completes on the kernel's fast path; SYSTEM_INFO and CLOSE do
    // not. Interleaved in one batch, they must still complete in order.
    ring.push(ops::nop().with_user_data(71))
        .map_err(|_| "SQ full")?;
    ring.push(ops::system_info(SystemValue::ProcessId).with_user_data(72))
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(73))
        .map_err(|_| "SQ full")?;
    ring.push(ops::close(7).with_user_data(74))
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(75))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<5>(ring, 5)?;
    let order: [u64; 5] = core::array::from_fn(|index| completions[index].user_data);
    check(
        order == [71, 72, 73, 74, 75],
        "completions came out of submission order",
    )
}

fn unknown_opcode_is_einval(ring: &mut Ring<Syscall>) -> Outcome {
    let mut submission = ops::nop();
    submission.opcode = 200;
    check(
        run_one(ring, submission) == Errno::InvalidArgument.result(),
        "not EINVAL",
    )
}

fn skip_success_posts_only_failures(ring: &mut Ring<Syscall>) -> Outcome {
    let mut bad = ops::nop().with_user_data(2).skip_success();
    bad.opcode = 250;
    for submission in [
        // Completes at once in `drain`, succeeds: nothing.
        ops::nop().with_user_data(1).skip_success(),
        // Fails: its error is posted all the same.
        bad,
        // A recorded request (it waits), then a chain it heads: the
        // timeout succeeds silently and the chain goes on.
        ops::timeout(1_000_000)
            .with_user_data(3)
            .skip_success()
            .linked(),
        ops::nop().with_user_data(4),
    ] {
        ring.push(submission).map_err(|_| "SQ full")?;
    }
    let completions = submit_and_collect::<2>(ring, 2)?;
    let order: [u64; 2] = core::array::from_fn(|index| completions[index].user_data);
    check(order == [2, 4], "not exactly the failure and the plain NOP")?;
    check(
        result_of(&completions, 2) == Some(Errno::InvalidArgument.result())
            && result_of(&completions, 4) == Some(0),
        "wrong results",
    )?;
    // Nothing else arrives: a NOP's round trip finds the CQ empty behind it.
    check(run_one(ring, ops::nop()) == 0, "NOP failed")?;
    check(ring.completion().is_none(), "a skipped success was posted")
}

fn skipped_successes_give_their_cq_slots_back(ring: &mut Ring<Syscall>) -> Outcome {
    // Many times the CQ's size: were the slots kept, the ring would fill
    // and refuse submissions (EBUSY).
    for _ in 0..(4 * CQ_ENTRIES) / SQ_ENTRIES {
        for _ in 0..SQ_ENTRIES {
            ring.push(ops::nop().with_user_data(7).skip_success())
                .map_err(|_| "SQ full")?;
        }
        check(
            ring.submit() == Ok(SQ_ENTRIES),
            "skipped NOPs were not all taken",
        )?;
    }
    check(ring.completion().is_none(), "a skipped success was posted")?;
    check(run_one(ring, ops::nop()) == 0, "NOP after them failed")
}

fn unknown_submission_flag_is_einval(ring: &mut Ring<Syscall>) -> Outcome {
    let mut submission = ops::nop();
    submission.flags = 0x40;
    check(
        run_one(ring, submission) == Errno::InvalidArgument.result(),
        "not EINVAL",
    )
}

fn nonzero_reserved_fields_are_einval(ring: &mut Ring<Syscall>) -> Outcome {
    let dirty: [fn(&mut Submission); 6] = [
        |submission| submission.reserved = 1,
        |submission| submission.offset = 8,
        |submission| submission.arguments[2] = 1,
        |submission| submission.handle = 3,
        |submission| submission.address = 0x1000,
        |submission| submission.operation_flags = 1,
    ];
    for make_dirty in dirty {
        let mut submission = ops::nop();
        make_dirty(&mut submission);
        check(
            run_one(ring, submission) == Errno::InvalidArgument.result(),
            "a dirty NOP was accepted",
        )?;
    }
    Ok(())
}

fn unknown_enter_flag_is_einval(_ring: &mut Ring<Syscall>) -> Outcome {
    let result = Syscall.ring_enter(0, 0, 1 << 9);
    check(
        result == Errno::InvalidArgument.result() as i64,
        "ring_enter took an unknown flag",
    )
}

fn timeout_waits_its_time(ring: &mut Ring<Syscall>) -> Outcome {
    let start = now_nanoseconds();
    check(
        run_one(ring, ops::timeout(30_000_000)) == 0,
        "TIMEOUT did not complete with 0",
    )?;
    check(
        now_nanoseconds() - start >= 30_000_000,
        "TIMEOUT completed early",
    )
}

fn absolute_timeout_waits_for_its_deadline(ring: &mut Ring<Syscall>) -> Outcome {
    let deadline = now_nanoseconds() + 25_000_000;
    check(
        run_one(ring, ops::timeout_at(deadline)) == 0,
        "TIMEOUT did not complete with 0",
    )?;
    check(
        now_nanoseconds() >= deadline,
        "absolute TIMEOUT completed before its deadline",
    )?;
    // A deadline in the past completes at the next tick.
    check(
        run_one(ring, ops::timeout_at(1)) == 0,
        "past deadline did not complete",
    )
}

fn multishot_timeout_sets_more_on_all_but_the_last(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout_multishot(10_000_000, 3).with_user_data(7))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    let flags: [u32; 3] = core::array::from_fn(|index| completions[index].flags);
    check(
        flags == [completion_flags::MORE, completion_flags::MORE, 0],
        "MORE flags wrong",
    )?;
    check(
        completions
            .as_slice()
            .iter()
            .all(|completion| completion.user_data == 7 && completion.result == 0),
        "bad result",
    )
}

fn endless_multishot_ends_when_cancelled(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout_multishot(5_000_000, 0).with_user_data(8))
        .map_err(|_| "SQ full")?;
    let first_two = submit_and_collect::<2>(ring, 2)?;
    check(
        first_two
            .as_slice()
            .iter()
            .all(|completion| completion.flags == completion_flags::MORE),
        "no MORE",
    )?;
    ring.push(ops::cancel(8).with_user_data(9))
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    // Collect until both the cancel and the final (no MORE) completion came.
    let (mut cancelled, mut final_seen) = (false, false);
    for _ in 0..64 {
        if cancelled && final_seen {
            break;
        }
        ring.submit_and_wait(1).map_err(|_| "wait failed")?;
        while let Some(completion) = ring.completion() {
            match completion.user_data {
                9 => cancelled = completion.result == 0,
                8 if completion.flags & completion_flags::MORE == 0 => {
                    final_seen = completion.result == Errno::Cancelled.result();
                }
                _ => {}
            }
        }
    }
    check(
        cancelled && final_seen,
        "no final ECANCELED completion without MORE",
    )
}

fn cancel_completes_a_pending_timeout(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(10_000_000_000).with_user_data(77))
        .map_err(|_| "SQ full")?;
    ring.push(ops::cancel(77).with_user_data(78))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&completions, 77) == Some(Errno::Cancelled.result()),
        "timeout not ECANCELED",
    )?;
    check(
        result_of(&completions, 78) == Some(0),
        "CANCEL did not succeed",
    )
}

fn cancel_of_unknown_user_data_is_enoent(ring: &mut Ring<Syscall>) -> Outcome {
    check(
        run_one(ring, ops::cancel(0xdead)) == Errno::NotFound.result(),
        "not ENOENT",
    )
}

fn link_chain_runs_in_order(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::nop().with_user_data(1).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::timeout(10_000_000).with_user_data(2).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(3))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    let order: [u64; 3] = core::array::from_fn(|index| completions[index].user_data);
    check(order == [1, 2, 3], "chain members completed out of order")?;
    check(
        completions
            .as_slice()
            .iter()
            .all(|completion| completion.result == 0),
        "a member failed",
    )
}

fn link_failure_cancels_the_rest(ring: &mut Ring<Syscall>) -> Outcome {
    let mut bad = ops::nop().with_user_data(12).linked();
    bad.opcode = 250;
    ring.push(ops::nop().with_user_data(11).linked())
        .map_err(|_| "SQ full")?;
    ring.push(bad).map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(13).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(14))
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(15))
        .map_err(|_| "SQ full")?; // a new chain
    let completions = submit_and_collect::<5>(ring, 5)?;
    check(
        result_of(&completions, 11) == Some(0),
        "first member failed",
    )?;
    check(
        result_of(&completions, 12) == Some(Errno::InvalidArgument.result()),
        "bad member not EINVAL",
    )?;
    check(
        result_of(&completions, 13) == Some(Errno::Cancelled.result()),
        "third member not ECANCELED",
    )?;
    check(
        result_of(&completions, 14) == Some(Errno::Cancelled.result()),
        "last member not ECANCELED",
    )?;
    check(
        result_of(&completions, 15) == Some(0),
        "the next chain was hurt",
    )
}

fn cancelled_chain_member_cancels_the_rest(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(10_000_000_000).with_user_data(21).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(22))
        .map_err(|_| "SQ full")?;
    ring.push(ops::cancel(21).with_user_data(23))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    check(
        result_of(&completions, 21) == Some(Errno::Cancelled.result()),
        "timeout not ECANCELED",
    )?;
    check(
        result_of(&completions, 22) == Some(Errno::Cancelled.result()),
        "its successor was not cancelled",
    )?;
    check(result_of(&completions, 23) == Some(0), "CANCEL failed")
}

fn cancelling_a_waiting_member_leaves_the_running_one(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(20_000_000).with_user_data(51).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(52))
        .map_err(|_| "SQ full")?;
    ring.push(ops::cancel(52).with_user_data(53))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    check(
        result_of(&completions, 52) == Some(Errno::Cancelled.result()),
        "the waiting member was not ECANCELED",
    )?;
    check(result_of(&completions, 53) == Some(0), "CANCEL failed")?;
    check(
        result_of(&completions, 51) == Some(0),
        "the running member before it was cancelled too",
    )?;
    check(
        completions[2].user_data == 51,
        "the running member did not finish last",
    )
}

fn a_link_carries_over_to_the_next_ring_enter(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(20_000_000).with_user_data(61).linked())
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    // Published by a second ring_enter, yet still the chain's next member.
    ring.push(ops::nop().with_user_data(62))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<2>(ring, 2)?;
    let order: [u64; 2] = core::array::from_fn(|index| completions[index].user_data);
    check(
        order == [61, 62],
        "the NOP did not wait for the timeout before it",
    )
}

fn a_failed_member_cancels_members_taken_later(ring: &mut Ring<Syscall>) -> Outcome {
    let mut bad = ops::nop().with_user_data(710).linked();
    bad.opcode = 250;
    ring.push(bad).map_err(|_| "SQ full")?;
    let first = submit_and_collect::<1>(ring, 1)?;
    check(
        result_of(&first, 710) == Some(Errno::InvalidArgument.result()),
        "bad member not EINVAL",
    )?;
    // Its LINK made the next submission a member, though it comes with a
    // later ring_enter, after the chain has failed.
    ring.push(ops::nop().with_user_data(711))
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(712))
        .map_err(|_| "SQ full")?;
    let later = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&later, 711) == Some(Errno::Cancelled.result()),
        "a member taken after the failure ran",
    )?;
    check(result_of(&later, 712) == Some(0), "the next chain was hurt")
}

/// A chain whose head waits (a 10 s timeout, cut after 300 ms by a link
/// timeout) followed by `EXIT`s: each `EXIT` may wait, or be cancelled and
/// complete, so each must hold a CQ slot. With 128 slots, the 129th
/// submission is refused; when the chain fails every member completes into
/// its own slot, and the process goes on.
fn exits_waiting_in_a_chain_take_cq_slots(ring: &mut Ring<Syscall>) -> Outcome {
    const EXITS: u32 = CQ_ENTRIES - 2;
    ring.push(ops::timeout(10_000_000_000).with_user_data(720).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::link_timeout(300_000_000).with_user_data(721).linked())
        .map_err(|_| "SQ full")?;
    let mut pushed = 0;
    while pushed < EXITS {
        while pushed < EXITS {
            // The last one ends the chain.
            let exit = ops::exit(9).with_user_data(722);
            let exit = if pushed + 1 < EXITS {
                exit.linked()
            } else {
                exit
            };
            if ring.push(exit).is_err() {
                break;
            }
            pushed += 1;
        }
        ring.submit().map_err(|_| "submit failed")?;
    }
    ring.push(ops::nop().with_user_data(723))
        .map_err(|_| "SQ full")?;
    check(
        ring.submit() == Err(Errno::Busy),
        "the NOP after 128 was taken: EXITs waiting in a chain held no CQ slot",
    )?;
    let (mut exits, mut others) = (0, 0);
    for _ in 0..1000 {
        if exits + others == CQ_ENTRIES + 1 {
            break;
        }
        ring.submit_and_wait(1).map_err(|_| "wait failed")?;
        while let Some(completion) = ring.completion() {
            let expected = match completion.user_data {
                720 | 722 => Errno::Cancelled.result(),
                721 => Errno::TimedOut.result(),
                723 => 0,
                _ => return Err("unexpected completion"),
            };
            if completion.result != expected {
                return Err("a completion with the wrong result");
            }
            if completion.user_data == 722 {
                exits += 1;
            } else {
                others += 1;
            }
        }
    }
    check(exits == EXITS, "an EXIT's completion was lost")?;
    check(others == 3, "the timeout, link timeout or NOP is missing")
}

/// An `EXIT` behind a request recorded in the same `ring_enter` waits its
/// turn, holding a CQ slot; a `CANCEL` run before it cancels it, and it
/// completes into that slot, and the ring's count of free slots is right
/// after it.
fn a_cancelled_exit_completes_and_the_process_goes_on(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(10_000_000_000).with_user_data(730))
        .map_err(|_| "SQ full")?;
    ring.push(ops::cancel(731).with_user_data(732))
        .map_err(|_| "SQ full")?;
    ring.push(ops::exit(5).with_user_data(731))
        .map_err(|_| "SQ full")?;
    let first = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&first, 731) == Some(Errno::Cancelled.result()),
        "the EXIT was not cancelled",
    )?;
    check(result_of(&first, 732) == Some(0), "CANCEL failed")?;
    // With the timeout pending, 127 slots are free: 127 more are taken,
    // the 128th refused. (A cancelled EXIT that had no slot of its own
    // took another's, and the 128th was taken.)
    for batch in [64, 63] {
        for _ in 0..batch {
            ring.push(ops::timeout(300_000_000).with_user_data(734))
                .map_err(|_| "SQ full")?;
        }
        check(
            ring.submit() == Ok(batch),
            "a batch of timeouts not all taken",
        )?;
    }
    ring.push(ops::timeout(300_000_000).with_user_data(734))
        .map_err(|_| "SQ full")?;
    check(
        ring.submit() == Err(Errno::Busy),
        "a 129th request was taken: a slot was counted wrong",
    )?;
    let mut ended = 0;
    for _ in 0..1000 {
        if ended == 128 {
            break;
        }
        ring.submit_and_wait(1).map_err(|_| "wait failed")?;
        while let Some(completion) = ring.completion() {
            if completion.user_data != 734 || completion.result != 0 {
                return Err("unexpected completion");
            }
            ended += 1;
        }
    }
    check(ended == 128, "a timeout's completion was lost")?;
    ring.push(ops::cancel(730).with_user_data(733))
        .map_err(|_| "SQ full")?;
    let second = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&second, 730) == Some(Errno::Cancelled.result()),
        "the timeout was not cancelled",
    )?;
    check(
        result_of(&second, 733) == Some(0),
        "the second CANCEL failed",
    )
}

/// A request and its `LINK_TIMEOUT` taken by two `ring_enter`s (as when
/// the CQ is full between them): the request is running when its link
/// timeout comes, and the link timeout still cuts it.
fn a_link_timeout_taken_after_its_request_started_is_armed(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(2_000_000_000).with_user_data(740).linked())
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    ring.push(ops::link_timeout(50_000_000).with_user_data(741))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&completions, 740) == Some(Errno::Cancelled.result()),
        "the request ran its full time: the late link timeout was never armed",
    )?;
    check(
        result_of(&completions, 741) == Some(Errno::TimedOut.result()),
        "the link timeout did not fire",
    )
}

/// `[TIMEOUT A, LINK_TIMEOUT L1]`, then `[LINK_TIMEOUT L2]` by another
/// `ring_enter`: L2 guards nothing (a link timeout guards the request
/// before it, and L1 is no such request), so L1 still cuts A.
fn a_second_late_link_timeout_does_not_guard_the_first(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(2_000_000_000).with_user_data(750).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::link_timeout(200_000_000).with_user_data(751).linked())
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    ring.push(ops::link_timeout(10_000_000).with_user_data(752))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    check(
        result_of(&completions, 751) == Some(Errno::TimedOut.result()),
        "the first link timeout did not fire: the second was armed against it",
    )?;
    check(
        result_of(&completions, 750) == Some(Errno::Cancelled.result()),
        "the request was not cut by its link timeout",
    )?;
    check(
        result_of(&completions, 752) == Some(Errno::Cancelled.result()),
        "the second link timeout was not cancelled with the chain",
    )
}

fn link_timeout_cancels_a_slow_request(ring: &mut Ring<Syscall>) -> Outcome {
    let start = now_nanoseconds();
    ring.push(ops::timeout(10_000_000_000).with_user_data(31).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::link_timeout(20_000_000).with_user_data(32))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<2>(ring, 2)?;
    check(
        result_of(&completions, 31) == Some(Errno::Cancelled.result()),
        "slow request not ECANCELED",
    )?;
    check(
        result_of(&completions, 32) == Some(Errno::TimedOut.result()),
        "link timeout not ETIME",
    )?;
    check(
        now_nanoseconds() - start < 5_000_000_000,
        "waited for the slow request",
    )
}

fn link_timeout_is_disarmed_by_a_fast_request(ring: &mut Ring<Syscall>) -> Outcome {
    ring.push(ops::timeout(10_000_000).with_user_data(41).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::link_timeout(5_000_000_000).with_user_data(42).linked())
        .map_err(|_| "SQ full")?;
    ring.push(ops::nop().with_user_data(43))
        .map_err(|_| "SQ full")?;
    let completions = submit_and_collect::<3>(ring, 3)?;
    check(
        result_of(&completions, 41) == Some(0),
        "fast request failed",
    )?;
    check(
        result_of(&completions, 42) == Some(Errno::Cancelled.result()),
        "link timeout not ECANCELED",
    )?;
    check(
        result_of(&completions, 43) == Some(0),
        "the chain did not go on after the disarmed timeout",
    )
}

fn link_timeout_at_chain_head_is_einval(ring: &mut Ring<Syscall>) -> Outcome {
    check(
        run_one(ring, ops::link_timeout(1_000_000)) == Errno::InvalidArgument.result(),
        "not EINVAL",
    )
}

/// A part of the map area no other test (nor the runtime's heap) uses.
const TEST_AREA: u64 = MAP_BASE + (1 << 32);

fn map_gives_zeroed_writable_memory(ring: &mut Ring<Syscall>) -> Outcome {
    let length = 3 * PAGE_SIZE;
    check(
        run_one(ring, ops::map(TEST_AREA, length as u32, true)) == 0,
        "MAP failed",
    )?;
    let memory = TEST_AREA as *mut u64;
    for index in 0..(length / 8) as usize {
        // SAFETY: mapped just above, writable, ours.
        let value = unsafe { memory.add(index).read_volatile() };
        if value != 0 {
            return Err("MAP memory is not zeroed");
        }
        // SAFETY: as above.
        unsafe { memory.add(index).write_volatile(index as u64) };
    }
    // SAFETY: as above.
    let kept = unsafe { memory.add(700).read_volatile() };
    check(kept == 700, "memory lost a write")?;
    check(
        run_one(ring, ops::unmap(TEST_AREA, length as u32)) == 0,
        "UNMAP failed",
    )
}

fn free_frames(ring: &mut Ring<Syscall>) -> i32 {
    run_one(ring, ops::system_info(SystemValue::FreeFrames))
}

fn map_and_unmap_return_their_frames(ring: &mut Ring<Syscall>) -> Outcome {
    // Each round gives back exactly what it took: the pages, and the page
    // tables made for them (UNMAP frees tables it leaves empty).
    let area = TEST_AREA + (1 << 30);
    for _ in 0..2 {
        let before = free_frames(ring);
        check(
            run_one(ring, ops::map(area, 8 * PAGE_SIZE as u32, true)) == 0,
            "MAP failed",
        )?;
        check(free_frames(ring) <= before - 8, "MAP took no frames")?;
        check(
            run_one(ring, ops::unmap(area, 8 * PAGE_SIZE as u32)) == 0,
            "UNMAP failed",
        )?;
        check(free_frames(ring) == before, "MAP then UNMAP leaked frames")?;
    }
    Ok(())
}

fn map_errors(ring: &mut Ring<Syscall>) -> Outcome {
    let einval = Errno::InvalidArgument.result();
    check(
        run_one(ring, ops::map(TEST_AREA + 1, PAGE_SIZE as u32, true)) == einval,
        "misaligned MAP accepted",
    )?;
    check(
        run_one(ring, ops::map(TEST_AREA, 100, true)) == einval,
        "partial page MAP accepted",
    )?;
    check(
        run_one(ring, ops::map(0x40_0000, PAGE_SIZE as u32, true)) == einval,
        "MAP over program text accepted",
    )?;
    check(
        run_one(
            ring,
            ops::map(0xffff_ffff_8000_0000, PAGE_SIZE as u32, true),
        ) == einval,
        "MAP in kernel space",
    )?;
    check(
        run_one(ring, ops::map(TEST_AREA, PAGE_SIZE as u32, true)) == 0,
        "MAP failed",
    )?;
    let exists = run_one(ring, ops::map(TEST_AREA, 2 * PAGE_SIZE as u32, true));
    check(
        exists == Errno::Exists.result(),
        "MAP over a mapping was not EEXIST",
    )?;
    check(
        run_one(ring, ops::unmap(TEST_AREA, PAGE_SIZE as u32)) == 0,
        "UNMAP failed",
    )?;
    let nothing_left = run_one(ring, ops::unmap(TEST_AREA + PAGE_SIZE, PAGE_SIZE as u32));
    check(nothing_left == einval, "the failed MAP left a page behind")?;
    let huge = run_one(ring, ops::map(TEST_AREA, !(PAGE_SIZE as u32 - 1), true));
    check(
        huge == Errno::OutOfMemory.result(),
        "a 4 GiB MAP did not run out of memory",
    )?;
    check(
        run_one(ring, ops::unmap(TEST_AREA, PAGE_SIZE as u32)) == einval,
        "the failed 4 GiB MAP left pages behind",
    )
}

fn unmap_of_memory_not_from_map_is_einval(ring: &mut Ring<Syscall>) -> Outcome {
    let einval = Errno::InvalidArgument.result();
    check(
        run_one(ring, ops::unmap(RING_ADDRESS, PAGE_SIZE as u32)) == einval,
        "UNMAP of the ring accepted",
    )?;
    check(
        run_one(ring, ops::unmap(TEST_AREA, PAGE_SIZE as u32)) == einval,
        "UNMAP of nothing accepted",
    )
}

fn log_writes_and_returns_its_length(ring: &mut Ring<Syscall>) -> Outcome {
    let text = b"ringtest: a line through LOG\n";
    check(
        run_one(ring, ops::log(text)) == text.len() as i32,
        "LOG did not return its length",
    )
}

fn log_with_bad_pointers_is_efault(ring: &mut Ring<Syscall>) -> Outcome {
    let efault = Errno::Fault.result();
    let mut submission = ops::nop();
    submission.opcode = Opcode::Log as u8;
    for (address, length) in [
        (0xffff_0000_4000_0000, 16),    // the kernel's linear map
        (0xffff_ffff_8000_0000, 16),    // kernel text
        (TEST_AREA + (1 << 20), 16),    // unmapped
        (u64::MAX - 8, 64),             // wraps
        (0, 1),                         // null
        (RING_ADDRESS + 0x1ff8, 0x100), // runs off the end of the ring region
    ] {
        submission.address = address;
        submission.length = length;
        check(
            run_one(ring, submission) == efault,
            "a bad LOG pointer was not EFAULT",
        )?;
    }
    Ok(())
}

fn close_of_a_bad_handle_is_ebadf(ring: &mut Ring<Syscall>) -> Outcome {
    for handle in [0, 1, 7, u32::MAX] {
        check(
            run_one(ring, ops::close(handle)) == Errno::BadHandle.result(),
            "not EBADF",
        )?;
    }
    Ok(())
}

fn system_info_reports_process_and_frames(ring: &mut Ring<Syscall>) -> Outcome {
    check(
        run_one(ring, ops::system_info(SystemValue::ProcessId)) >= 1,
        "no process id",
    )?;
    check(free_frames(ring) > 1000, "implausible free frame count")?;
    let mut unknown = ops::system_info(SystemValue::ProcessId);
    unknown.arguments[0] = 99;
    check(
        run_one(ring, unknown) == Errno::InvalidArgument.result(),
        "unknown value accepted",
    )
}

fn full_cq_refuses_with_ebusy_and_loses_nothing(ring: &mut Ring<Syscall>) -> Outcome {
    // Fill every CQ slot with pending 200 ms timeouts, in batches.
    let mut pushed = 0u64;
    while pushed < CQ_ENTRIES as u64 {
        for _ in 0..SQ_ENTRIES.min(CQ_ENTRIES - pushed as u32) {
            ring.push(ops::timeout(200_000_000).with_user_data(500 + pushed))
                .map_err(|_| "SQ full")?;
            pushed += 1;
        }
        ring.submit().map_err(|_| "submit failed")?;
    }
    ring.push(ops::nop().with_user_data(999))
        .map_err(|_| "SQ full")?;
    check(
        ring.submit() == Err(Errno::Busy),
        "a submission beyond the CQ's room was not EBUSY",
    )?;
    // Everything completes; the NOP is taken once there is room.
    let (mut timeouts, mut nop) = (0, false);
    for _ in 0..1000 {
        if timeouts == CQ_ENTRIES && nop {
            break;
        }
        ring.submit_and_wait(1).map_err(|_| "wait failed")?;
        while let Some(completion) = ring.completion() {
            match completion.user_data {
                999 => nop = completion.result == 0,
                500..=627 if completion.result == 0 => timeouts += 1,
                _ => return Err("unexpected completion"),
            }
        }
    }
    check(timeouts == CQ_ENTRIES, "a timeout's completion was lost")?;
    check(nop, "the refused NOP never ran")
}

fn flags() -> u32 {
    // SAFETY: the ring header is mapped at RING_ADDRESS.
    unsafe { &*((RING_ADDRESS as usize + header_offset::FLAGS) as *const AtomicU32) }
        .load(Ordering::Acquire)
}

fn system_calls(ring: &mut Ring<Syscall>) -> Result<i32, &'static str> {
    // Busy-wait for the completion: no ring_enter while polling is on.
    ring.push(ops::system_info(SystemValue::SystemCalls).with_user_data(600))
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    poll_for(ring, 600)
}

fn poll_for(ring: &mut Ring<Syscall>, user_data: u64) -> Result<i32, &'static str> {
    let deadline = now_nanoseconds() + 2_000_000_000;
    while now_nanoseconds() < deadline {
        if let Some(completion) = ring.completion()
            && completion.user_data == user_data
        {
            return Ok(completion.result);
        }
        core::hint::spin_loop();
    }
    Err("no completion within 2 s")
}

fn sq_polling_submits_without_system_calls(ring: &mut Ring<Syscall>) -> Outcome {
    check(run_one(ring, ops::sq_poll(500_000)) == 0, "SQ_POLL failed")?;
    check(flags() & ring_flags::SQ_POLL != 0, "SQ_POLL flag not set")?;
    let before = system_calls(ring)?;
    for index in 0..10 {
        ring.push(ops::nop().with_user_data(700 + index))
            .map_err(|_| "SQ full")?;
        ring.submit().map_err(|_| "submit failed")?;
        check(poll_for(ring, 700 + index)? == 0, "a polled NOP failed")?;
    }
    let after = system_calls(ring)?;
    check(
        after == before,
        "submitting with the poller awake made system calls",
    )?;
    check(
        run_one(ring, ops::sq_poll(0)) == 0,
        "turning polling off failed",
    )?;
    check(flags() & ring_flags::SQ_POLL == 0, "SQ_POLL flag still set")
}

/// Spins until the kernel's poller has gone to sleep (`NEED_WAKEUP`), for
/// at most 5 s of the machine's clock; says whether it did. The bound is
/// far past the poller's idle time: the clock runs on while an emulator
/// on a busy host gives the machine no time, so a wait of a few idle
/// times may end before the poller has been scheduled at all.
fn poller_sleeps() -> bool {
    let until = now_nanoseconds() + 5_000_000_000;
    while now_nanoseconds() < until {
        if flags() & ring_flags::NEED_WAKEUP != 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

fn sleeping_poller_needs_a_wakeup(ring: &mut Ring<Syscall>) -> Outcome {
    check(run_one(ring, ops::sq_poll(20_000)) == 0, "SQ_POLL failed")?;
    // Stay idle past the poller's idle time (20 ms): it must go to sleep.
    check(poller_sleeps(), "the idle poller never set NEED_WAKEUP")?;
    let before = system_calls(ring)?;
    // system_calls itself woke the poller (one SQ_WAKEUP call); wait until
    // it is asleep again, so the NOP below needs a wake-up call.
    check(poller_sleeps(), "the poller never set NEED_WAKEUP again")?;
    ring.push(ops::nop().with_user_data(800))
        .map_err(|_| "SQ full")?;
    ring.submit().map_err(|_| "submit failed")?;
    check(
        poll_for(ring, 800)? == 0,
        "the NOP after the wake-up failed",
    )?;
    let after = system_calls(ring)?;
    check(
        after > before,
        "no SQ_WAKEUP call was made for a sleeping poller",
    )?;
    check(
        run_one(ring, ops::sq_poll(0)) == 0,
        "turning polling off failed",
    )?;
    // Back to normal: submissions need ring_enter again, and work.
    check(run_one(ring, ops::nop()) == 0, "NOP after polling failed")?;
    Ok(())
}
