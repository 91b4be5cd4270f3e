//! init: the first process, and the system's supervisor. It reads the
//! system manifest (`etc/system` in the boot image, see `init::manifest`),
//! starts the servers it names, in order, each with the handles the
//! manifest grants, then starts the shell through the proc server. Then it
//! serves its own endpoint, `names`, and hears of every end:
//!
//! ```text
//!   loop (Server::wait):
//!     a request to names ──► OPEN role: a new client handle (MINT) │ READ: the roles
//!                            CONTROL KILL / WATCH                  (docs/supervision.md)
//!     a WAIT completes ────► restart the role (a new endpoint), or give it up
//!     the shell's SPAWN ───► the shell runs (init never waits for a server)
//! ```
//!
//! It powers off when the shell exits (or cannot be started again).
//!
//! The kernel starts init (by default: `run=` not given) with, in this
//! order, the console's device and interrupt handles, the kernel-log
//! right, the boot image, the power right, the spawner (the right to
//! build processes), the DMA right and, when the machine has a disk, the
//! first virtio block device's registers and interrupt:
//! `init+device=console+irq=console+klog+bootimage+power+spawn+dma+device=virtio-blk?+irq=virtio-blk?`.
//! init keeps them all, and each role's service handle: a restart needs
//! them again.
//!
//! init builds the servers itself from their files in the boot image (the
//! file and proc servers are not up yet), with the same library the proc
//! server uses (`libring::process`); the shell is the first program
//! started through the proc server, as every program after it is.
//!
//! Started as `init:manifest:PATH` (tests: `run=init:manifest:tests/...`
//! with init's handles) it reads the manifest at PATH in the boot image
//! instead: how the tests boot a system whose manifest has a mistake only
//! a run can show.
//!
//! Started as `init:bench` (by `cargo xtask bench`, on a kernel booted with
//! `bench`), it instead greets and reports the boot figures of
//! docs/performance.md: instructions retired from the kernel's first
//! instruction until its greeting has gone through the console server, and
//! the RAM in use then.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::arch::asm;
use init::manifest::{self, Entry, Grant};
use init::supervision::{End, History, NamesBadge, should_restart};
use libring::abi::{Errno, Opcode, RequestMessage, SystemValue, spawn_handles};
use libring::names;
use libring::ops::{self, SubmissionOptions};
use libring::println;
use libring::process::{self, Child, Give, spawn_request};
use libring::runtime::{self, Arguments, boot_image, with_ring};
use libring::server::{Event, Server};

libring::entry!(main);

/// Where the manifest is in the boot image.
const MANIFEST: &str = "etc/system";

/// The handles the kernel gives init, in order.
#[derive(Clone, Copy)]
struct Rights {
    device: u32,
    interrupt: u32,
    kernel_log: u32,
    boot_image: u32,
    power: u32,
    spawner: u32,
    dma: u32,
    /// The disk's registers and interrupt (0: the machine has none).
    disk: u32,
    disk_interrupt: u32,
}

fn main(arguments: Arguments) -> i32 {
    if arguments.iter().any(|argument| argument == "bench") {
        return bench();
    }
    let rights = match *runtime::handles() {
        [
            device,
            interrupt,
            kernel_log,
            boot_image,
            power,
            spawner,
            dma,
            ref disk @ ..,
        ] if matches!(disk.len(), 0 | 2) => Rights {
            device,
            interrupt,
            kernel_log,
            boot_image,
            power,
            spawner,
            dma,
            disk: disk.first().copied().unwrap_or(0),
            disk_interrupt: disk.get(1).copied().unwrap_or(0),
        },
        _ => {
            println!(
                "init: expected the handles [console device, console irq, klog, boot image, power, spawner, dma] and maybe [disk, disk irq]"
            );
            return 1;
        }
    };
    let path = match arguments.iter().skip(1).collect::<Vec<_>>().as_slice() {
        [] => MANIFEST,
        ["manifest", path] => path,
        other => {
            println!("init: {other:?}: not arguments init knows (bench, or manifest PATH)");
            return 1;
        }
    };
    let power = rights.power;
    match start_system(rights, path) {
        Ok(code) => code,
        Err(message) => {
            println!("init: {message}; powering off");
            let _ = with_ring(|ring| ring.run(ops::power_off(power)));
            1
        }
    }
}

