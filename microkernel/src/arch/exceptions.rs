//! Exception entry and exit: the vector table, the saved registers, and the
//! first Rust code that runs on an exception.
//!
//! `VBAR_EL1` points at a table of 16 entries, 128 bytes each: four kinds
//! (synchronous, IRQ, FIQ, SError) for each of four origins (EL1 with SP_EL0,
//! EL1 with SP_EL1, EL0 in AArch64, EL0 in AArch32). Every entry saves the
//! interrupted registers into a [`TrapFrame`] on the current kernel stack
//! and calls [`handle_exception`] with the entry's number; on return the
//! frame is restored and `eret` resumes the interrupted code.
//!
//! # Invariants
//! - The kernel runs on SP_EL1 only, so exceptions from EL1 always use the
//!   "current EL with SP_ELx" entries; the SP_EL0 entries mean a bug.
//! - IRQs stay masked for the whole of an exception handler unless the
//!   handler switches threads; the next thread restores its own mask.

use crate::arch::probe;
use crate::exception_class::{self, class_name};
use crate::{interrupts, kprintln, power, process, syscall};

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};

/// The registers of interrupted code, as the vector entry saves them.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0 to x30 (x30 is the link register).
    pub registers: [u64; 31],
    /// The EL0 stack pointer.
    pub user_stack_pointer: u64,
    /// Where `eret` resumes (ELR_EL1).
    pub exception_link_register: u64,
    /// The interrupted PSTATE (SPSR_EL1).
    pub saved_program_status: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 272 && FRAME_SIZE.is_multiple_of(16));

/// What a vector entry was: origin and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Vector {
    CurrentSp0Synchronous = 0,
    CurrentSp0Irq = 1,
    CurrentSp0Fiq = 2,
    CurrentSp0SError = 3,
    KernelSynchronous = 4,
    KernelIrq = 5,
    KernelFiq = 6,
    KernelSError = 7,
    UserSynchronous = 8,
    UserIrq = 9,
    UserFiq = 10,
    UserSError = 11,
    User32Synchronous = 12,
    User32Irq = 13,
    User32Fiq = 14,
    User32SError = 15,
}

impl Vector {
    fn from_number(number: u64) -> Vector {
        const ALL: [Vector; 16] = [
            Vector::CurrentSp0Synchronous,
            Vector::CurrentSp0Irq,
            Vector::CurrentSp0Fiq,
            Vector::CurrentSp0SError,
            Vector::KernelSynchronous,
            Vector::KernelIrq,
            Vector::KernelFiq,
            Vector::KernelSError,
            Vector::UserSynchronous,
            Vector::UserIrq,
            Vector::UserFiq,
            Vector::UserSError,
            Vector::User32Synchronous,
            Vector::User32Irq,
            Vector::User32Fiq,
            Vector::User32SError,
        ];
        ALL[(number & 15) as usize]
    }
}

core::arch::global_asm!(
    include_str!("exceptions.s"),
    frame_size = const FRAME_SIZE,
    window_complement = const (!boot::layout::STACK_WINDOW_BASE) >> 30,
    guard_bit = const boot::layout::STACK_SLOT_GUARD_BIT,
    overflow_stack = sym OVERFLOW_STACK,
    overflow_stack_size = const OVERFLOW_STACK_SIZE,
);

// The entry's test takes the window to be exactly one GiB-aligned GiB.
const _: () = assert!(boot::layout::STACK_WINDOW_SIZE == 1 << 30);
const _: () = assert!((!boot::layout::STACK_WINDOW_BASE) >> 30 < 4096);

/// Bytes of the stack the overflow report runs on.
const OVERFLOW_STACK_SIZE: usize = 8192;

/// The stack [`report_kernel_stack_overflow`] runs on (one: the machine
/// stops after the report).
#[repr(C, align(16))]
struct OverflowStack([u8; OVERFLOW_STACK_SIZE]);

#[unsafe(no_mangle)]
static mut OVERFLOW_STACK: OverflowStack = OverflowStack([0; OVERFLOW_STACK_SIZE]);

