//! faultinject: kills servers, to see the system come back
//! (`docs/supervision.md`).
//!
//! ```text
//! faultinject ROLE|random [COUNT]     kill the role (or a random server)
//!                                     COUNT times, each after the last restart
//! faultinject ROLE,ROLE... [COUNT]    kill them all at once (one right after
//!                                     the other), then wait for every restart
//! faultinject campaign COUNT [SEED]   COUNT random kills while a workload runs,
//!                                     then the checks below
//! ```
//!
//! It asks init's names service (`supervise`: the proc server gives it to
//! `/bin/faultinject` and `/bin/ps`) to kill a server
//! (`CONTROL [KILL, pid]`), and waits until init has started it again (the
//! role's process id changes in the names list).
//!
//! **The campaign.** Between kills, and half the time *during* a request
//! (the kill is sent while a `WRITE` of this process is at the file
//! server), it does one round of a workload through every server: a file
//! of `/tmp/fi-N` written whole (N cycles over 16), another read back and
//! compared with what was last written to it *and acknowledged*, a pipe
//! made and 64 bytes sent through it, `/bin/true` started through the
//! proc server and waited for, a line printed. Each request gets a
//! deadline (`LINK_TIMEOUT`, 5 s): one that passes it is a *hung* request.
//! A request that fails with `ESRVDEAD` reconnects (`runtime::reconnect`)
//! and counts as an error, not a failure. At the end:
//!
//! - no request hung, and every server is running again;
//! - every file read back had the bytes of its last acknowledged write,
//!   or (a ram file system, which comes back empty) did not exist; with
//!   `keeps-files` (the FAT system), every acknowledged write is still
//!   there at the end;
//! - the machine's free frames and the kernel heap are back where they
//!   were at the start, give or take what fresh servers differ by (64
//!   frames, 4 KiB: [`FRAMES_SLACK`]), with every server started again
//!   once before each count (so both counts see fresh servers).
//!
//! Its report goes to the kernel log (`LOG`), which survives a console
//! restart; a summary line says `campaign: ... 0 failures` or lists them.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libring::abi::{Errno, SystemValue, open_flags};
use libring::names::{self, Role, State};
use libring::ops::{self, SubmissionOptions};
use libring::process::spawn_request;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

/// A request's deadline: 5 s.
const DEADLINE_NANOSECONDS: u64 = 5_000_000_000;
/// How long a restart may take before it counts as not done: 10 s, in
/// 10 ms looks.
const RESTART_LOOKS: u32 = 1000;
const LOOK_NANOSECONDS: u64 = 10_000_000;
/// How far free frames and the kernel heap may end from where they
/// started: fresh servers are not byte for byte the same (a FAT server's
/// heap after its mount, a table's grown capacity), but a leak of one
/// frame per fault would be a thousand. 64 frames (256 KiB), 4 KiB.
const FRAMES_SLACK: i32 = 64;
const HEAP_SLACK: i32 = 4096;
/// Files the workload writes and reads back, `/tmp/fi-0` to `/tmp/fi-15`.
const FILES: usize = 16;
/// User data of the request under a deadline, and of its timer.
const REQUEST_TAG: u64 = 1;
const TIMER_TAG: u64 = 2;
/// User data of the write a kill is sent behind.
const WRITE_TAG: u64 = 3;

