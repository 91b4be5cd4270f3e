//! Host tests for [`Ring`]: a fake kernel plays the other side of a ring
//! region in ordinary memory.
//!
//! The region is reached only through raw pointers and atomics, by the
//! ring and the fake kernel alike, just as the real region is reached
//! through an address by two parties.

use super::*;
use crate::abi::{CQ_ENTRIES, CQ_OFFSET, Errno, Opcode, SQ_ENTRIES, SQ_OFFSET, SystemValue};
use crate::ops;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

const REGION_BYTES: usize = RING_SIZE as usize;

/// Guard bytes on both sides of a test region, so a stray access would
/// land somewhere we can check.
const GUARD_BYTES: usize = 4096;
/// What the guards are filled with.
const POISON: u8 = 0xa5;

/// A ring region, set up as the kernel sets one up, between two guards.
struct Region {
    allocation: *mut u8,
    base: *mut u8,
}

impl Region {
    /// A fresh region whose four indices all start at `index`.
    fn new(index: u32) -> Region {
        let layout = Self::layout();
        // SAFETY: the layout has a non-zero size.
        let allocation = unsafe { alloc_zeroed(layout) };
        assert!(!allocation.is_null());
        // SAFETY: both guards and the region are inside the allocation.
        let base = unsafe {
            allocation.write_bytes(POISON, GUARD_BYTES);
            allocation
                .add(GUARD_BYTES + REGION_BYTES)
                .write_bytes(POISON, GUARD_BYTES);
            allocation.add(GUARD_BYTES)
        };
        let region = Region { allocation, base };
        let header = RingHeader {
            abi_version: ABI_VERSION,
            sq_entries: SQ_ENTRIES,
            cq_entries: CQ_ENTRIES,
            sq_offset: SQ_OFFSET,
            cq_offset: CQ_OFFSET,
            sq_head: index,
            sq_tail: index,
            cq_head: index,
            cq_tail: index,
            ..RingHeader::default()
        };
        region.set_header(header);
        region
    }

    fn layout() -> Layout {
        Layout::from_size_align(REGION_BYTES + 2 * GUARD_BYTES, 4096).unwrap()
    }

    fn header(&self) -> RingHeader {
        // SAFETY: the region starts with a header-sized, aligned area.
        unsafe { self.base.cast::<RingHeader>().read_volatile() }
    }

    fn set_header(&self, header: RingHeader) {
        // SAFETY: as in `header`.
        unsafe { self.base.cast::<RingHeader>().write_volatile(header) };
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: header offsets are aligned u32s inside the region.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast::<u32>()) }
    }

    fn get(&self, offset: usize) -> u32 {
        self.word(offset).load(Ordering::Acquire)
    }

    fn set(&self, offset: usize, value: u32) {
        self.word(offset).store(value, Ordering::Release);
    }

    /// A ring over this region, with a fresh fake kernel.
    fn ring(&self) -> (Ring<FakeKernel>, Rc<RefCell<Script>>) {
        let script = Rc::new(RefCell::new(Script::default()));
        let kernel = FakeKernel {
            base: self.base,
            script: Rc::clone(&script),
        };
        // SAFETY: the region is RING_SIZE bytes and outlives the ring in
        // every test (it is declared first, so dropped last).
        let ring = unsafe { Ring::from_raw(self.base, kernel) }.expect("a good header");
        (ring, script)
    }

    /// Whether both guards still hold nothing but poison.
    fn guards_intact(&self) -> bool {
        // SAFETY: both guards are inside the allocation.
        let (before, after) = unsafe {
            (
                core::slice::from_raw_parts(self.allocation, GUARD_BYTES),
                core::slice::from_raw_parts(self.base.add(REGION_BYTES), GUARD_BYTES),
            )
        };
        before.iter().chain(after).all(|&byte| byte == POISON)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.allocation, Self::layout()) };
    }
}

