//! The machine, as the device tree describes it, in one plain struct.
//!
//! QEMU hands the kernel a flattened device tree (FDT) in `x0`. [`parse`]
//! reads the few things Annulus needs out of it with the `fdt` crate and
//! copies them into a [`BootInfo`]; after that the FDT is never looked at
//! again. Every address the kernel uses for RAM and devices comes from here:
//! nothing about the machine is hard-coded (the earliest UART print in
//! `entry` is the one exception).
//!
//! # How it reads the tree
//!
//! 1. Check the whole blob against the FDT format (Devicetree Specification
//!    v0.4, chapter 5) before the `fdt` crate sees it. `fdt` 0.1.5 trusts
//!    its input: it slices with offsets from the blob, `unwrap`s and
//!    `assert`s, so a truncated or corrupted tree makes it panic. Once the
//!    check passes, every walk `fdt` makes stays inside the blob.
//! 2. Walk the tree from the root with [`FdtNode::children`], carrying the
//!    chain of ancestors. A `reg` is decoded with its parent's
//!    `#address-cells` and `#size-cells`, then translated through the
//!    `ranges` of every bus above it into a CPU physical address.
//! 3. Decode interrupts last, once the walk has found the GIC, since the
//!    tree may list devices before it.
//!
//! Property values are read as raw bytes and decoded here; `fdt`'s typed
//! helpers (`reg`, `interrupts`, `cell_sizes`, `chosen`, `find_node`) either
//! panic on bad values or guess cell sizes, so they are not used.
//!
//! Nodes whose `status` is neither `"okay"` nor `"ok"` are skipped with
//! everything below them, as Linux does: QEMU's `secure=on` tree lists a
//! secure-only UART and secure RAM that way. CPUs are the exception, see
//! [`BootInfo::cpu_count`].
//!
//! # Invariants
//! - `parse` never panics, whatever bytes it is given: a broken or
//!   unexpected tree is a [`BootInfoError`].
//! - Every range in a `BootInfo` has a non-zero size and does not wrap.
//! - Interrupt numbers are GIC interrupt IDs (INTIDs): SPI `n` is `32 + n`,
//!   PPI `n` is `16 + n`, so they can be given to the GIC driver unchanged.

use core::fmt;

use fdt::Fdt;
use fdt::node::FdtNode;

/// How many RAM banks we keep. QEMU `virt` has one.
pub const MAX_MEMORY_REGIONS: usize = 8;
/// How many reserved ranges we keep, from both the memory reservation block
/// and `/reserved-memory`.
pub const MAX_RESERVED_REGIONS: usize = 16;
/// How many virtio-mmio slots we keep. QEMU `virt` has 32.
pub const MAX_VIRTIO_SLOTS: usize = 32;
/// The longest kernel command line (`/chosen/bootargs`) we keep.
pub const MAX_BOOTARGS: usize = 256;

/// A range of physical addresses, `start .. start + size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysicalRange {
    /// The first address in the range.
    pub start: u64,
    /// The number of bytes in the range; never zero.
    pub size: u64,
}

impl PhysicalRange {
    /// A range, or `None` when it is empty or runs past the end of the
    /// address space.
    pub fn new(start: u64, size: u64) -> Option<PhysicalRange> {
        if size == 0 || start.checked_add(size).is_none() {
            return None;
        }
        Some(PhysicalRange { start, size })
    }

    /// The first address past the range.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    /// Whether `address` lies inside the range.
    pub fn contains(&self, address: u64) -> bool {
        address >= self.start && address < self.end()
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &PhysicalRange) -> bool {
        self.start < other.end() && other.start < self.end()
    }
}

impl fmt::Display for PhysicalRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:#010x}..{:#010x}", self.start, self.end())
    }
}

/// How a GIC interrupt is triggered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Pending for as long as the device holds the line.
    Level,
    /// Pending once per rising edge of the line.
    Edge,
}

/// One interrupt line, as a GIC interrupt ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    /// The GIC interrupt ID (INTID).
    pub id: u32,
    /// How the GIC must be configured for this line.
    pub trigger: Trigger,
}

/// A memory-mapped device: its register block and its interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device's first register block (`reg[0]`).
    pub registers: PhysicalRange,
    /// The device's first interrupt (`interrupts[0]`).
    pub interrupt: Interrupt,
}

/// The interrupt controller, with the register blocks its driver needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptController {
    /// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`): distributor and a
    /// memory-mapped CPU interface.
    GicV2 {
        /// GICD, `reg[0]`.
        distributor: PhysicalRange,
        /// GICC, `reg[1]`.
        cpu_interface: PhysicalRange,
    },
    /// GICv3 (`arm,gic-v3`): distributor and the redistributor region; the
    /// CPU interface is reached through system registers.
    GicV3 {
        /// GICD, `reg[0]`.
        distributor: PhysicalRange,
        /// The first GICR region, `reg[1]`: every CPU's redistributor on
        /// QEMU `virt` unless it has more CPUs than one region holds.
        redistributors: PhysicalRange,
    },
}

impl InterruptController {
    /// 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            InterruptController::GicV2 { .. } => 2,
            InterruptController::GicV3 { .. } => 3,
        }
    }
}

/// The architected generic timer's interrupts (`arm,armv8-timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// EL1 physical timer (CNTP), the tree's second entry.
    pub physical: Interrupt,
    /// EL1 virtual timer (CNTV), the tree's third entry. Annulus uses this one.
    pub virtual_timer: Interrupt,
}

/// How to call PSCI firmware: the instruction named by `/psci/method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `method = "hvc"`: firmware (or QEMU) answers at EL2.
    Hvc,
    /// `method = "smc"`: firmware answers at EL3; QEMU picks this when it
    /// gives the guest EL2 (`virtualization=on`).
    Smc,
}

/// Everything the kernel learns from the device tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// RAM banks (`device_type = "memory"` nodes), in the tree's order.
    pub memory: heapless::Vec<PhysicalRange, MAX_MEMORY_REGIONS>,
    /// RAM that is not ours to use: the FDT header's memory reservation
    /// block and the children of `/reserved-memory`.
    pub reserved: heapless::Vec<PhysicalRange, MAX_RESERVED_REGIONS>,
    /// The console UART: the PL011 named by `/chosen/stdout-path`, else the
    /// first `arm,pl011` node.
    pub console: Option<Device>,
    /// The first GICv2 or GICv3 in the tree; every interrupt here is one of
    /// its INTIDs.
    pub interrupt_controller: InterruptController,
    /// The generic timer's interrupts.
    pub timer: Timer,
    /// The initial RAM disk (`/chosen/linux,initrd-start` and `-end`).
    pub initrd: Option<PhysicalRange>,
    /// `virtio,mmio` transport slots, in the tree's order.
    pub virtio_mmio: heapless::Vec<Device, MAX_VIRTIO_SLOTS>,
    /// `None` when the tree has no `/psci` node.
    pub psci: Option<PsciMethod>,
    /// Nodes under `/cpus` with `device_type = "cpu"`, whatever their
    /// `status`: a disabled CPU is parked until PSCI `CPU_ON`, not absent.
    pub cpu_count: usize,
    /// The kernel command line (`/chosen/bootargs`), empty when absent and
    /// cut at a character boundary when longer than [`MAX_BOOTARGS`].
    pub bootargs: heapless::String<MAX_BOOTARGS>,
    /// The FDT's own size in bytes (`totalsize` in its header).
    pub fdt_size: usize,
}

/// Why a device tree could not be turned into a [`BootInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The `fdt` crate refused the blob (bad magic, truncated, ...).
    InvalidTree,
    /// No usable `device_type = "memory"` node.
    NoMemory,
    /// No GICv2 or GICv3 node, or one without the register blocks we need.
    NoInterruptController,
    /// No `arm,armv8-timer` node, or its `interrupts` are malformed.
    NoTimer,
    /// More regions of this kind than the fixed-size tables hold.
    TooMany(&'static str),
    /// A property whose value has the wrong length or an impossible value.
    Malformed(&'static str),
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootInfoError::InvalidTree => write!(formatter, "not a valid flattened device tree"),
            BootInfoError::NoMemory => write!(formatter, "the device tree names no RAM"),
            BootInfoError::NoInterruptController => {
                write!(formatter, "the device tree names no GICv2 or GICv3")
            }
            BootInfoError::NoTimer => write!(formatter, "the device tree names no generic timer"),
            BootInfoError::TooMany(what) => write!(formatter, "too many {what} in the device tree"),
            BootInfoError::Malformed(what) => {
                write!(formatter, "malformed device tree property {what}")
            }
        }
    }
}

