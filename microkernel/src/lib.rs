//! Annulus, the EL1 core.
//!
//! The kernel does four things: paging, interrupt routing, scheduling, and
//! ring plumbing. This crate holds all of it. Its
//! pure logic (page-table descriptors, the frame allocator, the heap, the
//! kernel's memory layout) builds on the host too and is unit tested there;
//! everything that needs the machine is compiled only for the bare-metal
//! target (`target_os = "none"`).
//!
//! Reading order for a newcomer: `main.rs` (`kernel_main`, the boot
//! sequence), then `mm`, `arch::exceptions`, `interrupts`, `time`,
//! `scheduler`, `process`, `ring`, `syscall`. The chapters in `docs/`
//! follow the same order.
//!
//! Design principles, in order: simple and clear over fast and clever;
//! `unsafe` only at the edges, each block with a `SAFETY:` comment; a
//! mistake in user input is an error, never a panic.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod exception_class;
pub mod id_map;
pub mod mm;
pub mod process;
pub mod ring;
pub mod slab;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(test)]
mod eret_check;
#[cfg(target_os = "none")]
pub mod hang_dump;
#[cfg(target_os = "none")]
pub mod initrd;
#[cfg(target_os = "none")]
pub mod interrupts;
#[cfg(target_os = "none")]
pub mod pl011;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
pub mod scheduler;
#[cfg(target_os = "none")]
pub mod selftest;
#[cfg(target_os = "none")]
pub mod sync;
#[cfg(target_os = "none")]
pub mod syscall;
#[cfg(target_os = "none")]
pub mod time;
#[cfg(target_os = "none")]
pub mod virtio;

#[cfg(target_os = "none")]
pub use machine::*;

/// What the kernel learned at boot, kept for everything that runs later,
/// and the kernel heap.
#[cfg(target_os = "none")]
mod machine {
    use crate::mm::kernel_heap::KernelHeap;
    use boot::BootInfo;
    use boot::boot_info::PhysicalRange;

    #[global_allocator]
    static HEAP: KernelHeap = KernelHeap::new();

    struct BootRecord {
        info: BootInfo,
        fdt: PhysicalRange,
        kernel: PhysicalRange,
    }

    static BOOT_RECORD: spin::Once<BootRecord> = spin::Once::new();

    /// Keeps the device tree's contents and where the FDT and the kernel
    /// image are in RAM; returns the kept `BootInfo`.
    pub fn record_boot(
        info: BootInfo,
        fdt: PhysicalRange,
        kernel: PhysicalRange,
    ) -> &'static BootInfo {
        &BOOT_RECORD
            .call_once(|| BootRecord { info, fdt, kernel })
            .info
    }

    /// The machine as the device tree described it (after boot).
    pub fn boot_info() -> Option<&'static BootInfo> {
        BOOT_RECORD.get().map(|record| &record.info)
    }

    /// Where the FDT is in RAM.
    pub fn fdt_physical_range() -> PhysicalRange {
        BOOT_RECORD.get().expect("boot recorded").fdt
    }

    /// Where the kernel image (bss and boot stack included) is in RAM.
    pub fn kernel_physical_range() -> PhysicalRange {
        BOOT_RECORD.get().expect("boot recorded").kernel
    }

    /// Bytes the kernel heap has handed out and not had back.
    pub fn heap_bytes_in_use() -> usize {
        HEAP.bytes_in_use()
    }

    /// Pages the kernel heap holds right now.
    pub fn heap_pages_held() -> usize {
        HEAP.pages_held()
    }
}
