//! Ring plumbing: the kernel's side of each process's submission and
//! completion queues. See `docs/rings.md`.

pub mod decode;
