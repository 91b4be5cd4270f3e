//! CPU control: interrupt masking, waiting, identity, and switching the
//! kernel's translation tables.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    DAIF, MIDR_EL1, MPIDR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, TTBR0_EL1, Writeable,
};
use core::arch::asm;

/// Whether IRQs were masked, saved by [`disable_interrupts`] for
/// [`restore_interrupts`].
#[derive(Clone, Copy, Debug)]
#[must_use = "restore the interrupt state when done"]
pub struct InterruptState {
    daif: u64,
}

/// Unmasks SError (asynchronous external aborts), so one is reported by the
/// exception handler instead of staying pending forever.
pub fn enable_serror_reports() {
    // SAFETY: unmasking SError (DAIFClr bit 2); the vectors are installed.
    unsafe { asm!("msr daifclr, #4", options(nomem, nostack, preserves_flags)) };
}

/// Masks IRQs on this core and returns the previous state.
pub fn disable_interrupts() -> InterruptState {
    let daif = DAIF.get();
    // SAFETY: masking IRQs (DAIFSet bit 1) has no memory effects.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack, preserves_flags)) };
    InterruptState { daif }
}

/// Puts the IRQ mask back the way [`disable_interrupts`] found it.
pub fn restore_interrupts(state: InterruptState) {
    DAIF.set(state.daif);
}

/// Unmasks IRQs on this core.
pub fn enable_interrupts() {
    // SAFETY: unmasking IRQs; the vectors are installed before the first call.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack, preserves_flags)) };
}

/// Are IRQs masked right now?
pub fn interrupts_masked() -> bool {
    DAIF.get() & (1 << 7) != 0
}

/// Sleeps until an interrupt (or other event) arrives.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// The CPU's part name, from `MIDR_EL1`, for the boot log.
pub fn cpu_name() -> &'static str {
    let midr = MIDR_EL1.get();
    let implementer = (midr >> 24) & 0xff;
    let part = (midr >> 4) & 0xfff;
    match (implementer, part) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd04) => "Cortex-A35",
        (0x41, 0xd05) => "Cortex-A55",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd0b) => "Cortex-A76",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0x41, 0xd40) => "Neoverse-V1",
        (0x41, 0xd4f) => "Neoverse-V2",
        (0, _) => "QEMU max",
        _ => "unknown CPU",
    }
}

/// This core's affinity (`MPIDR_EL1` Aff3..Aff0), as PSCI names cores.
pub fn core_affinity() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// Replaces the kernel's translation tables (TTBR1) with the ones at
/// `new_root`, turns TTBR0 walks off until user space needs them, and sets
/// `SCTLR_EL1.WXN` so the MMU itself refuses to execute writable memory.
///
/// Changing the tables that map the code doing the change needs care: the
/// switch runs from the identity map (the early boot tables in TTBR0), goes
/// through an empty table in between ("break before make", so no stale and
/// new translations for one address can meet in the TLB), and flushes the
/// TLB after each step.
///
/// # Safety
/// `new_root` must be a level-0 table that maps the kernel image, its stack
/// and everything the caller touches afterwards at their current addresses;
/// `empty_root` a zeroed table page; `trampoline` the physical address of
/// [`replace_kernel_tables`], reachable through the identity map. IRQs must
/// be masked.
pub unsafe fn switch_kernel_tables(new_root: u64, empty_root: u64, trampoline: usize) {
    // SAFETY: the caller guarantees `trampoline` is `replace_kernel_tables`
    // at an identity-mapped address, so calling it there runs that code.
    let replace: extern "C" fn(u64, u64) = unsafe { core::mem::transmute(trampoline) };
    replace(new_root, empty_root);
    TCR_EL1.set(TCR_EL1.get() | boot::layout::TCR_EPD0);
    TTBR0_EL1.set(0);
    SCTLR_EL1.modify(SCTLR_EL1::WXN::Enable);
    barrier::isb(barrier::SY);
    flush_tlb();
}

