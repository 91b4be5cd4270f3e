//! spawntest: the proc server and the process operations, case by case
//! (the `spawn` QEMU test; `docs/spawn.md`).
//!
//! Started with client handles to the console, the file system and the
//! proc server (`+use=console+use=fs+use=proc`) and a spawner handle
//! (`+spawn`, for the cases that hand the kernel bad requests directly).
//! Prints `spawntest: <case>: ok` or `spawntest: <case>: FAILED ...` per
//! case, then `spawntest: N passed, M failed`, and exits with M.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{
    Errno, ProcessRecord, SystemValue, WAIT_KILLED, open_flags, process_map_flags, spawn_handles,
};
use libring::ops;
use libring::println;
use libring::process::spawn_request;
use libring::runtime::{self, Arguments, with_ring};
use zerocopy::FromBytes;

use init::fail;
use init::suite::{Failure, expect};

libring::entry!(main);

/// spawn+wait cycles in a row for the frame count check.
const CYCLES: usize = 100;

struct Handles {
    console: u32,
    file_system: u32,
    processes: u32,
    spawner: Option<u32>,
}

fn main(_arguments: Arguments) -> i32 {
    let (Some(console), Some(file_system), Some(processes)) = (
        runtime::stdout(),
        runtime::file_system(),
        runtime::processes(),
    ) else {
        println!("spawntest: needs +use=console+use=fs+use=proc");
        return 1;
    };
    // The spawner is the handle that plays no role.
    let spawner = runtime::handles()
        .iter()
        .copied()
        .find(|handle| ![console, file_system, processes].contains(handle));
    let handles = Handles {
        console,
        file_system,
        processes,
        spawner,
    };
    let cases: [(&str, Case); 9] = [
        (
            "a program runs with its arguments and is waited for",
            runs_and_waits,
        ),
        ("bad paths and non-programs are refused", bad_paths),
        (
            "malformed and malicious ELF files are refused",
            malicious_files,
        ),
        ("a faulting child is reported by wait", faulting_child),
        ("kill ends a child", kill_ends_a_child),
        ("the process list names running children", process_list),
        (
            "spawn+wait cycles give every frame back",
            cycles_leak_nothing,
        ),
        (
            "an unstarted process thrown away gives its frames back and ends its endpoints",
            thrown_away,
        ),
        ("the kernel checks what a builder asks for", kernel_checks),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        match case(&handles) {
            Ok(()) => println!("spawntest: {name}: ok"),
            Err(failure) => {
                failed += 1;
                println!("spawntest: {name}: FAILED: {}", failure.0);
            }
        }
    }
    println!(
        "spawntest: {} passed, {} failed",
        cases.len() - failed,
        failed
    );
    failed as i32
}

/// One case: `Err` says what went wrong.
type Case = fn(&Handles) -> Result<(), Failure>;

/// Starts `path` with `arguments` through the proc server, handing the
/// child `handles` (by `spawn_handles` role).
fn spawn(processes: u32, path: &str, arguments: &[&str], handles: [u32; 6]) -> Result<u32, Errno> {
    let mut request = [0u8; 512];
    let length = spawn_request(path, arguments, &mut request)?;
    with_ring(|ring| ring.run(ops::spawn(processes, &request[..length], handles))).map(|h| h as u32)
}

/// Waits for `child`; returns WAIT's result and the reason text.
fn wait(child: u32) -> (Result<i32, Errno>, alloc::string::String) {
    let mut reason = [0u8; 160];
    let result = with_ring(|ring| ring.run(ops::wait(child, &mut reason)));
    let length = reason
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(reason.len());
    let text = core::str::from_utf8(&reason[..length]).unwrap_or("(not UTF-8)");
    (result, text.into())
}

fn close(handle: u32) {
    let _ = with_ring(|ring| ring.run(ops::close(handle)));
}

fn with_console(handles: &Handles) -> [u32; 6] {
    let mut given = [0; 6];
    given[spawn_handles::STDIN] = handles.console;
    given[spawn_handles::STDOUT] = handles.console;
    given[spawn_handles::STDERR] = handles.console;
    given[spawn_handles::FILE_SYSTEM] = handles.file_system;
    given
}

fn free_frames() -> i32 {
    with_ring(|ring| ring.run(ops::system_info(SystemValue::FreeFrames))).unwrap_or(-1)
}