/// Starts what the manifest at `path` in the boot image names, then
/// supervises it; returns when the machine is to power off.
fn start_system(rights: Rights, path: &str) -> Result<i32, alloc::string::String> {
    let image = boot_image::map(rights.boot_image)
        .map_err(|error| alloc::format!("cannot map the boot image: {}", error.description()))?;
    let text = find(image, path).ok_or(alloc::format!("no {path} in the boot image"))?;
    let text = core::str::from_utf8(text).map_err(|_| alloc::format!("{path} is not UTF-8"))?;
    let entries = manifest::parse(text).map_err(|error| match error.line {
        0 => alloc::format!("{path}: {}", error.problem),
        line => alloc::format!("{path}:{line}: {}", error.problem),
    })?;
    let mut roles = Vec::new();
    for entry in entries {
        let file = if entry.role == "shell" {
            &[][..]
        } else {
            find(image, &alloc::format!("bin/{}", entry.program)).ok_or(alloc::format!(
                "{path}:{}: no program bin/{} in the boot image",
                entry.line,
                entry.program
            ))?
        };
        roles.push(Role {
            entry,
            file,
            service: 0,
            process: 0,
            id: 0,
            history: History::default(),
            down: false,
            reason: Box::new([0; REASON_MAX]),
        });
    }
    let cannot_serve = |error: Errno| alloc::format!("cannot serve names: {}", error.description());
    let names =
        with_ring(|ring| ring.run(ops::endpoint_create(b"names"))).map_err(cannot_serve)? as u32;
    let slots = Box::leak(alloc::vec![RequestMessage::default(); NAMES_SLOTS].into_boxed_slice());
    let server = with_ring(|ring| Server::new(ring, slots, names)).map_err(cannot_serve)?;
    let mut supervisor = Supervisor {
        rights,
        roles,
        names,
        server,
        parked: Vec::new(),
        watches: Vec::new(),
        restarts: 0,
        waiting: Vec::new(),
        shell_request: Vec::new(),
        shell_minted: Vec::new(),
        shell_started: false,
    };
    for index in 0..supervisor.roles.len() {
        let entry = &supervisor.roles[index].entry;
        let (line, role, program) = (entry.line, entry.role, entry.program);
        if let Err(error) = supervisor.start(index) {
            return Err(match role {
                "shell" => alloc::format!(
                    "cannot start the shell ({program}): {}",
                    error.description()
                ),
                _ => alloc::format!(
                    "{path}:{line}: cannot start {role} ({program}): {}",
                    error.description()
                ),
            });
        }
        if role != "shell" {
            println!(
                "init: started {role} ({program}, process {})",
                supervisor.roles[index].id
            );
        }
    }
    supervisor.run();
    let _ = with_ring(|ring| ring.run(ops::power_off(supervisor.rights.power)));
    Ok(1)
}

/// Requests the names endpoint holds at once.
const NAMES_SLOTS: usize = 8;
/// The most `WATCH`es waiting at once (each holds a slot).
const WATCHES_MAX: usize = NAMES_SLOTS / 2;
/// The longest reason text kept from `WAIT`.
const REASON_MAX: usize = 160;
/// The longest role name asked for.
const ROLE_NAME_MAX: usize = 16;

/// One role of the manifest, as init runs it.
struct Role {
    entry: Entry<'static>,
    /// Its program file (empty for the shell, which the proc server reads).
    file: &'static [u8],
    /// The service handle of its current endpoint (0: none).
    service: u32,
    /// Its process handle and id (0: not running).
    process: u32,
    id: u32,
    history: History,
    /// Given up, or never to be restarted: it stays down.
    down: bool,
    /// Why it ended, from `WAIT` (lent to the kernel while it runs).
    reason: Box<[u8; REASON_MAX]>,
}

