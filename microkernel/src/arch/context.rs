//! Switching between kernel threads.
//!
//! A thread that stops running calls [`switch_context`], which saves the
//! registers a function call must preserve (x19 to x30 and sp, per the
//! AArch64 procedure call standard) into the old thread's [`Context`] and
//! loads the new thread's. The new thread then returns from *its* earlier
//! call to `switch_context`, on its own stack. Everything else a thread was
//! doing is already on its stack, including, when it was preempted, the
//! [`TrapFrame`](super::exceptions::TrapFrame) of the interrupt.
//!
//! The kernel is built for `aarch64-unknown-none-softfloat`, so it never
//! touches floating-point registers and there are none to save here.

/// A stopped thread's callee-saved registers.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Context {
    /// x19 to x28.
    callee_saved: [u64; 10],
    frame_pointer: u64,
    /// x30: where `switch_context` returns to.
    link_register: u64,
    stack_pointer: u64,
}

impl Context {
    /// The context of a thread that has not run yet: the first switch to it
    /// lands in `thread_start`, which calls the scheduler's
    /// `thread_main(entry, argument)` on `stack_top`.
    pub fn new(stack_top: u64, entry: u64, argument: u64) -> Context {
        let mut callee_saved = [0; 10];
        callee_saved[0] = entry; // x19
        callee_saved[1] = argument; // x20
        Context {
            callee_saved,
            frame_pointer: 0,
            link_register: thread_start as *const () as u64,
            stack_pointer: stack_top,
        }
    }
}

core::arch::global_asm!(
    r#"
    .section .text
    .global switch_context
// switch_context(from: x0 = &mut Context, to: x1 = &Context)
switch_context:
    mov     x9, sp
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    str     x9, [x0, #96]
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x30, [x1, #80]
    ldr     x9, [x1, #96]
    mov     sp, x9
    ret

// A new thread's first instructions: thread_main(entry = x19, argument = x20).
    .global thread_start
thread_start:
    mov     x0, x19
    mov     x1, x20
    bl      thread_main
    brk     #0                      // thread_main never returns
"#
);

unsafe extern "C" {
    /// Saves the current thread's registers in `from` and resumes the thread
    /// whose registers are in `to`.
    ///
    /// # Safety
    /// `to` must hold a context saved by an earlier `switch_context` or made
    /// by [`Context::new`] with a valid stack; both must stay alive and
    /// untouched until the thread they belong to runs again.
    pub fn switch_context(from: *mut Context, to: *const Context);
    fn thread_start();
}