fn runs_and_waits(handles: &Handles) -> Result<(), Failure> {
    let child = spawn(
        handles.processes,
        "/bin/echo",
        &["echo", "spawned", "with two words", "\"quoted\""],
        with_console(handles),
    )
    .map_err(|error| Failure(alloc::format!("spawn: {}", error.name())))?;
    let id = with_ring(|ring| ring.run(ops::process_info(child)));
    if !matches!(id, Ok(id) if id > 0) {
        fail!("process_info: {id:?}");
    }
    let (result, reason) = wait(child);
    expect("wait", result, Ok(0))?;
    expect("reason", reason.as_str(), "exited with code 0")?;
    // A second WAIT of an ended child answers at once, the same.
    expect("second wait", wait(child).0, Ok(0))?;
    close(child);
    // A program's exit code comes through (low 8 bits).
    let child = spawn(
        handles.processes,
        "/bin/sleep",
        &["sleep", "x"],
        with_console(handles),
    )
    .map_err(|error| Failure(alloc::format!("spawn sleep: {}", error.name())))?;
    expect("sleep x exit code", wait(child).0, Ok(2))?;
    close(child);
    Ok(())
}

fn bad_paths(handles: &Handles) -> Result<(), Failure> {
    let cases = [
        ("/bin/nope", Errno::NotFound),
        ("/bin", Errno::IsADirectory),
        ("/README.txt", Errno::NotExecutable),
        ("/README.txt/x", Errno::NotADirectory),
    ];
    for (path, want) in cases {
        let got = spawn(handles.processes, path, &["x"], [0; 6]);
        expect(path, got, Err(want))?;
    }
    // No arguments at all (not even the name): refused.
    let got = with_ring(|ring| ring.run(ops::spawn(handles.processes, b"/bin/true", [0; 6])));
    expect("no argument text", got, Err(Errno::InvalidArgument))?;
    // A handle the client does not have.
    let got = spawn(
        handles.processes,
        "/bin/true",
        &["true"],
        [0x7777, 0, 0, 0, 0, 0],
    );
    expect("a bad handle to give", got, Err(Errno::BadHandle))?;
    Ok(())
}

/// Reads the whole file at `path`.
fn read_file(handles: &Handles, path: &str) -> Result<Vec<u8>, Failure> {
    let file = with_ring(|ring| {
        ring.run(ops::open(
            handles.file_system,
            path.as_bytes(),
            open_flags::READ,
        ))
    })
    .map_err(|error| Failure(alloc::format!("open {path}: {}", error.name())))?
        as u32;
    let mut bytes = vec![0u8; 4 << 20];
    let mut done = 0;
    loop {
        let count = with_ring(|ring| ring.run(ops::read(file, &mut bytes[done..], done as u64)))
            .map_err(|error| Failure(alloc::format!("read: {}", error.name())))?;
        if count == 0 {
            break;
        }
        done += count as usize;
    }
    close(file);
    bytes.truncate(done);
    Ok(bytes)
}

fn write_file(handles: &Handles, path: &str, bytes: &[u8]) -> Result<(), Failure> {
    let flags = open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
    let file = with_ring(|ring| ring.run(ops::open(handles.file_system, path.as_bytes(), flags)))
        .map_err(|error| Failure(alloc::format!("create {path}: {}", error.name())))?
        as u32;
    let written = with_ring(|ring| ring.run(ops::write(file, bytes, 0)));
    close(file);
    expect("write", written, Ok(bytes.len() as i32))
}

fn u16_at(bytes: &[u8], at: usize) -> usize {
    u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]))
}

