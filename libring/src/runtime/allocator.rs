//! The global allocator: libring's [`Heap`] over pages from `MAP`.
//!
//! Pages are mapped at a bump address that starts at [`MAP_BASE`] and only
//! goes up, so a new mapping never lands on an old one (the kernel would
//! refuse it with `-EEXIST`). Pages given back are unmapped, and their
//! addresses are not used again: with half a terabyte of room, running out
//! of addresses is not a worry for a teaching system.
//!
//! # Invariants
//! - Every address below `next` and at or above [`MAP_BASE`] was handed
//!   out at most once.
//! - The heap is only used with its lock held.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use spin::Mutex;

use super::start::with_ring;
use crate::abi::{MAP_BASE, MAP_LIMIT, PAGE_SIZE};
use crate::heap::{Heap, PageSource};
use crate::ops;

/// Pages from the kernel, by `MAP` and `UNMAP`.
struct MappedPages {
    /// Where the next mapping goes.
    next: u64,
}

impl PageSource for MappedPages {
    fn allocate_pages(&mut self, count: usize) -> Option<NonNull<u8>> {
        let length = u64::try_from(count).ok()?.checked_mul(PAGE_SIZE)?;
        // One MAP covers at most u32::MAX bytes.
        let map_length = u32::try_from(length).ok()?;
        let end = self.next.checked_add(length)?;
        if count == 0 || end > MAP_LIMIT {
            return None;
        }
        let address = self.next;
        with_ring(|ring| ring.run(ops::map(address, map_length, true))).ok()?;
        self.next = end;
        NonNull::new(address as *mut u8)
    }

    unsafe fn free_pages(&mut self, pages: NonNull<u8>, count: usize) {
        // `count` pages were mapped in one MAP, so the length fits.
        let length = (count as u64 * PAGE_SIZE) as u32;
        // Nothing useful to do if this fails: the pages just stay mapped.
        let _ = with_ring(|ring| ring.run(ops::unmap(pages.as_ptr() as u64, length)));
    }
}

/// The heap behind its lock, as Rust's allocator interface wants it.
struct UserHeap(Mutex<Heap<MappedPages>>);

// SAFETY: `Heap::allocate` returns null or a block that fits `layout` and
// is owned by nobody else, and `deallocate` takes such blocks back: the
// GlobalAlloc contract. The lock makes each call exclusive.
unsafe impl GlobalAlloc for UserHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate(layout)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `block` came from `alloc` on
        // this allocator with this `layout`, and is no longer used.
        unsafe { self.0.lock().deallocate(block, layout) }
    }
}

#[global_allocator]
static HEAP: UserHeap = UserHeap(Mutex::new(Heap::new(MappedPages { next: MAP_BASE })));
