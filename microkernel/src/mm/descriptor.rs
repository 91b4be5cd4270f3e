//! Page-table descriptors: the 64-bit entries of an AArch64 translation table.
//!
//! With 4 KiB pages a walk has four levels. Each entry is one of:
//!
//! ```text
//!  bits   1:0   what it is
//!  ----------   ---------------------------------------------------------
//!         0b00  invalid: any access faults
//!         0b01  block (levels 1 and 2 only): maps 1 GiB or 2 MiB directly
//!         0b11  table (levels 0 to 2): points at the next level's table
//!               page  (level 3): maps one 4 KiB page
//! ```
//!
//! A block or page also carries the output address (bits 47:12) and its
//! attributes: the memory type (an index into `MAIR_EL1`), who may access it
//! (AP), shareability, the access flag, and two execute-never bits (PXN for
//! EL1, UXN for EL0). See the ARM ARM, section D8.3 ("Translation table
//! descriptor formats").
//!
//! # Invariants
//! - A descriptor built here is never both writable and executable at the
//!   same exception level (W^X), whatever [`Attributes`] it is given.

use boot::layout::memory_attribute;

bitflags::bitflags! {
    /// The bits of a block or page descriptor that Annulus uses.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DescriptorBits: u64 {
        /// Bit 0: the entry is valid.
        const VALID = 1 << 0;
        /// Bit 1: a table (levels 0-2) or a page (level 3), not a block.
        const TABLE_OR_PAGE = 1 << 1;
        /// AP[1], bit 6: EL0 may access.
        const USER = 1 << 6;
        /// AP[2], bit 7: read-only.
        const READ_ONLY = 1 << 7;
        /// SH, bits 9:8 = 0b11: inner shareable.
        const INNER_SHAREABLE = 0b11 << 8;
        /// AF, bit 10: the access flag (set, so the first access does not fault).
        const ACCESSED = 1 << 10;
        /// nG, bit 11: the translation belongs to one address space (ASID).
        const NOT_GLOBAL = 1 << 11;
        /// PXN, bit 53: EL1 may not execute.
        const PRIVILEGED_EXECUTE_NEVER = 1 << 53;
        /// UXN, bit 54: EL0 may not execute.
        const USER_EXECUTE_NEVER = 1 << 54;
        /// Bit 55, one of the bits the MMU leaves to software: the frame
        /// is not the address space's own (device registers, the boot
        /// image), so tearing the mapping down must not free it.
        const BORROWED = 1 << 55;
    }
}

/// Bits 4:2: the `MAIR_EL1` attribute index.
const ATTRIBUTE_INDEX_SHIFT: u64 = 2;
const ATTRIBUTE_INDEX_MASK: u64 = 0b111 << ATTRIBUTE_INDEX_SHIFT;
/// Bits 47:12: the output (physical) address.
pub const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// What kind of memory a mapping points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM, cached.
    Normal,
    /// Device registers: Device-nGnRE, never cached, never executable.
    Device,
    /// RAM, not cached (for buffers shared with devices).
    NormalUncached,
}

/// What a mapping allows. Reading is always allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub kind: MemoryKind,
    pub writable: bool,
    pub executable: bool,
    /// Reachable from EL0 (user space), not only from the kernel.
    pub user: bool,
    /// The memory belongs to someone else: unmapping it frees nothing
    /// ([`DescriptorBits::BORROWED`]).
    pub borrowed: bool,
}

impl Attributes {
    /// Kernel code: read and execute.
    pub const KERNEL_TEXT: Attributes = Attributes::kernel(false, true);
    /// Kernel constants: read only.
    pub const KERNEL_READ_ONLY: Attributes = Attributes::kernel(false, false);
    /// Kernel data: read and write.
    pub const KERNEL_DATA: Attributes = Attributes::kernel(true, false);
    /// Device registers, kernel only.
    pub const KERNEL_DEVICE: Attributes = Attributes {
        kind: MemoryKind::Device,
        writable: true,
        executable: false,
        user: false,
        borrowed: true,
    };

    const fn kernel(writable: bool, executable: bool) -> Attributes {
        Attributes {
            kind: MemoryKind::Normal,
            writable,
            executable,
            user: false,
            borrowed: false,
        }
    }
}

/// The level-3 page descriptor for `physical` with `attributes`.
pub fn page(physical: u64, attributes: Attributes) -> u64 {
    leaf(physical, attributes) | DescriptorBits::TABLE_OR_PAGE.bits()
}

