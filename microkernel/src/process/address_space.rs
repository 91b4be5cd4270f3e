//! A process's address space: its own TTBR0 tables, tagged with an ASID.
//!
//! Every process has a level-0 table of its own and an address space ID
//! (ASID). The TLB tags user translations with the ASID, so switching
//! processes only loads TTBR0 (table and ASID together) and flushes
//! nothing; a process's entries are flushed when its pages are unmapped and
//! when its ASID is given back.
//!
//! The kernel never dereferences a user address. To read or write user
//! memory it walks the process's tables in software, checks that each page
//! is mapped *for user space* (and writable, for writes), and copies through
//! the linear map. A user pointer is an allegation until that walk says
//! otherwise: kernel addresses, unmapped pages, ranges that wrap all give
//! `EFAULT`.
//!
//! A process's **budget** (set when it is built: `trust.md`) covers all
//! the memory it can make the machine hold: [`KERNEL_ALLOWANCE_FRAMES`]
//! of it are kept back for the kernel memory it may cause (its kernel
//! stack and the kernel's records of its requests, handles and
//! endpoints), and the rest (`frame_budget`) is for the frames its
//! address space takes, pages and tables. None is taken that would leave
//! fewer free frames than the kernel keeps for itself:
//! [`KERNEL_RESERVE_FRAMES`], plus the allowance of each live address
//! space. So no process, nor all of them together, can take the memory
//! the kernel heap grows into.
//!
//! # Invariants
//! - Every page mapped in a process's tables is a frame of RAM that the
//!   process owns alone; [`AddressSpace::destroy`] frees them all.
//! - `owned_frames <= frame_budget`.
//! - An ASID belongs to at most one live address space; ASID 0 means "no
//!   process" and is never handed out.

use crate::arch::cpu;
use crate::mm::descriptor::{Attributes, MemoryKind};
use crate::mm::page_table::{self, Granularity, MapError, Table, TableMemory, Walker};
use crate::mm::setup::FrameTables;
use crate::mm::with_frames;
use crate::sync::IrqMutex;
use boot::layout::physical_to_virtual;
use core::sync::atomic::{AtomicUsize, Ordering};
use libring::abi::{Errno, PAGE_SIZE, USER_LIMIT};

/// 8-bit ASIDs: 255 live processes at most (`TCR_EL1.AS = 0`).
const ASID_COUNT: usize = 256;
static ASIDS: IrqMutex<[u64; ASID_COUNT / 64]> = IrqMutex::new([1, 0, 0, 0]); // ASID 0 taken

/// Frames that user allocations never take, whatever the budgets: the
/// kernel's own (4 MiB).
pub const KERNEL_RESERVE_FRAMES: usize = 1024;

/// Frames kept back for each live address space, for the kernel memory
/// its process may make the kernel use (256 KiB): its kernel stack (16
/// KiB) and, at the most, 128 request records (grown to 256 places, 26
/// KiB), 128 forwarded requests (18 KiB), 256 handles (6 KiB) and the
/// `RELEASE` each will cost when closed (36 KiB), 16 endpoints, the 1,024
/// `RELEASE`s a server may owe (`forward::MAX_RELEASES_OWED`, 144 KiB),
/// timers and `WAIT`s (4 KiB); about 250 KiB.
pub const KERNEL_ALLOWANCE_FRAMES: usize = 64;

/// A process's budget when its builder names none: 32 MiB (in frames),
/// of which 256 KiB are the kernel's allowance.
pub const DEFAULT_FRAME_BUDGET: usize = 8192;

/// `KERNEL_ALLOWANCE_FRAMES` times the live address spaces.
static ALLOWANCES: AtomicUsize = AtomicUsize::new(0);

/// The free frames no user allocation may take: the reserve and the
/// allowances.
fn kept_for_the_kernel() -> usize {
    KERNEL_RESERVE_FRAMES + ALLOWANCES.load(Ordering::Relaxed)
}

/// May user memory take `count` more frames? Only if the kernel's reserve
/// and allowances stay free after it.
fn frames_to_spare(count: usize) -> bool {
    crate::mm::free_frames() >= count + kept_for_the_kernel()
}