/// Reads a [`BootInfo`] out of the flattened device tree in `blob`.
///
/// `blob` may be longer than the tree; the tree's own `totalsize` decides.
pub fn parse(blob: &[u8]) -> Result<BootInfo, BootInfoError> {
    let header = Header::read(blob)?;
    let tree = blob
        .get(..header.total_size)
        .ok_or(BootInfoError::InvalidTree)?;
    let structure = tree.get(header.structure.clone());
    let strings = tree.get(header.strings.clone());
    check_structure(
        structure.ok_or(BootInfoError::InvalidTree)?,
        strings.ok_or(BootInfoError::InvalidTree)?,
    )?;
    let fdt = Fdt::new(tree).map_err(|_| BootInfoError::InvalidTree)?;
    // The check above made sure the structure block starts with the root.
    let root = fdt.all_nodes().next().ok_or(BootInfoError::InvalidTree)?;

    let mut findings = Findings::default();
    read_memory_reservations(tree, header.reservations, &mut findings.reserved)?;
    let chosen = child(root, "chosen");
    let stdout = stdout_path(root, chosen).and_then(|path| path.strip_prefix('/'));
    visit(root, None, stdout, &mut findings)?;

    if findings.memory.is_empty() {
        return Err(BootInfoError::NoMemory);
    }
    let gic = findings.gic.ok_or(BootInfoError::NoInterruptController)?;
    let timer = findings.timer.ok_or(BootInfoError::NoTimer)?;
    let timer = Timer {
        physical: timer.decode(&gic, 1).map_err(|_| BootInfoError::NoTimer)?,
        virtual_timer: timer.decode(&gic, 2).map_err(|_| BootInfoError::NoTimer)?,
    };
    let console = match findings.stdout_uart.or(findings.first_uart) {
        Some(uart) => Some(uart.decode(&gic)?),
        None => None,
    };
    let mut virtio_mmio = heapless::Vec::new();
    for slot in &findings.virtio_mmio {
        virtio_mmio
            .push(slot.decode(&gic)?)
            .map_err(|_| BootInfoError::TooMany("virtio-mmio slots"))?;
    }

    Ok(BootInfo {
        memory: findings.memory,
        reserved: findings.reserved,
        console,
        interrupt_controller: gic.controller,
        timer,
        initrd: initrd(chosen)?,
        virtio_mmio,
        psci: findings.psci,
        cpu_count: findings.cpu_count,
        bootargs: bootargs(chosen)?,
        fdt_size: header.total_size,
    })
}

// ---------------------------------------------------------------------------
// Checking the blob before `fdt` reads it.

/// `magic` of every FDT (section 5.2).
const FDT_MAGIC: u32 = 0xd00d_feed;
/// The oldest format with `size_dt_struct`, which `fdt` relies on.
const OLDEST_VERSION: u32 = 17;
/// Structure block tokens (section 5.4.1).
const FDT_BEGIN_NODE: u32 = 0x1;
const FDT_END_NODE: u32 = 0x2;
const FDT_PROP: u32 = 0x3;
const FDT_END: u32 = 0x9;
/// How deeply nodes may nest. `fdt` recurses once per level (and keeps at
/// most 64 levels in a fixed array), and so does [`visit`]; real trees stay
/// below 10.
const MAX_DEPTH: usize = 16;
/// One memory reservation: a 64-bit address and a 64-bit size.
const RESERVATION_SIZE: usize = 16;

/// The parts of the FDT header that say where everything is, checked to lie
/// inside the tree.
struct Header {
    /// `totalsize`: the tree's length, at most the blob's.
    total_size: usize,
    /// `off_dt_struct .. + size_dt_struct`.
    structure: core::ops::Range<usize>,
    /// `off_dt_strings .. + size_dt_strings`.
    strings: core::ops::Range<usize>,
    /// `off_mem_rsvmap`.
    reservations: usize,
}

impl Header {
    /// Reads and checks the 40-byte header at the start of `blob`.
    fn read(blob: &[u8]) -> Result<Header, BootInfoError> {
        // Header fields are big-endian u32s, in this order (section 5.2).
        let field = |index: usize| {
            read_u32(blob, index * 4)
                .map(|value| value as usize)
                .ok_or(BootInfoError::InvalidTree)
        };
        let [
            magic,
            total_size,
            structure,
            strings,
            reservations,
            version,
            last_compatible,
        ] = [0, 1, 2, 3, 4, 5, 6].map(field);
        let [strings_size, structure_size] = [8, 9].map(field);
        let total_size = total_size?;
        if magic? != FDT_MAGIC as usize
            || version? < OLDEST_VERSION as usize
            || last_compatible? > OLDEST_VERSION as usize
            || total_size > blob.len()
        {
            return Err(BootInfoError::InvalidTree);
        }
        let block = |offset: usize, size: usize| {
            let end = offset.checked_add(size).filter(|end| *end <= total_size);
            end.map(|end| offset..end).ok_or(BootInfoError::InvalidTree)
        };
        Ok(Header {
            total_size,
            structure: block(structure?, structure_size?)?,
            strings: block(strings?, strings_size?)?,
            reservations: block(reservations?, RESERVATION_SIZE)?.start,
        })
    }
}

/// Checks that `structure` is one well-formed root node followed by
/// `FDT_END`, in the strict shape `fdt` can walk without panicking: every
/// name NUL-terminated UTF-8, every property inside the block with its name
/// inside `strings`, properties before child nodes, at most [`MAX_DEPTH`]
/// levels.
///
/// `FDT_NOP` is refused although the format allows it: `fdt` 0.1.5 skips it
/// in some places and not others, and panics when it steps over a node with
/// a NOP between two of its children or properties. Neither QEMU nor dtc
/// writes one. FIXME: accept NOPs once `fdt` is replaced or fixed.
fn check_structure(structure: &[u8], strings: &[u8]) -> Result<(), BootInfoError> {
    let mut cursor = Cursor {
        bytes: structure,
        offset: 0,
    };
    let mut depth = 0;
    let mut seen_root = false;
    // Properties must come before the first child node.
    let mut properties_allowed = false;
    loop {
        match cursor.token()? {
            FDT_BEGIN_NODE => {
                let name = cursor.name()?;
                if depth == 0 && (seen_root || !name.is_empty()) {
                    return Err(BootInfoError::InvalidTree);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(BootInfoError::InvalidTree);
                }
                seen_root = true;
                properties_allowed = true;
            }
            FDT_END_NODE if depth > 0 => {
                depth -= 1;
                properties_allowed = false;
            }
            FDT_PROP if properties_allowed => {
                let length = cursor.token()? as usize;
                let name_offset = cursor.token()? as usize;
                strings
                    .get(name_offset..)
                    .and_then(c_string)
                    .ok_or(BootInfoError::InvalidTree)?;
                cursor.skip(length)?;
            }
            FDT_END if depth == 0 && seen_root => return Ok(()),
            _ => return Err(BootInfoError::InvalidTree),
        }
    }
}

/// A read position in the structure block. Everything after a token is
/// padded to 4 bytes from the block's start, as `fdt` expects.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    /// The next big-endian `u32`.
    fn token(&mut self) -> Result<u32, BootInfoError> {
        let value = read_u32(self.bytes, self.offset).ok_or(BootInfoError::InvalidTree)?;
        self.skip(4)?;
        Ok(value)
    }

    /// A node's NUL-terminated name, and its padding.
    fn name(&mut self) -> Result<&'a str, BootInfoError> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let name = c_string(rest).ok_or(BootInfoError::InvalidTree)?;
        self.skip(name.len() + 1)?;
        Ok(name)
    }

    /// Moves past `length` bytes and the padding after them, which must all
    /// lie inside the block.
    fn skip(&mut self, length: usize) -> Result<(), BootInfoError> {
        self.offset = self
            .offset
            .checked_add(length)
            .and_then(|end| end.checked_next_multiple_of(4))
            .filter(|end| *end <= self.bytes.len())
            .ok_or(BootInfoError::InvalidTree)?;
        Ok(())
    }
}

