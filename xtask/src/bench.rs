//! `cargo xtask bench`: the performance figures (docs/performance.md).
//!
//! Boots the release kernel in QEMU with `-icount shift=0,sleep=off`, so
//! that every guest instruction takes the same virtual time and idle time
//! is skipped: the PMU's instructions-retired count is then exact and the
//! same from run to run. The programs (`init:bench` for the boot figures,
//! `bench` for the rest, beside `nullserver` and the console server) print
//! `bench: <name> <instructions per operation> <operations>` lines; this
//! module collects them, prints a table next to the targets, and writes
//! `target/bench/results.json`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Result;
use crate::build;
use crate::qemu_tests::{self, Outcome, QemuTestConfig};
use crate::tools;
use crate::workspace::{Profile, Workspace};

/// The machine the figures are measured on.
pub const MACHINE: &[&str] = &[
    "-M",
    "virt,gic-version=3",
    "-cpu",
    "cortex-a72",
    "-m",
    "256M",
    "-icount",
    "shift=0,sleep=off",
];

/// The programs: the console server with the kernel log, the null server,
/// the ram file system, init reporting the boot figures, and the benchmark
/// itself, in quick mode (the `bench-quick` row of `cargo xtask test`
/// boots this too).
pub const QUICK_COMMAND_LINE: &str = "bench quiet run=console+serve=console+device=console+irq=console+klog,nullserver+serve=null,ramfs+serve=fs,proc+serve=proc+spawn+use=fs,init:bench+use=console,bench:quick+use=console+use=null+use=fs+use=proc+bootimage";

/// The same with 10,000 operations per figure.
const FULL_COMMAND_LINE: &str = "bench quiet run=console+serve=console+device=console+irq=console+klog,nullserver+serve=null,ramfs+serve=fs,proc+serve=proc+spawn+use=fs,init:bench+use=console,bench+use=console+use=null+use=fs+use=proc+bootimage";

/// The FAT system's servers (the disk driver, the FAT server on the
/// system's disk, proc reading programs from it) and the benchmark's disk
/// figures.
pub const DISK_QUICK_COMMAND_LINE: &str = "bench quiet run=console+serve=console+device=console+irq=console+klog,virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,proc+serve=proc+spawn+use=fs,bench:disk:quick+use=console+use=fs+use=proc";

/// The same with 8 MiB each way and 50 spawns.
const DISK_COMMAND_LINE: &str = "bench quiet run=console+serve=console+device=console+irq=console+klog,virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,proc+serve=proc+spawn+use=fs,bench:disk+use=console+use=fs+use=proc";

/// The disk figures (`--system fat`).
const DISK_FIGURES: &[(&str, &str, Option<f64>)] = &[
    (
        "fat_write_1m_per_kib",
        "WRITE of a 1 MiB file in 64 KiB pieces, per KiB (each on the disk)",
        None,
    ),
    (
        "fat_read_1m_per_kib",
        "READ of that file in 64 KiB pieces, per KiB",
        None,
    ),
    (
        "fat_spawn_wait",
        "SPAWN of /bin/true read from the FAT disk, then WAIT",
        None,
    ),
];

fn command_line(quick: bool) -> &'static str {
    if quick {
        QUICK_COMMAND_LINE
    } else {
        FULL_COMMAND_LINE
    }
}

/// The command line of `cargo xtask profile FIGURE`: the quick benchmark
/// running only FIGURE; and the benchmark's process id (programs are
/// numbered from 1 in `run=` order).
pub fn profile_command_line(figure: &str) -> (String, u32) {
    let command_line =
        command_line(true).replace("bench:quick+", &format!("bench:quick:only={figure}+"));
    let programs = command_line
        .split_once("run=")
        .map_or(0, |(_, list)| list.split(',').count());
    (command_line, programs as u32)
}

/// The names of every figure, in table order.
pub fn figure_names() -> Vec<&'static str> {
    FIGURES.iter().map(|(name, _, _)| *name).collect()
}