fn main(arguments: Arguments) -> i32 {
    let words: Vec<&str> = arguments.iter().skip(1).collect();
    let Some(session) = runtime::service("supervise") else {
        libring::eprintln!("faultinject: no names handle (supervise): run it from the shell");
        return 1;
    };
    let number = |at: usize, default: u64| -> Option<u64> {
        words
            .get(at)
            .map_or(Some(default), |word| word.parse().ok())
    };
    match words.as_slice() {
        ["campaign", ..] => match (number(1, 1000), number(2, 1)) {
            (Some(count), Some(seed)) => {
                let keeps_files = words.contains(&"keeps-files");
                Campaign::new(session, seed, keeps_files).run(count)
            }
            _ => usage(),
        },
        [together, ..] if together.contains(',') => {
            let Some(count) = number(1, 1) else {
                return usage();
            };
            let roles: Vec<&str> = together.split(',').collect();
            for _ in 0..count {
                let killed = match kill_together(session, &roles) {
                    Ok(killed) => killed,
                    Err(problem) => {
                        libring::eprintln!("faultinject: {together}: {problem}");
                        return 1;
                    }
                };
                for (role, id) in killed {
                    if let Err(problem) = wait_for_restart(session, role, id) {
                        libring::eprintln!("faultinject: {role}: {problem}");
                        return 1;
                    }
                }
            }
            libring::println!(
                "faultinject: {together} killed together {count} times; all restarted"
            );
            0
        }
        [target, ..] if !target.starts_with('-') => {
            let Some(count) = number(1, 1) else {
                return usage();
            };
            // Each faultinject its own sequence (several may run at once).
            let seed = with_ring(|ring| ring.run(ops::system_info(SystemValue::ProcessId)));
            let mut random = Random(seed.unwrap_or(1) as u64);
            for _ in 0..count {
                let role = match *target {
                    "random" => match pick(session, &mut random) {
                        Some(role) => role,
                        None => return 1,
                    },
                    role => String::from(role),
                };
                match kill_and_wait(session, &role) {
                    Ok(id) => {
                        libring::println!("faultinject: {role} killed; restarted as process {id}")
                    }
                    Err(problem) => {
                        libring::eprintln!("faultinject: {role}: {problem}");
                        return 1;
                    }
                }
            }
            0
        }
        _ => usage(),
    }
}

fn usage() -> i32 {
    libring::eprintln!(
        "faultinject: usage: faultinject ROLE|random|ROLE,ROLE... [COUNT] | faultinject campaign COUNT [SEED] [keeps-files]"
    );
    2
}

/// A small deterministic random sequence (xorshift64).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// The roles, their process ids (0: none now) and states, from init's
/// names service.
fn roles_and_states(session: u32) -> Vec<(String, u32, State)> {
    let mut text = alloc::vec![0u8; 1024];
    let Ok(count) = with_ring(|ring| ring.run(ops::read(session, &mut text, 0))) else {
        return Vec::new();
    };
    let text = core::str::from_utf8(&text[..(count as usize).min(text.len())]).unwrap_or("");
    text.lines()
        .filter_map(Role::parse)
        .map(|role| (String::from(role.role), role.id, role.state))
        .collect()
}

/// The roles and their process ids (0: none now).
fn roles(session: u32) -> Vec<(String, u32)> {
    roles_and_states(session)
        .into_iter()
        .map(|(role, id, _)| (role, id))
        .collect()
}

/// A random running server (never the shell).
fn pick(session: u32, random: &mut Random) -> Option<String> {
    let servers: Vec<String> = roles(session)
        .into_iter()
        .filter(|(role, id)| role != "shell" && *id != 0)
        .map(|(role, _)| role)
        .collect();
    if servers.is_empty() {
        libring::eprintln!("faultinject: no server to kill");
        return None;
    }
    let index = random.below(servers.len());
    Some(servers[index].clone())
}

/// Kills `role`'s server; returns its new process id once init has
/// started it again.
fn kill_and_wait(session: u32, role: &str) -> Result<u32, String> {
    let id = kill(session, role)?;
    wait_for_restart(session, role, id)
}

/// Asks init to kill `role`'s server; returns the killed process's id.
fn kill(session: u32, role: &str) -> Result<u32, String> {
    let id = roles(session)
        .into_iter()
        .find(|(name, _)| name == role)
        .map(|(_, id)| id)
        .ok_or(format!("no role {role}"))?;
    if id == 0 {
        return Err(String::from("down"));
    }
    with_ring(|ring| ring.run(ops::control(session, [names::KILL, id as u64, 0])))
        .map_err(|error| format!("kill: {}", error.description()))?;
    Ok(id)
}

