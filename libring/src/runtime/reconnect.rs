//! Reconnecting: a new client handle for a role whose server was
//! restarted.
//!
//! When a server ends, every client handle to it is dead for good: a
//! request through one completes with `ESRVDEAD` (the kernel never sends
//! it to the server init starts in its place, which serves a new
//! endpoint). A process that was given a *names handle* (the service
//! `names`; `session` or `supervise` for programs the proc server starts:
//! init mints them, `docs/supervision.md`) asks init for a handle to the
//! role's current server:
//!
//! ```text
//!   client                         init (names)                 new fs server
//!   READ fs_handle ──► ESRVDEAD
//!   OPEN names, "fs" ──────────►   may this badge use fs? MINT
//!   ◄──────────────────────────── REPLY, a new client handle
//!   READ new_handle ──────────────────────────────────────────► served
//! ```
//!
//! The new handle replaces the old one everywhere the runtime keeps it
//! ([`super::file_system`], [`super::stdout`], [`super::service`], ...),
//! and the old one is closed. What the old server held for the process
//! (open files, a console mode) is not carried over: the caller opens
//! again what it needs.
//!
//! # Invariants
//! - A handle is renewed at most once per death of its server: asked to
//!   reconnect a handle already replaced, and still the role's, [`reconnect`]
//!   returns the replacement without asking init again.

use super::start::{file_system, processes, renew, renewed, service, with_ring};
use crate::abi::Errno;
use crate::ops;
use crate::ring::{Kernel, Ring};

/// What [`with_service`] does after reconnecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Runs the action again, once, with the new handle.
    Once,
    /// Returns `ESRVDEAD`: the caller decides (the new handle is in place
    /// for its next request).
    Never,
}

/// The handle this process holds for `role`: the named service, or for
/// `fs` and `proc` the startup block's file system and proc server.
pub fn role_handle(role: &str) -> Option<u32> {
    service(role).or(match role {
        "fs" => file_system(),
        "proc" => processes(),
        _ => None,
    })
}

/// Replaces `old`, a handle to `role` whose server has ended, with a new
/// client handle to the role's current server; returns it. `EPERM` if
/// this process has no names handle, or its names handle does not cover
/// `role`; `ESRVDEAD` if init has given the role up; `ENOENT` if there is
/// no such role.
pub fn reconnect(role: &str, old: u32) -> Result<u32, Errno> {
    with_ring(|ring| reconnect_in(ring, role, old))
}

/// [`reconnect`] with the ring in hand (for the runtime's own printing).
pub(super) fn reconnect_in<K: Kernel>(
    ring: &mut Ring<K>,
    role: &str,
    old: u32,
) -> Result<u32, Errno> {
    let current = renewed(old);
    if current != old && role_handle(role) == Some(current) {
        // Already replaced (by an earlier caller holding a copy).
        return Ok(current);
    }
    let names = service("names")
        .or_else(|| service("session"))
        .or_else(|| service("supervise"))
        .ok_or(Errno::NotPermitted)?;
    let new = ring.run(ops::open(names, role.as_bytes(), 0))? as u32;
    if !renew(old, new) {
        let _ = ring.run(ops::close(new));
        return Err(Errno::OutOfMemory);
    }
    let _ = ring.run(ops::close(old));
    Ok(new)
}

/// Runs `action` with this process's handle to `role`; if it fails with
/// `ESRVDEAD` (the server was restarted), reconnects once and then does
/// what `retry` says. Any other result is returned as it is.
///
/// ```ignore
/// let read = with_service("fs", Retry::Once, |fs| read_file(fs, "/etc/motd"))?;
/// ```
///
/// Retry only what is safe to do twice: a request the old server may
/// have carried out before it died (a `WRITE` at an offset, a `RENAME`)
/// is, if the new server sees the same state, but a counter or an append
/// is not.
pub fn with_service<T>(
    role: &str,
    retry: Retry,
    mut action: impl FnMut(u32) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let handle = role_handle(role).ok_or(Errno::BadHandle)?;
    match action(handle) {
        Err(Errno::ServerDead) => {
            let new = reconnect(role, handle)?;
            match retry {
                Retry::Once => action(new),
                Retry::Never => Err(Errno::ServerDead),
            }
        }
        other => other,
    }
}