/// init after the start: it keeps what restarts need (the rights, each
/// role's service handle) and serves `names`.
struct Supervisor {
    rights: Rights,
    roles: Vec<Role>,
    /// The service handle of init's own `names` endpoint.
    names: u32,
    server: Server,
    /// `OPEN`s that came while their role's end was not yet handled:
    /// (request, role index, badge of the new handle).
    parked: Vec<(u64, usize, u64)>,
    /// `WATCH`es: (request, client process, restarts seen).
    watches: Vec<(u64, u32, u64)>,
    /// Restarts since boot.
    restarts: u64,
    /// Roles whose restart waits for a role they use, which has ended
    /// too (init has not yet taken its `WAIT` completion).
    waiting: Vec<usize>,
    /// The shell's `SPAWN` at the proc server, while it is under way: its
    /// request bytes and the handles minted for it (the proc server copies
    /// them while the request is pending). init never waits for a server:
    /// the proc server may need init's names service to answer.
    shell_request: Vec<u8>,
    shell_minted: Vec<u32>,
    /// The shell has been started once (later starts are restarts).
    shell_started: bool,
}

/// The user data of the shell's `SPAWN` (role indices are below it).
const SHELL_SPAWN_TAG: u64 = 1 << 32;

impl Supervisor {
    /// Serves `names` and hears of ends until the machine is to power off.
    fn run(&mut self) {
        loop {
            match with_ring(|ring| self.server.wait(ring)) {
                Ok(Event::Request { message, .. }) => self.request(&message),
                Ok(Event::Other(completion)) if completion.user_data == SHELL_SPAWN_TAG => {
                    if self.shell_spawned(completion.result) {
                        return;
                    }
                }
                Ok(Event::Other(completion)) => {
                    let index = completion.user_data as usize;
                    if index < self.roles.len() && self.ended(index, completion.result) {
                        return;
                    }
                }
                Ok(Event::Stopped(error)) | Err(error) => {
                    println!(
                        "init: cannot serve names ({}); powering off",
                        error.description()
                    );
                    return;
                }
            }
        }
    }

    /// Starts role `index` (again): a new endpoint if it serves, new
    /// client handles of what it uses, a names handle; then waits for it.
    /// (The shell's start is only begun: `shell_spawned` ends it.)
    fn start(&mut self, index: usize) -> Result<(), Errno> {
        if self.roles[index].entry.role == "shell" {
            return self.start_shell(index);
        }
        let started = self.start_server(index)?;
        self.running(index, started)
    }

    /// Role `index` runs as `started`: wait for its end.
    fn running(&mut self, index: usize, started: process::Started) -> Result<(), Errno> {
        let role = &mut self.roles[index];
        role.process = started.handle;
        role.id = started.id;
        let wait = ops::wait(started.handle, &mut role.reason[..]).with_user_data(index as u64);
        with_ring(|ring| ring.push(wait)).map_err(|_| Errno::Busy)
    }

    /// The current service handle of `role` (0 if it is not serving).
    fn service_of(&self, role: &str) -> u32 {
        self.roles
            .iter()
            .find(|candidate| candidate.entry.role == role)
            .map_or(0, |candidate| candidate.service)
    }

    /// A new client handle to `role`'s current server: `ESRVDEAD` while it
    /// is between two instances, `ESRCH` once it is down for good.
    fn mint(&self, role: &str, badge: u64) -> Result<u32, Errno> {
        let service = self.service_of(role);
        if self
            .roles
            .iter()
            .any(|candidate| candidate.entry.role == role && candidate.down)
        {
            return Err(Errno::NoSuchProcess);
        }
        if service == 0 {
            return Err(Errno::ServerDead);
        }
        with_ring(|ring| ring.run(ops::mint(service, badge))).map(|handle| handle as u32)
    }

    /// A names handle covering `roles` (as a mask of role indices).
    fn mint_names(&self, roles: u16, line: usize, supervise: bool) -> Result<u32, Errno> {
        let badge = NamesBadge {
            roles,
            line: line as u16,
            supervise,
        };
        with_ring(|ring| ring.run(ops::mint(self.names, badge.encode())))
            .map(|handle| handle as u32)
    }