/// Zeroes `length` bytes from `address` with `DC ZVA`, which zeroes a
/// whole block (64 bytes on a Cortex-A72, `DCZID_EL0` says) per
/// instruction: a 4 KiB frame in 64 instructions instead of a `memset`'s
/// several hundred stores. Falls back to `write_bytes` where the
/// instruction is prohibited (`DCZID_EL0.DZP`).
///
/// # Safety
/// `[address, address + length)` must be Normal cacheable memory the caller
/// owns and may write (frames in the linear map), with `address` and
/// `length` multiples of 4 KiB (so of any block size).
pub unsafe fn zero_frames(address: usize, length: usize) {
    let dczid: u64;
    // SAFETY: reading an ID register has no effect.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    if dczid & (1 << 4) != 0 {
        // SAFETY: the caller's promise.
        unsafe { core::ptr::write_bytes(address as *mut u8, 0, length) };
        return;
    }
    // DCZID_EL0.BS: log2 of the block size in 4-byte words.
    let block = 4usize << (dczid & 0xf);
    let mut at = address;
    while at < address + length {
        // SAFETY: `at` is inside the range the caller gave us, aligned to
        // the block (the range is 4 KiB aligned).
        unsafe { asm!("dc zva, {}", in(reg) at, options(nostack)) };
        at += block;
    }
}

/// Invalidates every TLB entry of this core.
pub fn flush_tlb() {
    // SAFETY: TLB maintenance only drops cached translations.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

core::arch::global_asm!(
    r#"
    .section .text
    .global replace_kernel_tables
// replace_kernel_tables(new_root: x0, empty_root: x1), called at its
// physical address through the identity map. Touches no memory.
replace_kernel_tables:
    dsb     ishst
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret
"#
);

unsafe extern "C" {
    /// See the assembly above.
    pub fn replace_kernel_tables(new_root: u64, empty_root: u64);
}

/// Makes page-table entries just written visible to the table walker
/// (new mappings need no TLB flush: invalid entries are never cached).
pub fn publish_table_changes() {
    // SAFETY: a barrier only orders memory accesses.
    unsafe { asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// Drops this core's TLB entries for one user page of address space `asid`.
pub fn flush_user_page(asid: u16, address: u64) {
    let operand = (address >> 12) & 0xfff_ffff_ffff | ((asid as u64) << 48);
    // SAFETY: TLB maintenance only drops cached translations.
    unsafe {
        asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) operand, options(nostack, preserves_flags))
    };
}

/// Drops the TLB entries for one kernel page (any ASID), after it was
/// unmapped.
pub fn flush_kernel_page(address: usize) {
    let operand = (address as u64 >> 12) & 0xfff_ffff_ffff;
    // SAFETY: TLB maintenance only drops cached translations.
    unsafe {
        asm!("dsb ishst", "tlbi vaae1is, {}", "dsb ish", "isb", in(reg) operand, options(nostack, preserves_flags))
    };
}

/// Drops every TLB entry tagged with `asid`, before the ASID is reused.
pub fn flush_asid(asid: u16) {
    let operand = (asid as u64) << 48;
    // SAFETY: TLB maintenance only drops cached translations.
    unsafe {
        asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) operand, options(nostack, preserves_flags))
    };
}

/// Turns TTBR0 walks on, pointing TTBR0 at `empty_root` (ASID 0): from now
/// on TTBR0 always holds either that or a process's tables.
pub fn enable_user_tables(empty_root: u64) {
    TTBR0_EL1.set(empty_root);
    TCR_EL1.set(TCR_EL1.get() & !boot::layout::TCR_EPD0);
    barrier::isb(barrier::SY);
    EMPTY_USER_TABLES.store(empty_root, core::sync::atomic::Ordering::Relaxed);
}

static EMPTY_USER_TABLES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Loads a process's tables and ASID (`TTBR0_EL1` value `table_register`).
pub fn set_user_tables(table_register: u64) {
    TTBR0_EL1.set(table_register);
    barrier::isb(barrier::SY);
}

/// If `table_register` is loaded in TTBR0, replaces it with the empty
/// tables: done before freeing a process's tables, so the walker can never
/// read a freed (and maybe reused) frame as a table.
pub fn leave_user_tables_if(table_register: u64) {
    if TTBR0_EL1.get() == table_register {
        set_user_tables(EMPTY_USER_TABLES.load(core::sync::atomic::Ordering::Relaxed));
    }
}

/// Lets EL0 read the virtual counter (`CNTKCTL_EL1.EL0VCTEN`), so user
/// programs can read the time without a system call.
pub fn allow_user_counter() {
    // SAFETY: only gives EL0 read access to the virtual counter.
    unsafe {
        asm!("mrs {tmp}, cntkctl_el1", "orr {tmp}, {tmp}, #2", "msr cntkctl_el1, {tmp}", tmp = out(reg) _, options(nostack))
    };
}
