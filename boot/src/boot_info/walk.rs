//! Walking the tree: what each node contributes to a `BootInfo`, and
//! the few things read from `/chosen`.

use super::*;

/// The properties `parse` looks at, gathered in one pass over a node: each
/// lookup through `fdt` walks the node's whole property list. The first of
/// two properties with the same name wins, as with [`FdtNode::property`].
#[derive(Clone, Copy, Default)]
pub(super) struct Properties<'a> {
    pub(super) compatible: Option<&'a [u8]>,
    pub(super) device_type: Option<&'a [u8]>,
    pub(super) status: Option<&'a [u8]>,
    pub(super) reg: Option<&'a [u8]>,
    pub(super) ranges: Option<&'a [u8]>,
    pub(super) address_cells: Option<&'a [u8]>,
    pub(super) size_cells: Option<&'a [u8]>,
    pub(super) interrupts: Option<&'a [u8]>,
    pub(super) interrupt_parent: Option<&'a [u8]>,
    pub(super) interrupt_cells: Option<&'a [u8]>,
    pub(super) phandle: Option<&'a [u8]>,
    pub(super) method: Option<&'a [u8]>,
}

impl<'a> Properties<'a> {
    /// Reads the properties of `node`.
    pub(super) fn of(node: FdtNode<'_, 'a>) -> Properties<'a> {
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
    pub(super) fn is_available(&self) -> bool {
        self.status
            .is_none_or(|value| matches!(first_string(value), Some("okay" | "ok")))
    }

    /// Whether one of the `compatible` strings passes `wanted`.
    pub(super) fn is_compatible(&self, wanted: impl Fn(&str) -> bool) -> bool {
        let list = self.compatible.unwrap_or_default();
        list.split(|byte| *byte == 0)
            .filter_map(|name| core::str::from_utf8(name).ok())
            .any(wanted)
    }

    /// `#address-cells` and `#size-cells`: the cell sizes of the children's
    /// `reg`. Absent means 2 and 1 (section 2.3.5). Only 1 or 2 cells fit a
    /// `u64`.
    pub(super) fn cell_sizes(&self) -> Result<(usize, usize), BootInfoError> {
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
pub(super) struct Ancestry<'p, 'a> {
    pub(super) name: &'a str,
    pub(super) properties: Properties<'a>,
    /// `None` for the root.
    pub(super) parent: Option<&'p Ancestry<'p, 'a>>,
}

impl<'p, 'a> Ancestry<'p, 'a> {
    /// This node and those above it, nearest first.
    pub(super) fn chain(&'p self) -> impl Iterator<Item = &'p Ancestry<'p, 'a>> {
        core::iter::successors(Some(self), |ancestry| ancestry.parent)
    }

    /// Whether this node sits right below the root.
    pub(super) fn is_top_level(&self) -> bool {
        self.parent.is_some_and(|parent| parent.parent.is_none())
    }
}

/// What the walk collects. Interrupts stay undecoded until the walk is over,
/// because the GIC that gives them meaning may come later in the tree.
#[derive(Default)]
pub(super) struct Findings<'a> {
    pub(super) memory: heapless::Vec<PhysicalRange, MAX_MEMORY_REGIONS>,
    pub(super) reserved: heapless::Vec<PhysicalRange, MAX_RESERVED_REGIONS>,
    /// The PL011 that `/chosen/stdout-path` names.
    pub(super) stdout_uart: Option<UndecodedDevice<'a>>,
    /// The first PL011 in the tree.
    pub(super) first_uart: Option<UndecodedDevice<'a>>,
    pub(super) gic: Option<Gic>,
    pub(super) timer: Option<Interrupts<'a>>,
    pub(super) virtio_mmio: heapless::Vec<UndecodedDevice<'a>, MAX_VIRTIO_SLOTS>,
    pub(super) psci: Option<PsciMethod>,
    pub(super) cpu_count: usize,
    pub(super) cpu_ids: heapless::Vec<u64, MAX_CPU_IDS>,
}

/// The interrupt controller, with what decoding an `interrupts` needs.
pub(super) struct Gic {
    pub(super) controller: InterruptController,
    /// Its `phandle`, which devices name in `interrupt-parent`.
    pub(super) phandle: Option<u32>,
    /// Its `#interrupt-cells`: 3, or 4 on a GICv3 with PPI partitions.
    pub(super) interrupt_cells: usize,
}

/// A device whose interrupt is not decoded yet.
#[derive(Clone, Copy)]
pub(super) struct UndecodedDevice<'a> {
    pub(super) registers: PhysicalRange,
    pub(super) interrupts: Interrupts<'a>,
}

impl UndecodedDevice<'_> {
    /// The device, with its first interrupt as a GIC INTID.
    pub(super) fn decode(&self, gic: &Gic) -> Result<Device, BootInfoError> {
        let interrupt = self.interrupts.decode(gic, 0)?;
        Ok(Device {
            registers: self.registers,
            interrupt,
        })
    }
}