    /// The mask of the roles `entry` uses.
    fn uses_mask(&self, entry: &Entry) -> u16 {
        let mut mask = 0;
        for grant in &entry.grants {
            if let Grant::Use(used) = *grant
                && let Some(index) = self.roles.iter().position(|role| role.entry.role == used)
            {
                mask |= 1 << index;
            }
        }
        mask
    }

    /// Builds and starts one server from its file, with the handles its
    /// manifest line grants, in order. Each `use=` handle is named in the
    /// startup page's service table, and so is a names handle covering
    /// them (`names`). The `proc` role is also given a client handle of
    /// every role with `clients=`, named, the lists as its arguments
    /// (`ROLE=P:Q`), and names handles for the shell (`session=sh`) and for
    /// `ps` and `faultinject` (`supervise=ps:faultinject`).
    fn start_server(&mut self, index: usize) -> Result<process::Started, Errno> {
        let entry = self.roles[index].entry.clone();
        let rights = self.rights;
        let mut handles: Vec<(Give, u8)> = Vec::new();
        let mut names: Vec<(usize, &str)> = Vec::new();
        let mut minted = Vec::new();
        let mut argument_text = Vec::from(entry.program.as_bytes());
        argument_text.push(0);
        let own = |handle| Give { handle, request: 0 };
        let result = (|| {
            // Every client handle first: a role it uses that has ended too
            // fails here, before a new endpoint is made (one init made and
            // gave no process would stay init's, and take one of its 16).
            let mut used: Vec<&str> = entry
                .grants
                .iter()
                .filter_map(|grant| match *grant {
                    Grant::Use(role) => Some(role),
                    _ => None,
                })
                .collect();
            if entry.role == "proc" {
                used.extend(
                    self.roles
                        .iter()
                        .filter(|service| service.entry.clients.is_some())
                        .map(|service| service.entry.role),
                );
            }
            let mut clients: Vec<(&str, u32)> = Vec::new();
            for role in used {
                let client = self.mint(role, entry.line as u64)?;
                minted.push(client);
                clients.push((role, client));
            }
            let client_of = |role: &str| {
                clients
                    .iter()
                    .find(|(used, _)| *used == role)
                    .map_or(0, |&(_, client)| client)
            };
            for grant in &entry.grants {
                let (handle, role) = match *grant {
                    Grant::Serve => {
                        // A new endpoint: the last one died with the last
                        // instance, and with it every client handle to it.
                        let old = core::mem::take(&mut self.roles[index].service);
                        if old != 0 {
                            close(old);
                        }
                        let service = with_ring(|ring| {
                            ring.run(ops::endpoint_create(entry.role.as_bytes()))
                        })? as u32;
                        self.roles[index].service = service;
                        (service, 0)
                    }
                    Grant::Use(role) => {
                        names.push((handles.len(), role));
                        (client_of(role), role_slots(role))
                    }
                    Grant::Device("console") => (rights.device, 0),
                    Grant::Interrupt("console") => (rights.interrupt, 0),
                    // The manifest knows no other device than the disk.
                    Grant::Device(_) if rights.disk != 0 => (rights.disk, 0),
                    Grant::Interrupt(_) if rights.disk_interrupt != 0 => (rights.disk_interrupt, 0),
                    Grant::Device(_) | Grant::Interrupt(_) => return Err(Errno::NoSuchDevice),
                    Grant::Dma => (rights.dma, 0),
                    Grant::KernelLog => (rights.kernel_log, 0),
                    Grant::BootImage => (rights.boot_image, 0),
                    Grant::Power => (rights.power, spawn_handles::role(spawn_handles::POWER)),
                    Grant::Spawn => (rights.spawner, 0),
                };
                handles.push((own(handle), role));
            }
            let mut mask = self.uses_mask(&entry);
            if entry.role == "proc" {
                for (other, service) in self.roles.iter().enumerate() {
                    if service.entry.clients.is_none() {
                        continue;
                    }
                    mask |= 1 << other;
                    names.push((handles.len(), service.entry.role));
                    handles.push((own(client_of(service.entry.role)), 0));
                    let list = alloc::format!(
                        "{}={}",
                        service.entry.role,
                        service.entry.clients.unwrap_or("")
                    );
                    argument_text.extend_from_slice(list.as_bytes());
                    argument_text.push(0);
                }
                // The shell's names handle, for every shell (`session`), and
                // one for ps and faultinject (`supervise`): the same roles but
                // the console, whose handle from init is the terminal's.
                if let Some(shell) = self.roles.iter().find(|role| role.entry.role == "shell") {
                    let mut reach = self.uses_mask(&shell.entry);
                    for (other, service) in self.roles.iter().enumerate() {
                        if service.entry.serves_program(shell.entry.program) {
                            reach |= 1 << other;
                        }
                    }
                    let console = self
                        .roles
                        .iter()
                        .position(|role| role.entry.role == "console")
                        .map_or(0, |at| 1 << at);
                    for (name, roles, list) in [
                        ("session", reach, &b"session=sh\0"[..]),
                        (
                            "supervise",
                            reach & !console,
                            &b"supervise=ps:faultinject\0"[..],
                        ),
                    ] {
                        let handle = self.mint_names(roles, shell.entry.line, true)?;
                        minted.push(handle);
                        names.push((handles.len(), name));
                        handles.push((own(handle), 0));
                        argument_text.extend_from_slice(list);
                    }
                }
            }
            let reconnect = self.mint_names(mask, entry.line, false)?;
            minted.push(reconnect);
            names.push((handles.len(), "names"));
            handles.push((own(reconnect), 0));
            let child = Child {
                name: entry.program,
                memory_bytes: entry.memory_mib.map_or(0, |mib| mib as u64 * 1024 * 1024),
                file: self.roles[index].file,
                argument_text: &argument_text,
                handles: &handles,
                services: &names,
            };
            with_ring(|ring| process::start(ring, rights.spawner, &child))
        })();
        // The child has its own copies now.
        for client in minted {
            close(client);
        }
        result
    }

