//! The boot image (the initrd: a cpio archive of programs and files), for
//! a process holding a boot-image handle (ramfs seeds its tree from it;
//! init reads the system manifest and the servers' programs from it).

use crate::abi::{Errno, MAP_BASE};
use crate::ops;

/// Where [`map`] puts the boot image: far above the heap, which grows up
/// from `MAP_BASE`.
pub const BOOT_IMAGE_ADDRESS: u64 = MAP_BASE + (1 << 33);

/// Maps the boot image behind `handle` read only (`MAP_DEVICE`) at
/// [`BOOT_IMAGE_ADDRESS`] and returns its bytes. Call it once: a second
/// mapping there fails with `EEXIST`.
pub fn map(handle: u32) -> Result<&'static [u8], Errno> {
    let size = super::with_ring(|ring| ring.run(ops::map_device(handle, BOOT_IMAGE_ADDRESS)))?;
    // SAFETY: the kernel has just mapped the whole image there, `size`
    // bytes, read only and for good (nothing in the runtime unmaps it, and
    // the map area above the heap is not the allocator's); it never
    // changes.
    Ok(unsafe { core::slice::from_raw_parts(BOOT_IMAGE_ADDRESS as *const u8, size as usize) })
}
