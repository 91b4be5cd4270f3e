//! Entering user space (EL0) for the first time.

core::arch::global_asm!(include_str!("enter_user.s"));

unsafe extern "C" {
    /// See the assembly above.
    ///
    /// # Safety
    /// TTBR0 must hold the tables that map `entry` and `user_stack` for EL0,
    /// and `kernel_stack_top` must be the top of this thread's kernel stack,
    /// with nothing on it that is still needed.
    pub fn enter_user(entry: u64, user_stack: u64, argument: u64, kernel_stack_top: u64) -> !;
}