    /// Begins the shell's start: a `SPAWN` at the proc server, whose
    /// answer `run` hands to `shell_spawned`.
    fn start_shell(&mut self, index: usize) -> Result<(), Errno> {
        let entry = self.roles[index].entry.clone();
        let mut given = [0u32; spawn_handles::COUNT];
        let mut minted = Vec::new();
        let mut request = alloc::vec![0u8; 256];
        let result = (|| {
            for grant in &entry.grants {
                match *grant {
                    Grant::Use(role) => {
                        let client = self.mint(role, entry.line as u64)?;
                        minted.push(client);
                        for (slot, handle) in given.iter_mut().enumerate() {
                            if role_slots(role) & spawn_handles::role(slot) != 0 {
                                *handle = client;
                            }
                        }
                    }
                    Grant::Power => given[spawn_handles::POWER] = self.rights.power,
                    // Checked by the manifest: the shell serves nothing;
                    // other rights are not for a shell.
                    _ => return Err(Errno::InvalidArgument),
                }
            }
            let proc_client = self.mint("proc", 0)?;
            minted.push(proc_client);
            let path = alloc::format!("/bin/{}", entry.program);
            let length = spawn_request(&path, &[entry.program], &mut request)?;
            request.truncate(length);
            let spawn = ops::spawn(proc_client, &request, given).with_user_data(SHELL_SPAWN_TAG);
            with_ring(|ring| ring.push(spawn)).map_err(|_| Errno::Busy)
        })();
        match result {
            // The request's bytes and handles stay until its answer.
            Ok(()) => {
                self.shell_request = request;
                self.shell_minted = minted;
            }
            Err(_) => {
                for client in minted {
                    close(client);
                }
            }
        }
        result
    }

