//! Which virtio-mmio slots hold a device, and of which kind.
//!
//! QEMU `virt` has 32 virtio-mmio transport slots; the device tree lists
//! them all, filled or not. The kernel reads three registers of each slot
//! once, at boot, so that a system manifest can name a device by its kind
//! (`device=virtio-blk`) rather than by a slot number that depends on the
//! order of QEMU's options. Everything else about virtio (queues,
//! features, requests) is the driver server's business (`docs/drivers.md`).

use boot::boot_info::{Device, MAX_VIRTIO_SLOTS};

/// The `MagicValue` register of every virtio-mmio slot: "virt".
const MAGIC: u32 = 0x7472_6976;
/// Register offsets (virtio 1.2, 4.2.2 "MMIO Device Register Layout").
const MAGIC_OFFSET: usize = 0x000;
const DEVICE_ID_OFFSET: usize = 0x008;

/// Device IDs (virtio 1.2, 5 "Device Types"); 0 means an empty slot.
pub const BLOCK: u32 = 2;

/// The `Status` register: writing 0 resets the device (virtio 1.2,
/// 2.4 "Device Reset"; 4.2.2).
const STATUS_OFFSET: usize = 0x070;

/// A slot that holds a device: where the kernel mapped its registers,
/// and its device ID.
#[derive(Clone, Copy)]
struct Found {
    device: Device,
    mapped: usize,
    id: u32,
}

/// The slots that hold a device, in the tree's order.
static FOUND: spin::Once<heapless::Vec<Found, MAX_VIRTIO_SLOTS>> = spin::Once::new();

/// Reads each slot's magic value and device ID (after the memory and
/// interrupt set-up: it maps the slots in the kernel's device window).
/// A slot that cannot be mapped, or does not answer with the magic value,
/// is left out.
pub fn probe(slots: &[Device]) {
    FOUND.call_once(|| {
        let mut found = heapless::Vec::new();
        for slot in slots {
            let Ok(base) = crate::mm::map_device(slot.registers) else {
                continue;
            };
            // SAFETY: `base` maps the slot's registers (just above), and
            // reading MagicValue and DeviceID has no side effects.
            let (magic, device_id) = unsafe {
                (
                    ((base + MAGIC_OFFSET) as *const u32).read_volatile(),
                    ((base + DEVICE_ID_OFFSET) as *const u32).read_volatile(),
                )
            };
            if magic == MAGIC && device_id != 0 {
                // The line is a level: high while InterruptStatus is not 0
                // (virtio 1.2, 4.2.3.4). QEMU's device tree calls it edge
                // triggered, and routed as an edge, a completion that
                // comes while the status is still set from the one before
                // raises no new edge: the driver never hears of it. As a
                // level it stays pending until the driver has cleared the
                // status, and `IRQ_ACK` unmasks it (`drivers.rs`).
                let mut device = *slot;
                device.interrupt.trigger = boot::boot_info::Trigger::Level;
                let _ = found.push(Found {
                    device,
                    mapped: base,
                    id: device_id,
                });
            }
        }
        found
    });
}

/// The device a manifest names: `virtio-blk` is the first block device.
pub fn find(name: &str) -> Option<Device> {
    let kind = match name {
        "virtio-blk" => BLOCK,
        _ => return None,
    };
    FOUND
        .get()?
        .iter()
        .find(|found| found.id == kind)
        .map(|found| found.device)
}

/// Does the machine have the device a manifest or command line names
/// (`console`, the UART, or a virtio kind)?
pub fn present(name: &str) -> bool {
    match name {
        "console" => crate::boot_info().is_some_and(|info| info.console.is_some()),
        _ => find(name).is_some(),
    }
}

/// Resets the virtio device whose registers are `registers`, if it is
/// one: called when a process that mapped them ends, so that a driver
/// that dies in the middle of a request cannot leave the device writing
/// into frames about to be given to someone else. Its driver
/// (the next one) starts it again from scratch, as virtio drivers do.
pub fn reset(registers: boot::boot_info::PhysicalRange) {
    let Some(found) = FOUND.get().and_then(|found| {
        found
            .iter()
            .find(|found| found.device.registers == registers)
    }) else {
        return;
    };
    // SAFETY: `mapped` maps the slot's registers (from `probe`); writing
    // 0 to Status is the reset the virtio spec defines for any device.
    unsafe { ((found.mapped + STATUS_OFFSET) as *mut u32).write_volatile(0) };
}

/// How many slots hold a device (for the boot log).
pub fn count() -> usize {
    FOUND.get().map_or(0, |found| found.len())
}
