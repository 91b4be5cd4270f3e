//! The process's side of its ring: write submissions, read completions.
//!
//! A [`Ring`] wraps the shared ring region described in [`crate::abi`]. It
//! is the only thing in the process that writes the submission queue (SQ)
//! and reads the completion queue (CQ), in the spirit of liburing:
//!
//! ```text
//!  push(s) ──► SQ slot (private until published)
//!  submit() ─► release-store sq_tail, then ring_enter if the kernel needs telling
//!  completion() ◄── CQ slot, after an acquire-load of cq_tail
//! ```
//!
//! The kernel is reached through the [`Kernel`] trait, so the host unit
//! tests can plug in a fake kernel and run all of this without a machine.
//!
//! # Trust
//! The ring region is shared with the kernel, so every index the kernel
//! writes (`sq_head`, `cq_tail`, `flags`) is treated as a claim to check,
//! not a fact. Slots are always found as `index & mask` inside arrays whose
//! bounds were checked once, in [`Ring::from_raw`], so no index value can
//! make the library touch memory outside the region. An index that cannot
//! be right (more completions waiting than the CQ holds, more submissions
//! in flight than the SQ holds) marks the ring *broken*: it then takes
//! nothing more from the CQ, accepts no pushes, and every submit fails
//! with [`Errno::Fault`].
//!
//! # Invariants
//! - `sq_entries`, `cq_entries`, the masks and the array offsets are copies
//!   taken and checked in `from_raw`; the header's copies are never
//!   re-read, so a kernel that changes them later changes nothing here.
//! - This `Ring` is the only writer of `sq_tail`, `cq_head` and the SQ
//!   slots; `self.sq_tail` and `self.cq_head` are the truth for them.
//! - Every SQ slot in `[header sq_tail, self.sq_tail)` holds a submission
//!   that is written but not yet published.
//! - User data with [`RESERVED_USER_DATA`] set only ever comes from
//!   [`Ring::run`]; completions carrying it are never handed to the caller.

#![warn(missing_docs)]

mod stash;
#[cfg(test)]
mod tests;

use core::cell::Cell;
use core::fmt;
use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicU32, Ordering, fence};

use crate::abi::{
    ABI_VERSION, Completion, Errno, RING_SIZE, RingHeader, Submission, enter_flags, header_offset,
    ring_flags, submission_flags,
};
use crate::ops::SubmissionOptions;
use stash::Stash;

/// How long [`Ring::run_patiently`] waits after an `EBUSY`: 10 ms.
pub const BUSY_PAUSE_NANOSECONDS: u64 = 10_000_000;

/// How the ring reaches the kernel: the one system call.
///
/// In a program this is the runtime's `Syscall` (an `svc`); in the host
/// tests it is a fake kernel that works on the same ring region.
pub trait Kernel {
    /// `ring_enter(to_submit, min_complete, flags)`: take up to `to_submit`
    /// submissions from the SQ, then, with [`enter_flags::GET_EVENTS`],
    /// wait until the CQ holds at least `min_complete` completions. Returns
    /// how many submissions were taken, or a negative [`Errno`] value.
    fn ring_enter(&mut self, to_submit: u32, min_complete: u32, flags: u32) -> i64;
}

/// User data with this bit set belongs to the ring itself: [`Ring::run`]
/// tags its submission with it, and [`Ring::completion`] never returns a
/// completion that carries it. Use values without it (any pointer or
/// counter below 2^63) for your own submissions.
pub const RESERVED_USER_DATA: u64 = 1 << 63;

/// How many completions [`Ring::run`] can set aside while it waits for its
/// own (see [`Ring::run`] for what happens beyond that).
pub const STASH_CAPACITY: usize = 32;

/// [`Ring::push`] found no free SQ slot: submit what is there (or, if the
/// ring is [`Ring::broken`], give up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("the submission queue is full")
    }
}

impl From<Full> for Errno {
    /// A full SQ reads as "no room", so `?` works in functions that
    /// return `Errno`.
    fn from(_: Full) -> Errno {
        Errno::Busy
    }
}

/// The error a negative `ring_enter` or completion result stands for.
/// A value that is not one of ours (a kernel newer than this library, or a
/// broken one) reads as [`Errno::InvalidArgument`].
pub fn errno_from_result(result: i64) -> Errno {
    i32::try_from(result)
        .ok()
        .and_then(Errno::from_result)
        .unwrap_or(Errno::InvalidArgument)
}

