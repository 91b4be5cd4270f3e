//! sh: the shell (`docs/shell.md`). init starts it through the proc server
//! with client handles to the console (as its three standard streams), the
//! file system and the proc server, the power right, and the services the
//! manifest gives it (the pipe server's among them).
//!
//! It reads the console in raw mode and edits the line itself
//! (`init::line_editor`: backspace, left/right, history), parses it
//! (`init::syntax`: quoting, variables, redirections, `|`, `;`, `&&`,
//! `||`, `&`), and runs each command: a built-in (`help`, `cd`, `pwd`,
//! `wait`, `kill`, `jobs`, `exit`), a variable assignment, or a program
//! started through the proc server: `ls`, `cat`, `echo`, `mkdir`, `rm`,
//! `mv`, `ps`, `shutdown`, ... are programs in `/bin`, each a `SPAWN`.
//!
//! ```text
//!   ls /bin | wc -l > n          pipe server            proc server
//!   ───────────────────          ───────────            ───────────
//!   1. CONTROL CREATE  ────────► a pipe: read end R
//!      CONTROL WRITE_END on R ─► write end W
//!   2. SPAWN ls  (stdin console, stdout W, stderr console) ──────► ls
//!      SPAWN wc  (stdin R, stdout file n, stderr console)  ──────► wc
//!   3. CLOSE R, W, n: only the children hold them now, so wc sees the
//!      end of its input when ls ends (the kernel's RELEASE of W)
//!   4. WAIT each child; $? is the last one's exit code
//! ```
//!
//! Everything is a ring operation, and the shell is one event loop over
//! its ring: between commands a `READ` of the console is always pending,
//! and so is a `WAIT` for each background job, so `[1] done` is reported
//! as soon as it happens. While a foreground job runs, the shell gives the
//! console up: its `READ` is cancelled and the console is in cooked mode,
//! so the job reads typed lines; the shell takes it back, raw, afterwards.
//!
//! A child gets standard streams (the console, files, pipe ends), a file
//! system handle that names the current directory (so its relative paths
//! start there), and, only for `/bin/shutdown`, the power right. A
//! background job's standard input is nothing (it reads the end at once).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use init::line_editor::{Event, LineEditor};
use init::syntax::{self, Connector, List, Pipeline, Redirect, Word};
use libring::abi::{
    Completion, DirectoryEntry, Errno, WAIT_KILLED, file_kind, open_flags, spawn_handles,
};
use libring::ops::{self, SubmissionOptions};
use libring::process::spawn_request;
use libring::runtime::{self, Arguments, with_ring};
use libring::{console, names};
use libring::{eprintln, println};
use zerocopy::FromBytes;

libring::entry!(main);

/// The first argument a shell gives a shell it starts: the directory to
/// start in (`--cwd=/tmp`), taken out before the script's arguments.
const CWD_OPTION: &str = "--cwd=";

/// `user_data` of the console `READ`.
const READ_TAG: u64 = 1;
/// User data of the pause before a console `READ` the console was too busy
/// to take (`EBUSY`) is tried again.
const RETRY_TAG: u64 = 2;
/// That pause: 50 ms.
const RETRY_NANOSECONDS: u64 = 50_000_000;
/// `user_data` of the `CANCEL` of the console `READ`.
const CANCEL_TAG: u64 = 3;
/// `user_data` of the console's interrupt wait (`CONTROL [2, 0, 0]`).
const INTERRUPT_TAG: u64 = 4;
/// `user_data` of the `WATCH` on init's names service (a server restarted).
const WATCH_TAG: u64 = 5;
/// `user_data` of the pause before a refused `WATCH` is asked again, and
/// that pause: 1 s.
const WATCH_PAUSE_TAG: u64 = 6;
const WATCH_PAUSE_NANOSECONDS: u64 = 1_000_000_000;
/// How long `kill` of a server waits for init to start it again: 3 s, in
/// 10 ms looks.
const RESTART_LOOKS: u32 = 300;
const RESTART_LOOK_NANOSECONDS: u64 = 10_000_000;
/// `user_data` of a foreground process's `WAIT`: this, plus its place in
/// the pipeline (below 256).
const FOREGROUND_TAG: u64 = 1 << 20;
/// `user_data` of a job's `WAIT`: this bit, the job's number shifted by 8,
/// and the process's place in its pipeline.
const JOB_TAG: u64 = 1 << 40;
/// The byte Ctrl-C sends.
const CONTROL_C: u8 = 0x03;
/// Bytes read from the console at a time: lines, for a shell that reads
/// cooked input.
const INPUT_MAX: usize = 64;
/// The longest reason text kept from `WAIT`.
const REASON_MAX: usize = 160;
/// The most commands in one pipeline.
const PIPELINE_MAX: usize = 16;

/// `$?` of a command that could not be started: not found, and found but
/// not a program (as sh).
const NOT_FOUND: i32 = 127;
const NOT_RUNNABLE: i32 = 126;
/// `$?` of a process that was killed (sh's 128 + 9, for SIGKILL).
const KILLED: i32 = 137;
/// `$?` of a foreground job ended with Ctrl-C (sh's 128 + 2, for SIGINT).
const INTERRUPTED: i32 = 130;
/// `$?` after a syntax error or a misused built-in.
const USAGE: i32 = 2;

const HELP: &str = "\
built-ins:
  help               this list
  cd [DIR]           change the current directory (/ if none)
  pwd                print the current directory
  history            the lines typed so far
  jobs               list the background jobs
  wait               wait for every background job
  kill PID|%JOB      end a job (or one process of it)
  kill ROLE          end a server (console, fs, ...: ps lists them); init restarts it
  exit [CODE]        leave the shell (init then powers off)
  NAME=value         set a variable ($NAME, and $? the last exit code)
programs in /bin (run by name, or by a path with a /):
  ls [PATH...]  cat [FILE...]  echo WORD...  mkdir DIR...  rm PATH...
  mv FROM TO    ps             sleep MS      shutdown      true  false
  wc [-lwc] [FILE...]  head [-n N|-c N] [FILE...]  tail [-n N] [FILE]
  grep TEXT [FILE...]  cp FROM TO  touch FILE...  stat PATH...  clear
  ls -l -a  yes [WORD...]  cmp A B  faultinject ROLE|random [N]
  faultinject crash|wrong|stall ROLE   fail a server's next reply
a | b pipes a's output to b; a ; b, a && b, a || b run one after the other;
< FILE, > FILE, >> FILE, 2> FILE, 2>> FILE and 2>&1 redirect; & runs in the
background; * and ? match names; sh FILE ARGS runs a script ($1, ...);
Ctrl-C ends the running job; '...' and \"...\" quote, \\ escapes one character";

/// Console `READ`s that may fail in a row before the shell gives up.
const READ_ERRORS_MAX: u32 = 3;

/// One process of a background job.
struct Member {
    id: u32,
    handle: u32,
    /// Where `WAIT` writes why it ended (lent to the kernel until then).
    reason: Box<[u8; REASON_MAX]>,
    ended: bool,
}

/// A pipeline running in the background.
struct Job {
    number: u32,
    name: String,
    members: Vec<Member>,
}

