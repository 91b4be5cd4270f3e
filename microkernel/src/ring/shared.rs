//! The ring region as the kernel sees it, through the linear map.
//!
//! The process can write anything to the region at any time, including
//! the words the kernel owns. So the kernel keeps its own copies of
//! `sq_head` and `cq_tail` and only ever *writes* them to the region; it
//! reads only what the process owns (`sq_tail`, `cq_head`), and clamps
//! what it reads.

use super::requests::Requests;
use crate::scheduler::ThreadId;
use boot::layout::physical_to_virtual;
use core::sync::atomic::{AtomicU32, Ordering};
use libring::abi::{
    ABI_VERSION, CQ_ENTRIES, CQ_OFFSET, Completion, RingHeader, SQ_ENTRIES, SQ_OFFSET, Submission,
    header_offset, ring_flags,
};

/// The header a new ring starts with.
pub fn initial_header() -> RingHeader {
    RingHeader {
        abi_version: ABI_VERSION,
        sq_entries: SQ_ENTRIES,
        cq_entries: CQ_ENTRIES,
        sq_offset: SQ_OFFSET,
        cq_offset: CQ_OFFSET,
        ..RingHeader::default()
    }
}

/// The kernel's state for one process's ring.
pub struct KernelRing {
    /// Physical address of the region (contiguous frames).
    region: u64,
    /// The kernel's own copies of the indices it owns.
    sq_head: u32,
    cq_tail: u32,
    /// Accepted requests whose final completion is not posted yet: each
    /// holds one CQ slot.
    reserved: u32,
    /// Pending requests, in acceptance order.
    pub requests: Requests,
    pub next_request: u64,
    pub next_chain: u64,
    /// The last submission taken had LINK set: the next joins its chain.
    pub chain_open: bool,
    /// The chain being taken lost a member for want of kernel memory
    /// (`engine::drain`), or a member failed while the chain was still open
    /// (`engine::finish`): its later members complete with `ECANCELED`.
    pub refusing_chain: bool,
    /// The process's thread is blocked in `ring_enter` until this many
    /// completions are ready.
    pub waiter: Option<(ThreadId, u32)>,
    /// The SQ polling thread, when polling is on.
    pub poller: Option<ThreadId>,
    /// How long the poller spins idle before it sleeps.
    pub poll_idle_microseconds: u64,
    /// Set to make the poller stop.
    pub poller_stop: bool,
    /// A request of this ring completed deep inside other work: the
    /// outermost caller starts what it unblocked (`engine::settle`).
    pub advance_due: bool,
}

impl KernelRing {
    /// The kernel side of the ring region at physical address `region`,
    /// whose header is already `initial_header()`.
    pub fn new(region: u64) -> KernelRing {
        KernelRing {
            region,
            sq_head: 0,
            cq_tail: 0,
            reserved: 0,
            requests: Requests::new(),
            next_request: 0,
            next_chain: 0,
            chain_open: false,
            refusing_chain: false,
            waiter: None,
            poller: None,
            advance_due: false,
            poll_idle_microseconds: 0,
            poller_stop: false,
        }
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the region is at least a page of RAM owned by this ring
        // (mapped into the process and reached here through the linear
        // map); `offset` is one of the header's aligned u32 fields. The
        // process writing it concurrently is what atomics are for.
        unsafe { &*((physical_to_virtual(self.region) + offset) as *const AtomicU32) }
    }

    /// Submissions published and not yet taken, clamped to the SQ size.
    pub fn submissions_waiting(&self) -> u32 {
        let tail = self.word(header_offset::SQ_TAIL).load(Ordering::Acquire);
        tail.wrapping_sub(self.sq_head).min(SQ_ENTRIES)
    }

    /// Copies the next submission out of the SQ. The kernel decides
    /// everything from this copy; if it takes the submission it calls
    /// [`KernelRing::advance_sq_head`], otherwise the submission stays
    /// queued and is copied (and checked) afresh next time.
    pub fn peek_submission(&self) -> Submission {
        let slot = (self.sq_head % SQ_ENTRIES) as usize;
        let address = physical_to_virtual(self.region) + SQ_OFFSET as usize + slot * 64;
        // Read as eight words: a volatile read of a byte array is done a
        // byte at a time (64 loads and 64 stores).
        // SAFETY: the slot is inside the region (slot < SQ_ENTRIES) and
        // 64-byte aligned; a volatile read of plain words, whatever the
        // process is writing.
        let words: [u64; 8] = unsafe { core::ptr::read_volatile(address as *const [u64; 8]) };
        zerocopy::transmute!(words)
    }