fn set_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn malicious_files(handles: &Handles) -> Result<(), Failure> {
    let good = read_file(handles, "/bin/true")?;
    // The program headers: e_phoff at 32, e_phentsize at 54; PT_LOAD
    // entries: p_vaddr at +16, p_memsz at +40.
    let headers = u64_at(&good, 32) as usize;
    let entry_size = u16_at(&good, 54);
    let count = u16_at(&good, 56);
    let loads: Vec<usize> = (0..count)
        .map(|index| headers + index * entry_size)
        .filter(|&at| u32::from_le_bytes([good[at], good[at + 1], good[at + 2], good[at + 3]]) == 1)
        .collect();
    if loads.len() < 2 {
        fail!(
            "/bin/true has {} PT_LOAD segments, the case needs 2",
            loads.len()
        );
    }
    let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
    variants.push(("truncated", good[..good.len() / 3].to_vec()));
    variants.push(("headers only", good[..64].to_vec()));
    let mut wrong_machine = good.clone();
    wrong_machine[18] = 62; // EM_X86_64
    variants.push(("an x86-64 program", wrong_machine));
    let mut kernel_address = good.clone();
    set_u64(&mut kernel_address, loads[0] + 16, 0xffff_0000_0000_0000);
    variants.push(("a segment in kernel space", kernel_address));
    let mut overlapping = good.clone();
    let first_address = u64_at(&good, loads[0] + 16);
    set_u64(&mut overlapping, loads[1] + 16, first_address);
    variants.push(("overlapping segments", overlapping));
    let mut huge = good.clone();
    set_u64(&mut huge, loads[1] + 40, 1 << 40);
    variants.push(("a huge segment", huge));
    let mut wrapping = good.clone();
    set_u64(&mut wrapping, loads[1] + 40, u64::MAX - 10);
    variants.push(("a segment that wraps", wrapping));
    let mut past_the_file = good.clone();
    set_u64(&mut past_the_file, loads[0] + 8, 1 << 30); // p_offset
    variants.push(("bytes past the end of the file", past_the_file));
    let mut paths = Vec::new();
    for (index, (_, bytes)) in variants.iter().enumerate() {
        let path = alloc::format!("/tmp/bad{index}");
        write_file(handles, &path, bytes)?;
        paths.push(path);
    }
    // A refused file costs nothing: the proc server checks it before it
    // asks the kernel for anything.
    let before = free_frames();
    for ((what, _), path) in variants.iter().zip(&paths) {
        let got = spawn(handles.processes, path, &["bad"], [0; 6]);
        expect(what, got, Err(Errno::NotExecutable))?;
    }
    expect("free frames after the refusals", free_frames(), before)?;
    for path in &paths {
        let _ = with_ring(|ring| ring.run(ops::unlink(handles.file_system, path.as_bytes())));
    }
    // And the good one still runs.
    write_file(handles, "/tmp/good", &good)?;
    let child = spawn(handles.processes, "/tmp/good", &["good"], [0; 6])
        .map_err(|error| Failure(alloc::format!("/tmp/good: {}", error.name())))?;
    expect("/tmp/good", wait(child).0, Ok(0))?;
    close(child);
    let _ = with_ring(|ring| ring.run(ops::unlink(handles.file_system, b"/tmp/good")));
    Ok(())
}

fn faulting_child(handles: &Handles) -> Result<(), Failure> {
    let child = spawn(
        handles.processes,
        "/bin/faulty",
        &["faulty", "write-text"],
        with_console(handles),
    )
    .map_err(|error| Failure(alloc::format!("spawn: {}", error.name())))?;
    let (result, reason) = wait(child);
    close(child);
    expect("wait", result, Ok(WAIT_KILLED))?;
    if !reason.starts_with("killed: ") || !reason.contains("fault") {
        fail!("reason: {reason:?}");
    }
    println!("spawntest: the faulting child: {reason}");
    Ok(())
}

fn kill_ends_a_child(handles: &Handles) -> Result<(), Failure> {
    let child = spawn(handles.processes, "/bin/sleep", &["sleep", "60000"], [0; 6])
        .map_err(|error| Failure(alloc::format!("spawn: {}", error.name())))?;
    expect("kill", with_ring(|ring| ring.run(ops::kill(child))), Ok(0))?;
    let (result, reason) = wait(child);
    expect("wait", result, Ok(WAIT_KILLED))?;
    if !reason.starts_with("killed: killed by process") {
        fail!("reason: {reason:?}");
    }
    expect(
        "kill of an ended child",
        with_ring(|ring| ring.run(ops::kill(child))),
        Err(Errno::NoSuchProcess),
    )?;
    close(child);
    expect(
        "wait on a closed handle",
        wait(child).0,
        Err(Errno::BadHandle),
    )?;
    // Not a process handle.
    expect(
        "kill of the console",
        with_ring(|ring| ring.run(ops::kill(handles.console))),
        Err(Errno::NotPermitted),
    )
}

fn process_list(handles: &Handles) -> Result<(), Failure> {
    let child = spawn(handles.processes, "/bin/sleep", &["sleep", "60000"], [0; 6])
        .map_err(|error| Failure(alloc::format!("spawn: {}", error.name())))?;
    let id = with_ring(|ring| ring.run(ops::process_info(child))).unwrap_or(0) as u32;
    let mut buffer = [0u8; 32 * 32];
    let count = with_ring(|ring| ring.run(ops::process_list(&mut buffer))).unwrap_or(0) as usize;
    let records = <[ProcessRecord]>::ref_from_bytes(&buffer[..count * 32])
        .map_err(|_| Failure("records".into()))?;
    let found = records
        .iter()
        .find(|record| record.id == id)
        .map(|record| &record.name[..record.name_length as usize] == b"sleep");
    let _ = with_ring(|ring| ring.run(ops::kill(child)));
    let _ = wait(child);
    close(child);
    expect("the child in the list, named", found, Some(true))
}

