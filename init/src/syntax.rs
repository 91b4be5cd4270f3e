//! The shell's command lines (`docs/shell.md`): from the text typed to a
//! [`List`] the shell runs.
//!
//! ```text
//!   list      = and-or { (";" | "&") and-or } [";" | "&"]
//!   and-or    = pipeline { ("&&" | "||") pipeline }
//!   pipeline  = command { "|" command }
//!   command   = { word | redirect }           (at least one word)
//!   redirect  = "<" word | ">" word | ">>" word
//!             | "2>" word | "2>>" word | "2>&1"
//! ```
//!
//! `a; b` runs one after the other; `a && b` runs `b` if `a` succeeded
//! (exit code 0), `a || b` if it did not; `a | b` runs both with `a`'s
//! standard output feeding `b`'s standard input; `&` after a pipeline runs
//! it in the background. A line whose only words are `NAME=value` sets
//! shell variables.
//!
//! Words, as in sh:
//! - `'...'`: everything inside is literal;
//! - `"..."`: literal except `\"`, `\\` and `$` (variables expand);
//! - `\c` outside quotes: the character `c`, literally;
//! - `$NAME`, `${NAME}`, `$?` (the last exit code), `$0`...`$9` (a
//!   script's arguments): a variable's value, taken when the command runs
//!   (so `false; echo $?` prints 1);
//! - `#` at the start of a word begins a comment.
//!
//! What sh has and this shell does not (subshells, command substitution,
//! here-documents, other descriptors than 0, 1 and 2, assignments before a
//! program) is a syntax error that names it.

use alloc::string::String;
use alloc::vec::Vec;

/// A whole line: its items, run in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    pub items: Vec<Item>,
}

/// One item of a [`List`]: an and-or chain, in the foreground or (one
/// pipeline only) in the background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub first: Pipeline,
    /// `&& pipeline` and `|| pipeline`, in order.
    pub rest: Vec<(Connector, Pipeline)>,
    /// Ended with `&`.
    pub background: bool,
}

/// `&&` or `||`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// Commands joined by `|`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub commands: Vec<Command>,
}

/// One program (or built-in) with its words and redirections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// The program and its arguments, or, for a command that only sets
    /// variables, the `NAME=value` words ([`Command::assignments`]).
    pub words: Vec<Word>,
    /// In the order written (`> f 2>&1` and `2>&1 > f` differ, as in sh).
    pub redirects: Vec<Redirect>,
}

/// A redirection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `< path`: standard input from a file.
    Input(Word),
    /// `> path` (emptied first) or `>> path` (appended to).
    Output { path: Word, append: bool },
    /// `2> path` or `2>> path`: standard error to a file.
    Error { path: Word, append: bool },
    /// `2>&1`: standard error where standard output goes now.
    ErrorToOutput,
}

/// A word, as pieces: text as written (quoting undone), and variables to
/// look up when the command runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word {
    pub parts: Vec<Part>,
}

/// A piece of a [`Word`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text written plainly.
    Text(String),
    /// Text written in quotes or after `\` (never a variable's name, an
    /// assignment, or a pattern).
    Quoted(String),
    /// `$NAME`: the name (`?` for `$?`, `1` for `$1`).
    Variable(String),
}

impl Word {
    /// The word with its variables replaced by `lookup`'s values.
    pub fn expand(&self, lookup: &dyn Fn(&str) -> String) -> String {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(piece) | Part::Quoted(piece) => text.push_str(piece),
                Part::Variable(name) => text.push_str(&lookup(name)),
            }
        }
        text
    }

    /// The word as a pattern, if a `*` or `?` in it was written plainly
    /// (not quoted, not from a variable): each character, and whether it
    /// is a wildcard. `None`: the word means itself.
    pub fn pattern(&self, lookup: &dyn Fn(&str) -> String) -> Option<Vec<(char, bool)>> {
        let mut pattern = Vec::new();
        let mut wild = false;
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    for character in text.chars() {
                        let is_wild = matches!(character, '*' | '?');
                        wild |= is_wild;
                        pattern.push((character, is_wild));
                    }
                }
                Part::Quoted(text) => {
                    pattern.extend(text.chars().map(|character| (character, false)))
                }
                Part::Variable(name) => {
                    pattern.extend(lookup(name).chars().map(|character| (character, false)));
                }
            }
        }
        wild.then_some(pattern)
    }

    /// The word as plain text, if it has no variables.
    pub fn literal(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(piece) | Part::Quoted(piece) => text.push_str(piece),
                Part::Variable(_) => return None,
            }
        }
        Some(text)
    }

    /// Adds a character written plainly.
    fn push_char(&mut self, character: char) {
        match self.parts.last_mut() {
            Some(Part::Text(text)) => text.push(character),
            _ => self.parts.push(Part::Text(character.into())),
        }
    }

    /// Adds a character written in quotes or escaped.
    fn push_quoted(&mut self, character: char) {
        match self.parts.last_mut() {
            Some(Part::Quoted(text)) => text.push(character),
            _ => self.parts.push(Part::Quoted(character.into())),
        }
    }
}

