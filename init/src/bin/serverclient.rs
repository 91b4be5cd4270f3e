//! serverclient: the test suite for requests forwarded to servers, run as
//! the client of two test servers (`servers/testserver`):
//!
//! ```text
//! run=testserver+serve=alpha,testserver+serve=beta,serverclient+use=alpha+use=beta
//! ```
//!
//! so its startup handles are [alpha, beta]. It checks what a client sees:
//! batches answered in order with their `user_data`; 10,000 `WRITE`s and
//! many `READ`s whose bytes arrive intact; every misuse refused, by the
//! server (its `MISUSE` report) and by the client (forged, closed and
//! wrong-kind handles); LINK chains that mix kernel operations and both
//! servers; a link timeout and a `CANCEL` cutting off a held request; and,
//! last, a server's death: its pending requests complete with `ESRVDEAD`
//! and the other server goes on.
//!
//! One line per case, then `servertest: N passed, M failed`; the exit code
//! is the number of failures. Servers do not end by themselves, so the
//! suite's last act is to tell alpha to exit (beta is dead by then): the
//! machine then powers off as usual when every process has ended.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{Completion, Errno, MAP_BASE, Submission, SystemValue};
use libring::ops::{self, SubmissionOptions};
use libring::ring::Ring;
use libring::runtime::{Arguments, Syscall, handles, with_ring};
use testserver::{
    Checksum, HOLD_READ, MINTED_BADGE, MISUSE_BYTES, RELEASED, control, misuse, pattern_byte,
};

libring::entry!(main);

/// Why a test failed, and the value that showed it, if one did.
struct Failure {
    why: &'static str,
    value: Option<i64>,
}

type Outcome = Result<(), Failure>;
/// A test: its name and the function that runs it.
type Test = (
    &'static str,
    fn(&mut Ring<Syscall>, &mut Context) -> Outcome,
);

/// What every test gets: the two servers and some memory to lend them.
struct Context {
    alpha: u32,
    beta: u32,
    /// [`BATCH`] buffers of [`BUFFER_SIZE`] bytes, allocated before any
    /// test runs (a test runs inside `with_ring`, where allocating panics).
    pool: Vec<u8>,
    random: Random,
}

/// Requests in flight at once in the bulk tests.
const BATCH: usize = 32;
/// The largest `READ` or `WRITE` (the test server's limit).
const BUFFER_SIZE: usize = 8192;
/// How many `WRITE`s `writes_come_back_with_matching_checksums` makes.
const WRITES: usize = 10_000;
/// How many `READ`s `reads_fill_buffers_with_the_pattern` makes.
const READS: usize = 1_000;

const TESTS: &[Test] = &[
    ("echo_batch_of_1", echo_batch_of_1),
    ("echo_batch_of_32", echo_batch_of_32),
    (
        "badge_is_the_client_process_id",
        badge_is_the_client_process_id,
    ),
    (
        "writes_come_back_with_matching_checksums",
        writes_come_back_with_matching_checksums,
    ),
    (
        "reads_fill_buffers_with_the_pattern",
        reads_fill_buffers_with_the_pattern,
    ),
    (
        "server_misuse_is_refused_as_documented",
        server_misuse_is_refused_as_documented,
    ),
    (
        "reply_to_another_servers_request_is_enoent",
        reply_to_another_servers_request_is_enoent,
    ),
    (
        "forged_and_closed_handles_are_ebadf",
        forged_and_closed_handles_are_ebadf,
    ),
    (
        "a_client_handle_used_as_another_kind_is_eperm",
        a_client_handle_used_as_another_kind_is_eperm,
    ),
    (
        "cancel_reaches_a_held_request",
        cancel_reaches_a_held_request,
    ),
    (
        "client_is_unaffected_by_the_misuse",
        client_is_unaffected_by_the_misuse,
    ),
    (
        "cross_server_link_chain_runs_in_order",
        cross_server_link_chain_runs_in_order,
    ),
    (
        "failing_member_cancels_the_rest_of_the_chain",
        failing_member_cancels_the_rest_of_the_chain,
    ),
    (
        "link_timeout_cuts_off_a_held_request",
        link_timeout_cuts_off_a_held_request,
    ),
    (
        "server_death_completes_its_requests_with_esrvdead",
        server_death_completes_its_requests_with_esrvdead,
    ),
];

