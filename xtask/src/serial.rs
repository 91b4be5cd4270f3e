//! The serial port of a QEMU test run, as xtask sees it: output arriving in
//! pieces, to be cut into lines, and input to type, each piece when the
//! output has shown what it waits for (a prompt, say).
//!
//! Pure, so unit tested: `qemu_tests::boot` feeds these with what it reads
//! from QEMU's standard output, and writes what is due to QEMU's standard
//! input (which `-serial stdio` connects to the emulated UART).
//!
//! # Invariants
//! - [`InputScript`] sends its steps in order, each at most once, and step
//!   `n + 1` only for output that came after the text step `n` waited for:
//!   a prompt printed once answers one step, however many wait for it.

/// Bytes from the serial port, cut into lines as they arrive.
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// The start of a line whose end has not come yet.
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Adds `bytes` and returns every line they complete, without its
    /// line ending (`\n` or `\r\n`), invalid UTF-8 replaced.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                lines.push(line_text(&self.partial));
                self.partial.clear();
            } else {
                self.partial.push(byte);
            }
        }
        lines
    }

    /// The last line, if the output ended without a newline after it (a
    /// prompt, or a crash in the middle of a line).
    pub fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = line_text(&self.partial);
        self.partial.clear();
        Some(line)
    }
}

fn line_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches('\r')
        .to_string()
}

/// What to type into a run, and when: a list of (text to wait for in the
/// output, text to send), taken in order.
#[derive(Debug)]
pub struct InputScript<'a> {
    steps: &'a [(&'a str, &'a str)],
    /// The next step to send.
    next: usize,
    /// Everything the serial port has said so far.
    transcript: Vec<u8>,
    /// Where the search for the next step's text starts: just after the
    /// text the step before it waited for.
    searched_from: usize,
}

impl<'a> InputScript<'a> {
    pub fn new(steps: &'a [(&'a str, &'a str)]) -> InputScript<'a> {
        InputScript {
            steps,
            next: 0,
            transcript: Vec::new(),
            searched_from: 0,
        }
    }

    /// Adds output `bytes` from the serial port; returns the texts to send
    /// now, in order (none, or several if one piece of output satisfies
    /// several steps). An empty text to wait for is satisfied at once.
    pub fn output(&mut self, bytes: &[u8]) -> Vec<&'a str> {
        self.transcript.extend_from_slice(bytes);
        let mut due = Vec::new();
        while let Some(&(wait_for, send)) = self.steps.get(self.next) {
            let Some(at) = find(&self.transcript[self.searched_from..], wait_for.as_bytes()) else {
                // Not there: only its last bytes can still start a match
                // (so a long run is not searched again and again).
                let keep = wait_for.len().saturating_sub(1);
                self.searched_from = self
                    .searched_from
                    .max(self.transcript.len().saturating_sub(keep));
                break;
            };
            self.searched_from += at + wait_for.len();
            self.next += 1;
            due.push(send);
        }
        due
    }

    /// What the next step waits for, or `None` once everything was sent.
    pub fn waiting_for(&self) -> Option<&'a str> {
        self.steps.get(self.next).map(|&(wait_for, _)| wait_for)
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A text to send, as a message can show it: control characters as `^C`,
/// `\r` and so on.
pub fn show_input(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '\r' => "\\r".to_string(),
            '\n' => "\\n".to_string(),
            '\x7f' => "^?".to_string(),
            control if (control as u32) < 0x20 => {
                format!("^{}", char::from(b'@' + control as u8))
            }
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_whatever_the_pieces() {
        let mut splitter = LineSplitter::new();
        assert!(splitter.push(b"Annulus: ent").is_empty());
        assert_eq!(
            splitter.push(b"ered\r\nsecond\nthi"),
            ["Annulus: entered", "second"]
        );
        assert_eq!(splitter.push(b"rd\r\n\n"), ["third", ""]);
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn a_last_line_without_newline_is_kept_for_the_end() {
        let mut splitter = LineSplitter::new();
        assert!(splitter.push(b"ok\nreadline> ").len() == 1);
        assert_eq!(splitter.finish().as_deref(), Some("readline> "));
        assert_eq!(splitter.finish(), None, "only once");
    }

    #[test]
    fn invalid_utf8_does_not_lose_the_line() {
        let mut splitter = LineSplitter::new();
        assert_eq!(splitter.push(b"a\xffb\n"), ["a\u{fffd}b"]);
    }

    const STEPS: &[(&str, &str)] = &[("> ", "hello\r"), ("> ", "\x03"), ("bye", "\x04")];

    #[test]
    fn each_step_waits_for_its_text_after_the_previous_one() {
        let mut script = InputScript::new(STEPS);
        assert!(script.output(b"booting\n").is_empty());
        assert_eq!(script.waiting_for(), Some("> "));
        // One prompt answers one step, not both that wait for "> ".
        assert_eq!(script.output(b"readline> "), ["hello\r"]);
        assert!(script.output(b"hello\r\ngot: hello\n").is_empty());
        assert_eq!(script.output(b"readline> "), ["\x03"]);
        assert_eq!(script.waiting_for(), Some("bye"));
        assert_eq!(script.output(b"by"), Vec::<&str>::new());
        assert_eq!(script.output(b"e\n"), ["\x04"], "found across pieces");
        assert_eq!(script.waiting_for(), None);
        assert!(script.output(b"> bye > ").is_empty(), "nothing twice");
    }

    #[test]
    fn one_piece_of_output_can_make_several_steps_due() {
        let mut script = InputScript::new(STEPS);
        assert_eq!(script.output(b"> > x bye"), ["hello\r", "\x03", "\x04"]);
    }

    #[test]
    fn an_empty_wait_text_is_due_at_once() {
        let steps: &[(&str, &str)] = &[("", "a"), ("", "b")];
        assert_eq!(InputScript::new(steps).output(b""), ["a", "b"]);
    }

    #[test]
    fn input_is_shown_with_control_characters_visible() {
        assert_eq!(show_input("ab\x7fc\r\x03\x04\n"), "ab^?c\\r^C^D\\n");
    }
}
