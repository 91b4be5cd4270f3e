//! Locks for a kernel with interrupts.
//!
//! An interrupt handler may need a lock that the code it interrupted holds
//! (the console, the scheduler). With a plain spin lock that deadlocks: the
//! handler spins forever on a lock whose holder cannot run. [`IrqMutex`]
//! masks IRQs on this core for as long as it is held, so on one core it can
//! never be contended by its own interrupt handlers.
//!
//! # Invariants
//! - While an `IrqMutexGuard` lives, IRQs are masked on this core.
//! - Dropping the guard puts the IRQ mask back as it was before `lock`.

use crate::arch::cpu::{self, InterruptState};
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

pub struct IrqMutexGuard<'a, T> {
    guard: ManuallyDrop<spin::MutexGuard<'a, T>>,
    interrupts: InterruptState,
}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        IrqMutex {
            inner: spin::Mutex::new(value),
        }
    }

    /// Masks IRQs, then takes the lock.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let interrupts = cpu::disable_interrupts();
        IrqMutexGuard {
            guard: ManuallyDrop::new(self.inner.lock()),
            interrupts,
        }
    }

    /// Takes the lock only if it is free (for the panic path, which must not
    /// wait on a lock the panicking code may hold).
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let interrupts = cpu::disable_interrupts();
        match self.inner.try_lock() {
            Some(guard) => Some(IrqMutexGuard {
                guard: ManuallyDrop::new(guard),
                interrupts,
            }),
            None => {
                cpu::restore_interrupts(interrupts);
                None
            }
        }
    }
}

impl<T> IrqMutex<T> {
    /// Releases the lock whoever holds it.
    ///
    /// # Safety
    /// Only for the panic path: the holder must never touch the value again.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.force_unlock() };
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here; the field is not used again.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        cpu::restore_interrupts(self.interrupts);
    }
}
