//! Memory at boot, and the kernel's page tables afterwards.
//!
//! [`init`] replaces the early boot tables (big blocks, everything
//! executable) with the kernel's own: the image mapped section by section
//! with W^X, all RAM in the linear map, and a device window for registers.
//! The tables for that first map come from a small pool inside the kernel
//! image, because the frame allocator cannot exist before it: its bitmap is
//! reached through the linear map. Once the new tables are live, the frame
//! allocator takes over all RAM but the kernel image, the FDT, the initrd
//! and firmware reservations.
//!
//! # Invariants
//! - Every page-table page is reached through the linear map.
//! - `FRAMES` is `Some` from the end of `init` on.

use super::frame_allocator::{self, FrameAllocator};
use super::kernel_map::{KernelImage, linear_mapping};
use super::page_table::{self, Granularity, MapError, Table, TableMemory};
use crate::arch::cpu;
use crate::console;
use crate::mm::descriptor::Attributes;
use crate::sync::IrqMutex;
use boot::BootInfo;
use boot::boot_info::PhysicalRange;
use boot::layout::{
    DEVICE_WINDOW_BASE, DEVICE_WINDOW_SIZE, KERNEL_BASE, PAGE_SIZE, physical_to_virtual,
};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

unsafe extern "C" {
    // Placed by boot/kernel.ld; only their addresses are used.
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __bss_end: u8;
    static __boot_stack_bottom: u8;
    static __kernel_end: u8;
}

/// Table pages for the first map (image, linear map): 64 KiB, plenty for
/// the image and a few RAM banks, in bss so they cost nothing in the file.
const BOOTSTRAP_TABLE_COUNT: usize = 16;

/// Page-aligned table pages inside the kernel image.
#[repr(C, align(4096))]
struct TablePool<const COUNT: usize>(UnsafeCell<[Table; COUNT]>);
// SAFETY: used only by `init`, once, on the boot core.
unsafe impl<const COUNT: usize> Sync for TablePool<COUNT> {}

static BOOTSTRAP_TABLES: TablePool<BOOTSTRAP_TABLE_COUNT> =
    TablePool(UnsafeCell::new([[0; 512]; BOOTSTRAP_TABLE_COUNT]));
/// An all-invalid table, for the moment between the old TTBR1 and the new.
static EMPTY_TABLE: TablePool<1> = TablePool(UnsafeCell::new([[0; 512]; 1]));

static FRAMES: IrqMutex<Option<FrameAllocator<'static>>> = IrqMutex::new(None);
/// Physical address of the kernel's level-0 table (TTBR1).
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// The next free address in the device window.
static DEVICE_WINDOW_NEXT: IrqMutex<usize> = IrqMutex::new(DEVICE_WINDOW_BASE);

/// Why memory could not be set up.
#[derive(Debug)]
pub enum MemoryError {
    /// The bootstrap pool ran out, or a mapping collided.
    KernelMap(&'static str, MapError),
    /// No room anywhere in RAM for the frame bitmap.
    NoRoomForBitmap,
}

/// Why a device could not be mapped.
#[derive(Clone, Copy, Debug)]
pub enum DeviceMapError {
    /// The device window is full.
    WindowFull,
    Map(MapError),
}

/// What `init` did, for the boot log.
pub struct MemoryReport {
    pub image: KernelImage,
    pub bitmap: PhysicalRange,
}

/// The kernel image's layout, from the linker script's symbols.
pub fn kernel_image(physical_start: u64) -> KernelImage {
    // Only the symbols' addresses are taken, never their contents.
    KernelImage {
        start: &raw const __kernel_start as usize,
        text_end: &raw const __text_end as usize,
        rodata_end: &raw const __rodata_end as usize,
        bss_end: &raw const __bss_end as usize,
        stack_bottom: &raw const __boot_stack_bottom as usize,
        end: &raw const __kernel_end as usize,
        physical_start,
    }
}

/// Tables from the bootstrap pool, before the frame allocator exists.
struct BootstrapTables {
    kernel_physical: u64,
    used: usize,
}

impl TableMemory for BootstrapTables {
    fn table(&mut self, physical: u64) -> &mut Table {
        // SAFETY: every table page is reached through the linear map; the
        // early tables map the kernel's GiB there, and the pool is inside
        // the kernel image, so pool pages are reachable. Nothing else holds
        // a reference to a table while `init` runs.
        unsafe { &mut *(physical_to_virtual(physical) as *mut Table) }
    }