impl Command {
    /// The `NAME=value` words, if every word is one (a command that only
    /// sets variables): (name, value).
    pub fn assignments(&self) -> Option<Vec<(String, Word)>> {
        self.words.iter().map(assignment).collect()
    }
}

/// `NAME=value` as (NAME, value), if the word is one: NAME written plainly
/// (letters, digits, `_`, not first a digit).
fn assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Text(first)) = word.parts.first() else {
        return None;
    };
    let (name, value_start) = first.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut value = Word::default();
    if !value_start.is_empty() {
        value.parts.push(Part::Text(value_start.into()));
    }
    value.parts.extend(word.parts[1..].iter().cloned());
    Some((name.into(), value))
}

fn is_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Why a line cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    UnterminatedQuote,
    /// `\` at the very end.
    TrailingBackslash,
    /// A redirection with no file name after it.
    MissingFile,
    /// An operator with no command where one must be (`| b`, `a &&`, `;;`).
    MissingCommand(&'static str),
    /// `&` after an `&&`/`||` chain.
    BackgroundChain,
    /// `NAME=value` before a program.
    AssignmentBeforeProgram,
    /// `${` without its `}`, or a bad name inside.
    BadVariable,
    /// Something sh has and this shell does not: names it.
    Unsupported(&'static str),
}

impl SyntaxError {
    /// The message the shell prints.
    pub fn describe(self) -> String {
        match self {
            SyntaxError::UnterminatedQuote => "a quote is not closed".into(),
            SyntaxError::TrailingBackslash => "a \\ at the end of the line".into(),
            SyntaxError::MissingFile => "a redirection needs a file name after it".into(),
            SyntaxError::MissingCommand(operator) => {
                alloc::format!("no command next to the {operator}")
            }
            SyntaxError::BackgroundChain => {
                "& runs one pipeline in the background, not a && or || chain".into()
            }
            SyntaxError::AssignmentBeforeProgram => {
                "NAME=value before a program is not supported (there is no environment: write $NAME into its arguments)".into()
            }
            SyntaxError::BadVariable => "a bad ${...}".into(),
            SyntaxError::Unsupported(what) => alloc::format!("{what} is not supported"),
        }
    }
}

/// Whether `name` matches `pattern` (from [`Word::pattern`]): a wild `*`
/// stands for any run of characters, a wild `?` for one; a name starting
/// with `.` is matched only by a pattern starting with a plain `.`, as in
/// sh.
pub fn matches(pattern: &[(char, bool)], name: &str) -> bool {
    if name.starts_with('.') && pattern.first() != Some(&('.', false)) {
        return false;
    }
    let name: Vec<char> = name.chars().collect();
    // Classic wildcard matching, remembering the last `*` to go back to.
    let (mut at, mut place) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while place < name.len() {
        match pattern.get(at) {
            Some(('*', true)) => {
                star = Some((at, place));
                at += 1;
            }
            Some(&(character, wild))
                if (wild && character == '?') || (!wild && character == name[place]) =>
            {
                at += 1;
                place += 1;
            }
            _ => match star {
                Some((star_at, star_place)) => {
                    at = star_at + 1;
                    place = star_place + 1;
                    star = Some((star_at, star_place + 1));
                }
                None => return false,
            },
        }
    }
    pattern[at.min(pattern.len())..]
        .iter()
        .all(|&(character, wild)| wild && character == '*')
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Pipe,
    And,
    Or,
    Semicolon,
    Ampersand,
    Input,
    Output { append: bool },
    Error { append: bool },
    ErrorToOutput,
}

impl Operator {
    fn text(self) -> &'static str {
        match self {
            Operator::Pipe => "|",
            Operator::And => "&&",
            Operator::Or => "||",
            Operator::Semicolon => ";",
            Operator::Ampersand => "&",
            Operator::Input => "<",
            Operator::Output { append: false } => ">",
            Operator::Output { append: true } => ">>",
            Operator::Error { append: false } => "2>",
            Operator::Error { append: true } => "2>>",
            Operator::ErrorToOutput => "2>&1",
        }
    }
}

