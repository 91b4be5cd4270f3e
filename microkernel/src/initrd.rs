//! The boot image: a cpio archive ("newc" format) that QEMU loads as the
//! initrd, made by `cargo xtask build`. The kernel finds programs in it by
//! path (`bin/<name>`).
//!
//! The archive is read with the `cpio_reader` crate. It is part of the
//! system image, built from this repository like the kernel itself, so it
//! is trusted as the kernel is; the ELF files inside are still checked like
//! any user input (`process::elf`).

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

/// The contents of the file at `path` in the initrd.
pub fn find(path: &str) -> Option<&'static [u8]> {
    cpio_reader::iter_files(archive()?)
        .find(|entry| entry.name() == path)
        .map(|entry| entry.file())
}