/// The level-1 or level-2 block descriptor for `physical` with `attributes`.
pub fn block(physical: u64, attributes: Attributes) -> u64 {
    leaf(physical, attributes)
}

/// A table descriptor pointing at the next-level table at `physical`.
pub fn table(physical: u64) -> u64 {
    (physical & ADDRESS_MASK) | DescriptorBits::VALID.bits() | DescriptorBits::TABLE_OR_PAGE.bits()
}

fn leaf(physical: u64, attributes: Attributes) -> u64 {
    let mut bits = DescriptorBits::VALID | DescriptorBits::ACCESSED;
    let attribute_index = match attributes.kind {
        MemoryKind::Normal => memory_attribute::NORMAL,
        MemoryKind::Device => memory_attribute::DEVICE,
        MemoryKind::NormalUncached => memory_attribute::NORMAL_UNCACHED,
    };
    if attributes.kind != MemoryKind::Device {
        bits |= DescriptorBits::INNER_SHAREABLE;
    }
    if !attributes.writable {
        bits |= DescriptorBits::READ_ONLY;
    }
    if attributes.user {
        bits |= DescriptorBits::USER | DescriptorBits::NOT_GLOBAL;
    }
    if attributes.borrowed {
        bits |= DescriptorBits::BORROWED;
    }
    // W^X: only read-only normal memory may ever be executable. The kernel
    // never executes user memory (PXN on every user mapping), and EL0 only
    // executes its own read-only text.
    let executable =
        attributes.executable && !attributes.writable && attributes.kind == MemoryKind::Normal;
    let kernel_may_execute = executable && !attributes.user;
    let user_may_execute = executable && attributes.user;
    if !kernel_may_execute {
        bits |= DescriptorBits::PRIVILEGED_EXECUTE_NEVER;
    }
    if !user_may_execute {
        bits |= DescriptorBits::USER_EXECUTE_NEVER;
    }
    (physical & ADDRESS_MASK) | (attribute_index << ATTRIBUTE_INDEX_SHIFT) | bits.bits()
}