/// Asks init to kill every role of `roles` in one batch of requests, so
/// that init takes them all before it hears of the first end; returns
/// each role with the killed process's id.
fn kill_together<'a>(session: u32, roles: &[&'a str]) -> Result<Vec<(&'a str, u32)>, String> {
    let running = self::roles(session);
    let mut killed = Vec::new();
    for role in roles {
        match running.iter().find(|(name, _)| name == role) {
            Some(&(_, id)) if id != 0 => killed.push((*role, id)),
            _ => return Err(format!("{role}: not running")),
        }
    }
    let failed = with_ring(|ring| {
        for (index, &(_, id)) in killed.iter().enumerate() {
            let kill = ops::control(session, [names::KILL, id as u64, 0])
                .with_user_data(100 + index as u64);
            if ring.push(kill).is_err() {
                return Some(Errno::Busy);
            }
        }
        let mut answered = 0;
        let mut failed = None;
        while answered < killed.len() {
            if ring.submit_and_wait(1).is_err() {
                return Some(Errno::Busy);
            }
            while let Some(completion) = ring.completion() {
                if (100..100 + killed.len() as u64).contains(&completion.user_data) {
                    answered += 1;
                    if completion.result < 0 {
                        failed = Errno::from_result(completion.result);
                    }
                }
            }
        }
        failed
    });
    match failed {
        None => Ok(killed),
        Some(error) => Err(format!("kill: {}", error.description())),
    }
}

/// Waits until `role` runs as another process than `old`.
fn wait_for_restart(session: u32, role: &str, old: u32) -> Result<u32, String> {
    for _ in 0..RESTART_LOOKS {
        match roles_and_states(session)
            .iter()
            .find(|(name, _, _)| name == role)
        {
            Some(&(_, _, State::Down)) => return Err(String::from("given up by init")),
            Some(&(_, id, State::Up)) if id != old => return Ok(id),
            _ => {
                let _ = with_ring(|ring| ring.run(ops::timeout(LOOK_NANOSECONDS)));
            }
        }
    }
    Err(String::from("not started again within 10 s"))
}

/// Says `text` through the kernel log (which outlives a console restart).
fn say(text: &str) {
    let line = format!("faultinject: {text}\n");
    let _ = with_ring(|ring| ring.run(ops::log(line.as_bytes())));
}

/// Runs `submission` with a deadline. `Ok(result)` (negative for an
/// error) if it completed in time; `Err(())` if the deadline passed.
fn within_deadline(submission: libring::abi::Submission) -> Result<i32, ()> {
    with_ring(|ring| {
        let request = submission.linked().with_user_data(REQUEST_TAG);
        let timer = ops::link_timeout(DEADLINE_NANOSECONDS).with_user_data(TIMER_TAG);
        if ring.push(request).is_err() || ring.push(timer).is_err() {
            return Ok(Errno::Busy.result());
        }
        let (mut result, mut timer_result) = (None, None);
        loop {
            while let Some(completion) = ring.completion() {
                match completion.user_data {
                    REQUEST_TAG => result = Some(completion.result),
                    TIMER_TAG => timer_result = Some(completion.result),
                    _ => {}
                }
            }
            if let (Some(result), Some(timer)) = (result, timer_result) {
                return if timer == Errno::TimedOut.result() {
                    Err(())
                } else {
                    Ok(result)
                };
            }
            if ring.submit_and_wait(1).is_err() {
                let _ = ring.run(ops::timeout(LOOK_NANOSECONDS));
            }
        }
    })
}

/// The bytes file `slot` holds after the write of round `round`.
fn contents(slot: usize, round: u64) -> Vec<u8> {
    let line = format!("file {slot}, round {round}\n");
    line.as_bytes().repeat(1 + (round % 64) as usize)
}

struct Campaign {
    session: u32,
    random: Random,
    keeps_files: bool,
    /// The round of the last acknowledged write of each file, if its
    /// contents are known.
    written: [Option<u64>; FILES],
    /// Handles to the servers, renewed after each restart.
    fs: u32,
    pipe: u32,
    proc: u32,
    requests: u64,
    errors: u64,
    hung: u64,
    failures: Vec<String>,
    kills: u64,
    killed_mid_request: u64,
}

