//! The shell's command lines (`docs/shell.md`).
//!
//! A line is words separated by spaces. Quoting, as in sh:
//!
//! - `'...'`: everything inside is literal;
//! - `"..."`: literal except `\"` and `\\`;
//! - `\c` outside quotes: the character `c`, literally.
//!
//! Outside quotes `>` and `>>` send the program's output to the file named
//! by the next word (new or emptied; appended to), `&` as the last word
//! runs it in the background, and `#` at the start of a word begins a
//! comment. So `echo "a  b" 'c>d' > /tmp/x &` is the program `echo` with
//! the words `a  b` and `c>d`, output to `/tmp/x`, in the background.

use alloc::string::String;
use alloc::vec::Vec;

/// One command line, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// The program (or built-in) and its arguments.
    pub words: Vec<String>,
    pub redirect: Option<Redirect>,
    /// Ended with `&`.
    pub background: bool,
}

/// `> path` or `>> path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub path: String,
    pub append: bool,
}

/// Why a line cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    UnterminatedQuote,
    /// `\` at the very end.
    TrailingBackslash,
    /// `>` or `>>` with no file after it.
    MissingFile,
    TwoRedirects,
    /// `&` anywhere but at the end.
    MisplacedAmpersand,
    /// A redirection or `&` with no program.
    NoProgram,
}

impl SyntaxError {
    /// The message the shell prints.
    pub fn describe(self) -> &'static str {
        match self {
            SyntaxError::UnterminatedQuote => "a quote is not closed",
            SyntaxError::TrailingBackslash => "a \\ at the end of the line",
            SyntaxError::MissingFile => "> or >> needs a file name after it",
            SyntaxError::TwoRedirects => "only one > or >> per command",
            SyntaxError::MisplacedAmpersand => "& goes at the end of the line",
            SyntaxError::NoProgram => "no command before the > or &",
        }
    }
}

/// `path` made absolute from directory `cwd` (itself absolute), with `.`
/// and `..` taken out (`..` of `/` is `/`), as the shell shows paths.
pub fn resolve(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let start = if path.starts_with('/') { "" } else { cwd };
    for part in start.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut resolved = String::new();
    for part in parts {
        resolved.push('/');
        resolved.push_str(part);
    }
    if resolved.is_empty() {
        resolved.push('/');
    }
    resolved
}

enum Token {
    Word(String),
    Redirect { append: bool },
    Ampersand,
}

/// Parses `line`; `Ok(None)` when it holds no command (empty, or a
/// comment).
pub fn parse(line: &str) -> Result<Option<Command>, SyntaxError> {
    let tokens = tokens(line)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut command = Command::default();
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => command.words.push(word),
            Token::Redirect { append } => {
                let Some(Token::Word(path)) = tokens.next() else {
                    return Err(SyntaxError::MissingFile);
                };
                if command.redirect.is_some() {
                    return Err(SyntaxError::TwoRedirects);
                }
                command.redirect = Some(Redirect { path, append });
            }
            Token::Ampersand => {
                if tokens.peek().is_some() {
                    return Err(SyntaxError::MisplacedAmpersand);
                }
                command.background = true;
            }
        }
    }
    if command.words.is_empty() {
        return Err(SyntaxError::NoProgram);
    }
    Ok(Some(command))
}

/// Splits a line into words and operators, undoing the quoting.
fn tokens(line: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    // The word being read; `None` between words (so `""` is a word).
    let mut word: Option<String> = None;
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            ' ' | '\t' => {
                if let Some(done) = word.take() {
                    tokens.push(Token::Word(done));
                }
            }
            '#' if word.is_none() => break,
            '>' | '&' => {
                if let Some(done) = word.take() {
                    tokens.push(Token::Word(done));
                }
                tokens.push(if character == '&' {
                    Token::Ampersand
                } else if characters.next_if_eq(&'>').is_some() {
                    Token::Redirect { append: true }
                } else {
                    Token::Redirect { append: false }
                });
            }
            '\'' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match characters.next() {
                        Some('\'') => break,
                        Some(inside) => text.push(inside),
                        None => return Err(SyntaxError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match characters.next() {
                        Some('"') => break,
                        Some('\\') if matches!(characters.peek(), Some('"' | '\\')) => {
                            text.extend(characters.next());
                        }
                        Some(inside) => text.push(inside),
                        None => return Err(SyntaxError::UnterminatedQuote),
                    }
                }
            }
            '\\' => {
                let escaped = characters.next().ok_or(SyntaxError::TrailingBackslash)?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    if let Some(done) = word {
        tokens.push(Token::Word(done));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> std::vec::Vec<String> {
        parse(line).unwrap().unwrap().words
    }

    #[test]
    fn words_are_split_on_spaces() {
        assert_eq!(words("  ls   /bin  "), ["ls", "/bin"]);
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("# just a comment"), Ok(None));
        assert_eq!(words("echo a#b # comment"), ["echo", "a#b"]);
    }

    #[test]
    fn quotes_keep_spaces_and_operators() {
        assert_eq!(
            words(r#"echo "a  b" 'c > d' e\ f "" x"y"z"#),
            ["echo", "a  b", "c > d", "e f", "", "xyz"]
        );
        assert_eq!(
            words(r#"echo "say \"hi\" \\ \n""#),
            ["echo", r#"say "hi" \ \n"#]
        );
        assert_eq!(words(r"echo 'it\s'"), ["echo", r"it\s"]);
        assert_eq!(words(r"echo \> \&"), ["echo", ">", "&"]);
    }

    #[test]
    fn redirections_and_background() {
        let command = parse("echo hi > /tmp/a").unwrap().unwrap();
        assert_eq!(command.words, ["echo", "hi"]);
        assert_eq!(
            command.redirect,
            Some(Redirect {
                path: "/tmp/a".into(),
                append: false
            })
        );
        assert!(!command.background);
        let command = parse("echo hi>>'/tmp/my file'&").unwrap().unwrap();
        assert_eq!(command.words, ["echo", "hi"]);
        assert_eq!(
            command.redirect,
            Some(Redirect {
                path: "/tmp/my file".into(),
                append: true
            })
        );
        assert!(command.background);
    }

    #[test]
    fn paths_resolve_from_the_current_directory() {
        assert_eq!(resolve("/", "tmp"), "/tmp");
        assert_eq!(resolve("/tmp", "a/./b/../c"), "/tmp/a/c");
        assert_eq!(resolve("/tmp", "/bin/"), "/bin");
        assert_eq!(resolve("/tmp", "../../.."), "/");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a", ""), "/a");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("echo 'open", SyntaxError::UnterminatedQuote),
            ("echo \"open", SyntaxError::UnterminatedQuote),
            ("echo \\", SyntaxError::TrailingBackslash),
            ("echo >", SyntaxError::MissingFile),
            ("echo > &", SyntaxError::MissingFile),
            ("echo > a > b", SyntaxError::TwoRedirects),
            ("sleep 1 & echo", SyntaxError::MisplacedAmpersand),
            ("> file", SyntaxError::NoProgram),
            ("&", SyntaxError::NoProgram),
        ];
        for (line, error) in cases {
            assert_eq!(parse(line), Err(error), "{line}");
        }
    }
}