/// What the fake kernel does, and what it saw.
#[derive(Default)]
struct Script {
    /// Every `ring_enter` call: (to_submit, min_complete, flags).
    calls: Vec<(u32, u32, u32)>,
    /// Every submission taken, in order.
    taken: Vec<Submission>,
    /// Completions not yet posted, oldest first. Tests may add their own
    /// here to stand for other operations finishing.
    held: VecDeque<Completion>,
    /// Results to return instead of doing anything, one per call.
    errors: VecDeque<i64>,
    /// This many more calls take submissions but post nothing.
    hold_calls: usize,
    /// Post each call's completions newest first.
    reverse: bool,
    /// Take at most this many submissions per call.
    take_limit: Option<u32>,
    /// This many `READ`s and `WRITE`s more complete with `EBUSY`.
    busy_answers: usize,
}

/// A kernel that completes submissions straight away, as the script says.
struct FakeKernel {
    base: *mut u8,
    script: Rc<RefCell<Script>>,
}

impl FakeKernel {
    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: as in Region::word; the region outlives the kernel.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast::<u32>()) }
    }

    /// The result a submission completes with.
    fn result_of(submission: &Submission) -> i32 {
        match Opcode::try_from(submission.opcode) {
            Ok(Opcode::Log) => submission.length as i32,
            Ok(Opcode::Cancel) => Errno::NotFound.result(),
            Ok(Opcode::SystemInfo) => 42,
            Ok(_) => 0,
            Err(error) => error.result(),
        }
    }
}

impl Kernel for FakeKernel {
    fn ring_enter(&mut self, to_submit: u32, min_complete: u32, flags: u32) -> i64 {
        let mut script = self.script.borrow_mut();
        script.calls.push((to_submit, min_complete, flags));
        if let Some(error) = script.errors.pop_front() {
            return error;
        }

        // Take submissions, as the real kernel does: one copy each.
        // SAFETY: the region starts with a header-sized, aligned area.
        let header = unsafe { self.base.cast::<RingHeader>().read_volatile() };
        let head = self.word(header_offset::SQ_HEAD).load(Ordering::Acquire);
        let tail = self.word(header_offset::SQ_TAIL).load(Ordering::Acquire);
        let limit = script.take_limit.unwrap_or(u32::MAX);
        let count = to_submit.min(tail.wrapping_sub(head)).min(limit);
        let mut completed = Vec::new();
        for taken in 0..count {
            let slot = (head.wrapping_add(taken) & (header.sq_entries - 1)) as usize;
            // SAFETY: the slot is inside the SQ array of the region.
            let submission = unsafe {
                self.base
                    .add(header.sq_offset as usize + slot * 64)
                    .cast::<Submission>()
                    .read_volatile()
            };
            script.taken.push(submission);
            let stream = [Opcode::Read as u8, Opcode::Write as u8].contains(&submission.opcode);
            let result = if stream && script.busy_answers > 0 {
                script.busy_answers -= 1;
                Errno::Busy.result()
            } else {
                Self::result_of(&submission)
            };
            if submission.opcode != Opcode::Exit as u8 {
                completed.push(Completion {
                    user_data: submission.user_data,
                    result,
                    flags: 0,
                });
            }
        }
        self.word(header_offset::SQ_HEAD)
            .store(head.wrapping_add(count), Ordering::Release);
        if script.reverse {
            completed.reverse();
        }
        script.held.extend(completed);

        // Post what is held, while the CQ has room.
        if script.hold_calls > 0 {
            script.hold_calls -= 1;
        } else {
            let cq_head = self.word(header_offset::CQ_HEAD).load(Ordering::Acquire);
            let mut cq_tail = self.word(header_offset::CQ_TAIL).load(Ordering::Relaxed);
            while cq_tail.wrapping_sub(cq_head) < header.cq_entries {
                let Some(completion) = script.held.pop_front() else {
                    break;
                };
                post_at(self.base, cq_tail, completion);
                cq_tail = cq_tail.wrapping_add(1);
            }
            self.word(header_offset::CQ_TAIL)
                .store(cq_tail, Ordering::Release);
        }
        i64::from(count)
    }
}

/// Writes `completion` into the CQ slot for free-running `index`.
fn post_at(base: *mut u8, index: u32, completion: Completion) {
    // SAFETY: the region starts with a header-sized, aligned area.
    let header = unsafe { base.cast::<RingHeader>().read_volatile() };
    let slot = (index & (header.cq_entries - 1)) as usize;
    // SAFETY: the slot is inside the CQ array of the region.
    unsafe {
        base.add(header.cq_offset as usize + slot * 16)
            .cast::<Completion>()
            .write_volatile(completion)
    };
}

