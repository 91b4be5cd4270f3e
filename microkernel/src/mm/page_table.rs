//! Building and walking 4-level translation tables.
//!
//! The code here only moves descriptors around; where the table pages live
//! and how they are reached is the caller's business, through
//! [`TableMemory`]. In the kernel that is the linear map and the frame
//! allocator; in the host unit tests it is a `HashMap` of fake pages.
//!
//! # Invariants
//! - `map` never overwrites a valid entry: mapping over an existing mapping
//!   is an error, so a mistake cannot silently change permissions.
//! - Blocks (1 GiB at level 1, 2 MiB at level 2) are used only when the
//!   caller allows them and both addresses are aligned to the block size.

use super::descriptor::{self, Attributes, Descriptor};
use boot::layout::PAGE_SIZE;

/// Entries in one table page.
pub const ENTRIES: usize = 512;

/// One table: a 4 KiB page of 512 descriptors.
pub type Table = [u64; ENTRIES];

/// Where the tables live.
pub trait TableMemory {
    /// The table in the page at physical address `physical`.
    fn table(&mut self, physical: u64) -> &mut Table;
    /// A new, zeroed table page, or `None` when memory is exhausted.
    fn allocate_table(&mut self) -> Option<u64>;
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or the size is not a multiple of the page size.
    Misaligned,
    /// Part of the range is already mapped.
    AlreadyMapped,
    /// No memory for a new table.
    OutOfMemory,
}

/// Whether `map` may use 1 GiB and 2 MiB blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// 4 KiB pages only (needed where permissions change every few pages).
    PagesOnly,
    /// The largest block that fits at each step.
    LargestBlocks,
}

/// The table index of `virtual_address` at `level` (0 to 3).
pub const fn table_index(virtual_address: usize, level: usize) -> usize {
    (virtual_address >> level_shift(level)) & (ENTRIES - 1)
}

/// The number of address bits a level-`level` entry covers: 39, 30, 21, 12.
pub const fn level_shift(level: usize) -> usize {
    12 + 9 * (3 - level)
}

/// Maps `size` bytes at `virtual_address` to `physical` in the tables rooted
/// at `root` (a level-0 table).
pub fn map(
    memory: &mut impl TableMemory,
    root: u64,
    virtual_address: usize,
    physical: u64,
    size: usize,
    attributes: Attributes,
    granularity: Granularity,
) -> Result<(), MapError> {
    let page_mask = PAGE_SIZE - 1;
    if virtual_address & page_mask != 0
        || physical as usize & page_mask != 0
        || size & page_mask != 0
    {
        return Err(MapError::Misaligned);
    }
    let mut offset = 0;
    while offset < size {
        let virtual_here = virtual_address + offset;
        let physical_here = physical + offset as u64;
        let remaining = size - offset;
        offset += map_one(
            memory,
            root,
            virtual_here,
            physical_here,
            remaining,
            attributes,
            granularity,
        )?;
    }
    Ok(())
}

/// Maps the largest allowed piece at `virtual_address`; returns its size.
fn map_one(
    memory: &mut impl TableMemory,
    root: u64,
    virtual_address: usize,
    physical: u64,
    remaining: usize,
    attributes: Attributes,
    granularity: Granularity,
) -> Result<usize, MapError> {
    let mut table = root;
    for level in 0..=3 {
        let index = table_index(virtual_address, level);
        let entry = Descriptor(memory.table(table)[index]);
        let span = 1usize << level_shift(level);
        let aligned =
            virtual_address.is_multiple_of(span) && (physical as usize).is_multiple_of(span);
        let block_allowed = granularity == Granularity::LargestBlocks && (level == 1 || level == 2);
        if level == 3 || (block_allowed && aligned && remaining >= span && !entry.is_valid()) {
            if entry.is_valid() {
                return Err(MapError::AlreadyMapped);
            }
            memory.table(table)[index] = if level == 3 {
                descriptor::page(physical, attributes)
            } else {
                descriptor::block(physical, attributes)
            };
            return Ok(span);
        }
        table = if entry.is_table() {
            entry.address()
        } else if entry.is_valid() {
            // A block already covers this address.
            return Err(MapError::AlreadyMapped);
        } else {
            let new_table = memory.allocate_table().ok_or(MapError::OutOfMemory)?;
            memory.table(table)[index] = descriptor::table(new_table);
            new_table
        };
    }
    unreachable!("level 3 always maps a page")
}