    /// The proc server has answered the shell's `SPAWN`. Returns whether
    /// the machine is to power off (no shell).
    fn shell_spawned(&mut self, result: i32) -> bool {
        for client in core::mem::take(&mut self.shell_minted) {
            close(client);
        }
        self.shell_request = Vec::new();
        let Some(index) = self
            .roles
            .iter()
            .position(|role| role.entry.role == "shell")
        else {
            return true;
        };
        let program = self.roles[index].entry.program;
        let first = !core::mem::replace(&mut self.shell_started, true);
        let started = u32::try_from(result)
            .map_err(|_| Errno::from_result(result).unwrap_or(Errno::InvalidArgument));
        let started = started.and_then(|handle| {
            let id = with_ring(|ring| ring.run(ops::process_info(handle))).unwrap_or(0) as u32;
            self.running(index, process::Started { handle, id })
        });
        match started {
            Ok(()) if first => false,
            Ok(()) => self.restarted(index),
            // The proc server ended too: again once it is back.
            Err(Errno::ServerDead) if !first => {
                println!("init: the shell waits for proc to start again");
                self.shell_started = true;
                self.waiting.push(index);
                false
            }
            Err(error) if first => {
                println!(
                    "init: cannot start the shell ({program}): {}; powering off",
                    error.description()
                );
                true
            }
            Err(error) => {
                println!(
                    "init: cannot restart the shell ({program}): {}",
                    error.description()
                );
                self.give_up(index)
            }
        }
    }

    /// Role `index` has ended (`WAIT` completed with `result`): restarts
    /// it if its manifest line says so and its limit allows. Returns
    /// whether the machine is to power off (the shell has ended for good).
    fn ended(&mut self, index: usize, result: i32) -> bool {
        let now =
            with_ring(|ring| ring.run(ops::system_info(SystemValue::Seconds))).unwrap_or(0) as u32;
        let role = &mut self.roles[index];
        close(core::mem::take(&mut role.process));
        role.id = 0;
        let (name, program) = (role.entry.role, role.entry.program);
        let is_shell = name == "shell";
        let reason = text(&role.reason[..]);
        let end = End::from_wait(result);
        if is_shell && matches!(end, End::Exited(_)) {
            println!("init: the shell has ended ({reason}); powering off");
            return true;
        }
        let restart = should_restart(role.entry.restart, is_shell, end);
        if !restart {
            println!("init: role {name} ({program}) has ended ({reason}); what uses it will fail");
        } else if !role.history.allow(now, role.entry.limit) {
            println!(
                "init: role {name} ({program}) has ended ({reason}); {} restarts in {} s: given up, what uses it will fail",
                role.entry.limit.times, role.entry.limit.seconds
            );
        } else {
            println!("init: role {name} ({program}) has ended ({reason}); starting it again");
            return self.restart(index);
        }
        self.give_up(index)
    }

    /// Starts role `index` again (its limit allowed it). Returns whether
    /// the machine is to power off.
    fn restart(&mut self, index: usize) -> bool {
        let (name, program) = (
            self.roles[index].entry.role,
            self.roles[index].entry.program,
        );
        match self.start(index) {
            // The shell's start goes on in `shell_spawned`.
            Ok(()) if name == "shell" => false,
            Ok(()) => self.restarted(index),
            // A role it uses has ended too, and init has not handled that
            // yet: this one starts again after it.
            Err(Errno::ServerDead) => {
                println!("init: {name} ({program}) waits for a role it uses to start again");
                let service = core::mem::take(&mut self.roles[index].service);
                if service != 0 {
                    close(service);
                }
                self.waiting.push(index);
                false
            }
            Err(error) => {
                let why = match error {
                    Errno::NoSuchProcess => "a role it uses is down",
                    other => other.description(),
                };
                println!("init: cannot restart {name} ({program}): {why}");
                self.give_up(index)
            }
        }
    }

    /// Role `index` runs again: says so, answers who waited for it, and
    /// starts the roles that waited for it.
    fn restarted(&mut self, index: usize) -> bool {
        let role = &self.roles[index];
        self.restarts += 1;
        println!(
            "init: restarted {} ({}, process {}; restart {})",
            role.entry.role, role.entry.program, role.id, role.history.count
        );
        self.answer_parked(index);
        self.answer_watches();
        self.start_waiting()
    }

    /// Tries again every role waiting for another; returns whether the
    /// machine is to power off.
    fn start_waiting(&mut self) -> bool {
        let mut power_off = false;
        for index in core::mem::take(&mut self.waiting) {
            power_off |= self.restart(index);
        }
        power_off
    }