/// Posts `completion` on the region's CQ directly, as if the kernel had.
fn post(region: &Region, completion: Completion) {
    let tail = region.get(header_offset::CQ_TAIL);
    post_at(region.base, tail, completion);
    region.set(header_offset::CQ_TAIL, tail.wrapping_add(1));
}

fn tagged(user_data: u64) -> Completion {
    Completion {
        user_data,
        result: 0,
        flags: 0,
    }
}

fn user_data_of(completions: impl Iterator<Item = Completion>) -> Vec<u64> {
    completions.map(|completion| completion.user_data).collect()
}

// ---------------------------------------------------------------- header

#[test]
fn a_fresh_ring_is_empty_with_a_whole_free_sq() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    assert_eq!(ring.space(), SQ_ENTRIES);
    assert_eq!(ring.ready(), 0);
    assert_eq!(ring.completion(), None);
    assert!(!ring.broken());
    assert!(script.borrow().calls.is_empty());
}

/// A way to spoil a good header, for `from_raw_refuses_bad_headers`.
type Spoil = fn(&mut RingHeader);

#[test]
fn from_raw_refuses_bad_headers() {
    let cases: [(&str, Spoil); 14] = [
        ("newer ABI", |header| header.abi_version = ABI_VERSION + 1),
        ("no SQ entries", |header| header.sq_entries = 0),
        ("SQ entries not a power of two", |header| {
            header.sq_entries = 48
        }),
        ("CQ entries not a power of two", |header| {
            header.cq_entries = 100
        }),
        ("CQ inside the SQ", |header| {
            header.cq_offset = SQ_OFFSET + 64
        }),
        ("SQ over the header", |header| header.sq_offset = 0),
        ("CQ over the header", |header| header.cq_offset = 32),
        ("SQ past the end", |header| {
            header.sq_offset = RING_SIZE as u32 - 64
        }),
        ("CQ past the end", |header| {
            header.cq_offset = RING_SIZE as u32 - 16
        }),
        ("offset that would overflow", |header| {
            header.cq_offset = u32::MAX - 15
        }),
        ("misaligned CQ", |header| header.cq_offset = CQ_OFFSET + 8),
        ("huge CQ", |header| header.cq_entries = 1 << 31),
        ("SQ overfull", |header| {
            header.sq_tail = header.sq_head + SQ_ENTRIES + 1
        }),
        ("CQ overfull", |header| {
            header.cq_tail = header.cq_head.wrapping_sub(1)
        }),
    ];
    for (what, spoil) in cases {
        let region = Region::new(7);
        let mut header = region.header();
        spoil(&mut header);
        region.set_header(header);
        let kernel = FakeKernel {
            base: region.base,
            script: Rc::default(),
        };
        // SAFETY: the region is RING_SIZE bytes and outlives the call.
        let result = unsafe { Ring::from_raw(region.base, kernel) };
        assert_eq!(result.err(), Some(Errno::InvalidArgument), "{what}");
    }
}

#[test]
fn from_raw_refuses_null_and_misaligned_regions() {
    let region = Region::new(0);
    for base in [core::ptr::null_mut(), region.base.wrapping_add(4)] {
        let kernel = FakeKernel {
            base: region.base,
            script: Rc::default(),
        };
        // SAFETY: both are refused before anything is read.
        let result = unsafe { Ring::from_raw(base, kernel) };
        assert_eq!(result.err(), Some(Errno::InvalidArgument));
    }
}

#[test]
fn smaller_rings_than_the_default_work() {
    let region = Region::new(0);
    let mut header = region.header();
    header.sq_entries = 4;
    header.cq_entries = 1;
    region.set_header(header);
    let (mut ring, _script) = region.ring();
    assert_eq!(ring.space(), 4);
    assert_eq!(ring.run(ops::nop()), Ok(0));
}

// ------------------------------------------------------ pushing, batches

