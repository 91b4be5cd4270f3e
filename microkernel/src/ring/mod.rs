//! Ring plumbing: the kernel's side of each process's submission and
//! completion queues. See `docs/rings.md`.
//!
//! - [`decode`]: a copied submission becomes a typed `Operation`, or an
//!   error (pure; unit tested on the host).
//! - `shared`: the ring region as the kernel sees it: index words, copying
//!   submissions out once, posting completions, the CQ slot accounting.
//! - `engine`: `ring_enter`, accepting submissions, LINK chains, running
//!   each operation, cancellation, waiting for completions.
//! - `requests`: a ring's pending requests, in acceptance order, found by
//!   id in constant time.
//! - `timers`: `TIMEOUT` and `LINK_TIMEOUT` deadlines.
//! - `sq_poll`: the optional kernel thread that drains a ring without
//!   system calls.
//! - `forward`: requests aimed at a handle go to the server behind it;
//!   endpoints, grants, replies, server death.
//! - `faults`: injected faults (`faults` on the command line): a server's
//!   reply turned into a crash, a wrong answer or a stall.
//! - `drivers`: interrupts routed to driver servers, device registers.
//! - `processes`: building processes (the proc server's operations),
//!   `WAIT`, `KILL`, `PROCESS_LIST`, `ENDPOINT_CREATE`.
//!
//! # Invariants
//! - No completion is ever lost: a submission is accepted only when a CQ
//!   slot is reserved for its completion; a multishot operation posts an
//!   extra completion only into a slot nobody has reserved, and otherwise
//!   keeps the event until there is room.
//! - A submission is read from shared memory exactly once.
//! - Indices written by the process are clamped before use: a corrupt
//!   index never makes the kernel read or write outside the ring region or
//!   loop more than a queue's length.

pub mod decode;

#[cfg(target_os = "none")]
pub mod drivers;
#[cfg(target_os = "none")]
pub(crate) mod engine;
#[cfg(target_os = "none")]
pub mod faults;
#[cfg(target_os = "none")]
pub mod forward;
#[cfg(target_os = "none")]
pub mod processes;
#[cfg(any(target_os = "none", test))]
#[cfg_attr(
    not(target_os = "none"),
    expect(dead_code, reason = "on the host only its unit tests use it")
)]
mod requests;
#[cfg(target_os = "none")]
mod shared;
#[cfg(target_os = "none")]
mod sq_poll;
#[cfg(target_os = "none")]
mod timers;

#[cfg(target_os = "none")]
pub use engine::enter;
#[cfg(target_os = "none")]
pub use shared::{KernelRing, initial_header};
#[cfg(target_os = "none")]
pub use timers::{Timer, expire_timers};