/// What a user page allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAccess {
    ReadOnly,
    ReadWrite,
    ReadExecute,
}

impl UserAccess {
    fn attributes(self) -> Attributes {
        Attributes {
            kind: MemoryKind::Normal,
            writable: self == UserAccess::ReadWrite,
            executable: self == UserAccess::ReadExecute,
            user: true,
            borrowed: false,
        }
    }
}

pub struct AddressSpace {
    root: u64,
    asid: u16,
    /// Frames this address space holds: every mapped page and every table.
    /// `destroy` checks that it gives back exactly this many.
    owned_frames: usize,
    /// The most frames it may hold (its budget less the allowance).
    frame_budget: usize,
    /// Bumped by every `unmap`: a translation taken while it had one value
    /// holds (the same frame, still mapped writable) while it keeps it,
    /// since nothing else takes a page away from a live address space.
    unmaps: u64,
}

/// An address space's tables, to walk and not to change, used only by
/// `AddressSpace::physical(&self)`: no frame lock is taken, because only
/// the `AddressSpace` changes its tables, through `&mut self`, which
/// cannot happen while `&self` is held (each process's user tables belong
/// to its address space alone; the kernel's tables are separate).
struct TablesToRead;

impl TableMemory for TablesToRead {
    fn table(&mut self, physical: u64) -> &mut Table {
        // SAFETY: table pages are frames of RAM in the linear map, owned by
        // the address space being walked, which cannot change them
        // meanwhile (see above); `translate` only reads through this.
        unsafe { &mut *(physical_to_virtual(physical) as *mut Table) }
    }

    fn allocate_table(&mut self) -> Option<u64> {
        None
    }
}

/// Table pages from the frame allocator, counted as they are made, and
/// no more than `allowed` of them.
struct CountedTables<'a, 'bitmap> {
    tables: FrameTables<'a, 'bitmap>,
    made: usize,
    allowed: usize,
}

impl TableMemory for CountedTables<'_, '_> {
    fn table(&mut self, physical: u64) -> &mut page_table::Table {
        self.tables.table(physical)
    }

    fn allocate_table(&mut self) -> Option<u64> {
        // (`frames_to_spare` would take the frame lock, which is held.)
        if self.made >= self.allowed || self.tables.frames.free_frames() < kept_for_the_kernel() + 1
        {
            return None;
        }
        let table = self.tables.allocate_table()?;
        self.made += 1;
        Some(table)
    }
}

fn allocate_asid() -> Option<u16> {
    let mut asids = ASIDS.lock();
    for (word_index, word) in asids.iter_mut().enumerate() {
        if *word != u64::MAX {
            let bit = word.trailing_ones() as usize;
            *word |= 1 << bit;
            return Some((word_index * 64 + bit) as u16);
        }
    }
    None
}

fn free_asid(asid: u16) {
    cpu::flush_asid(asid);
    ASIDS.lock()[asid as usize / 64] &= !(1 << (asid % 64));
}

impl AddressSpace {
    /// An empty address space for a process whose budget is `budget`
    /// frames. `OutOfMemory` when there is no frame or no ASID left, or
    /// the budget does not cover the kernel's allowance and a page.
    pub fn new(budget: usize) -> Result<AddressSpace, Errno> {
        let frame_budget = budget.saturating_sub(KERNEL_ALLOWANCE_FRAMES);
        if frame_budget < 1 || !frames_to_spare(1 + KERNEL_ALLOWANCE_FRAMES) {
            return Err(Errno::OutOfMemory);
        }
        let asid = allocate_asid().ok_or(Errno::OutOfMemory)?;
        let root = with_frames(|frames| FrameTables { frames }.allocate_table());
        match root {
            Some(root) => {
                ALLOWANCES.fetch_add(KERNEL_ALLOWANCE_FRAMES, Ordering::Relaxed);
                Ok(AddressSpace {
                    root,
                    asid,
                    owned_frames: 1,
                    frame_budget,
                    unmaps: 0,
                })
            }
            None => {
                free_asid(asid);
                Err(Errno::OutOfMemory)
            }
        }
    }

