//! What the kernel's own half of the address space (TTBR1) maps, and with
//! which permissions.
//!
//! - The image, section by section, in 4 KiB pages: text read+execute,
//!   rodata read-only, data and bss read+write. Nothing is both writable and
//!   executable (W^X), and the page below the boot stack stays unmapped so
//!   an overflow faults.
//! - Every RAM bank in the linear map, read+write, never executable, in the
//!   largest blocks that fit.
//! - Device registers, mapped on request into the device window.
//!
//! This module only computes the list; `mm::setup` writes it into tables.

use super::descriptor::Attributes;
use super::page_table::{self, Granularity, MapError, TableMemory};
use boot::boot_info::PhysicalRange;
use boot::layout::{LINEAR_MAP_LIMIT, PAGE_SIZE, physical_to_virtual};

/// Where the linker put each part of the image (from `kernel.ld`'s symbols),
/// as link-time (virtual) addresses, plus where QEMU loaded it.
#[derive(Clone, Copy, Debug)]
pub struct KernelImage {
    pub start: usize,
    pub text_end: usize,
    pub rodata_end: usize,
    /// End of data and bss; the stack guard page starts here.
    pub bss_end: usize,
    pub stack_bottom: usize,
    pub end: usize,
    /// The physical address of `start`.
    pub physical_start: u64,
}

/// One piece of the kernel's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub name: &'static str,
    pub virtual_address: usize,
    pub physical: u64,
    pub size: usize,
    pub attributes: Attributes,
    pub granularity: Granularity,
}

impl Mapping {
    /// Writes this mapping into the tables rooted at `root`.
    pub fn apply(&self, memory: &mut impl TableMemory, root: u64) -> Result<(), MapError> {
        page_table::map(
            memory,
            root,
            self.virtual_address,
            self.physical,
            self.size,
            self.attributes,
            self.granularity,
        )
    }
}

impl KernelImage {
    /// The image's physical range, for the frame allocator to leave alone.
    pub fn physical_range(&self) -> PhysicalRange {
        PhysicalRange {
            start: self.physical_start,
            size: (self.end - self.start) as u64,
        }
    }

    fn physical(&self, virtual_address: usize) -> u64 {
        self.physical_start + (virtual_address - self.start) as u64
    }

    fn section(
        &self,
        name: &'static str,
        start: usize,
        end: usize,
        attributes: Attributes,
    ) -> Mapping {
        Mapping {
            name,
            virtual_address: start,
            physical: self.physical(start),
            size: end - start,
            attributes,
            granularity: Granularity::PagesOnly,
        }
    }

    /// The image's mappings, in address order. The guard page between
    /// `bss_end` and `stack_bottom` is left out on purpose.
    pub fn mappings(&self) -> [Mapping; 4] {
        [
            self.section("text", self.start, self.text_end, Attributes::KERNEL_TEXT),
            self.section(
                "rodata",
                self.text_end,
                self.rodata_end,
                Attributes::KERNEL_READ_ONLY,
            ),
            self.section(
                "data and bss",
                self.rodata_end,
                self.bss_end,
                Attributes::KERNEL_DATA,
            ),
            self.section(
                "boot stack",
                self.stack_bottom,
                self.end,
                Attributes::KERNEL_DATA,
            ),
        ]
    }
}