/// A mapping found by [`translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `virtual_address` translates to.
    pub physical: u64,
    /// The block or page descriptor that maps it.
    pub descriptor: Descriptor,
    /// The level of that descriptor (1 and 2 are blocks, 3 a page).
    pub level: usize,
}

/// Walks the tables rooted at `root` the way the MMU would.
pub fn translate(
    memory: &mut impl TableMemory,
    root: u64,
    virtual_address: usize,
) -> Option<Translation> {
    Walker::new(root).translate(memory, virtual_address)
}

/// Translates many addresses under one root, remembering the last
/// level-3 table it reached, like a one-entry TLB of table pointers: the
/// next page in the same 2 MiB costs one table read instead of four. Only
/// for as long as nobody changes the tables.
pub struct Walker {
    root: u64,
    /// `(virtual_address >> level_shift(2), physical address of the
    /// level-3 table that maps that 2 MiB)`.
    last_leaf_table: Option<(usize, u64)>,
}

impl Walker {
    pub fn new(root: u64) -> Walker {
        Walker {
            root,
            last_leaf_table: None,
        }
    }

    /// [`translate`], starting from the remembered table when it covers
    /// `virtual_address`.
    pub fn translate(
        &mut self,
        memory: &mut impl TableMemory,
        virtual_address: usize,
    ) -> Option<Translation> {
        let region = virtual_address >> level_shift(2);
        let (mut table, first_level) = match self.last_leaf_table {
            Some((known, leaf)) if known == region => (leaf, 3),
            _ => (self.root, 0),
        };
        for level in first_level..=3 {
            let entry = Descriptor(memory.table(table)[table_index(virtual_address, level)]);
            if !entry.is_valid() {
                return None;
            }
            if level < 3 && entry.is_table() {
                table = entry.address();
                if level == 2 {
                    self.last_leaf_table = Some((region, table));
                }
                continue;
            }
            if level == 0 {
                return None; // level 0 cannot hold a block with 4 KiB pages
            }
            let offset = virtual_address & ((1 << level_shift(level)) - 1);
            return Some(Translation {
                physical: entry.address() + offset as u64,
                descriptor: entry,
                level,
            });
        }
        None
    }
}

/// Removes the level-3 page mapping `virtual_address` and returns the
/// physical frame it mapped, or `None` if no page is mapped there (a block
/// mapping is left alone: user space has none). The caller flushes the TLB.
pub fn unmap_page(
    memory: &mut impl TableMemory,
    root: u64,
    virtual_address: usize,
) -> Option<Descriptor> {
    let mut table = root;
    for level in 0..3 {
        let entry = Descriptor(memory.table(table)[table_index(virtual_address, level)]);
        if !entry.is_table() {
            return None;
        }
        table = entry.address();
    }
    let slot = &mut memory.table(table)[table_index(virtual_address, 3)];
    let entry = Descriptor(*slot);
    if !entry.is_valid() {
        return None;
    }
    *slot = 0;
    Some(entry)
}

