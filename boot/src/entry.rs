//! The first instructions: from "QEMU jumped here" to `kernel_main`.
//!
//! QEMU loads the kernel like a Linux arm64 `Image` (see `docs/boot.md`): it
//! reads the header below, places the image at a 2 MiB-aligned physical
//! address, puts the device tree (FDT) and the initrd in RAM, and jumps to the
//! first byte with `x0` = the FDT's physical address, the MMU off and
//! interrupts masked, at EL2 (`virtualization=on`) or EL1.
//!
//! The code here:
//! 1. parks every core but the first (the others stay off under PSCI anyway);
//! 2. drops from EL2 to EL1 if needed;
//! 3. clears BSS;
//! 4. builds the early page tables (1 GiB and 2 MiB blocks, all in BSS):
//!    - the GiB holding the kernel, and the GiB(s) holding the FDT, both at
//!      their own address (identity, TTBR0: needed for the instant the MMU
//!      turns on) and in the linear map (TTBR1, `LINEAR_MAP_BASE + physical`);
//!    - the kernel image at its link address `KERNEL_BASE` (TTBR1);
//!    - the first GiB of physical space as device memory, for the early UART;
//! 5. turns the MMU and caches on and jumps to the link address;
//! 6. switches to the boot stack and calls
//!    `kernel_main(fdt_physical, kernel_physical, entry_level)`.
//!
//! Until step 5 the code runs at whatever physical address QEMU chose, so it
//! is position independent: `adrp`/`adr` only, no absolute addresses but the
//! final jump. It has no stack and uses no memory but BSS.
//!
//! The kernel replaces these tables with its own (4 KiB pages, W^X) as soon
//! as it knows where RAM is; see `microkernel/src/mm/kernel_map.rs`.

use crate::layout::{
    EARLY_DEVICE_WINDOW, EARLY_UART_PHYSICAL, KERNEL_BASE, MAIR_VALUE, TCR_EPD0, TCR_IPS_SHIFT,
    TCR_VALUE, early_descriptor,
};

/// `SCTLR_EL1` for the kernel: MMU on (M), data and instruction caches on
/// (C, I), stack alignment checks at EL1 and EL0 (SA, SA0), plus the bits
/// that are reserved-one in ARMv8.0 (11, 20, 22, 23, 28, 29). Little endian.
pub const SCTLR_EL1_VALUE: u64 =
    0x30d0_0800 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);
/// `SCTLR_EL1` with only the reserved-one bits: MMU and caches off.
pub const SCTLR_EL1_MMU_OFF: u64 = 0x30d0_0800;

/// A level-1 table index (bits 38..30 of a virtual address).
const fn level1_index(address: usize) -> usize {
    (address >> 30) & 511
}

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    // The arm64 Linux image header (64 bytes), read by QEMU's loader.
    b       primary_entry           // code0: the first instruction skips the header
    .long   0                       // code1
    .quad   0                       // text_offset: load at a 2 MiB boundary
    .quad   __image_size            // image_size: bss and boot stack included
    .quad   0xa                     // flags: little endian, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                 // reserved
    .long   0x644d5241              // magic "ARM\x64"
    .long   0                       // reserved (no PE/COFF header)

    .section .text.boot, "ax"
primary_entry:
    mov     x19, x0                 // x19 = FDT physical address (0 if none)

    // Start counting instructions now (PMU event counter 0, event 0x08
    // INST_RETIRED, at EL0 and EL1), so `cargo xtask bench` can say how
    // many instructions booting takes. Costs nothing measurable; nothing
    // but the benchmark reads it. (docs/performance.md)
    mov     x1, #0x08
    msr     pmevtyper0_el0, x1
    mov     x1, #1
    msr     pmcntenset_el0, x1      // counter 0 on
    mrs     x1, pmcr_el0
    orr     x1, x1, #1              // PMCR_EL0.E: counters enabled
    msr     pmcr_el0, x1

    // Only the first core boots. QEMU keeps the others off until PSCI CPU_ON,
    // but a firmware that starts them all would land here too.
    mrs     x1, mpidr_el1
    mov     x2, #0xffffff
    movk    x2, #0xff, lsl #32      // Aff3 | Aff2 | Aff1 | Aff0
    tst     x1, x2
    b.ne    park

    mrs     x20, CurrentEL
    lsr     x20, x20, #2            // x20 = the exception level we entered at
    cmp     x20, #2
    b.eq    drop_from_el2
    cmp     x20, #1
    b.ne    park                    // EL3 (secure=on) is not supported