#[test]
fn run_patiently_pauses_and_asks_again_while_the_server_is_busy() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script.borrow_mut().busy_answers = 2;
    let mut buffer = [0u8; 8];
    assert_eq!(ring.run_patiently(ops::read(3, &mut buffer, 0)), Ok(0));
    let opcodes: Vec<u8> = script
        .borrow()
        .taken
        .iter()
        .map(|taken| taken.opcode)
        .collect();
    let (read, timeout) = (Opcode::Read as u8, Opcode::Timeout as u8);
    assert_eq!(opcodes, [read, timeout, read, timeout, read]);
    assert_eq!(
        script.borrow().taken[1].arguments[0],
        BUSY_PAUSE_NANOSECONDS
    );
    // Any other error comes back at once.
    script
        .borrow_mut()
        .errors
        .push_back(i64::from(Errno::Io.result()));
    assert_eq!(ring.run_patiently(ops::write(3, b"x", 0)), Err(Errno::Io));
}

#[test]
fn batch_of_one_round_trips() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    ring.push(ops::nop().with_user_data(9)).unwrap();
    assert_eq!(ring.space(), SQ_ENTRIES - 1);
    assert!(script.borrow().calls.is_empty(), "push alone is private");
    assert_eq!(region.get(header_offset::SQ_TAIL), 0, "not yet published");

    assert_eq!(ring.submit(), Ok(1));
    assert_eq!(script.borrow().calls, [(1, 0, 0)]);
    assert_eq!(ring.ready(), 1);
    assert_eq!(ring.completion(), Some(tagged(9)));
    assert_eq!(ring.completion(), None);
    assert_eq!(
        region.get(header_offset::CQ_HEAD),
        1,
        "consumption is published"
    );
}

#[test]
fn batch_of_thirty_two_completes_every_user_data() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    for user_data in 0..32 {
        ring.push(ops::nop().with_user_data(user_data)).unwrap();
    }
    assert_eq!(ring.submit_and_wait(32), Ok(32));
    assert_eq!(
        script.borrow().calls,
        [(32, 32, enter_flags::GET_EVENTS)],
        "one system call for the whole batch"
    );
    assert_eq!(ring.ready(), 32);
    assert_eq!(
        user_data_of(ring.completions()),
        (0..32).collect::<Vec<_>>()
    );
    assert_eq!(ring.ready(), 0);
}

#[test]
fn a_batch_is_pushed_whole_or_not_at_all_and_taken_in_order() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    let batch: Vec<Submission> = (0..32).map(|n| ops::nop().with_user_data(n)).collect();
    ring.push_batch(&batch).unwrap();
    assert_eq!(ring.space(), SQ_ENTRIES - 32);
    // One more than the room left: nothing of it is pushed.
    let too_many: Vec<Submission> = (0..=u64::from(ring.space()))
        .map(|n| ops::nop().with_user_data(100 + n))
        .collect();
    assert_eq!(ring.push_batch(&too_many), Err(Full));
    assert_eq!(ring.space(), SQ_ENTRIES - 32);
    assert_eq!(ring.submit_and_wait(32), Ok(32));
    assert_eq!(script.borrow().calls, [(32, 32, enter_flags::GET_EVENTS)]);

    // A late completion of an earlier `run` among them is skipped, as
    // `completion` skips it.
    post(&region, tagged(RESERVED_USER_DATA | 5));
    post(&region, tagged(77));
    let mut taken = [tagged(0); 20];
    assert_eq!(ring.completions_into(&mut taken), 20);
    assert_eq!(user_data_of(taken.into_iter()), (0..20).collect::<Vec<_>>());
    assert_eq!(
        region.get(header_offset::CQ_HEAD),
        20,
        "the head is published"
    );
    let mut rest = [tagged(0); 40];
    assert_eq!(ring.completions_into(&mut rest), 13);
    let mut expected: Vec<u64> = (20..32).collect();
    expected.push(77);
    assert_eq!(user_data_of(rest[..13].iter().copied()), expected);
    assert_eq!(ring.completions_into(&mut rest), 0);
    assert_eq!(ring.ready(), 0);
}