fn cycles_leak_nothing(handles: &Handles) -> Result<(), Failure> {
    let cycle = || -> Result<(), Failure> {
        let child = spawn(
            handles.processes,
            "/bin/true",
            &["true"],
            with_console(handles),
        )
        .map_err(|error| Failure(alloc::format!("spawn: {}", error.name())))?;
        expect("wait", wait(child).0, Ok(0))?;
        close(child);
        Ok(())
    };
    // One cycle first: the servers' heaps grow to what a spawn needs.
    cycle()?;
    let before = free_frames();
    for _ in 0..CYCLES {
        cycle()?;
    }
    let after = free_frames();
    println!("spawntest: {CYCLES} spawn+wait cycles: free frames {before} before, {after} after");
    expect("free frames", after, before)
}

fn kernel_checks(handles: &Handles) -> Result<(), Failure> {
    let Some(spawner) = handles.spawner else {
        fail!("no spawner handle (start with +spawn)");
    };
    // Only a spawner creates.
    expect(
        "create with the console handle",
        with_ring(|ring| ring.run(ops::process_create(handles.console, b"x"))),
        Err(Errno::NotPermitted),
    )?;
    expect(
        "an empty name",
        with_ring(|ring| ring.run(ops::process_create(spawner, b""))),
        Err(Errno::InvalidArgument),
    )?;
    // A budget must cover the kernel's allowance (256 KiB) and a page; a
    // small one then stops PROCESS_MAP at it.
    expect(
        "a 128 KiB budget",
        with_ring(|ring| ring.run(ops::process_create_with_budget(spawner, b"tiny", 128 << 10))),
        Err(Errno::OutOfMemory),
    )?;
    let small = with_ring(|ring| {
        ring.run(ops::process_create_with_budget(
            spawner,
            b"small",
            512 << 10,
        ))
    })
    .map_err(|error| Failure(alloc::format!("create small: {}", error.name())))?
        as u32;
    let page = [0u8; 4096];
    let base = libring::abi::PROGRAM_BASE;
    expect(
        "256 KiB in a 512 KiB budget (256 KiB of it the kernel's)",
        with_ring(|ring| ring.run(ops::process_map(small, &page, base, 256 << 10, 0))),
        Err(Errno::OutOfMemory),
    )?;
    expect(
        "128 KiB in it",
        with_ring(|ring| ring.run(ops::process_map(small, &page, base, 128 << 10, 0))),
        Ok(0),
    )?;
    let _ = with_ring(|ring| ring.run(ops::close(small)));
    let child = with_ring(|ring| ring.run(ops::process_create(spawner, b"built")))
        .map_err(|error| Failure(alloc::format!("create: {}", error.name())))?
        as u32;
    let map = |destination: u64, size: u64, flags: u32| {
        with_ring(|ring| ring.run(ops::process_map(child, &page, destination, size, flags)))
    };
    let cases = [
        (
            "kernel space",
            0xffff_0000_0000_0000,
            4096,
            0,
            Errno::InvalidArgument,
        ),
        (
            "below the program area",
            0x1000,
            4096,
            0,
            Errno::InvalidArgument,
        ),
        (
            "over the startup page",
            0x0fff_0000,
            4096,
            0,
            Errno::InvalidArgument,
        ),
        (
            "writable and executable",
            0x40_0000,
            4096,
            process_map_flags::WRITE | process_map_flags::EXECUTE,
            Errno::InvalidArgument,
        ),
        ("huge", 0x40_0000, 1 << 40, 0, Errno::InvalidArgument),
        (
            "wrapping",
            0x40_0000,
            u64::MAX - 4,
            0,
            Errno::InvalidArgument,
        ),
        (
            "more than the program limit",
            0x40_0000,
            64 << 20,
            0,
            Errno::OutOfMemory,
        ),
    ];
    for (what, destination, size, flags, want) in cases {
        expect(what, map(destination, size, flags), Err(want))?;
    }
    expect("a good map", map(0x40_0000, 8192, 0), Ok(0))?;
    expect("a map over it", map(0x40_1000, 4096, 0), Err(Errno::Exists))?;
    // A source the builder cannot read.
    let unreadable = with_ring(|ring| {
        let mut submission = ops::process_map(child, &page, 0x50_0000, 4096, 0);
        submission.address = 0xffff_0000_0000_0000;
        ring.run(submission)
    });
    expect("an unreadable source", unreadable, Err(Errno::Fault))?;
    // Giving: a forwarded request the builder does not serve.
    expect(
        "give from a request that is not ours",
        with_ring(|ring| ring.run(ops::process_give(child, handles.console, 12345))),
        Err(Errno::NotFound),
    )?;
    // Process handles are not given.
    expect(
        "give a process handle",
        with_ring(|ring| ring.run(ops::process_give(child, child, 0))),
        Err(Errno::NotPermitted),
    )?;
    expect(
        "wait for an unstarted process",
        wait(child).0,
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "start at a kernel address",
        with_ring(|ring| ring.run(ops::process_start(child, &[], 0xffff_0000_0000_0000))),
        Err(Errno::InvalidArgument),
    )?;
    close(child);
    // At most 16 live endpoints per process; closing the service handle
    // does not end an endpoint (its server ending does), so the 17th
    // fails whatever is closed. (`thrown_away`, before this, made one
    // that died with the process it was given to.)
    let mut made = Vec::new();
    for index in 0..16 {
        let name = alloc::format!("e{index}");
        match with_ring(|ring| ring.run(ops::endpoint_create(name.as_bytes()))) {
            Ok(handle) => made.push(handle as u32),
            Err(error) => fail!("endpoint {index}: {}", error.name()),
        }
    }
    expect(
        "a 17th endpoint",
        with_ring(|ring| ring.run(ops::endpoint_create(b"e16"))),
        Err(Errno::OutOfMemory),
    )?;
    expect(
        "an endpoint name of 17 bytes",
        with_ring(|ring| ring.run(ops::endpoint_create(b"seventeen-bytes!!"))),
        Err(Errno::InvalidArgument),
    )?;
    for handle in made {
        close(handle);
    }
    Ok(())
}

