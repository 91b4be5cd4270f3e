//! The shell's line editor: bytes typed on a terminal in (the console in
//! raw mode), the line being edited, and what the terminal must show out.
//!
//! | keys | what they do |
//! | --- | --- |
//! | printable characters (UTF-8 too) | insert at the cursor |
//! | Backspace (DEL or ^H) | delete before the cursor |
//! | Left, Right (`ESC [ D`, `ESC [ C`), Home, End, ^A, ^E | move the cursor |
//! | Up, Down (`ESC [ A`, `ESC [ B`) | earlier and later lines from the history |
//! | Enter (CR or LF) | the line is done |
//! | ^C | the line is thrown away |
//! | ^D on an empty line | end of input |
//!
//! The output is plain VT100: a character typed at the end of the line is
//! echoed as itself; anything else redraws the line (`CR`, the prompt, the
//! line, erase to the end, cursor back).
//!
//! # Invariants
//! - `cursor <= line.len()`.
//! - The history holds at most [`HISTORY_MAX`] lines, none empty, no two
//!   in a row the same.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Lines kept for Up and Down.
pub const HISTORY_MAX: usize = 32;

/// What a byte did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing to act on yet.
    Editing,
    /// Enter: the finished line.
    Line(String),
    /// ^C: the line was thrown away.
    Interrupt,
    /// ^D on an empty line.
    EndOfInput,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// Got `ESC`.
    Started,
    /// Got `ESC [` or `ESC O`.
    Sequence,
    /// Got `ESC [ <digit>`: waiting for its `~`.
    Numbered,
}

/// One terminal's line editor.
pub struct LineEditor {
    line: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// The history line shown (`history.len()`: the line being typed).
    shown: usize,
    /// The line being typed, kept while the history is shown.
    draft: Vec<char>,
    escape: Escape,
    /// The start of a UTF-8 character.
    partial: Vec<u8>,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub fn new() -> LineEditor {
        LineEditor {
            line: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            shown: 0,
            draft: Vec::new(),
            escape: Escape::None,
            partial: Vec::new(),
        }
    }

