//! The kernel's global allocator: the size-class heap of `libring::heap`, fed
//! with pages from the frame allocator through the linear map.

use super::setup::with_frames;
use crate::sync::IrqMutex;
use boot::layout::{physical_to_virtual, virtual_to_physical};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use libring::heap::{Heap, PageSource};

/// Pages from the frame allocator, used through the linear map.
pub struct FramePages;

impl PageSource for FramePages {
    fn allocate_pages(&mut self, count: usize) -> Option<NonNull<u8>> {
        let physical = with_frames(|frames| {
            if count == 1 {
                frames.allocate()
            } else {
                frames.allocate_contiguous(count)
            }
        })?;
        NonNull::new(physical_to_virtual(physical) as *mut u8)
    }

    unsafe fn free_pages(&mut self, pages: NonNull<u8>, count: usize) {
        let physical =
            virtual_to_physical(pages.as_ptr() as usize).expect("heap pages are in the linear map");
        with_frames(|frames| frames.free_contiguous(physical, count));
    }
}

pub struct KernelHeap(IrqMutex<Heap<FramePages>>);

impl KernelHeap {
    pub const fn new() -> Self {
        KernelHeap(IrqMutex::new(Heap::new(FramePages)))
    }

    /// Bytes currently allocated.
    pub fn bytes_in_use(&self) -> usize {
        self.0.lock().bytes_in_use()
    }

    /// Every page the heap holds (see `Heap::pages_held`).
    pub fn pages_held(&self) -> usize {
        self.0.lock().pages_held()
    }
}

impl Default for KernelHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `Heap` returns blocks that satisfy the layout or null, and the
// lock keeps it consistent across threads and interrupt handlers.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate(layout)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's contract is Heap::deallocate's.
        unsafe { self.0.lock().deallocate(block, layout) }
    }
}
