//! The global allocator: libring's [`Heap`] over pages from `MAP`.
//!
//! Pages are mapped at a bump address that starts at [`MAP_BASE`] and only
//! goes up, so a new mapping never lands on an old one (the kernel would
//! refuse it with `-EEXIST`). Pages given back are unmapped, and their
//! addresses are not used again: with half a terabyte of room, running out
//! of addresses is not a worry for a teaching system.
//!
//! **Ballast.** A server's allocations on a request's path (a path, a
//! directory entry, a buffer) are ordinary `Vec`s and `String`s, and an
//! allocation that fails ends the program. So a server keeps ballast
//! ([`keep_ballast`]): pages it maps and does not use. When the kernel
//! refuses memory (the server's budget is spent, or the machine's), the
//! ballast is unmapped, so its frames are free again, and the allocation
//! tried once more: the request in progress finishes. Before each new
//! request the server asks for its ballast back ([`restore_ballast`]); if
//! it cannot have it, it refuses the request with `ENOMEM` instead of
//! starting something it may not be able to finish, until clients give
//! memory back (close files, remove them).
//!
//! # Invariants
//! - Every address below `next` and at or above [`MAP_BASE`] was handed
//!   out at most once.
//! - The heap is only used with its lock held.
//! - The ballast, when held, is mapped and never handed out.

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
    /// The ballast's size in pages (0: none wanted).
    ballast_pages: u64,
    /// Where the ballast is mapped, while it is held.
    ballast: Option<u64>,
}

impl MappedPages {
    /// Maps `length` bytes at the next address; its address.
    fn map(&mut self, length: u64) -> Option<u64> {
        // One MAP covers at most u32::MAX bytes.
        let map_length = u32::try_from(length).ok()?;
        let end = self.next.checked_add(length)?;
        if length == 0 || end > MAP_LIMIT {
            return None;
        }
        let address = self.next;
        with_ring(|ring| ring.run(ops::map(address, map_length, true))).ok()?;
        self.next = end;
        Some(address)
    }

    /// Lets the ballast go, if it is held: its frames are free again.
    fn spend_ballast(&mut self) -> bool {
        let Some(address) = self.ballast.take() else {
            return false;
        };
        let length = (self.ballast_pages * PAGE_SIZE) as u32;
        let _ = with_ring(|ring| ring.run(ops::unmap(address, length)));
        true
    }
}

impl PageSource for MappedPages {
    fn allocate_pages(&mut self, count: usize) -> Option<NonNull<u8>> {
        let length = u64::try_from(count).ok()?.checked_mul(PAGE_SIZE)?;
        let address = match self.map(length) {
            Some(address) => address,
            // Refused: the ballast goes, and the request in progress gets
            // its memory from what it frees.
            None if self.spend_ballast() => self.map(length)?,
            None => return None,
        };
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
static HEAP: UserHeap = UserHeap(Mutex::new(Heap::new(MappedPages {
    next: MAP_BASE,
    ballast_pages: 0,
    ballast: None,
})));

/// Bytes of the heap handed out and not yet given back (what a server
/// reports to show that its clients' leftovers are gone).
pub fn heap_bytes_in_use() -> usize {
    HEAP.0.lock().bytes_in_use()
}

/// From now on keep `bytes` of ballast (rounded up to pages; see the
/// module header). Returns whether it could be mapped now.
pub fn keep_ballast(bytes: usize) -> bool {
    {
        let mut heap = HEAP.0.lock();
        let source = heap.source_mut();
        source.spend_ballast();
        source.ballast_pages = (bytes as u64).div_ceil(PAGE_SIZE);
    }
    restore_ballast()
}

/// Maps the ballast again if it was spent: `true` if it is held now (or
/// none is wanted), `false` if the kernel still has no memory for it.
pub fn restore_ballast() -> bool {
    let mut heap = HEAP.0.lock();
    let source = heap.source_mut();
    if source.ballast.is_some() || source.ballast_pages == 0 {
        return true;
    }
    let length = source.ballast_pages * PAGE_SIZE;
    source.ballast = source.map(length);
    source.ballast.is_some()
}
