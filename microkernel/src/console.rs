//! The kernel log: `kprintln!` to the PL011, or to the console server.
//!
//! At first the log goes to the early UART mapping that the boot code set
//! up (QEMU `virt`'s PL011, the one hard-coded address); once the kernel's
//! own page tables are live it goes to the UART the device tree names,
//! mapped in the device window. While the tables are being switched there is
//! no UART to write to and output is dropped.
//!
//! Once the console server (an EL0 driver) owns the UART, two writers at
//! one UART would tear each other's lines. So when a process starts reading
//! the kernel log (`LOG_READ`), the log goes into a buffer instead, and that
//! process prints it with everything else it prints. The kernel writes the
//! UART itself again only for panics and unexpected exceptions, and when
//! the reader is gone (what it had not taken yet is written out first).

use crate::pl011::Pl011;
use crate::sync::IrqMutex;
use core::fmt::Write;

/// Kernel log bytes kept for the reader: 16 KiB.
const BUFFER_SIZE: usize = 16 * 1024;

struct Console {
    uart: Option<Pl011>,
    /// Set while a process reads the log: output goes to `buffer`.
    buffering: bool,
    /// The kept log. It lives in the static for good: 16 KiB must never be
    /// moved onto a 16 KiB kernel stack.
    buffer: heapless::Deque<u8, BUFFER_SIZE>,
    /// Bytes dropped because the reader fell behind.
    lost: usize,
}

static CONSOLE: IrqMutex<Console> = IrqMutex::new(Console {
    uart: None,
    buffering: false,
    buffer: heapless::Deque::new(),
    lost: 0,
});

impl Console {
    /// Writes bytes to wherever the log goes now.
    fn put(&mut self, bytes: &[u8]) {
        if self.buffering {
            for &byte in bytes {
                if self.buffer.is_full() {
                    self.buffer.pop_front();
                    self.lost += 1;
                }
                let _ = self.buffer.push_back(byte);
            }
        } else {
            self.write_uart(bytes);
        }
    }

    fn write_uart(&mut self, bytes: &[u8]) {
        if let Some(uart) = self.uart.as_mut() {
            for &byte in bytes {
                if byte == b'\n' {
                    uart.write_byte(b'\r');
                }
                uart.write_byte(byte);
            }
        }
    }

    /// Back to writing the UART, with what the buffer still holds first.
    fn stop_buffering(&mut self) {
        self.buffering = false;
        while let Some(byte) = self.buffer.pop_front() {
            self.write_uart(&[byte]);
        }
    }
}

impl core::fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.put(text.as_bytes());
        Ok(())
    }
}

/// Writes to the UART mapped at `base` from now on.
///
/// # Safety
/// `base` must map a PL011 that nothing else drives, and stay mapped until
/// the next call.
pub unsafe fn use_uart(base: usize) {
    // SAFETY: the caller's promise, passed on.
    CONSOLE.lock().uart = Some(unsafe { Pl011::new(base) });
}

/// Drops log output until the next [`use_uart`].
pub fn disconnect() {
    CONSOLE.lock().uart = None;
}

/// `kprint!` and `kprintln!` end up here.
pub fn print(arguments: core::fmt::Arguments) {
    let _ = CONSOLE.lock().write_fmt(arguments);
}

/// From now on the log is kept for a reader (see the module doc).
pub fn start_buffering() {
    CONSOLE.lock().buffering = true;
}

/// The reader is gone: the log goes to the UART again.
pub fn stop_buffering() {
    CONSOLE.lock().stop_buffering();
}

/// Moves up to `into.len()` bytes of kept log into `into`; returns how
/// many. Bytes lost to a full buffer are reported in the log itself.
pub fn take(into: &mut [u8]) -> usize {
    let mut console = CONSOLE.lock();
    let lost = core::mem::take(&mut console.lost);
    if lost > 0 {
        let _ = writeln!(console, "[kernel log: {lost} bytes lost]");
    }
    let mut count = 0;
    while count < into.len() {
        let Some(byte) = console.buffer.pop_front() else {
            break;
        };
        into[count] = byte;
        count += 1;
    }
    count
}

/// Is there kept log waiting for the reader?
pub fn pending() -> bool {
    !CONSOLE.lock().buffer.is_empty()
}

/// For fatal reports (panics, unexpected exceptions): makes sure the next
/// prints go straight out, even if the console lock is held by the code
/// that failed, with any kept log written out first.
pub fn prepare_for_fatal_report() {
    if CONSOLE.try_lock().is_none() {
        // SAFETY: the kernel is stopping for good and runs on one core: the
        // holder (the code that failed) will never run again. If it was
        // mid-line, the report follows its partial line.
        unsafe { CONSOLE.force_unlock() };
    }
    CONSOLE.lock().stop_buffering();
}

/// Holds the console while `action` writes raw bytes (a process's `LOG`)
/// with the function it is given, so they come out in one piece.
pub fn write_whole(action: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let mut console = CONSOLE.lock();
    let mut write = |bytes: &[u8]| console.put(bytes);
    action(&mut write);
}

/// Writes `action`'s output straight to the UART, even while the log is
/// kept for a reader (the hang dump, which must come out when the reader
/// itself is stuck).
pub fn print_direct(action: impl FnOnce(&mut dyn core::fmt::Write)) {
    let mut console = CONSOLE.lock();
    let buffering = core::mem::replace(&mut console.buffering, false);
    action(&mut *console);
    console.buffering = buffering;
}

/// Waits until everything written has left the UART.
pub fn flush() {
    if let Some(uart) = CONSOLE.lock().uart.as_ref() {
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