    /// The value for `TTBR0_EL1`: the table and the ASID.
    pub fn table_register(&self) -> u64 {
        self.root | ((self.asid as u64) << 48)
    }

    /// Maps `length` bytes of new zeroed memory at `address` (both page
    /// aligned). On failure nothing stays mapped.
    pub fn map_new(&mut self, address: u64, length: u64, access: UserAccess) -> Result<(), Errno> {
        let mut mapped = 0;
        while mapped < length {
            let result = self.map_new_page(address + mapped, access);
            if let Err(error) = result {
                let _ = self.unmap(address, mapped);
                return Err(error);
            }
            mapped += PAGE_SIZE;
        }
        cpu::publish_table_changes();
        Ok(())
    }

    fn map_new_page(&mut self, address: u64, access: UserAccess) -> Result<(), Errno> {
        self.map_fresh(address, 1, access).map(|_| ())
    }

    /// Maps `length` bytes of new zeroed memory at `address` in physically
    /// contiguous frames, and returns the first frame's address: for memory
    /// the kernel also reaches through the linear map (the ring region).
    pub fn map_new_contiguous(
        &mut self,
        address: u64,
        length: u64,
        access: UserAccess,
    ) -> Result<u64, Errno> {
        let first = self.map_fresh(address, (length / PAGE_SIZE) as usize, access)?;
        cpu::publish_table_changes();
        Ok(first)
    }

    /// Allocates `count` contiguous zeroed frames and maps them at
    /// `address`; returns the first frame. On failure nothing stays mapped
    /// or allocated.
    fn map_fresh(&mut self, address: u64, count: usize, access: UserAccess) -> Result<u64, Errno> {
        if self.owned_frames + count > self.frame_budget || !frames_to_spare(count) {
            return Err(Errno::OutOfMemory);
        }
        let allocated = with_frames(|frames| match count {
            1 => frames.allocate(),
            _ => frames.allocate_contiguous(count),
        });
        let first = allocated.ok_or(Errno::OutOfMemory)?;
        let length = count as u64 * PAGE_SIZE;
        // SAFETY: frames we now own, in the linear map.
        unsafe { cpu::zero_frames(physical_to_virtual(first), length as usize) };
        // Every frame counts as ours until given back below or by unmap.
        self.owned_frames += count;
        if let Err(error) = self.map_counted(address, first, length, access.attributes()) {
            // Undo exactly what this call did: a page that maps one of our
            // new frames is unmapped (which frees the frame); a frame that
            // never got mapped is freed directly. Pages that were mapped
            // before (the reason for `AlreadyMapped`) are left alone.
            for page in 0..count as u64 {
                let page_address = address + page * PAGE_SIZE;
                let frame = first + page * PAGE_SIZE;
                if self
                    .physical(&mut Walker::new(self.root), page_address)
                    .map(|(physical, _)| physical)
                    == Some(frame)
                {
                    let _ = self.unmap(page_address, PAGE_SIZE);
                } else {
                    with_frames(|frames| frames.free(frame));
                    self.owned_frames -= 1;
                }
            }
            return Err(map_error(error));
        }
        Ok(first)
    }

    /// Maps `length` bytes at `address` to the physical range from
    /// `physical`, counting the table pages it makes as this address
    /// space's.
    fn map_counted(
        &mut self,
        address: u64,
        physical: u64,
        length: u64,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let root = self.root;
        let allowed = self.frame_budget.saturating_sub(self.owned_frames);
        let (result, tables_made) = with_frames(|frames| {
            let mut tables = CountedTables {
                tables: FrameTables { frames },
                made: 0,
                allowed,
            };
            let result = page_table::map(
                &mut tables,
                root,
                address as usize,
                physical,
                length as usize,
                attributes,
                Granularity::PagesOnly,
            );
            (result, tables.made)
        });
        self.owned_frames += tables_made;
        result
    }