impl Campaign {
    fn new(session: u32, seed: u64, keeps_files: bool) -> Campaign {
        let mut campaign = Campaign {
            session,
            random: Random(seed),
            keeps_files,
            written: [None; FILES],
            fs: 0,
            pipe: 0,
            proc: 0,
            requests: 0,
            errors: 0,
            hung: 0,
            failures: Vec::new(),
            kills: 0,
            killed_mid_request: 0,
        };
        campaign.connect();
        campaign
    }

    /// New handles to the file system, pipe and proc servers.
    fn connect(&mut self) {
        for (role, handle) in [
            ("fs", &mut self.fs),
            ("pipe", &mut self.pipe),
            ("proc", &mut self.proc),
        ] {
            if *handle != 0 {
                let _ = with_ring(|ring| ring.run(ops::close(*handle)));
            }
            *handle = with_ring(|ring| ring.run(ops::open(self.session, role.as_bytes(), 0)))
                .map_or(0, |handle| handle as u32);
        }
    }

    /// Counts one request's result.
    fn count(&mut self, what: &str, result: Result<i32, ()>) -> Option<i32> {
        self.requests += 1;
        match result {
            Err(()) => {
                self.hung += 1;
                self.failures.push(format!("{what}: no answer within 5 s"));
                None
            }
            Ok(result) if result < 0 => {
                self.errors += 1;
                None
            }
            Ok(result) => Some(result),
        }
    }

    fn run(mut self, count: u64) -> i32 {
        say(&format!(
            "campaign: {count} kills of random servers while a workload runs"
        ));
        // Every server fresh before the first count of memory, and this
        // process's own heap grown to what a round needs (a warm-up round).
        self.restart_all();
        self.workload(0);
        self.kill_during_write(0);
        say("campaign: warmed up");
        (
            self.kills,
            self.killed_mid_request,
            self.requests,
            self.errors,
        ) = (0, 0, 0, 0);
        self.clean_files();
        self.restart_all();
        let before = memory();
        for round in 0..count {
            let mid_request = self.random.below(2) == 0;
            if mid_request && self.fs != 0 {
                self.kill_during_write(round);
            } else {
                self.kill_one();
            }
            self.connect();
            self.workload(round);
            if round % 100 == 99 {
                say(&format!(
                    "campaign: {} kills, {} requests, {} errors, {} hung",
                    self.kills, self.requests, self.errors, self.hung
                ));
            }
        }
        // What was acknowledged is there (FAT), and then all goes.
        if self.keeps_files {
            for slot in 0..FILES {
                self.check_file(slot, true);
            }
        }
        self.clean_files();
        self.restart_all();
        let after = memory();
        let frames_lost = before.0 - after.0;
        let heap_grown = after.1 - before.1;
        if frames_lost > FRAMES_SLACK || heap_grown > HEAP_SLACK {
            self.failures.push(format!(
                "memory: {} free frames and {} bytes of kernel heap before, {} and {} after",
                before.0, before.1, after.0, after.1
            ));
        }
        let down: Vec<String> = roles(self.session)
            .into_iter()
            .filter(|(role, id)| role != "shell" && *id == 0)
            .map(|(role, _)| role)
            .collect();
        if !down.is_empty() {
            self.failures.push(format!("down at the end: {down:?}"));
        }
        say(&format!(
            "campaign: {} kills ({} during a request), {} requests ({} errors, {} hung); free frames {} before, {} after; kernel heap {} bytes before, {} after",
            self.kills,
            self.killed_mid_request,
            self.requests,
            self.errors,
            self.hung,
            before.0,
            after.0,
            before.1,
            after.1
        ));
        for failure in &self.failures {
            say(&format!("campaign FAILURE: {failure}"));
        }
        say(&format!("campaign: {} failures", self.failures.len()));
        if self.failures.is_empty() { 0 } else { 1 }
    }