/// A kernel stack ran into its guard: says whose, and where, and stops.
/// Runs on [`OVERFLOW_STACK`], with interrupts masked (as the exception
/// left them).
#[unsafe(no_mangle)]
extern "C" fn report_kernel_stack_overflow(
    stack_pointer: u64,
    link: u64,
    fault_address: u64,
    syndrome: u64,
) -> ! {
    crate::console::prepare_for_fatal_report();
    let slot = crate::mm::stacks::slot_of(stack_pointer as usize);
    let thread = slot.and_then(crate::scheduler::thread_of_stack);
    kprintln!();
    match thread {
        Some((id, name)) => kprintln!(
            "kernel stack overflow: thread {} ({}) of process {} ran into its guard page",
            id,
            name,
            crate::scheduler::current_owner()
        ),
        None => kprintln!("kernel stack overflow: a thread ran into its guard page"),
    }
    kprintln!("  SP     {:#018x}", stack_pointer);
    kprintln!("  ELR    {:#018x}", link);
    kprintln!("  FAR    {:#018x}", fault_address);
    kprintln!("  ESR    {:#018x}", syndrome);
    power::shutdown_after_failure()
}

unsafe extern "C" {
    static exception_vectors: u8;
}

/// Points `VBAR_EL1` at the vector table. Called first thing at boot.
pub fn install_vectors() {
    let table = &raw const exception_vectors as u64;
    VBAR_EL1.set(table);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// The first Rust code of every exception.
#[unsafe(no_mangle)]
extern "C" fn handle_exception(number: u64, frame: &mut TrapFrame) {
    let vector = Vector::from_number(number);
    match vector {
        Vector::KernelIrq => interrupts::handle_irq(),
        Vector::KernelSynchronous => {
            let syndrome = ESR_EL1.get();
            if !probe::recover(frame, syndrome) {
                report_and_stop(vector, frame, syndrome);
            }
        }
        Vector::UserIrq => {
            interrupts::handle_irq();
            process::before_return_to_user();
        }
        Vector::UserSynchronous => {
            syscall::handle_user_synchronous(frame, ESR_EL1.get(), FAR_EL1.get());
            process::before_return_to_user();
        }
        // Anything else from user space (FIQ, SError, AArch32) ends that
        // process, never the kernel.
        Vector::UserFiq
        | Vector::UserSError
        | Vector::User32Synchronous
        | Vector::User32Irq
        | Vector::User32Fiq
        | Vector::User32SError => process::kill_current(format_args!(
            "unexpected exception {vector:?} from user space"
        )),
        _ => report_and_stop(vector, frame, ESR_EL1.get()),
    }
}

/// Prints everything known about an exception nobody handles, then powers
/// off: the kernel cannot trust its own state any more.
fn report_and_stop(vector: Vector, frame: &TrapFrame, syndrome: u64) -> ! {
    let class = exception_class::class_of(syndrome);
    crate::console::prepare_for_fatal_report();
    kprintln!();
    kprintln!("unexpected exception: {:?}", vector);
    kprintln!("  class  {:#04x} {}", class, class_name(class));
    kprintln!("  ESR    {:#018x}", syndrome);
    kprintln!("  ELR    {:#018x}", frame.exception_link_register);
    kprintln!("  FAR    {:#018x}", FAR_EL1.get());
    kprintln!("  SPSR   {:#018x}", frame.saved_program_status);
    if class == exception_class::class::DATA_ABORT_SAME
        || class == exception_class::class::INSTRUCTION_ABORT_SAME
    {
        kprintln!("  fault  {:?}", exception_class::fault_kind(syndrome));
    }
    for row in 0..8 {
        let mut line = heapless::String::<128>::new();
        for column in 0..4 {
            let index = row * 4 + column;
            if index < 31 {
                let _ = core::fmt::write(
                    &mut line,
                    format_args!("x{:<2} {:#018x}  ", index, frame.registers[index]),
                );
            }
        }
        kprintln!("  {}", line.trim_end());
    }
    kprintln!("  sp_el0 {:#018x}", frame.user_stack_pointer);
    power::shutdown_after_failure()
}