/// A completion's `result` as a `Result`: zero or more is success, less
/// is an [`Errno`] (see [`errno_from_result`]).
pub fn check_result(result: i32) -> Result<i32, Errno> {
    if result < 0 {
        Err(errno_from_result(i64::from(result)))
    } else {
        Ok(result)
    }
}

/// One process's ring: its SQ, its CQ, and the way to the kernel.
pub struct Ring<K: Kernel> {
    /// The start of the ring region ([`RING_SIZE`] bytes).
    base: *mut u8,
    kernel: K,
    sq_entries: u32,
    sq_mask: u32,
    /// Byte offset of the SQ array in the region.
    sq_offset: usize,
    cq_entries: u32,
    cq_mask: u32,
    /// Byte offset of the CQ array in the region.
    cq_offset: usize,
    /// One past the last submission written; published by `enter`.
    sq_tail: u32,
    /// The next completion to read; our copy of the header's `cq_head`.
    cq_head: u32,
    /// Completions taken off the CQ by `run` that were not its own,
    /// returned first by `completion`.
    stash: Stash,
    /// Counts `run` calls, to give each a user data value of its own.
    run_count: u64,
    /// Set once a kernel-written index is found impossible; never cleared.
    /// A `Cell` so that `&self` readers like `ready` can record it too.
    broken: Cell<bool>,
    /// Tests only: runs in [`Ring::run`] right after it has looked at the
    /// CQ, to post a completion in the gap a real kernel could post in.
    #[cfg(test)]
    after_collect: Option<std::boxed::Box<dyn FnMut()>>,
}

// SAFETY: a Ring is the process's only user of its region (the promise
// made to `from_raw`), so moving it to another thread moves that exclusive
// access with it; nothing is left behind that still points at the region.
unsafe impl<K: Kernel + Send> Send for Ring<K> {}

/// The byte range `[offset, offset + entries * entry_size)` of an array in
/// the region, if it lies after the header, inside the region, and is
/// aligned for its entries.
fn array_range(offset: u32, entries: u32, entry_size: usize) -> Option<(u64, u64)> {
    let start = u64::from(offset);
    let end = start + u64::from(entries) * entry_size as u64;
    let after_header = start >= size_of::<RingHeader>() as u64;
    let aligned = start.is_multiple_of(entry_size as u64);
    (after_header && aligned && end <= RING_SIZE).then_some((start, end))
}

impl<K: Kernel> Ring<K> {
    /// Takes over the ring region at `base`, after checking its header:
    /// the ABI version, power-of-two entry counts, arrays that lie inside
    /// the region without overlapping, and indices that make sense. Any
    /// problem gives [`Errno::InvalidArgument`].
    ///
    /// # Safety
    /// - `base` must point to a ring region of [`RING_SIZE`] bytes that
    ///   stays readable and writable for as long as the `Ring` lives.
    /// - Apart from the kernel on the other side, nothing else may read or
    ///   write the SQ slots, `sq_tail` or `cq_head` while the `Ring` lives:
    ///   one region, one `Ring`.
    pub unsafe fn from_raw(base: *mut u8, kernel: K) -> Result<Ring<K>, Errno> {
        let invalid = Err(Errno::InvalidArgument);
        // The SQ holds u64 fields, so the region must be 8-byte aligned;
        // the real one is page aligned.
        if base.is_null() || !(base as usize).is_multiple_of(align_of::<Submission>()) {
            return invalid;
        }
        // SAFETY: the caller promises RING_SIZE readable bytes at `base`,
        // which is aligned (checked above). A RingHeader is plain integers,
        // so any bytes are a valid one. The volatile read makes one copy:
        // the sizes and offsets checked below, and kept, come from it.
        let header = unsafe { base.cast::<RingHeader>().read_volatile() };
        if header.abi_version != ABI_VERSION
            || !header.sq_entries.is_power_of_two()
            || !header.cq_entries.is_power_of_two()
        {
            return invalid;
        }
        let sq = array_range(header.sq_offset, header.sq_entries, size_of::<Submission>());
        let cq = array_range(header.cq_offset, header.cq_entries, size_of::<Completion>());
        let (Some(sq), Some(cq)) = (sq, cq) else {
            return invalid;
        };
        if sq.0 < cq.1 && cq.0 < sq.1 {
            return invalid; // the arrays overlap
        }

        let mut ring = Ring {
            base,
            kernel,
            sq_entries: header.sq_entries,
            sq_mask: header.sq_entries - 1,
            sq_offset: header.sq_offset as usize,
            cq_entries: header.cq_entries,
            cq_mask: header.cq_entries - 1,
            cq_offset: header.cq_offset as usize,
            sq_tail: 0,
            cq_head: 0,
            stash: Stash::new(),
            run_count: 0,
            broken: Cell::new(false),
            #[cfg(test)]
            after_collect: None,
        };
        // Start from the indices the kernel set up, usually all equal (and
        // not necessarily zero). They must already make sense.
        ring.sq_tail = ring.load(header_offset::SQ_TAIL);
        ring.cq_head = ring.load(header_offset::CQ_HEAD);
        if ring.sq_in_use().is_none() || ring.cq_waiting().is_none() {
            return invalid;
        }
        Ok(ring)
    }