#[test]
fn a_full_sq_refuses_one_more_until_submitted() {
    let region = Region::new(0);
    let (mut ring, _script) = region.ring();
    for user_data in 0..u64::from(SQ_ENTRIES) {
        assert_eq!(ring.space(), SQ_ENTRIES - user_data as u32);
        ring.push(ops::nop().with_user_data(user_data)).unwrap();
    }
    assert_eq!(ring.space(), 0);
    assert_eq!(ring.push(ops::nop()), Err(Full));
    assert_eq!(Errno::from(Full), Errno::Busy);

    assert_eq!(ring.submit(), Ok(SQ_ENTRIES));
    assert_eq!(ring.space(), SQ_ENTRIES);
    assert_eq!(ring.ready(), SQ_ENTRIES);
    let all = user_data_of(ring.completions());
    assert_eq!(all, (0..u64::from(SQ_ENTRIES)).collect::<Vec<_>>());
}

#[test]
fn a_partly_taken_batch_is_offered_again() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script.borrow_mut().take_limit = Some(3);
    for user_data in 0..5 {
        ring.push(ops::nop().with_user_data(user_data)).unwrap();
    }
    assert_eq!(ring.submit(), Ok(3));
    assert_eq!(ring.space(), SQ_ENTRIES - 2);
    assert_eq!(ring.submit(), Ok(2));
    assert_eq!(script.borrow().calls, [(5, 0, 0), (2, 0, 0)]);
    assert_eq!(user_data_of(ring.completions()), [0, 1, 2, 3, 4]);
}

#[test]
fn submit_with_nothing_pending_makes_no_system_call() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    assert_eq!(ring.submit(), Ok(0));
    assert!(script.borrow().calls.is_empty());
    // Waiting is a reason to enter, even with nothing to submit.
    assert_eq!(ring.submit_and_wait(1), Ok(0));
    assert_eq!(script.borrow().calls, [(0, 1, enter_flags::GET_EVENTS)]);
}

#[test]
fn empty_cq_gives_nothing_and_completions_ends() {
    let region = Region::new(0);
    let (mut ring, _script) = region.ring();
    assert_eq!(ring.completion(), None);
    assert_eq!(ring.completions().count(), 0);
}

#[test]
fn indices_wrap_around_u32_max() {
    let start = u32::MAX - 40;
    let region = Region::new(start);
    let (mut ring, _script) = region.ring();
    let mut next = 0;
    for _round in 0..5 {
        for _ in 0..32 {
            ring.push(ops::nop().with_user_data(next)).unwrap();
            next += 1;
        }
        assert_eq!(ring.submit_and_wait(32), Ok(32));
        let round = user_data_of(ring.completions());
        assert_eq!(round, (next - 32..next).collect::<Vec<_>>());
        assert_eq!(ring.space(), SQ_ENTRIES);
    }
    let header = region.header();
    assert_eq!(header.sq_tail, start.wrapping_add(160));
    assert!(header.sq_tail < start, "the index wrapped");
    assert_eq!(header.cq_head, header.cq_tail);
    assert!(!ring.broken());
}

#[test]
fn negative_ring_enter_results_become_errno() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script
        .borrow_mut()
        .errors
        .extend([-16, -9999, i64::MIN, i64::from(i32::MIN) - 1]);
    ring.push(ops::nop()).unwrap();
    assert_eq!(ring.submit(), Err(Errno::Busy));
    assert_eq!(ring.submit(), Err(Errno::InvalidArgument), "unknown errno");
    assert_eq!(ring.submit(), Err(Errno::InvalidArgument), "beyond i32");
    assert_eq!(ring.submit(), Err(Errno::InvalidArgument), "beyond i32");
    assert_eq!(ring.submit(), Ok(1), "still pending, so offered again");
}

#[test]
fn check_result_splits_success_from_errors() {
    assert_eq!(check_result(0), Ok(0));
    assert_eq!(check_result(12), Ok(12));
    assert_eq!(check_result(-2), Err(Errno::NotFound));
    assert_eq!(
        check_result(-6),
        Err(Errno::InvalidArgument),
        "unknown errno"
    );
    assert_eq!(check_result(i32::MIN), Err(Errno::InvalidArgument));
}

// ----------------------------------------------------------------- polling

