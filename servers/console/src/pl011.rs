//! The PL011 UART's registers, as the console server drives them from EL0.
//!
//! The only `unsafe` in the server is here: turning the address where
//! `MAP_DEVICE` put the registers into a reference. Everything else goes
//! through `tock-registers`, whose accesses are volatile. (Arm DDI 0183,
//! "PrimeCell UART (PL011) Technical Reference Manual", section 3.2.)
//!
//! The kernel set the UART up (baud rate, 8N1) before any process ran, and
//! still writes to it when it panics: two writers at one data register
//! interleave bytes, but cannot confuse the hardware.

#![allow(unsafe_code)]

use libring::abi::{Errno, PAGE_SIZE};
use libring::ops;
use libring::ring::{Kernel, Ring};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// UARTFR
    Flags [
        /// Transmit FIFO full (TXFF).
        TRANSMIT_FULL OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty (RXFE).
        RECEIVE_EMPTY OFFSET(4) NUMBITS(1) [],
    ],
    /// UARTCR
    Control [
        /// Receive enable (RXE).
        RECEIVE_ENABLE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable (TXE).
        TRANSMIT_ENABLE OFFSET(8) NUMBITS(1) [],
        /// UART enable (UARTEN).
        ENABLE OFFSET(0) NUMBITS(1) [],
    ],
    /// UARTIMSC and UARTICR share this layout.
    Interrupts [
        /// Receive timeout: data waits in the FIFO, and no more comes (RT).
        RECEIVE_TIMEOUT OFFSET(6) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level (RX).
        RECEIVE OFFSET(4) NUMBITS(1) [],
    ]
}

register_structs! {
    /// PL011 UART registers.
    Pl011Registers {
        (0x000 => data: ReadWrite<u32>),                                       // UARTDR
        (0x004 => _reserved0),
        (0x018 => flags: ReadOnly<u32, Flags::Register>),                      // UARTFR
        (0x01c => _reserved1),
        (0x030 => control: ReadWrite<u32, Control::Register>),                 // UARTCR
        (0x034 => _reserved2),
        (0x038 => interrupt_mask: ReadWrite<u32, Interrupts::Register>),       // UARTIMSC
        (0x03c => _reserved3),
        (0x044 => interrupt_clear: WriteOnly<u32, Interrupts::Register>),      // UARTICR
        (0x048 => @END),
    }
}

/// The UART, mapped into this process.
pub struct Pl011 {
    registers: &'static Pl011Registers,
}

impl Pl011 {
    /// Maps the UART behind device handle `device` at `address` (page
    /// aligned, in the map area, and used for nothing else) with
    /// `MAP_DEVICE`, and returns the driver for it.
    pub fn map<K: Kernel>(ring: &mut Ring<K>, device: u32, address: u64) -> Result<Pl011, Errno> {
        let offset = ring.run(ops::map_device(device, address))? as u64;
        // The kernel's offset is a claim: the registers must lie inside
        // the page it mapped.
        if offset + size_of::<Pl011Registers>() as u64 > PAGE_SIZE {
            return Err(Errno::Fault);
        }
        let base = address + offset;
        // SAFETY: MAP_DEVICE succeeded, so the kernel mapped the device's
        // registers at `address` (device memory, read and write) for the
        // rest of this process's life: nothing unmaps them. They start at
        // `offset`, and the whole register block lies in that page
        // (checked above). The caller promises the address is used for
        // nothing else, so this is the only reference to them, and
        // tock-registers reaches them only through volatile accesses.
        let registers = unsafe { &*(base as *const Pl011Registers) };
        Ok(Pl011 { registers })
    }

    /// Turns the receiver on, and its interrupts: one when the receive
    /// FIFO fills to its trigger level, one when bytes wait in it and no
    /// more come (the receive timeout), so a single key press is seen.
    pub fn enable_receive_interrupts(&self) {
        self.registers.control.modify(
            Control::ENABLE::SET + Control::TRANSMIT_ENABLE::SET + Control::RECEIVE_ENABLE::SET,
        );
        self.clear_receive_interrupts();
        self.registers
            .interrupt_mask
            .modify(Interrupts::RECEIVE::SET + Interrupts::RECEIVE_TIMEOUT::SET);
    }

    /// Whether the receive FIFO is empty.
    pub fn receive_empty(&self) -> bool {
        self.registers.flags.is_set(Flags::RECEIVE_EMPTY)
    }

    /// Clears the receive interrupts (UARTICR).
    pub fn clear_receive_interrupts(&self) {
        self.registers
            .interrupt_clear
            .write(Interrupts::RECEIVE::SET + Interrupts::RECEIVE_TIMEOUT::SET);
    }

    /// The next received byte, if the receive FIFO has one. (The error
    /// bits above the byte, framing, parity, break and overrun, are
    /// dropped: a byte is better than none.)
    pub fn read_byte(&self) -> Option<u8> {
        if self.receive_empty() {
            return None;
        }
        Some(self.registers.data.get() as u8)
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        // FIXME: spinning wastes the CPU on a slow line; a transmit
        // interrupt (TXIM) would let the server sleep instead. QEMU's UART
        // never fills.
        while self.registers.flags.is_set(Flags::TRANSMIT_FULL) {
            core::hint::spin_loop();
        }
        self.registers.data.set(u32::from(byte));
    }
}