/// Each figure, what it means, and the target the servers issue set.
const FIGURES: &[(&str, &str, Option<f64>)] = &[
    (
        "calibration",
        "a 2-instruction loop, 100,000 times (expect 200,000)",
        None,
    ),
    (
        "kernel_nop_batch_1",
        "NOP through ring_enter, 1 per call",
        Some(200.0),
    ),
    (
        "kernel_nop_batch_32",
        "NOP through ring_enter, 32 per call",
        Some(40.0),
    ),
    (
        "forwarded_nop_batch_1",
        "CONTROL to the null server and back, 1 per call",
        Some(1000.0),
    ),
    (
        "forwarded_nop_batch_32",
        "CONTROL to the null server and back, 32 per call",
        Some(150.0),
    ),
    (
        "read_4k_via_server",
        "READ of 4 KiB through a server (one grant copy)",
        None,
    ),
    ("memcpy_4k", "memcpy of 4 KiB in user space", None),
    (
        "read_64k_via_server",
        "READ of 64 KiB through a server",
        None,
    ),
    ("memcpy_64k", "memcpy of 64 KiB in user space", None),
    (
        "pipe_1m_per_kib",
        "1 MiB through a pipe, 16 KiB WRITE then READ, per KiB",
        None,
    ),
    (
        "ramfs_read_64k",
        "READ of a 64 KiB ramfs file through an open handle",
        None,
    ),
    (
        "console_write_64_bytes",
        "WRITE of 64 bytes to the console server",
        None,
    ),
    (
        "spawn_wait",
        "SPAWN of a trivial program through proc and ramfs, then WAIT",
        Some(100_000.0),
    ),
    (
        "boot_to_first_line",
        "instructions from the kernel's first to init's first line",
        Some(2_000_000.0),
    ),
    (
        "frames_in_use_kib",
        "RAM in use then (KiB of 4 KiB frames)",
        Some(4096.0),
    ),
];

/// One measured figure.
#[derive(Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub operations: u64,
}

/// The `bench: <name> <value> <operations>` lines of a serial log.
pub fn parse(serial: &str) -> Vec<Figure> {
    serial
        .lines()
        .filter_map(|line| {
            let mut words = line
                .trim_end_matches('\r')
                .strip_prefix("bench: ")?
                .split_whitespace();
            let name = words.next()?.to_string();
            let value = words.next()?.parse().ok()?;
            let operations = words.next()?.parse().ok()?;
            words.next().is_none().then_some(Figure {
                name,
                value,
                operations,
            })
        })
        .collect()
}

/// The figures of the last `cargo xtask bench` of the default system, read
/// back from its serial logs in `target/bench/` (none if there are none).
pub fn last_figures(workspace: &Workspace) -> Vec<Figure> {
    let directory = workspace.target_directory.join("bench");
    ["serial.log", "serial-pipe.log"]
        .iter()
        .filter_map(|name| std::fs::read_to_string(directory.join(name)).ok())
        .flat_map(|serial| parse(&serial))
        .collect()
}

/// The pipe figure's own boot: the pipe server is not in the main run,
/// whose boot figures (frames in use) are those of the plain system.
pub const PIPE_COMMAND_LINE: &str = "bench quiet run=console+serve=console+device=console+irq=console+klog,pipe+serve=pipe,bench:pipe+use=console+use=pipe";

/// A run fails when the guest has printed nothing for this long: each
/// figure prints its line when done, and the longest takes a few seconds
/// on a busy 2-core host. How long the whole run takes is not a limit
/// (a full run took 28 s there, with the other core busy).
const SILENCE: Duration = Duration::from_secs(120);
/// ... except that output without end must stop somewhere.
const CAP: Duration = Duration::from_secs(3600);