    /// Role `index` stays down: what uses it fails from now on. Returns
    /// whether the machine is to power off (it was the shell).
    fn give_up(&mut self, index: usize) -> bool {
        let role = &mut self.roles[index];
        role.down = true;
        let is_shell = role.entry.role == "shell";
        let service = core::mem::take(&mut role.service);
        if service != 0 {
            close(service);
        }
        self.answer_parked(index);
        if is_shell {
            println!("init: no shell; powering off");
            return true;
        }
        // Roles waiting for this one will not get it.
        self.start_waiting()
    }

    /// One request to `names`.
    fn request(&mut self, message: &RequestMessage) {
        let badge = NamesBadge::decode(message.badge);
        let result = match Opcode::try_from(message.opcode) {
            Ok(Opcode::Open) => match self.open(message, badge) {
                Ok(Some(handle)) => {
                    with_ring(|ring| self.server.reply_passing(ring, message.request, 0, handle));
                    return;
                }
                // Parked: answered when the role's end has been handled.
                Ok(None) => return,
                Err(error) => error.result(),
            },
            Ok(Opcode::Read) if badge.supervise => self.list(message),
            Ok(Opcode::Control) => match message.arguments {
                [names::KILL, id, 0] if badge.supervise => self.kill(id),
                [names::FAULT, id, how] if badge.supervise => self.fault(id, how),
                [names::WATCH, seen, 0] => {
                    let busy = self.watches.len() >= WATCHES_MAX
                        || self.watches.iter().any(|watch| watch.1 == message.client);
                    if busy {
                        Errno::Busy.result()
                    } else if self.restarts > seen {
                        self.restarts.min(i32::MAX as u64) as i32
                    } else {
                        self.watches.push((message.request, message.client, seen));
                        return;
                    }
                }
                [names::KILL, _, 0] | [names::FAULT, _, _] => Errno::NotPermitted.result(),
                _ => Errno::InvalidArgument.result(),
            },
            Ok(Opcode::Read) => Errno::NotPermitted.result(),
            Ok(Opcode::Release) => {
                // A names handle closed: a WATCH through it goes nowhere now.
                0
            }
            _ => Errno::InvalidArgument.result(),
        };
        with_ring(|ring| self.server.reply(ring, message.request, result));
    }