    /// Whether a kernel-written index was found impossible. A broken ring
    /// returns no more completions from the CQ, accepts no pushes, and
    /// fails every submit with [`Errno::Fault`].
    pub fn broken(&self) -> bool {
        self.broken.get()
    }

    /// Free SQ slots: how many more [`Ring::push`]es will succeed before a
    /// submit. 0 on a broken ring.
    pub fn space(&self) -> u32 {
        self.sq_in_use()
            .map_or(0, |in_use| self.sq_entries - in_use)
    }

    /// Completions waiting to be read with [`Ring::completion`]: those set
    /// aside by [`Ring::run`] plus those in the CQ. (It may count a late
    /// completion of an earlier `run` that `completion` will then skip.)
    pub fn ready(&self) -> u32 {
        // The stash holds at most STASH_CAPACITY (32) entries.
        self.stash.len() as u32 + self.cq_waiting().unwrap_or(0)
    }

    /// Writes `submission` into the next free SQ slot. The kernel does not
    /// see it until the next [`Ring::submit`] (or `submit_and_wait`, or
    /// `run`). Fails with [`Full`] when every slot is taken, or the ring is
    /// broken.
    pub fn push(&mut self, submission: Submission) -> Result<(), Full> {
        let in_use = self.sq_in_use().ok_or(Full)?;
        if in_use == self.sq_entries {
            return Err(Full);
        }
        self.write_submission(submission);
        Ok(())
    }

    /// Pushes every submission of `batch`, or none of them if they do not
    /// all fit: like [`Ring::push`] for each, but the SQ's indices are
    /// looked at once for the whole batch, not once per submission.
    pub fn push_batch(&mut self, batch: &[Submission]) -> Result<(), Full> {
        let in_use = self.sq_in_use().ok_or(Full)?;
        if batch.len() > (self.sq_entries - in_use) as usize {
            return Err(Full);
        }
        for &submission in batch {
            self.write_submission(submission);
        }
        Ok(())
    }

    /// Writes `submission` into the slot at `sq_tail` and moves the tail
    /// on. The caller has made sure the slot is free.
    #[inline]
    fn write_submission(&mut self, submission: Submission) {
        let slot = (self.sq_tail & self.sq_mask) as usize;
        let offset = self.sq_offset + slot * size_of::<Submission>();
        let words: [u64; 8] = zerocopy::transmute!(submission);
        // SAFETY: `from_raw` checked that the SQ array (sq_entries slots at
        // sq_offset, 8-byte aligned) lies inside the region, and
        // slot < sq_entries. The slot is free: the kernel has taken the
        // submission that was there (in_use < sq_entries) and will not read
        // it again before we publish a tail past it. Volatile, because the
        // kernel reads it behind the compiler's back; eight word stores,
        // because a volatile store of the whole 64-byte struct becomes a
        // call to `memcpy` (about 50 instructions instead of 8).
        let slot_words = unsafe { self.base.add(offset).cast::<u64>() };
        for (index, word) in words.into_iter().enumerate() {
            // SAFETY: as above; word `index` < 8 of the 64-byte slot.
            unsafe { slot_words.add(index).write_volatile(word) };
        }
        self.sq_tail = self.sq_tail.wrapping_add(1);
    }