#[derive(Debug)]
enum Token {
    Word(Word),
    Operator(Operator),
}

/// `text` written so that [`parse`] reads it back as one word, that very
/// text: a backslash before each character that means something to the
/// syntax (a space, a quote, an operator, `$`, a glob's `*` or `?`, a
/// comment's `#`). For the names Tab completion puts in a line.
pub fn escape(text: &str) -> String {
    let mut word = String::new();
    for character in text.chars() {
        if " \t'\"\\|&;<>()`{}$*?#".contains(character) {
            word.push('\\');
        }
        word.push(character);
    }
    word
}

/// Parses `line`; `Ok(None)` when it holds no command (empty, or a
/// comment).
pub fn parse(line: &str) -> Result<Option<List>, SyntaxError> {
    let tokens = tokens(line)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser::default();
    let mut tokens = tokens.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => {
                parser.command.words.push(word);
                parser.needs_command = None;
            }
            Token::Operator(Operator::ErrorToOutput) => {
                parser.command.redirects.push(Redirect::ErrorToOutput);
            }
            Token::Operator(
                operator @ (Operator::Input | Operator::Output { .. } | Operator::Error { .. }),
            ) => {
                let Some(Token::Word(path)) = tokens.next() else {
                    return Err(SyntaxError::MissingFile);
                };
                parser.command.redirects.push(match operator {
                    Operator::Input => Redirect::Input(path),
                    Operator::Output { append } => Redirect::Output { path, append },
                    _ => Redirect::Error {
                        path,
                        append: operator == Operator::Error { append: true },
                    },
                });
            }
            Token::Operator(Operator::Pipe) => parser.end_command(Operator::Pipe)?,
            Token::Operator(operator @ (Operator::And | Operator::Or)) => {
                parser.end_command(operator)?;
                parser.end_pipeline(Some(if operator == Operator::And {
                    Connector::And
                } else {
                    Connector::Or
                }));
            }
            Token::Operator(operator @ (Operator::Semicolon | Operator::Ampersand)) => {
                parser.end_command(operator)?;
                parser.end_pipeline(None);
                parser.end_item(operator == Operator::Ampersand)?;
            }
        }
    }
    if let Some(operator) = parser.needs_command {
        return Err(SyntaxError::MissingCommand(operator.text()));
    }
    if !parser.command.words.is_empty() || !parser.command.redirects.is_empty() {
        parser.end_command(Operator::Semicolon)?;
        parser.end_pipeline(None);
        parser.end_item(false)?;
    }
    Ok(Some(parser.list))
}

/// The pieces being put together, innermost first.
#[derive(Default)]
struct Parser {
    list: List,
    /// The and-or chain so far: its first pipeline, then each joined one.
    first: Option<Pipeline>,
    rest: Vec<(Connector, Pipeline)>,
    /// The connector before the pipeline being read.
    connector: Option<Connector>,
    pipeline: Pipeline,
    command: Command,
    /// The operator after which a command must come (`|`, `&&`, `||`).
    needs_command: Option<Operator>,
}

impl Parser {
    /// The command being read is complete (an operator follows it).
    fn end_command(&mut self, operator: Operator) -> Result<(), SyntaxError> {
        let command = core::mem::take(&mut self.command);
        if command.words.is_empty() {
            return Err(SyntaxError::MissingCommand(operator.text()));
        }
        let assigning = command
            .words
            .iter()
            .filter(|word| assignment(word).is_some());
        if assignment(&command.words[0]).is_some() && assigning.count() < command.words.len() {
            return Err(SyntaxError::AssignmentBeforeProgram);
        }
        self.pipeline.commands.push(command);
        self.needs_command = match operator {
            Operator::Pipe | Operator::And | Operator::Or => Some(operator),
            _ => None,
        };
        Ok(())
    }

