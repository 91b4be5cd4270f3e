//! A heap for `Box`, `Vec` and friends: in the kernel and in user programs.
//!
//! Small allocations (up to 2 KiB) come from eight size classes, 16 bytes to
//! 2 KiB, each a free list of equal blocks carved from whole pages. Larger
//! ones take whole contiguous pages straight from the page source. This
//! is a simple segregated-fit allocator: no block is ever split or merged,
//! so every operation is a few instructions and easy to follow; the price is
//! that pages given to a size class stay with it.
//!
//! The heap does not know where pages come from; the kernel gives it a
//! [`PageSource`] backed by the frame allocator and the linear map, the host
//! unit tests one backed by `std`.
//!
//! # Invariants
//! - A block on a size class's free list is exactly that class's size and
//!   aligned to it, and is owned by nobody else.
//! - Every block handed out is aligned to at least what its `Layout` asks.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::abi::PAGE_SIZE as PAGE_BYTES;

/// Pages are 4 KiB, for the kernel and user space alike.
const PAGE_SIZE: usize = PAGE_BYTES as usize;

/// Block sizes of the size classes: 16, 32, ..., 2048 bytes.
const CLASS_SIZES: [usize; 8] = [16, 32, 64, 128, 256, 512, 1024, 2048];
/// The largest request served from a size class.
pub const LARGEST_CLASS: usize = CLASS_SIZES[CLASS_SIZES.len() - 1];

/// Where the heap gets whole pages.
pub trait PageSource {
    /// `count` contiguous, page-aligned pages, or `None` when out of memory.
    fn allocate_pages(&mut self, count: usize) -> Option<NonNull<u8>>;
    /// Gives back pages from [`PageSource::allocate_pages`].
    ///
    /// # Safety
    /// `pages` and `count` must be exactly what an earlier `allocate_pages`
    /// returned and was asked for, and nothing may use those pages any more.
    unsafe fn free_pages(&mut self, pages: NonNull<u8>, count: usize);
}

/// A free block: its first word points at the next free block of its class.
struct FreeBlock {
    next: *mut FreeBlock,
}

pub struct Heap<Source: PageSource> {
    source: Source,
    free_lists: [*mut FreeBlock; CLASS_SIZES.len()],
    /// Bytes handed out and not yet freed (as asked, not rounded).
    bytes_in_use: usize,
    /// Pages carved into size-class blocks. They stay with the heap for
    /// good, so a leak check must count them as the heap's, not as lost.
    class_pages: usize,
    /// Pages of large allocations that are still in use.
    large_pages: usize,
}

// SAFETY: the raw pointers are to memory the heap owns exclusively; a Heap is
// only ever used behind a lock.
unsafe impl<Source: PageSource + Send> Send for Heap<Source> {}

/// The size class for `layout`, or `None` if it needs whole pages.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align());
    CLASS_SIZES
        .iter()
        .position(|&class_size| size <= class_size)
}

fn pages_for(layout: Layout) -> usize {
    layout.size().div_ceil(PAGE_SIZE)
}

impl<Source: PageSource> Heap<Source> {
    pub const fn new(source: Source) -> Self {
        Heap {
            source,
            free_lists: [ptr::null_mut(); CLASS_SIZES.len()],
            bytes_in_use: 0,
            class_pages: 0,
            large_pages: 0,
        }
    }

    /// Pages the size classes hold (in use or on free lists).
    pub fn class_pages(&self) -> usize {
        self.class_pages
    }

    /// Every page the heap holds right now: its size classes' and those of
    /// large allocations in use. Frames the system gave the heap are not
    /// lost; a leak check subtracts this.
    pub fn pages_held(&self) -> usize {
        self.class_pages + self.large_pages
    }

    /// Bytes currently allocated.
    pub fn bytes_in_use(&self) -> usize {
        self.bytes_in_use
    }

    /// The page source, for its owner's own bookkeeping.
    pub fn source_mut(&mut self) -> &mut Source {
        &mut self.source
    }

    /// Memory for `layout`, or null when there is none (the `GlobalAlloc`
    /// contract).
    pub fn allocate(&mut self, layout: Layout) -> *mut u8 {
        let block = match class_of(layout) {
            Some(class) => self.allocate_from_class(class),
            // Pages are page-aligned; nothing in the kernel asks for more.
            None if layout.align() <= PAGE_SIZE => {
                match self.source.allocate_pages(pages_for(layout)) {
                    Some(pages) => {
                        self.large_pages += pages_for(layout);
                        pages.as_ptr()
                    }
                    None => ptr::null_mut(),
                }
            }
            None => ptr::null_mut(),
        };
        if !block.is_null() {
            self.bytes_in_use += layout.size();
        }
        block
    }

    /// Gives back a block from [`Heap::allocate`].
    ///
    /// # Safety
    /// `block` must come from `allocate` on this heap with this `layout`, and
    /// must not be used afterwards.
    pub unsafe fn deallocate(&mut self, block: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(block) else {
            return;
        };
        self.bytes_in_use -= layout.size();
        match class_of(layout) {
            Some(class) => {
                let free_block = block.as_ptr().cast::<FreeBlock>();
                // SAFETY: the block is ours again (the caller's promise), at
                // least 16 bytes and aligned to its class size, so it can hold
                // a FreeBlock.
                unsafe {
                    free_block.write(FreeBlock {
                        next: self.free_lists[class],
                    })
                };
                self.free_lists[class] = free_block;
            }
            None => {
                self.large_pages -= pages_for(layout);
                // SAFETY: a large block is exactly the pages allocate took for it.
                unsafe { self.source.free_pages(block, pages_for(layout)) }
            }
        }
    }

