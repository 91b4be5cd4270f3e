//! The program's arguments, as the kernel wrote them in the startup page.
//!
//! The argument text is the arguments one after another, each followed by
//! a NUL byte (`"ls\0-l\0/bin\0"`), the program's name first. This module
//! only reads a byte slice it is given; `start` makes that slice from the
//! startup page, after clamping its length to the page.
//!
//! # Invariants
//! - `text` ends right after the NUL of the last argument counted, so
//!   every argument in it is whole, and there are exactly `count` NULs.

#![forbid(unsafe_code)]

/// The program's arguments: `argv`, with the program's name first.
///
/// Only whole (NUL-terminated) arguments count, and no more than the
/// startup block's `argument_count`. An argument that is not valid UTF-8
/// reads as its longest valid beginning.
#[derive(Clone, Copy, Debug)]
pub struct Arguments {
    text: &'static [u8],
    count: usize,
}

impl Arguments {
    /// The first `count` NUL-terminated arguments in `text`, or fewer if
    /// `text` holds fewer.
    pub fn new(text: &'static [u8], count: u32) -> Arguments {
        let wanted = count as usize;
        // Where the text of the first `wanted` arguments ends.
        let end = text
            .iter()
            .enumerate()
            .filter(|&(_, &byte)| byte == 0)
            .take(wanted)
            .last()
            .map_or(0, |(position, _)| position + 1);
        let text = &text[..end];
        let count = text.iter().filter(|&&byte| byte == 0).count();
        Arguments { text, count }
    }

    /// How many arguments there are (the program's name included).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none (not even the program's name).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The argument at `index` (0 is the program's name), if there is one.
    pub fn get(&self, index: usize) -> Option<&'static str> {
        self.iter().nth(index)
    }

    /// The arguments in order.
    pub fn iter(&self) -> ArgumentIterator {
        ArgumentIterator {
            rest: self.text,
            remaining: self.count,
        }
    }
}

impl IntoIterator for Arguments {
    type Item = &'static str;
    type IntoIter = ArgumentIterator;

    fn into_iter(self) -> ArgumentIterator {
        self.iter()
    }
}

/// Walks through [`Arguments`], one string at a time.
#[derive(Clone, Debug)]
pub struct ArgumentIterator {
    /// The text not yet walked: whole arguments only.
    rest: &'static [u8],
    remaining: usize,
}

impl Iterator for ArgumentIterator {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        let length = self.rest.iter().position(|&byte| byte == 0)?;
        let argument = &self.rest[..length];
        self.rest = &self.rest[length + 1..];
        self.remaining -= 1;
        Some(match core::str::from_utf8(argument) {
            Ok(text) => text,
            // The bytes up to `valid_up_to` are valid UTF-8 by definition.
            Err(error) => core::str::from_utf8(&argument[..error.valid_up_to()]).unwrap_or(""),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for ArgumentIterator {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_at_nul_bytes() {
        let arguments = Arguments::new(b"ls\0-l\0/bin\0", 3);
        assert_eq!(arguments.len(), 3);
        assert!(!arguments.is_empty());
        assert_eq!(arguments.iter().collect::<Vec<_>>(), ["ls", "-l", "/bin"]);
        assert_eq!(arguments.get(0), Some("ls"));
        assert_eq!(arguments.get(2), Some("/bin"));
        assert_eq!(arguments.get(3), None);
        assert_eq!(arguments.iter().len(), 3);
    }

    #[test]
    fn empty_arguments_are_allowed() {
        let arguments = Arguments::new(b"echo\0\0\0", 3);
        assert_eq!(arguments.into_iter().collect::<Vec<_>>(), ["echo", "", ""]);
        let none = Arguments::new(b"", 0);
        assert!(none.is_empty());
        assert_eq!(none.iter().next(), None);
    }

    #[test]
    fn the_count_limits_the_arguments() {
        let arguments = Arguments::new(b"a\0b\0c\0", 2);
        assert_eq!(arguments.iter().collect::<Vec<_>>(), ["a", "b"]);
        let none = Arguments::new(b"a\0b\0", 0);
        assert_eq!(none.len(), 0);
        assert_eq!(none.iter().next(), None);
    }

    #[test]
    fn a_count_beyond_the_text_and_an_unterminated_tail_are_ignored() {
        let arguments = Arguments::new(b"a\0bc", 5);
        assert_eq!(arguments.len(), 1);
        assert_eq!(arguments.iter().collect::<Vec<_>>(), ["a"]);
        assert!(Arguments::new(b"no terminator", 1).is_empty());
    }

    #[test]
    fn invalid_utf8_reads_as_its_valid_beginning() {
        let arguments = Arguments::new(b"ok\xff\xfe\0\xc3\xa9t\xc3\xa9\0", 2);
        assert_eq!(arguments.iter().collect::<Vec<_>>(), ["ok", "été"]);
    }
}