/// Adds the memory reservation block's entries to `reserved`. The block is a
/// list of (address, size) pairs ending with (0, 0), all inside `tree`.
fn read_memory_reservations(
    tree: &[u8],
    mut offset: usize,
    reserved: &mut heapless::Vec<PhysicalRange, MAX_RESERVED_REGIONS>,
) -> Result<(), BootInfoError> {
    loop {
        let address = read_u64(tree, offset).ok_or(BootInfoError::InvalidTree)?;
        let size = offset
            .checked_add(8)
            .and_then(|at| read_u64(tree, at))
            .ok_or(BootInfoError::InvalidTree)?;
        if address == 0 && size == 0 {
            return Ok(());
        }
        push_ram(reserved, address, size, "/memreserve/", "reserved regions")?;
        offset = offset
            .checked_add(RESERVATION_SIZE)
            .ok_or(BootInfoError::InvalidTree)?;
    }
}

// ---------------------------------------------------------------------------
// Walking the tree.

/// The properties `parse` looks at, gathered in one pass over a node: each
/// lookup through `fdt` walks the node's whole property list. The first of
/// two properties with the same name wins, as with [`FdtNode::property`].
#[derive(Clone, Copy, Default)]
struct Properties<'a> {
    compatible: Option<&'a [u8]>,
    device_type: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    reg: Option<&'a [u8]>,
    ranges: Option<&'a [u8]>,
    address_cells: Option<&'a [u8]>,
    size_cells: Option<&'a [u8]>,
    interrupts: Option<&'a [u8]>,
    interrupt_parent: Option<&'a [u8]>,
    interrupt_cells: Option<&'a [u8]>,
    phandle: Option<&'a [u8]>,
    method: Option<&'a [u8]>,
}

impl<'a> Properties<'a> {
    fn of(node: FdtNode<'_, 'a>) -> Properties<'a> {
        let mut found = Properties::default();
        for property in node.properties() {
            let slot = match property.name {
                "compatible" => &mut found.compatible,
                "device_type" => &mut found.device_type,
                "status" => &mut found.status,
                "reg" => &mut found.reg,
                "ranges" => &mut found.ranges,
                "#address-cells" => &mut found.address_cells,
                "#size-cells" => &mut found.size_cells,
                "interrupts" => &mut found.interrupts,
                "interrupt-parent" => &mut found.interrupt_parent,
                "#interrupt-cells" => &mut found.interrupt_cells,
                "phandle" | "linux,phandle" => &mut found.phandle,
                "method" => &mut found.method,
                _ => continue,
            };
            slot.get_or_insert(property.value);
        }
        found
    }

    /// Whether `status` lets us use the node: absent, `"okay"` or `"ok"`.
    fn is_available(&self) -> bool {
        self.status
            .is_none_or(|value| matches!(first_string(value), Some("okay" | "ok")))
    }

    /// Whether one of the `compatible` strings passes `wanted`.
    fn is_compatible(&self, wanted: impl Fn(&str) -> bool) -> bool {
        let list = self.compatible.unwrap_or_default();
        list.split(|byte| *byte == 0)
            .filter_map(|name| core::str::from_utf8(name).ok())
            .any(wanted)
    }

    /// `#address-cells` and `#size-cells`: the cell sizes of the children's
    /// `reg`. Absent means 2 and 1 (section 2.3.5). Only 1 or 2 cells fit a
    /// `u64`.
    fn cell_sizes(&self) -> Result<(usize, usize), BootInfoError> {
        let read = |value: Option<&[u8]>, name: &'static str, default: u32| {
            let cells = match value {
                Some(value) => single_cell(value).ok_or(BootInfoError::Malformed(name))?,
                None => default,
            };
            match cells {
                1 | 2 => Ok(cells as usize),
                _ => Err(BootInfoError::Malformed(name)),
            }
        };
        Ok((
            read(self.address_cells, "#address-cells", 2)?,
            read(self.size_cells, "#size-cells", 1)?,
        ))
    }
}

/// A node and the chain of nodes above it, nearest first. It lives on the
/// stack of [`visit`], so the walk needs no allocation.
struct Ancestry<'p, 'a> {
    name: &'a str,
    properties: Properties<'a>,
    /// `None` for the root.
    parent: Option<&'p Ancestry<'p, 'a>>,
}

impl<'p, 'a> Ancestry<'p, 'a> {
    /// This node and those above it, nearest first.
    fn chain(&'p self) -> impl Iterator<Item = &'p Ancestry<'p, 'a>> {
        core::iter::successors(Some(self), |ancestry| ancestry.parent)
    }

    /// Whether this node sits right below the root.
    fn is_top_level(&self) -> bool {
        self.parent.is_some_and(|parent| parent.parent.is_none())
    }
}

/// What the walk collects. Interrupts stay undecoded until the walk is over,
/// because the GIC that gives them meaning may come later in the tree.
#[derive(Default)]
struct Findings<'a> {
    memory: heapless::Vec<PhysicalRange, MAX_MEMORY_REGIONS>,
    reserved: heapless::Vec<PhysicalRange, MAX_RESERVED_REGIONS>,
    /// The PL011 that `/chosen/stdout-path` names.
    stdout_uart: Option<UndecodedDevice<'a>>,
    /// The first PL011 in the tree.
    first_uart: Option<UndecodedDevice<'a>>,
    gic: Option<Gic>,
    timer: Option<Interrupts<'a>>,
    virtio_mmio: heapless::Vec<UndecodedDevice<'a>, MAX_VIRTIO_SLOTS>,
    psci: Option<PsciMethod>,
    cpu_count: usize,
}

/// The interrupt controller, with what decoding an `interrupts` needs.
struct Gic {
    controller: InterruptController,
    /// Its `phandle`, which devices name in `interrupt-parent`.
    phandle: Option<u32>,
    /// Its `#interrupt-cells`: 3, or 4 on a GICv3 with PPI partitions.
    interrupt_cells: usize,
}

/// A device whose interrupt is not decoded yet.
#[derive(Clone, Copy)]
struct UndecodedDevice<'a> {
    registers: PhysicalRange,
    interrupts: Interrupts<'a>,
}

impl UndecodedDevice<'_> {
    fn decode(&self, gic: &Gic) -> Result<Device, BootInfoError> {
        let interrupt = self.interrupts.decode(gic, 0)?;
        Ok(Device {
            registers: self.registers,
            interrupt,
        })
    }
}

/// A node's raw `interrupts` value and the controller they go to.
#[derive(Clone, Copy)]
struct Interrupts<'a> {
    cells: &'a [u8],
    /// The phandle of the node's interrupt parent.
    parent: Option<u32>,
}

impl<'a> Interrupts<'a> {
    /// Reads a node's `interrupts` and finds its interrupt parent: its own
    /// `interrupt-parent`, else the nearest ancestor's (section 2.4.1).
    fn of(node: &Ancestry<'_, 'a>) -> Result<Interrupts<'a>, BootInfoError> {
        let cells = node
            .properties
            .interrupts
            .ok_or(BootInfoError::Malformed("interrupts"))?;
        let parent = match node
            .chain()
            .find_map(|holder| holder.properties.interrupt_parent)
        {
            Some(value) => {
                Some(single_cell(value).ok_or(BootInfoError::Malformed("interrupt-parent"))?)
            }
            None => None,
        };
        Ok(Interrupts { cells, parent })
    }

    /// Entry `index` as a GIC INTID. Each entry is (type, number, flags)
    /// under both GIC bindings: type 0 is an SPI, 1 a PPI; the low four bits
    /// of the flags are the Linux `IRQ_TYPE_*` trigger.
    fn decode(&self, gic: &Gic, index: usize) -> Result<Interrupt, BootInfoError> {
        if self.parent.is_none() || self.parent != gic.phandle {
            // Wired to some other controller: its numbers are not INTIDs.
            return Err(BootInfoError::Malformed("interrupt-parent"));
        }
        let malformed = BootInfoError::Malformed("interrupts");
        let entry_size = gic.interrupt_cells * 4;
        if !self.cells.len().is_multiple_of(entry_size) {
            return Err(malformed);
        }
        let entry = self
            .cells
            .chunks_exact(entry_size)
            .nth(index)
            .ok_or(malformed)?;
        let cell = |at: usize| read_u32(entry, at * 4).ok_or(malformed);
        let (kind, number, flags) = (cell(0)?, cell(1)?, cell(2)?);
        let id = match kind {
            // SPIs are INTIDs 32..=1019, PPIs 16..=31.
            0 if number < 988 => 32 + number,
            1 if number < 16 => 16 + number,
            _ => return Err(malformed),
        };
        let trigger = match flags & 0xf {
            // 0 (`IRQ_TYPE_NONE`) keeps the GIC's reset setting, level.
            0 | 4 | 8 => Trigger::Level,
            1 | 2 => Trigger::Edge,
            _ => return Err(malformed),
        };
        Ok(Interrupt { id, trigger })
    }
}

