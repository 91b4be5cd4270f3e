//! init: the first process. It reads the system manifest (`etc/system` in
//! the boot image, see `init::manifest`), starts the servers it names, in
//! order, each with the handles the manifest grants, then starts the shell
//! through the proc server, waits for it, and powers off when it ends.
//!
//! The kernel starts init (by default: `run=` not given) with, in this
//! order, the console's device and interrupt handles, the kernel-log
//! right, the boot image, the power right, the spawner (the right to
//! build processes), the DMA right and, when the machine has a disk, the
//! first virtio block device's registers and interrupt:
//! `init+device=console+irq=console+klog+bootimage+power+spawn+dma+device=virtio-blk?+irq=virtio-blk?`.
//! init keeps nothing it does not need: once the shell runs, it holds only
//! the shell's process handle and the power right.
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

use alloc::vec::Vec;
use core::arch::asm;
use init::manifest::{self, Entry, Grant};
use libring::abi::{Errno, SystemValue, spawn_handles};
use libring::ops::{self, SubmissionOptions};
use libring::println;
use libring::process::{self, Child, Give, spawn_request};
use libring::runtime::{self, Arguments, boot_image, with_ring};

libring::entry!(main);

/// Where the manifest is in the boot image.
const MANIFEST: &str = "etc/system";

/// The handles the kernel gives init, in order.
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
    match start_system(&rights, path) {
        Ok(code) => code,
        Err(message) => {
            println!("init: {message}; powering off");
            let _ = with_ring(|ring| ring.run(ops::power_off(rights.power)));
            1
        }
    }
}

/// Starts what the manifest at `path` in the boot image names, waits for
/// the shell, powers off.
fn start_system(rights: &Rights, path: &str) -> Result<i32, alloc::string::String> {
    let image = boot_image::map(rights.boot_image)
        .map_err(|error| alloc::format!("cannot map the boot image: {}", error.description()))?;
    let text = find(image, path).ok_or(alloc::format!("no {path} in the boot image"))?;
    let text = core::str::from_utf8(text).map_err(|_| alloc::format!("{path} is not UTF-8"))?;
    let entries = manifest::parse(text).map_err(|error| match error.line {
        0 => alloc::format!("{path}: {}", error.problem),
        line => alloc::format!("{path}:{line}: {}", error.problem),
    })?;
    // The service handle of each role that serves, to mint clients with.
    let mut services: Vec<(&str, u32)> = Vec::new();
    // Each server's process handle, role and program, to hear of its end.
    let mut servers: Vec<(u32, &str, &str)> = Vec::new();
    let mut shell = None;
    for (index, entry) in entries.iter().enumerate() {
        if entry.role == "shell" {
            shell = Some(entry);
            continue;
        }
        let file = find(image, &alloc::format!("bin/{}", entry.program)).ok_or(alloc::format!(
            "{path}:{}: no program bin/{} in the boot image",
            entry.line,
            entry.program
        ))?;
        let started = start_server(rights, entry, &entries[..index], file, &mut services).map_err(
            |error| {
                alloc::format!(
                    "{path}:{}: cannot start {} ({}): {}",
                    entry.line,
                    entry.role,
                    entry.program,
                    error.description()
                )
            },
        )?;
        println!(
            "init: started {} ({}, process {})",
            entry.role, entry.program, started.id
        );
        servers.push((started.handle, entry.role, entry.program));
    }
    let shell = shell.ok_or(alloc::string::String::from("no shell"))?;
    let child = start_shell(shell, &services, rights.power).map_err(|error| {
        alloc::format!(
            "cannot start the shell ({}): {}",
            shell.program,
            error.description()
        )
    })?;
    // init keeps nothing it does not need.
    for (_, service) in services {
        close(service);
    }
    for handle in [
        rights.device,
        rights.interrupt,
        rights.kernel_log,
        rights.boot_image,
        rights.spawner,
        rights.dma,
        rights.disk,
        rights.disk_interrupt,
    ] {
        if handle != 0 {
            close(handle);
        }
    }
    watch(child, &servers);
    let _ = with_ring(|ring| ring.run(ops::power_off(rights.power)));
    Ok(1)
}

