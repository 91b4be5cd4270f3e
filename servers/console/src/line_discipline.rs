//! The line discipline: what typing at the console means.
//!
//! Bytes typed at the terminal come in one at a time ([`LineDiscipline::input`]);
//! what a `READ` gets comes out ([`LineDiscipline::peek`], then
//! [`LineDiscipline::consume`]). In between, two modes:
//!
//! - **Cooked** (the default), as a Unix terminal in canonical mode: typed
//!   characters are echoed and collected into a line that can be edited;
//!   a `READ` gets whole lines only.
//!
//!   | key | what happens |
//!   | --- | --- |
//!   | a character | added to the line, echoed |
//!   | Backspace or DEL | erases the last character, echoed as `"\x08 \x08"` |
//!   | Enter (`\r` or `\n`) | ends the line; the reader gets it with a `\n` |
//!   | Ctrl-C | throws the line (and any typed-ahead lines) away; the next `READ` fails with `-EINTR` |
//!   | Ctrl-D, line empty | end of file: the next `READ` gets 0 bytes |
//!   | Ctrl-D, line not empty | ends the line without a `\n` |
//!   | other control keys | kept in the line (an arrow key's escape sequence typed ahead reaches a shell that reads it later), shown as `^X` |
//!
//! - **Raw**: every byte is for the reader as soon as it is typed, with no
//!   echo and no editing; Ctrl-C and Ctrl-D are bytes like the others.
//!
//! A `READ` asking for fewer bytes than a line holds gets the start of it,
//! and the next `READ` the rest. Input nobody has read yet is kept, up to
//! [`INPUT_CAPACITY`] entries (4,096: a long pasted line fits); typing
//! beyond that is refused, and the terminal's bell rings for each byte
//! refused, in either mode.
//!
//! Pure: no hardware, no ring. It is unit tested on the host.
//!
//! # Invariants
//! - `entries[..committed]` is input ready for readers; `entries[committed..]`
//!   is the line being edited (empty in raw mode). The edited line holds
//!   only `Entry::Byte`s, and never a `\n`.
//! - While a line is being edited there is room for one more entry, so
//!   Enter or Ctrl-D can always end it.

#![forbid(unsafe_code)]

use heapless::Deque;

/// How many entries (bytes, and the markers below) of input are kept.
pub const INPUT_CAPACITY: usize = 4096;

const CONTROL_C: u8 = 0x03;
const CONTROL_D: u8 = 0x04;
const BACKSPACE: u8 = 0x08;
const TAB: u8 = 0x09;
const DELETE: u8 = 0x7f;
const BELL: u8 = 0x07;

/// How typed input reaches readers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Edited lines, echoed (the default).
    #[default]
    Cooked,
    /// Each byte as it comes, not echoed.
    Raw,
}

/// One unit of kept input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// A typed byte.
    Byte(u8),
    /// Ctrl-D ended a line without a newline: a `READ` stops here.
    EndOfLine,
    /// Ctrl-D on an empty line: one `READ` gets 0 bytes.
    EndOfFile,
    /// Ctrl-C: one `READ` fails with `-EINTR`.
    Interrupt,
}

/// The most bytes one typed byte's echo takes: erasing a `^X`.
const ECHO_MAX: usize = 8;

/// What the terminal should show for one typed byte: at most
/// [`ECHO_MAX`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    bytes: [u8; ECHO_MAX],
    length: usize,
}

impl Echo {
    const NOTHING: Echo = Echo {
        bytes: [0; ECHO_MAX],
        length: 0,
    };

    /// Echo `bytes` (at most [`ECHO_MAX`] of them).
    const fn of(bytes: &[u8]) -> Echo {
        let mut echo = Echo::NOTHING;
        while echo.length < bytes.len() && echo.length < ECHO_MAX {
            echo.bytes[echo.length] = bytes[echo.length];
            echo.length += 1;
        }
        echo
    }

    /// The bytes to send to the terminal (`\n` still to be made `\r\n`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

/// What a `READ` gets, from [`LineDiscipline::peek`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This many bytes, put at the start of the caller's buffer.
    Bytes(usize),
    /// End of file: the reader gets 0.
    EndOfFile,
    /// Ctrl-C: the reader gets `-EINTR`.
    Interrupted,
}

