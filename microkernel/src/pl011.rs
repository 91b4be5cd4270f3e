//! The PL011 UART driver, for the kernel's own log.
//!
//! Until the servers issue moves the console to an EL0 server, the kernel
//! writes its boot log and reports here. Output only: the kernel reads no
//! input yet. (Arm DDI 0183, "PrimeCell UART (PL011) Technical Reference
//! Manual", section 3.2.)

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// UARTFR
    Flags [
        /// Transmit FIFO full.
        TRANSMIT_FULL OFFSET(5) NUMBITS(1) [],
        /// Busy sending.
        BUSY OFFSET(3) NUMBITS(1) [],
    ]
}

register_structs! {
    /// PL011 UART registers.
    pub Pl011Registers {
        (0x000 => data: ReadWrite<u32>),                       // UARTDR
        (0x004 => _reserved0),
        (0x018 => flags: ReadOnly<u32, Flags::Register>),      // UARTFR
        (0x01c => @END),
    }
}

pub struct Pl011 {
    registers: &'static Pl011Registers,
}

// SAFETY: the driver holds only a reference to device registers; the
// console keeps it behind a lock, so one thread uses it at a time.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must map a PL011 block that nothing else drives, and stay
    /// mapped while the returned driver is used.
    pub unsafe fn new(base: usize) -> Pl011 {
        // SAFETY: the caller promises an exclusive, live mapping.
        let registers = unsafe { &*(base as *const Pl011Registers) };
        Pl011 { registers }
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.flags.is_set(Flags::TRANSMIT_FULL) {
            core::hint::spin_loop();
        }
        self.registers.data.set(byte as u32);
    }

    /// Waits until every byte has left the UART (before powering off).
    pub fn flush(&self) {
        while self.registers.flags.is_set(Flags::BUSY) {
            core::hint::spin_loop();
        }
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}