/// Runs the benchmark; prints the table; writes the JSON. Returns whether
/// every figure came.
pub fn bench(workspace: &Workspace, quick: bool, system: Option<&str>) -> Result<bool> {
    tools::ensure_qemu()?;
    let disk = system.is_some();
    let built = match system {
        Some(system) => build::build_system(workspace, Profile::Release, system)?,
        None => build::build(workspace, Profile::Release)?,
    };
    let (command_line, figures_wanted) = match (disk, quick) {
        (true, true) => (DISK_QUICK_COMMAND_LINE, DISK_FIGURES),
        (true, false) => (DISK_COMMAND_LINE, DISK_FIGURES),
        (false, _) => (command_line(quick), FIGURES),
    };
    let config = QemuTestConfig {
        name: "bench",
        machine: MACHINE,
        command_line,
        system: None,
        // The system's disk, a fresh copy (`--system fat`).
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["bench: done"],
        },
        expected: &[],
        input: &[],
    };
    let directory = workspace.target_directory.join(match system {
        Some(system) => format!("bench-{system}"),
        None => "bench".to_string(),
    });
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
    let log = directory.join("serial.log");
    println!(
        "xtask: benchmarking (QEMU -icount shift=0,sleep=off); serial log in {}",
        workspace.show(&log)
    );
    let run = qemu_tests::boot_until_silent(&config, &built, &log, SILENCE, CAP)?;
    let mut figures = parse(&run.serial);
    let mut timed_out = run.timed_out;
    if !disk {
        let pipe_config = QemuTestConfig {
            command_line: PIPE_COMMAND_LINE,
            ..config
        };
        let pipe_log = directory.join("serial-pipe.log");
        let pipe_run =
            qemu_tests::boot_until_silent(&pipe_config, &built, &pipe_log, SILENCE, CAP)?;
        figures.extend(parse(&pipe_run.serial));
        timed_out |= pipe_run.timed_out;
    }
    let image_size = std::fs::metadata(&built.image)
        .map(|metadata| metadata.len())
        .unwrap_or(0);

    println!();
    println!(
        "{:<24} {:>16} {:>12} {:>10}  what",
        "figure", "instructions/op", "target", "operations"
    );
    for (name, meaning, target) in figures_wanted {
        let found = figures.iter().find(|figure| figure.name == *name);
        let value = found.map_or("missing".to_string(), |figure| {
            format!("{:.1}", figure.value)
        });
        let operations = found.map_or(String::new(), |figure| figure.operations.to_string());
        let target = target.map_or(String::new(), |target| format!("<= {target}"));
        println!("{name:<24} {value:>16} {target:>12} {operations:>10}  {meaning}");
    }
    let ratio = |read: &str, copy: &str| {
        let value = |name: &str| {
            figures
                .iter()
                .find(|figure| figure.name == name)
                .map(|figure| figure.value)
        };
        Some(value(read)? / value(copy)?)
    };
    for (read, target) in [
        ("read_64k_via_server", "<= 1.3"),
        ("ramfs_read_64k", "<= 1.5"),
    ] {
        if let Some(ratio) = ratio(read, "memcpy_64k") {
            let short = read.trim_end_matches("_via_server").replace("_read", "");
            let name = format!("{short} / memcpy_64k");
            println!("{name:<24} {ratio:>16.2} {target:>12}");
        }
    }
    println!(
        "{:<24} {:>16} {:>12}  the kernel Image, bytes",
        "kernel_image_size", image_size, ""
    );

    let mut json = String::from("{\n");
    let _ = writeln!(json, "  \"quick\": {quick},");
    let _ = writeln!(json, "  \"kernel_image_bytes\": {image_size},");
    json.push_str("  \"figures\": {\n");
    for (index, figure) in figures.iter().enumerate() {
        let comma = if index + 1 == figures.len() { "" } else { "," };
        let _ = writeln!(
            json,
            "    \"{}\": {{ \"per_operation\": {:.1}, \"operations\": {} }}{comma}",
            figure.name, figure.value, figure.operations
        );
    }
    json.push_str("  }\n}\n");
    let results = directory.join("results.json");
    std::fs::write(&results, json)
        .map_err(|error| format!("cannot write {}: {error}", results.display()))?;
    println!("\nxtask: wrote {}", workspace.show(&results));

    let complete = figures_wanted
        .iter()
        .all(|(name, _, _)| figures.iter().any(|figure| figure.name == *name));
    if !complete {
        println!("xtask: some figures are missing; see the serial log");
    }
    if timed_out {
        println!(
            "xtask: the benchmark stopped making progress (nothing printed for {} s, \
             or still printing after {} s); see the serial logs",
            SILENCE.as_secs(),
            CAP.as_secs()
        );
    }
    Ok(complete && !timed_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_run_differs_from_the_quick_one_only_in_quick() {
        assert_eq!(
            QUICK_COMMAND_LINE.replace("bench:quick+", "bench+"),
            FULL_COMMAND_LINE
        );
    }

    #[test]
    fn the_profile_runs_one_figure_in_the_last_process() {
        let (command_line, process) = profile_command_line("kernel_nop_batch_1");
        assert!(command_line.contains(",bench:quick:only=kernel_nop_batch_1+use=console"));
        assert_eq!(process, 6);
        assert!(command_line.ends_with(
            "bench:quick:only=kernel_nop_batch_1+use=console+use=null+use=fs+use=proc+bootimage"
        ));
    }

    #[test]
    fn bench_lines_are_read_and_others_ignored() {
        let serial = "init: hello\r\nbench: kernel_nop_batch_1 187.5 10000\r\nbench: done\nbench: broken line\n";
        assert_eq!(
            parse(serial),
            [Figure {
                name: "kernel_nop_batch_1".to_string(),
                value: 187.5,
                operations: 10000
            }]
        );
    }
}