/// One `READ`'s worth of input: what it gets, and how much input that
/// uses up. Hand it back to [`LineDiscipline::consume`] once delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// What the reader gets.
    pub outcome: Outcome,
    /// Entries it uses up.
    entries: usize,
}

/// The console's input: the line being edited, and input waiting for a
/// reader.
#[derive(Debug, Default)]
pub struct LineDiscipline {
    entries: Deque<Entry, INPUT_CAPACITY>,
    /// How many entries, from the front, are ready for readers.
    committed: usize,
    mode: Mode,
    /// The last byte was `\r`: a `\n` right after it is the same Enter.
    after_carriage_return: bool,
}

impl LineDiscipline {
    /// Nothing typed yet, in cooked mode.
    pub fn new() -> LineDiscipline {
        LineDiscipline::default()
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switches to `mode`. Whatever was typed so far becomes ready for
    /// readers as it is: a half-edited line is not lost.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.committed = self.entries.len();
    }

    /// In raw mode: takes every byte typed and not yet read, in order
    /// (to be typed again in cooked mode: `Terminal::control`).
    pub fn take_raw_bytes(&mut self) -> heapless::Vec<u8, INPUT_CAPACITY> {
        let mut bytes = heapless::Vec::new();
        if self.mode == Mode::Raw {
            for entry in self.entries.iter() {
                if let Entry::Byte(byte) = entry {
                    let _ = bytes.push(*byte);
                }
            }
            self.entries.clear();
            self.committed = 0;
        }
        bytes
    }

    /// Whether a `READ` would get something now.
    pub fn ready(&self) -> bool {
        self.committed > 0
    }

    /// Takes one typed byte; returns what to echo.
    pub fn input(&mut self, byte: u8) -> Echo {
        match self.mode {
            Mode::Raw => {
                // A full buffer: nobody is reading. The byte is refused,
                // and the terminal's bell says so.
                if self.entries.push_back(Entry::Byte(byte)).is_err() {
                    return Echo::of(&[BELL]);
                }
                self.committed = self.entries.len();
                Echo::NOTHING
            }
            Mode::Cooked => {
                let after_carriage_return = self.after_carriage_return;
                self.after_carriage_return = byte == b'\r';
                match byte {
                    b'\n' if after_carriage_return => Echo::NOTHING,
                    b'\r' | b'\n' => self.end_line(Some(Entry::Byte(b'\n')), b"\n"),
                    BACKSPACE | DELETE => self.erase(),
                    CONTROL_C => self.interrupt(),
                    CONTROL_D if self.editing() => self.end_line(Some(Entry::EndOfLine), b""),
                    CONTROL_D => self.end_line(Some(Entry::EndOfFile), b""),
                    TAB | b' '..=b'~' | 0x80..=0xff => self.add(byte),
                    _ => self.add(byte),
                }
            }
        }
    }

    /// What a `READ` of `buffer.len()` bytes would get now, with its bytes
    /// copied to the start of `buffer`; `None` if there is nothing ready
    /// (the reader waits). Nothing is used up until [`Self::consume`].
    ///
    /// A reader gets the input in order: an end of file or an interrupt
    /// on its own; otherwise bytes, up to the end of a line (its `\n`
    /// included, in cooked mode), or as many as `buffer` holds. A `READ` of
    /// 0 bytes gets 0 bytes at once, and uses nothing up.
    pub fn peek(&self, buffer: &mut [u8]) -> Option<Delivery> {
        if buffer.is_empty() {
            return Some(Delivery {
                outcome: Outcome::Bytes(0),
                entries: 0,
            });
        }
        let mut ready = self.entries.iter().take(self.committed).peekable();
        let mut entries = 0;
        let single = |outcome| {
            Some(Delivery {
                outcome,
                entries: 1,
            })
        };
        match ready.peek()? {
            Entry::EndOfFile => return single(Outcome::EndOfFile),
            Entry::Interrupt => return single(Outcome::Interrupted),
            Entry::Byte(_) | Entry::EndOfLine => {}
        }
        let mut count = 0;
        for &entry in ready {
            match entry {
                Entry::Byte(byte) => {
                    let Some(place) = buffer.get_mut(count) else {
                        break; // the buffer is full
                    };
                    *place = byte;
                    count += 1;
                    entries += 1;
                    if byte == b'\n' && self.mode == Mode::Cooked {
                        break;
                    }
                }
                // Ends the line (after a full buffer too, so the next
                // reader does not start with it).
                Entry::EndOfLine => {
                    entries += 1;
                    if count > 0 {
                        break;
                    }
                }
                Entry::EndOfFile | Entry::Interrupt => break, // the next reader's
            }
        }
        if count == 0 {
            return None; // only an empty line's end so far: nothing to give
        }
        Some(Delivery {
            outcome: Outcome::Bytes(count),
            entries,
        })
    }