    /// Is every page of `[address, address + length)` mapped?
    pub fn is_mapped(&self, address: u64, length: u64) -> bool {
        let mut walker = Walker::new(self.root);
        (0..length / PAGE_SIZE).all(|page| {
            self.physical(&mut walker, address + page * PAGE_SIZE)
                .is_some()
        })
    }

    /// Unmaps and frees the pages of `[address, address + length)`; pages
    /// not mapped are skipped. Flushes their TLB entries. Then the tables
    /// that map nothing any more go too (`page_table::prune_empty_tables`):
    /// an address space that maps and unmaps at new addresses, as a heap
    /// does, would otherwise keep a table for every 2 MiB it ever used.
    pub fn unmap(&mut self, address: u64, length: u64) -> Result<(), Errno> {
        self.unmaps += 1;
        let root = self.root;
        for page in 0..length / PAGE_SIZE {
            let page_address = address + page * PAGE_SIZE;
            let frame = with_frames(|frames| {
                page_table::unmap_page(&mut FrameTables { frames }, root, page_address as usize)
            });
            if let Some(descriptor) = frame {
                cpu::flush_user_page(self.asid, page_address);
                if !descriptor.is_borrowed() {
                    with_frames(|frames| frames.free(descriptor.address()));
                    self.owned_frames -= 1;
                }
            }
        }
        // Each 2 MiB the range touched has its own level-3 table.
        const REGION: u64 = 1 << page_table::level_shift(2);
        let end = address.saturating_add(length);
        let mut region = address & !(REGION - 1);
        while length > 0 && region < end {
            // At most three tables (levels 3, 2 and 1) per region.
            let mut emptied = [0u64; 3];
            let count = with_frames(|frames| {
                let mut count = 0;
                page_table::prune_empty_tables(
                    &mut FrameTables { frames },
                    root,
                    region as usize,
                    &mut |_, table| {
                        emptied[count] = table;
                        count += 1;
                    },
                );
                count
            });
            if count > 0 {
                // No walk may start from a removed table once its frame
                // is someone else's: drop the process's cached walks first.
                cpu::flush_asid(self.asid);
                for &table in &emptied[..count] {
                    with_frames(|frames| frames.free(table));
                }
                self.owned_frames -= count;
            }
            region += REGION;
        }
        Ok(())
    }

    /// The frame behind a user page, if mapped for user space, found with
    /// `walker` (made for this address space's root).
    fn physical(&self, walker: &mut Walker, address: u64) -> Option<(u64, bool)> {
        if address >= USER_LIMIT {
            return None;
        }
        // A walk only reads, so it needs no frame lock (see `TablesToRead`).
        let found = walker.translate(&mut TablesToRead, address as usize)?;
        found
            .descriptor
            .is_user()
            .then_some((found.physical, found.descriptor.is_writable()))
    }

    /// Calls `visit(linear-map pointer, length)` for each piece of the user
    /// range `[address, address + length)`, one page at a time, after
    /// checking the page is mapped for user space (and writable if `write`).
    fn for_each_piece(
        &self,
        address: u64,
        length: usize,
        write: bool,
        mut visit: impl FnMut(*mut u8, usize, usize),
    ) -> Result<(), Errno> {
        let end = address.checked_add(length as u64).ok_or(Errno::Fault)?;
        if end > USER_LIMIT {
            return Err(Errno::Fault);
        }
        let mut walker = Walker::new(self.root);
        let mut done = 0;
        while done < length {
            let here = address + done as u64;
            let in_page = (PAGE_SIZE - here % PAGE_SIZE) as usize;
            let piece = in_page.min(length - done);
            let (physical, writable) = self.physical(&mut walker, here).ok_or(Errno::Fault)?;
            if write && !writable {
                return Err(Errno::Fault);
            }
            visit(physical_to_virtual(physical) as *mut u8, piece, done);
            done += piece;
        }
        Ok(())
    }

    /// Is all of `[address, address + length)` mapped readable for user
    /// space? `EFAULT` if not.
    pub fn check_readable(&self, address: u64, length: usize) -> Result<(), Errno> {
        self.for_each_piece(address, length, false, |_, _, _| {})
    }