/// How a foreground process ended.
enum Ending {
    /// It could not be started.
    NotStarted,
    Running,
    Exited(i32),
    /// Killed by the shell, for a Ctrl-C.
    Interrupted,
    /// Killed by someone else (or lost): why.
    Killed(String),
}

/// A process of a pipeline, as started.
struct Started {
    name: String,
    /// Its process handle; 0 if it could not be started (`status` says
    /// why).
    handle: u32,
    status: i32,
}

struct Shell {
    /// Standard input: the console (the terminal the shell edits on, for
    /// the interactive shell).
    console: u32,
    file_system: u32,
    processes: u32,
    power: Option<u32>,
    /// The pipe service, if the shell was given one.
    pipes: Option<u32>,
    /// The current directory, absolute, and an open handle to it.
    cwd: String,
    cwd_handle: u32,
    editor: LineEditor,
    /// Typed bytes not yet given to the editor.
    typed: VecDeque<u8>,
    /// The console `READ`'s buffer (lent to the server while pending).
    input: Box<[u8; INPUT_MAX]>,
    reading: bool,
    /// `READ`s and interrupt waits still pending at a console the shell
    /// has since reconnected from: each completes with `ESRVDEAD`, which
    /// is no news.
    stale_reads: u32,
    stale_interrupts: u32,
    /// A `CONTROL [INTERRUPT_WAIT]` is pending at the console.
    interrupt_armed: bool,
    /// The console does not take interrupt waits: do not ask again.
    interrupt_refused: bool,
    /// The shell has the terminal handle (the console took its raw mode):
    /// it edits lines itself and gives each job a reader handle of its
    /// own. A shell started by another has only the reader it was given:
    /// it reads cooked lines, which the console edits.
    owns_terminal: bool,
    /// The cooked console said end of file (Ctrl-D): a shell without the
    /// terminal ends.
    input_ended: bool,
    /// What a foreground job gets as standard input, output and error
    /// when not redirected: for the shell that owns the terminal, a
    /// reader handle made for the line and writer handles (so a job can
    /// neither switch the console's mode nor take the shell's Ctrl-C, and
    /// cannot read once the line is done); otherwise the shell's own.
    job_input: u32,
    job_output: u32,
    job_errors: u32,
    /// Ctrl-C was typed while a foreground job ran.
    interrupted: bool,
    jobs: Vec<Job>,
    next_job: u32,
    /// `$?`: the exit code of the last pipeline.
    status: i32,
    /// The shell's variables, `NAME=value`.
    variables: Vec<(String, String)>,
    /// Set by `exit`.
    exit_code: Option<i32>,
    /// Running a script: its path and arguments (`$0`, `$1`, ...);
    /// empty for the interactive shell.
    script: Vec<String>,
    /// The servers' process ids as init last listed them (the shell's
    /// names handle, `session`), to see which were restarted.
    servers: Vec<(String, u32)>,
    /// Restarts init has reported to the `WATCH` so far.
    restarts_seen: u64,
    /// The console was reconnected: the line being edited is to be drawn
    /// again on it.
    console_renewed: bool,
    /// Console `READ`s failed in a row (other than the server's death).
    read_errors: u32,
}

fn main(arguments: Arguments) -> i32 {
    let (Some(console), Some(file_system), Some(processes)) = (
        runtime::stdin(),
        runtime::file_system(),
        runtime::processes(),
    ) else {
        eprintln!("sh: needs the console, file system and proc server handles");
        return 1;
    };
    let flags = open_flags::READ | open_flags::DIRECTORY;
    let Ok(root) = with_ring(|ring| ring.run(ops::open(file_system, b"/", flags))) else {
        eprintln!("sh: cannot open /");
        return 1;
    };
    let mut shell = Shell {
        console,
        file_system,
        processes,
        power: runtime::power(),
        pipes: runtime::service("pipe"),
        cwd: String::from("/"),
        cwd_handle: root as u32,
        editor: LineEditor::new(),
        typed: VecDeque::new(),
        input: Box::new([0; INPUT_MAX]),
        reading: false,
        stale_reads: 0,
        stale_interrupts: 0,
        interrupt_armed: false,
        interrupt_refused: false,
        owns_terminal: false,
        input_ended: false,
        job_input: console,
        job_output: runtime::stdout().unwrap_or(console),
        job_errors: runtime::stderr().unwrap_or(console),
        interrupted: false,
        jobs: Vec::new(),
        next_job: 1,
        status: 0,
        variables: Vec::new(),
        exit_code: None,
        script: Vec::new(),
        servers: Vec::new(),
        restarts_seen: 0,
        console_renewed: false,
        read_errors: 0,
    };
    // Room to go on when memory runs out (`runtime::keep_ballast`): the
    // shell allocates a little for each line, and must still be able to
    // run `kill` and `rm` to give memory back.
    let _ = runtime::keep_ballast(64 << 10);
    let mut words: Vec<String> = arguments.iter().skip(1).map(String::from).collect();
    // Started by a shell: its directory first (`--cwd=PATH`).
    if let Some(directory) = words.first().and_then(|word| word.strip_prefix(CWD_OPTION)) {
        let directory = String::from(directory);
        words.remove(0);
        shell.change_directory(&directory);
    }
    // `sh FILE ARGUMENT...`: run the file's lines, then end.
    if !words.is_empty() {
        shell.script = words;
        return shell.run_script();
    }
    shell.owns_terminal = shell.raw_input(true);
    if shell.owns_terminal {
        shell.make_writers();
        shell.servers = shell.list_servers().unwrap_or_default();
        shell.watch();
        println!("Annulus shell: type help for the commands.");
    } else {
        println!("Annulus shell (reading lines: the terminal is another shell's)");
    }
    shell.run()
}

impl Shell {
    fn prompt(&self) -> String {
        alloc::format!("annulus:{}$ ", self.cwd)
    }