    /// Publishes every pushed submission and tells the kernel if it needs
    /// telling. Returns how many submissions the kernel took; with kernel
    /// SQ polling on, no system call may be made at all, and it returns how
    /// many are waiting for the poller instead. A negative `ring_enter`
    /// result comes back as its [`Errno`] (see [`errno_from_result`]).
    pub fn submit(&mut self) -> Result<u32, Errno> {
        self.enter(0)
    }

    /// Like [`Ring::submit`], then waits until the CQ holds at least
    /// `wait_for` completions. Completions that [`Ring::run`] set aside
    /// are not in the CQ and do not count.
    pub fn submit_and_wait(&mut self, wait_for: u32) -> Result<u32, Errno> {
        self.enter(wait_for)
    }

    /// Takes the next completion: first any that [`Ring::run`] set aside,
    /// then those in the CQ, in the order they arrived. `None` when there
    /// is none (or the ring is broken and the stash is empty).
    pub fn completion(&mut self) -> Option<Completion> {
        if let Some(completion) = self.stash.pop_front() {
            return Some(completion);
        }
        // Each pass takes one CQ entry, so the loop ends; the bound keeps
        // a kernel that posts without end from holding us here for ever.
        for _ in 0..self.cq_entries {
            let completion = self.take_from_cq()?;
            // A reserved one is the late completion of a `run` that has
            // already returned: nobody is waiting for it.
            if completion.user_data & RESERVED_USER_DATA == 0 {
                return Some(completion);
            }
        }
        None
    }

    /// Takes up to `into.len()` completions into `into`, in the order
    /// [`Ring::completion`] would give them (skipping the same ones), and
    /// returns how many: the CQ's indices are read once and its head
    /// stored once for the whole batch, not once per completion.
    pub fn completions_into(&mut self, into: &mut [Completion]) -> usize {
        let mut taken = 0;
        while taken < into.len() {
            let Some(completion) = self.stash.pop_front() else {
                break;
            };
            into[taken] = completion;
            taken += 1;
        }
        let Some(waiting) = self.cq_waiting() else {
            return taken;
        };
        let mut head = self.cq_head;
        let end = head.wrapping_add(waiting);
        while taken < into.len() && head != end {
            let completion = self.read_cq_slot(head);
            head = head.wrapping_add(1);
            // A late completion of an earlier `run`: nobody waits for it.
            if completion.user_data & RESERVED_USER_DATA == 0 {
                into[taken] = completion;
                taken += 1;
            }
        }
        if head != self.cq_head {
            self.cq_head = head;
            // Release: our reads of the slots are done before the kernel
            // may reuse them.
            self.store(header_offset::CQ_HEAD, head);
        }
        taken
    }