    /// The pipeline being read is complete; `connector` joins the next.
    fn end_pipeline(&mut self, connector: Option<Connector>) {
        let pipeline = core::mem::take(&mut self.pipeline);
        match self.connector.take() {
            None => self.first = Some(pipeline),
            Some(joined) => self.rest.push((joined, pipeline)),
        }
        self.connector = connector;
    }

    /// The and-or chain being read is complete: one item of the list.
    fn end_item(&mut self, background: bool) -> Result<(), SyntaxError> {
        let Some(first) = self.first.take() else {
            return Err(SyntaxError::MissingCommand(";"));
        };
        let rest = core::mem::take(&mut self.rest);
        if background && !rest.is_empty() {
            return Err(SyntaxError::BackgroundChain);
        }
        let pipes = core::iter::once(&first).chain(rest.iter().map(|(_, pipeline)| pipeline));
        for pipeline in pipes {
            let assigns = pipeline
                .commands
                .iter()
                .any(|command| command.assignments().is_some());
            if assigns && (pipeline.commands.len() > 1 || background) {
                return Err(SyntaxError::Unsupported(
                    "NAME=value in a pipeline or with &",
                ));
            }
        }
        self.list.items.push(Item {
            first,
            rest,
            background,
        });
        Ok(())
    }
}

