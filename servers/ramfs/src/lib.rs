//! ramfs: the file system server's parts that need no machine (see
//! `main.rs` for the server, `docs/fs.md` for the protocol).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod tree;