    /// Writes terminal bytes (echo, prompt) straight to the console.
    fn show(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let _ = with_ring(|ring| ring.run(ops::write(self.console, bytes, 0)));
        }
    }

    /// Raw input (every byte as typed, no echo: the editor echoes) for the
    /// shell, or cooked (lines, edited and echoed by the console) for a
    /// job. Whether the console took it (a reader handle cannot ask).
    fn raw_input(&self, raw: bool) -> bool {
        let mode = if raw { console::RAW } else { console::COOKED };
        with_ring(|ring| ring.run(ops::control(self.console, [mode, 0, 0]))).is_ok()
    }

    /// A console handle of `kind` (`console::READER` or `WRITER`), made by
    /// the console for a job.
    fn console_handle(&self, kind: u64) -> Result<u32, Errno> {
        with_ring(|ring| ring.run(ops::control(self.console, [kind, 0, 0])))
            .map(|handle| handle as u32)
    }

    /// The writer handle jobs print through, in place of the console
    /// itself where the shell's output and error are the console. Without
    /// one, jobs are given no output (they print through the kernel log):
    /// never the terminal handle.
    fn make_writers(&mut self) {
        let writer = self.console_handle(console::WRITER).unwrap_or_else(|error| {
            eprintln!(
                "sh: the console made no writer handle ({}): programs print through the kernel log",
                error.description()
            );
            0
        });
        if self.job_output == self.console {
            self.job_output = writer;
        }
        if self.job_errors == self.console {
            self.job_errors = writer;
        }
    }

    /// Asks init to say when a server has been restarted (the terminal
    /// shell's `WATCH` on its names handle, `session`).
    fn watch(&mut self) {
        if let Some(session) = runtime::service("session") {
            let watch = ops::control(session, [names::WATCH, self.restarts_seen, 0])
                .with_user_data(WATCH_TAG);
            let _ = with_ring(|ring| ring.push(watch));
        }
    }

    /// Init's list of the roles (`libring::names`), as text: `None`
    /// without a names handle, or if it cannot be read.
    fn roles_text(&self) -> Option<String> {
        let session = runtime::service("session")?;
        let mut text = alloc::vec![0u8; 1024];
        let count = with_ring(|ring| ring.run(ops::read(session, &mut text, 0))).ok()?;
        text.truncate((count as usize).min(text.len()));
        String::from_utf8(text).ok()
    }

    /// The roles and their process ids, as init lists them (`None`
    /// without a names handle, or if the list cannot be read).
    fn list_servers(&self) -> Option<Vec<(String, u32)>> {
        let text = self.roles_text()?;
        Some(
            text.lines()
                .filter_map(names::Role::parse)
                .map(|role| (String::from(role.role), role.id))
                .collect(),
        )
    }

    /// Has init given `role` up?
    fn role_is_down(&self, role: &str) -> bool {
        self.roles_text().is_some_and(|text| {
            text.lines()
                .filter_map(names::Role::parse)
                .any(|line| line.role == role && line.state == names::State::Down)
        })
    }

    /// Reconnects the roles init has restarted since the shell last
    /// looked (their process ids changed). The console only for the
    /// shell that owns the terminal: a shell reading another's lines
    /// must not take a terminal handle.
    fn renew_restarted(&mut self) {
        let Some(now) = self.list_servers() else {
            return;
        };
        for (role, id) in &now {
            let was = self.servers.iter().find(|(name, _)| name == role);
            let console_not_ours = role == "console" && !self.owns_terminal;
            if was.is_some_and(|(_, old)| old != id) && *id != 0 && !console_not_ours {
                self.renew(role);
            }
        }
        self.servers = now;
    }

    /// `role`'s server was restarted: a new handle to it from init, in
    /// place of the shell's dead one. The console is set up again (raw
    /// mode, a writer for jobs); a new file server gets the current
    /// directory opened anew (`/` if it is gone). Whether it worked.
    fn renew(&mut self, role: &str) -> bool {
        let old = match role {
            "console" if self.owns_terminal => self.console,
            "fs" => self.file_system,
            "proc" => runtime::processes().unwrap_or(self.processes),
            "pipe" => self.pipes.unwrap_or(0),
            _ => 0,
        };
        if old == 0 {
            return false;
        }
        let new = match runtime::reconnect(role, old) {
            Ok(new) => new,
            Err(error) => {
                eprintln!("sh: cannot reach {role} again: {}", error.description());
                return false;
            }
        };
        match role {
            "console" => {
                self.console = new;
                // The jobs' writer was the old console's: a new one below.
                // (A line's reader, if any, goes when the line ends.)
                if self.job_output != old && self.job_output != 0 {
                    close(self.job_output);
                }
                self.job_output = new;
                self.job_errors = new;
                self.stale_reads += self.reading as u32;
                self.stale_interrupts += self.interrupt_armed as u32;
                self.reading = false;
                self.interrupt_armed = false;
                self.interrupt_refused = false;
                self.raw_input(true);
                self.make_writers();
                self.console_renewed = true;
            }
            "fs" => {
                self.file_system = new;
                let flags = open_flags::READ | open_flags::DIRECTORY;
                let mut opened =
                    with_ring(|ring| ring.run(ops::open(new, self.cwd.as_bytes(), flags)));
                if opened.is_err() {
                    self.cwd = String::from("/");
                    opened = with_ring(|ring| ring.run(ops::open(new, b"/", flags)));
                }
                close(self.cwd_handle);
                self.cwd_handle = opened.map_or(0, |handle| handle as u32);
            }
            "proc" => self.processes = new,
            _ => self.pipes = Some(new),
        }
        true
    }

    /// Tab: what the word before the cursor may become. The first word of
    /// the line: a built-in or a program of `/bin`; any other word (or one
    /// with a `/`): a path. One candidate goes in whole (with `/` after a
    /// directory, a space after anything else); several put in what they
    /// share and, if that is nothing more, are listed below the line; none
    /// rings the bell.
    fn complete(&mut self, prompt: &str, out: &mut Vec<u8>) {
        let (_, word, first) = self.editor.word();
        let (folder, prefix) = match word.rfind('/') {
            Some(at) => (&word[..=at], &word[at + 1..]),
            None => ("", word.as_str()),
        };
        let mut candidates: Vec<(String, bool)> = if first && folder.is_empty() {
            let mut names: Vec<(String, bool)> = BUILTINS
                .iter()
                .map(|name| (String::from(*name), false))
                .collect();
            names.extend(
                list_entries(self.file_system, "/bin")
                    .into_iter()
                    .filter(|(_, directory)| !directory),
            );
            names
        } else {
            let target = syntax::resolve(&self.cwd, if folder.is_empty() { "." } else { folder });
            list_entries(self.file_system, &target)
        };
        candidates.retain(|(name, _)| {
            name.starts_with(prefix) && (prefix.starts_with('.') || !name.starts_with('.'))
        });
        candidates.sort();
        candidates.dedup();
        match candidates.as_slice() {
            [] => out.push(0x07),
            [(name, directory)] => {
                let ending = if *directory { "/" } else { " " };
                let insert = alloc::format!("{}{ending}", syntax::escape(&name[prefix.len()..]));
                self.editor.complete(&insert, "", prompt, out);
            }
            several => {
                let shared =
                    several
                        .iter()
                        .skip(1)
                        .fold(several[0].0.as_str(), |shared, (name, _)| {
                            let length = shared
                                .char_indices()
                                .zip(name.chars())
                                .take_while(|((_, a), b)| a == b)
                                .last()
                                .map_or(0, |((at, a), _)| at + a.len_utf8());
                            &shared[..length]
                        });
                if shared.len() > prefix.len() {
                    let insert = syntax::escape(&shared[prefix.len()..]);
                    self.editor.complete(&insert, "", prompt, out);
                } else {
                    let listing: Vec<String> = several
                        .iter()
                        .take(100)
                        .map(|(name, directory)| {
                            alloc::format!("{name}{}", if *directory { "/" } else { "" })
                        })
                        .collect();
                    self.editor.complete("", &listing.join("  "), prompt, out);
                }
            }
        }
    }

    /// `sh FILE ARGUMENT...`: runs each line of the file as if typed (its
    /// arguments are `$1`, `$2`, ...), without a prompt and without taking
    /// the console; ends with the last line's `$?`, or `exit`'s code.
    fn run_script(&mut self) -> i32 {
        let path = syntax::resolve(&self.cwd, &self.script[0]);
        let text = match read_file(self.file_system, &path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("sh: {}: {}", self.script[0], error.description());
                return NOT_FOUND;
            }
        };
        let Ok(text) = core::str::from_utf8(&text) else {
            eprintln!("sh: {}: not text (UTF-8)", self.script[0]);
            return NOT_RUNNABLE;
        };
        for line in text.lines() {
            self.execute(line);
            if let Some(code) = self.exit_code {
                return code;
            }
        }
        self.status
    }

    /// The event loop: edit, run, report jobs, until `exit` or the end of
    /// input.
    fn run(&mut self) -> i32 {
        self.show(self.prompt().as_bytes());
        loop {
            if !self.owns_terminal
                && let Some(code) = self.run_typed_lines()
            {
                return code;
            }
            // (A shell without the terminal leaves a line's first part in
            // `typed` until its end comes.)
            while self.owns_terminal
                && let Some(byte) = self.typed.pop_front()
            {
                let prompt = self.prompt();
                let mut echo = Vec::new();
                let event = self.editor.feed(byte, &prompt, &mut echo);
                self.show(&echo);
                match event {
                    Event::Editing => continue,
                    Event::Complete => {
                        let mut shown = Vec::new();
                        self.complete(&prompt, &mut shown);
                        self.show(&shown);
                        continue;
                    }
                    Event::Line(line) => self.execute(&line),
                    Event::Interrupt => {}
                    Event::EndOfInput => {
                        println!("exit");
                        self.exit_code = Some(0);
                    }
                }
                if let Some(code) = self.exit_code {
                    return code;
                }
                self.show(self.prompt().as_bytes());
            }
            match self.wait_for_events() {
                Ok(()) => self.read_errors = 0,
                // The console server was restarted: the terminal shell
                // reconnects and goes on (a shell reading another's lines
                // has lost its input: it ends).
                Err(Errno::ServerDead) if self.owns_terminal && self.renew("console") => {}
                // A read that failed (an I/O error, say) is tried again, a
                // few times in a row at most: one bad answer does not end
                // the session.
                Err(error) if error != Errno::ServerDead && self.read_errors < READ_ERRORS_MAX => {
                    self.read_errors += 1;
                    eprintln!(
                        "sh: reading the console: {}; reading again",
                        error.description()
                    );
                }
                Err(error) => {
                    eprintln!("sh: the console is gone ({}); exiting", error.description());
                    return 1;
                }
            }
            // A new console shows nothing of the line being typed: draw it
            // again (what was typed at the old one and not read is lost).
            if core::mem::take(&mut self.console_renewed) {
                let mut out = Vec::from(&b"\r\n"[..]);
                self.editor.complete("", "", &self.prompt(), &mut out);
                self.show(&out);
            }
        }
    }

    /// A shell without the terminal: runs each whole line typed (the
    /// console edited it), then shows the prompt. `Some(code)` once the
    /// shell is to end: `exit`, or Ctrl-D.
    fn run_typed_lines(&mut self) -> Option<i32> {
        while let Some(end) = self.typed.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.typed.drain(..=end).collect();
            self.execute(&String::from_utf8_lossy(&line[..end]));
            if self.exit_code.is_some() {
                return self.exit_code;
            }
            self.show(self.prompt().as_bytes());
        }
        if self.input_ended {
            println!("exit");
            return Some(self.status);
        }
        None
    }

    /// Keeps the console `READ` pending, waits for at least one
    /// completion, and takes every completion there is.
    fn wait_for_events(&mut self) -> Result<(), Errno> {
        self.arm_read()?;
        // Completions may be waiting already, stashed by the ring while it
        // ran something else: then there is nothing to wait for.
        if !self.take_completions()? {
            with_ring(|ring| ring.submit_and_wait(1))?;
            self.take_completions()?;
        }
        Ok(())
    }

    fn arm_read(&mut self) -> Result<(), Errno> {
        if !self.reading {
            // In raw mode one byte at a time: what is typed after an Enter
            // must stay at the console, unread, for the job the line
            // starts (the console types it again, cooked, when the shell
            // lends it); a longer READ could take `\rfirst line` at once,
            // and the job would never see its first line.
            let wanted = if self.owns_terminal { 1 } else { INPUT_MAX };
            let read =
                ops::read(self.console, &mut self.input[..wanted], 0).with_user_data(READ_TAG);
            with_ring(|ring| ring.push(read)).map_err(|_| Errno::Busy)?;
            self.reading = true;
        }
        Ok(())
    }

    /// Gives the console to the line about to run: Ctrl-C now comes to
    /// the shell (the console's interrupt wait, armed first and kept: in
    /// the shell's raw mode Ctrl-C is just a byte), and input is cooked,
    /// so a job reads typed lines. What was typed after Enter and not read
    /// yet is typed again, cooked, by the console as it switches (a Ctrl-C
    /// among it answers the wait). A `READ` of the shell's still pending
    /// (it has none while a line runs, unless `wait` armed one) is
    /// cancelled; a Ctrl-C it got first counts too.
    fn lend_console(&mut self) {
        if self.owns_terminal {
            // Without a reader the job reads nothing: never the terminal
            // handle.
            self.job_input = self
                .console_handle(console::READER)
                .unwrap_or_else(|error| {
                    eprintln!(
                        "sh: the console made no reader handle ({}): the line reads nothing",
                        error.description()
                    );
                    0
                });
        }
        if !self.interrupt_armed && !self.interrupt_refused {
            let wait = ops::control(self.console, [console::INTERRUPT_WAIT, 0, 0])
                .with_user_data(INTERRUPT_TAG);
            if with_ring(|ring| ring.push(wait)).is_ok() {
                self.interrupt_armed = true;
            }
        }
        self.raw_input(false);
        if self.reading {
            let cancel = ops::cancel(READ_TAG).with_user_data(CANCEL_TAG);
            if with_ring(|ring| ring.push(cancel)).is_ok() {
                while self.reading {
                    if with_ring(|ring| ring.submit_and_wait(1)).is_err()
                        || self.take_completions().is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Ctrl-C typed before the console was cooked: for this line too,
        // and, as at a terminal, the input typed ahead goes with it.
        if self.typed.contains(&CONTROL_C) {
            self.typed.clear();
            self.interrupted = true;
            self.show(b"^C\n");
        }
    }

    /// Takes the console back after a line: the job's reader handle
    /// reclaimed (a program the line left running can no longer read what
    /// is typed for the shell), and raw input again.
    fn take_console_back(&mut self) {
        if self.owns_terminal {
            let _ =
                with_ring(|ring| ring.run(ops::control(self.console, [console::RECLAIM, 0, 0])));
            if self.job_input != 0 {
                close(self.job_input);
            }
            self.job_input = 0;
        }
        self.raw_input(true);
    }

    /// Handles every completion there is; says whether there was any.
    fn take_completions(&mut self) -> Result<bool, Errno> {
        let mut any = false;
        while let Some(completion) = with_ring(|ring| ring.completion()) {
            self.completed(completion)?;
            any = true;
        }
        Ok(any)
    }

    /// One completion of the shell's own: typed bytes, or a job's end.
    fn completed(&mut self, completion: Completion) -> Result<(), Errno> {
        let dead = completion.result == Errno::ServerDead.result();
        if completion.user_data == READ_TAG && dead && self.stale_reads > 0 {
            self.stale_reads -= 1;
        } else if completion.user_data == INTERRUPT_TAG && dead && self.stale_interrupts > 0 {
            self.stale_interrupts -= 1;
        } else if completion.user_data == READ_TAG {
            self.reading = false;
            match completion.result {
                count if count > 0 => self
                    .typed
                    .extend(&self.input[..(count as usize).min(INPUT_MAX)]),
                // The end of input, for a shell reading cooked lines.
                0 if !self.owns_terminal => self.input_ended = true,
                // ^C in cooked mode, a cancelled read, the end: read again.
                count
                    if count == Errno::Interrupted.result()
                        || count == Errno::Cancelled.result()
                        || count == 0 => {}
                // The console has no place for another READ now (other
                // programs hold them): not the console's end. Try again
                // after a pause (`reading` stays set until then).
                busy if busy == Errno::Busy.result() => {
                    let pause = ops::timeout(RETRY_NANOSECONDS).with_user_data(RETRY_TAG);
                    with_ring(|ring| ring.push(pause)).map_err(|_| Errno::Busy)?;
                    self.reading = true;
                }
                error => return Err(Errno::from_result(error).unwrap_or(Errno::InvalidArgument)),
            }
        } else if completion.user_data == RETRY_TAG {
            self.reading = false;
        } else if completion.user_data == INTERRUPT_TAG {
            self.interrupt_armed = false;
            match completion.result {
                0 => self.interrupted = true,
                // Replaced, cancelled, every place at the console taken
                // for now, or a console restarted: ask again next time.
                again
                    if again == Errno::Cancelled.result()
                        || again == Errno::Busy.result()
                        || again == Errno::ServerDead.result() => {}
                // Not a console that takes them (or not this handle's to
                // ask): do not ask again.
                _ => self.interrupt_refused = true,
            }
        } else if completion.user_data == WATCH_TAG {
            match u64::try_from(completion.result) {
                Ok(restarts) => {
                    self.restarts_seen = restarts;
                    self.renew_restarted();
                    self.watch();
                }
                // Refused (every place taken) or cut short: ask again
                // after a pause, without losing a restart meanwhile.
                Err(_) => {
                    let pause =
                        ops::timeout(WATCH_PAUSE_NANOSECONDS).with_user_data(WATCH_PAUSE_TAG);
                    let _ = with_ring(|ring| ring.push(pause));
                }
            }
        } else if completion.user_data == WATCH_PAUSE_TAG {
            self.renew_restarted();
            self.watch();
        } else if completion.user_data & JOB_TAG != 0 {
            let number = ((completion.user_data & !JOB_TAG) >> 8) as u32;
            let place = (completion.user_data & 0xff) as usize;
            self.member_ended(number, place, completion.result);
        }
        Ok(())
    }

    /// A process of a background job has ended; the job is done when the
    /// last has.
    fn member_ended(&mut self, number: u32, place: usize, result: i32) {
        let Some(index) = self.jobs.iter().position(|job| job.number == number) else {
            return;
        };
        let job = &mut self.jobs[index];
        if let Some(member) = job.members.get_mut(place) {
            member.ended = true;
            close(member.handle);
            if place + 1 == job.members.len() {
                self.status = status_of(result);
            }
        }
        if job.members.iter().all(|member| member.ended) {
            let job = self.jobs.remove(index);
            let last = job
                .members
                .last()
                .map_or("?", |member| reason_text(&member.reason[..]));
            println!("[{}] done: {} ({})", job.number, job.name, last);
        }
    }

    /// Runs one command line.
    fn execute(&mut self, line: &str) {
        // The ballast back, if the last line used it (and memory is free
        // again); if not, the line runs on what there is.
        let _ = runtime::restore_ballast();
        let list = match syntax::parse(line) {
            Ok(Some(list)) => list,
            Ok(None) => return,
            Err(error) => {
                eprintln!("sh: {}", error.describe());
                self.status = USAGE;
                return;
            }
        };
        // A script's shell leaves the console as the shell that ran it set
        // it (cooked, for its job: the script).
        let interactive = self.script.is_empty();
        if interactive {
            self.lend_console();
        }
        self.run_list(&list);
        if interactive {
            self.take_console_back();
        }
        if self.interrupted {
            self.interrupted = false;
            self.status = INTERRUPTED;
        }
    }

    /// Runs a line's items in order, until a Ctrl-C or `exit`.
    fn run_list(&mut self, list: &List) {
        for item in &list.items {
            if self.interrupted {
                return;
            }
            if item.background {
                self.start_background(&item.first);
                continue;
            }
            self.run_pipeline(&item.first);
            for (connector, pipeline) in &item.rest {
                if self.exit_code.is_some() || self.interrupted {
                    break;
                }
                let wanted = match connector {
                    Connector::And => self.status == 0,
                    Connector::Or => self.status != 0,
                };
                if wanted {
                    self.run_pipeline(pipeline);
                }
            }
            if self.exit_code.is_some() {
                return;
            }
        }
    }

    /// A variable's value: `$?`, `$0`, a shell variable, or nothing.
    fn lookup(&self, name: &str) -> String {
        match name {
            "?" => alloc::format!("{}", self.status),
            "0" => self
                .script
                .first()
                .cloned()
                .unwrap_or_else(|| String::from("sh")),
            "#" => alloc::format!("{}", self.script.len().saturating_sub(1)),
            digits if digits.bytes().all(|byte| byte.is_ascii_digit()) => digits
                .parse::<usize>()
                .ok()
                .and_then(|index| self.script.get(index).cloned())
                .unwrap_or_default(),
            _ => self
                .variables
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default(),
        }
    }

    fn expand(&self, word: &Word) -> String {
        word.expand(&|name| self.lookup(name))
    }

    /// A command's words as its program gets them: variables replaced,
    /// and each word with a plain `*` or `?` in its last part replaced by
    /// the names it matches in that directory, sorted (the word itself if
    /// none does, as in sh).
    fn expand_words(&self, words: &[Word]) -> Vec<String> {
        let mut expanded = Vec::new();
        for word in words {
            let lookup = |name: &str| self.lookup(name);
            let Some(pattern) = word.pattern(&lookup) else {
                expanded.push(self.expand(word));
                continue;
            };
            let matched = self.glob(&pattern);
            if matched.is_empty() {
                expanded.push(self.expand(word));
            } else {
                expanded.extend(matched);
            }
        }
        expanded
    }

    /// The paths `pattern` matches: its last part against the names in
    /// the directory before it (a wildcard before the last `/` is taken
    /// as it is written).
    fn glob(&self, pattern: &[(char, bool)]) -> Vec<String> {
        let split = pattern.iter().rposition(|&(character, _)| character == '/');
        let (folder, last) = match split {
            Some(at) => (&pattern[..=at], &pattern[at + 1..]),
            None => (&pattern[..0], pattern),
        };
        let folder: String = folder.iter().map(|&(character, _)| character).collect();
        let target = syntax::resolve(&self.cwd, if folder.is_empty() { "." } else { &folder });
        let mut names: Vec<String> = list_directory(self.file_system, &target)
            .into_iter()
            .filter(|name| syntax::matches(last, name))
            .map(|name| alloc::format!("{folder}{name}"))
            .collect();
        names.sort();
        names
    }

    /// Runs a pipeline in the foreground and sets `$?`.
    fn run_pipeline(&mut self, pipeline: &Pipeline) {
        if let [command] = pipeline.commands.as_slice() {
            if let Some(assignments) = command.assignments() {
                for (name, value) in assignments {
                    let value = self.expand(&value);
                    match self.variables.iter_mut().find(|(known, _)| *known == name) {
                        Some((_, old)) => *old = value,
                        None => self.variables.push((name, value)),
                    }
                }
                self.status = 0;
                return;
            }
            let name = self.expand(&command.words[0]);
            if is_builtin(&name) {
                if !command.redirects.is_empty() {
                    eprintln!("sh: {name}: a built-in takes no redirection");
                    self.status = USAGE;
                    return;
                }
                let words: Vec<String> =
                    command.words.iter().map(|word| self.expand(word)).collect();
                self.status = self.builtin(&words);
                return;
            }
        }
        let started = self.start_pipeline(pipeline, false);
        let ended = self.wait_for_foreground(&started);
        let mut status = 0;
        for (process, ending) in started.iter().zip(ended) {
            status = match ending {
                Ending::NotStarted => process.status,
                Ending::Running => {
                    eprintln!("sh: {}: the ring failed while waiting for it", process.name);
                    KILLED
                }
                Ending::Exited(code) => code,
                Ending::Interrupted => INTERRUPTED,
                Ending::Killed(reason) => {
                    eprintln!("sh: {}: {reason}", process.name);
                    KILLED
                }
            };
        }
        let last_started = started.last().is_some_and(|last| last.handle != 0);
        let interactive = self.script.is_empty();
        if interactive && status != 0 && status != KILLED && status != INTERRUPTED && last_started {
            println!("[exit {status}]");
        }
        self.status = status;
    }

    /// Waits for every process of a foreground pipeline to end; returns
    /// how each did. A Ctrl-C meanwhile (the console's answer to the
    /// interrupt wait) kills those still running. Other completions (typed
    /// bytes, background jobs) are handled as they come.
    fn wait_for_foreground(&mut self, started: &[Started]) -> Vec<Ending> {
        let mut endings: Vec<Ending> = started
            .iter()
            .map(|process| {
                if process.handle == 0 {
                    Ending::NotStarted
                } else {
                    Ending::Running
                }
            })
            .collect();
        let mut reasons: Vec<Box<[u8; REASON_MAX]>> =
            started.iter().map(|_| Box::new([0; REASON_MAX])).collect();
        for (place, (process, reason)) in started.iter().zip(reasons.iter_mut()).enumerate() {
            if process.handle == 0 {
                continue;
            }
            let wait = ops::wait(process.handle, &mut reason[..])
                .with_user_data(FOREGROUND_TAG | place as u64);
            if with_ring(|ring| ring.push(wait)).is_err() {
                // No room on the ring to wait for it: end it rather than
                // lose it.
                let _ = with_ring(|ring| ring.run(ops::kill(process.handle)));
                let mut gone = [0u8; REASON_MAX];
                let _ = with_ring(|ring| ring.run(ops::wait(process.handle, &mut gone)));
                endings[place] = Ending::Killed(String::from("no room on the ring to wait for it"));
            }
        }
        let mut interrupted = false;
        while endings
            .iter()
            .any(|ending| matches!(ending, Ending::Running))
        {
            if self.interrupted && !interrupted {
                interrupted = true;
                for (process, ending) in started.iter().zip(&endings) {
                    if matches!(ending, Ending::Running) {
                        let _ = with_ring(|ring| ring.run(ops::kill(process.handle)));
                    }
                }
            }
            // Completions the ring stashed while it ran something else
            // come first: waiting for a new one would wait past them.
            let mut any = false;
            while let Some(completion) = with_ring(|ring| ring.completion()) {
                any = true;
                if completion.user_data & !0xff == FOREGROUND_TAG {
                    let place = (completion.user_data & 0xff) as usize;
                    if let Some(ending) = endings.get_mut(place) {
                        *ending = match completion.result {
                            WAIT_KILLED if interrupted => Ending::Interrupted,
                            WAIT_KILLED => {
                                Ending::Killed(String::from(reason_text(&reasons[place][..])))
                            }
                            code if code >= 0 => Ending::Exited(code),
                            error => Ending::Killed(alloc::format!(
                                "wait: {}",
                                Errno::from_result(error).map_or("?", Errno::description)
                            )),
                        };
                    }
                } else if self.completed(completion).is_err() {
                    // The console is gone; the job's processes still end.
                }
            }
            if !any && with_ring(|ring| ring.submit_and_wait(1)).is_err() {
                break;
            }
        }
        for process in started.iter().filter(|process| process.handle != 0) {
            close(process.handle);
        }
        endings
    }

    /// Starts every command of `pipeline`, joined by pipes; returns them in
    /// order (a command that could not start is there with handle 0 and
    /// its status). The shell's copies of the pipe ends and files are
    /// closed: only the children hold them.
    fn start_pipeline(&mut self, pipeline: &Pipeline, background: bool) -> Vec<Started> {
        let count = pipeline.commands.len();
        if count > PIPELINE_MAX {
            eprintln!("sh: at most {PIPELINE_MAX} commands in a pipeline");
            return Vec::new();
        }
        // pipes[i] joins command i to command i + 1: (read end, write end).
        let mut pipes: Vec<(u32, u32)> = Vec::new();
        if count > 1 {
            let Some(service) = self.pipes else {
                eprintln!(
                    "sh: | needs the pipe service (a role with clients = [\"*\"] in the system manifest)"
                );
                self.status = USAGE;
                return Vec::new();
            };
            for _ in 1..count {
                match with_ring(|ring| libring::pipe::create(ring, service)) {
                    Ok(pipe) => pipes.push(pipe),
                    Err(error) => {
                        eprintln!("sh: cannot make a pipe: {}", error.description());
                        for (read, write) in pipes {
                            close(read);
                            close(write);
                        }
                        self.status = USAGE;
                        return Vec::new();
                    }
                }
            }
        }
        let mut started = Vec::new();
        for (place, command) in pipeline.commands.iter().enumerate() {
            let words = self.expand_words(&command.words);
            let name = words[0].clone();
            // The shell's own streams (the console, or a script's), then
            // the pipes, then the redirections.
            let first_input = if background { 0 } else { self.job_input };
            let mut streams = [
                if place == 0 {
                    first_input
                } else {
                    pipes[place - 1].0
                },
                if place + 1 == count {
                    self.job_output
                } else {
                    pipes[place].1
                },
                self.job_errors,
            ];
            let mut opened = Vec::new();
            let redirected = self.redirect(&command.redirects, &mut streams, &mut opened);
            let outcome = if is_builtin(&name) {
                eprintln!("sh: {name}: a built-in cannot be part of a pipeline or run with &");
                Err(USAGE)
            } else if command.assignments().is_some() {
                Err(USAGE)
            } else if redirected {
                self.spawn(&words, streams)
            } else {
                Err(1)
            };
            for handle in opened {
                close(handle);
            }
            started.push(match outcome {
                Ok(handle) => Started {
                    name,
                    handle,
                    status: 0,
                },
                Err(status) => Started {
                    name,
                    handle: 0,
                    status,
                },
            });
        }
        for (read, write) in pipes {
            close(read);
            close(write);
        }
        started
    }

    /// Applies `redirects` to `streams` (stdin, stdout, stderr), opening
    /// files (kept in `opened`, for the caller to close); says whether all
    /// of them worked (each failure has its line).
    fn redirect(
        &self,
        redirects: &[Redirect],
        streams: &mut [u32; 3],
        opened: &mut Vec<u32>,
    ) -> bool {
        for redirect in redirects {
            let (path, flags, stream) = match redirect {
                Redirect::ErrorToOutput => {
                    streams[2] = streams[1];
                    continue;
                }
                Redirect::Input(path) => (path, open_flags::READ, 0),
                Redirect::Output { path, append } | Redirect::Error { path, append } => {
                    let mut flags = open_flags::WRITE | open_flags::CREATE | open_flags::APPEND;
                    if !append {
                        flags |= open_flags::TRUNCATE;
                    }
                    let stream = if matches!(redirect, Redirect::Output { .. }) {
                        1
                    } else {
                        2
                    };
                    (path, flags, stream)
                }
            };
            let shown = self.expand(path);
            let target = syntax::resolve(&self.cwd, &shown);
            let result =
                with_ring(|ring| ring.run(ops::open(self.file_system, target.as_bytes(), flags)));
            match result {
                Ok(handle) => {
                    opened.push(handle as u32);
                    streams[stream] = handle as u32;
                }
                Err(error) => {
                    eprintln!("sh: {shown}: {}", error.description());
                    return false;
                }
            }
        }
        true
    }

    /// Starts one program with standard streams `streams`; its process
    /// handle, or the `$?` it fails with. Why it failed is written to the
    /// command's own standard error (so `nosuch 2> e` puts it in `e`, as
    /// sh does).
    fn spawn(&self, words: &[String], streams: [u32; 3]) -> Result<u32, i32> {
        let failed = |message: String| {
            let line = alloc::format!("sh: {message}\n");
            let _ = with_ring(|ring| ring.run(ops::write(streams[2], line.as_bytes(), 0)));
        };
        let name = words[0].as_str();
        let path = if name.contains('/') {
            syntax::resolve(&self.cwd, name)
        } else {
            alloc::format!("/bin/{name}")
        };
        let mut handles = [0u32; spawn_handles::COUNT];
        handles[spawn_handles::STDIN] = streams[0];
        handles[spawn_handles::STDOUT] = streams[1];
        handles[spawn_handles::STDERR] = streams[2];
        handles[spawn_handles::FILE_SYSTEM] = self.cwd_handle;
        if path == "/bin/shutdown" {
            handles[spawn_handles::POWER] = self.power.unwrap_or(0);
        }
        // A script's shell starts programs too.
        if path == "/bin/sh" {
            handles[spawn_handles::PROCESSES] = self.processes;
        }
        let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
        // A shell started from this one starts in its directory.
        let directory = alloc::format!("{CWD_OPTION}{}", self.cwd);
        if path == "/bin/sh" {
            words.insert(1, &directory);
        }
        let mut request = alloc::vec![0u8; 4096];
        // (The runtime's handle follows a reconnection.)
        let processes = runtime::processes().unwrap_or(self.processes);
        let mut spawned = spawn_request(&path, &words, &mut request).and_then(|length| {
            with_ring(|ring| ring.run(ops::spawn(processes, &request[..length], handles)))
        });
        // The proc server was restarted (and the shell has not heard yet):
        // reconnect and ask the new one. The old started nothing.
        if spawned == Err(Errno::ServerDead)
            && let Ok(processes) = runtime::reconnect("proc", processes)
        {
            spawned = spawn_request(&path, &words, &mut request).and_then(|length| {
                with_ring(|ring| ring.run(ops::spawn(processes, &request[..length], handles)))
            });
        }
        match spawned {
            Ok(handle) => Ok(handle as u32),
            Err(Errno::NotFound) if !name.contains('/') => {
                failed(alloc::format!("{name}: command not found"));
                Err(NOT_FOUND)
            }
            Err(Errno::InvalidArgument) => {
                failed(alloc::format!("{name}: arguments too long"));
                Err(NOT_RUNNABLE)
            }
            Err(error) => {
                failed(alloc::format!("{name}: {}", error.description()));
                Err(if error == Errno::NotFound {
                    NOT_FOUND
                } else {
                    NOT_RUNNABLE
                })
            }
        }
    }

    /// Runs a built-in; returns its `$?`.
    fn builtin(&mut self, words: &[String]) -> i32 {
        let arguments: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        match words[0].as_str() {
            "help" => println!("{HELP}"),
            "cd" => return self.change_directory(arguments.first().copied().unwrap_or("/")),
            "pwd" => println!("{}", self.cwd),
            "history" => {
                for (index, line) in self.editor.history().iter().enumerate() {
                    println!("{:>5}  {line}", index + 1);
                }
            }
            "jobs" => {
                for job in &self.jobs {
                    let ids: Vec<String> = job
                        .members
                        .iter()
                        .map(|member| alloc::format!("{}", member.id))
                        .collect();
                    println!("[{}] {} {}", job.number, ids.join(" "), job.name);
                }
            }
            "wait" => self.wait_for_jobs(),
            "kill" => return self.kill(&arguments),
            "exit" => match arguments.first().map(|word| word.parse::<i32>()) {
                None => self.exit_code = Some(0),
                Some(Ok(code)) => self.exit_code = Some(code),
                Some(Err(_)) => {
                    eprintln!("sh: exit: {}: not a number", arguments[0]);
                    return USAGE;
                }
            },
            _ => return USAGE,
        }
        0
    }

    fn change_directory(&mut self, path: &str) -> i32 {
        let target = syntax::resolve(&self.cwd, path);
        let flags = open_flags::READ | open_flags::DIRECTORY;
        let opened =
            with_ring(|ring| ring.run(ops::open(self.file_system, target.as_bytes(), flags)));
        match opened {
            Ok(handle) => {
                close(self.cwd_handle);
                self.cwd_handle = handle as u32;
                self.cwd = target;
                0
            }
            Err(error) => {
                eprintln!("sh: cd: {path}: {}", error.description());
                1
            }
        }
    }

    /// `wait`: until every background job has ended (each reported), or
    /// Ctrl-C.
    fn wait_for_jobs(&mut self) {
        while !self.jobs.is_empty() && !self.interrupted {
            if let Err(error) = self.wait_for_events() {
                eprintln!("sh: wait: {}", error.description());
                return;
            }
        }
    }

    /// `kill %JOB` ends every process of a job; `kill PID` one process of
    /// one.
    fn kill(&mut self, arguments: &[&str]) -> i32 {
        let [target] = arguments else {
            eprintln!("sh: kill: usage: kill PID|%JOB|ROLE");
            return USAGE;
        };
        // A server, by its role or process id: init kills it (and starts
        // it again, as its manifest line says).
        let servers = self.list_servers().unwrap_or_default();
        let server = servers
            .iter()
            .find(|(role, id)| role == target || (*id != 0 && target.parse() == Ok(*id)));
        let is_job = self.jobs.iter().any(|job| {
            job.members
                .iter()
                .any(|member| target.parse() == Ok(member.id))
        });
        if let Some((role, id)) = server.filter(|_| !is_job) {
            return self.kill_server(role, *id);
        }
        let handles: Vec<u32> = match target.strip_prefix('%') {
            Some(number) => number
                .parse::<u32>()
                .ok()
                .and_then(|number| self.jobs.iter().find(|job| job.number == number))
                .map(|job| {
                    job.members
                        .iter()
                        .filter(|member| !member.ended)
                        .map(|member| member.handle)
                        .collect()
                })
                .unwrap_or_default(),
            None => target
                .parse::<u32>()
                .ok()
                .and_then(|id| {
                    self.jobs
                        .iter()
                        .flat_map(|job| job.members.iter())
                        .find(|member| member.id == id && !member.ended)
                })
                .map(|member| alloc::vec![member.handle])
                .unwrap_or_default(),
        };
        if handles.is_empty() {
            eprintln!("sh: kill: {target}: no such job of this shell, or server");
            return 1;
        }
        for handle in handles {
            if let Err(error) = with_ring(|ring| ring.run(ops::kill(handle))) {
                eprintln!("sh: kill: {target}: {}", error.description());
                return 1;
            }
        }
        0
    }

    /// `kill ROLE`: asks init to kill the server, then waits (3 s at most)
    /// until init has started it again, and reconnects to it.
    fn kill_server(&mut self, role: &str, id: u32) -> i32 {
        let Some(session) = runtime::service("session") else {
            return 1;
        };
        if id == 0 {
            eprintln!("sh: kill: {role} is down");
            return 1;
        }
        let killed = with_ring(|ring| ring.run(ops::control(session, [names::KILL, id as u64, 0])));
        if let Err(error) = killed {
            eprintln!("sh: kill: {role}: {}", error.description());
            return 1;
        }
        for _ in 0..RESTART_LOOKS {
            let now = self.list_servers().unwrap_or_default();
            match now.iter().find(|(name, _)| name == role) {
                Some(&(_, new)) if new != id && new != 0 => {
                    // First the new handles: the console's output too.
                    // (The prompt that follows the command draws the line.)
                    self.renew_restarted();
                    self.console_renewed = false;
                    println!("{role}: restarted as process {new}");
                    return 0;
                }
                Some(_) if self.role_is_down(role) => {
                    eprintln!("sh: kill: {role} is down (init did not start it again)");
                    return 1;
                }
                // Not yet (or the list could not be read): look again.
                _ => {
                    let _ = with_ring(|ring| ring.run(ops::timeout(RESTART_LOOK_NANOSECONDS)));
                }
            }
        }
        eprintln!("sh: kill: {role}: killed; not started again yet");
        0
    }

    /// Starts a pipeline in the background: a `WAIT` pending for each of
    /// its processes, and its number said.
    fn start_background(&mut self, pipeline: &Pipeline) {
        let started = self.start_pipeline(pipeline, true);
        let number = self.next_job;
        let names: Vec<&str> = started
            .iter()
            .map(|process| process.name.as_str())
            .collect();
        let mut job = Job {
            number,
            name: names.join(" | "),
            members: Vec::new(),
        };
        for process in started.into_iter().filter(|process| process.handle != 0) {
            let id = with_ring(|ring| ring.run(ops::process_info(process.handle))).unwrap_or(0);
            job.members.push(Member {
                id: id as u32,
                handle: process.handle,
                reason: Box::new([0; REASON_MAX]),
                ended: false,
            });
        }
        if job.members.is_empty() {
            self.status = NOT_FOUND;
            return;
        }
        self.next_job += 1;
        for (place, member) in job.members.iter_mut().enumerate() {
            let tag = JOB_TAG | (u64::from(number) << 8) | place as u64;
            let wait = ops::wait(member.handle, &mut member.reason[..]).with_user_data(tag);
            if with_ring(|ring| ring.push(wait)).is_err() {
                eprintln!("sh: no room to wait for process {}; killing it", member.id);
                let _ = with_ring(|ring| ring.run(ops::kill(member.handle)));
                let mut reason = [0u8; REASON_MAX];
                let _ = with_ring(|ring| ring.run(ops::wait(member.handle, &mut reason)));
                close(member.handle);
                member.ended = true;
            }
        }
        let ids: Vec<String> = job
            .members
            .iter()
            .map(|member| alloc::format!("{}", member.id))
            .collect();
        println!("[{number}] {}", ids.join(" "));
        self.status = 0;
        self.jobs.push(job);
    }
}

/// The whole file at `path`, at most 1 MiB.
fn read_file(file_system: u32, path: &str) -> Result<Vec<u8>, Errno> {
    const LIMIT: usize = 1 << 20;
    let file =
        with_ring(|ring| ring.run(ops::open(file_system, path.as_bytes(), open_flags::READ)))?
            as u32;
    let mut bytes = Vec::new();
    let mut piece = alloc::vec![0u8; 4096];
    let result = loop {
        match with_ring(|ring| ring.run(ops::read(file, &mut piece, bytes.len() as u64))) {
            Ok(0) => break Ok(()),
            Ok(count) if bytes.len() + count as usize > LIMIT => break Err(Errno::FileTooBig),
            Ok(count) => bytes.extend_from_slice(&piece[..count as usize]),
            Err(error) => break Err(error),
        }
    };
    close(file);
    result.map(|()| bytes)
}

/// The names in the directory at `path` (nothing if it cannot be read).
fn list_directory(file_system: u32, path: &str) -> Vec<String> {
    list_entries(file_system, path)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The entries of the directory at `path`: name, and whether it is a
/// directory.
fn list_entries(file_system: u32, path: &str) -> Vec<(String, bool)> {
    let flags = open_flags::READ | open_flags::DIRECTORY;
    let Ok(directory) = with_ring(|ring| ring.run(ops::open(file_system, path.as_bytes(), flags)))
    else {
        return Vec::new();
    };
    let directory = directory as u32;
    let mut buffer = alloc::vec![0u8; 4096];
    let mut names = Vec::new();
    let mut next = 0u64;
    loop {
        let filled = match with_ring(|ring| ring.run(ops::readdir(directory, &mut buffer, next))) {
            Ok(filled) if filled > 0 => filled as usize,
            _ => break,
        };
        let mut at = 0;
        while let Ok((head, _)) = DirectoryEntry::read_from_prefix(&buffer[at..filled]) {
            let name_end = (at + 16 + head.name_length as usize).min(filled);
            if let Ok(name) = core::str::from_utf8(&buffer[at + 16..name_end]) {
                names.push((String::from(name), head.kind == file_kind::DIRECTORY));
            }
            at += DirectoryEntry::record_size(head.name_length as usize);
            next += 1;
            if at >= filled {
                break;
            }
        }
    }
    close(directory);
    names
}

/// The built-ins' names.
const BUILTINS: [&str; 8] = [
    "help", "cd", "pwd", "jobs", "wait", "kill", "exit", "history",
];

fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// `$?` for a `WAIT` result.
fn status_of(result: i32) -> i32 {
    if result == WAIT_KILLED || result < 0 {
        KILLED
    } else {
        result
    }
}

fn close(handle: u32) {
    let _ = with_ring(|ring| ring.run(ops::close(handle)));
}

/// The text `WAIT` wrote (NUL-padded).
fn reason_text(reason: &[u8]) -> &str {
    let length = reason
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(reason.len());
    core::str::from_utf8(&reason[..length]).unwrap_or("?")
}
