//! bench: the figures of `cargo xtask bench` (docs/performance.md).
//!
//! Started as `bench[:quick][:only=NAME]+use=console+use=null+use=fs+use=proc+bootimage`,
//! beside `nullserver` serving `null`, `ramfs` serving `fs` and `proc`
//! serving `proc`, on a kernel booted with `bench` on its command line (so
//! user space may read the PMU). Each figure runs an operation many times
//! and divides the instructions retired (PMU event 0x08, counting EL0 and
//! EL1 of every process: the user side, the kernel, and the server) by the
//! number of operations. Under QEMU with `-icount` the count is exact.
//!
//! Started as `bench:disk[:quick]+use=console+use=fs+use=proc` on the FAT
//! system's servers (`cargo xtask bench --system fat`), it measures the
//! disk figures instead: sequential `WRITE` and `READ` of a 1 MiB file in
//! 64 KiB pieces (instructions per KiB, driver and disk included), and
//! `SPAWN` + `WAIT` of `/bin/true` read from the disk.
//!
//! Output, one line per figure, for xtask to read:
//! `bench: <name> <instructions per operation> <operations>`, then
//! `bench: done`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use core::arch::asm;
use libring::abi::{Completion, Errno, Submission, open_flags};
use libring::ops::{self, SubmissionOptions};
use libring::ring::Ring;
use libring::runtime::{self, Arguments, Syscall, with_ring};

libring::entry!(main);

/// Operations per figure (at least 10,000), or a few in quick mode (for
/// `cargo xtask test`, which only checks that the benchmark still runs).
struct Plan {
    operations: u64,
}

/// Instructions retired, from counter 0 (32 bits: read it often).
fn counter() -> u32 {
    let count: u64;
    // SAFETY: reads the PMU event counter; the kernel lets EL0 with `bench`.
    unsafe { asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) count, options(nomem, nostack)) };
    count as u32
}

/// Runs `operation` `count` times in chunks small enough for the 32-bit
/// counter, and returns the instructions per operation.
fn measure(count: u64, mut operation: impl FnMut()) -> f64 {
    const CHUNK: u64 = 500;
    let mut total: u64 = 0;
    let mut done = 0;
    while done < count {
        let chunk = CHUNK.min(count - done);
        let start = counter();
        for _ in 0..chunk {
            operation();
        }
        total += counter().wrapping_sub(start) as u64;
        done += chunk;
    }
    total as f64 / count as f64
}

/// `bench pipe`: 1 MiB through a pipe of the pipe server, written and
/// read 16 KiB at a time by this one process; instructions per KiB moved
/// (both copies, in and out of the server, and both round trips). Its own
/// boot, with the pipe server (`+use=pipe`): the main run's boot figures
/// are those of the system without it.
fn pipe_only() -> i32 {
    match runtime::service("pipe").map(|service| pipe_through(service, 16 << 10)) {
        Some(Ok(figure)) => report("pipe_1m_per_kib", figure, 1024),
        Some(Err(error)) => libring::println!("bench: pipe_1m_per_kib failed: {error:?}"),
        None => libring::println!("bench: pipe_1m_per_kib: no pipe service (+use=pipe)"),
    }
    libring::println!("bench: done");
    0
}

fn pipe_through(service: u32, piece: usize) -> Result<f64, Errno> {
    let (read, write) = with_ring(|ring| libring::pipe::create(ring, service))?;
    let source = vec![0x5au8; piece];
    let mut sink = vec![0u8; piece];
    let mut failed = None;
    let total = with_ring(|ring| {
        measure(1, || {
            for _ in 0..(1 << 20) / piece {
                let wrote = ring.run(ops::write(write, &source, 0));
                let got = ring.run(ops::read(read, &mut sink, 0));
                if wrote != Ok(piece as i32) || got != Ok(piece as i32) {
                    failed = Some(wrote.and(got).err().unwrap_or(Errno::Io));
                }
            }
        })
    });
    let _ = with_ring(|ring| ring.run(ops::close(write)));
    let _ = with_ring(|ring| ring.run(ops::close(read)));
    match failed {
        Some(error) => Err(error),
        None => Ok(total / 1024.0),
    }
}

