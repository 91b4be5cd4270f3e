//! What `virtio-drivers` needs from the system it runs on (its `Hal`):
//! memory the device can reach by itself (DMA), and the physical address
//! of every buffer the driver puts in a queue.
//!
//! - **DMA memory** comes from the kernel's `DMA_MAP` (it needs the DMA
//!   handle this server is given): physically contiguous pages, mapped
//!   from [`DMA_BASE`] up. The kernel answers with the physical address,
//!   which is what the device is told.
//! - **Sharing a buffer** with the device: a buffer inside DMA memory is
//!   given as it is (the data buffer, so file data is never copied here).
//!   Any other buffer (the 16-byte request header and 1-byte status the
//!   driver crate keeps on its stack or in our structs) is copied into a
//!   *bounce* page of DMA memory, and copied back when the device has
//!   written it.
//!
//! The `Hal`'s functions take no `self`, so its state is in statics.

extern crate alloc;

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use libring::abi::{Errno, MAP_BASE, PAGE_SIZE};
use libring::ops;
use libring::runtime::with_ring;
use spin::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Where DMA memory is mapped, growing up (the device registers are
/// below, the boot image above).
const DMA_BASE: u64 = MAP_BASE + (2 << 30);
const DMA_LIMIT: u64 = DMA_BASE + (1 << 30);
/// Bytes per bounce slot; a bounce page has 64 of them.
const SLOT: usize = 64;

/// The DMA handle (0 until [`init`]).
static DMA: AtomicU32 = AtomicU32::new(0);
static MEMORY: Mutex<Memory> = Mutex::new(Memory {
    next: DMA_BASE,
    regions: Vec::new(),
    bounce: None,
});

/// One piece of DMA memory.
#[derive(Clone, Copy)]
struct Region {
    address: u64,
    physical: u64,
    length: u64,
}

struct Memory {
    /// Where the next piece is mapped.
    next: u64,
    regions: Vec<Region>,
    /// The bounce page and which of its slots are in use (bit n: slot n).
    bounce: Option<(Region, u64)>,
}

impl Memory {
    /// The physical address of `[address, address + length)`, if it lies
    /// inside one piece of DMA memory.
    fn physical(&self, address: u64, length: u64) -> Option<u64> {
        self.regions
            .iter()
            .find(|region| {
                address >= region.address && address + length <= region.address + region.length
            })
            .map(|region| region.physical + (address - region.address))
    }
}

/// Gives the `Hal` the DMA handle. Call once, before the driver.
pub fn init(dma: u32) {
    DMA.store(dma, Ordering::Relaxed);
}

/// Maps `length` bytes (whole pages) of new DMA memory; returns its
/// address and physical address.
fn map(length: u64) -> Result<Region, Errno> {
    let mut memory = MEMORY.lock();
    let address = memory.next;
    if address + length > DMA_LIMIT || length > u32::MAX as u64 {
        return Err(Errno::OutOfMemory);
    }
    let dma = DMA.load(Ordering::Relaxed);
    let frame = with_ring(|ring| ring.run(ops::dma_map(dma, address, length as u32)))?;
    let region = Region {
        address,
        physical: frame as u64 * PAGE_SIZE,
        length,
    };
    memory.next += length;
    memory.regions.push(region);
    Ok(region)
}

/// `length` bytes (whole pages) of DMA memory for the server's own data
/// buffer: buffers inside it reach the device without a copy.
pub fn allocate(length: usize) -> Result<&'static mut [u8], Errno> {
    let region = map(length as u64)?;
    // SAFETY: just mapped, read and write, for `length` bytes, and handed
    // out once: nothing else refers to it.
    Ok(unsafe { core::slice::from_raw_parts_mut(region.address as *mut u8, length) })
}

/// Copies `buffer` into free bounce slots; returns their physical address.
///
/// # Safety
/// `buffer` is valid for reads.
unsafe fn bounce_in(memory: &mut Memory, buffer: NonNull<[u8]>) -> PhysAddr {
    let length = buffer.len();
    let slots = length.div_ceil(SLOT);
    let Some((page, used)) = memory.bounce.as_mut() else {
        panic!("virtio-blk: no bounce page");
    };
    // `slots` free slots in a row.
    let mask = if slots >= 64 {
        u64::MAX
    } else {
        (1u64 << slots) - 1
    };
    let first = (0..=64 - slots)
        .find(|&first| *used & (mask << first) == 0)
        .unwrap_or_else(|| panic!("virtio-blk: no bounce room for {length} bytes"));
    *used |= mask << first;
    let offset = (first * SLOT) as u64;
    // SAFETY: the slots are ours (just marked) and inside the mapped page;
    // the caller promises `buffer` is readable.
    unsafe {
        core::ptr::copy_nonoverlapping(
            buffer.as_ptr() as *const u8,
            (page.address + offset) as *mut u8,
            length,
        );
    }
    page.physical + offset
}

// SAFETY: `dma_alloc` hands out zeroed, page-aligned memory that is ours
// alone (DMA_MAP maps new zeroed frames, at addresses never used twice);
// `share` returns an address the device may use for the whole buffer
// (inside one contiguous DMA region, or a bounce copy of it).
unsafe impl Hal for AnnulusHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match map(pages as u64 * PAGE_SIZE) {
            Ok(region) => (
                region.physical,
                NonNull::new(region.address as *mut u8).expect("DMA memory is above 0"),
            ),
            // virtio-drivers reads a physical address of 0 as "no memory".
            Err(_) => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let length = pages as u64 * PAGE_SIZE;
        let address = vaddr.as_ptr() as u64;
        let mut memory = MEMORY.lock();
        memory
            .regions
            .retain(|region| !(region.address == address && region.physical == paddr));
        drop(memory);
        // The address range is not reused: only the frames go back.
        match with_ring(|ring| ring.run(ops::unmap(address, length as u32))) {
            Ok(_) => 0,
            Err(_) => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(_paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport asks (for its BARs); this server uses the
        // MMIO transport, whose registers it maps itself.
        panic!("virtio-blk: the MMIO transport has no BARs to map")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let address = buffer.as_ptr() as *const u8 as u64;
        let mut memory = MEMORY.lock();
        if let Some(physical) = memory.physical(address, buffer.len() as u64) {
            return physical;
        }
        if memory.bounce.is_none() {
            drop(memory);
            let page = map(PAGE_SIZE).expect("virtio-blk: no memory for a bounce page");
            memory = MEMORY.lock();
            // The bounce page is not a data region: `physical` must not
            // find it, so a bounce copy is never mistaken for a buffer.
            memory
                .regions
                .retain(|region| region.address != page.address);
            memory.bounce = Some((page, 0));
        }
        // SAFETY: the caller promises the buffer is valid.
        unsafe { bounce_in(&mut memory, buffer) }
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let mut memory = MEMORY.lock();
        let Some((page, used)) = memory.bounce.as_mut() else {
            return; // never bounced: shared in place
        };
        if !(page.physical..page.physical + PAGE_SIZE).contains(&paddr) {
            return;
        }
        let offset = paddr - page.physical;
        let length = buffer.len();
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the bounce slots hold the device's copy; the caller
            // promises `buffer` is valid for writes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    (page.address + offset) as *const u8,
                    buffer.as_ptr() as *mut u8,
                    length,
                );
            }
        }
        let slots = length.div_ceil(SLOT);
        let mask = if slots >= 64 {
            u64::MAX
        } else {
            (1u64 << slots) - 1
        };
        *used &= !(mask << (offset as usize / SLOT));
    }
}

/// The `Hal` of this server.
pub struct AnnulusHal;