/// A node's raw `interrupts` value and the controller they go to.
#[derive(Clone, Copy)]
pub(super) struct Interrupts<'a> {
    pub(super) cells: &'a [u8],
    /// The phandle of the node's interrupt parent.
    pub(super) parent: Option<u32>,
}

impl<'a> Interrupts<'a> {
    /// Reads a node's `interrupts` and finds its interrupt parent: its own
    /// `interrupt-parent`, else the nearest ancestor's (section 2.4.1).
    pub(super) fn of(node: &Ancestry<'_, 'a>) -> Result<Interrupts<'a>, BootInfoError> {
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
    pub(super) fn decode(&self, gic: &Gic, index: usize) -> Result<Interrupt, BootInfoError> {
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
pub(super) fn visit<'a>(
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
        if let Some(id) = cpu_id(&here) {
            // Past MAX_CPU_IDS only the count goes on.
            let _ = findings.cpu_ids.push(id);
        }
    }
    if !here.properties.is_available() {
        return Ok(());
    }
    if parent.is_some() {
        record(&here, device_type, stdout == Some(""), findings)?;
    }
    for child in node.children() {
        let child_stdout = stdout.and_then(|path| path_below(path, child.name));
        visit(child, Some(&here), child_stdout, findings)?;
    }
    Ok(())
}

/// Records `node` (not the root) in `findings` if it is one of the things
/// [`BootInfo`] holds.
pub(super) fn record<'a>(
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
        let reserved = &mut findings.reserved;
        for block in RegisterBlocks::of(node)? {
            let (start, size) = block?;
            push_ram(reserved, start, size, "reg", "reserved regions")?;
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
pub(super) fn gic(node: &Ancestry<'_, '_>) -> Result<Option<Gic>, BootInfoError> {
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
pub(super) fn undecoded_device<'a>(
    node: &Ancestry<'_, 'a>,
) -> Result<UndecodedDevice<'a>, BootInfoError> {
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
pub(super) struct RegisterBlocks<'p, 'a> {
    pub(super) entries: core::slice::ChunksExact<'a, u8>,
    pub(super) address_cells: usize,
    /// The node's parent: its children's addresses are on the bus it forms.
    pub(super) bus: &'p Ancestry<'p, 'a>,
}

impl<'p, 'a> RegisterBlocks<'p, 'a> {
    /// The `reg` of `node` (not the root), whose entries take the cell sizes
    /// of its parent.
    pub(super) fn of(node: &Ancestry<'p, 'a>) -> Result<RegisterBlocks<'p, 'a>, BootInfoError> {
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
pub(super) fn translate(
    bus: &Ancestry<'_, '_>,
    address: u64,
    size: u64,
) -> Result<u64, BootInfoError> {
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
pub(super) fn stdout_path<'a>(
    root: FdtNode<'_, 'a>,
    chosen: Option<FdtNode<'_, 'a>>,
) -> Option<&'a str> {
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
pub(super) fn path_below<'s>(path: &'s str, name: &str) -> Option<&'s str> {
    if path.is_empty() {
        return None;
    }
    let (component, rest) = path.split_once('/').unwrap_or((path, ""));
    let matches = name == component || (!component.contains('@') && base_name(name) == component);
    matches.then_some(rest)
}

/// `/chosen/linux,initrd-start .. linux,initrd-end`, each a 32- or 64-bit
/// value. `None` when absent or empty.
pub(super) fn initrd(
    chosen: Option<FdtNode<'_, '_>>,
) -> Result<Option<PhysicalRange>, BootInfoError> {
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
pub(super) fn bootargs(
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

/// A CPU node's `reg`: one address of its parent's `#address-cells` (1 or
/// 2, default 2), with no size. `None` if it does not read cleanly.
fn cpu_id(cpu: &Ancestry<'_, '_>) -> Option<u64> {
    let cells = match cpu.parent?.properties.address_cells {
        Some(value) => single_cell(value)? as usize,
        None => 2,
    };
    if !(1..=2).contains(&cells) {
        return None;
    }
    let reg = cpu.properties.reg?;
    (reg.len() == cells * 4).then(|| read_cells(reg)).flatten()
}