at_el1:
    // Known state: MMU and caches off, exceptions masked, and floating
    // point trapping at EL1 and EL0 (CPACR_EL1.FPEN = 0): the kernel and
    // its programs are built soft-float and never use FP registers.
    ldr     x1, ={sctlr_off}
    msr     sctlr_el1, x1
    msr     cpacr_el1, xzr
    isb

    // Clear BSS. The MMU is off, so every access is to the physical
    // address, and adrp gives the physical address of a symbol.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:
    adrp    x21, __kernel_start     // x21 = the kernel's physical address
    tst     x21, #0x1fffff          // must be 2 MiB aligned for block mappings
    b.ne    park
    lsr     x1, x21, #39            // and inside the linear map's 512 GiB
    cbnz    x1, park

    // The early tables: five pages in BSS (already zero).
    adrp    x22, early_tables       // x22: level 0 for TTBR0
    add     x23, x22, #0x1000       // x23: level 0 for TTBR1
    add     x24, x22, #0x2000       // x24: level 1, low GiBs (identity and linear map)
    add     x25, x22, #0x3000       // x25: level 1, top 512 GiB of TTBR1
    add     x26, x22, #0x4000       // x26: level 2, the kernel image

    // Level 0: TTBR0[0] and TTBR1[0] share one level-1 table, so a low GiB
    // mapped there appears both at its own address and in the linear map.
    orr     x1, x24, #{table}
    str     x1, [x22]
    str     x1, [x23]
    orr     x1, x25, #{table}
    str     x1, [x23, #511 * 8]

    // Level 1, low: the kernel's GiB and the FDT's (an FDT is at most 2 MiB).
    mov     x0, x21
    bl      map_gibibyte
    cbz     x19, 3f
    lsr     x1, x19, #39
    cbnz    x1, 3f                  // out of reach: kernel_main reports it
    mov     x0, x19
    bl      map_gibibyte
    add     x0, x19, #0x200, lsl #12
    bl      map_gibibyte
3:
    // Level 1, high: the kernel image's level-2 table, and the early UART.
    orr     x1, x26, #{table}
    str     x1, [x25, #{kernel_index} * 8]
    ldr     x1, ={early_device}
    str     x1, [x25, #{device_index} * 8]

    // Level 2: the image in 2 MiB blocks, as far as image_size reaches.
    ldr     x2, =__image_size
    mov     x1, x21
    ldr     x3, ={block_normal}
    orr     x1, x1, x3
    mov     x3, x26
4:  str     x1, [x3], #8
    add     x1, x1, #0x200, lsl #12
    subs    x2, x2, #0x200, lsl #12
    b.hi    4b

    // The tables were written with the MMU off, straight to RAM; drop any
    // stale cache lines so the table walker reads what we wrote. (QEMU does
    // not model caches; real hardware needs this.)
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
    bic     x1, x1, #63
5:  dc      ivac, x1
    add     x1, x1, #64
    cmp     x1, x2
    b.lo    5b
    dsb     sy

    // Memory attributes, translation control (physical address size from
    // the CPU, at most 48 bits), the two table bases; then the MMU on.
    ldr     x1, ={mair}
    msr     mair_el1, x1
    ldr     x1, ={tcr}
    bic     x1, x1, #{epd0}         // the identity map needs TTBR0 walks
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #0xf            // PARange
    mov     x3, #5                  // 0b101 = 48 bits
    cmp     x2, x3
    csel    x2, x2, x3, lo
    bfi     x1, x2, #{ips_shift}, #3
    msr     tcr_el1, x1
    msr     ttbr0_el1, x22
    msr     ttbr1_el1, x23
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, ={sctlr_on}
    msr     sctlr_el1, x1
    isb

    // Still running at the physical address (through the identity map);
    // jump to the same code at its link address.
    ldr     x1, =high_half
    br      x1
high_half:
    ldr     x1, =__boot_stack_top
    mov     sp, x1
    mov     x0, x19
    mov     x1, x21
    mov     x2, x20
    bl      kernel_main             // fdt_physical, kernel_physical, entry_level
park:
    wfe
    b       park

// map_gibibyte: level1_low[x0 >> 30] = the GiB holding x0, normal memory.
// A leaf (no stack): clobbers x1 to x3. x24 = the level-1 table.
map_gibibyte:
    lsr     x1, x0, #30
    and     x1, x1, #511
    lsl     x2, x1, #30
    ldr     x3, ={block_normal}
    orr     x2, x2, x3
    str     x2, [x24, x1, lsl #3]
    ret

// EL2 -> EL1. EL1 gets the machine as if there were no hypervisor: AArch64,
// no traps, the physical timer and counter, the real CPU identity, and the
// GICv3 system register interface when the CPU has one.
drop_from_el2:
    mov     x1, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64
    msr     hcr_el2, x1
    mrs     x1, cnthctl_el2
    orr     x1, x1, #3              // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr        // virtual counter = physical counter
        mov     x1, #0x33ff             // CPTR_EL2: reserved-one bits set, TFP clear
                                    // (FP does not trap to EL2); TZ and TSM set
                                    // (SVE, SME trap: nothing here uses them)
    msr     cptr_el2, x1
    msr     hstr_el2, xzr
    mrs     x1, midr_el1
    msr     vpidr_el2, x1
    mrs     x1, mpidr_el1
    msr     vmpidr_el2, x1
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #24, #4         // GIC system registers implemented?
    cbz     x1, 6f
    mrs     x1, icc_sre_el2
    orr     x1, x1, #0xf            // SRE | DFB | DIB | Enable (EL1 may use SRE)
    msr     icc_sre_el2, x1
    isb
6:
    ldr     x1, ={sctlr_off}
    msr     sctlr_el1, x1
    mov     x1, #0x3c5              // SPSR: EL1h, D, A, I, F masked
    msr     spsr_el2, x1
    adr     x1, at_el1
    msr     elr_el2, x1
    eret

    .section .bss.early_tables, "aw", @nobits
    .balign 4096
early_tables:
    .space  5 * 4096
"#,
    table = const early_descriptor::TABLE,
    block_normal = const early_descriptor::BLOCK_NORMAL,
    early_device = const (EARLY_UART_PHYSICAL as u64 & !((1u64 << 30) - 1)) | early_descriptor::BLOCK_DEVICE,
    kernel_index = const level1_index(KERNEL_BASE),
    device_index = const level1_index(EARLY_DEVICE_WINDOW),
    mair = const MAIR_VALUE,
    tcr = const TCR_VALUE,
    epd0 = const TCR_EPD0,
    ips_shift = const TCR_IPS_SHIFT,
    sctlr_off = const SCTLR_EL1_MMU_OFF,
    sctlr_on = const SCTLR_EL1_VALUE,
);

/// Where the early UART appears once the early tables are live.
pub const EARLY_UART_VIRTUAL: usize = EARLY_DEVICE_WINDOW + EARLY_UART_PHYSICAL % (1 << 30);