fn report(name: &str, per_operation: f64, operations: u64) {
    libring::println!("bench: {name} {per_operation:.1} {operations}");
}

/// Pushes and completes the batch `submissions`, one `ring_enter`; the
/// ring's indices are looked at once for the pushes and once for the
/// completions (`Ring::push_batch`, `Ring::completions_into`), which go
/// into `completions` (as long as the batch).
fn round(ring: &mut Ring<Syscall>, submissions: &[Submission], completions: &mut [Completion]) {
    let _ = ring.push_batch(submissions);
    let _ = ring.submit_and_wait(submissions.len() as u32);
    let _ = ring.completions_into(completions);
}

/// `batch` copies of `submission` per round; instructions per submission.
/// (The buffers are made first, outside the ring: allocating uses it.)
fn batched(plan: &Plan, submission: Submission, batch: u32) -> f64 {
    let submissions = vec![submission; batch as usize];
    let mut completions = vec![Completion::default(); batch as usize];
    let rounds = plan.operations.div_ceil(batch as u64);
    with_ring(|ring| measure(rounds, || round(ring, &submissions, &mut completions))) / batch as f64
}

/// A 64 KiB file in the ram file system, then `READ`s of all of it
/// through the handle `OPEN` gave.
fn ramfs_read_64k(fs: u32, plan: &Plan) -> Result<f64, libring::abi::Errno> {
    const SIZE: usize = 64 * 1024;
    let flags = open_flags::READ | open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
    let contents = vec![0x5au8; SIZE];
    let mut buffer = vec![0u8; SIZE];
    with_ring(|ring| {
        let file = ring.run(ops::open(fs, b"/tmp/bench", flags))? as u32;
        ring.run(ops::write(file, &contents, 0))?;
        let figure = measure(plan.operations, || {
            let _ = ring.run(ops::read(file, &mut buffer, 0));
        });
        let _ = ring.run(ops::close(file));
        Ok(figure)
    })
}

/// A spawn is some hundred times a NOP: this many fewer of them.
const SPAWNS_PER_FIGURE: u64 = 20;

/// `SPAWN` of `true` (through the proc server, which reads it through
/// ramfs), `WAIT` for it, `CLOSE` its handle: a whole process's life.
///
/// The bench's ramfs starts empty (seeding it from the boot image would
/// count in the boot figure), so `true` is first copied there from the
/// boot image, as `/tmp/true`.
fn spawn_wait(
    processes: u32,
    fs: u32,
    boot_image: u32,
    plan: &Plan,
) -> Result<f64, libring::abi::Errno> {
    copy_program(fs, boot_image, "true")?;
    spawn_and_wait(
        processes,
        "/tmp/true",
        (plan.operations / SPAWNS_PER_FIGURE).max(1),
    )
}

/// Copies `bin/NAME` from the boot image to `/tmp/NAME` (this system's
/// ramfs starts empty).
fn copy_program(fs: u32, boot_image: u32, name: &str) -> Result<(), Errno> {
    let image = runtime::boot_image::map(boot_image)?;
    let wanted = alloc::format!("bin/{name}");
    let program = cpio_reader::iter_files(image)
        .find(|entry| entry.name().trim_start_matches("./") == wanted)
        .map(|entry| entry.file())
        .ok_or(Errno::NotFound)?;
    let flags = open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE;
    let path = alloc::format!("/tmp/{name}");
    with_ring(|ring| {
        let file = ring.run(ops::open(fs, path.as_bytes(), flags))? as u32;
        let written = ring.run(ops::write(file, program, 0));
        let _ = ring.run(ops::close(file));
        written
    })
    .map(|_| ())
}