/// Splits a line into words and operators, undoing the quoting.
fn tokens(line: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    // The word being read; `None` between words (so `""` is a word).
    let mut word: Option<Word> = None;
    // Whether the word so far used quotes or `\` (so `"2">` is no `2>`).
    let mut quoted = false;
    let mut characters = line.chars().peekable();
    let finish = |word: &mut Option<Word>, tokens: &mut Vec<Token>| {
        if let Some(done) = word.take() {
            tokens.push(Token::Word(done));
        }
    };
    while let Some(character) = characters.next() {
        match character {
            ' ' | '\t' => {
                finish(&mut word, &mut tokens);
                quoted = false;
            }
            '#' if word.is_none() => break,
            '>' => {
                let descriptor_two = !quoted
                    && word
                        .as_ref()
                        .is_some_and(|word| word.parts.as_slice() == [Part::Text("2".into())]);
                let append = characters.next_if_eq(&'>').is_some();
                if descriptor_two {
                    word = None;
                    if !append && characters.next_if_eq(&'&').is_some() {
                        if characters.next_if_eq(&'1').is_none() {
                            return Err(SyntaxError::Unsupported("2>& with anything but 1"));
                        }
                        tokens.push(Token::Operator(Operator::ErrorToOutput));
                    } else {
                        tokens.push(Token::Operator(Operator::Error { append }));
                    }
                } else {
                    if word.as_ref().is_some_and(|word| {
                        !quoted
                            && word.parts.len() == 1
                            && matches!(&word.parts[0], Part::Text(text) if text.chars().all(|c| c.is_ascii_digit()))
                    }) {
                        return Err(SyntaxError::Unsupported("a descriptor other than 1 or 2"));
                    }
                    finish(&mut word, &mut tokens);
                    if characters.peek() == Some(&'&') || characters.peek() == Some(&'|') {
                        return Err(SyntaxError::Unsupported(">& and >|"));
                    }
                    tokens.push(Token::Operator(Operator::Output { append }));
                }
                quoted = false;
            }
            '<' => {
                finish(&mut word, &mut tokens);
                quoted = false;
                match characters.peek() {
                    Some('<') => return Err(SyntaxError::Unsupported("<< (a here-document)")),
                    Some('&' | '>' | '(') => return Err(SyntaxError::Unsupported("<&, <> and <(")),
                    _ => tokens.push(Token::Operator(Operator::Input)),
                }
            }
            '|' | '&' | ';' => {
                finish(&mut word, &mut tokens);
                quoted = false;
                let operator = match character {
                    '|' if characters.next_if_eq(&'|').is_some() => Operator::Or,
                    '|' if characters.peek() == Some(&'&') => {
                        return Err(SyntaxError::Unsupported("|&"));
                    }
                    '|' => Operator::Pipe,
                    '&' if characters.next_if_eq(&'&').is_some() => Operator::And,
                    '&' if characters.peek() == Some(&'>') => {
                        return Err(SyntaxError::Unsupported("&>"));
                    }
                    '&' => Operator::Ampersand,
                    _ if characters.peek() == Some(&';') => {
                        return Err(SyntaxError::Unsupported(";;"));
                    }
                    _ => Operator::Semicolon,
                };
                tokens.push(Token::Operator(operator));
            }
            '(' | ')' => return Err(SyntaxError::Unsupported("( ) (a subshell)")),
            '`' => return Err(SyntaxError::Unsupported("`...` (command substitution)")),
            '{' | '}' if word.is_none() && matches!(characters.peek(), None | Some(' ' | '\t')) => {
                return Err(SyntaxError::Unsupported("{ } (a group)"));
            }
            '\'' => {
                quoted = true;
                let text = word.get_or_insert_with(Word::default);
                text.parts.push(Part::Quoted(String::new()));
                loop {
                    match characters.next() {
                        Some('\'') => break,
                        Some(inside) => text.push_quoted(inside),
                        None => return Err(SyntaxError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                quoted = true;
                let text = word.get_or_insert_with(Word::default);
                text.parts.push(Part::Quoted(String::new()));
                loop {
                    match characters.next() {
                        Some('"') => break,
                        Some('\\') if matches!(characters.peek(), Some('"' | '\\' | '$')) => {
                            text.push_quoted(characters.next().unwrap_or('\\'));
                        }
                        Some('$') => variable(&mut characters, text, true)?,
                        Some(inside) => text.push_quoted(inside),
                        None => return Err(SyntaxError::UnterminatedQuote),
                    }
                }
            }
            '\\' => {
                quoted = true;
                let escaped = characters.next().ok_or(SyntaxError::TrailingBackslash)?;
                word.get_or_insert_with(Word::default).push_quoted(escaped);
            }
            '$' => variable(
                &mut characters,
                word.get_or_insert_with(Word::default),
                false,
            )?,
            other => word.get_or_insert_with(Word::default).push_char(other),
        }
    }
    finish(&mut word, &mut tokens);
    Ok(tokens)
}

/// After a `$`: the variable it starts, added to `word` (or a plain `$`
/// if none does).
fn variable(
    characters: &mut core::iter::Peekable<core::str::Chars<'_>>,
    word: &mut Word,
    quoted: bool,
) -> Result<(), SyntaxError> {
    match characters.peek().copied() {
        Some('?' | '0'..='9' | '#') => {
            let name = characters.next().unwrap_or('?');
            word.parts.push(Part::Variable(name.into()));
        }
        Some('(') => return Err(SyntaxError::Unsupported("$(...) (command substitution)")),
        Some('{') => {
            characters.next();
            let mut name = String::new();
            loop {
                match characters.next() {
                    Some('}') => break,
                    Some(inside) => name.push(inside),
                    None => return Err(SyntaxError::BadVariable),
                }
            }
            let special =
                matches!(name.as_str(), "?" | "#") || name.chars().all(|c| c.is_ascii_digit());
            if name.is_empty() || !(is_name(&name) || special) {
                return Err(SyntaxError::BadVariable);
            }
            word.parts.push(Part::Variable(name));
        }
        Some(first) if first.is_ascii_alphabetic() || first == '_' => {
            let mut name = String::new();
            while let Some(next) = characters
                .next_if(|character| character.is_ascii_alphanumeric() || *character == '_')
            {
                name.push(next);
            }
            word.parts.push(Part::Variable(name));
        }
        _ if quoted => word.push_quoted('$'),
        _ => word.push_char('$'),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> List {
        parse(line).unwrap().unwrap()
    }

    /// Every word of `line`'s one command, expanded with no variables set.
    fn words(line: &str) -> std::vec::Vec<String> {
        let list = parsed(line);
        assert_eq!(list.items.len(), 1, "{line}");
        let command = &list.items[0].first.commands[0];
        command
            .words
            .iter()
            .map(|word| word.expand(&|_| String::new()))
            .collect()
    }

    fn text(word: &str) -> Word {
        Word {
            parts: std::vec![Part::Text(word.into())],
        }
    }

    #[test]
    fn words_are_split_on_spaces() {
        assert_eq!(words("  ls   /bin  "), ["ls", "/bin"]);
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("# just a comment"), Ok(None));
        assert_eq!(words("echo a#b # comment"), ["echo", "a#b"]);
    }

    #[test]
    fn an_escaped_name_reads_back_as_one_word_that_is_not_a_pattern() {
        for name in [
            "a file",
            "x|y;z&",
            "it's \"q\"",
            "$HOME*?[",
            "#1 (b) {c}",
            "tab\there",
        ] {
            let line = alloc::format!("cat {}", escape(name));
            assert_eq!(words(&line), ["cat", name], "{line}");
            let list = parsed(&line);
            let word = &list.items[0].first.commands[0].words[1];
            assert!(word.pattern(&|_| String::new()).is_none(), "{line}");
        }
        assert_eq!(escape("plain.txt"), "plain.txt");
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
        assert_eq!(
            words(r"echo \> \& \| \; \2>x"),
            ["echo", ">", "&", "|", ";", "2"]
        );
        assert_eq!(parsed("echo a|b;c").items.len(), 2);
    }

    #[test]
    fn redirections_in_the_order_written() {
        let list = parsed("sort < in > out 2>&1");
        let command = &list.items[0].first.commands[0];
        assert_eq!(command.words, [text("sort")]);
        assert_eq!(
            command.redirects,
            [
                Redirect::Input(text("in")),
                Redirect::Output {
                    path: text("out"),
                    append: false
                },
                Redirect::ErrorToOutput
            ]
        );
        let list = parsed("cc 2>> log >>'my file' 2> err");
        assert_eq!(
            list.items[0].first.commands[0].redirects,
            [
                Redirect::Error {
                    path: text("log"),
                    append: true
                },
                Redirect::Output {
                    path: Word {
                        parts: std::vec![Part::Quoted("my file".into())]
                    },
                    append: true
                },
                Redirect::Error {
                    path: text("err"),
                    append: false
                },
            ]
        );
        // A quoted 2 is a word, not a descriptor.
        assert_eq!(words("echo '2'>x"), ["echo", "2"]);
        assert_eq!(words("echo a2>x"), ["echo", "a2"]);
    }

    #[test]
    fn pipelines_chains_and_lists() {
        let list = parsed("ls /bin | grep s | wc -l && echo yes || echo no; sleep 5 &");
        assert_eq!(list.items.len(), 2);
        let first = &list.items[0];
        assert_eq!(first.first.commands.len(), 3);
        assert_eq!(first.first.commands[2].words, [text("wc"), text("-l")]);
        assert_eq!(first.rest.len(), 2);
        assert_eq!(first.rest[0].0, Connector::And);
        assert_eq!(first.rest[1].0, Connector::Or);
        assert!(!first.background);
        assert!(list.items[1].background);
        assert_eq!(parse("a ; b ;").unwrap().unwrap().items.len(), 2);
        assert_eq!(parse("a & b &").unwrap().unwrap().items.len(), 2);
    }

    #[test]
    fn variables_expand_when_run() {
        let list = parsed(r#"echo $? "${HOME}x" $1 '$NAME' \$NAME "$NAME's" $ a$"#);
        let command = &list.items[0].first.commands[0];
        let lookup = |name: &str| match name {
            "?" => "3".into(),
            "HOME" => "/h".into(),
            "1" => "one".into(),
            "NAME" => "n".into(),
            _ => String::new(),
        };
        let expanded: std::vec::Vec<String> = command
            .words
            .iter()
            .map(|word| word.expand(&lookup))
            .collect();
        assert_eq!(
            expanded,
            [
                "echo", "3", "/hx", "one", "$NAME", "$NAME", "n's", "$", "a$"
            ]
        );
        assert_eq!(command.words[1].literal(), None);
        assert_eq!(command.words[5].literal(), Some("$NAME".into()));
    }

    #[test]
    fn globs_are_plain_stars_and_question_marks() {
        let list = parsed(r#"ls *.txt '*.txt' a?c \* "$X" $X"#);
        let words = &list.items[0].first.commands[0].words;
        let lookup = |_: &str| String::from("*");
        let pattern = words[1].pattern(&lookup).unwrap();
        assert!(matches(&pattern, "notes.txt"));
        assert!(
            matches(&pattern, ".txt") == false,
            "a dot file needs a plain dot"
        );
        assert!(!matches(&pattern, "notes.txt.bak"));
        // Quoted, escaped or from a variable: the word means itself.
        assert_eq!(words[2].pattern(&lookup), None);
        assert_eq!(words[4].pattern(&lookup), None);
        assert_eq!(words[5].pattern(&lookup), None);
        assert_eq!(words[6].pattern(&lookup), None);
        let question = words[3].pattern(&lookup).unwrap();
        assert!(matches(&question, "abc"));
        assert!(!matches(&question, "ac"));
        assert!(!matches(&question, "abbc"));
        let star = |text: &str| -> std::vec::Vec<(char, bool)> {
            text.chars()
                .map(|character| (character, character == '*' || character == '?'))
                .collect()
        };
        for (pattern, name, expected) in [
            ("*", "anything", true),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*a", "banana", true),
            ("**", "x", true),
            ("?", "", false),
            (".*", ".hidden", true),
            ("*", ".hidden", false),
        ] {
            assert_eq!(matches(&star(pattern), name), expected, "{pattern} {name}");
        }
    }

    #[test]
    fn assignments_set_variables() {
        let list = parsed("A=1 B=\"x y\" C=");
        let assignments = list.items[0].first.commands[0].assignments().unwrap();
        let shown: std::vec::Vec<(String, String)> = assignments
            .iter()
            .map(|(name, value)| (name.clone(), value.expand(&|_| String::new())))
            .collect();
        assert_eq!(
            shown,
            [
                ("A".into(), "1".into()),
                ("B".into(), "x y".into()),
                ("C".into(), "".into())
            ]
        );
        // Not assignments: a quoted name, a bad name, a later word.
        assert!(
            list_of("'A'=1").items[0].first.commands[0]
                .assignments()
                .is_none()
        );
        assert!(
            list_of("1A=1").items[0].first.commands[0]
                .assignments()
                .is_none()
        );
        assert!(
            list_of("echo A=1").items[0].first.commands[0]
                .assignments()
                .is_none()
        );
    }

    fn list_of(line: &str) -> List {
        parsed(line)
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
            ("cat <", SyntaxError::MissingFile),
            ("echo 2>", SyntaxError::MissingFile),
            ("> file", SyntaxError::MissingCommand(";")),
            ("&", SyntaxError::MissingCommand("&")),
            ("| wc", SyntaxError::MissingCommand("|")),
            ("ls |", SyntaxError::MissingCommand("|")),
            ("ls | | wc", SyntaxError::MissingCommand("|")),
            ("ls &&", SyntaxError::MissingCommand("&&")),
            ("|| ls", SyntaxError::MissingCommand("||")),
            ("; ls", SyntaxError::MissingCommand(";")),
            ("a && b &", SyntaxError::BackgroundChain),
            ("A=1 ls", SyntaxError::AssignmentBeforeProgram),
            ("echo ${", SyntaxError::BadVariable),
            ("echo ${a b}", SyntaxError::BadVariable),
            ("(ls)", SyntaxError::Unsupported("( ) (a subshell)")),
            (
                "echo `ls`",
                SyntaxError::Unsupported("`...` (command substitution)"),
            ),
            (
                "echo $(ls)",
                SyntaxError::Unsupported("$(...) (command substitution)"),
            ),
            (
                "cat << EOF",
                SyntaxError::Unsupported("<< (a here-document)"),
            ),
            (
                "ls 3> x",
                SyntaxError::Unsupported("a descriptor other than 1 or 2"),
            ),
            (
                "ls 2>&3",
                SyntaxError::Unsupported("2>& with anything but 1"),
            ),
            ("ls >& x", SyntaxError::Unsupported(">& and >|")),
            ("ls &> x", SyntaxError::Unsupported("&>")),
            ("ls |& wc", SyntaxError::Unsupported("|&")),
            ("a ;; b", SyntaxError::Unsupported(";;")),
            (
                "A=1 | wc",
                SyntaxError::Unsupported("NAME=value in a pipeline or with &"),
            ),
            ("{ ls; }", SyntaxError::Unsupported("{ } (a group)")),
        ];
        for (line, error) in cases {
            assert_eq!(parse(line), Err(error), "{line}");
        }
        // Every message is a sentence of its own.
        for (_, error) in cases {
            assert!(!error.describe().is_empty());
        }
    }
}