#[test]
fn polling_submit_skips_the_system_call_while_the_poller_is_awake() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    region.set(header_offset::FLAGS, ring_flags::SQ_POLL);
    for _ in 0..3 {
        ring.push(ops::nop()).unwrap();
    }
    assert_eq!(ring.submit(), Ok(3), "waiting for the poller");
    assert!(script.borrow().calls.is_empty());
    assert_eq!(region.get(header_offset::SQ_TAIL), 3, "but published");

    // Waiting still needs the kernel, but nothing is handed over.
    assert_eq!(ring.submit_and_wait(2), Ok(3));
    assert_eq!(script.borrow().calls, [(0, 2, enter_flags::GET_EVENTS)]);
}

#[test]
fn polling_submit_wakes_a_sleeping_poller() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    region.set(
        header_offset::FLAGS,
        ring_flags::SQ_POLL | ring_flags::NEED_WAKEUP,
    );
    // Nothing pending: no reason to wake it.
    assert_eq!(ring.submit(), Ok(0));
    assert!(script.borrow().calls.is_empty());

    ring.push(ops::nop()).unwrap();
    assert_eq!(ring.submit(), Ok(1));
    ring.push(ops::nop()).unwrap();
    assert_eq!(ring.submit_and_wait(1), Ok(2));
    assert_eq!(
        script.borrow().calls,
        [
            (0, 0, enter_flags::SQ_WAKEUP),
            (0, 1, enter_flags::SQ_WAKEUP | enter_flags::GET_EVENTS),
        ]
    );
}

// --------------------------------------------------------------------- run

#[test]
fn run_returns_the_result_and_tags_its_own_submission() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    let text = b"hello\n";
    assert_eq!(ring.run(ops::log(text)), Ok(6));
    assert_eq!(
        ring.run(
            ops::system_info(SystemValue::FreeFrames)
                .with_user_data(5)
                .linked()
        ),
        Ok(42)
    );
    let script = script.borrow();
    let [first, second] = script.taken[..] else {
        panic!("two submissions expected, got {:?}", script.taken);
    };
    assert_eq!(first.address, text.as_ptr() as u64);
    assert_ne!(first.user_data & RESERVED_USER_DATA, 0);
    assert_ne!(first.user_data, second.user_data, "each run its own tag");
    assert_eq!(second.flags, 0, "LINK cleared: nothing follows");
    assert_eq!(script.calls, [(1, 1, enter_flags::GET_EVENTS); 2]);
    assert_eq!(ring.completion(), None, "run's completions are its own");
}

#[test]
fn run_reports_negative_results_as_errno() {
    let region = Region::new(0);
    let (mut ring, _script) = region.ring();
    assert_eq!(ring.run(ops::cancel(77)), Err(Errno::NotFound));
    let mut unknown = ops::nop();
    unknown.opcode = 99;
    assert_eq!(ring.run(unknown), Err(Errno::InvalidArgument));
}

#[test]
fn run_keeps_waiting_until_its_completion_arrives() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script.borrow_mut().hold_calls = 2;
    assert_eq!(ring.run(ops::nop()), Ok(0));
    assert_eq!(
        script.borrow().calls,
        [
            (1, 1, enter_flags::GET_EVENTS),
            (0, 1, enter_flags::GET_EVENTS),
            (0, 1, enter_flags::GET_EVENTS),
        ]
    );
}

#[test]
fn run_matches_out_of_order_completions_by_user_data() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    for user_data in 1..=3 {
        ring.push(ops::nop().with_user_data(user_data)).unwrap();
    }
    script.borrow_mut().reverse = true;
    // The kernel completes run's own submission first, then 3, 2, 1.
    assert_eq!(ring.run(ops::system_info(SystemValue::ProcessId)), Ok(42));
    assert_eq!(user_data_of(ring.completions()), [3, 2, 1]);
}

#[test]
fn run_stashes_other_completions_and_completion_returns_them_first() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    // Three other operations finish just before run's own.
    script
        .borrow_mut()
        .held
        .extend([tagged(10), tagged(11), tagged(12)]);
    assert_eq!(ring.run(ops::nop()), Ok(0));
    assert_eq!(ring.ready(), 3, "stashed, not lost");
    assert_eq!(region.header().cq_head, region.header().cq_tail);

    // Newer arrivals come after the stashed ones.
    post(&region, tagged(13));
    assert_eq!(ring.ready(), 4);
    assert_eq!(user_data_of(ring.completions()), [10, 11, 12, 13]);
}