/// Visits `node` and everything below it, depth first, in tree order.
///
/// `parent` is `None` for the root. `stdout` is what is left of the
/// `stdout-path` once the path down to `node` is matched: `Some("")` when
/// `node` is the console, `None` when it is off that path.
fn visit<'a>(
    node: FdtNode<'_, 'a>,
    parent: Option<&Ancestry<'_, 'a>>,
    stdout: Option<&str>,
    findings: &mut Findings<'a>,
) -> Result<(), BootInfoError> {
    let here = Ancestry {
        name: node.name,
        properties: Properties::of(node),
        parent,
    };
    let under_cpus =
        parent.is_some_and(|parent| parent.is_top_level() && base_name(parent.name) == "cpus");
    let device_type = here.properties.device_type.and_then(first_string);
    if under_cpus && device_type == Some("cpu") {
        findings.cpu_count += 1;
    }
    if !here.properties.is_available() {
        return Ok(());
    }
    if parent.is_some() {
        find_in(&here, device_type, stdout == Some(""), findings)?;
    }
    for child in node.children() {
        let child_stdout = stdout.and_then(|path| path_below(path, child.name));
        visit(child, Some(&here), child_stdout, findings)?;
    }
    Ok(())
}

/// Records `node` (not the root) in `findings` if it is one of the things
/// [`BootInfo`] holds.
fn find_in<'a>(
    node: &Ancestry<'_, 'a>,
    device_type: Option<&str>,
    is_console: bool,
    findings: &mut Findings<'a>,
) -> Result<(), BootInfoError> {
    let properties = &node.properties;
    let in_reserved_memory = node
        .parent
        .is_some_and(|parent| parent.is_top_level() && base_name(parent.name) == "reserved-memory");

    if device_type == Some("memory") {
        for block in RegisterBlocks::of(node)? {
            let (start, size) = block?;
            push_ram(&mut findings.memory, start, size, "reg", "memory regions")?;
        }
    }
    if in_reserved_memory {
        // Children without `reg` only ask for space somewhere: nothing to do.
        for block in RegisterBlocks::of(node)? {
            let (start, size) = block?;
            push_ram(
                &mut findings.reserved,
                start,
                size,
                "reg",
                "reserved regions",
            )?;
        }
    }
    if properties.is_compatible(|name| name == "arm,pl011") {
        let uart = undecoded_device(node)?;
        if is_console && findings.stdout_uart.is_none() {
            findings.stdout_uart = Some(uart);
        }
        findings.first_uart.get_or_insert(uart);
    }
    if properties.is_compatible(|name| name == "virtio,mmio") {
        let slot = undecoded_device(node)?;
        findings
            .virtio_mmio
            .push(slot)
            .map_err(|_| BootInfoError::TooMany("virtio-mmio slots"))?;
    }
    if findings.gic.is_none() {
        findings.gic = gic(node)?;
    }
    if findings.timer.is_none() && properties.is_compatible(|name| name == "arm,armv8-timer") {
        findings.timer = Some(Interrupts::of(node).map_err(|_| BootInfoError::NoTimer)?);
    }
    let is_psci = (node.is_top_level() && base_name(node.name) == "psci")
        || properties.is_compatible(|name| name.starts_with("arm,psci"));
    if findings.psci.is_none() && is_psci {
        findings.psci = Some(match properties.method.and_then(first_string) {
            Some("hvc") => PsciMethod::Hvc,
            Some("smc") => PsciMethod::Smc,
            _ => return Err(BootInfoError::Malformed("method")),
        });
    }
    Ok(())
}

/// `node` as a GIC, if it is one of the two kinds we drive.
fn gic(node: &Ancestry<'_, '_>) -> Result<Option<Gic>, BootInfoError> {
    let properties = &node.properties;
    let version = if properties.is_compatible(|name| name == "arm,gic-v3") {
        3
    } else if properties.is_compatible(|name| {
        matches!(
            name,
            "arm,cortex-a15-gic" | "arm,gic-400" | "arm,cortex-a9-gic"
        )
    }) {
        2
    } else {
        return Ok(None);
    };
    let mut blocks = RegisterBlocks::of(node)?;
    let mut next_block = || match blocks.next() {
        Some(block) => device_range(block?),
        None => Err(BootInfoError::NoInterruptController),
    };
    let (first, second) = (next_block()?, next_block()?);
    let controller = match version {
        3 => InterruptController::GicV3 {
            distributor: first,
            redistributors: second,
        },
        _ => InterruptController::GicV2 {
            distributor: first,
            cpu_interface: second,
        },
    };
    let phandle = match properties.phandle {
        Some(value) => Some(single_cell(value).ok_or(BootInfoError::Malformed("phandle"))?),
        None => None,
    };
    let interrupt_cells = properties
        .interrupt_cells
        .and_then(single_cell)
        .filter(|cells| matches!(cells, 3 | 4))
        .ok_or(BootInfoError::Malformed("#interrupt-cells"))?;
    Ok(Some(Gic {
        controller,
        phandle,
        interrupt_cells: interrupt_cells as usize,
    }))
}

/// A device's first register block and its still undecoded interrupts.
fn undecoded_device<'a>(node: &Ancestry<'_, 'a>) -> Result<UndecodedDevice<'a>, BootInfoError> {
    let block = RegisterBlocks::of(node)?
        .next()
        .ok_or(BootInfoError::Malformed("reg"))??;
    Ok(UndecodedDevice {
        registers: device_range(block)?,
        interrupts: Interrupts::of(node)?,
    })
}

/// The entries of a node's `reg` as (CPU physical address, size) pairs;
/// none when it has no `reg`.
struct RegisterBlocks<'p, 'a> {
    entries: core::slice::ChunksExact<'a, u8>,
    address_cells: usize,
    /// The node's parent: its children's addresses are on the bus it forms.
    bus: &'p Ancestry<'p, 'a>,
}

impl<'p, 'a> RegisterBlocks<'p, 'a> {
    /// The `reg` of `node` (not the root), whose entries take the cell sizes
    /// of its parent.
    fn of(node: &Ancestry<'p, 'a>) -> Result<RegisterBlocks<'p, 'a>, BootInfoError> {
        let malformed = BootInfoError::Malformed("reg");
        let bus = node.parent.ok_or(malformed)?;
        let value = node.properties.reg.unwrap_or_default();
        let (address_cells, size_cells) = bus.properties.cell_sizes()?;
        let entry_size = (address_cells + size_cells) * 4;
        if !value.len().is_multiple_of(entry_size) {
            return Err(malformed);
        }
        Ok(RegisterBlocks {
            entries: value.chunks_exact(entry_size),
            address_cells,
            bus,
        })
    }
}

impl Iterator for RegisterBlocks<'_, '_> {
    type Item = Result<(u64, u64), BootInfoError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.entries.next()?;
        let (address, size) = entry.split_at_checked(self.address_cells * 4).unzip();
        Some(
            match (address.and_then(read_cells), size.and_then(read_cells)) {
                (Some(address), Some(size)) => {
                    translate(self.bus, address, size).map(|start| (start, size))
                }
                _ => Err(BootInfoError::Malformed("reg")),
            },
        )
    }
}