    /// Uses up the input `delivery` (from [`Self::peek`], with nothing
    /// typed or consumed since) gave a reader.
    pub fn consume(&mut self, delivery: Delivery) {
        let entries = delivery.entries.min(self.committed);
        for _ in 0..entries {
            self.entries.pop_front();
        }
        self.committed -= entries;
    }

    /// Whether a line is being edited (cooked mode, something typed).
    fn editing(&self) -> bool {
        self.entries.len() > self.committed
    }

    /// Adds a typed byte to the line, keeping room to end it.
    fn add(&mut self, byte: u8) -> Echo {
        if self.entries.len() + 2 > INPUT_CAPACITY {
            return Echo::of(&[BELL]);
        }
        let _ = self.entries.push_back(Entry::Byte(byte));
        if byte < b' ' && byte != TAB {
            // A control byte, shown in caret notation (ESC as ^[).
            return Echo::of(&[b'^', byte + b'@']);
        }
        Echo::of(&[byte])
    }

    /// Ends the line being edited with `end` (if there is room for it: the
    /// room is kept while a line is edited, but an empty line may find a
    /// full buffer), making it ready for readers.
    fn end_line(&mut self, end: Option<Entry>, echo: &[u8]) -> Echo {
        if let Some(end) = end
            && self.entries.push_back(end).is_err()
        {
            return Echo::of(&[BELL]);
        }
        self.committed = self.entries.len();
        Echo::of(echo)
    }

    /// Backspace: erases the last character of the line (all the bytes of
    /// a UTF-8 character), if there is one, and as many columns as it took
    /// on the screen: two for a control byte shown as `^X`.
    fn erase(&mut self) -> Echo {
        if !self.editing() {
            return Echo::NOTHING;
        }
        // Continuation bytes (10xxxxxx) first, then the character's first.
        let mut first = 0;
        while self.editing() {
            let Some(Entry::Byte(byte)) = self.entries.pop_back() else {
                break; // never: the edited line holds bytes only
            };
            first = byte;
            if byte & 0xc0 != 0x80 {
                break;
            }
        }
        if first < b' ' && first != TAB {
            Echo::of(b"\x08\x08  \x08\x08")
        } else {
            Echo::of(b"\x08 \x08")
        }
    }

    /// Ctrl-C taken by someone waiting for it (a shell): the line and the
    /// input typed ahead are thrown away, and no reader is told.
    pub fn interrupt_quietly(&mut self) -> Echo {
        self.entries.clear();
        self.committed = 0;
        self.after_carriage_return = false;
        Echo::of(b"^C\n")
    }

