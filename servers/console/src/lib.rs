//! The console server's pure parts: what typing and printing at a
//! terminal mean, with no hardware and no ring, so they are unit tested on
//! the host (`cargo test -p console`). The program itself, which drives
//! the UART and answers requests, is `main.rs`.
//!
//! - [`line_discipline`]: echo, line editing, Ctrl-C and Ctrl-D, raw mode.
//! - [`terminal`]: the line discipline plus the `READ`s waiting for it.
//! - [`control`]: the console's `CONTROL` requests, for clients.
//! - [`access`]: what each kind of console handle may do.
//! - [`for_terminal`]: `\n` becomes `\r\n` on the way out.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod line_discipline;
pub mod terminal;

/// The console's `CONTROL` requests: `ops::control(console, [word, 0, 0])`
/// (the protocol is libring's, for clients).
pub use libring::console as control;

/// Console handles and their rights. A handle's badge says what it is:
///
/// | badge | handle | may |
/// | --- | --- | --- |
/// | below 2^63 (whatever init or the kernel gave it) | a *terminal* handle: the ones the system gives (its servers, its shell) | everything: `READ`, `WRITE`, every `CONTROL` |
/// | 2^63 + generation | a reader, from `CONTROL [READER]` | `READ` while its generation is the console's, and `WRITE` |
/// | 2^63 + 2^62 | a writer, from `CONTROL [WRITER]` | `WRITE` |
///
/// So a program the shell starts can print and read what is typed for it,
/// but cannot switch the console's mode, take the Ctrl-C that is the
/// shell's, make handles, or go on reading the keyboard once the shell has
/// taken it back (a program it left running in the background, say).
pub mod access {
    use libring::abi::{Errno, Opcode};

    /// Set in the badge of every handle the console makes for a job.
    const JOB: u64 = 1 << 63;
    /// Set, with `JOB`, in a writer's badge.
    const WRITES_ONLY: u64 = 1 << 62;
    /// A reader's generation: the badge's other bits.
    const GENERATION: u64 = WRITES_ONLY - 1;

    /// The badge of every writer handle.
    pub const WRITER: u64 = JOB | WRITES_ONLY;

    /// The badge of a reader handle of `generation` (modulo 2^62).
    pub const fn reader(generation: u64) -> u64 {
        JOB | (generation & GENERATION)
    }

    /// Whether a request `opcode` through a handle of `badge` is allowed
    /// while the console's reader generation is `generation`: `Ok`, or
    /// the error to answer it with (`EPERM`).
    pub fn check(badge: u64, opcode: Opcode, generation: u64) -> Result<(), Errno> {
        let is_reader = badge & (JOB | WRITES_ONLY) == JOB;
        let allowed = match opcode {
            _ if badge & JOB == 0 => true,
            Opcode::Write => badge == WRITER || is_reader,
            Opcode::Read => badge == reader(generation),
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Errno::NotPermitted)
        }
    }

    /// Whether a `READ` through `badge`, waiting, is still allowed at
    /// `generation` (after a [`super::control::RECLAIM`]).
    pub fn may_read(badge: u64, generation: u64) -> bool {
        check(badge, Opcode::Read, generation).is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_system_s_handles_may_do_everything_whatever_their_badge() {
            for badge in [0, 5, (1 << 63) - 1] {
                for opcode in [Opcode::Read, Opcode::Write, Opcode::Control] {
                    assert_eq!(check(badge, opcode, 7), Ok(()));
                }
            }
        }

        #[test]
        fn a_writer_only_writes() {
            assert_eq!(check(WRITER, Opcode::Write, 0), Ok(()));
            assert_eq!(check(WRITER, Opcode::Read, 0), Err(Errno::NotPermitted));
            assert_eq!(check(WRITER, Opcode::Control, 0), Err(Errno::NotPermitted));
        }

        #[test]
        fn a_reader_reads_until_reclaimed_and_never_controls() {
            let badge = reader(3);
            assert_eq!(check(badge, Opcode::Read, 3), Ok(()));
            assert_eq!(check(badge, Opcode::Write, 3), Ok(()));
            assert_eq!(check(badge, Opcode::Control, 3), Err(Errno::NotPermitted));
            // Reclaimed: it may still print, never read.
            assert_eq!(check(badge, Opcode::Read, 4), Err(Errno::NotPermitted));
            assert_eq!(check(badge, Opcode::Write, 4), Ok(()));
            assert!(!may_read(badge, 4));
            assert!(may_read(12, 4));
            // Generations wrap within the badge, never into the writer's.
            assert_eq!(check(reader(1 << 62), Opcode::Read, 0), Ok(()));
        }

        #[test]
        fn job_badges_the_console_never_makes_may_do_nothing() {
            for badge in [WRITER + 1, u64::MAX] {
                for opcode in [Opcode::Read, Opcode::Write, Opcode::Control] {
                    assert_eq!(check(badge, opcode, 1), Err(Errno::NotPermitted));
                }
            }
        }
    }
}

/// Calls `send` with each byte of `bytes` as a terminal wants it: a
/// terminal moves to the next line on `\r\n`, where programs write `\n`.
pub fn for_terminal(bytes: &[u8], mut send: impl FnMut(u8)) {
    for &byte in bytes {
        if byte == b'\n' {
            send(b'\r');
        }
        send(byte);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_become_carriage_return_newline_and_nothing_else_changes() {
        let mut sent = Vec::new();
        for_terminal(b"one\ntwo\r\n\x08 \x08", |byte| sent.push(byte));
        assert_eq!(sent, b"one\r\ntwo\r\r\n\x08 \x08");
    }
}
