//! sh: the shell (`docs/shell.md`). init starts it through the proc server
//! with client handles to the console, the file system and the proc
//! server, and the power right.
//!
//! It reads the console in raw mode and edits the line itself
//! (`init::line_editor`: backspace, left/right, history), parses it
//! (`init::syntax`: quoting, `>`/`>>`, `&`), and either runs a built-in
//! (`help`, `cd`, `pwd`, `wait`, `kill`, `jobs`, `exit`) or starts a
//! program through the proc server: `ls`, `cat`, `echo`, `mkdir`, `rm`,
//! `mv`, `ps`, `shutdown`, ... are programs in `/bin`, each a `SPAWN`.
//!
//! Everything is a ring operation, and the shell is one event loop over
//! its ring: a `READ` of the console is always pending (bytes typed while
//! a program runs wait their turn, as type-ahead), and so is a `WAIT` for
//! each background job, so `[1] done` is reported as soon as it happens.
//!
//! A child gets the shell's console (or, with `>`, the open file), a file
//! system handle that names the current directory (so its relative paths
//! start there), and, only for `/bin/shutdown`, the power right.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use init::line_editor::{Event, LineEditor};
use init::syntax::{self, Command};
use libring::abi::{Completion, Errno, WAIT_KILLED, open_flags, spawn_handles};
use libring::ops::{self, SubmissionOptions};
use libring::process::spawn_request;
use libring::runtime::{self, Arguments, with_ring};
use libring::{eprintln, println};

libring::entry!(main);

/// `user_data` of the console `READ`.
const READ_TAG: u64 = 1;
/// User data of the pause before a console `READ` the console was too busy
/// to take (`EBUSY`) is tried again.
const RETRY_TAG: u64 = 2;
/// That pause: 50 ms.
const RETRY_NANOSECONDS: u64 = 50_000_000;
/// `user_data` of a job's `WAIT`: this bit and the job's number.
const JOB_TAG: u64 = 1 << 32;
/// Bytes read from the console at a time.
const INPUT_MAX: usize = 64;
/// The longest reason text kept from `WAIT`.
const REASON_MAX: usize = 160;

const HELP: &str = "\
built-ins:
  help               this list
  cd [DIR]           change the current directory (/ if none)
  pwd                print the current directory
  jobs               list the background jobs
  wait               wait for every background job
  kill PID|%JOB      end a job
  exit [CODE]        leave the shell (init then powers off)
programs in /bin (run by name, or by a path with a /):
  ls [PATH...]  cat FILE...  echo WORD...  mkdir DIR...  rm PATH...
  mv FROM TO    ps           sleep MS      shutdown      true
a command may end with > FILE (write), >> FILE (append) or & (background);
'...' and \"...\" quote, \\ escapes one character";

/// A program running in the background.
struct Job {
    number: u32,
    id: u32,
    handle: u32,
    name: String,
    /// Where `WAIT` writes why it ended (lent to the kernel until then).
    reason: Box<[u8; REASON_MAX]>,
}

struct Shell {
    console: u32,
    file_system: u32,
    processes: u32,
    power: Option<u32>,
    /// The current directory, absolute, and an open handle to it.
    cwd: String,
    cwd_handle: u32,
    editor: LineEditor,
    /// Typed bytes not yet given to the editor.
    typed: VecDeque<u8>,
    /// The console `READ`'s buffer (lent to the server while pending).
    input: Box<[u8; INPUT_MAX]>,
    reading: bool,
    jobs: Vec<Job>,
    next_job: u32,
    /// Set by `exit`.
    exit_code: Option<i32>,
}

