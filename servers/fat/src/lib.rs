//! The FAT file server's file system side, which builds and is tested on
//! the host: the block cache (`cache`) and the protocol's backend over a
//! FAT volume (`volume`). `main.rs` adds the ring: the disk driver as the
//! cache's device, and `libring::file_server` for the protocol.

#![cfg_attr(not(test), no_std)]

pub mod cache;
pub mod raw;
pub mod volume;

#[cfg(test)]
mod tests;
