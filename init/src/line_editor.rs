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
//! | ^U | deletes from the start of the line to the cursor |
//! | ^W | deletes the word before the cursor (and the spaces after it) |
//! | ^L | clears the screen and draws the line again at the top |
//! | Tab | [`Event::Complete`]: the shell finds what the word before the cursor may become, and gives it back to [`LineEditor::complete`] |
//!
//! The output is plain VT100: a character typed at the end of the line is
//! echoed as itself; anything else redraws the line. A line longer than the
//! terminal is wide ([`LineEditor::set_width`], 80 columns unless told)
//! takes several rows: the editor keeps the row its cursor is on, so a
//! redraw goes up to the line's first row, writes the prompt and the line,
//! erases the rest of the screen and puts the cursor back; a character
//! that fills the last column is followed by `CR LF`, so the terminal's
//! cursor is always where the editor counts it.
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
    /// Tab: complete the word before the cursor ([`LineEditor::word`]).
    Complete,
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
    /// The terminal's width in columns.
    width: usize,
    /// The row the terminal's cursor is on, counted from the line's first
    /// row (the prompt's).
    row: usize,
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
            width: 80,
            row: 0,
        }
    }

    /// The terminal is `columns` wide (at least 10).
    pub fn set_width(&mut self, columns: usize) {
        self.width = columns.max(10);
    }

    /// The word before the cursor: its start (in characters), the text,
    /// and whether it is the line's first word (a command's name).
    pub fn word(&self) -> (usize, String, bool) {
        let start = self.line[..self.cursor]
            .iter()
            .rposition(|&character| character == ' ')
            .map_or(0, |space| space + 1);
        let first = self.line[..start].iter().all(|&character| character == ' ');
        (start, self.line[start..self.cursor].iter().collect(), first)
    }

    /// Tab's answer: `insert` goes in at the cursor (what all candidates
    /// share past the word), and `listing`, if not empty, is shown below
    /// the line (several candidates) before the line is drawn again.
    pub fn complete(&mut self, insert: &str, listing: &str, prompt: &str, out: &mut Vec<u8>) {
        for character in insert.chars() {
            self.line.insert(self.cursor, character);
            self.cursor += 1;
        }
        if !listing.is_empty() {
            self.move_below(prompt, out);
            out.extend_from_slice(listing.as_bytes());
            out.extend_from_slice(b"\r\n");
            self.row = 0;
        }
        self.redraw(prompt, out);
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
                self.move_below(prompt, out);
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
                out.extend_from_slice(b"^C");
                self.move_below(prompt, out);
                self.clear();
                return Event::Interrupt;
            }
            b'\t' => return Event::Complete,
            0x15 if self.cursor > 0 => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
                self.redraw(prompt, out);
            }
            0x17 if self.cursor > 0 => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != ' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
                self.redraw(prompt, out);
            }
            0x0c => {
                out.extend_from_slice(b"\x1b[H\x1b[2J");
                self.row = 0;
                self.redraw(prompt, out);
            }
            0x04 if self.line.is_empty() => return Event::EndOfInput,
            0x7f | 0x08 if self.cursor > 0 => {
                let column = (prompt.chars().count() + self.cursor) % self.width;
                self.cursor -= 1;
                self.line.remove(self.cursor);
                // At the end, and not at a row's first column: rub out.
                if self.cursor == self.line.len() && column != 0 {
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
        self.row = 0;
    }

    fn insert(&mut self, character: char, prompt: &str, out: &mut Vec<u8>) {
        self.line.insert(self.cursor, character);
        self.cursor += 1;
        if self.cursor == self.line.len() {
            let mut bytes = [0u8; 4];
            out.extend_from_slice(character.encode_utf8(&mut bytes).as_bytes());
            let end = prompt.chars().count() + self.cursor;
            // The last column filled: go to the next row now, so the
            // terminal's cursor is where it is counted.
            if end.is_multiple_of(self.width) {
                out.extend_from_slice(b"\r\n");
            }
            self.row = end / self.width;
        } else {
            self.redraw(prompt, out);
        }
    }

    /// Moves the terminal's cursor to a new row below the whole line.
    fn move_below(&mut self, prompt: &str, out: &mut Vec<u8>) {
        let end = prompt.chars().count() + self.line.len();
        // The row the line's end is on (after a full last row: the empty
        // row below it, where typing or a redraw left the cursor).
        let last_row = end / self.width;
        if last_row > self.row {
            out.extend_from_slice(alloc::format!("\x1b[{}B", last_row - self.row).as_bytes());
        }
        if end > 0 && end.is_multiple_of(self.width) {
            out.push(b'\r'); // on a fresh row already
        } else {
            out.extend_from_slice(b"\r\n");
        }
        self.row = 0;
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

    /// Draws the prompt and the line again, the cursor where it is: up to
    /// the line's first row, the text, the rest of the screen erased, then
    /// back to the cursor's row and column.
    fn redraw(&mut self, prompt: &str, out: &mut Vec<u8>) {
        let mut text = String::new();
        if self.row > 0 {
            let _ = write!(text, "\x1b[{}A", self.row);
        }
        text.push('\r');
        text.push_str(prompt);
        text.extend(self.line.iter());
        let end = prompt.chars().count() + self.line.len();
        if end.is_multiple_of(self.width) {
            text.push_str("\r\n"); // past a full last row, as typing does
        }
        text.push_str("\x1b[J");
        let end_row = end / self.width;
        let target = prompt.chars().count() + self.cursor;
        let (row, column) = (target / self.width, target % self.width);
        if end_row > row {
            let _ = write!(text, "\x1b[{}A", end_row - row);
        }
        text.push('\r');
        if column > 0 {
            let _ = write!(text, "\x1b[{column}C");
        }
        self.row = row;
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
        // Back to the row's start, prompt and line, the rest of the screen
        // erased, the cursor 5 columns in ("$ ech").
        assert_eq!(out, "\r$ echo\x1b[J\r\x1b[5C");
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
    fn control_u_and_control_w_delete_before_the_cursor() {
        let mut editor = LineEditor::new();
        type_in(&mut editor, b"cat /tmp/a  /tmp/b");
        type_in(&mut editor, b"\x17");
        assert_eq!(editor.line(), "cat /tmp/a  ");
        type_in(&mut editor, b"\x17");
        assert_eq!(editor.line(), "cat ");
        type_in(&mut editor, b"x");
        let mut keys = LEFT.to_vec();
        keys.push(0x15);
        type_in(&mut editor, &keys);
        assert_eq!((editor.line().as_str(), editor.cursor()), ("x", 0));
        // At the start, both do nothing.
        type_in(&mut editor, b"\x15\x17");
        assert_eq!(editor.line(), "x");
    }

    #[test]
    fn control_l_clears_the_screen_and_draws_the_line_at_the_top() {
        let mut editor = LineEditor::new();
        type_in(&mut editor, b"ls");
        let (_, out) = type_in(&mut editor, b"\x0c");
        assert!(out.starts_with("\x1b[H\x1b[2J\r$ ls"), "{out:?}");
        assert_eq!(editor.line(), "ls");
    }

    #[test]
    fn tab_asks_for_the_word_before_the_cursor_and_takes_the_answer() {
        let mut editor = LineEditor::new();
        let (events, _) = type_in(&mut editor, b"ec\t");
        assert_eq!(events, [Event::Complete]);
        assert_eq!(editor.word(), (0, "ec".into(), true));
        let mut out = std::vec::Vec::new();
        editor.complete("ho ", "", "$ ", &mut out);
        assert_eq!(editor.line(), "echo ");
        type_in(&mut editor, b"/tmp/fi");
        assert_eq!(editor.word(), (5, "/tmp/fi".into(), false));
        let mut out = std::vec::Vec::new();
        editor.complete("le", "file1  file2", "$ ", &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("\r\nfile1  file2\r\n\r$ echo /tmp/file"),
            "{out:?}"
        );
        assert_eq!(editor.line(), "echo /tmp/file");
    }

    #[test]
    fn a_line_wider_than_the_terminal_wraps_and_redraws_from_its_first_row() {
        let mut editor = LineEditor::new();
        editor.set_width(10);
        // "$ " and 8 letters fill the first row: CR LF follows.
        let (_, out) = type_in(&mut editor, b"abcdefgh");
        assert_eq!(out, "abcdefgh\r\n");
        let (_, out) = type_in(&mut editor, b"ijk");
        assert_eq!(out, "ijk");
        // Home: up one row, redraw, erase below, cursor to column 2.
        let mut out = std::vec::Vec::new();
        editor.feed(0x01, "$ ", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[1A\r$ abcdefghijk\x1b[J\x1b[1A\r\x1b[2C"
        );
        // Enter from the first row: down past the line's last row.
        let mut out = std::vec::Vec::new();
        assert_eq!(
            editor.feed(b'\r', "$ ", &mut out),
            Event::Line("abcdefghijk".into())
        );
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[1B\r\n");
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