fn main(_arguments: Arguments) -> i32 {
    let &[alpha, beta] = handles() else {
        libring::println!(
            "serverclient: needs two handles, alpha and beta (run it with +use=alpha+use=beta)"
        );
        return 2;
    };
    let mut context = Context {
        alpha,
        beta,
        pool: vec![0; BATCH * BUFFER_SIZE],
        random: Random(0x2545_f491_4f6c_dd1d),
    };
    let mut passed = 0;
    let mut failed = 0;
    for (name, test) in TESTS {
        let outcome = with_ring(|ring| {
            let outcome = test(ring, &mut context);
            drain(ring);
            outcome
        });
        match outcome {
            Ok(()) => {
                passed += 1;
                libring::println!("test {name} ... ok");
            }
            Err(Failure { why, value: None }) => {
                failed += 1;
                libring::println!("test {name} ... FAILED: {why}");
            }
            Err(Failure {
                why,
                value: Some(value),
            }) => {
                failed += 1;
                libring::println!("test {name} ... FAILED: {why} (got {value})");
            }
        }
    }
    libring::println!("servertest: {passed} passed, {failed} failed");
    // The servers never end by themselves: tell alpha to (beta died in the
    // last test), so that every process ends and the machine powers off.
    let exit = with_ring(|ring| ring.run(ops::control(alpha, [control::EXIT, 0, 0])));
    if exit != Ok(0) {
        libring::println!("serverclient: alpha would not exit: {exit:?}");
    }
    failed
}

// ------------------------------------------------------------- helpers

fn check(condition: bool, why: &'static str) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(Failure { why, value: None })
    }
}

/// Checks `result == wanted`; otherwise fails, showing `result`.
fn expect(result: i32, wanted: i32, why: &'static str) -> Outcome {
    if result == wanted {
        Ok(())
    } else {
        Err(Failure {
            why,
            value: Some(result as i64),
        })
    }
}

fn fail(why: &'static str) -> Failure {
    Failure { why, value: None }
}

/// A `CONTROL` request for the test server.
fn control(handle: u32, what: u64, argument: u64) -> Submission {
    ops::control(handle, [what, argument, 0])
}

/// Runs one submission to completion; its result, negative on failure.
fn run_one(ring: &mut Ring<Syscall>, submission: Submission) -> i32 {
    match ring.run(submission) {
        Ok(result) => result,
        Err(error) => error.result(),
    }
}

fn push(ring: &mut Ring<Syscall>, submission: Submission) -> Outcome {
    ring.push(submission).map_err(|_| fail("SQ full"))
}

/// The next completion, waiting for one if there is none.
fn next_completion(ring: &mut Ring<Syscall>) -> Result<Completion, Failure> {
    loop {
        if let Some(completion) = ring.completion() {
            return Ok(completion);
        }
        ring.submit_and_wait(1)
            .map_err(|_| fail("waiting for a completion failed"))?;
    }
}

/// Publishes everything pushed and waits for `count` completions, returned
/// in arrival order.
fn submit_and_collect<const N: usize>(
    ring: &mut Ring<Syscall>,
    count: usize,
) -> Result<heapless::Vec<Completion, N>, Failure> {
    ring.submit().map_err(|_| fail("submit failed"))?;
    let mut collected = heapless::Vec::<Completion, N>::new();
    while collected.len() < count {
        collected
            .push(next_completion(ring)?)
            .map_err(|_| fail("more completions than expected"))?;
    }
    Ok(collected)
}

/// Consumes stray completions a failed test may have left.
fn drain(ring: &mut Ring<Syscall>) {
    while ring.completion().is_some() {}
}

