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
/// The most CPU identities we keep (QEMU `virt` allows up to 512 CPUs; the
/// kernel runs on one).
pub const MAX_CPU_IDS: usize = 64;

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
    /// Each CPU's `reg`: its `MPIDR_EL1` affinity, the name PSCI calls it
    /// by. The first [`MAX_CPU_IDS`] CPUs whose `reg` reads cleanly.
    pub cpu_ids: heapless::Vec<u64, MAX_CPU_IDS>,
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
        cpu_ids: findings.cpu_ids,
        bootargs: bootargs(chosen)?,
        fdt_size: header.total_size,
    })
}

mod cells;
mod check;
mod walk;

use cells::*;
use check::*;
use walk::*;

#[cfg(test)]
mod tests;
