//! The virtual address map, and the MMU settings every page table uses.
//!
//! ```text
//!  0x0000_0000_0000_0000 ┬ TTBR0: user space (empty until processes exist)
//!  0x0000_ffff_ffff_ffff ┴
//!          ...             (addresses here fault: neither TTBR covers them)
//!  0xffff_0000_0000_0000 ┬ LINEAR_MAP_BASE: all RAM, at LINEAR_MAP_BASE + physical
//!                        │ address (read/write, never executable)
//!  0xffff_ff80_0000_0000 ┼ (top 512 GiB: one level-0 entry holds all of these)
//!  0xffff_ffff_0000_0000 ┼ DEVICE_WINDOW_BASE: device registers, mapped one
//!                        │ block at a time as the kernel finds them (nGnRE)
//!  0xffff_ffff_8000_0000 ┼ KERNEL_BASE: the kernel image (text RX, rodata R,
//!  0xffff_ffff_ffff_ffff ┴ data and bss RW), linked here by kernel.ld
//! ```
//!
//! Both halves use 48-bit addresses and 4 KiB pages, so a walk is four levels
//! (0 to 3) of 512-entry tables, each level indexing 9 bits of the address.

/// 4 KiB pages (the translation granule).
pub const PAGE_SIZE: usize = 4096;
/// Bits of virtual address in each half: `T0SZ = T1SZ = 64 - 48`.
pub const VIRTUAL_ADDRESS_BITS: u32 = 48;

/// Where all of RAM appears in the kernel's half: `virtual = physical + this`.
pub const LINEAR_MAP_BASE: usize = 0xffff_0000_0000_0000;
/// The highest physical address the linear map can reach (one level-0 entry,
/// 512 GiB).
pub const LINEAR_MAP_LIMIT: u64 = 1 << 39;
/// Kernel thread stacks live here, one per slot of `STACK_SLOT_SIZE`
/// bytes: the lower half of each slot is never mapped (the guard), the
/// upper half is the stack. So an address in the window whose bit
/// `STACK_SLOT_GUARD_BIT` is clear is in a guard, which is how the
/// exception entry tells an overflowed stack (`arch::exceptions`).
pub const STACK_WINDOW_BASE: usize = 0xffff_fffe_0000_0000;
/// The stack window's size (1 GiB; the exception entry's test relies on it
/// being exactly the GiB at `STACK_WINDOW_BASE`).
pub const STACK_WINDOW_SIZE: usize = 1 << 30;
/// One stack's slot: 16 KiB of guard below 16 KiB of stack.
pub const STACK_SLOT_SIZE: usize = 32 * 1024;
/// The bit of an address that is set in a stack and clear in its guard.
pub const STACK_SLOT_GUARD_BIT: u32 = 14;
/// Device register blocks are mapped from here up, in the order the kernel
/// asks for them.
pub const DEVICE_WINDOW_BASE: usize = 0xffff_ffff_0000_0000;
/// The size of the device window (1 GiB).
pub const DEVICE_WINDOW_SIZE: usize = 1 << 30;
/// The kernel image's link address (see `kernel.ld`).
pub const KERNEL_BASE: usize = 0xffff_ffff_8000_0000;

/// The earliest UART, before the device tree has been read: QEMU `virt`'s
/// PL011. The early page tables map its 1 GiB with device attributes at
/// `EARLY_DEVICE_WINDOW`; it is the one machine address Annulus hard-codes, and
/// it is used only until the real console (found in the FDT) is up.
pub const EARLY_UART_PHYSICAL: usize = 0x0900_0000;
/// Where the early tables map the first GiB of physical space (device memory).
pub const EARLY_DEVICE_WINDOW: usize = DEVICE_WINDOW_BASE;

/// `MAIR_EL1` attribute indices, as used in a descriptor's `AttrIndx` field.
pub mod memory_attribute {
    /// Normal memory, inner and outer write-back, read/write-allocate (0xff).
    pub const NORMAL: u64 = 0;
    /// Device-nGnRE: device registers (0x04).
    pub const DEVICE: u64 = 1;
    /// Normal memory, non-cacheable (0x44), for later DMA buffers.
    pub const NORMAL_UNCACHED: u64 = 2;
}

/// The value of `MAIR_EL1`: attribute 0 = 0xff, 1 = 0x04, 2 = 0x44.
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8) | (0x44 << 16);

