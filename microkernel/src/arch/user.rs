//! Entering user space (EL0) for the first time.

core::arch::global_asm!(
    r#"
    .section .text
    .global enter_user
// enter_user(entry: x0, user_stack: x1, argument: x2, kernel_stack_top: x3)
// Starts EL0 at `entry` with x0 = `argument`, sp = `user_stack`, every other
// register zero (nothing of the kernel's leaks), IRQs unmasked. Exceptions
// from EL0 then arrive on `kernel_stack_top`.
enter_user:
    mov     sp, x3
    msr     elr_el1, x0
    msr     sp_el0, x1
    msr     spsr_el1, xzr           // EL0t, DAIF all clear
    mov     x0, x2
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    mov     x4, xzr
    mov     x5, xzr
    mov     x6, xzr
    mov     x7, xzr
    mov     x8, xzr
    mov     x9, xzr
    mov     x10, xzr
    mov     x11, xzr
    mov     x12, xzr
    mov     x13, xzr
    mov     x14, xzr
    mov     x15, xzr
    mov     x16, xzr
    mov     x17, xzr
    mov     x18, xzr
    mov     x19, xzr
    mov     x20, xzr
    mov     x21, xzr
    mov     x22, xzr
    mov     x23, xzr
    mov     x24, xzr
    mov     x25, xzr
    mov     x26, xzr
    mov     x27, xzr
    mov     x28, xzr
    mov     x29, xzr
    mov     x30, xzr
    eret
"#
);

unsafe extern "C" {
    /// See the assembly above.
    ///
    /// # Safety
    /// TTBR0 must hold the tables that map `entry` and `user_stack` for EL0,
    /// and `kernel_stack_top` must be the top of this thread's kernel stack,
    /// with nothing on it that is still needed.
    pub fn enter_user(entry: u64, user_stack: u64, argument: u64, kernel_stack_top: u64) -> !;
}