/// `SPAWN` of the program at `path` with no handles, `WAIT`, `CLOSE`,
/// `count` times (after one that is not counted: it grows the servers'
/// buffers); the instructions per cycle.
fn spawn_and_wait(processes: u32, path: &str, count: u64) -> Result<f64, libring::abi::Errno> {
    let mut request = [0u8; 64];
    let length = libring::process::spawn_request(path, &["true"], &mut request)?;
    let request = &request[..length];
    let cycle = || -> Result<(), libring::abi::Errno> {
        with_ring(|ring| {
            let child = ring.run(ops::spawn(processes, request, [0; 6]))? as u32;
            let waited = ring.run(ops::wait(child, &mut []));
            let _ = ring.run(ops::close(child));
            waited.map(|_| ())
        })
    };
    cycle()?;
    let mut failed = None;
    let figure = measure(count, || {
        if let Err(error) = cycle() {
            failed = Some(error);
        }
    });
    failed.map_or(Ok(figure), Err)
}

/// The file the disk figures write and read, and its size.
const DISK_FILE: &[u8] = b"/tmp/bench.bin";
const DISK_FILE_SIZE: usize = 1 << 20;
/// The pieces it moves in.
const DISK_PIECE: usize = 64 * 1024;

/// Writes (or reads) the whole 1 MiB file, a piece at a time; returns the
/// instructions per KiB over `rounds` times.
fn disk_file(fs: u32, rounds: u64, write: bool) -> Result<f64, libring::abi::Errno> {
    let flags = if write {
        open_flags::WRITE | open_flags::CREATE | open_flags::TRUNCATE
    } else {
        open_flags::READ
    };
    let mut buffer = vec![0x6bu8; DISK_PIECE];
    with_ring(|ring| {
        let file = ring.run(ops::open(fs, DISK_FILE, flags))? as u32;
        let mut failed = None;
        let figure = measure(rounds, || {
            for piece in 0..DISK_FILE_SIZE / DISK_PIECE {
                let offset = (piece * DISK_PIECE) as u64;
                let moved = if write {
                    ring.run(ops::write(file, &buffer, offset))
                } else {
                    ring.run(ops::read(file, &mut buffer, offset))
                };
                if moved != Ok(DISK_PIECE as i32) {
                    failed = Some(moved.err().unwrap_or(libring::abi::Errno::Io));
                }
            }
        });
        let _ = ring.run(ops::close(file));
        failed.map_or(Ok(figure / (DISK_FILE_SIZE / 1024) as f64), Err)
    })
}

/// `bench:disk`: the FAT system's figures.
fn disk(quick: bool) -> i32 {
    let (Some(fs), Some(processes)) = (runtime::file_system(), runtime::processes()) else {
        libring::println!("bench: disk: needs +use=console+use=fs+use=proc");
        return 1;
    };
    let rounds = if quick { 1 } else { 8 };
    let kibibytes = rounds * (DISK_FILE_SIZE / 1024) as u64;
    match disk_file(fs, rounds, true) {
        Ok(figure) => report("fat_write_1m_per_kib", figure, kibibytes),
        Err(error) => libring::println!("bench: fat_write_1m_per_kib failed: {error:?}"),
    }
    match disk_file(fs, rounds, false) {
        Ok(figure) => report("fat_read_1m_per_kib", figure, kibibytes),
        Err(error) => libring::println!("bench: fat_read_1m_per_kib failed: {error:?}"),
    }
    let spawns = if quick { 2 } else { 50 };
    match spawn_and_wait(processes, "/bin/true", spawns) {
        Ok(figure) => report("fat_spawn_wait", figure, spawns),
        Err(error) => libring::println!("bench: fat_spawn_wait failed: {error:?}"),
    }
    libring::println!("bench: done");
    0
}