    /// Kills every server once, each after the last is back.
    fn restart_all(&mut self) {
        let servers: Vec<String> = roles(self.session)
            .into_iter()
            .filter(|(role, _)| role != "shell")
            .map(|(role, _)| role)
            .collect();
        for role in servers {
            if let Err(problem) = kill_and_wait(self.session, &role) {
                self.failures.push(format!("{role}: {problem}"));
            }
        }
        self.connect();
    }

    fn kill_one(&mut self) {
        let Some(role) = pick(self.session, &mut self.random) else {
            self.failures.push(String::from("no server to kill"));
            return;
        };
        self.kills += 1;
        if let Err(problem) = kill_and_wait(self.session, &role) {
            self.failures.push(format!("{role}: {problem}"));
        }
    }

    /// A random server killed while a write of this process is at the
    /// file server (or queued for it).
    fn kill_during_write(&mut self, round: u64) {
        let slot = (round as usize + 7) % FILES;
        let Some(role) = pick(self.session, &mut self.random) else {
            return;
        };
        let path = format!("/tmp/fi-{slot}");
        let flags = open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
        let opened = within_deadline(ops::open(self.fs, path.as_bytes(), flags));
        let Some(file) = self.count("open", opened) else {
            return self.kill_one();
        };
        let file = file as u32;
        let bytes = contents(slot, round);
        // The write goes out, the kill right behind it.
        let write = ops::write(file, &bytes, 0).with_user_data(WRITE_TAG);
        self.written[slot] = None;
        let pushed = with_ring(|ring| ring.push(write).is_ok() && ring.submit().is_ok());
        let killed = kill(self.session, &role);
        self.kills += 1;
        self.killed_mid_request += 1;
        // The write's answer, whatever it is, within the deadline.
        let answer = if pushed {
            wait_for_tag(WRITE_TAG)
        } else {
            Ok(Errno::Busy.result())
        };
        if let Some(count) = self.count("write during a kill", answer)
            && count as usize == bytes.len()
        {
            self.written[slot] = Some(round);
        }
        let _ = with_ring(|ring| ring.run(ops::close(file)));
        match killed {
            Ok(id) => {
                if let Err(problem) = wait_for_restart(self.session, &role, id) {
                    self.failures.push(format!("{role}: {problem}"));
                }
            }
            Err(problem) => self.failures.push(format!("{role}: {problem}")),
        }
    }

    /// One round of the workload.
    fn workload(&mut self, round: u64) {
        let slot = round as usize % FILES;
        self.write_file(slot, round);
        let other = self.random.below(FILES);
        self.check_file(other, false);
        self.pipe_bytes();
        self.spawn_true();
        let line = format!("faultinject: round {round}\n");
        let _ = runtime::write_output(runtime::Output::Out, line.as_bytes());
    }

    fn write_file(&mut self, slot: usize, round: u64) {
        let path = format!("/tmp/fi-{slot}");
        let flags = open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
        self.written[slot] = None;
        let opened = within_deadline(ops::open(self.fs, path.as_bytes(), flags));
        let Some(file) = self.count("open", opened) else {
            return;
        };
        let bytes = contents(slot, round);
        let wrote = within_deadline(ops::write(file as u32, &bytes, 0));
        if self.count("write", wrote) == Some(bytes.len() as i32) {
            self.written[slot] = Some(round);
        }
        let _ = with_ring(|ring| ring.run(ops::close(file as u32)));
    }