    /// The lines entered so far, oldest first (the `history` built-in).
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The line so far.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// Where the cursor is, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Takes one typed byte; appends what the terminal must show to `out`
    /// (`prompt` is redrawn with the line when need be).
    pub fn feed(&mut self, byte: u8, prompt: &str, out: &mut Vec<u8>) -> Event {
        match self.escape {
            Escape::Started => {
                self.escape = if byte == b'[' || byte == b'O' {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return Event::Editing;
            }
            Escape::Sequence => {
                self.escape = Escape::None;
                match byte {
                    b'A' => self.show_history(self.shown.wrapping_sub(1), prompt, out),
                    b'B' => self.show_history(self.shown + 1, prompt, out),
                    b'C' => self.move_to(self.cursor + 1, prompt, out),
                    b'D' => self.move_to(self.cursor.wrapping_sub(1), prompt, out),
                    b'H' => self.move_to(0, prompt, out),
                    b'F' => self.move_to(self.line.len(), prompt, out),
                    b'0'..=b'9' => self.escape = Escape::Numbered,
                    _ => {}
                }
                return Event::Editing;
            }
            Escape::Numbered => {
                // `ESC [ 3 ~` and friends: not used; read to the end.
                if !byte.is_ascii_digit() {
                    self.escape = Escape::None;
                }
                return Event::Editing;
            }
            Escape::None => {}
        }
        match byte {
            0x1b => self.escape = Escape::Started,
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                let line = self.line();
                if !line.is_empty() && self.history.last() != Some(&line) {
                    if self.history.len() == HISTORY_MAX {
                        self.history.remove(0);
                    }
                    self.history.push(line.clone());
                }
                self.clear();
                return Event::Line(line);
            }
            0x03 => {
                out.extend_from_slice(b"^C\r\n");
                self.clear();
                return Event::Interrupt;
            }
            0x04 if self.line.is_empty() => return Event::EndOfInput,
            0x7f | 0x08 if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
                if self.cursor == self.line.len() {
                    out.extend_from_slice(b"\x08 \x08");
                } else {
                    self.redraw(prompt, out);
                }
            }
            0x01 => self.move_to(0, prompt, out),
            0x05 => self.move_to(self.line.len(), prompt, out),
            0x20..=0x7e => self.insert(byte as char, prompt, out),
            0x80..=0xff => {
                self.partial.push(byte);
                match core::str::from_utf8(&self.partial) {
                    Ok(text) => {
                        let character = text.chars().next().unwrap_or('?');
                        self.partial.clear();
                        self.insert(character, prompt, out);
                    }
                    // Four bytes and still not a character: drop them.
                    Err(_) if self.partial.len() >= 4 => self.partial.clear(),
                    Err(_) => {}
                }
            }
            _ => {} // other control characters are ignored
        }
        Event::Editing
    }

    fn clear(&mut self) {
        self.line.clear();
        self.draft.clear();
        self.cursor = 0;
        self.shown = self.history.len();
        self.partial.clear();
    }

    fn insert(&mut self, character: char, prompt: &str, out: &mut Vec<u8>) {
        self.line.insert(self.cursor, character);
        self.cursor += 1;
        if self.cursor == self.line.len() {
            let mut bytes = [0u8; 4];
            out.extend_from_slice(character.encode_utf8(&mut bytes).as_bytes());
        } else {
            self.redraw(prompt, out);
        }
    }

    /// Moves the cursor to `position` (nothing if it is outside the line).
    fn move_to(&mut self, position: usize, prompt: &str, out: &mut Vec<u8>) {
        if position <= self.line.len() && position != self.cursor {
            self.cursor = position;
            self.redraw(prompt, out);
        }
    }

    /// Shows history line `index` (`history.len()`: the draft again).
    fn show_history(&mut self, index: usize, prompt: &str, out: &mut Vec<u8>) {
        if index > self.history.len() || index == self.shown {
            return;
        }
        if self.shown == self.history.len() {
            self.draft = core::mem::take(&mut self.line);
        }
        self.line = match self.history.get(index) {
            Some(line) => line.chars().collect(),
            None => core::mem::take(&mut self.draft),
        };
        self.shown = index;
        self.cursor = self.line.len();
        self.redraw(prompt, out);
    }

    /// Draws the prompt and the line again, the cursor where it is.
    fn redraw(&self, prompt: &str, out: &mut Vec<u8>) {
        let mut text = String::new();
        text.push('\r');
        text.push_str(prompt);
        text.extend(self.line.iter());
        text.push_str("\x1b[K");
        let after = self.line.len() - self.cursor;
        if after > 0 {
            let _ = write!(text, "\x1b[{after}D");
        }
        out.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &[u8] = b"\x1b[A";
    const DOWN: &[u8] = b"\x1b[B";
    const LEFT: &[u8] = b"\x1b[D";
    const RIGHT: &[u8] = b"\x1b[C";

    /// Feeds `bytes`; returns the events other than `Editing`, and the output.
    fn type_in(editor: &mut LineEditor, bytes: &[u8]) -> (std::vec::Vec<Event>, String) {
        let mut out = std::vec::Vec::new();
        let events = bytes
            .iter()
            .map(|&byte| editor.feed(byte, "$ ", &mut out))
            .filter(|event| *event != Event::Editing)
            .collect();
        (events, String::from_utf8(out).unwrap())
    }

    #[test]
    fn typing_echoes_and_enter_gives_the_line() {
        let mut editor = LineEditor::new();
        let (events, out) = type_in(&mut editor, b"ls /\r");
        assert_eq!(events, [Event::Line("ls /".into())]);
        assert_eq!(out, "ls /\r\n");
        assert_eq!(editor.line(), "");
    }

    #[test]
    fn backspace_at_the_end_rubs_out() {
        let mut editor = LineEditor::new();
        let (events, out) = type_in(&mut editor, b"lx\x7fs\x08\x08\x7fcat\n");
        assert_eq!(events, [Event::Line("cat".into())]);
        assert!(out.starts_with("lx\x08 \x08s\x08 \x08\x08 \x08"), "{out:?}");
    }

    #[test]
    fn left_and_right_move_the_cursor_and_insert_in_the_middle() {
        let mut editor = LineEditor::new();
        let mut typed = b"eho".to_vec();
        typed.extend_from_slice(LEFT);
        typed.extend_from_slice(LEFT);
        typed.push(b'c');
        assert_eq!(type_in(&mut editor, &typed).0, []);
        assert_eq!((editor.line().as_str(), editor.cursor()), ("echo", 2));
        let (_, out) = type_in(&mut editor, RIGHT);
        assert_eq!(editor.cursor(), 3);
        assert_eq!(out, "\r$ echo\x1b[K\x1b[1D");
        // Backspace in the middle, then past the ends: nothing breaks.
        let mut more = b"\x7f".to_vec();
        for _ in 0..6 {
            more.extend_from_slice(RIGHT);
        }
        more.extend_from_slice(b" hi\r");
        assert_eq!(
            type_in(&mut editor, &more).0,
            [Event::Line("eco hi".into())]
        );
        let mut editor = LineEditor::new();
        let mut home = b"x".to_vec();
        for _ in 0..3 {
            home.extend_from_slice(LEFT);
        }
        home.extend_from_slice(b"\x01y\x05z\r");
        assert_eq!(type_in(&mut editor, &home).0, [Event::Line("yxz".into())]);
    }

    #[test]
    fn up_and_down_walk_the_history_and_keep_the_draft() {
        let mut editor = LineEditor::new();
        type_in(&mut editor, b"one\rtwo\rtwo\r\r");
        let mut keys = b"dra".to_vec();
        keys.extend_from_slice(UP);
        assert_eq!(type_in(&mut editor, &keys).0, []);
        assert_eq!(editor.line(), "two", "a repeated line is kept once");
        type_in(&mut editor, UP);
        assert_eq!(editor.line(), "one");
        type_in(&mut editor, UP);
        assert_eq!(editor.line(), "one", "nothing before the first");
        type_in(&mut editor, DOWN);
        type_in(&mut editor, DOWN);
        assert_eq!(editor.line(), "dra", "the draft comes back");
        type_in(&mut editor, DOWN);
        assert_eq!(editor.line(), "dra");
        let mut edit = UP.to_vec();
        edit.extend_from_slice(b"!\r");
        assert_eq!(type_in(&mut editor, &edit).0, [Event::Line("two!".into())]);
    }

    #[test]
    fn the_history_is_bounded() {
        let mut editor = LineEditor::new();
        for index in 0..HISTORY_MAX + 5 {
            type_in(&mut editor, format!("line {index}\r").as_bytes());
        }
        for _ in 0..HISTORY_MAX + 10 {
            type_in(&mut editor, UP);
        }
        assert_eq!(editor.line(), "line 5");
    }

    #[test]
    fn control_c_throws_the_line_away_and_control_d_ends_only_an_empty_line() {
        let mut editor = LineEditor::new();
        let (events, out) = type_in(&mut editor, b"oops\x03");
        assert_eq!(events, [Event::Interrupt]);
        assert!(out.ends_with("^C\r\n"));
        assert_eq!(editor.line(), "");
        assert_eq!(type_in(&mut editor, b"a\x04").0, []);
        assert_eq!(type_in(&mut editor, b"\x7f\x04").0, [Event::EndOfInput]);
    }

    #[test]
    fn utf8_characters_are_whole_and_unknown_escapes_are_skipped() {
        let mut editor = LineEditor::new();
        let mut typed = "é€".as_bytes().to_vec();
        typed.extend_from_slice(b"\x1b[3~\x1bxq");
        typed.extend_from_slice(LEFT);
        typed.extend_from_slice(b"\x7f\r");
        assert_eq!(type_in(&mut editor, &typed).0, [Event::Line("éq".into())]);
    }
}
