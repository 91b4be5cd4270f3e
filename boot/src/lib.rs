//! Annulus boot: everything between "QEMU jumped to us" and `kernel_main`.
//!
//! - [`entry`] (target only): the arm64 Linux image header, the drop from EL2
//!   to EL1, BSS clearing, the early page tables and turning the MMU on, then
//!   the jump into the kernel in the high half.
//! - [`layout`]: the virtual address map and the MMU settings that the early
//!   boot code and the kernel's own page tables agree on.
//! - [`boot_info`]: the device tree (FDT) read into a plain [`BootInfo`]
//!   struct, so the rest of the kernel never touches the FDT.
//! - `kernel.ld`: the linker script that lays out the kernel image.
//!
//! Everything but `entry` builds on the host, so it is unit tested there.

#![cfg_attr(not(test), no_std)]

pub mod boot_info;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod entry;
pub mod layout;

pub use boot_info::BootInfo;