    fn allocate_table(&mut self) -> Option<u64> {
        if self.used == BOOTSTRAP_TABLE_COUNT {
            return None;
        }
        let pool = BOOTSTRAP_TABLES.0.get() as usize;
        let physical = self.kernel_physical + (pool - KERNEL_BASE + self.used * PAGE_SIZE) as u64;
        self.used += 1;
        Some(physical) // bss: already zero
    }
}

/// Tables from the frame allocator, once it exists: for the kernel's own
/// tables and for processes' address spaces.
pub struct FrameTables<'a, 'bitmap> {
    pub frames: &'a mut FrameAllocator<'bitmap>,
}

impl TableMemory for FrameTables<'_, '_> {
    fn table(&mut self, physical: u64) -> &mut Table {
        // SAFETY: table pages are frames of RAM, in the linear map, owned by
        // the kernel's tables; the caller holds the frame lock, so no one
        // else edits them.
        unsafe { &mut *(physical_to_virtual(physical) as *mut Table) }
    }

    fn allocate_table(&mut self) -> Option<u64> {
        let physical = self.frames.allocate()?;
        // SAFETY: a frame just allocated, in the linear map.
        unsafe { crate::arch::cpu::zero_frames(physical_to_virtual(physical), PAGE_SIZE) };
        Some(physical)
    }
}

/// Builds the kernel's page tables, switches to them, and starts the frame
/// allocator. The console is disconnected during the switch; the caller
/// maps the real UART with [`map_device`] afterwards.
pub fn init(
    info: &BootInfo,
    fdt_physical: u64,
    kernel_physical: u64,
) -> Result<MemoryReport, MemoryError> {
    let image = kernel_image(kernel_physical);
    // RAM the kernel can reach: the linear map ends at 512 GiB.
    let mut memory: heapless::Vec<PhysicalRange, { boot::boot_info::MAX_MEMORY_REGIONS }> =
        heapless::Vec::new();
    for mapping in info.memory.iter().filter_map(linear_mapping) {
        let _ = memory.push(PhysicalRange {
            start: mapping.physical,
            size: mapping.size as u64,
        });
    }

    // Where the frame bitmap goes, decided while the early console still
    // works, so a failure can be reported.
    let mut reserved: heapless::Vec<PhysicalRange, 24> = heapless::Vec::new();
    let fixed = [
        Some(image.physical_range()),
        PhysicalRange::new(fdt_physical, info.fdt_size as u64),
        info.initrd,
    ];
    for range in fixed
        .into_iter()
        .flatten()
        .chain(info.reserved.iter().copied())
    {
        let _ = reserved.push(range); // 3 + at most 16 reservations: always fits
    }
    let bytes = frame_allocator::bitmap_bytes(&memory);
    let bitmap = frame_allocator::find_free_range(&memory, &reserved, bytes)
        .ok_or(MemoryError::NoRoomForBitmap)?;
    let _ = reserved.push(bitmap);

    let mut tables = BootstrapTables {
        kernel_physical,
        used: 0,
    };
    let no_table = |what| move |error| MemoryError::KernelMap(what, error);
    let root = tables
        .allocate_table()
        .ok_or(MemoryError::KernelMap("root", MapError::OutOfMemory))?;
    let linear = info.memory.iter().filter_map(linear_mapping);
    for mapping in image.mappings().into_iter().chain(linear) {
        mapping
            .apply(&mut tables, root)
            .map_err(no_table(mapping.name))?;
    }

    let empty = kernel_physical + (EMPTY_TABLE.0.get() as usize - KERNEL_BASE) as u64;
    let trampoline =
        kernel_physical as usize + (cpu::replace_kernel_tables as *const () as usize - KERNEL_BASE);
    console::disconnect(); // the early UART mapping is about to go
    let interrupts = cpu::disable_interrupts();
    // SAFETY: `root` maps the image (with its stack) where it runs now and
    // all RAM in the linear map; `empty` is a zero page; the trampoline's
    // physical address is identity-mapped by the early tables.
    unsafe { cpu::switch_kernel_tables(root, empty, trampoline) };
    cpu::restore_interrupts(interrupts);
    KERNEL_ROOT.store(root, Ordering::Relaxed);

    // The frame allocator: all reachable RAM but what is spoken for.
    // SAFETY: the bitmap range is RAM in the linear map that nothing else
    // uses (it is reserved from the allocator itself), and lives forever.
    let words = unsafe {
        core::slice::from_raw_parts_mut(physical_to_virtual(bitmap.start) as *mut u64, bytes / 8)
    };
    *FRAMES.lock() = Some(FrameAllocator::new(&memory, &reserved, words));
    Ok(MemoryReport { image, bitmap })
}

/// Runs `action` with the frame allocator locked.
///
/// # Panics
/// Before `init` has started the allocator: that is a kernel bug.
pub fn with_frames<R>(action: impl FnOnce(&mut FrameAllocator<'static>) -> R) -> R {
    let mut frames = FRAMES.lock();
    action(
        frames
            .as_mut()
            .expect("frame allocator used before mm::init"),
    )
}

/// Physical address of the kernel's level-0 table (TTBR1's).
pub(super) fn kernel_root() -> u64 {
    KERNEL_ROOT.load(Ordering::Relaxed)
}

/// Free frames right now.
pub fn free_frames() -> usize {
    with_frames(|frames| frames.free_frames())
}

/// Maps a device's register block into the device window (kernel only,
/// Device-nGnRE, never executable) and returns the address of its first
/// register.
pub fn map_device(registers: PhysicalRange) -> Result<usize, DeviceMapError> {
    let page = PAGE_SIZE as u64;
    let first_page = registers.start / page * page;
    let size = (registers.end().div_ceil(page) * page - first_page) as usize;
    let mut next = DEVICE_WINDOW_NEXT.lock();
    if *next + size > DEVICE_WINDOW_BASE + DEVICE_WINDOW_SIZE {
        return Err(DeviceMapError::WindowFull);
    }
    let virtual_address = *next;
    // The window space is used up even if mapping fails part-way, so a
    // later mapping never runs into the half-written entries.
    *next += size;
    drop(next);
    with_frames(|frames| {
        let mut tables = FrameTables { frames };
        let root = KERNEL_ROOT.load(Ordering::Relaxed);
        page_table::map(
            &mut tables,
            root,
            virtual_address,
            first_page,
            size,
            Attributes::KERNEL_DEVICE,
            Granularity::PagesOnly,
        )
    })
    .map_err(DeviceMapError::Map)?;
    // Make the new entries visible to the table walker before first use.
    cpu::publish_table_changes();
    Ok(virtual_address + (registers.start - first_page) as usize)
}

/// Walks the kernel's live tables, as the MMU would (for tests and reports).
pub fn translate(virtual_address: usize) -> Option<page_table::Translation> {
    with_frames(|frames| {
        let mut tables = FrameTables { frames };
        page_table::translate(
            &mut tables,
            KERNEL_ROOT.load(Ordering::Relaxed),
            virtual_address,
        )
    })
}

/// The physical address of an all-invalid level-0 table: TTBR0's value
/// while no process runs.
pub fn empty_table_physical() -> u64 {
    crate::kernel_physical_range().start + (EMPTY_TABLE.0.get() as usize - KERNEL_BASE) as u64
}
