//! The kernel log: `kprintln!` to the PL011.
//!
//! At first the log goes to the early UART mapping that the boot code set
//! up (QEMU `virt`'s PL011, the one hard-coded address); once the kernel's
//! own page tables are live it goes to the UART the device tree names,
//! mapped in the device window. While the tables are being switched there is
//! no UART to write to and output is dropped.

use crate::pl011::Pl011;
use crate::sync::IrqMutex;
use core::fmt::Write;

static CONSOLE: IrqMutex<Option<Pl011>> = IrqMutex::new(None);

/// Writes to the UART mapped at `base` from now on.
///
/// # Safety
/// `base` must map a PL011 that nothing else drives, and stay mapped until
/// the next call.
pub unsafe fn use_uart(base: usize) {
    // SAFETY: the caller's promise, passed on.
    *CONSOLE.lock() = Some(unsafe { Pl011::new(base) });
}

/// Drops log output until the next [`use_uart`].
pub fn disconnect() {
    *CONSOLE.lock() = None;
}

/// `kprint!` and `kprintln!` end up here.
pub fn print(arguments: core::fmt::Arguments) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        let _ = uart.write_fmt(arguments);
    }
}

/// For fatal reports (panics, unexpected exceptions): makes sure the next
/// prints go out even if the console lock is held by the code that failed.
pub fn prepare_for_fatal_report() {
    if CONSOLE.try_lock().is_none() {
        // SAFETY: the kernel is stopping for good and runs on one core: the
        // holder (the code that failed) will never run again. If it was
        // mid-line, the report follows its partial line.
        unsafe { CONSOLE.force_unlock() };
    }
}

/// Holds the console while `action` writes raw bytes (a process's `LOG`)
/// with the function it is given, so they come out in one piece; newlines
/// get a carriage return, as in `print`.
pub fn write_whole(action: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let mut console = CONSOLE.lock();
    let mut write = |bytes: &[u8]| {
        if let Some(uart) = console.as_mut() {
            for &byte in bytes {
                if byte == b'\n' {
                    uart.write_byte(b'\r');
                }
                uart.write_byte(byte);
            }
        }
    };
    action(&mut write);
}

/// Waits until everything written has left the UART.
pub fn flush() {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        uart.flush();
    }
}

#[macro_export]
macro_rules! kprint {
    ($($argument:tt)*) => { $crate::console::print(format_args!($($argument)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($argument:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($argument)*)))
    };
}