fn main(arguments: Arguments) -> i32 {
    let quick = arguments.iter().any(|argument| argument == "quick");
    if arguments.iter().any(|argument| argument == "disk") {
        return disk(quick);
    }
    if arguments.iter().any(|argument| argument == "pipe") {
        return pipe_only();
    }
    // `only=NAME`: just that figure (`cargo xtask profile` uses this).
    let only = arguments
        .iter()
        .find_map(|argument| argument.strip_prefix("only="));
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    let plan = Plan {
        operations: if quick { 200 } else { 10_000 },
    };
    let &[console, null, fs, processes, boot_image, ..] = runtime::handles() else {
        libring::println!("bench: expected the handles [console, null, fs, proc, boot image]");
        return 1;
    };

    // Let init report the boot figures first (asleep, this program retires
    // no instructions: QEMU runs with sleep=off).
    let _ = with_ring(|ring| ring.run(ops::timeout(200_000_000)));

    // Calibration: a loop of known length, 2 instructions per iteration.
    let iterations = 100_000u64;
    let calibration = measure(1, || {
        // SAFETY: a register-only countdown loop.
        unsafe {
            asm!("1: subs {0}, {0}, #1", "b.ne 1b", inout(reg) iterations => _, options(nomem, nostack))
        };
    });
    libring::println!("bench: calibration {calibration:.0} {}", 2 * iterations);

    let nop = ops::nop().with_user_data(1);
    let forwarded = ops::control(null, [0, 0, 0]).with_user_data(2);
    let batches = [
        ("kernel_nop_batch_1", nop, 1),
        ("kernel_nop_batch_32", nop, 32),
        ("forwarded_nop_batch_1", forwarded, 1),
        ("forwarded_nop_batch_32", forwarded, 32),
    ];
    for (name, submission, batch) in batches {
        if wanted(name) {
            let figure = batched(&plan, submission, batch);
            report(name, figure, plan.operations);
        }
    }

    for size in [4096usize, 65536] {
        let read_name = alloc::format!("read_{}k_via_server", size / 1024);
        let copy_name = alloc::format!("memcpy_{}k", size / 1024);
        let mut buffer = vec![0u8; size];
        let source = vec![0x33u8; size];
        if wanted(&read_name) {
            let read = with_ring(|ring| {
                measure(plan.operations, || {
                    let _ = ring.run(ops::read(null, &mut buffer, 0));
                })
            });
            report(&read_name, read, plan.operations);
        }
        if wanted(&copy_name) {
            let copy = measure(plan.operations, || {
                // SAFETY: two distinct buffers of `size` bytes.
                unsafe {
                    core::ptr::copy_nonoverlapping(source.as_ptr(), buffer.as_mut_ptr(), size)
                };
                core::hint::black_box(&mut buffer);
            });
            report(&copy_name, copy, plan.operations);
        }
    }

    if wanted("ramfs_read_64k") {
        match ramfs_read_64k(fs, &plan) {
            Ok(figure) => report("ramfs_read_64k", figure, plan.operations),
            Err(error) => libring::println!("bench: ramfs_read_64k failed: {error:?}"),
        }
    }

    if wanted("console_write_64_bytes") {
        let line = [b'.'; 63];
        let mut text = [0u8; 64];
        text[..63].copy_from_slice(&line);
        text[63] = b'\n';
        let write = with_ring(|ring| {
            measure(plan.operations, || {
                let _ = ring.run(ops::write(console, &text, 0));
            })
        });
        report("console_write_64_bytes", write, plan.operations);
    }

    if wanted("spawn_wait") {
        match spawn_wait(processes, fs, boot_image, &plan) {
            Ok(figure) => report("spawn_wait", figure, plan.operations / SPAWNS_PER_FIGURE),
            Err(error) => libring::println!("bench: spawn_wait failed: {error:?}"),
        }
    }

    // The null server's last request: it answers, then exits.
    let _ = with_ring(|ring| ring.run(ops::control(null, [1, 0, 0])));
    libring::println!("bench: done");
    0
}
