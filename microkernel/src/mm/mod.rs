//! Memory management: page tables, physical frames, the kernel heap.
//!
//! See `docs/memory.md`. The pure parts (descriptors, table building, the
//! frame allocator, the heap's size classes, the kernel's layout) are unit
//! tested on the host; `setup` and `kernel_heap` glue them to the machine.

pub mod descriptor;
pub mod frame_allocator;

pub mod kernel_map;
pub mod page_table;

#[cfg(target_os = "none")]
pub mod kernel_heap;
#[cfg(target_os = "none")]
pub mod setup;
#[cfg(target_os = "none")]
pub mod stacks;

#[cfg(target_os = "none")]
pub use setup::{free_frames, map_device, with_frames};