/// `TCR_EL1` without the physical address size (IPS), which the boot code
/// copies from `ID_AA64MMFR0_EL1.PARange`:
/// - `T0SZ = T1SZ = 16`: 48-bit halves;
/// - `TG0 = 4 KiB (0b00)`, `TG1 = 4 KiB (0b10)`;
/// - table walks are inner shareable (`SH = 0b11`) and write-back cacheable
///   (`IRGN = ORGN = 0b01`);
/// - `EPD0 = 1`: no TTBR0 walks until user space exists.
pub const TCR_VALUE: u64 = {
    let t0sz = 64 - VIRTUAL_ADDRESS_BITS as u64;
    let t1sz = t0sz << 16;
    let walk0 = (0b01 << 8) | (0b01 << 10) | (0b11 << 12);
    let walk1 = (0b01 << 24) | (0b01 << 26) | (0b11 << 28);
    let tg1_4k = 0b10 << 30;
    let epd0 = 1 << 7;
    t0sz | t1sz | walk0 | walk1 | tg1_4k | epd0
};
/// `TCR_EL1.EPD0`: set while the kernel has nothing to map in TTBR0.
pub const TCR_EPD0: u64 = 1 << 7;
/// Bit position of `TCR_EL1.IPS`.
pub const TCR_IPS_SHIFT: u64 = 32;

/// The descriptors the early boot code writes: 1 GiB and 2 MiB blocks and
/// table pointers. The kernel's page table code builds its own descriptors;
/// a unit test there checks that these agree with it.
pub mod early_descriptor {
    use super::memory_attribute;
    /// Valid, next level is a table.
    pub const TABLE: u64 = 0b11;
    /// Valid block, normal memory, inner shareable, accessed, read/write,
    /// executable (the early map is replaced before anything untrusted runs).
    pub const BLOCK_NORMAL: u64 = 0b01 | (memory_attribute::NORMAL << 2) | (0b11 << 8) | (1 << 10);
    /// Valid block, Device-nGnRE, accessed, read/write, never executable.
    pub const BLOCK_DEVICE: u64 =
        0b01 | (memory_attribute::DEVICE << 2) | (1 << 10) | (1 << 53) | (1 << 54);
}

// The regions start at the bottom of the high half and do not overlap.
const _: () = assert!(LINEAR_MAP_BASE == usize::MAX << VIRTUAL_ADDRESS_BITS);
const _: () = assert!(LINEAR_MAP_BASE + LINEAR_MAP_LIMIT as usize <= STACK_WINDOW_BASE);
const _: () = assert!(STACK_WINDOW_BASE + STACK_WINDOW_SIZE <= DEVICE_WINDOW_BASE);
const _: () = assert!(STACK_WINDOW_BASE.is_multiple_of(STACK_WINDOW_SIZE));
const _: () = assert!(STACK_SLOT_SIZE == 2 << STACK_SLOT_GUARD_BIT);
const _: () = assert!(DEVICE_WINDOW_BASE + DEVICE_WINDOW_SIZE <= KERNEL_BASE);

/// The physical address `physical` as seen through the linear map.
pub const fn physical_to_virtual(physical: u64) -> usize {
    LINEAR_MAP_BASE + physical as usize
}

/// The physical address behind a linear-map address, or `None` for any
/// other address.
pub const fn virtual_to_physical(virtual_address: usize) -> Option<u64> {
    if virtual_address >= LINEAR_MAP_BASE
        && ((virtual_address - LINEAR_MAP_BASE) as u64) < LINEAR_MAP_LIMIT
    {
        Some((virtual_address - LINEAR_MAP_BASE) as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcr_uses_48_bit_halves_with_4k_granules() {
        assert_eq!(TCR_VALUE & 0x3f, 16);
        assert_eq!((TCR_VALUE >> 16) & 0x3f, 16);
        assert_eq!((TCR_VALUE >> 14) & 0b11, 0b00, "TG0 = 4 KiB");
        assert_eq!((TCR_VALUE >> 30) & 0b11, 0b10, "TG1 = 4 KiB");
    }

    #[test]
    fn linear_map_round_trips() {
        let physical = 0x1_4000_0000;
        assert_eq!(
            virtual_to_physical(physical_to_virtual(physical)),
            Some(physical)
        );
        assert_eq!(virtual_to_physical(KERNEL_BASE), None);
    }
}