/// A descriptor read back, for checks and for the page-table walker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    pub fn is_valid(self) -> bool {
        self.0 & DescriptorBits::VALID.bits() != 0
    }

    /// At levels 0 to 2: does this point at another table?
    pub fn is_table(self) -> bool {
        self.is_valid() && self.0 & DescriptorBits::TABLE_OR_PAGE.bits() != 0
    }

    pub fn address(self) -> u64 {
        self.0 & ADDRESS_MASK
    }

    fn has(self, bits: DescriptorBits) -> bool {
        DescriptorBits::from_bits_retain(self.0).contains(bits)
    }

    pub fn is_writable(self) -> bool {
        !self.has(DescriptorBits::READ_ONLY)
    }

    pub fn is_user(self) -> bool {
        self.has(DescriptorBits::USER)
    }

    /// Does the mapped frame belong to someone else (never freed with the
    /// mapping)?
    pub fn is_borrowed(self) -> bool {
        self.has(DescriptorBits::BORROWED)
    }

    /// May the kernel (EL1) execute from here?
    pub fn kernel_executable(self) -> bool {
        !self.has(DescriptorBits::PRIVILEGED_EXECUTE_NEVER)
    }

    /// May user space (EL0) execute from here?
    pub fn user_executable(self) -> bool {
        !self.has(DescriptorBits::USER_EXECUTE_NEVER)
    }

    pub fn memory_kind(self) -> Option<MemoryKind> {
        match (self.0 & ATTRIBUTE_INDEX_MASK) >> ATTRIBUTE_INDEX_SHIFT {
            memory_attribute::NORMAL => Some(MemoryKind::Normal),
            memory_attribute::DEVICE => Some(MemoryKind::Device),
            memory_attribute::NORMAL_UNCACHED => Some(MemoryKind::NormalUncached),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boot::layout::early_descriptor;

    const FRAME: u64 = 0x4020_3000;

    #[test]
    fn kernel_text_is_read_execute() {
        let descriptor = Descriptor(page(FRAME, Attributes::KERNEL_TEXT));
        assert!(
            descriptor.is_valid() && descriptor.is_table(),
            "level-3 pages have bits 1:0 = 0b11"
        );
        assert_eq!(descriptor.address(), FRAME);
        assert!(!descriptor.is_writable());
        assert!(descriptor.kernel_executable());
        assert!(!descriptor.user_executable());
        assert!(!descriptor.is_user());
        assert_eq!(descriptor.memory_kind(), Some(MemoryKind::Normal));
    }

    #[test]
    fn kernel_rodata_is_read_only_and_never_executable() {
        let descriptor = Descriptor(page(FRAME, Attributes::KERNEL_READ_ONLY));
        assert!(!descriptor.is_writable());
        assert!(!descriptor.kernel_executable());
        assert!(!descriptor.user_executable());
    }

    #[test]
    fn kernel_data_is_read_write_and_never_executable() {
        let descriptor = Descriptor(page(FRAME, Attributes::KERNEL_DATA));
        assert!(descriptor.is_writable());
        assert!(!descriptor.kernel_executable());
        assert!(!descriptor.user_executable());
    }

    #[test]
    fn device_memory_uses_the_device_attribute_and_is_never_executable() {
        let descriptor = Descriptor(block(0x0900_0000, Attributes::KERNEL_DEVICE));
        assert_eq!(descriptor.memory_kind(), Some(MemoryKind::Device));
        assert!(!descriptor.is_table(), "a block has bit 1 clear");
        assert!(!descriptor.kernel_executable());
        assert!(!descriptor.user_executable());
        assert_eq!(
            descriptor.0 & (0b11 << 8),
            0,
            "device memory is not marked shareable"
        );
    }

    #[test]
    fn writable_and_executable_is_refused_whatever_is_asked() {
        for user in [false, true] {
            let asked = Attributes {
                kind: MemoryKind::Normal,
                writable: true,
                executable: true,
                user,
                borrowed: false,
            };
            let descriptor = Descriptor(page(FRAME, asked));
            assert!(descriptor.is_writable());
            assert!(!descriptor.kernel_executable());
            assert!(!descriptor.user_executable());
        }
    }

    #[test]
    fn user_text_runs_at_el0_only() {
        let asked = Attributes {
            kind: MemoryKind::Normal,
            writable: false,
            executable: true,
            user: true,
            borrowed: false,
        };
        let descriptor = Descriptor(page(FRAME, asked));
        assert!(descriptor.is_user());
        assert!(descriptor.user_executable());
        assert!(
            !descriptor.kernel_executable(),
            "the kernel never runs user code"
        );
        assert_ne!(
            descriptor.0 & DescriptorBits::NOT_GLOBAL.bits(),
            0,
            "user pages are per address space"
        );
    }

    #[test]
    fn only_borrowed_memory_is_marked_borrowed() {
        let own = Descriptor(page(FRAME, Attributes::KERNEL_DATA));
        assert!(!own.is_borrowed());
        let device = Descriptor(page(FRAME, Attributes::KERNEL_DEVICE));
        assert!(device.is_borrowed());
        let boot_image = Attributes {
            user: true,
            writable: false,
            borrowed: true,
            ..Attributes::KERNEL_DATA
        };
        let descriptor = Descriptor(page(FRAME, boot_image));
        assert!(descriptor.is_borrowed() && descriptor.is_user() && !descriptor.is_writable());
        assert_eq!(
            descriptor.address(),
            FRAME,
            "the bit is outside the address"
        );
    }

    #[test]
    fn table_descriptor_points_at_the_next_level() {
        let descriptor = Descriptor(table(0x4100_0000));
        assert!(descriptor.is_table());
        assert_eq!(descriptor.address(), 0x4100_0000);
    }

    #[test]
    fn early_boot_descriptors_agree_with_these() {
        let normal = Attributes {
            kind: MemoryKind::Normal,
            writable: true,
            executable: false,
            user: false,
            borrowed: false,
        };
        // The early map is read/write/execute (it is replaced before anything
        // untrusted runs), which `block` refuses to build: compare all but PXN.
        let pxn = DescriptorBits::PRIVILEGED_EXECUTE_NEVER.bits();
        assert_eq!(
            early_descriptor::BLOCK_NORMAL,
            block(0, normal) & !pxn & !(1 << 54)
        );
        // The boot code's device block has no BORROWED: nothing ever
        // tears the early map down.
        assert_eq!(
            early_descriptor::BLOCK_DEVICE,
            block(0, Attributes::KERNEL_DEVICE) & !DescriptorBits::BORROWED.bits()
        );
        assert_eq!(early_descriptor::TABLE, table(0));
    }
}