    /// Takes the submission [`KernelRing::peek_submission`] copied.
    pub fn advance_sq_head(&mut self) {
        self.sq_head = self.sq_head.wrapping_add(1);
    }

    /// Writes the kernel's indices (`sq_head`, `cq_tail`) to the header
    /// again: the process may have scribbled over them, and this puts back
    /// the truth at every `ring_enter` and every drain.
    pub fn publish_indices(&self) {
        self.word(header_offset::SQ_HEAD)
            .store(self.sq_head, Ordering::Release);
        self.word(header_offset::CQ_TAIL)
            .store(self.cq_tail, Ordering::Release);
    }

    /// Completions posted and not yet consumed, clamped to the CQ size (a
    /// corrupt `cq_head` makes the CQ look full, never more than full).
    pub fn completions_ready(&self) -> u32 {
        let head = self.word(header_offset::CQ_HEAD).load(Ordering::Acquire);
        self.cq_tail.wrapping_sub(head).min(CQ_ENTRIES)
    }

    /// CQ slots neither holding a completion nor reserved.
    pub fn free_slots(&self) -> u32 {
        CQ_ENTRIES.saturating_sub(self.completions_ready() + self.reserved)
    }

    /// Reserves a CQ slot for a request being accepted; false if none.
    pub fn reserve_slot(&mut self) -> bool {
        if self.free_slots() == 0 {
            return false;
        }
        self.reserved += 1;
        true
    }

    /// Gives back a reservation that will never be used (the request
    /// ended without a completion: `EXIT`).
    pub fn release_slot(&mut self) {
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// Posts a request's final completion, into its reserved slot.
    pub fn post_final(&mut self, completion: Completion) {
        self.release_slot();
        self.write_completion(completion);
    }

    /// Posts a request's final completion into its reserved slot, unless
    /// it asked for none on success (`SKIP_SUCCESS`) and succeeded: then
    /// the slot is given back, nothing is posted, and this returns true.
    /// (A slot that comes free so wakes nobody: a caller outside
    /// `ring_enter` must try delivery to the process itself, since requests
    /// may wait at its endpoints for exactly that room.)
    pub fn post_final_unless_skipped(
        &mut self,
        completion: Completion,
        skip_success: bool,
    ) -> bool {
        let skipped = skip_success && completion.result >= 0;
        if skipped {
            self.release_slot();
        } else {
            self.post_final(completion);
        }
        skipped
    }

    /// Posts an extra completion (multishot, `MORE` set) if a slot is free.
    pub fn post_extra(&mut self, completion: Completion) -> bool {
        if self.free_slots() == 0 {
            return false;
        }
        self.write_completion(completion);
        true
    }

    fn write_completion(&mut self, completion: Completion) {
        let slot = (self.cq_tail % CQ_ENTRIES) as usize;
        let address = physical_to_virtual(self.region) + CQ_OFFSET as usize + slot * 16;
        // SAFETY: the slot is inside the region (slot < CQ_ENTRIES).
        unsafe { core::ptr::write_volatile(address as *mut Completion, completion) };
        self.cq_tail = self.cq_tail.wrapping_add(1);
        self.word(header_offset::CQ_TAIL)
            .store(self.cq_tail, Ordering::Release);
    }

    /// Sets or clears bits of the header's `flags` word.
    pub fn set_flag(&self, flag: u32, on: bool) {
        let flags = self.word(header_offset::FLAGS);
        if on {
            flags.fetch_or(flag, Ordering::SeqCst);
        } else {
            flags.fetch_and(!flag, Ordering::SeqCst);
        }
    }

    /// Makes the poller stop at its next look, and wakes it to look.
    pub fn stop_poller(&mut self) {
        self.poller_stop = true;
        self.set_flag(ring_flags::SQ_POLL, false);
        if let Some(poller) = self.poller {
            crate::scheduler::wake(poller);
        }
    }
}
