//! faultinject: kills servers, or makes them fail a request, to see the
//! system come back (`docs/supervision.md`).
//!
//! ```text
//! faultinject ROLE|random [COUNT]     kill the role (or a random server)
//!                                     COUNT times, each after the last restart
//! faultinject ROLE,ROLE... [COUNT]    kill them all at once (one right after
//!                                     the other), then wait for every restart
//! faultinject crash|wrong ROLE        make the role's server fail its next
//! faultinject stall ROLE [MS]         reply: killed in the middle of it, -EIO
//!                                     instead of its answer, or the answer
//!                                     MS milliseconds late (default 6000)
//! faultinject campaign COUNT [SEED]   COUNT random faults while a workload
//!                                     runs, then the checks below
//! ```
//!
//! It asks init's names service (`supervise`: the proc server gives it to
//! `/bin/faultinject` and `/bin/ps`) to kill a server
//! (`CONTROL [KILL, pid]`), and waits until init has started it again (the
//! role's process id changes in the names list); or to have the kernel
//! fail the server's next reply (`CONTROL [FAULT, pid, how]`, which init
//! passes on as `INJECT`: only on a kernel booted with `faults`).
//!
//! **The campaign.** Each round injects one fault into a random server:
//! a kill between requests, a kill *during* a request (sent while a
//! `WRITE` of this process is at the file server), and, on a kernel that
//! allows them, a crash in the middle of its next reply, a wrong reply
//! (`-EIO`) or a stall ([`STALL_MS`], past the round's shorter deadline,
//! [`STALL_DEADLINE_NANOSECONDS`]); each kind as often as the others.
//! Those three go to the servers the workload reaches (not the console:
//! this process's output handle came from the shell and dies with the
//! console's first restart; the console gets kills, and the shell, which
//! reconnects, types at the end). An armed fault the round did not use
//! is taken back after it. Then it does one round of a workload through
//! the file system, pipe and proc servers (and so the disk driver): a file
//! of `/tmp/fi-N` written whole (N cycles over 16), another read back and
//! compared with what was last written to it *and acknowledged*, a pipe
//! made and 64 bytes sent through it, `/bin/true` started through the
//! proc server and waited for. Each request gets a
//! deadline (`LINK_TIMEOUT`, 5 s): one that passes it is a *hung* request,
//! except in a stall's round, where a request cut by its deadline is what
//! the stall is for (counted as *cut*). A request that fails (a dead
//! server's `ESRVDEAD`, a wrong reply's `EIO`) counts as an error, not a
//! failure, and the next round connects again. At the end:
//!
//! - no request hung, and every server is running again;
//! - every file read back had the bytes of its last acknowledged write,
//!   or (a ram file system, which comes back empty) did not exist; with
//!   `keeps-files` (the FAT system), every acknowledged write is still
//!   there at the end;
//! - the frames the kernel holds (all frames, less the free ones, less
//!   those the processes' address spaces own: `SYSTEM_INFO`) and the
//!   kernel heap are back where they were at the start, give or take the
//!   pages a size class of the heap keeps ([`KERNEL_FRAMES_SLACK`],
//!   [`HEAP_SLACK`]); both counts are taken with every server started
//!   again just before, and the files deleted. (Free frames alone also
//!   move with what the fresh servers hold: a FAT server's cache holds
//!   what its mount read; they are reported, not judged.)
//!
//! Its report goes to the kernel log (`LOG`), which survives a console
//! restart; a summary line says `campaign: ... 0 failures` or lists them.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use libring::abi::{Errno, SystemValue, inject, open_flags};
use libring::names::{self, Role, State};
use libring::ops::{self, SubmissionOptions};
use libring::process::spawn_request;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