/// Turns `address .. + size` on the bus of `bus`'s children into a CPU
/// physical address, through the `ranges` of `bus` and each bus above it
/// (section 2.3.8). The root's children are on the CPU's own bus.
fn translate(bus: &Ancestry<'_, '_>, address: u64, size: u64) -> Result<u64, BootInfoError> {
    let malformed = BootInfoError::Malformed("ranges");
    let Some(above) = bus.parent else {
        return Ok(address);
    };
    // No `ranges` means the bus is not memory-mapped (an I2C bus, say).
    let ranges = bus.properties.ranges.ok_or(malformed)?;
    if ranges.is_empty() {
        return translate(above, address, size);
    }
    // Each entry: child address, parent address, length.
    let (child_cells, length_cells) = bus.properties.cell_sizes()?;
    let (parent_cells, _) = above.properties.cell_sizes()?;
    let entry_size = (child_cells + parent_cells + length_cells) * 4;
    if !ranges.len().is_multiple_of(entry_size) {
        return Err(malformed);
    }
    for entry in ranges.chunks_exact(entry_size) {
        let (child, rest) = entry.split_at_checked(child_cells * 4).ok_or(malformed)?;
        let (parent, length) = rest.split_at_checked(parent_cells * 4).ok_or(malformed)?;
        let (child, parent, length) = (read_cells(child), read_cells(parent), read_cells(length));
        let (Some(child), Some(parent), Some(length)) = (child, parent, length) else {
            return Err(malformed);
        };
        let Some(offset) = address.checked_sub(child) else {
            continue;
        };
        if offset.checked_add(size).is_some_and(|end| end <= length) {
            return translate(above, parent.checked_add(offset).ok_or(malformed)?, size);
        }
    }
    Err(malformed)
}

// ---------------------------------------------------------------------------
// `/chosen`.

/// The path of the console, from `/chosen/stdout-path` without its
/// `:options`; an alias there is looked up in `/aliases`. `None` when
/// absent or unreadable: the first PL011 will do.
fn stdout_path<'a>(root: FdtNode<'_, 'a>, chosen: Option<FdtNode<'_, 'a>>) -> Option<&'a str> {
    let chosen = chosen?;
    let value = bytes(chosen, "stdout-path").or_else(|| bytes(chosen, "linux,stdout-path"))?;
    let path = first_string(value)?;
    let path = path.split_once(':').map_or(path, |(path, _options)| path);
    if path.starts_with('/') {
        return Some(path);
    }
    // One level only: an alias naming another alias is not followed.
    let target = bytes(child(root, "aliases")?, path).and_then(first_string)?;
    target.starts_with('/').then_some(target)
}

/// What is left of `path` (relative, no leading `/`) below the child named
/// `name`, or `None` when the child is not on it. A path component without
/// `@` matches a node name with any unit address, as libfdt allows.
fn path_below<'s>(path: &'s str, name: &str) -> Option<&'s str> {
    if path.is_empty() {
        return None;
    }
    let (component, rest) = path.split_once('/').unwrap_or((path, ""));
    let matches = name == component || (!component.contains('@') && base_name(name) == component);
    matches.then_some(rest)
}

/// `/chosen/linux,initrd-start .. linux,initrd-end`, each a 32- or 64-bit
/// value. `None` when absent or empty.
fn initrd(chosen: Option<FdtNode<'_, '_>>) -> Result<Option<PhysicalRange>, BootInfoError> {
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    let read = |name: &'static str| {
        bytes(chosen, name).map(|value| {
            match value.len() {
                4 => read_u32(value, 0).map(u64::from),
                8 => read_u64(value, 0),
                _ => None,
            }
            .ok_or(BootInfoError::Malformed(name))
        })
    };
    match (read("linux,initrd-start"), read("linux,initrd-end")) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => {
            let (start, end) = (start?, end?);
            let size = end
                .checked_sub(start)
                .ok_or(BootInfoError::Malformed("linux,initrd-end"))?;
            Ok(PhysicalRange::new(start, size))
        }
        (None, Some(_)) => Err(BootInfoError::Malformed("linux,initrd-start")),
        (Some(_), None) => Err(BootInfoError::Malformed("linux,initrd-end")),
    }
}

/// `/chosen/bootargs` up to its NUL, cut to [`MAX_BOOTARGS`] bytes at a
/// character boundary.
fn bootargs(
    chosen: Option<FdtNode<'_, '_>>,
) -> Result<heapless::String<MAX_BOOTARGS>, BootInfoError> {
    let mut bootargs = heapless::String::new();
    let Some(value) = chosen.and_then(|chosen| bytes(chosen, "bootargs")) else {
        return Ok(bootargs);
    };
    let malformed = BootInfoError::Malformed("bootargs");
    let text = first_string(value).ok_or(malformed)?;
    let kept = text
        .get(..text.floor_char_boundary(MAX_BOOTARGS))
        .ok_or(malformed)?;
    bootargs.push_str(kept).map_err(|_| malformed)?;
    Ok(bootargs)
}

// ---------------------------------------------------------------------------
// Small readers.

/// The child of `node` called `name`, with any unit address.
fn child<'b, 'a>(node: FdtNode<'b, 'a>, name: &str) -> Option<FdtNode<'b, 'a>> {
    node.children().find(|child| base_name(child.name) == name)
}

/// A node name without its `@unit-address`.
fn base_name(name: &str) -> &str {
    name.split_once('@')
        .map_or(name, |(base, _unit_address)| base)
}

/// The raw value of `node`'s property `name`.
fn bytes<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name).map(|property| property.value)
}

/// A string property's value up to its first NUL (or its end).
fn first_string(value: &[u8]) -> Option<&str> {
    let end = value
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(value.len());
    core::str::from_utf8(value.get(..end)?).ok()
}

/// The NUL-terminated UTF-8 string at the start of `bytes`; `None` without
/// a NUL.
fn c_string(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().position(|byte| *byte == 0)?;
    core::str::from_utf8(bytes.get(..end)?).ok()
}

/// A value that must be exactly one 32-bit cell (a phandle, a cell count).
fn single_cell(value: &[u8]) -> Option<u32> {
    if value.len() != 4 {
        return None;
    }
    read_u32(value, 0)
}

/// One or two big-endian cells as a number; `None` for any other length.
fn read_cells(cells: &[u8]) -> Option<u64> {
    match cells.len() {
        4 => read_u32(cells, 0).map(u64::from),
        8 => read_u64(cells, 0),
        _ => None,
    }
}

/// The big-endian `u32` at `offset`, or `None` past the end of `bytes`.
fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let chunk = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(chunk.try_into().ok()?))
}

/// The big-endian `u64` at `offset`, or `None` past the end of `bytes`.
fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let chunk = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(chunk.try_into().ok()?))
}

/// A device's register block: empty or wrapping is a broken tree.
fn device_range((start, size): (u64, u64)) -> Result<PhysicalRange, BootInfoError> {
    PhysicalRange::new(start, size).ok_or(BootInfoError::Malformed("reg"))
}

/// Adds a RAM range to `list`. An empty one is skipped (firmware writes
/// them for unpopulated banks); one that wraps is a broken `property`.
fn push_ram<const N: usize>(
    list: &mut heapless::Vec<PhysicalRange, N>,
    start: u64,
    size: u64,
    property: &'static str,
    what: &'static str,
) -> Result<(), BootInfoError> {
    if size == 0 {
        return Ok(());
    }
    let range = PhysicalRange::new(start, size).ok_or(BootInfoError::Malformed(property))?;
    list.push(range).map_err(|_| BootInfoError::TooMany(what))
}

#[cfg(test)]
mod tests {
    //! Fixtures are trees QEMU 7.2 dumped (see `testdata/README.md`), plus
    //! trees built here byte by byte for the cases QEMU never produces.

    use super::*;

    const GICV3: &[u8] = include_bytes!("../testdata/virt-gicv3.dtb");
    const GICV2: &[u8] = include_bytes!("../testdata/virt-gicv2.dtb");
    const EL2: &[u8] = include_bytes!("../testdata/virt-el2.dtb");
    const MAX_4G_SMP4: &[u8] = include_bytes!("../testdata/virt-max-4g-smp4.dtb");
    const SECURE: &[u8] = include_bytes!("../testdata/virt-secure.dtb");
    const INITRD: &[u8] = include_bytes!("../testdata/virt-initrd.dtb");
    const HANDMADE: &[u8] = include_bytes!("../testdata/handmade.dtb");
    const FIXTURES: [&[u8]; 7] = [GICV3, GICV2, EL2, MAX_4G_SMP4, SECURE, INITRD, HANDMADE];