    /// Copies user memory at `address` into `buffer`.
    pub fn copy_from_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), Errno> {
        let length = buffer.len();
        // Check the whole range first, so a fault copies nothing.
        self.check_readable(address, length)?;
        self.for_each_piece(address, length, false, |source, piece, done| {
            // SAFETY: `source` is `piece` bytes of a user frame in the linear
            // map (checked above); `buffer` has room from `done`.
            unsafe { core::ptr::copy_nonoverlapping(source, buffer[done..].as_mut_ptr(), piece) };
        })
    }

    /// Is all of `[address, address + length)` mapped writable for user
    /// space? `EFAULT` if not.
    pub fn check_writable(&self, address: u64, length: usize) -> Result<(), Errno> {
        self.for_each_piece(address, length, true, |_, _, _| {})
    }

    /// How many times [`AddressSpace::unmap`] has run: see
    /// [`AddressSpace::writable_pages`].
    pub fn unmaps(&self) -> u64 {
        self.unmaps
    }

    /// The linear-map addresses of the pages of `[address, address +
    /// length)`, which must be mapped writable for user space and span at
    /// most two pages. They stay this address space's, writable, for as
    /// long as [`AddressSpace::unmaps`] gives the value it gave before
    /// this call: a caller may keep them and write through them until
    /// then (a server's message slots, written at every delivery).
    pub fn writable_pages(&self, address: u64, length: usize) -> Result<[usize; 2], Errno> {
        let mut pages = heapless::Vec::<u64, 2>::new();
        self.pages_of(address, length, true, &mut pages)?;
        let first = pages.first().copied().ok_or(Errno::Fault)?;
        let second = pages.get(1).copied().unwrap_or(first);
        Ok([first as usize, second as usize])
    }

    /// Copies `bytes` into user memory at `address`, which must be mapped
    /// writable for user space; nothing is written if any of it is not.
    pub fn copy_to_user(&self, address: u64, bytes: &[u8]) -> Result<(), Errno> {
        if bytes.len() <= PAGE_SIZE as usize {
            // At most two pages (a server's request message, a small
            // answer): one walk finds and checks both before anything is
            // written, instead of a walk to check and another to copy.
            let mut pieces = [(core::ptr::null_mut::<u8>(), 0usize); 2];
            let mut count = 0;
            self.for_each_piece(address, bytes.len(), true, |target, piece, _| {
                if let Some(slot) = pieces.get_mut(count) {
                    *slot = (target, piece);
                }
                count += 1;
            })?;
            let mut done = 0;
            for &(target, piece) in &pieces[..count.min(2)] {
                // SAFETY: `target` is `piece` bytes of a user frame in the
                // linear map, mapped writable for the process (the walk
                // above checked every piece before any is written).
                unsafe { core::ptr::copy_nonoverlapping(bytes[done..].as_ptr(), target, piece) };
                done += piece;
            }
            return Ok(());
        }
        self.check_writable(address, bytes.len())?;
        self.for_each_piece(address, bytes.len(), true, |target, piece, done| {
            // SAFETY: `target` is `piece` bytes of a user frame in the linear
            // map, mapped writable for the process (checked above).
            unsafe { core::ptr::copy_nonoverlapping(bytes[done..].as_ptr(), target, piece) };
        })
    }

    /// Pushes onto `pages` the linear-map address of each user page that
    /// `[address, address + length)` touches, checked readable (and
    /// writable if `write`). `EFAULT` if one is not, or if `pages` has no
    /// room for them all.
    fn pages_of<const N: usize>(
        &self,
        address: u64,
        length: usize,
        write: bool,
        pages: &mut heapless::Vec<u64, N>,
    ) -> Result<(), Errno> {
        let mut room = true;
        self.for_each_piece(address, length, write, |frame, _, _| {
            // The piece's page: its frame, rounded down.
            room &= pages.push(frame as u64 & !(PAGE_SIZE - 1)).is_ok();
        })?;
        if room { Ok(()) } else { Err(Errno::Fault) }
    }

    /// Copies `length` bytes from `source` at `source_address` to `target`
    /// at `target_address`, straight from frame to frame through the
    /// linear map: one copy, as a `memcpy` would do. Nothing is copied
    /// unless the whole source is readable and the whole target writable.
    pub fn copy_between(
        source: &AddressSpace,
        source_address: u64,
        target: &AddressSpace,
        target_address: u64,
        length: usize,
    ) -> Result<(), Errno> {
        Self::copy_pages(source, source_address, target, target_address, length, true)
    }

    /// [`Self::copy_between`], ignoring the target's user permissions (as
    /// [`Self::fill`] does): for filling a new process's program and
    /// startup pages from its builder's memory (`PROCESS_MAP`).
    pub fn fill_from(
        source: &AddressSpace,
        source_address: u64,
        target: &AddressSpace,
        target_address: u64,
        length: usize,
    ) -> Result<(), Errno> {
        Self::copy_pages(
            source,
            source_address,
            target,
            target_address,
            length,
            false,
        )
    }

    #[inline(always)]
    fn copy_pages(
        source: &AddressSpace,
        source_address: u64,
        target: &AddressSpace,
        target_address: u64,
        length: usize,
        user_writable: bool,
    ) -> Result<(), Errno> {
        /// Pages translated at a time: 64 KiB, plus one for a range that
        /// does not start on a page boundary.
        const BATCH: usize = 16;
        const BATCH_BYTES: usize = BATCH * PAGE_SIZE as usize;
        if length > BATCH_BYTES {
            // More than one batch: check everything before copying anything.
            source.check_readable(source_address, length)?;
            target.for_each_piece(target_address, length, user_writable, |_, _, _| {})?;
        }
        let mut done = 0;
        while done < length {
            let batch = BATCH_BYTES.min(length - done);
            let (from, to) = (source_address + done as u64, target_address + done as u64);
            // Filled by `pages_of` (heapless vectors: nothing to zero first).
            let mut from_pages = heapless::Vec::<u64, { BATCH + 1 }>::new();
            let mut to_pages = heapless::Vec::<u64, { BATCH + 1 }>::new();
            source.pages_of(from, batch, false, &mut from_pages)?;
            target.pages_of(to, batch, user_writable, &mut to_pages)?;
            let mut offset = 0;
            while offset < batch {
                let (here, there) = (from + offset as u64, to + offset as u64);
                let from_index = (here / PAGE_SIZE - from / PAGE_SIZE) as usize;
                let to_index = (there / PAGE_SIZE - to / PAGE_SIZE) as usize;
                let piece = ((PAGE_SIZE - here % PAGE_SIZE) as usize)
                    .min((PAGE_SIZE - there % PAGE_SIZE) as usize)
                    .min(batch - offset);
                let source_pointer = (from_pages[from_index] + here % PAGE_SIZE) as *const u8;
                let target_pointer = (to_pages[to_index] + there % PAGE_SIZE) as *mut u8;
                // SAFETY: both pointers are inside user frames in the linear
                // map (translated and checked just above, the target
                // writable), `piece` bytes stay inside each page. `copy`,
                // not `copy_nonoverlapping`: source and target may be the
                // same process, even the same bytes.
                unsafe { core::ptr::copy(source_pointer, target_pointer, piece) };
                offset += piece;
            }
            done += batch;
        }
        Ok(())
    }

    /// Maps a device's registers at `address` (page aligned) for user
    /// space: device memory, read/write, never executable. Returns the
    /// offset of the first register within the first page.
    pub fn map_device(
        &mut self,
        address: u64,
        registers: boot::boot_info::PhysicalRange,
    ) -> Result<u64, Errno> {
        let attributes = Attributes {
            kind: MemoryKind::Device,
            writable: true,
            executable: false,
            user: true,
            borrowed: true,
        };
        self.map_borrowed(address, registers, attributes)
    }

    /// Maps the boot image (the initrd) at `address` (page aligned) for
    /// user space: read only, never executable. Returns its size in bytes.
    /// The image must start on a page boundary (QEMU puts it on one), so
    /// that it starts at `address`; `EINVAL` otherwise.
    pub fn map_boot_image(
        &mut self,
        address: u64,
        image: boot::boot_info::PhysicalRange,
    ) -> Result<u64, Errno> {
        if !image.start.is_multiple_of(PAGE_SIZE) || image.size > i32::MAX as u64 {
            return Err(Errno::InvalidArgument);
        }
        let attributes = Attributes {
            kind: MemoryKind::Normal,
            writable: false,
            executable: false,
            user: true,
            borrowed: true,
        };
        self.map_borrowed(address, image, attributes)?;
        Ok(image.size)
    }

    /// Maps memory that is not this address space's own (marked
    /// borrowed, so unmapping it frees nothing): the pages covering
    /// `range`, at `address` (page aligned) in the map area.
    fn map_borrowed(
        &mut self,
        address: u64,
        range: boot::boot_info::PhysicalRange,
        attributes: Attributes,
    ) -> Result<u64, Errno> {
        let first_page = range.start / PAGE_SIZE * PAGE_SIZE;
        let length = range.end().div_ceil(PAGE_SIZE) * PAGE_SIZE - first_page;
        let end = address.checked_add(length).ok_or(Errno::InvalidArgument)?;
        if end > libring::abi::MAP_LIMIT {
            return Err(Errno::InvalidArgument);
        }
        if let Err(error) = self.map_counted(address, first_page, length, attributes) {
            // Take back whatever part got mapped (borrowed pages free nothing).
            for page in 0..length / PAGE_SIZE {
                let page_address = address + page * PAGE_SIZE;
                if self
                    .physical(&mut Walker::new(self.root), page_address)
                    .map(|(physical, _)| physical)
                    == Some(first_page + page * PAGE_SIZE)
                {
                    let _ = self.unmap(page_address, PAGE_SIZE);
                }
            }
            return Err(map_error(error));
        }
        cpu::publish_table_changes();
        Ok(range.start - first_page)
    }

    /// Writes `bytes` at user address `address`, ignoring the user's write
    /// permission: for the kernel filling in a new process's read-only
    /// pages (program text, the startup block). The pages must be mapped.
    pub fn fill(&self, address: u64, bytes: &[u8]) -> Result<(), Errno> {
        self.for_each_piece(address, bytes.len(), false, |target, piece, done| {
            // SAFETY: `target` is `piece` bytes of one of this process's
            // frames in the linear map; the source is inside `bytes`.
            unsafe { core::ptr::copy_nonoverlapping(bytes[done..].as_ptr(), target, piece) };
        })
    }

    /// Frees every page and table, and the ASID. Returns how many frames
    /// the address space held but did not give back (a leak: always 0
    /// unless the bookkeeping is wrong).
    pub fn destroy(self) -> usize {
        cpu::leave_user_tables_if(self.table_register());
        // No heap use in here: the heap takes the frame lock too.
        let freed = with_frames(|frames| {
            let mut tables = FrameTables { frames };
            let mut freed = 0;
            page_table::tear_down(&mut tables, self.root, &mut |tables, descriptor| {
                // Borrowed memory (device registers, the boot image) is
                // not ours: nothing to give back.
                if !descriptor.is_borrowed() {
                    tables.frames.free(descriptor.address());
                    freed += 1;
                }
            });
            freed
        });
        free_asid(self.asid);
        ALLOWANCES.fetch_sub(KERNEL_ALLOWANCE_FRAMES, Ordering::Relaxed);
        self.owned_frames.saturating_sub(freed)
    }
}

impl AddressSpace {
    /// The frames it owns now, pages and tables.
    pub fn owned_frames(&self) -> usize {
        self.owned_frames
    }
}

fn map_error(error: MapError) -> Errno {
    match error {
        MapError::AlreadyMapped => Errno::Exists,
        MapError::OutOfMemory => Errno::OutOfMemory,
        MapError::Misaligned => Errno::InvalidArgument,
    }
}