/// The linear-map mapping of one RAM bank, trimmed to whole pages and to
/// what the linear map can reach; `None` if nothing is left.
pub fn linear_mapping(bank: &PhysicalRange) -> Option<Mapping> {
    let page = PAGE_SIZE as u64;
    let start = bank.start.div_ceil(page) * page;
    let end = (bank.end() / page * page).min(LINEAR_MAP_LIMIT);
    (start < end).then(|| Mapping {
        name: "linear map",
        virtual_address: physical_to_virtual(start),
        physical: start,
        size: (end - start) as usize,
        attributes: Attributes::KERNEL_DATA,
        granularity: Granularity::LargestBlocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::page_table::tests::FakeMemory;
    use crate::mm::page_table::translate;

    const KERNEL: usize = boot::layout::KERNEL_BASE;

    /// A layout like the real one: 3 pages of text, 2 of rodata, 4 of data
    /// and bss, a guard page, 16 pages of stack.
    fn image() -> KernelImage {
        KernelImage {
            start: KERNEL,
            text_end: KERNEL + 3 * PAGE_SIZE,
            rodata_end: KERNEL + 5 * PAGE_SIZE,
            bss_end: KERNEL + 9 * PAGE_SIZE,
            stack_bottom: KERNEL + 10 * PAGE_SIZE,
            end: KERNEL + 26 * PAGE_SIZE,
            physical_start: 0x4020_0000,
        }
    }

    fn build(image: &KernelImage, memory: &mut FakeMemory, root: u64) {
        for mapping in image.mappings() {
            mapping.apply(memory, root).unwrap();
        }
    }

    #[test]
    fn no_page_is_both_writable_and_executable() {
        let image = image();
        let (mut memory, root) = FakeMemory::new();
        build(&image, &mut memory, root);
        for page in (image.start..image.end).step_by(PAGE_SIZE) {
            if let Some(found) = translate(&mut memory, root, page) {
                let descriptor = found.descriptor;
                assert!(
                    !(descriptor.is_writable() && descriptor.kernel_executable()),
                    "{page:#x} is writable and executable"
                );
                assert!(
                    !descriptor.user_executable() && !descriptor.is_user(),
                    "{page:#x} is reachable from EL0"
                );
            }
        }
    }

    #[test]
    fn each_section_has_its_permissions() {
        let image = image();
        let (mut memory, root) = FakeMemory::new();
        build(&image, &mut memory, root);
        let mut at =
            |address: usize| translate(&mut memory, root, address).map(|found| found.descriptor);
        let text = at(image.start + 0x123).unwrap();
        assert!(
            text.kernel_executable() && !text.is_writable(),
            "text is RX"
        );
        let rodata = at(image.text_end).unwrap();
        assert!(
            !rodata.kernel_executable() && !rodata.is_writable(),
            "rodata is R"
        );
        let data = at(image.rodata_end).unwrap();
        assert!(
            !data.kernel_executable() && data.is_writable(),
            "data is RW"
        );
        let bss = at(image.bss_end - 8).unwrap();
        assert!(!bss.kernel_executable() && bss.is_writable(), "bss is RW");
        assert_eq!(at(image.bss_end), None, "the stack guard page is unmapped");
        let stack = at(image.end - 8).unwrap();
        assert!(
            stack.is_writable() && !stack.kernel_executable(),
            "stack is RW"
        );
        assert_eq!(at(image.end), None, "nothing past the image");
    }

    #[test]
    fn image_maps_to_where_it_was_loaded() {
        let image = image();
        let (mut memory, root) = FakeMemory::new();
        build(&image, &mut memory, root);
        let found = translate(&mut memory, root, image.rodata_end + 0x10).unwrap();
        assert_eq!(found.physical, 0x4020_0000 + 5 * PAGE_SIZE as u64 + 0x10);
    }

    #[test]
    fn linear_map_covers_ram_above_4_gib_and_is_not_executable() {
        let bank = PhysicalRange::new(0x4000_0000, 4 << 30).unwrap();
        let mapping = linear_mapping(&bank).unwrap();
        let (mut memory, root) = FakeMemory::new();
        mapping.apply(&mut memory, root).unwrap();
        let last_byte = physical_to_virtual(0x1_3fff_ffff);
        let found = translate(&mut memory, root, last_byte).unwrap();
        assert_eq!(found.physical, 0x1_3fff_ffff);
        assert_eq!(found.level, 1, "whole GiBs use 1 GiB blocks");
        assert!(!found.descriptor.kernel_executable());
        assert_eq!(
            translate(&mut memory, root, physical_to_virtual(0x1_4000_0000)),
            None
        );
    }

    #[test]
    fn linear_map_trims_partial_pages_and_unreachable_ram() {
        let odd = PhysicalRange::new(0x4000_0800, 0x3000).unwrap();
        let mapping = linear_mapping(&odd).unwrap();
        assert_eq!((mapping.physical, mapping.size), (0x4000_1000, 0x2000));
        let too_high = PhysicalRange::new(LINEAR_MAP_LIMIT, 1 << 30).unwrap();
        assert_eq!(linear_mapping(&too_high), None);
    }
}
