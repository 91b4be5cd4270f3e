//! The boot image: a cpio archive (the "odc", portable ASCII, format) that
//! QEMU loads as the initrd, made by `cargo xtask build`. The kernel finds
//! programs in it by path (`bin/<name>`).
//!
//! The archive is read with the `cpio_reader` crate. It is part of the
//! system image, built from this repository like the kernel itself, so it
//! is trusted as the kernel is; the ELF files inside are still checked like
//! any user input (`process::elf`).

use alloc::vec::Vec;
use boot::layout::physical_to_virtual;

/// The initrd's bytes, if QEMU loaded one.
fn archive() -> Option<&'static [u8]> {
    let range = crate::boot_info()?.initrd?;
    // SAFETY: the initrd is RAM reserved from the frame allocator (never
    // reused), mapped in the linear map, and never written.
    Some(unsafe {
        core::slice::from_raw_parts(
            physical_to_virtual(range.start) as *const u8,
            range.size as usize,
        )
    })
}

/// Every file in the initrd, by path, read once, at the first lookup.
///
/// The archive is in the odc format because `cpio_reader` sums every byte of
/// a newc entry it reads (for newc's CRC variant, used or not): walking a
/// newc initrd cost about a million instructions. Reading odc costs only
/// the headers; the index still saves a walk per program started.
static INDEX: spin::Once<Vec<(&'static str, &'static [u8])>> = spin::Once::new();

/// The contents of the file at `path` in the initrd.
pub fn find(path: &str) -> Option<&'static [u8]> {
    let index = INDEX.call_once(|| {
        archive().map_or_else(Vec::new, |archive| {
            cpio_reader::iter_files(archive)
                .map(|entry| (entry.name(), entry.file()))
                .collect()
        })
    });
    index
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, file)| *file)
}