    fn range(start: u64, size: u64) -> PhysicalRange {
        PhysicalRange::new(start, size).expect("a test range is valid")
    }

    fn level(id: u32) -> Interrupt {
        Interrupt {
            id,
            trigger: Trigger::Level,
        }
    }

    fn edge(id: u32) -> Interrupt {
        Interrupt {
            id,
            trigger: Trigger::Edge,
        }
    }

    /// What every QEMU `virt` tree has, whatever the options.
    fn assert_qemu_virt_devices(info: &BootInfo) {
        // pl011@9000000: SPI 1, level high.
        let console = Device {
            registers: range(0x0900_0000, 0x1000),
            interrupt: level(33),
        };
        assert_eq!(info.console, Some(console));
        // PPI 14 and PPI 11.
        assert_eq!(
            info.timer,
            Timer {
                physical: level(30),
                virtual_timer: level(27)
            }
        );
        // virtio_mmio@a000000 .. @a003e00, SPI 16 .. 47, edge rising.
        assert_eq!(info.virtio_mmio.len(), 32);
        for (slot, device) in (0u32..).zip(&info.virtio_mmio) {
            let start = 0x0a00_0000 + u64::from(slot) * 0x200;
            assert_eq!(
                *device,
                Device {
                    registers: range(start, 0x200),
                    interrupt: edge(48 + slot)
                }
            );
        }
        assert!(info.reserved.is_empty());
    }

