//! Kernel thread stacks, each with an unmapped guard below it.
//!
//! A thread's stack is 16 KiB in a slot of the stack window (TTBR1):
//!
//! ```text
//!  STACK_WINDOW_BASE + slot * 32 KiB
//!  │  guard: 16 KiB, never mapped  │  stack: 4 frames, read+write  │
//!  └───────────────────────────────┴───────────────────────────────┘
//!                                   bit 14 of the address set ──► top
//! ```
//!
//! A kernel function that runs off the bottom of its stack writes into
//! the guard and takes a data abort instead of overwriting whatever lies
//! below. The abort cannot be handled on the same stack (the entry would
//! fault again pushing its frame), so every exception entry checks
//! first whether the stack pointer lies in a guard and, if so, moves to
//! a stack of its own and reports the overflow (`arch::exceptions`).
//!
//! Slots are reused lowest first, so a machine that keeps starting and
//! ending processes keeps using the same few slots, and the page tables
//! of the window stop growing after the first threads.
//!
//! # Invariants
//! - A slot whose bit is set in `USED` has its 4 stack pages mapped, to
//!   frames of its own; a clear slot has nothing mapped.
//! - The guard half of a slot is never mapped.

use super::page_table;
use super::setup::{FrameTables, kernel_root, with_frames};
use crate::arch::cpu;
use crate::mm::descriptor::Attributes;
use crate::sync::IrqMutex;
use boot::layout::{PAGE_SIZE, STACK_SLOT_SIZE, STACK_WINDOW_BASE, STACK_WINDOW_SIZE};
use page_table::Granularity;

/// A stack's pages.
pub const STACK_PAGES: usize = 4;
const _: () = assert!(STACK_PAGES * PAGE_SIZE == STACK_SLOT_SIZE / 2);

/// How many stacks can exist at once: one per kernel thread, so this
/// bounds the threads (and the processes) the machine can have.
pub const MAX_STACKS: usize = 4096;
const _: () = assert!(MAX_STACKS * STACK_SLOT_SIZE <= STACK_WINDOW_SIZE);

/// Which slots hold a stack, a bit each.
static USED: IrqMutex<[u64; MAX_STACKS / 64]> = IrqMutex::new([0; MAX_STACKS / 64]);

/// A kernel stack: its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stack {
    slot: usize,
}

impl Stack {
    /// Its slot in the stack window.
    pub fn slot(self) -> usize {
        self.slot
    }

    /// The lowest address of the stack (just above its guard).
    pub fn bottom(self) -> usize {
        STACK_WINDOW_BASE + self.slot * STACK_SLOT_SIZE + STACK_SLOT_SIZE / 2
    }

    /// One past the highest address: the initial stack pointer.
    pub fn top(self) -> usize {
        STACK_WINDOW_BASE + (self.slot + 1) * STACK_SLOT_SIZE
    }
}

/// The slot of the stack window that `address` lies in, if any.
pub fn slot_of(address: usize) -> Option<usize> {
    let offset = address.checked_sub(STACK_WINDOW_BASE)?;
    (offset < MAX_STACKS * STACK_SLOT_SIZE).then_some(offset / STACK_SLOT_SIZE)
}

/// A new stack: the lowest free slot, its pages mapped to fresh frames.
/// `None` when no slot or no memory is left.
pub fn allocate() -> Option<Stack> {
    let slot = {
        let mut used = USED.lock();
        let (word, bits) = used
            .iter_mut()
            .enumerate()
            .find(|(_, bits)| **bits != u64::MAX)?;
        let bit = bits.trailing_ones() as usize;
        *bits |= 1 << bit;
        word * 64 + bit
    };
    let stack = Stack { slot };
    let mapped = with_frames(|frames| -> Result<(), ()> {
        for page in 0..STACK_PAGES {
            let frame = frames.allocate().ok_or(())?;
            let address = stack.bottom() + page * PAGE_SIZE;
            let mut tables = FrameTables {
                frames: &mut *frames,
            };
            if page_table::map(
                &mut tables,
                kernel_root(),
                address,
                frame,
                PAGE_SIZE,
                Attributes::KERNEL_DATA,
                Granularity::PagesOnly,
            )
            .is_err()
            {
                frames.free(frame);
                return Err(());
            }
        }
        Ok(())
    });
    cpu::publish_table_changes();
    if mapped.is_err() {
        free(stack);
        return None;
    }
    Some(stack)
}

/// Unmaps `stack`, gives its frames back, and frees its slot. The caller
/// must be running on another stack.
pub fn free(stack: Stack) {
    with_frames(|frames| {
        for page in 0..STACK_PAGES {
            let address = stack.bottom() + page * PAGE_SIZE;
            let mut tables = FrameTables {
                frames: &mut *frames,
            };
            if let Some(entry) = page_table::unmap_page(&mut tables, kernel_root(), address) {
                cpu::flush_kernel_page(address);
                frames.free(entry.address());
            }
        }
    });
    let mut used = USED.lock();
    used[stack.slot / 64] &= !(1 << (stack.slot % 64));
}