/// A request's deadline: 5 s.
const DEADLINE_NANOSECONDS: u64 = 5_000_000_000;
/// In a stall's round, a request's deadline is 100 ms, and the stall 300
/// ms: the request it holds is cut by its deadline, and the round costs
/// little time.
const STALL_DEADLINE_NANOSECONDS: u64 = 100_000_000;
const STALL_MS: u64 = 300;
/// `faultinject stall`'s stall by default: 6 s, past a 5 s deadline.
const STALL_DEFAULT_MS: u64 = 6000;
/// The deadline of [`within_deadline`] now.
static DEADLINE: AtomicU64 = AtomicU64::new(DEADLINE_NANOSECONDS);
/// How long a restart may take before it counts as not done: 10 s, in
/// 10 ms looks.
const RESTART_LOOKS: u32 = 1000;
const LOOK_NANOSECONDS: u64 = 10_000_000;
/// How far the kernel's frames and heap may end from where they started:
/// the heap's size classes keep a page or two, a table grows its
/// capacity; a leak of one frame per fault would be a thousand. 8 frames,
/// 4 KiB.
const KERNEL_FRAMES_SLACK: i32 = 8;
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
        [kind @ ("crash" | "wrong" | "stall"), role, rest @ ..] => {
            let stall_ms = match rest.first() {
                Some(word) => match word.parse() {
                    Ok(ms) => ms,
                    Err(_) => return usage(),
                },
                None => STALL_DEFAULT_MS,
            };
            let (how, what) = match *kind {
                "crash" => (
                    names::fault(inject::CRASH, 0),
                    String::from("killed in the middle of it"),
                ),
                "wrong" => (
                    names::fault(inject::WRONG_REPLY, 0),
                    String::from("-EIO instead of its answer"),
                ),
                _ => (
                    names::fault(inject::STALL, stall_ms),
                    format!("its answer {stall_ms} ms late"),
                ),
            };
            match arm(session, role, how) {
                Ok(id) => {
                    libring::println!(
                        "faultinject: {role} (process {id}) fails its next reply: {what}"
                    );
                    0
                }
                Err(problem) => {
                    libring::eprintln!("faultinject: {role}: {problem}");
                    1
                }
            }
        }
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
                    "random" => match pick(session, &mut random, "shell") {
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
        "faultinject: usage: faultinject ROLE|random|ROLE,ROLE... [COUNT] | faultinject crash|wrong ROLE | faultinject stall ROLE [MS] | faultinject campaign COUNT [SEED] [keeps-files]"
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

/// A random running server (never the shell, nor `except`).
fn pick(session: u32, random: &mut Random, except: &str) -> Option<String> {
    let servers: Vec<String> = roles(session)
        .into_iter()
        .filter(|(role, id)| role != "shell" && role != except && *id != 0)
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

/// The process id of `role`'s server now.
fn server_id(session: u32, role: &str) -> Result<u32, String> {
    let id = roles(session)
        .into_iter()
        .find(|(name, _)| name == role)
        .map(|(_, id)| id)
        .ok_or(format!("no role {role}"))?;
    if id == 0 {
        return Err(String::from("down"));
    }
    Ok(id)
}

/// Asks init to kill `role`'s server; returns the killed process's id.
fn kill(session: u32, role: &str) -> Result<u32, String> {
    let id = server_id(session, role)?;
    with_ring(|ring| ring.run(ops::control(session, [names::KILL, id as u64, 0])))
        .map_err(|error| format!("kill: {}", error.description()))?;
    Ok(id)
}

/// Asks init to have the kernel fail `role`'s server's next reply, as
/// `how` says (a [`names::fault`] word); returns the server's process id.
/// An armed fault not used yet is replaced (`Ok` all the same).
fn arm(session: u32, role: &str, how: u64) -> Result<u32, String> {
    let id = server_id(session, role)?;
    match fault_control(session, id, how) {
        Ok(_) => Ok(id),
        Err(Errno::NotPermitted) => Err(String::from(
            "no faults allowed (a kernel booted with `faults` allows them, and a names handle with the supervise right asks)",
        )),
        Err(error) => Err(format!("fault: {}", error.description())),
    }
}

/// `CONTROL [FAULT, id, how]` to init: its result.
fn fault_control(session: u32, id: u32, how: u64) -> Result<i32, Errno> {
    with_ring(|ring| ring.run(ops::control(session, [names::FAULT, id as u64, how])))
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
        let deadline = DEADLINE.load(Ordering::Relaxed);
        let timer = ops::link_timeout(deadline).with_user_data(TIMER_TAG);
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
    /// Whether the kernel allows `INJECT`ed faults (booted with `faults`).
    faults_allowed: bool,
    /// The fault armed for this round: role, process id, kind.
    armed: Option<(String, u32, u64)>,
    /// Faults armed, by kind: crashes, wrong replies, stalls; and those
    /// a round did not use (taken back).
    crashes: u64,
    wrong_replies: u64,
    stalls: u64,
    unused: u64,
    /// Requests cut by their deadline in a stall's round.
    cut: u64,
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
            faults_allowed: false,
            armed: None,
            crashes: 0,
            wrong_replies: 0,
            stalls: 0,
            unused: 0,
            cut: 0,
        };
        // Taking back a fault nobody armed: EPERM if the kernel allows none.
        let first = roles(session)
            .into_iter()
            .find(|(role, id)| role != "shell" && *id != 0);
        campaign.faults_allowed = first.is_some_and(|(_, id)| {
            fault_control(session, id, names::fault(inject::NONE, 0)) != Err(Errno::NotPermitted)
        });
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
            Err(())
                if self
                    .armed
                    .as_ref()
                    .is_some_and(|armed| armed.2 == inject::STALL) =>
            {
                self.cut += 1;
                None
            }
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
        let kinds = if self.faults_allowed {
            "kills, crashes, wrong replies and stalls"
        } else {
            "kills (the kernel allows no other faults)"
        };
        say(&format!(
            "campaign: {count} faults ({kinds}) in random servers while a workload runs"
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
            let kinds = if self.faults_allowed { 5 } else { 2 };
            match self.random.below(kinds) {
                0 if self.fs != 0 => self.kill_during_write(round),
                0 | 1 => self.kill_one(),
                2 => self.arm(inject::CRASH),
                3 => self.arm(inject::WRONG_REPLY),
                _ => self.arm(inject::STALL),
            }
            self.connect();
            self.workload(round);
            self.disarm();
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
        let kernel_grown = after.kernel_frames - before.kernel_frames;
        let heap_grown = after.heap_bytes - before.heap_bytes;
        if kernel_grown > KERNEL_FRAMES_SLACK || heap_grown > HEAP_SLACK {
            self.failures.push(format!(
                "memory: the kernel held {} frames and {} bytes of heap before, {} and {} after",
                before.kernel_frames, before.heap_bytes, after.kernel_frames, after.heap_bytes
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
            "campaign: {} faults: {} kills ({} during a request), {} crashes, {} wrong replies, {} stalls ({} of these unused); {} requests ({} errors, {} cut by a stall, {} hung); frames the kernel holds {} before, {} after; kernel heap {} bytes before, {} after; free frames {} before, {} after",
            self.kills + self.crashes + self.wrong_replies + self.stalls,
            self.kills,
            self.killed_mid_request,
            self.crashes,
            self.wrong_replies,
            self.stalls,
            self.unused,
            self.requests,
            self.errors,
            self.cut,
            self.hung,
            before.kernel_frames,
            after.kernel_frames,
            before.heap_bytes,
            after.heap_bytes,
            before.free_frames,
            after.free_frames
        ));
        for failure in &self.failures {
            say(&format!("campaign FAILURE: {failure}"));
        }
        say(&format!("campaign: {} failures", self.failures.len()));
        if self.failures.is_empty() { 0 } else { 1 }
    }

    /// Arms a fault of `kind` in a random server for this round (a stall
    /// with the round's deadlines shortened).
    fn arm(&mut self, kind: u64) {
        // Not the console: this process's output handle to it came from
        // the shell, and dies with the first console restart, so none of
        // the workload's requests would meet the fault.
        let Some(role) = pick(self.session, &mut self.random, "console") else {
            self.failures.push(String::from("no server to fail"));
            return;
        };
        let id = match server_id(self.session, &role) {
            Ok(id) => id,
            Err(problem) => return self.failures.push(format!("{role}: {problem}")),
        };
        let stall_ms = if kind == inject::STALL { STALL_MS } else { 0 };
        if let Err(error) = fault_control(self.session, id, names::fault(kind, stall_ms)) {
            self.failures
                .push(format!("{role}: fault: {}", error.description()));
            return;
        }
        match kind {
            inject::CRASH => self.crashes += 1,
            inject::WRONG_REPLY => self.wrong_replies += 1,
            _ => {
                self.stalls += 1;
                DEADLINE.store(STALL_DEADLINE_NANOSECONDS, Ordering::Relaxed);
            }
        }
        self.armed = Some((role, id, kind));
    }

    /// After the round: the deadline back to 5 s, the fault taken back if
    /// the round did not use it, and a crashed server waited for.
    fn disarm(&mut self) {
        DEADLINE.store(DEADLINE_NANOSECONDS, Ordering::Relaxed);
        let Some((role, id, _)) = self.armed.take() else {
            return;
        };
        match fault_control(self.session, id, names::fault(inject::NONE, 0)) {
            Ok(1) => self.unused += 1,
            Ok(_) => {}
            // Gone: it crashed (or a kill of the round's own took it).
            Err(Errno::NoSuchProcess) => {
                if let Err(problem) = wait_for_restart(self.session, &role, id) {
                    self.failures.push(format!("{role}: {problem}"));
                }
            }
            Err(error) => self.failures.push(format!(
                "{role}: taking the fault back: {}",
                error.description()
            )),
        }
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
        let Some(role) = pick(self.session, &mut self.random, "shell") else {
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
        let Some(role) = pick(self.session, &mut self.random, "shell") else {
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

/// The machine's memory at one moment.
struct Memory {
    free_frames: i32,
    /// Frames neither free nor owned by a process's address space.
    kernel_frames: i32,
    heap_bytes: i32,
}

fn memory() -> Memory {
    let value = |value| with_ring(|ring| ring.run(ops::system_info(value))).unwrap_or(-1);
    let free_frames = value(SystemValue::FreeFrames);
    let kernel_frames =
        value(SystemValue::TotalFrames) - free_frames - value(SystemValue::ProcessFrames);
    Memory {
        free_frames,
        kernel_frames,
        heap_bytes: value(SystemValue::KernelHeapBytes),
    }
}