/// After pages around `virtual_address` were unmapped: the tables on the
/// way to it that map nothing any more are taken out of their parent (the
/// level-3 table first, then its parent if that is empty now, and so on;
/// never the root) and handed to `free`. Returns how many went. The caller
/// flushes the TLB, whose walk caches may still hold the removed entries,
/// before the frames are used again.
///
/// Without this, an address space that maps and unmaps at ever new
/// addresses (a heap that never reuses an address) keeps one table per
/// 2 MiB it ever touched, each a frame charged to it.
pub fn prune_empty_tables<Memory: TableMemory>(
    memory: &mut Memory,
    root: u64,
    virtual_address: usize,
    free: &mut impl FnMut(&mut Memory, u64),
) -> usize {
    // The tables of levels 1 to 3 on the way, with their parents.
    let mut path = [(0u64, 0u64); 3];
    let mut table = root;
    for (level, step) in path.iter_mut().enumerate() {
        let entry = Descriptor(memory.table(table)[table_index(virtual_address, level)]);
        if !entry.is_table() {
            return 0;
        }
        *step = (table, entry.address());
        table = entry.address();
    }
    let mut freed = 0;
    for (level, &(parent, child)) in path.iter().enumerate().rev() {
        if next_valid(memory, child, 0).is_some() {
            break;
        }
        memory.table(parent)[table_index(virtual_address, level)] = 0;
        free(memory, child);
        freed += 1;
    }
    freed
}

/// Takes apart the tables rooted at `root`, which map only pages (no
/// blocks): calls `free(memory, frame)` with every mapped page's frame and
/// every table's frame, each table after the pages and tables below it, the
/// root last. `free` gets `memory` back so it can give frames to whatever
/// allocator `memory` holds.
pub fn tear_down<Memory: TableMemory>(
    memory: &mut Memory,
    root: u64,
    free: &mut impl FnMut(&mut Memory, Descriptor),
) {
    tear_down_table(memory, root, 0, free);
    free(memory, Descriptor(descriptor::table(root)));
}

/// Tears down every valid entry of `table` (at `level`).
fn tear_down_table<Memory: TableMemory>(
    memory: &mut Memory,
    table: u64,
    level: usize,
    free: &mut impl FnMut(&mut Memory, Descriptor),
) {
    let mut from = 0;
    while let Some(index) = next_valid(memory, table, from) {
        tear_down_entry(memory, table, index, level, free);
        from = index + 1;
    }
}

/// The first valid entry of `table` at `from` or after. (A user address
/// space uses a few entries of each table: this scan is where tearing one
/// down spends its time, so it looks at eight entries at once, ORing them
/// and testing the valid bit of the result.)
fn next_valid<Memory: TableMemory>(memory: &mut Memory, table: u64, from: usize) -> Option<usize> {
    const GROUP: usize = 8;
    let entries = memory.table(table);
    let mut index = from;
    while index < ENTRIES && !index.is_multiple_of(GROUP) {
        if Descriptor(entries[index]).is_valid() {
            return Some(index);
        }
        index += 1;
    }
    while index < ENTRIES {
        let group = &entries[index..index + GROUP];
        if Descriptor(group.iter().fold(0, |all, &entry| all | entry)).is_valid() {
            return group
                .iter()
                .position(|&entry| Descriptor(entry).is_valid())
                .map(|offset| index + offset);
        }
        index += GROUP;
    }
    None
}