#[test]
fn run_finds_its_completion_beyond_a_full_stash() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script.borrow_mut().held.extend((100..140).map(tagged));
    assert_eq!(ring.run(ops::nop()), Ok(0));
    // 32 in the stash, 8 still in the CQ, and run's own behind them.
    assert_eq!(ring.ready(), 41);
    assert_eq!(
        user_data_of(ring.completions()),
        (100..140).collect::<Vec<_>>(),
        "in arrival order, without run's own"
    );
    assert_eq!(ring.completion(), None);
    assert_eq!(region.header().cq_head, region.header().cq_tail);
}

#[test]
fn run_submits_a_full_sq_first_to_make_room() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    for user_data in 0..u64::from(SQ_ENTRIES) {
        ring.push(ops::nop().with_user_data(user_data)).unwrap();
    }
    assert_eq!(ring.run(ops::nop()), Ok(0));
    assert_eq!(script.borrow().calls[0], (SQ_ENTRIES, 0, 0));
    assert_eq!(ring.completions().count(), SQ_ENTRIES as usize);
}

#[test]
fn run_on_a_full_sq_the_kernel_will_not_take_is_busy() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    script.borrow_mut().take_limit = Some(0);
    for _ in 0..SQ_ENTRIES {
        ring.push(ops::nop()).unwrap();
    }
    assert_eq!(ring.run(ops::nop()), Err(Errno::Busy));
}

#[test]
fn run_with_no_room_anywhere_is_busy_and_loses_nothing() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    // The CQ is full of other completions, and 32 more are on their way.
    for user_data in 0..u64::from(CQ_ENTRIES) {
        post(&region, tagged(user_data));
    }
    let total = u64::from(CQ_ENTRIES) + STASH_CAPACITY as u64;
    script
        .borrow_mut()
        .held
        .extend((u64::from(CQ_ENTRIES)..total).map(tagged));
    assert_eq!(ring.run(ops::nop()), Err(Errno::Busy));

    // Everything else is still there, in order; run's late completion,
    // posted once there is room, is dropped.
    let mut seen = Vec::new();
    while let Some(completion) = ring.completion() {
        seen.push(completion.user_data);
        if seen.len() == 64 {
            // There is room now: the kernel posts run's completion.
            ring.submit_and_wait(1).unwrap();
            assert!(script.borrow().held.is_empty());
        }
    }
    assert_eq!(seen, (0..total).collect::<Vec<_>>());
}

#[test]
fn run_offers_its_submission_again_while_the_kernel_is_busy() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    let busy = i64::from(Errno::Busy.result());
    script.borrow_mut().errors.extend([busy, busy]);
    assert_eq!(ring.run(ops::nop()), Ok(0));
    assert_eq!(script.borrow().calls, [(1, 1, enter_flags::GET_EVENTS); 3]);
}

#[test]
fn a_late_completion_of_a_failed_run_is_dropped() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    let fault = i64::from(Errno::Fault.result());
    script.borrow_mut().errors.push_back(fault);
    assert_eq!(ring.run(ops::nop()), Err(Errno::Fault));
    // It is still in the SQ; a later submit hands it over.
    ring.push(ops::nop().with_user_data(1)).unwrap();
    assert_eq!(ring.submit(), Ok(2));
    assert_eq!(ring.ready(), 2, "ready counts the late one ...");
    assert_eq!(
        user_data_of(ring.completions()),
        [1],
        "... but it is not returned"
    );
}

// ------------------------------------------------------- a lying kernel

#[test]
fn corrupt_cq_tail_breaks_the_ring() {
    let region = Region::new(0);
    let (mut ring, _script) = region.ring();
    post(&region, tagged(1));
    region.set(header_offset::CQ_TAIL, CQ_ENTRIES + 1);
    assert_eq!(ring.ready(), 0);
    assert_eq!(ring.completion(), None);
    assert!(ring.broken());
    // Even once the index looks sane again: broken stays broken.
    region.set(header_offset::CQ_TAIL, 1);
    assert_eq!(ring.completion(), None);
    assert_eq!(ring.submit(), Err(Errno::Fault));
    assert_eq!(ring.run(ops::nop()), Err(Errno::Fault));
    assert_eq!(ring.push(ops::nop()), Err(Full));
}