/// Waits for the shell to end; says so when a server ends first (a
/// manifest mistake shows so: a server started without what it needs says
/// why and exits, and this line names its role). Returns when the shell
/// has ended; the caller powers off.
fn watch(shell: u32, servers: &[(u32, &str, &str)]) {
    const REASON_MAX: usize = 160;
    let mut reasons: Vec<[u8; REASON_MAX]> = alloc::vec![[0u8; REASON_MAX]; servers.len() + 1];
    let text = |reason: &[u8]| -> alloc::string::String {
        let length = reason
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(reason.len());
        alloc::string::String::from(core::str::from_utf8(&reason[..length]).unwrap_or("?"))
    };
    let handles = core::iter::once(shell).chain(servers.iter().map(|&(handle, _, _)| handle));
    let pushed = with_ring(|ring| {
        for (index, (handle, reason)) in handles.zip(reasons.iter_mut()).enumerate() {
            let wait = ops::wait(handle, &mut reason[..]).with_user_data(index as u64);
            if ring.push(wait).is_err() {
                return Err(Errno::Busy);
            }
        }
        Ok(())
    });
    if let Err(error) = pushed {
        println!(
            "init: cannot wait for the system ({}); powering off",
            error.description()
        );
        return;
    }
    loop {
        let completion = with_ring(|ring| {
            if let Some(completion) = ring.completion() {
                return Ok(completion);
            }
            ring.submit_and_wait(1)?;
            ring.completion().ok_or(Errno::Busy)
        });
        let completion = match completion {
            Ok(completion) => completion,
            Err(Errno::Busy) => continue,
            Err(error) => {
                println!(
                    "init: cannot wait for the system ({}); powering off",
                    error.description()
                );
                return;
            }
        };
        let index = completion.user_data as usize;
        let Some(reason) = reasons.get(index) else {
            continue;
        };
        if index == 0 {
            if completion.result < 0 {
                println!("init: cannot wait for the shell; powering off");
            } else {
                println!("init: the shell has ended ({}); powering off", text(reason));
            }
            return;
        }
        let (handle, role, program) = servers[index - 1];
        println!(
            "init: role {role} ({program}) has ended ({}); what uses it will fail",
            text(reason)
        );
        close(handle);
    }
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

/// A new client handle to `role`'s endpoint (badge: the manifest line).
fn mint(services: &[(&str, u32)], role: &str, badge: u64) -> Result<u32, Errno> {
    let service = services
        .iter()
        .find(|(served, _)| *served == role)
        .map(|&(_, service)| service)
        .ok_or(Errno::NotFound)?;
    with_ring(|ring| ring.run(ops::mint(service, badge))).map(|handle| handle as u32)
}

fn close(handle: u32) {
    let _ = with_ring(|ring| ring.run(ops::close(handle)));
}

/// Builds and starts one server from `file`, with the handles `entry`
/// grants, in order; returns its process id. Each `use=` handle is named
/// in the startup page's service table. The `proc` role is also given a
/// client handle of every `earlier` role with `clients=`, named, and the
/// lists as its arguments (`ROLE=P:Q`), to hand the services out.
fn start_server<'a>(
    rights: &Rights,
    entry: &Entry<'a>,
    earlier: &[Entry<'a>],
    file: &[u8],
    services: &mut Vec<(&'a str, u32)>,
) -> Result<process::Started, Errno> {
    let mut handles: Vec<(Give, u8)> = Vec::new();
    let mut names: Vec<(usize, &str)> = Vec::new();
    let mut minted = Vec::new();
    let mut argument_text = Vec::from(entry.program.as_bytes());
    argument_text.push(0);
    let own = |handle| Give { handle, request: 0 };
    for grant in &entry.grants {
        let (handle, role) = match *grant {
            Grant::Serve => {
                let service =
                    with_ring(|ring| ring.run(ops::endpoint_create(entry.role.as_bytes())))? as u32;
                services.push((entry.role, service));
                (service, 0)
            }
            Grant::Use(role) => {
                let client = mint(services, role, entry.line as u64)?;
                minted.push(client);
                names.push((handles.len(), role));
                (client, role_slots(role))
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
    if entry.role == "proc" {
        for service in earlier.iter().filter(|service| service.clients.is_some()) {
            let client = mint(services, service.role, entry.line as u64)?;
            minted.push(client);
            names.push((handles.len(), service.role));
            handles.push((own(client), 0));
            let list = alloc::format!("{}={}", service.role, service.clients.unwrap_or(""));
            argument_text.extend_from_slice(list.as_bytes());
            argument_text.push(0);
        }
    }
    let child = Child {
        name: entry.program,
        memory_bytes: entry.memory_mib.map_or(0, |mib| mib as u64 * 1024 * 1024),
        file,
        argument_text: &argument_text,
        handles: &handles,
        services: &names,
    };
    let started = with_ring(|ring| process::start(ring, rights.spawner, &child));
    // The child has its own copies now.
    for client in minted {
        close(client);
    }
    started
}

/// Starts the shell through the proc server; returns its process handle.
fn start_shell(entry: &Entry, services: &[(&str, u32)], power: u32) -> Result<u32, Errno> {
    let mut given = [0u32; spawn_handles::COUNT];
    let mut minted = Vec::new();
    for grant in &entry.grants {
        match *grant {
            Grant::Use(role) => {
                let client = mint(services, role, entry.line as u64)?;
                minted.push(client);
                for (slot, handle) in given.iter_mut().enumerate() {
                    if role_slots(role) & spawn_handles::role(slot) != 0 {
                        *handle = client;
                    }
                }
            }
            Grant::Power => given[spawn_handles::POWER] = power,
            // Checked by the manifest: the shell serves nothing; other
            // rights are not for a shell.
            _ => return Err(Errno::InvalidArgument),
        }
    }
    let proc_client = mint(services, "proc", 0)?;
    let mut request = [0u8; 256];
    let path = alloc::format!("/bin/{}", entry.program);
    let started = spawn_request(&path, &[entry.program], &mut request).and_then(|length| {
        with_ring(|ring| ring.run(ops::spawn(proc_client, &request[..length], given)))
    });
    for client in minted.into_iter().chain([proc_client]) {
        close(client);
    }
    started.map(|handle| handle as u32)
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