fn tear_down_entry<Memory: TableMemory>(
    memory: &mut Memory,
    table: u64,
    index: usize,
    level: usize,
    free: &mut impl FnMut(&mut Memory, Descriptor),
) {
    let entry = Descriptor(memory.table(table)[index]);
    if !entry.is_valid() {
        return;
    }
    if level < 3 && entry.is_table() {
        tear_down_table(memory, entry.address(), level + 1, free);
    }
    // A level-3 page, or a table now empty of everything below it.
    if level == 3 || entry.is_table() {
        free(memory, entry);
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Table pages in a hash map, handed out from a made-up physical range.
    #[derive(Default)]
    pub struct FakeMemory {
        pub pages: HashMap<u64, Box<Table>>,
        pub next: u64,
    }

    impl FakeMemory {
        pub fn new() -> (FakeMemory, u64) {
            let mut memory = FakeMemory {
                pages: HashMap::new(),
                next: 0x8000_0000,
            };
            let root = memory.allocate_table().unwrap();
            (memory, root)
        }
    }

    impl TableMemory for FakeMemory {
        fn table(&mut self, physical: u64) -> &mut Table {
            self.pages
                .get_mut(&physical)
                .expect("walked to a page that is not a table")
        }

        fn allocate_table(&mut self) -> Option<u64> {
            let physical = self.next;
            self.next += PAGE_SIZE as u64;
            self.pages.insert(physical, Box::new([0; ENTRIES]));
            Some(physical)
        }
    }

    #[test]
    fn address_at_one_gib_uses_level1_slot_1() {
        assert_eq!(table_index(1 << 30, 1), 1);
        assert_eq!(table_index(1 << 30, 0), 0);
    }

    #[test]
    fn kernel_base_indices() {
        let kernel_base = boot::layout::KERNEL_BASE;
        assert_eq!(table_index(kernel_base, 0), 511);
        assert_eq!(table_index(kernel_base, 1), 510);
        assert_eq!(table_index(kernel_base, 2), 0);
        assert_eq!(table_index(kernel_base + 0x1234_5000, 3), 0x145);
        assert_eq!(table_index(kernel_base + 0x1234_5000, 2), 0x91);
    }

    #[test]
    fn pages_map_and_translate() {
        let (mut memory, root) = FakeMemory::new();
        let virtual_address = 0xffff_ffff_8000_0000;
        map(
            &mut memory,
            root,
            virtual_address,
            0x4020_0000,
            3 * PAGE_SIZE,
            Attributes::KERNEL_TEXT,
            Granularity::PagesOnly,
        )
        .unwrap();
        let found = translate(&mut memory, root, virtual_address + PAGE_SIZE + 0x10).unwrap();
        assert_eq!(found.physical, 0x4020_1010);
        assert_eq!(found.level, 3);
        assert!(found.descriptor.kernel_executable());
        assert_eq!(
            translate(&mut memory, root, virtual_address + 3 * PAGE_SIZE),
            None
        );
    }

    #[test]
    fn a_walker_agrees_with_a_fresh_walk_across_leaf_tables() {
        let (mut memory, root) = FakeMemory::new();
        // Pages on both sides of a 2 MiB boundary (two level-3 tables),
        // a hole between them, and a block mapping further on.
        let start = 0x40_0000 - 2 * PAGE_SIZE;
        map(
            &mut memory,
            root,
            start,
            0x5000_0000,
            2 * PAGE_SIZE,
            Attributes::KERNEL_DATA,
            Granularity::PagesOnly,
        )
        .unwrap();
        map(
            &mut memory,
            root,
            0x40_0000 + PAGE_SIZE,
            0x6000_0000,
            PAGE_SIZE,
            Attributes::KERNEL_DATA,
            Granularity::PagesOnly,
        )
        .unwrap();
        map(
            &mut memory,
            root,
            0x80_0000,
            0x7000_0000,
            0x20_0000,
            Attributes::KERNEL_DATA,
            Granularity::LargestBlocks,
        )
        .unwrap();
        let mut walker = Walker::new(root);
        let addresses = (0..8).map(|page| start + page * PAGE_SIZE + 0x18);
        let probes = addresses.chain([0x80_0000 + 0x1234, start + 0x18, 0x40_0000 + 0x18]);
        for address in probes {
            assert_eq!(
                walker.translate(&mut memory, address),
                translate(&mut memory, root, address),
                "at {address:#x}"
            );
        }
        assert_eq!(
            walker
                .translate(&mut memory, start + PAGE_SIZE)
                .unwrap()
                .physical,
            0x5000_1000
        );
        assert_eq!(walker.translate(&mut memory, 0x40_0000), None);
    }

    #[test]
    fn aligned_ranges_use_blocks() {
        let (mut memory, root) = FakeMemory::new();
        let base = boot::layout::LINEAR_MAP_BASE;
        // 1 GiB + 2 MiB + 4 KiB from a GiB boundary: one of each size.
        let size = (1 << 30) + (2 << 20) + PAGE_SIZE;
        map(
            &mut memory,
            root,
            base + (1 << 30),
            1 << 30,
            size,
            Attributes::KERNEL_DATA,
            Granularity::LargestBlocks,
        )
        .unwrap();
        let levels: Vec<usize> = [0, 1 << 30, (1 << 30) + (2 << 20)]
            .iter()
            .map(|offset| {
                translate(&mut memory, root, base + (1 << 30) + offset)
                    .unwrap()
                    .level
            })
            .collect();
        assert_eq!(levels, [1, 2, 3]);
        // Root, one level 1, one level 2, one level 3 table: nothing more.
        assert_eq!(memory.pages.len(), 4);
    }

    #[test]
    fn unaligned_physical_address_falls_back_to_pages() {
        let (mut memory, root) = FakeMemory::new();
        map(
            &mut memory,
            root,
            0x20_0000,
            0x4000_1000,
            2 << 20,
            Attributes::KERNEL_DATA,
            Granularity::LargestBlocks,
        )
        .unwrap();
        assert_eq!(translate(&mut memory, root, 0x20_0000).unwrap().level, 3);
    }

    #[test]
    fn mapping_twice_is_refused() {
        let (mut memory, root) = FakeMemory::new();
        map(
            &mut memory,
            root,
            0x20_0000,
            0x4000_0000,
            2 << 20,
            Attributes::KERNEL_DATA,
            Granularity::LargestBlocks,
        )
        .unwrap();
        let again = map(
            &mut memory,
            root,
            0x20_1000,
            0x5000_0000,
            PAGE_SIZE,
            Attributes::KERNEL_DATA,
            Granularity::PagesOnly,
        );
        assert_eq!(again, Err(MapError::AlreadyMapped));
        let page_again = map(
            &mut memory,
            root,
            0x20_0000,
            0x5000_0000,
            PAGE_SIZE,
            Attributes::KERNEL_TEXT,
            Granularity::PagesOnly,
        );
        assert_eq!(page_again, Err(MapError::AlreadyMapped));
    }

    #[test]
    fn misaligned_requests_are_refused() {
        let (mut memory, root) = FakeMemory::new();
        for (virtual_address, physical, size) in [
            (0x1001, 0x1000, 0x1000),
            (0x1000, 0x1001, 0x1000),
            (0x1000, 0x1000, 0x10),
        ] {
            assert_eq!(
                map(
                    &mut memory,
                    root,
                    virtual_address,
                    physical,
                    size,
                    Attributes::KERNEL_DATA,
                    Granularity::PagesOnly
                ),
                Err(MapError::Misaligned)
            );
        }
    }

    #[test]
    fn unmapping_a_page_returns_its_frame_once() {
        let (mut memory, root) = FakeMemory::new();
        let user = Attributes {
            user: true,
            ..Attributes::KERNEL_DATA
        };
        map(
            &mut memory,
            root,
            0x40_0000,
            0x4100_0000,
            2 * PAGE_SIZE,
            user,
            Granularity::PagesOnly,
        )
        .unwrap();
        assert_eq!(
            unmap_page(&mut memory, root, 0x40_1000).map(|found| found.address()),
            Some(0x4100_1000)
        );
        assert_eq!(
            unmap_page(&mut memory, root, 0x40_1000),
            None,
            "already gone"
        );
        assert_eq!(
            unmap_page(&mut memory, root, 0x80_0000),
            None,
            "never mapped"
        );
        assert_eq!(translate(&mut memory, root, 0x40_1000), None);
        assert!(
            translate(&mut memory, root, 0x40_0000).is_some(),
            "the neighbour stays"
        );
    }

    #[test]
    fn emptied_tables_are_pruned_up_to_the_first_still_in_use() {
        let (mut memory, root) = FakeMemory::new();
        let user = Attributes {
            user: true,
            ..Attributes::KERNEL_DATA
        };
        // Two pages in the same 1 GiB but different 2 MiB regions: they
        // share the level-1 and level-2 tables, each has its level-3 one.
        for (address, physical) in [(0x40_0000, 0x4100_0000), (0x80_0000, 0x4200_0000)] {
            map(
                &mut memory,
                root,
                address,
                physical,
                PAGE_SIZE,
                user,
                Granularity::PagesOnly,
            )
            .unwrap();
        }
        assert_eq!(memory.pages.len(), 5, "root, level 1, level 2, two level 3");
        let mut freed = Vec::new();
        let mut prune = |memory: &mut FakeMemory, address| {
            prune_empty_tables(memory, root, address, &mut |_, table| freed.push(table))
        };
        assert_eq!(prune(&mut memory, 0x40_0000), 0, "its page is still mapped");
        unmap_page(&mut memory, root, 0x40_0000).unwrap();
        assert_eq!(prune(&mut memory, 0x40_0000), 1, "only its level-3 table");
        assert_eq!(prune(&mut memory, 0x40_0000), 0, "gone already");
        assert!(
            translate(&mut memory, root, 0x80_0000).is_some(),
            "the other page stays"
        );
        unmap_page(&mut memory, root, 0x80_0000).unwrap();
        assert_eq!(
            prune(&mut memory, 0x80_0000),
            3,
            "levels 3, 2 and 1; never the root"
        );
        assert!(memory.table(root).iter().all(|&entry| entry == 0));
        freed.sort();
        freed.dedup();
        assert_eq!(freed.len(), 4, "each table once");
        assert!(!freed.contains(&root));
        // A page mapped again gets fresh tables.
        map(
            &mut memory,
            root,
            0x40_0000,
            0x4100_0000,
            PAGE_SIZE,
            user,
            Granularity::PagesOnly,
        )
        .unwrap();
        assert!(translate(&mut memory, root, 0x40_0000).is_some());
    }

    #[test]
    fn tearing_down_frees_every_page_and_table_once() {
        let (mut memory, root) = FakeMemory::new();
        let user = Attributes {
            user: true,
            ..Attributes::KERNEL_DATA
        };
        // Two pages far apart: separate level-1, -2 and -3 tables.
        map(
            &mut memory,
            root,
            0x40_0000,
            0x4100_0000,
            PAGE_SIZE,
            user,
            Granularity::PagesOnly,
        )
        .unwrap();
        map(
            &mut memory,
            root,
            0x80_0000_0000,
            0x4200_0000,
            PAGE_SIZE,
            user,
            Granularity::PagesOnly,
        )
        .unwrap();
        let mut expected: Vec<u64> = memory.pages.keys().copied().collect();
        expected.extend([0x4100_0000, 0x4200_0000]);
        expected.sort();
        let mut freed = Vec::new();
        tear_down(&mut memory, root, &mut |_, descriptor| {
            freed.push(descriptor.address())
        });
        assert_eq!(freed.last(), Some(&root), "the root goes last");
        freed.sort();
        assert_eq!(freed, expected, "every page and table, each once");
    }

    #[test]
    fn tear_down_finds_entries_anywhere_in_a_group_of_eight() {
        let (mut memory, root) = FakeMemory::new();
        let user = Attributes {
            user: true,
            ..Attributes::KERNEL_DATA
        };
        // Level-3 indices at the edges of the scan's groups of eight.
        let indices = [0u64, 1, 7, 8, 9, 15, 63, 64, 500, 511];
        for (n, index) in indices.iter().enumerate() {
            map(
                &mut memory,
                root,
                (0x40_0000 + index * PAGE_SIZE as u64) as usize,
                0x4100_0000 + n as u64 * PAGE_SIZE as u64,
                PAGE_SIZE,
                user,
                Granularity::PagesOnly,
            )
            .unwrap();
        }
        let mut freed = Vec::new();
        tear_down(&mut memory, root, &mut |_, descriptor| {
            freed.push(descriptor.address())
        });
        for n in 0..indices.len() as u64 {
            let page = 0x4100_0000 + n * PAGE_SIZE as u64;
            assert_eq!(
                freed.iter().filter(|&&address| address == page).count(),
                1,
                "page {n} (level-3 index {}) freed once",
                indices[n as usize]
            );
        }
    }
}