    /// `OPEN role`: a new client handle to its current server; `None` if
    /// the request is parked until the role's end has been handled.
    fn open(&mut self, message: &RequestMessage, badge: NamesBadge) -> Result<Option<u32>, Errno> {
        let mut name = [0u8; ROLE_NAME_MAX];
        if message.length as usize > ROLE_NAME_MAX {
            return Err(Errno::NotFound);
        }
        let length = with_ring(|ring| self.server.copy_in(ring, message, 0, &mut name))?;
        let index = self
            .roles
            .iter()
            .position(|role| role.entry.role.as_bytes() == &name[..length])
            .ok_or(Errno::NotFound)?;
        if !badge.may_use(index) {
            return Err(Errno::NotPermitted);
        }
        if self.roles[index].down {
            return Err(Errno::ServerDead);
        }
        let role = self.roles[index].entry.role;
        match self.mint(role, badge.line as u64) {
            // Its end is on its way to init (a WAIT completion not yet
            // taken): answered once it is handled.
            Err(Errno::ServerDead) if self.parked.len() < NAMES_SLOTS => {
                self.parked
                    .push((message.request, index, badge.line as u64));
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Answers the `OPEN`s parked for role `index`.
    fn answer_parked(&mut self, index: usize) {
        let parked = core::mem::take(&mut self.parked);
        for (request, role, line) in parked {
            if role != index {
                self.parked.push((request, role, line));
                continue;
            }
            let minted = if self.roles[index].down {
                Err(Errno::ServerDead)
            } else {
                self.mint(self.roles[index].entry.role, line)
            };
            with_ring(|ring| match minted {
                Ok(handle) => self.server.reply_passing(ring, request, 0, handle),
                Err(error) => self.server.reply(ring, request, error.result()),
            });
        }
    }

    /// Completes every `WATCH` (a restart has happened).
    fn answer_watches(&mut self) {
        let result = self.restarts.min(i32::MAX as u64) as i32;
        for (request, _, _) in core::mem::take(&mut self.watches) {
            with_ring(|ring| self.server.reply(ring, request, result));
        }
    }

    /// `READ`: the roles, a line each (`libring::names::Role`).
    fn list(&self, message: &RequestMessage) -> i32 {
        let mut text = alloc::string::String::new();
        for role in &self.roles {
            let line = names::Role {
                role: role.entry.role,
                program: role.entry.program,
                id: role.id,
                restarts: role.history.count,
                state: match (role.down, role.process) {
                    (true, _) => names::State::Down,
                    (false, 0) => names::State::Starting,
                    (false, _) => names::State::Up,
                },
            };
            let _ = core::fmt::write(&mut text, format_args!("{line}"));
        }
        match with_ring(|ring| self.server.copy_out(ring, message, 0, text.as_bytes())) {
            Ok(count) => count as i32,
            Err(error) => error.result(),
        }
    }

    /// `KILL` of the role whose process id is `id`.
    fn kill(&self, id: u64) -> i32 {
        self.to_server(id, ops::kill)
    }

    /// `CONTROL [FAULT, id, how]`: the server with process id `id` fails
    /// its next reply (the kernel checks `how`, and whether it allows
    /// faults at all).
    fn fault(&self, id: u64, how: u64) -> i32 {
        let (kind, stall_ms) = names::fault_parts(how);
        self.to_server(id, |process| ops::inject(process, kind, stall_ms))
    }

    /// Runs `operation` on the process handle of the server with process
    /// id `id`: its result, or `ESRCH` for no such server.
    fn to_server(&self, id: u64, operation: impl Fn(u32) -> libring::abi::Submission) -> i32 {
        let Some(role) = self
            .roles
            .iter()
            .find(|role| role.process != 0 && role.id as u64 == id)
        else {
            return Errno::NoSuchProcess.result();
        };
        match with_ring(|ring| ring.run(operation(role.process))) {
            Ok(result) => result,
            Err(error) => error.result(),
        }
    }
}

/// A `WAIT` reason's text (up to its first NUL).
fn text(reason: &[u8]) -> alloc::string::String {
    let length = reason
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(reason.len());
    alloc::string::String::from(core::str::from_utf8(&reason[..length]).unwrap_or("?"))
}

/// The file at `path` in the boot image (a cpio archive).
fn find<'a>(image: &'a [u8], path: &str) -> Option<&'a [u8]> {
    cpio_reader::iter_files(image)
        .find(|entry| entry.name().trim_start_matches("./") == path)
        .map(|entry| entry.file())
}

/// The roles a `use=` of `role` plays in the startup block, as a set of
/// spawn slots: the console is all three standard streams.
fn role_slots(role: &str) -> u8 {
    match role {
        "console" => spawn_handles::STREAMS,
        "fs" => spawn_handles::role(spawn_handles::FILE_SYSTEM),
        "proc" => spawn_handles::role(spawn_handles::PROCESSES),
        _ => 0,
    }
}

fn close(handle: u32) {
    let _ = with_ring(|ring| ring.run(ops::close(handle)));
}

/// `init:bench`: the greeting, then the boot figures, then idle.
fn bench() -> i32 {
    let id = with_ring(|ring| ring.run(ops::system_info(SystemValue::ProcessId))).unwrap_or(-1);
    println!("init: user space is up (process {id})");
    let instructions: u64;
    // SAFETY: reads PMU counter 0, which the kernel lets EL0 read when
    // booted with `bench` (the only way `init:bench` is started).
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) instructions, options(nomem, nostack)) };
    let frames = |value| with_ring(|ring| ring.run(ops::system_info(value))).unwrap_or(0) as i64;
    let in_use = frames(SystemValue::TotalFrames) - frames(SystemValue::FreeFrames);
    println!("bench: boot_to_first_line {} 1", instructions as u32);
    println!("bench: frames_in_use_kib {} 1", in_use * 4);
    loop {
        // One second at a time: a TIMEOUT is how a process sleeps.
        let _ = with_ring(|ring| ring.run(ops::timeout(1_000_000_000)));
    }
}