    /// Ctrl-C: throws away the line and everything not yet read, and
    /// leaves one interrupt for the next reader.
    fn interrupt(&mut self) -> Echo {
        self.entries.clear();
        let _ = self.entries.push_back(Entry::Interrupt);
        self.committed = 1;
        Echo::of(b"^C\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types `keys`, and returns everything echoed.
    fn type_keys(discipline: &mut LineDiscipline, keys: &[u8]) -> Vec<u8> {
        keys.iter()
            .flat_map(|&key| discipline.input(key).as_bytes().to_vec())
            .collect()
    }

    /// What one `READ` of `length` bytes gets, used up.
    fn read(discipline: &mut LineDiscipline, length: usize) -> Option<Result<Vec<u8>, Outcome>> {
        let mut buffer = vec![0; length];
        let delivery = discipline.peek(&mut buffer)?;
        discipline.consume(delivery);
        Some(match delivery.outcome {
            Outcome::Bytes(count) => Ok(buffer[..count].to_vec()),
            other => Err(other),
        })
    }

    fn line(text: &[u8]) -> Option<Result<Vec<u8>, Outcome>> {
        Some(Ok(text.to_vec()))
    }

    #[test]
    fn typed_characters_are_echoed_and_held_until_enter() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(type_keys(&mut discipline, b"ls -l"), b"ls -l");
        assert!(!discipline.ready());
        assert_eq!(read(&mut discipline, 64), None, "no line yet");
        assert_eq!(type_keys(&mut discipline, b"\r"), b"\n");
        assert!(discipline.ready());
        assert_eq!(read(&mut discipline, 64), line(b"ls -l\n"));
        assert!(!discipline.ready());
    }

    #[test]
    fn enter_is_carriage_return_or_newline_but_not_both() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"a\rb\nc\r\nd\n\re\r\r");
        for expected in [&b"a\n"[..], b"b\n", b"c\n", b"d\n", b"\n", b"e\n", b"\n"] {
            assert_eq!(read(&mut discipline, 64), line(expected));
        }
        assert_eq!(read(&mut discipline, 64), None);
    }

    #[test]
    fn backspace_and_delete_erase_the_last_character() {
        let mut discipline = LineDiscipline::new();
        let echo = type_keys(&mut discipline, b"cax\x08t\x7f\x7fat");
        assert_eq!(echo, b"cax\x08 \x08t\x08 \x08\x08 \x08at");
        type_keys(&mut discipline, b"\n");
        assert_eq!(read(&mut discipline, 64), line(b"cat\n"));
    }

    #[test]
    fn backspace_on_an_empty_line_does_nothing_and_never_reaches_the_line_before() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(type_keys(&mut discipline, b"\x08"), b"");
        type_keys(&mut discipline, b"one\n");
        assert_eq!(type_keys(&mut discipline, b"\x08\x08"), b"");
        assert_eq!(read(&mut discipline, 64), line(b"one\n"));
    }

    #[test]
    fn backspace_erases_a_whole_utf8_character() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, "né".as_bytes());
        assert_eq!(type_keys(&mut discipline, b"\x08"), b"\x08 \x08");
        type_keys(&mut discipline, b"o\n");
        assert_eq!(read(&mut discipline, 64), line(b"no\n"));
    }

    #[test]
    fn a_full_buffer_in_raw_mode_rings_the_bell_for_each_byte_refused() {
        let mut discipline = LineDiscipline::new();
        discipline.set_mode(Mode::Raw);
        let echo = type_keys(&mut discipline, &[b'r'; INPUT_CAPACITY + 3]);
        assert_eq!(echo, [BELL; 3]);
        assert_eq!(
            read(&mut discipline, 2 * INPUT_CAPACITY),
            line(&[b'r'; INPUT_CAPACITY])
        );
    }

    #[test]
    fn backspace_over_a_control_key_erases_both_columns_of_its_caret() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(type_keys(&mut discipline, b"a\x01"), b"a^A");
        assert_eq!(type_keys(&mut discipline, b"\x7f"), b"\x08\x08  \x08\x08");
        assert_eq!(type_keys(&mut discipline, b"\x7f"), b"\x08 \x08");
    }

    #[test]
    fn other_control_keys_are_kept_and_shown_in_caret_notation() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(
            type_keys(&mut discipline, b"a\x01\x1b[A\x00b\tc\n"),
            b"a^A^[[A^@b\tc\n"
        );
        assert_eq!(read(&mut discipline, 64), line(b"a\x01\x1b[A\x00b\tc\n"));
    }

    #[test]
    fn control_c_interrupts_and_throws_the_line_away() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"typed ahead\nhalf a li");
        assert_eq!(type_keys(&mut discipline, b"\x03"), b"^C\n");
        assert_eq!(read(&mut discipline, 64), Some(Err(Outcome::Interrupted)));
        assert_eq!(read(&mut discipline, 64), None, "nothing else is left");
        type_keys(&mut discipline, b"\x03\x03");
        assert_eq!(read(&mut discipline, 64), Some(Err(Outcome::Interrupted)));
        assert_eq!(read(&mut discipline, 64), None, "one interrupt, not two");
    }

    #[test]
    fn control_d_on_an_empty_line_is_end_of_file() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(type_keys(&mut discipline, b"\x04"), b"");
        assert_eq!(read(&mut discipline, 64), Some(Err(Outcome::EndOfFile)));
        assert_eq!(read(&mut discipline, 64), None, "end of file is read once");
    }

    #[test]
    fn control_d_after_text_ends_the_line_without_a_newline() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"abc\x04def\x04\x04");
        assert_eq!(read(&mut discipline, 64), line(b"abc"));
        assert_eq!(read(&mut discipline, 64), line(b"def"));
        assert_eq!(read(&mut discipline, 64), Some(Err(Outcome::EndOfFile)));
    }

    #[test]
    fn a_short_read_gets_the_start_of_the_line_and_the_next_the_rest() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"hello\nabc\x04\x04");
        assert_eq!(read(&mut discipline, 4), line(b"hell"));
        assert_eq!(read(&mut discipline, 4), line(b"o\n"));
        assert_eq!(read(&mut discipline, 3), line(b"abc"));
        assert_eq!(
            read(&mut discipline, 3),
            Some(Err(Outcome::EndOfFile)),
            "the line's end went with its last byte"
        );
    }

    #[test]
    fn a_read_of_nothing_gets_nothing_at_once() {
        let mut discipline = LineDiscipline::new();
        assert_eq!(read(&mut discipline, 0), line(b""));
        type_keys(&mut discipline, b"x\n");
        assert_eq!(read(&mut discipline, 0), line(b""));
        assert_eq!(read(&mut discipline, 8), line(b"x\n"), "nothing used up");
    }

    #[test]
    fn peek_uses_nothing_up() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"same\n");
        let mut buffer = [0; 16];
        let first = discipline.peek(&mut buffer);
        assert_eq!(discipline.peek(&mut buffer), first);
        assert_eq!(read(&mut discipline, 16), line(b"same\n"));
    }

    #[test]
    fn raw_mode_delivers_every_byte_at_once_without_echo() {
        let mut discipline = LineDiscipline::new();
        discipline.set_mode(Mode::Raw);
        assert_eq!(discipline.mode(), Mode::Raw);
        assert_eq!(type_keys(&mut discipline, b"a\x03\x04\x08\r\n"), b"");
        assert!(discipline.ready());
        assert_eq!(read(&mut discipline, 2), line(b"a\x03"));
        assert_eq!(read(&mut discipline, 64), line(b"\x04\x08\r\n"));
        assert_eq!(read(&mut discipline, 64), None);
    }

    #[test]
    fn switching_mode_keeps_what_was_typed() {
        let mut discipline = LineDiscipline::new();
        type_keys(&mut discipline, b"half");
        discipline.set_mode(Mode::Raw);
        assert_eq!(read(&mut discipline, 64), line(b"half"));
        type_keys(&mut discipline, b"xy");
        discipline.set_mode(Mode::Cooked);
        type_keys(&mut discipline, b"\x08z\n");
        assert_eq!(
            read(&mut discipline, 64),
            line(b"xyz\n"),
            "raw input cannot be erased, but it is read with the next line"
        );
    }

    #[test]
    fn input_beyond_the_capacity_rings_the_bell_and_a_line_can_still_end() {
        let mut discipline = LineDiscipline::new();
        let echo = type_keys(&mut discipline, &[b'a'; INPUT_CAPACITY + 5]);
        assert_eq!(echo.len(), INPUT_CAPACITY + 5);
        assert!(echo.ends_with(&[BELL; 6]));
        type_keys(&mut discipline, b"\n");
        let expected = [&[b'a'; INPUT_CAPACITY - 1][..], b"\n"].concat();
        assert_eq!(read(&mut discipline, 2 * INPUT_CAPACITY), line(&expected));
    }

    #[test]
    fn a_full_buffer_refuses_even_an_empty_line() {
        let mut discipline = LineDiscipline::new();
        for _ in 0..INPUT_CAPACITY / 2 {
            type_keys(&mut discipline, b"a\n");
        }
        assert_eq!(type_keys(&mut discipline, b"b"), [BELL]);
        assert_eq!(type_keys(&mut discipline, b"\n"), [BELL]);
        assert_eq!(type_keys(&mut discipline, b"\x04"), [BELL]);
        assert_eq!(read(&mut discipline, 64), line(b"a\n"));
        assert_eq!(type_keys(&mut discipline, b"\n"), b"\n", "room again");
    }

    #[test]
    fn raw_input_beyond_the_capacity_is_dropped() {
        let mut discipline = LineDiscipline::new();
        discipline.set_mode(Mode::Raw);
        type_keys(&mut discipline, &[b'r'; INPUT_CAPACITY + 1]);
        let all = read(&mut discipline, 2 * INPUT_CAPACITY).unwrap().unwrap();
        assert_eq!(all.len(), INPUT_CAPACITY);
    }
}
