//! Handles: a process's capabilities.
//!
//! A handle is a number in one process's handle table that names an object
//! the kernel keeps (an endpoint to send requests to, a service to take
//! them from, an interrupt line, a device's registers) together with the
//! rights the holder has over it. A process reaches only what its handles
//! name, and cannot make one up: a handle number is an index plus the
//! slot's *generation*, which changes whenever the slot is freed, so a
//! stale or closed handle gives `EBADF`, never somebody else's object.
//!
//! Handle numbers: bits 15..0 are the slot index (slot 0 is never used, so
//! 0 is never a handle), bits 30..16 the slot's generation (15 bits, so a
//! handle is always a positive `i32` and can be a completion's result).
//!
//! Pure: unit tested on the host.

use alloc::vec::Vec;
use boot::boot_info::{Interrupt, PhysicalRange};
use libring::abi::Errno;

/// The most handles one process may hold.
pub const MAX_HANDLES: usize = 256;

pub type EndpointId = u32;

/// What a handle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// Send requests to an endpoint; the server sees `badge` with each.
    Client { endpoint: EndpointId, badge: u64 },
    /// Take requests from an endpoint, and mint client handles to it.
    Service { endpoint: EndpointId },
    /// An interrupt line (a GIC interrupt ID and its trigger).
    Interrupt { interrupt: Interrupt },
    /// A device's register block.
    Device { registers: PhysicalRange },
    /// The right to read the kernel log (the console server has it).
    KernelLog,
    /// The boot image (the initrd), to map read-only (the file server
    /// that seeds its files from it has it).
    BootImage { image: PhysicalRange },
    /// The right to power the machine off (the shell's `shutdown`).
    Power,
    /// The right to `DMA_MAP`: memory a device reads and writes by
    /// itself, so a driver that has it can reach any of its frames through
    /// the device. Only driver servers get it.
    Dma,
    /// The right to build processes (`PROCESS_CREATE`): the proc
    /// server's, and init's.
    Spawner,
    /// A process: to build it (while unstarted), wait for it, or kill it.
    /// Counted: the kernel keeps an ended process's status while a handle
    /// names it (`docs/spawn.md`).
    Process { id: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u16,
    object: Option<Object>,
}

/// One process's handles.
#[derive(Default)]
pub struct HandleTable {
    slots: Vec<Slot>,
}

fn handle_number(index: usize, generation: u16) -> u32 {
    ((generation as u32) << 16) | index as u32
}

impl HandleTable {
    pub fn new() -> HandleTable {
        HandleTable { slots: Vec::new() }
    }

    /// Puts `object` in a free slot and returns its handle.
    pub fn insert(&mut self, object: Object) -> Result<u32, Errno> {
        if self.slots.is_empty() {
            // Slot 0 is never handed out, so that 0 means "no handle".
            self.slots.try_reserve(2).map_err(|_| Errno::OutOfMemory)?;
            self.slots.push(Slot {
                generation: 0,
                object: None,
            });
        }
        if let Some(index) = (1..self.slots.len()).find(|&index| self.slots[index].object.is_none())
        {
            let slot = &mut self.slots[index];
            slot.object = Some(object);
            return Ok(handle_number(index, slot.generation));
        }
        if self.slots.len() > MAX_HANDLES || self.slots.try_reserve(1).is_err() {
            return Err(Errno::OutOfMemory);
        }
        self.slots.push(Slot {
            generation: 0,
            object: Some(object),
        });
        Ok(handle_number(self.slots.len() - 1, 0))
    }

    /// The object `handle` names, or `EBADF` for anything that is not a
    /// live handle of this table.
    pub fn get(&self, handle: u32) -> Result<Object, Errno> {
        let index = (handle & 0xffff) as usize;
        let generation = (handle >> 16) as u16;
        match self.slots.get(index) {
            Some(slot) if index != 0 && slot.generation == generation => {
                slot.object.ok_or(Errno::BadHandle)
            }
            _ => Err(Errno::BadHandle),
        }
    }

    /// Closes `handle`: its slot is free and its number dead for good
    /// (until the 15-bit generation wraps).
    pub fn remove(&mut self, handle: u32) -> Result<Object, Errno> {
        let object = self.get(handle)?;
        let slot = &mut self.slots[(handle & 0xffff) as usize];
        slot.object = None;
        slot.generation = slot.generation.wrapping_add(1) & 0x7fff;
        Ok(object)
    }

    /// Every live object, for tear-down.
    pub fn objects(&self) -> impl Iterator<Item = Object> + '_ {
        self.slots.iter().filter_map(|slot| slot.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: Object = Object::Service { endpoint: 3 };
    const CLIENT: Object = Object::Client {
        endpoint: 3,
        badge: 9,
    };

    #[test]
    fn handles_name_their_objects_and_zero_is_never_one() {
        let mut table = HandleTable::new();
        let service = table.insert(SERVICE).unwrap();
        let client = table.insert(CLIENT).unwrap();
        assert_ne!(service, 0);
        assert_ne!(service, client);
        assert_eq!(table.get(service), Ok(SERVICE));
        assert_eq!(table.get(client), Ok(CLIENT));
        assert_eq!(table.get(0), Err(Errno::BadHandle));
    }

    #[test]
    fn a_closed_handle_stays_dead_even_when_its_slot_is_reused() {
        let mut table = HandleTable::new();
        let first = table.insert(SERVICE).unwrap();
        assert_eq!(table.remove(first), Ok(SERVICE));
        assert_eq!(table.get(first), Err(Errno::BadHandle));
        assert_eq!(table.remove(first), Err(Errno::BadHandle), "closing twice");
        let second = table.insert(CLIENT).unwrap();
        assert_eq!(second & 0xffff, first & 0xffff, "the slot is reused");
        assert_ne!(second, first, "with a new generation");
        assert_eq!(
            table.get(first),
            Err(Errno::BadHandle),
            "the old number never names the new object"
        );
        assert_eq!(table.get(second), Ok(CLIENT));
    }

    #[test]
    fn forged_numbers_are_refused() {
        let mut table = HandleTable::new();
        let real = table.insert(SERVICE).unwrap();
        for forged in [real + 1, real | 0x10000, 0xffff, u32::MAX, 1 << 16] {
            assert_eq!(table.get(forged), Err(Errno::BadHandle), "{forged:#x}");
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = HandleTable::new();
        let made = (0..MAX_HANDLES + 10)
            .filter(|_| table.insert(CLIENT).is_ok())
            .count();
        assert_eq!(made, MAX_HANDLES);
        assert_eq!(table.objects().count(), MAX_HANDLES);
    }
}