#[test]
fn corrupt_sq_head_breaks_the_ring() {
    let region = Region::new(100);
    let (mut ring, _script) = region.ring();
    ring.push(ops::nop()).unwrap();
    // The kernel claims to have taken submissions never published.
    region.set(header_offset::SQ_HEAD, 105);
    assert_eq!(ring.space(), 0);
    assert!(ring.broken());
    assert_eq!(ring.push(ops::nop()), Err(Full));
    assert_eq!(ring.submit(), Err(Errno::Fault));
}

#[test]
fn corrupt_indices_never_reach_outside_the_region() {
    // A small xorshift generator: reproducible, and no dependencies.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for trial in 0..2_000 {
        let region = Region::new(next() as u32);
        // Tag every CQ slot, so any completion read can be traced to one.
        for slot in 0..CQ_ENTRIES {
            post_at(region.base, slot, tagged(0xc0de_0000 + u64::from(slot)));
        }
        let (mut ring, script) = region.ring();
        script.borrow_mut().errors.extend([0; 64]); // a kernel doing nothing
        for _step in 0..8 {
            let value = next() as u32;
            match next() % 4 {
                0 => region.set(header_offset::CQ_TAIL, value),
                1 => region.set(header_offset::SQ_HEAD, value),
                2 => region.set(header_offset::FLAGS, value),
                _ => region.set(
                    header_offset::CQ_TAIL,
                    ring.cq_head.wrapping_add(value % (2 * CQ_ENTRIES)),
                ),
            }
            let _ = ring.push(ops::nop().with_user_data(0xbad));
            let _ = ring.submit();
            let mut taken = 0;
            while let Some(completion) = ring.completion() {
                assert_eq!(completion.user_data & !0xff, 0xc0de_0000, "trial {trial}");
                taken += 1;
                assert!(taken <= CQ_ENTRIES, "trial {trial}: more than the CQ holds");
            }
            assert!(ring.ready() <= CQ_ENTRIES + STASH_CAPACITY as u32);
            assert!(ring.space() <= SQ_ENTRIES);
        }
        assert!(region.guards_intact(), "trial {trial}");
        let header = region.header();
        assert_eq!(
            (header.abi_version, header.sq_offset, header.cq_offset),
            (ABI_VERSION, SQ_OFFSET, CQ_OFFSET),
            "trial {trial}: the ring wrote only its own indices"
        );
    }
}

#[test]
fn run_waits_for_no_more_than_it_saw_when_its_completion_lands_in_between() {
    let region = Region::new(0);
    let (mut ring, script) = region.ring();
    // The kernel takes the submission on the first call and posts nothing
    // then; its completion lands after `run` has looked at the CQ (empty)
    // and before it decides how many to wait for.
    script.borrow_mut().hold_calls = 1;
    let base = region.base;
    let late = Rc::clone(&script);
    let mut posted = false;
    ring.after_collect = Some(Box::new(move || {
        let mut script = late.borrow_mut();
        if posted || script.held.is_empty() {
            return;
        }
        posted = true;
        let completion = script.held.pop_front().unwrap();
        // SAFETY: the region outlives the ring.
        let tail = unsafe { AtomicU32::from_ptr(base.add(header_offset::CQ_TAIL).cast::<u32>()) };
        let index = tail.load(Ordering::Acquire);
        post_at(base, index, completion);
        tail.store(index.wrapping_add(1), Ordering::Release);
    }));
    assert_eq!(ring.run(ops::system_info(SystemValue::ProcessId)), Ok(42));
    // Every wait asked for no more completions than there were to have:
    // a kernel would have blocked for ever on one that asked for 2.
    let calls = script.borrow().calls.clone();
    assert!(
        calls.iter().all(|&(_, min_complete, _)| min_complete <= 1),
        "{calls:?}"
    );
}