fn main(_arguments: Arguments) -> i32 {
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
        cwd: String::from("/"),
        cwd_handle: root as u32,
        editor: LineEditor::new(),
        typed: VecDeque::new(),
        input: Box::new([0; INPUT_MAX]),
        reading: false,
        jobs: Vec::new(),
        next_job: 1,
        exit_code: None,
    };
    // Raw input: every byte as it is typed, no echo; the editor echoes.
    let _ = with_ring(|ring| ring.run(ops::control(console, [1, 0, 0])));
    println!("Annulus shell: type help for the commands.");
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

    /// The event loop: edit, run, report jobs, until `exit` or the end of
    /// input.
    fn run(&mut self) -> i32 {
        self.show(self.prompt().as_bytes());
        loop {
            while let Some(byte) = self.typed.pop_front() {
                let prompt = self.prompt();
                let mut echo = Vec::new();
                let event = self.editor.feed(byte, &prompt, &mut echo);
                self.show(&echo);
                match event {
                    Event::Editing => continue,
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
            if let Err(error) = self.wait_for_events() {
                eprintln!("sh: the console is gone ({}); exiting", error.description());
                return 1;
            }
        }
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
            let read = ops::read(self.console, &mut self.input[..], 0).with_user_data(READ_TAG);
            with_ring(|ring| ring.push(read)).map_err(|_| Errno::Busy)?;
            self.reading = true;
        }
        Ok(())
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
        if completion.user_data == READ_TAG {
            self.reading = false;
            match completion.result {
                count if count > 0 => self
                    .typed
                    .extend(&self.input[..(count as usize).min(INPUT_MAX)]),
                // ^C in cooked mode or a cancelled read: read again.
                count if count == Errno::Interrupted.result() || count == 0 => {}
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
        } else if completion.user_data & JOB_TAG != 0 {
            let number = (completion.user_data & 0xffff_ffff) as u32;
            if let Some(index) = self.jobs.iter().position(|job| job.number == number) {
                let job = self.jobs.remove(index);
                let reason = reason_text(&job.reason[..]);
                println!("[{}] done: {} ({})", job.number, job.name, reason);
                close(job.handle);
            }
        }
        Ok(())
    }

    /// Runs one command line.
    fn execute(&mut self, line: &str) {
        let command = match syntax::parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(error) => {
                eprintln!("sh: {}", error.describe());
                return;
            }
        };
        let name = command.words[0].as_str();
        let builtin = matches!(
            name,
            "help" | "cd" | "pwd" | "jobs" | "wait" | "kill" | "exit"
        );
        if builtin && (command.redirect.is_some() || command.background) {
            eprintln!("sh: {name}: a built-in takes no > or &");
            return;
        }
        let arguments: Vec<&str> = command.words[1..].iter().map(String::as_str).collect();
        match name {
            "help" => println!("{HELP}"),
            "cd" => self.change_directory(arguments.first().copied().unwrap_or("/")),
            "pwd" => println!("{}", self.cwd),
            "jobs" => {
                for job in &self.jobs {
                    println!("[{}] {} {}", job.number, job.id, job.name);
                }
            }
            "wait" => self.wait_for_jobs(),
            "kill" => self.kill(&arguments),
            "exit" => {
                let code = arguments.first().map(|word| word.parse::<i32>());
                match code {
                    None => self.exit_code = Some(0),
                    Some(Ok(code)) => self.exit_code = Some(code),
                    Some(Err(_)) => eprintln!("sh: exit: {}: not a number", arguments[0]),
                }
            }
            _ => self.start(&command),
        }
    }

    fn change_directory(&mut self, path: &str) {
        let target = syntax::resolve(&self.cwd, path);
        let flags = open_flags::READ | open_flags::DIRECTORY;
        let opened =
            with_ring(|ring| ring.run(ops::open(self.file_system, target.as_bytes(), flags)));
        match opened {
            Ok(handle) => {
                close(self.cwd_handle);
                self.cwd_handle = handle as u32;
                self.cwd = target;
            }
            Err(error) => eprintln!("sh: cd: {path}: {}", error.description()),
        }
    }

    /// `wait`: until every background job has ended (each reported).
    fn wait_for_jobs(&mut self) {
        while !self.jobs.is_empty() {
            if let Err(error) = self.wait_for_events() {
                eprintln!("sh: wait: {}", error.description());
                return;
            }
        }
    }

    fn kill(&mut self, arguments: &[&str]) {
        let [target] = arguments else {
            eprintln!("sh: kill: usage: kill PID|%JOB");
            return;
        };
        let job = match target.strip_prefix('%') {
            Some(number) => number
                .parse::<u32>()
                .ok()
                .and_then(|number| self.jobs.iter().find(|job| job.number == number)),
            None => target
                .parse::<u32>()
                .ok()
                .and_then(|id| self.jobs.iter().find(|job| job.id == id)),
        };
        let Some(job) = job else {
            eprintln!("sh: kill: {target}: no such job of this shell");
            return;
        };
        if let Err(error) = with_ring(|ring| ring.run(ops::kill(job.handle))) {
            eprintln!("sh: kill: {target}: {}", error.description());
        }
    }

    /// Starts a program, in the foreground or the background.
    fn start(&mut self, command: &Command) {
        let name = command.words[0].as_str();
        let path = if name.contains('/') {
            syntax::resolve(&self.cwd, name)
        } else {
            alloc::format!("/bin/{name}")
        };
        let mut output = None;
        if let Some(redirect) = &command.redirect {
            let mut flags = open_flags::WRITE | open_flags::CREATE | open_flags::APPEND;
            if !redirect.append {
                flags |= open_flags::TRUNCATE;
            }
            let target = syntax::resolve(&self.cwd, &redirect.path);
            let opened =
                with_ring(|ring| ring.run(ops::open(self.file_system, target.as_bytes(), flags)));
            match opened {
                Ok(handle) => output = Some(handle as u32),
                Err(error) => {
                    eprintln!("sh: {}: {}", redirect.path, error.description());
                    return;
                }
            }
        }
        let mut handles = [0u32; spawn_handles::COUNT];
        handles[spawn_handles::STDIN] = self.console;
        handles[spawn_handles::STDOUT] = output.unwrap_or(self.console);
        handles[spawn_handles::STDERR] = self.console;
        handles[spawn_handles::FILE_SYSTEM] = self.cwd_handle;
        if path == "/bin/shutdown" {
            handles[spawn_handles::POWER] = self.power.unwrap_or(0);
        }
        let words: Vec<&str> = command.words.iter().map(String::as_str).collect();
        let mut request = alloc::vec![0u8; 4096];
        let spawned = spawn_request(&path, &words, &mut request).and_then(|length| {
            with_ring(|ring| ring.run(ops::spawn(self.processes, &request[..length], handles)))
        });
        // The child has its own copy of the output file now.
        if let Some(output) = output {
            close(output);
        }
        let child = match spawned {
            Ok(handle) => handle as u32,
            Err(Errno::NotFound) if !name.contains('/') => {
                eprintln!("sh: {name}: command not found");
                return;
            }
            Err(Errno::InvalidArgument) => {
                eprintln!("sh: {name}: arguments too long");
                return;
            }
            Err(error) => {
                eprintln!("sh: {name}: {}", error.description());
                return;
            }
        };
        if command.background {
            self.background(child, name);
        } else {
            self.foreground(child, name);
        }
    }

    /// Waits for a foreground child; one line if it was killed.
    fn foreground(&mut self, child: u32, name: &str) {
        let mut reason = [0u8; REASON_MAX];
        let waited = with_ring(|ring| ring.run(ops::wait(child, &mut reason)));
        close(child);
        match waited {
            // The program has said what went wrong, if anything.
            Ok(code) if code != WAIT_KILLED => {}
            Ok(_) => eprintln!("sh: {name}: {}", reason_text(&reason)),
            Err(error) => eprintln!("sh: {name}: wait: {}", error.description()),
        }
    }

    /// Keeps a `WAIT` pending for a background child, and says its number.
    fn background(&mut self, child: u32, name: &str) {
        let id = with_ring(|ring| ring.run(ops::process_info(child))).unwrap_or(0) as u32;
        let number = self.next_job;
        self.next_job += 1;
        let mut job = Job {
            number,
            id,
            handle: child,
            name: String::from(name),
            reason: Box::new([0; REASON_MAX]),
        };
        let wait = ops::wait(child, &mut job.reason[..]).with_user_data(JOB_TAG | number as u64);
        if with_ring(|ring| ring.push(wait)).is_err() {
            eprintln!("sh: {name}: no room to wait for it; killing it");
            let _ = with_ring(|ring| ring.run(ops::kill(child)));
            close(child);
            return;
        }
        println!("[{number}] {id}");
        self.jobs.push(job);
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
