//! Formatting into a fixed buffer, sent out a line at a time.
//!
//! `print!` cannot allocate (it must work before the heap does, and in
//! the panic handler), so it formats into a [`LOG_BUFFER_SIZE`]-byte
//! buffer and hands full pieces to a *sink*, which sends each as one
//! `WRITE` to the console (or one `LOG`). The console writes each `WRITE`
//! whole, as the kernel does each `LOG`, so whatever is in one piece
//! cannot be interleaved with another process's output.
//!
//! To keep lines whole, a full buffer sends only up to its last newline
//! and keeps the unfinished line for the next piece. Only a line longer
//! than the whole buffer is split, and then never inside a character.
//!
//! # Invariants
//! - `buffer[..length]` is valid UTF-8 (whole characters only), not yet
//!   sent.
//! - `length <= LOG_BUFFER_SIZE`.

#![forbid(unsafe_code)]

use core::fmt;

/// The most bytes one `print!` piece holds.
pub const LOG_BUFFER_SIZE: usize = 512;

/// A [`fmt::Write`] that collects text and passes it to `Sink` in whole
/// lines where it can. Call [`LogWriter::flush`] when done: what is still
/// buffered is not sent otherwise.
pub struct LogWriter<Sink: FnMut(&[u8])> {
    buffer: [u8; LOG_BUFFER_SIZE],
    length: usize,
    sink: Sink,
}

impl<Sink: FnMut(&[u8])> LogWriter<Sink> {
    /// An empty writer that sends its pieces to `sink`.
    pub fn new(sink: Sink) -> LogWriter<Sink> {
        LogWriter {
            buffer: [0; LOG_BUFFER_SIZE],
            length: 0,
            sink,
        }
    }

    /// Sends everything buffered, as one piece (nothing if empty).
    pub fn flush(&mut self) {
        self.send(self.length);
    }

    /// Sends the first `count` buffered bytes as one piece and moves the
    /// rest to the front.
    fn send(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        (self.sink)(&self.buffer[..count]);
        self.buffer.copy_within(count..self.length, 0);
        self.length -= count;
    }

    /// Frees space in a buffer that has some text in it: sends every
    /// whole line, or, if there is no newline at all, everything.
    fn make_room(&mut self) {
        let lines_end = self.buffer[..self.length]
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(self.length, |newline| newline + 1);
        self.send(lines_end);
    }
}

impl<Sink: FnMut(&[u8])> fmt::Write for LogWriter<Sink> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while !rest.is_empty() {
            let room = LOG_BUFFER_SIZE - self.length;
            // As much as fits, ending on a character boundary.
            let take = if rest.len() <= room {
                rest.len()
            } else {
                rest.floor_char_boundary(room)
            };
            if take == 0 {
                // Not even the next character fits. `make_room` always
                // sends at least one byte, so this loop makes progress.
                self.make_room();
                continue;
            }
            self.buffer[self.length..self.length + take].copy_from_slice(&rest.as_bytes()[..take]);
            self.length += take;
            rest = &rest[take..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// Formats with `write` into a writer, and returns the pieces sent.
    fn pieces(write: impl FnOnce(&mut dyn Write)) -> Vec<String> {
        let mut sent = Vec::new();
        let mut writer = LogWriter::new(|piece: &[u8]| {
            sent.push(String::from_utf8(piece.to_vec()).expect("whole characters"));
        });
        write(&mut writer);
        writer.flush();
        sent
    }

    #[test]
    fn a_short_line_is_one_piece() {
        let sent = pieces(|writer| {
            let word = "more";
            writeln!(writer, "hello {} and {word}", 42).unwrap();
        });
        assert_eq!(sent, ["hello 42 and more\n"]);
    }

    #[test]
    fn nothing_written_sends_nothing() {
        assert!(pieces(|_| {}).is_empty());
    }

    #[test]
    fn a_full_buffer_sends_whole_lines_and_keeps_the_unfinished_one() {
        let line = format!("{}\n", "a".repeat(99)); // 100 bytes
        let sent = pieces(|writer| {
            for _ in 0..7 {
                writer.write_str(&line).unwrap();
            }
        });
        // 5 lines fill 500 bytes; the sixth does not fit, so the first
        // five go out together and the last two follow.
        assert_eq!(sent, [line.repeat(5), line.repeat(2)]);
        assert!(sent.iter().all(|piece| piece.len() <= LOG_BUFFER_SIZE));
    }

    #[test]
    fn a_line_longer_than_the_buffer_is_split_into_full_pieces() {
        let long = "x".repeat(LOG_BUFFER_SIZE * 2 + 10);
        let sent = pieces(|writer| writeln!(writer, "{long}").unwrap());
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].len(), LOG_BUFFER_SIZE);
        assert_eq!(sent[1].len(), LOG_BUFFER_SIZE);
        assert_eq!(sent.concat(), format!("{long}\n"));
    }

    #[test]
    fn characters_are_never_split_between_pieces() {
        // 'é' is two bytes; 511 of 'x' leaves one byte of room.
        let text = format!("{}{}", "x".repeat(LOG_BUFFER_SIZE - 1), "é".repeat(300));
        let sent = pieces(|writer| writer.write_str(&text).unwrap());
        assert_eq!(sent.concat(), text);
        assert_eq!(sent[0].len(), LOG_BUFFER_SIZE - 1);
    }
}