    #[test]
    fn qemu_gicv3_cortex_a72_256m() {
        let info = parse(GICV3).expect("QEMU's tree parses");
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 256 << 20)]);
        let gic = InterruptController::GicV3 {
            distributor: range(0x0800_0000, 0x1_0000),
            redistributors: range(0x080a_0000, 0xf6_0000),
        };
        assert_eq!(info.interrupt_controller, gic);
        assert_eq!(info.interrupt_controller.version(), 3);
        assert_qemu_virt_devices(&info);
        assert_eq!(info.psci, Some(PsciMethod::Hvc));
        assert_eq!(info.cpu_count, 1);
        assert_eq!(info.initrd, None);
        assert_eq!(info.bootargs, "");
        assert_eq!(info.fdt_size, GICV3.len());
    }

    #[test]
    fn qemu_gicv2_cortex_a53_128m() {
        let info = parse(GICV2).expect("QEMU's tree parses");
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 128 << 20)]);
        let gic = InterruptController::GicV2 {
            distributor: range(0x0800_0000, 0x1_0000),
            cpu_interface: range(0x0801_0000, 0x1_0000),
        };
        assert_eq!(info.interrupt_controller, gic);
        assert_eq!(info.interrupt_controller.version(), 2);
        assert_qemu_virt_devices(&info);
        assert_eq!(info.psci, Some(PsciMethod::Hvc));
        assert_eq!(info.cpu_count, 1);
        assert_eq!(info.fdt_size, GICV2.len());
    }

    #[test]
    fn qemu_virtualization_on_calls_psci_with_smc() {
        // With EL2 given to the guest, QEMU answers PSCI on SMC, and the GIC
        // gains its hypervisor blocks (reg[2], reg[3]) which we ignore.
        let info = parse(EL2).expect("QEMU's tree parses");
        assert_eq!(info.psci, Some(PsciMethod::Smc));
        let gic = InterruptController::GicV2 {
            distributor: range(0x0800_0000, 0x1_0000),
            cpu_interface: range(0x0801_0000, 0x1_0000),
        };
        assert_eq!(info.interrupt_controller, gic);
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 256 << 20)]);
        assert_qemu_virt_devices(&info);
    }

    #[test]
    fn qemu_max_cpu_4g_smp4_has_ram_across_4g_and_four_cpus() {
        let info = parse(MAX_4G_SMP4).expect("QEMU's tree parses");
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 4 << 30)]);
        assert_eq!(info.memory[0].end(), 0x1_4000_0000);
        // `/cpus/cpu-map` has no `device_type` and does not count.
        assert_eq!(info.cpu_count, 4);
        assert_eq!(info.interrupt_controller.version(), 2);
        assert_qemu_virt_devices(&info);
        assert_eq!(info.psci, Some(PsciMethod::Hvc));
    }

    #[test]
    fn qemu_secure_on_skips_disabled_uart_and_secure_ram() {
        // The secure-only pl011@9040000 and secram@e000000 come first in the
        // tree, with `status = "disabled"`; `/secure-chosen` is not `/chosen`.
        // Secure firmware would provide PSCI, so QEMU writes no node.
        let info = parse(SECURE).expect("QEMU's tree parses");
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 128 << 20)]);
        assert_qemu_virt_devices(&info);
        assert_eq!(info.psci, None);
    }

    #[test]
    fn qemu_kernel_with_initrd_and_append() {
        // QEMU's dumped tree already holds `-initrd` (as 32-bit cells, placed
        // 128 MiB into RAM) and `-append`.
        let info = parse(INITRD).expect("QEMU's tree parses");
        assert_eq!(info.initrd, Some(range(0x4800_0000, 1500)));
        assert_eq!(info.bootargs, "selftest");
        assert_qemu_virt_devices(&info);
    }

    #[test]
    fn handmade_tree_translates_ranges_and_follows_alias() {
        let info = parse(HANDMADE).expect("the hand-made tree parses");
        // An empty second bank is dropped; the disabled one is skipped.
        let memory = [
            range(0x4000_0000, 0x2000_0000),
            range(0x1_0000_0000, 0x4000_0000),
        ];
        assert_eq!(info.memory.as_slice(), memory);
        // /memreserve/ first, then /reserved-memory; `dynamic-pool` has no reg.
        let reserved = [range(0x4000_0000, 0x1_0000), range(0x5000_0000, 0x80_0000)];
        assert_eq!(info.reserved.as_slice(), reserved);
        // Everything below /soc is moved up by 0x2000_0000.
        let gic = InterruptController::GicV2 {
            distributor: range(0x2000_0000, 0x1000),
            cpu_interface: range(0x2000_2000, 0x2000),
        };
        assert_eq!(info.interrupt_controller, gic);
        // `serial0:115200n8` names serial@1000, though serial@5000 comes first.
        let console = Device {
            registers: range(0x2000_1000, 0x1000),
            interrupt: level(37),
        };
        assert_eq!(info.console, Some(console));
        // Level low (8) is level; edge falling (2) is edge.
        assert_eq!(
            info.timer,
            Timer {
                physical: level(30),
                virtual_timer: level(27)
            }
        );
        let virtio = [
            Device {
                registers: range(0x2000_8000, 0x200),
                interrupt: edge(48),
            },
            Device {
                registers: range(0x2000_8200, 0x200),
                interrupt: edge(49),
            },
        ];
        assert_eq!(info.virtio_mmio.as_slice(), virtio);
        assert_eq!(info.psci, Some(PsciMethod::Smc));
        assert_eq!(info.cpu_count, 2);
        assert_eq!(info.initrd, Some(range(0x4800_0000, 0x20_0000)));
        assert_eq!(info.bootargs, "console=ttyAMA0 init=/init");
        assert_eq!(info.fdt_size, HANDMADE.len());
    }

    #[test]
    fn blob_longer_than_the_tree_is_read_up_to_totalsize() {
        let mut blob = GICV3.to_vec();
        blob.extend_from_slice(&[0xff; 4096]);
        assert_eq!(parse(&blob), parse(GICV3));
    }

    // -----------------------------------------------------------------------
    // Trees built here.

    /// Writes a flattened device tree: header, reservation block, structure
    /// block, strings block, in that order.
    #[derive(Default)]
    struct TreeBuilder {
        reservations: Vec<(u64, u64)>,
        structure: Vec<u8>,
        strings: Vec<u8>,
    }

    impl TreeBuilder {
        fn token(&mut self, token: u32) -> &mut Self {
            self.structure.extend_from_slice(&token.to_be_bytes());
            self
        }

        fn pad(&mut self) {
            while self.structure.len() % 4 != 0 {
                self.structure.push(0);
            }
        }

        fn begin(&mut self, name: &str) -> &mut Self {
            self.token(FDT_BEGIN_NODE);
            self.structure.extend_from_slice(name.as_bytes());
            self.structure.push(0);
            self.pad();
            self
        }

        fn end(&mut self) -> &mut Self {
            self.token(FDT_END_NODE)
        }

        fn property(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let name_offset = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            self.token(FDT_PROP)
                .token(value.len() as u32)
                .token(name_offset);
            self.structure.extend_from_slice(value);
            self.pad();
            self
        }

        fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
            let value: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
            self.property(name, &value)
        }

        fn string(&mut self, name: &str, value: &str) -> &mut Self {
            self.property(name, format!("{value}\0").as_bytes())
        }

        fn finish(&self) -> Vec<u8> {
            let reservations_offset = 40;
            let structure_offset = reservations_offset + (self.reservations.len() + 1) * 16;
            let strings_offset = structure_offset + self.structure.len() + 4;
            let total_size = strings_offset + self.strings.len();
            let header = [
                FDT_MAGIC,
                total_size as u32,
                structure_offset as u32,
                strings_offset as u32,
                reservations_offset as u32,
                17,
                16,
                0,
                self.strings.len() as u32,
                self.structure.len() as u32 + 4,
            ];
            let mut blob: Vec<u8> = header
                .iter()
                .flat_map(|field| field.to_be_bytes())
                .collect();
            for (address, size) in self.reservations.iter().chain([&(0, 0)]) {
                blob.extend_from_slice(&address.to_be_bytes());
                blob.extend_from_slice(&size.to_be_bytes());
            }
            blob.extend_from_slice(&self.structure);
            blob.extend_from_slice(&FDT_END.to_be_bytes());
            blob.extend_from_slice(&self.strings);
            blob
        }
    }

    /// The smallest machine `parse` accepts, like QEMU's with GICv3; `chosen`
    /// fills in `/chosen` and `extra` adds nodes at the end of the root.
    fn machine(
        chosen: impl FnOnce(&mut TreeBuilder),
        extra: impl FnOnce(&mut TreeBuilder),
    ) -> Vec<u8> {
        machine_without("", chosen, extra)
    }

    /// [`machine`] without the node called `omit`.
    fn machine_without(
        omit: &str,
        chosen: impl FnOnce(&mut TreeBuilder),
        extra: impl FnOnce(&mut TreeBuilder),
    ) -> Vec<u8> {
        let mut tree = TreeBuilder::default();
        tree.begin("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .cells("interrupt-parent", &[1]);
        tree.begin("chosen");
        chosen(&mut tree);
        tree.end();
        if omit != "memory" {
            tree.begin("memory@40000000")
                .string("device_type", "memory")
                .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
                .end();
        }
        if omit != "intc" {
            tree.begin("intc@8000000")
                .string("compatible", "arm,gic-v3")
                .cells(
                    "reg",
                    &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0xf6_0000],
                )
                .cells("#interrupt-cells", &[3])
                .cells("phandle", &[1])
                .end();
        }
        if omit != "timer" {
            tree.begin("timer")
                .string("compatible", "arm,armv8-timer")
                .cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])
                .end();
        }
        if omit != "pl011" {
            tree.begin("pl011@9000000")
                .string("compatible", "arm,pl011")
                .cells("reg", &[0, 0x0900_0000, 0, 0x1000])
                .cells("interrupts", &[0, 1, 4])
                .end();
        }
        extra(&mut tree);
        tree.end();
        tree.finish()
    }

    fn no_chosen(_: &mut TreeBuilder) {}

    fn nothing_else(_: &mut TreeBuilder) {}

    #[test]
    fn built_machine_parses() {
        let info = parse(&machine(no_chosen, nothing_else)).expect("the built tree parses");
        assert_eq!(info.memory.as_slice(), [range(0x4000_0000, 0x1000_0000)]);
        assert_eq!(info.interrupt_controller.version(), 3);
        assert_eq!(
            info.console.map(|console| console.interrupt),
            Some(level(33))
        );
        assert_eq!(info.timer.virtual_timer, level(27));
        assert_eq!((info.psci, info.cpu_count, info.initrd), (None, 0, None));
    }

    #[test]
    fn initrd_in_32_and_64_bit_cells() {
        let blob = machine(
            |chosen| {
                chosen.cells("linux,initrd-start", &[0x4800_0000]);
                chosen.property("linux,initrd-end", &0x4810_0000u64.to_be_bytes());
            },
            nothing_else,
        );
        assert_eq!(
            parse(&blob).map(|info| info.initrd),
            Ok(Some(range(0x4800_0000, 0x10_0000)))
        );
    }

    #[test]
    fn broken_initrd_is_malformed() {
        let end_before_start = machine(
            |chosen| {
                chosen.cells("linux,initrd-start", &[0x4800_0000]);
                chosen.cells("linux,initrd-end", &[0x47ff_ffff]);
            },
            nothing_else,
        );
        assert_eq!(
            parse(&end_before_start),
            Err(BootInfoError::Malformed("linux,initrd-end"))
        );
        let start_only = machine(
            |chosen| {
                chosen.cells("linux,initrd-start", &[1]);
            },
            nothing_else,
        );
        assert_eq!(
            parse(&start_only),
            Err(BootInfoError::Malformed("linux,initrd-end"))
        );
        let three_bytes = machine(
            |chosen| {
                chosen.property("linux,initrd-start", &[0, 0, 1]);
                chosen.cells("linux,initrd-end", &[2]);
            },
            nothing_else,
        );
        assert_eq!(
            parse(&three_bytes),
            Err(BootInfoError::Malformed("linux,initrd-start"))
        );
    }

    #[test]
    fn long_bootargs_are_cut_at_a_character_boundary() {
        // 255 ASCII bytes, then a two-byte 'é' that would straddle the end.
        let long = format!("{}é and more", "a".repeat(MAX_BOOTARGS - 1));
        let blob = machine(
            |chosen| {
                chosen.string("bootargs", &long);
            },
            nothing_else,
        );
        let bootargs = parse(&blob).expect("the built tree parses").bootargs;
        assert_eq!(bootargs.as_str(), &long[..MAX_BOOTARGS - 1]);
    }

    #[test]
    fn stdout_alias_naming_itself_is_not_followed_forever() {
        // `fdt`'s own `find_node` would recurse on this until the stack ran out.
        let blob = machine(
            |chosen| {
                chosen.string("stdout-path", "serial0");
            },
            |root| {
                root.begin("aliases").string("serial0", "serial0").end();
            },
        );
        let console = parse(&blob).expect("the built tree parses").console;
        assert_eq!(
            console.map(|console| console.registers.start),
            Some(0x0900_0000)
        );
    }

    #[test]
    fn missing_pieces_are_named() {
        let without = |name| parse(&machine_without(name, no_chosen, nothing_else));
        assert_eq!(without("memory"), Err(BootInfoError::NoMemory));
        assert_eq!(without("intc"), Err(BootInfoError::NoInterruptController));
        assert_eq!(without("timer"), Err(BootInfoError::NoTimer));
        assert_eq!(without("pl011").map(|info| info.console), Ok(None));
        let mut bare_root = TreeBuilder::default();
        bare_root.begin("").end();
        assert_eq!(parse(&bare_root.finish()), Err(BootInfoError::NoMemory));
    }

    #[test]
    fn disabled_nodes_are_as_good_as_absent() {
        let blob = machine_without("pl011", no_chosen, |root| {
            root.begin("pl011@9000000")
                .string("compatible", "arm,pl011")
                .cells("reg", &[0, 0x0900_0000, 0, 0x1000])
                .cells("interrupts", &[0, 1, 4])
                .string("status", "disabled")
                .end();
        });
        assert_eq!(parse(&blob).map(|info| info.console), Ok(None));
    }

    #[test]
    fn short_timer_or_gic_are_reported_as_missing() {
        let short_timer = machine_without("timer", no_chosen, |root| {
            root.begin("timer")
                .string("compatible", "arm,armv8-timer")
                .cells("interrupts", &[1, 13, 4, 1, 14, 4])
                .end();
        });
        assert_eq!(parse(&short_timer), Err(BootInfoError::NoTimer));
        let one_block_gic = machine_without("intc", no_chosen, |root| {
            root.begin("intc@8000000")
                .string("compatible", "arm,gic-400")
                .cells("reg", &[0, 0x0800_0000, 0, 0x1_0000])
                .cells("#interrupt-cells", &[3])
                .cells("phandle", &[1])
                .end();
        });
        assert_eq!(
            parse(&one_block_gic),
            Err(BootInfoError::NoInterruptController)
        );
    }

    #[test]
    fn device_wired_to_another_controller_is_malformed() {
        let blob = machine(no_chosen, |root| {
            root.begin("virtio_mmio@a000000")
                .string("compatible", "virtio,mmio")
                .cells("reg", &[0, 0x0a00_0000, 0, 0x200])
                .cells("interrupts", &[0, 16, 1])
                .cells("interrupt-parent", &[7])
                .end();
        });
        assert_eq!(
            parse(&blob),
            Err(BootInfoError::Malformed("interrupt-parent"))
        );
    }

    #[test]
    fn wrapping_or_ill_sized_reg_is_malformed() {
        let wrapping = machine(no_chosen, |root| {
            root.begin("memory@ffff")
                .string("device_type", "memory")
                .cells("reg", &[0xffff_ffff, 0xffff_0000, 0, 0x1_0000])
                .end();
        });
        assert_eq!(parse(&wrapping), Err(BootInfoError::Malformed("reg")));
        let short = machine(no_chosen, |root| {
            root.begin("memory@0")
                .string("device_type", "memory")
                .cells("reg", &[0, 0, 1])
                .end();
        });
        assert_eq!(parse(&short), Err(BootInfoError::Malformed("reg")));
    }

    #[test]
    fn too_many_memory_banks_are_reported() {
        let blob = machine(no_chosen, |root| {
            let banks: Vec<u32> = (0..MAX_MEMORY_REGIONS as u32)
                .flat_map(|bank| [1, bank, 0, 1])
                .collect();
            root.begin("memory@100000000")
                .string("device_type", "memory")
                .cells("reg", &banks)
                .end();
        });
        assert_eq!(parse(&blob), Err(BootInfoError::TooMany("memory regions")));
    }

    #[test]
    fn shapes_fdt_cannot_walk_are_refused() {
        const FDT_NOP: u32 = 0x4;
        // `fdt` 0.1.5 panics stepping over `x` to reach the nodes after it.
        let nop = machine(no_chosen, |root| {
            root.begin("x")
                .begin("a")
                .end()
                .token(FDT_NOP)
                .begin("b")
                .end()
                .end();
        });
        assert_eq!(parse(&nop), Err(BootInfoError::InvalidTree));
        let property_after_child = machine(no_chosen, |root| {
            root.begin("a").end().cells("late", &[1]);
        });
        assert_eq!(
            parse(&property_after_child),
            Err(BootInfoError::InvalidTree)
        );
        let deep = machine(no_chosen, |root| {
            for _ in 0..MAX_DEPTH {
                root.begin("deeper");
            }
            for _ in 0..MAX_DEPTH {
                root.end();
            }
        });
        assert_eq!(parse(&deep), Err(BootInfoError::InvalidTree));
        let mut bad_name_offset = TreeBuilder::default();
        bad_name_offset
            .begin("")
            .token(FDT_PROP)
            .token(0)
            .token(1000)
            .end();
        assert_eq!(
            parse(&bad_name_offset.finish()),
            Err(BootInfoError::InvalidTree)
        );
    }

    // -----------------------------------------------------------------------
    // Robustness: whatever the bytes, `parse` returns.

    /// Marsaglia's xorshift64: deterministic, and good enough to scatter
    /// bytes.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    fn set_header_field(blob: &mut [u8], index: usize, value: u32) {
        blob[index * 4..index * 4 + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn empty_slice_is_invalid() {
        assert_eq!(parse(&[]), Err(BootInfoError::InvalidTree));
        assert_eq!(
            parse(&FDT_MAGIC.to_be_bytes()),
            Err(BootInfoError::InvalidTree)
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        for seed in 1..=2000u64 {
            let mut random = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let length = random.below(4096);
            let mut blob: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
            let _ = parse(&blob);
            // Again behind a believable header, so the checks past it run.
            if blob.len() >= 40 {
                set_header_field(&mut blob, 0, FDT_MAGIC);
                set_header_field(&mut blob, 1, length as u32);
                set_header_field(&mut blob, 5, 17);
                set_header_field(&mut blob, 6, 16);
                let _ = parse(&blob);
            }
        }
    }

    #[test]
    fn every_truncation_of_a_fixture_is_refused() {
        for fixture in FIXTURES {
            for length in 0..fixture.len() {
                assert_eq!(parse(&fixture[..length]), Err(BootInfoError::InvalidTree));
            }
        }
    }

    #[test]
    fn every_shortened_block_of_a_fixture_is_handled() {
        // Cut the tree with `totalsize` and block sizes that agree, so the
        // structure and strings checks, not the header's, meet the cut.
        for fixture in [GICV3, HANDMADE] {
            let header = Header::read(fixture).expect("a fixture has a good header");
            for length in 40..fixture.len() {
                let mut blob = fixture[..length].to_vec();
                set_header_field(&mut blob, 1, length as u32);
                let structure_end = header.structure.end.min(length);
                let strings_end = header.strings.end.min(length);
                let structure_size = structure_end.saturating_sub(header.structure.start);
                let strings_size = strings_end.saturating_sub(header.strings.start);
                set_header_field(&mut blob, 9, structure_size as u32);
                set_header_field(&mut blob, 8, strings_size as u32);
                let _ = parse(&blob);
            }
            for size in 0..header.structure.len() {
                let mut blob = fixture.to_vec();
                set_header_field(&mut blob, 9, size as u32);
                assert_eq!(parse(&blob), Err(BootInfoError::InvalidTree));
            }
            for size in 0..header.strings.len() {
                let mut blob = fixture.to_vec();
                set_header_field(&mut blob, 8, size as u32);
                let _ = parse(&blob);
            }
        }
    }

    /// What every `Ok` must promise, whatever the input.
    fn assert_invariants(info: &BootInfo) {
        let ranges = info.memory.iter().chain(&info.reserved).chain(&info.initrd);
        for range in ranges {
            assert!(range.size != 0 && range.start.checked_add(range.size).is_some());
        }
        let devices = info.console.iter().chain(&info.virtio_mmio);
        let interrupts = devices.map(|device| device.interrupt.id);
        let timer = [info.timer.physical.id, info.timer.virtual_timer.id];
        for id in interrupts.chain(timer) {
            assert!((16..1020).contains(&id), "INTID {id}");
        }
        assert!(!info.memory.is_empty());
    }

    #[test]
    fn flipped_bytes_in_fixtures_never_panic() {
        let mut random = XorShift(0x5eed);
        let mut still_parsed = 0;
        for fixture in FIXTURES {
            // Every byte of the small trees, a sample of the bigger ones
            // (each parse is slow in a debug build).
            let step = if fixture.len() > 4096 { 7 } else { 1 };
            for position in (0..fixture.len()).step_by(step) {
                let mut blob = fixture.to_vec();
                blob[position] ^= (random.next() as u8).max(1);
                if let Ok(info) = parse(&blob) {
                    assert_invariants(&info);
                    still_parsed += 1;
                }
            }
            // A few bytes at once, in the header and the first part of the
            // structure block, where offsets, lengths and tokens live.
            for _ in 0..300 {
                let mut blob = fixture.to_vec();
                for _ in 0..1 + random.below(4) {
                    let position = random.below(blob.len().min(0x800));
                    blob[position] = random.next() as u8;
                }
                if let Ok(info) = parse(&blob) {
                    assert_invariants(&info);
                }
            }
        }
        // Most flips land in values, not structure: the walk must have run.
        assert!(
            still_parsed > 1000,
            "only {still_parsed} flipped trees parsed"
        );
    }
}