    /// Reads file `slot` back: its last acknowledged write, or (a server
    /// that keeps no files, and `must_be_there` false) nothing at all.
    fn check_file(&mut self, slot: usize, must_be_there: bool) {
        let Some(round) = self.written[slot] else {
            return;
        };
        let path = format!("/tmp/fi-{slot}");
        let opened = within_deadline(ops::open(self.fs, path.as_bytes(), open_flags::READ));
        let file = match opened {
            Ok(result)
                if result == Errno::NotFound.result() && !self.keeps_files && !must_be_there =>
            {
                // Gone with a ram file system's restart: allowed.
                self.requests += 1;
                self.written[slot] = None;
                return;
            }
            other => match self.count("open to read", other) {
                Some(file) => file as u32,
                None => {
                    if must_be_there {
                        self.failures
                            .push(format!("{path}: cannot open it at the end"));
                    }
                    return;
                }
            },
        };
        let expected = contents(slot, round);
        let mut buffer = alloc::vec![0u8; expected.len() + 64];
        let read = within_deadline(ops::read(file, &mut buffer, 0));
        let _ = with_ring(|ring| ring.run(ops::close(file)));
        match self.count("read", read) {
            Some(count) if buffer.get(..count as usize) == Some(&expected[..]) => {}
            Some(count) => self.failures.push(format!(
                "{path}: {count} bytes that are not round {round}'s ({} bytes)",
                expected.len()
            )),
            None if must_be_there => {
                self.failures
                    .push(format!("{path}: cannot read it at the end"));
            }
            None => {}
        }
    }

    fn pipe_bytes(&mut self) {
        if self.pipe == 0 {
            self.errors += 1;
            return;
        }
        let made = within_deadline(ops::control(self.pipe, [libring::pipe::CREATE, 0, 0]));
        let Some(read_end) = self.count("pipe", made) else {
            return;
        };
        let read_end = read_end as u32;
        let writer = within_deadline(ops::control(read_end, [libring::pipe::WRITE_END, 0, 0]));
        if let Some(write_end) = self.count("pipe write end", writer) {
            let bytes = [0x5au8; 64];
            let wrote = within_deadline(ops::write(write_end as u32, &bytes, 0));
            self.count("pipe write", wrote);
            let mut back = [0u8; 64];
            let read = within_deadline(ops::read(read_end, &mut back, 0));
            if let Some(count) = self.count("pipe read", read)
                && back.get(..count as usize) != bytes.get(..count as usize)
            {
                self.failures
                    .push(String::from("pipe: other bytes came out"));
            }
            let _ = with_ring(|ring| ring.run(ops::close(write_end as u32)));
        }
        let _ = with_ring(|ring| ring.run(ops::close(read_end)));
    }

    fn spawn_true(&mut self) {
        let mut request = [0u8; 64];
        let Ok(length) = spawn_request("/bin/true", &["true"], &mut request) else {
            return;
        };
        let spawned = within_deadline(ops::spawn(self.proc, &request[..length], [0; 6]));
        let Some(child) = self.count("spawn", spawned) else {
            return;
        };
        let mut reason = [0u8; 64];
        let waited = within_deadline(ops::wait(child as u32, &mut reason));
        if let Some(code) = self.count("wait", waited)
            && code != 0
        {
            self.failures.push(format!("true ended with {code}"));
        }
        let _ = with_ring(|ring| ring.run(ops::close(child as u32)));
    }

    /// Deletes the workload's files (the counts of memory are taken
    /// without them).
    fn clean_files(&mut self) {
        for slot in 0..FILES {
            let path = format!("/tmp/fi-{slot}");
            let _ = within_deadline(ops::unlink(self.fs, path.as_bytes()));
            self.written[slot] = None;
        }
    }
}

/// Waits for the completion tagged `tag` (already submitted), within the
/// deadline.
fn wait_for_tag(tag: u64) -> Result<i32, ()> {
    for _ in 0..(DEADLINE_NANOSECONDS / LOOK_NANOSECONDS) {
        let found = with_ring(|ring| {
            let mut found = None;
            while let Some(completion) = ring.completion() {
                if completion.user_data == tag {
                    found = Some(completion.result);
                }
            }
            found
        });
        if let Some(result) = found {
            return Ok(result);
        }
        let _ = with_ring(|ring| ring.run(ops::timeout(LOOK_NANOSECONDS)));
    }
    Err(())
}

/// Free frames and kernel heap bytes now.
fn memory() -> (i32, i32) {
    let value = |value| with_ring(|ring| ring.run(ops::system_info(value))).unwrap_or(-1);
    (
        value(SystemValue::FreeFrames),
        value(SystemValue::KernelHeapBytes),
    )
}