fn thrown_away(handles: &Handles) -> Result<(), Failure> {
    let Some(spawner) = handles.spawner else {
        fail!("no spawner handle (start with +spawn)");
    };
    let bytes = vec![7u8; 64 * 1024];
    let before = free_frames();
    let child = with_ring(|ring| ring.run(ops::process_create(spawner, b"thrown")))
        .map_err(|error| Failure(alloc::format!("create: {}", error.name())))?
        as u32;
    let mapped = with_ring(|ring| ring.run(ops::process_map(child, &bytes, 0x40_0000, 1 << 20, 0)));
    expect("map 1 MiB", mapped, Ok(0))?;
    let given = with_ring(|ring| ring.run(ops::process_give(child, handles.file_system, 0)));
    if given.is_err() {
        fail!("give: {given:?}");
    }
    let during = free_frames();
    if during >= before - 256 {
        fail!("1 MiB mapped took only {} frames", before - during);
    }
    close(child);
    expect("free frames after the close", free_frames(), before)?;
    // The copied file system handle went with it: the server still
    // counts no open file and still answers.
    let open = with_ring(|ring| ring.run(ops::control(handles.file_system, [0, 0, 0])));
    expect("ramfs open files", open, Ok(0))?;
    // An endpoint given to a process that never starts dies with it: its
    // clients are told at once, not left waiting for a server.
    let service = with_ring(|ring| ring.run(ops::endpoint_create(b"orphan")))
        .map_err(|error| Failure(alloc::format!("endpoint: {}", error.name())))?
        as u32;
    let client = with_ring(|ring| ring.run(ops::mint(service, 1)))
        .map_err(|error| Failure(alloc::format!("mint: {}", error.name())))?
        as u32;
    let child = with_ring(|ring| ring.run(ops::process_create(spawner, b"never")))
        .map_err(|error| Failure(alloc::format!("create: {}", error.name())))?
        as u32;
    let given = with_ring(|ring| ring.run(ops::process_give(child, service, 0)));
    if given.is_err() {
        fail!("give the service handle: {given:?}");
    }
    close(child);
    let answer = with_ring(|ring| ring.run(ops::control(client, [0, 0, 0])));
    close(client);
    close(service);
    expect(
        "a request to the thrown-away server",
        answer,
        Err(Errno::ServerDead),
    )
}
