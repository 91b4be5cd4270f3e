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

/// The slots that hold a device, with its device ID, in the tree's order.
static FOUND: spin::Once<heapless::Vec<(Device, u32), MAX_VIRTIO_SLOTS>> = spin::Once::new();

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
                let _ = found.push((*slot, device_id));
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
        .find(|(_, id)| *id == kind)
        .map(|(device, _)| *device)
}

/// How many slots hold a device (for the boot log).
pub fn count() -> usize {
    FOUND.get().map_or(0, |found| found.len())
}