/// xorshift64*: reproducible pseudo-random numbers, the same every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..=limit`.
    fn up_to(&mut self, limit: usize) -> usize {
        (self.next() % (limit as u64 + 1)) as usize
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The checksum of the pattern bytes at `offset .. offset + length`: what a
/// server computes over what a `READ` from the test server gave.
fn pattern_checksum(offset: u64, length: usize) -> i32 {
    let mut checksum = Checksum::new();
    for index in 0..length as u64 {
        checksum.update(&[pattern_byte(offset + index)]);
    }
    checksum.result()
}

/// Does `bytes` hold the pattern from `offset` on?
fn is_pattern(bytes: &[u8], offset: u64) -> bool {
    bytes
        .iter()
        .enumerate()
        .all(|(index, &byte)| byte == pattern_byte(offset + index as u64))
}

// --------------------------------------------------------------- tests

fn echo_batch_of_1(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    push(
        ring,
        control(context.alpha, control::ECHO, 12345).with_user_data(42),
    )?;
    let completions = submit_and_collect::<1>(ring, 1)?;
    let completion = completions[0];
    check(completion.user_data == 42, "user_data not echoed")?;
    check(completion.flags == 0, "a flag on a plain completion")?;
    expect(completion.result, 12345, "ECHO answered something else")
}

fn echo_batch_of_32(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    // More than the server's 16 message slots: half of them wait in the
    // endpoint's queue at first.
    for index in 0..32 {
        push(
            ring,
            control(context.alpha, control::ECHO, 5000 + index).with_user_data(100 + index),
        )?;
    }
    let completions = submit_and_collect::<32>(ring, 32)?;
    for (index, completion) in completions.iter().enumerate() {
        check(
            completion.user_data == 100 + index as u64,
            "completions out of order or user_data lost",
        )?;
        expect(
            completion.result,
            5000 + index as i32,
            "ECHO answered something else",
        )?;
    }
    Ok(())
}

fn badge_is_the_client_process_id(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    let id = run_one(ring, ops::system_info(SystemValue::ProcessId));
    for server in [context.alpha, context.beta] {
        expect(
            run_one(ring, control(server, control::BADGE, 0)),
            id,
            "the badge is not this process's id",
        )?;
    }
    Ok(())
}

fn writes_come_back_with_matching_checksums(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    let Context {
        alpha,
        beta,
        pool,
        random,
    } = context;
    let mut expected = [0i32; BATCH];
    for round in 0..WRITES / BATCH + 1 {
        let count = BATCH.min(WRITES - round * BATCH);
        for (index, buffer) in pool.chunks_mut(BUFFER_SIZE).take(count).enumerate() {
            let bytes = &mut buffer[..random.up_to(BUFFER_SIZE)];
            random.fill(bytes);
            expected[index] = Checksum::of(bytes);
            // Both servers, in turn.
            let server = if (round + index) % 2 == 0 {
                *alpha
            } else {
                *beta
            };
            push(
                ring,
                ops::write(server, bytes, 0).with_user_data(index as u64),
            )?;
        }
        let completions = submit_and_collect::<BATCH>(ring, count)?;
        for completion in completions {
            let index = completion.user_data as usize;
            check(index < count, "a completion with user_data never used")?;
            expect(
                completion.result,
                expected[index],
                "a checksum does not match",
            )?;
        }
    }
    Ok(())
}

fn reads_fill_buffers_with_the_pattern(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    let Context {
        alpha,
        beta,
        pool,
        random,
    } = context;
    let mut asked = [(0usize, 0u64); BATCH];
    for round in 0..READS / BATCH + 1 {
        let count = BATCH.min(READS - round * BATCH);
        for (index, buffer) in pool.chunks_mut(BUFFER_SIZE).take(count).enumerate() {
            buffer.fill(0xa5);
            let length = random.up_to(BUFFER_SIZE);
            let offset = random.next() >> 16;
            asked[index] = (length, offset);
            let server = if (round + index) % 2 == 0 {
                *alpha
            } else {
                *beta
            };
            push(
                ring,
                ops::read(server, &mut buffer[..length], offset).with_user_data(index as u64),
            )?;
        }
        let completions = submit_and_collect::<BATCH>(ring, count)?;
        for completion in completions {
            let index = completion.user_data as usize;
            check(index < count, "a completion with user_data never used")?;
            let (length, offset) = asked[index];
            expect(
                completion.result,
                length as i32,
                "READ did not answer its length",
            )?;
            let buffer = &pool[index * BUFFER_SIZE..(index + 1) * BUFFER_SIZE];
            check(
                is_pattern(&buffer[..length], offset),
                "the bytes read are not the pattern",
            )?;
            check(
                buffer[length..].iter().all(|&byte| byte == 0xa5),
                "READ wrote past its buffer",
            )?;
        }
    }
    Ok(())
}

fn server_misuse_is_refused_as_documented(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    // A READ the server holds, whose grant MISUSE abuses (and then answers
    // with 4 bytes), then the MISUSE request itself.
    let buffer = &mut context.pool[..64];
    buffer.fill(0xee);
    let mut held = ops::read(context.alpha, buffer, 0).with_user_data(1);
    held.operation_flags = HOLD_READ;
    push(ring, held)?;
    push(
        ring,
        control(context.alpha, control::MISUSE, 0).with_user_data(2),
    )?;
    let completions = submit_and_collect::<2>(ring, 2)?;
    let [read, report] = [completions[0], completions[1]];
    check(
        read.user_data == 1 && report.user_data == 2,
        "the held READ was not answered before the MISUSE report",
    )?;
    let missing = misuse::ALL & !(report.result as u32);
    if report.result < 0 || missing != 0 {
        return Err(Failure {
            why: "some misuse was not refused as documented: the missing misuse bits",
            value: Some(if report.result < 0 {
                report.result as i64
            } else {
                missing as i64
            }),
        });
    }
    expect(read.result, 4, "the held READ was not answered with 4")?;
    let buffer = &context.pool[..64];
    check(
        &buffer[..4] == MISUSE_BYTES,
        "the COPY_OUT inside the grant did not arrive",
    )?;
    check(
        buffer[4..].iter().all(|&byte| byte == 0xee),
        "a refused COPY_OUT wrote to the client's buffer",
    )
}

fn reply_to_another_servers_request_is_enoent(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    // Alpha holds a request; beta tries to answer it.
    push(
        ring,
        control(context.alpha, control::HOLD, 0).with_user_data(1),
    )?;
    ring.submit().map_err(|_| fail("submit failed"))?;
    let id = run_one(ring, control(context.alpha, control::WHOAMI, 0));
    check(id > 0, "WHOAMI found no held request")?;
    let stolen = run_one(ring, control(context.beta, control::STEAL, id as u64));
    // Whatever happened, let alpha answer, so nothing is left behind.
    let released = run_one(ring, control(context.alpha, control::RELEASE, 0));
    let hold = next_completion(ring)?;
    expect(
        stolen,
        Errno::NotFound.result(),
        "beta's REPLY to alpha's request was not ENOENT",
    )?;
    expect(released, 0, "RELEASE failed")?;
    check(hold.user_data == 1, "a stray completion")?;
    expect(
        hold.result,
        RELEASED,
        "the held request was not answered by its own server",
    )
}

fn forged_and_closed_handles_are_ebadf(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    let alpha = context.alpha;
    // Handle numbers this process was never given: 0, alpha's slot with
    // another generation, a slot never used, and nonsense.
    for forged in [0, alpha ^ (1 << 16), alpha + 100, 0x7fff_ffff, u32::MAX] {
        expect(
            run_one(ring, control(forged, control::ECHO, 1)),
            Errno::BadHandle.result(),
            "a forged handle was not EBADF",
        )?;
    }
    // A handle the server mints and passes in its REPLY works, carries the
    // server's badge, and is dead once closed.
    let given = run_one(ring, control(alpha, control::GIVE_HANDLE, 0));
    check(given > 0, "the server could not give a handle")?;
    let given = given as u32;
    check(
        given != alpha && given != context.beta,
        "the passed handle has the number of another",
    )?;
    expect(
        run_one(ring, control(given, control::BADGE, 0)),
        MINTED_BADGE as i32,
        "the passed handle does not carry the minted badge",
    )?;
    expect(run_one(ring, ops::close(given)), 0, "CLOSE failed")?;
    expect(
        run_one(ring, control(given, control::ECHO, 1)),
        Errno::BadHandle.result(),
        "a closed handle was not EBADF",
    )?;
    expect(
        run_one(ring, ops::close(given)),
        Errno::BadHandle.result(),
        "closing twice was not EBADF",
    )
}

fn a_client_handle_used_as_another_kind_is_eperm(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    let alpha = context.alpha;
    let slots = context.pool.as_ptr() as u64;
    // Far above anything the heap will reach.
    let device_address = MAP_BASE + (1 << 36);
    let wrong_kind = [
        ops::receive(alpha, slots, 1),
        ops::mint(alpha, 1),
        ops::irq_wait(alpha),
        ops::irq_ack(alpha),
        ops::map_device(alpha, device_address),
    ];
    for submission in wrong_kind {
        expect(
            run_one(ring, submission),
            Errno::NotPermitted.result(),
            "a client handle was taken for a service, IRQ or device handle",
        )?;
    }
    Ok(())
}

fn cancel_reaches_a_held_request(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    push(
        ring,
        control(context.alpha, control::HOLD, 0).with_user_data(1),
    )?;
    ring.submit().map_err(|_| fail("submit failed"))?;
    // WHOAMI answers once the HOLD is surely held.
    check(
        run_one(ring, control(context.alpha, control::WHOAMI, 0)) > 0,
        "WHOAMI found no held request",
    )?;
    expect(run_one(ring, ops::cancel(1)), 0, "CANCEL did not find it")?;
    let hold = next_completion(ring)?;
    check(hold.user_data == 1, "a stray completion")?;
    expect(
        hold.result,
        Errno::Cancelled.result(),
        "the held request was not ECANCELED",
    )?;
    // The server's answer to it now goes nowhere.
    expect(
        run_one(ring, control(context.alpha, control::RELEASE, 0)),
        0,
        "RELEASE failed",
    )?;
    expect(run_one(ring, ops::timeout(20_000_000)), 0, "TIMEOUT failed")?;
    check(
        ring.ready() == 0,
        "the cancelled request completed a second time",
    )
}

fn client_is_unaffected_by_the_misuse(ring: &mut Ring<Syscall>, context: &mut Context) -> Outcome {
    echo_batch_of_32(ring, context)?;
    for server in [context.alpha, context.beta] {
        let buffer = &mut context.pool[..5000];
        context.random.fill(buffer);
        let checksum = Checksum::of(buffer);
        expect(
            run_one(ring, ops::write(server, buffer, 0)),
            checksum,
            "a WRITE's checksum does not match",
        )?;
        expect(
            run_one(ring, ops::read(server, buffer, 3)),
            5000,
            "a READ did not answer its length",
        )?;
        check(is_pattern(buffer, 3), "the bytes read are not the pattern")?;
    }
    Ok(())
}

fn cross_server_link_chain_runs_in_order(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    // NOP, then READ from alpha into the buffer, then WRITE of that buffer
    // to beta, then a 1 ms TIMEOUT: each starts only when the one before
    // has succeeded, so beta checksums exactly what alpha wrote.
    const LENGTH: usize = 3000;
    const OFFSET: u64 = 77;
    let buffer = &mut context.pool[..LENGTH];
    buffer.fill(0);
    push(ring, ops::nop().with_user_data(1).linked())?;
    push(
        ring,
        ops::read(context.alpha, buffer, OFFSET)
            .with_user_data(2)
            .linked(),
    )?;
    push(
        ring,
        ops::write(context.beta, buffer, 0)
            .with_user_data(3)
            .linked(),
    )?;
    push(ring, ops::timeout(1_000_000).with_user_data(4))?;
    let completions = submit_and_collect::<4>(ring, 4)?;
    let expected = [0, LENGTH as i32, pattern_checksum(OFFSET, LENGTH), 0];
    for (index, completion) in completions.iter().enumerate() {
        check(
            completion.user_data == index as u64 + 1,
            "the chain completed out of order",
        )?;
        expect(
            completion.result,
            expected[index],
            "a chain member gave the wrong result",
        )?;
    }
    check(
        is_pattern(&context.pool[..LENGTH], OFFSET),
        "the buffer does not hold what alpha sent",
    )
}

fn failing_member_cancels_the_rest_of_the_chain(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    // Alpha answers an unknown CONTROL with -EINVAL: the WRITE to beta and
    // the TIMEOUT after it never start.
    push(ring, ops::nop().with_user_data(1).linked())?;
    push(
        ring,
        control(context.alpha, 999, 0).with_user_data(2).linked(),
    )?;
    push(
        ring,
        ops::write(context.beta, &context.pool[..100], 0)
            .with_user_data(3)
            .linked(),
    )?;
    push(ring, ops::timeout(1_000_000).with_user_data(4))?;
    let completions = submit_and_collect::<4>(ring, 4)?;
    let cancelled = Errno::Cancelled.result();
    let expected = [0, Errno::InvalidArgument.result(), cancelled, cancelled];
    for (index, completion) in completions.iter().enumerate() {
        check(
            completion.user_data == index as u64 + 1,
            "the chain completed out of order",
        )?;
        expect(
            completion.result,
            expected[index],
            "a chain member gave the wrong result",
        )?;
    }
    Ok(())
}

fn link_timeout_cuts_off_a_held_request(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    const HOLD: u64 = 1;
    const LINK_TIMEOUT: u64 = 2;
    const GUARD: u64 = 3;
    push(
        ring,
        control(context.alpha, control::HOLD, 0)
            .with_user_data(HOLD)
            .linked(),
    )?;
    push(
        ring,
        ops::link_timeout(20_000_000).with_user_data(LINK_TIMEOUT),
    )?;
    // A separate chain: gives up on the link timeout after a second, so
    // that a kernel that never fires it fails this test instead of hanging.
    push(ring, ops::timeout(1_000_000_000).with_user_data(GUARD))?;
    ring.submit().map_err(|_| fail("submit failed"))?;
    let (mut hold, mut link_timeout) = (None, None);
    while hold.is_none() || link_timeout.is_none() {
        let completion = next_completion(ring)?;
        match completion.user_data {
            HOLD => hold = Some(completion.result),
            LINK_TIMEOUT => link_timeout = Some(completion.result),
            GUARD => {
                // Clean up: the server answers the held request, which
                // also ends the link timeout.
                run_one(ring, control(context.alpha, control::RELEASE, 0));
                for _ in [hold, link_timeout].iter().filter(|seen| seen.is_none()) {
                    next_completion(ring)?;
                }
                return Err(fail(
                    "the link timeout did not fire within a second: the held request is still pending",
                ));
            }
            _ => return Err(fail("a stray completion")),
        }
    }
    run_one(ring, ops::cancel(GUARD));
    let guard = next_completion(ring)?;
    check(guard.user_data == GUARD, "a stray completion")?;
    expect(
        link_timeout.unwrap_or(0),
        Errno::TimedOut.result(),
        "the link timeout was not ETIME",
    )?;
    expect(
        hold.unwrap_or(0),
        Errno::Cancelled.result(),
        "the held request was not ECANCELED",
    )?;
    // The server still holds it; its answer now goes nowhere.
    expect(
        run_one(ring, control(context.alpha, control::RELEASE, 0)),
        0,
        "RELEASE failed",
    )?;
    expect(run_one(ring, ops::timeout(20_000_000)), 0, "TIMEOUT failed")?;
    check(
        ring.ready() == 0,
        "the cut-off request completed a second time",
    )
}

fn server_death_completes_its_requests_with_esrvdead(
    ring: &mut Ring<Syscall>,
    context: &mut Context,
) -> Outcome {
    // Beta holds five requests, then crashes while answering a sixth.
    for index in 0..5 {
        push(
            ring,
            control(context.beta, control::HOLD, 0).with_user_data(10 + index),
        )?;
    }
    push(
        ring,
        control(context.beta, control::CRASH, 0).with_user_data(20),
    )?;
    let completions = submit_and_collect::<6>(ring, 6)?;
    for completion in completions {
        check(
            (10..15).contains(&completion.user_data) || completion.user_data == 20,
            "a stray completion",
        )?;
        expect(
            completion.result,
            Errno::ServerDead.result(),
            "a request to the dead server was not ESRVDEAD",
        )?;
    }
    expect(
        run_one(ring, control(context.beta, control::ECHO, 1)),
        Errno::ServerDead.result(),
        "a new request to the dead server was not ESRVDEAD",
    )?;
    expect(
        run_one(ring, control(context.alpha, control::ECHO, 6)),
        6,
        "alpha stopped working when beta died",
    )?;
    let buffer = &mut context.pool[..1000];
    context.random.fill(buffer);
    expect(
        run_one(ring, ops::write(context.alpha, buffer, 0)),
        Checksum::of(buffer),
        "alpha's checksum does not match after beta died",
    )
}