    /// The completions ready now (as counted by [`Ring::ready`] when
    /// called), each taken as by [`Ring::completion`]. Ones that arrive
    /// while iterating are left for the next call, so this always ends.
    pub fn completions(&mut self) -> impl Iterator<Item = Completion> + '_ {
        let ready = self.ready();
        (0..ready).map_while(move |_| self.completion())
    }

    /// Runs one submission to completion and returns its result: a simple
    /// blocking call for simple programs, like a system call.
    ///
    /// - Its `user_data` is replaced by one the ring picks (with
    ///   [`RESERVED_USER_DATA`] set), and its LINK and SKIP_SUCCESS flags
    ///   are cleared: it is submitted alone, with nothing after it to link
    ///   to, and always completes.
    /// - Submissions pushed earlier are submitted with it (so if the last
    ///   of them has LINK set, this one joins that chain).
    /// - Completions of other submissions that arrive while it waits are
    ///   not lost: up to [`STASH_CAPACITY`] are set aside and returned
    ///   later by [`Ring::completion`]; beyond that they stay in the CQ,
    ///   and `run` looks for its own among them without taking them.
    /// - While the kernel has no CQ slot for it (it takes nothing, and
    ///   `ring_enter` returns 0 after waiting, or [`Errno::Busy`] when not
    ///   waiting), `run` makes room by stashing and
    ///   offers it again. If the stash is full and the CQ is full of other
    ///   completions, there is no room to make: `run` fails with
    ///   [`Errno::Busy`] (read some completions and try again). The
    ///   submission may still run later; its completion is then dropped.
    /// - Any other error from `ring_enter` ends `run` with that error; the
    ///   same goes for the submission (it may run later, unseen).
    /// - For a multishot operation only the first completion is returned;
    ///   later ones are dropped.
    ///
    /// A negative result comes back as `Err`, see [`check_result`].
    pub fn run(&mut self, submission: Submission) -> Result<i32, Errno> {
        self.run_for_result(submission).and_then(check_result)
    }

    /// [`Ring::run`], with the completion's result as it is (negative for
    /// an error); `Err` only for the ring's own failures.
    fn run_for_result(&mut self, submission: Submission) -> Result<i32, Errno> {
        if self.broken() {
            return Err(Errno::Fault);
        }
        self.run_count = self.run_count.wrapping_add(1);
        let token = RESERVED_USER_DATA | self.run_count;
        let mut own = submission.with_user_data(token);
        // Alone, and completing whatever its result: `run` waits for it.
        own.flags &= !(submission_flags::LINK | submission_flags::SKIP_SUCCESS);
        if self.push(own).is_err() {
            // The SQ is full of pushed submissions: hand them over first.
            self.submit()?;
            self.push(own)?;
        }
        loop {
            // The CQ as `collect` looked at it: `seen` completions still
            // there, none of them ours.
            let seen = match self.collect(token)? {
                Ok(result) => return Ok(result),
                Err(seen) => seen,
            };
            #[cfg(test)]
            if let Some(hook) = self.after_collect.as_mut() {
                hook();
            }
            if seen >= self.cq_entries {
                return Err(Errno::Busy);
            }
            // Wait for one more completion than `collect` saw, not than the
            // CQ holds now: ours may have landed since, and then it is the
            // one more, and the kernel returns at once. (Counting it as one
            // already there would wait for a completion that never comes.)
            // The first pass also publishes and submits our submission.
            match self.submit_and_wait(seen + 1) {
                // The kernel had no CQ slot to reserve for it yet, and
                // waited for completions instead; `collect` moves them out
                // of the way, and the next pass offers it again.
                Ok(_) | Err(Errno::Busy) => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// [`Ring::run`], and again after a pause of [`BUSY_PAUSE_NANOSECONDS`]
    /// each time the submission completes with `EBUSY`: a server whose
    /// places for waiting requests are all taken (the pipe server's held
    /// `READ`s, the console's) says so, and they come free as others are
    /// answered. For a standard stream's `READ` or `WRITE`, which the user
    /// can stop with Ctrl-C if the wait never ends. The ring's own `EBUSY`
    /// (its CQ and stash full: the submission may still run) is returned,
    /// never retried, so nothing is sent twice.
    pub fn run_patiently(&mut self, submission: Submission) -> Result<i32, Errno> {
        loop {
            let result = self.run_for_result(submission)?;
            if result != Errno::Busy.result() {
                return check_result(result);
            }
            // Its own result (the timer's end) says nothing.
            let _ = self.run(crate::ops::timeout(BUSY_PAUSE_NANOSECONDS));
        }
    }

    /// Looks for the completion tagged `token`: takes completions off the
    /// CQ into the stash until it turns up or the stash is full, then, if
    /// need be, looks through the rest of the CQ without taking anything.
    /// `Ok(Ok(result))` if found; `Ok(Err(seen))` if not, with `seen` the
    /// completions it looked at that are still in the CQ.
    fn collect(&mut self, token: u64) -> Result<Result<i32, u32>, Errno> {
        for _ in 0..self.cq_entries {
            if self.stash.is_full() {
                break;
            }
            let Some(completion) = self.take_from_cq() else {
                break;
            };
            if completion.user_data == token {
                return Ok(Ok(completion.result));
            }
            if completion.user_data & RESERVED_USER_DATA == 0 {
                self.stash.push(completion);
            }
        }
        // The stash is full or the CQ is empty. If full, ours may be
        // further along; found there, it is left in place and
        // `completion` drops it when it reaches the head (it is reserved).
        let waiting = self.cq_waiting().ok_or(Errno::Fault)?;
        let found = (0..waiting)
            .map(|position| self.read_cq_slot(self.cq_head.wrapping_add(position)))
            .find(|completion| completion.user_data == token);
        Ok(found.map(|completion| completion.result).ok_or(waiting))
    }

    /// The heart of `submit` and `submit_and_wait`: publish, then decide
    /// whether the kernel must be entered, and how.
    fn enter(&mut self, wait_for: u32) -> Result<u32, Errno> {
        if self.broken() {
            return Err(Errno::Fault);
        }
        // Release: a kernel that acquire-loads this tail also sees the
        // slots written before it.
        self.store(header_offset::SQ_TAIL, self.sq_tail);
        let pending = self.sq_in_use().ok_or(Errno::Fault)?;

        // The poller may be going to sleep just as we publish. It sets
        // NEED_WAKEUP and then looks at sq_tail once more; we store sq_tail
        // and then look at NEED_WAKEUP. Only a full fence orders our store
        // before our load, so that at least one of us sees the other.
        fence(Ordering::SeqCst);
        let flags = self.word(header_offset::FLAGS).load(Ordering::Relaxed);
        let polling = flags & ring_flags::SQ_POLL != 0;
        let wake_poller = polling && pending > 0 && flags & ring_flags::NEED_WAKEUP != 0;

        let mut enter = 0;
        if wait_for > 0 {
            enter |= enter_flags::GET_EVENTS;
        }
        if wake_poller {
            enter |= enter_flags::SQ_WAKEUP;
        }
        // The poller takes submissions itself; without it the kernel only
        // takes them inside ring_enter.
        let to_submit = if polling { 0 } else { pending };
        if enter == 0 && to_submit == 0 {
            return Ok(pending); // nothing the kernel needs to be told
        }
        let result = self.kernel.ring_enter(to_submit, wait_for, enter);
        if result < 0 {
            return Err(errno_from_result(result));
        }
        // The kernel cannot take more than was there; clamp if it says so.
        let taken = u32::try_from(result).unwrap_or(u32::MAX);
        Ok(if polling { pending } else { taken.min(pending) })
    }

    /// Takes the completion at the CQ head, if there is one.
    fn take_from_cq(&mut self) -> Option<Completion> {
        if self.cq_waiting()? == 0 {
            return None;
        }
        let completion = self.read_cq_slot(self.cq_head);
        self.cq_head = self.cq_head.wrapping_add(1);
        // Release: our read of the slot is done before the kernel may
        // reuse it.
        self.store(header_offset::CQ_HEAD, self.cq_head);
        Some(completion)
    }

    /// A copy of the CQ entry at free-running `index`.
    fn read_cq_slot(&self, index: u32) -> Completion {
        let slot = (index & self.cq_mask) as usize;
        let offset = self.cq_offset + slot * size_of::<Completion>();
        // SAFETY: `from_raw` checked that the CQ array (cq_entries slots at
        // cq_offset, 16-byte aligned) lies inside the region, and
        // slot < cq_entries. A Completion is plain integers, so any bytes
        // are a valid one. Volatile: the kernel writes these slots behind
        // the compiler's back, and we want exactly one copy.
        unsafe { self.base.add(offset).cast::<Completion>().read_volatile() }
    }

    /// Submissions written (pushed) and not yet taken by the kernel, or
    /// `None` (and the ring marked broken) if `sq_head` is impossible.
    fn sq_in_use(&self) -> Option<u32> {
        if self.broken() {
            return None;
        }
        let in_use = self.sq_tail.wrapping_sub(self.load(header_offset::SQ_HEAD));
        self.check(in_use <= self.sq_entries).then_some(in_use)
    }

    /// Completions in the CQ, or `None` (and the ring marked broken) if
    /// `cq_tail` is impossible.
    fn cq_waiting(&self) -> Option<u32> {
        if self.broken() {
            return None;
        }
        let waiting = self.load(header_offset::CQ_TAIL).wrapping_sub(self.cq_head);
        self.check(waiting <= self.cq_entries).then_some(waiting)
    }

    /// Marks the ring broken unless `sane`; returns `sane`.
    fn check(&self, sane: bool) -> bool {
        if !sane {
            self.broken.set(true);
        }
        sane
    }

    /// The header word at `offset` (one of [`header_offset`]'s).
    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `offset` is a header_offset constant: a u32 field inside
        // the 64-byte header, 4-byte aligned because the region is 8-byte
        // aligned (checked in from_raw). The region lives as long as `self`
        // (from_raw's contract), and both sides only ever access these
        // words atomically.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast::<u32>()) }
    }

    /// Acquire-loads a header index: what the kernel wrote before storing
    /// it is visible after.
    fn load(&self, offset: usize) -> u32 {
        self.word(offset).load(Ordering::Acquire)
    }

    /// Release-stores one of our header indices.
    fn store(&self, offset: usize, value: u32) {
        self.word(offset).store(value, Ordering::Release);
    }
}