    fn allocate_from_class(&mut self, class: usize) -> *mut u8 {
        if self.free_lists[class].is_null() {
            self.refill(class);
        }
        let block = self.free_lists[class];
        if !block.is_null() {
            // SAFETY: blocks on a free list are valid FreeBlocks (invariant).
            self.free_lists[class] = unsafe { (*block).next };
        }
        block.cast()
    }

    /// Splits one new page into blocks of `class` and puts them on its list.
    fn refill(&mut self, class: usize) {
        let Some(page) = self.source.allocate_pages(1) else {
            return;
        };
        self.class_pages += 1;
        let size = CLASS_SIZES[class];
        for offset in (0..PAGE_SIZE).step_by(size).rev() {
            // SAFETY: offset < PAGE_SIZE, so the block is inside the page we
            // own; it is aligned to `size` because the page is page-aligned
            // and `size` divides PAGE_SIZE.
            unsafe {
                let block = page.as_ptr().add(offset).cast::<FreeBlock>();
                block.write(FreeBlock {
                    next: self.free_lists[class],
                });
                self.free_lists[class] = block;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{alloc, dealloc};
    use std::collections::HashMap;

    /// Pages from the host allocator, counted.
    #[derive(Default)]
    struct HostPages {
        live: HashMap<usize, usize>,
    }

    impl PageSource for HostPages {
        fn allocate_pages(&mut self, count: usize) -> Option<NonNull<u8>> {
            let layout = Layout::from_size_align(count * PAGE_SIZE, PAGE_SIZE).unwrap();
            // SAFETY: the layout has a non-zero size.
            let pages = NonNull::new(unsafe { alloc(layout) })?;
            self.live.insert(pages.as_ptr() as usize, count);
            Some(pages)
        }

        unsafe fn free_pages(&mut self, pages: NonNull<u8>, count: usize) {
            assert_eq!(
                self.live.remove(&(pages.as_ptr() as usize)),
                Some(count),
                "pages freed with the wrong count"
            );
            let layout = Layout::from_size_align(count * PAGE_SIZE, PAGE_SIZE).unwrap();
            // SAFETY: allocated above with this layout.
            unsafe { dealloc(pages.as_ptr(), layout) };
        }
    }

    #[test]
    fn small_blocks_are_aligned_distinct_and_reused() {
        let mut heap = Heap::new(HostPages::default());
        let layout = Layout::from_size_align(24, 8).unwrap();
        let blocks: Vec<*mut u8> = (0..300).map(|_| heap.allocate(layout)).collect();
        for block in &blocks {
            assert!(!block.is_null());
            assert_eq!(
                *block as usize % 32,
                0,
                "24 bytes come from the 32-byte class"
            );
        }
        let mut sorted = blocks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), blocks.len());
        assert_eq!(heap.bytes_in_use(), 300 * 24);
        let pages_used = heap.source.live.len();
        for block in &blocks {
            // SAFETY: allocated above with this layout.
            unsafe { heap.deallocate(*block, layout) };
        }
        assert_eq!(heap.bytes_in_use(), 0);
        for _ in 0..300 {
            heap.allocate(layout);
        }
        assert_eq!(
            heap.source.live.len(),
            pages_used,
            "freed blocks are reused before new pages"
        );
        assert_eq!(heap.class_pages(), pages_used);
    }

    #[test]
    fn alignment_larger_than_size_is_honoured() {
        let mut heap = Heap::new(HostPages::default());
        let layout = Layout::from_size_align(8, 256).unwrap();
        let block = heap.allocate(layout);
        assert_eq!(block as usize % 256, 0);
    }

    #[test]
    fn large_blocks_take_whole_pages_and_give_them_back() {
        let mut heap = Heap::new(HostPages::default());
        let layout = Layout::from_size_align(3 * PAGE_SIZE + 1, 16).unwrap();
        let block = heap.allocate(layout);
        assert_eq!(heap.source.live.get(&(block as usize)), Some(&4));
        assert_eq!(heap.pages_held(), 4);
        // SAFETY: allocated above with this layout.
        unsafe { heap.deallocate(block, layout) };
        assert!(heap.source.live.is_empty());
        assert_eq!(heap.pages_held(), 0);
    }

    #[test]
    fn data_written_to_blocks_stays_put() {
        let mut heap = Heap::new(HostPages::default());
        let layout = Layout::from_size_align(100, 4).unwrap();
        let blocks: Vec<*mut u8> = (0..50).map(|_| heap.allocate(layout)).collect();
        for (index, block) in blocks.iter().enumerate() {
            // SAFETY: each block is 100 bytes we own.
            unsafe { ptr::write_bytes(*block, index as u8, 100) };
        }
        for (index, block) in blocks.iter().enumerate() {
            // SAFETY: as above.
            let bytes = unsafe { core::slice::from_raw_parts(*block, 100) };
            assert!(bytes.iter().all(|&byte| byte == index as u8));
        }
    }

    #[test]
    fn alignment_beyond_a_page_is_refused_not_faked() {
        let mut heap = Heap::new(HostPages::default());
        let layout = Layout::from_size_align(PAGE_SIZE * 2, PAGE_SIZE * 4).unwrap();
        assert!(heap.allocate(layout).is_null());
    }
}
