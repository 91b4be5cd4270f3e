//! The console server's pure parts: what typing and printing at a
//! terminal mean, with no hardware and no ring, so they are unit tested on
//! the host (`cargo test -p console`). The program itself, which drives
//! the UART and answers requests, is `main.rs`.
//!
//! - [`line_discipline`]: echo, line editing, Ctrl-C and Ctrl-D, raw mode.
//! - [`terminal`]: the line discipline plus the `READ`s waiting for it.
//! - [`control`]: the console's `CONTROL` requests, for clients.
//! - [`for_terminal`]: `\n` becomes `\r\n` on the way out.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod line_discipline;
pub mod terminal;

/// The console's `CONTROL` requests: `ops::control(console, [word, 0, 0])`.
pub mod control {
    /// Lines, edited and echoed (the default).
    pub const COOKED: u64 = 0;
    /// Every byte as it is typed, not echoed.
    pub const RAW: u64 = 1;
    /// Held until Ctrl-C is typed in cooked mode, then answered with 0:
    /// that Ctrl-C goes to no reader (the line and the input typed ahead
    /// are thrown away). How a shell hears that the user wants the
    /// foreground job stopped. One process's at a time (`EBUSY` for
    /// another's); a new one from the same process replaces the old.
    pub const INTERRUPT_WAIT: u64 = 2;
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
