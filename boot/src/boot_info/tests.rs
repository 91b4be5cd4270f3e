//! Fixtures are trees QEMU 7.2 dumped (see `testdata/README.md`), plus
//! trees built here byte by byte for the cases QEMU never produces.

use super::*;

const GICV3: &[u8] = include_bytes!("../../testdata/virt-gicv3.dtb");
const GICV2: &[u8] = include_bytes!("../../testdata/virt-gicv2.dtb");
const EL2: &[u8] = include_bytes!("../../testdata/virt-el2.dtb");
const MAX_4G_SMP4: &[u8] = include_bytes!("../../testdata/virt-max-4g-smp4.dtb");
const SECURE: &[u8] = include_bytes!("../../testdata/virt-secure.dtb");
const INITRD: &[u8] = include_bytes!("../../testdata/virt-initrd.dtb");
const HANDMADE: &[u8] = include_bytes!("../../testdata/handmade.dtb");
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
    assert_eq!(info.cpu_ids.as_slice(), [0, 1, 2, 3]);
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
    assert_eq!(info.cpu_ids.as_slice(), [0, 1]);
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
        while !self.structure.len().is_multiple_of(4) {
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
fn machine(chosen: impl FnOnce(&mut TreeBuilder), extra: impl FnOnce(&mut TreeBuilder)) -> Vec<u8> {
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
fn memory_reservations_are_read_and_checked() {
    let blob = machine(no_chosen, |tree| {
        tree.reservations
            .extend([(0x4000_0000, 0x1000), (0x5000_0000, 0)]);
    });
    let reserved = parse(&blob).expect("the built tree parses").reserved;
    assert_eq!(reserved.as_slice(), [range(0x4000_0000, 0x1000)]);
    let wrapping = machine(no_chosen, |tree| {
        tree.reservations.push((u64::MAX - 0xfff, 0x2000));
    });
    assert_eq!(
        parse(&wrapping),
        Err(BootInfoError::Malformed("/memreserve/"))
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
