//! `cargo xtask profile FIGURE [--steps N]`: where the instructions of one
//! benchmark figure go, function by function (docs/performance.md).
//!
//! The benchmark counts instructions; this says which code retires them.
//! It boots the release build as `cargo xtask bench --quick` does, but with
//! the benchmark running only FIGURE (`bench:quick:only=FIGURE`) and with
//! QEMU's gdb server on. gdb-multiarch, driven by a small Python script:
//!
//! 1. stops where the benchmark process's system call enters the kernel's
//!    Rust code (`handle_exception`, the one symbol every exception goes
//!    through: the release build inlines everything below it), some calls
//!    in (past its start-up, inside FIGURE's loop). It tells the benchmark
//!    from other processes by the kernel's `scheduler::CURRENT_OWNER`;
//! 2. single-steps N instructions, whichever process or exception level
//!    runs them, writing each `pc`, and an `R` each time the benchmark
//!    process makes its next system call (one round of the loop: one
//!    `ring_enter` of a batch);
//! 3. names every kernel `pc` (gdb's `info symbol`: the function the
//!    instruction is in, after inlining).
//!
//! This file counts the instructions between the first and the last `R`
//! by function and prints them per round and per operation. User code of
//! every process is one line (its programs share addresses). Under
//! `-icount` the trace is the same every run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use object::elf;
use object::read::elf::{FileHeader, Sym};

use crate::build;
use crate::tools::{self, QEMU};
use crate::workspace::{Profile, Workspace};
use crate::{Result, bench, qemu};

/// The gdb side: stop, step, record, name. Its inputs come in the
/// environment (`PORT`, `ENTER`, `PROCESS`, `SKIP`, `STEPS`, `TRACE`,
/// `SYMBOLS`).
const SCRIPT: &str = r#"
import gdb, os
enter = int(os.environ["ENTER"], 16)
owner = int(os.environ["OWNER"], 16)
process = int(os.environ["PROCESS"])
inferior = gdb.selected_inferior()
def is_round():
    # A system call (vector 8: synchronous, from EL0) by the benchmark.
    if int(gdb.parse_and_eval("$x0")) != 8:
        return False
    return int.from_bytes(bytes(inferior.read_memory(owner, 4)), "little") == process
gdb.execute("set pagination off")
gdb.execute("set language c")
gdb.execute("target remote 127.0.0.1:" + os.environ["PORT"])
gdb.execute("break *%#x if $x0 == 8 && *(unsigned int *)%#x == %d" % (enter, owner, process))
gdb.execute("ignore 1 " + os.environ["SKIP"])
gdb.execute("continue")
gdb.execute("delete")
kernel = {}
with open(os.environ["TRACE"], "w") as trace:
    for step in range(int(os.environ["STEPS"])):
        pc = int(gdb.parse_and_eval("$pc")) & 0xffffffffffffffff
        if pc == enter and is_round():
            trace.write("R\n")
        trace.write("%x\n" % pc)
        if pc >= 0xffff000000000000:
            kernel[pc] = True
        gdb.execute("stepi", to_string=True)
with open(os.environ["SYMBOLS"], "w") as symbols:
    for pc in kernel:
        where = gdb.execute("info symbol %#x" % pc, to_string=True).strip()
        name = where.split(" + ")[0].split(" in section ")[0]
        symbols.write("%x %s\n" % (pc, name))
gdb.execute("kill")
"#;

/// `ring_enter` calls of the benchmark to let pass before tracing: past
/// its start-up (a timeout, the calibration line, memory for buffers) and
/// into FIGURE's loop. A loop of batches of 32 has only 7 rounds (200
/// operations in quick mode) and nothing before it but the timeout and the
/// line; every other loop has 200.
fn calls_to_skip(figure: &str) -> u32 {
    if operations_per_round(figure) > 1 {
        4
    } else {
        20
    }
}

/// What the trace says: instructions by function over whole rounds.
#[derive(Debug, PartialEq)]
pub struct Breakdown {
    pub rounds: usize,
    /// `(function, instructions)`, most first.
    pub functions: Vec<(String, usize)>,
    pub total: usize,
}

/// The name user code gets (all processes together).
const USER: &str = "EL0: user code (client and server)";

/// Counts the trace between its first and last round marker. `trace` is
/// the script's output (`R` lines and hex `pc`s), `symbols` its `pc name`
/// lines for kernel addresses.
pub fn analyse(trace: &str, symbols: &str) -> Result<Breakdown> {
    let names: HashMap<u64, &str> = symbols
        .lines()
        .filter_map(|line| {
            let (pc, name) = line.split_once(' ')?;
            Some((u64::from_str_radix(pc, 16).ok()?, name))
        })
        .collect();
    let lines: Vec<&str> = trace.lines().collect();
    let markers: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == "R").collect();
    let (Some(&first), Some(&last)) = (markers.first(), markers.last()) else {
        return Err("the trace reached no round of the figure's loop".to_string());
    };
    let rounds = markers.len() - 1;
    if rounds == 0 {
        return Err("the trace holds no whole round of the loop: give more --steps".to_string());
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for line in &lines[first..last] {
        let Ok(pc) = u64::from_str_radix(line, 16) else {
            continue; // a marker
        };
        let name = if pc >= 0xffff_0000_0000_0000 {
            names
                .get(&pc)
                .map_or("(kernel, no symbol)", |name| without_hash(name))
        } else {
            USER
        };
        *counts.entry(name.to_string()).or_default() += 1;
        total += 1;
    }
    let mut functions: Vec<(String, usize)> = counts.into_iter().collect();
    functions.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    Ok(Breakdown {
        rounds,
        functions,
        total,
    })
}

/// A Rust symbol without the `::h0123456789abcdef` hash rustc appends.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path
        }
        _ => name,
    }
}

/// Operations in one round of `figure`'s loop (its batch size).
fn operations_per_round(figure: &str) -> usize {
    if figure.ends_with("_batch_32") { 32 } else { 1 }
}

/// The figures with a loop to profile.
fn profilable() -> Vec<&'static str> {
    bench::figure_names()
        .into_iter()
        .filter(|name| {
            !matches!(
                *name,
                "calibration" | "boot_to_first_line" | "frames_in_use_kib"
            )
        })
        .filter(|name| !name.starts_with("memcpy_"))
        .collect()
}

/// `cargo xtask profile FIGURE [--steps N]`.
pub fn profile(workspace: &Workspace, figure: &str, steps: u32) -> Result<bool> {
    let breakdown = trace(workspace, figure, steps)?;
    print!("{}", report(figure, &breakdown));
    Ok(true)
}

/// The figure the `profile` row of `cargo xtask test` traces, and how far:
/// a round of 32 NOPs is about 5,200 instructions, and the trace starts
/// anywhere in one, so at least one whole round.
pub const TEST_FIGURE: &str = "kernel_nop_batch_32";
pub const TEST_STEPS: u32 = 12_000;

/// The `profile` row: traces [`TEST_FIGURE`] for [`TEST_STEPS`] steps
/// and checks the breakdown is one a reader can use: a whole round, the
/// system call's kernel path and the user side both in it, and the
/// operation's share adding up. `Ok(summary)` or `Err(what is wrong)`;
/// the outer `Err` is for a profile that could not run at all.
pub fn test_row(workspace: &Workspace) -> Result<std::result::Result<String, String>> {
    let breakdown = trace(workspace, TEST_FIGURE, TEST_STEPS)?;
    let text = report(TEST_FIGURE, &breakdown);
    Ok(check_breakdown(&breakdown).map(|()| {
        text.lines()
            .find(|line| line.contains("instructions per operation"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }))
}

/// What [`test_row`] asks of a NOP's breakdown.
fn check_breakdown(breakdown: &Breakdown) -> std::result::Result<(), String> {
    if breakdown.rounds < 1 {
        return Err(format!(
            "no whole round traced in {TEST_STEPS} steps; expected at least 1"
        ));
    }
    for wanted in ["microkernel::ring::engine::drain", USER] {
        if !breakdown.functions.iter().any(|(name, _)| name == wanted) {
            return Err(format!("the breakdown does not name {wanted}"));
        }
    }
    let counted: usize = breakdown.functions.iter().map(|(_, count)| count).sum();
    if counted != breakdown.total {
        return Err(format!(
            "the functions add up to {counted}, not the {} traced",
            breakdown.total
        ));
    }
    Ok(())
}

/// Boots the quick benchmark running only `figure` under gdb, traces
/// `steps` instructions of it, and breaks them down by function.
fn trace(workspace: &Workspace, figure: &str, steps: u32) -> Result<Breakdown> {
    let figures = profilable();
    if !figures.contains(&figure) {
        return Err(format!(
            "cannot profile '{figure}'; one of: {}",
            figures.join(", ")
        ));
    }
    tools::ensure_qemu()?;
    tools::ensure_gdb()?;
    let gdb = tools::program_path(tools::GDB);
    let built = build::build(workspace, Profile::Release)?;
    let elf = std::fs::read(&built.elf)
        .map_err(|error| format!("cannot read {}: {error}", built.elf.display()))?;
    let enter = symbol_address(&elf, |name| name == "handle_exception")?;
    let owner = symbol_address(&elf, |name| name.contains("9scheduler13CURRENT_OWNER"))?;
    let (command_line, process) = bench::profile_command_line(figure);

    let directory = workspace.target_directory.join("profile");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
    let script = directory.join("trace.py");
    let trace = directory.join("trace.txt");
    let symbols = directory.join("symbols.txt");
    let serial = directory.join("serial.log");
    std::fs::write(&script, SCRIPT)
        .map_err(|error| format!("cannot write {}: {error}", script.display()))?;

    let port = qemu::free_local_port()?;
    let mut qemu_command = Command::new(QEMU);
    qemu_command.args(bench::MACHINE);
    qemu_command.args(["-display", "none", "-monitor", "none", "-serial"]);
    qemu_command.arg(format!("file:{}", serial.display()));
    qemu::boot_arguments(&mut qemu_command, &built.image, &built.initrd);
    qemu_command.args(["-append", &command_line]);
    qemu_command
        .args(["-S", "-gdb"])
        .arg(format!("tcp:127.0.0.1:{port}"));
    qemu_command.stdout(Stdio::null()).stderr(Stdio::null());
    println!(
        "xtask: profiling {figure}: {steps} instructions single-stepped under gdb \
         (about 300 a second; the trace goes to {})",
        workspace.show(&trace)
    );
    let mut qemu_process = qemu_command
        .spawn()
        .map_err(|error| format!("cannot start {QEMU}: {error}"))?;
    let traced = qemu::wait_for_gdb_server(&mut qemu_process, port).and_then(|()| {
        let mut gdb_command = Command::new(&gdb);
        gdb_command
            .args(["-q", "-batch", "-nx", "-ex"])
            .arg(format!("file {}", built.elf.display()))
            .arg("-x")
            .arg(&script)
            .env("PORT", port.to_string())
            .env("ENTER", format!("{enter:x}"))
            .env("OWNER", format!("{owner:x}"))
            .env("PROCESS", process.to_string())
            .env("SKIP", calls_to_skip(figure).to_string())
            .env("STEPS", steps.to_string())
            .env("TRACE", &trace)
            .env("SYMBOLS", &symbols)
            .stdout(Stdio::null());
        run_within(&mut gdb_command, time_limit(steps))
    });
    let _ = qemu_process.kill();
    let _ = qemu_process.wait();
    traced?;

    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    };
    analyse(&read(&trace)?, &read(&symbols)?)
}

/// How long gdb may take for `steps` steps: about 300 a second on an
/// idle host, a third of that on a busy one, plus the boot and the calls
/// it lets pass; past this the profile fails instead of waiting for ever
/// (a stop that never comes, say).
fn time_limit(steps: u32) -> std::time::Duration {
    std::time::Duration::from_secs(120 + u64::from(steps) / 50)
}

/// Runs `command` (its output as set), killing it after `limit`.
fn run_within(command: &mut Command, limit: std::time::Duration) -> Result<()> {
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start `{}`: {error}", tools::show_command(command)))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "`{}` failed ({status})",
                    tools::show_command(command)
                ));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "gdb did not finish within {} s (the benchmark never reached the stop, \
                     or the host is very slow)",
                    limit.as_secs()
                ));
            }
        }
    }
}

/// The table: each function's instructions per round and per operation.
fn report(figure: &str, profile: &Breakdown) -> String {
    let per_round = operations_per_round(figure);
    let rounds = profile.rounds as f64;
    let per_operation = |count: usize| count as f64 / rounds / per_round as f64;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n{figure}: {} whole rounds of {per_round} operation(s) traced, \
         {:.1} instructions per operation\n",
        profile.rounds,
        per_operation(profile.total)
    );
    let _ = writeln!(text, "{:>10}  function", "per op");
    for (name, count) in &profile.functions {
        let share = per_operation(*count);
        if share >= 1.0 {
            let _ = writeln!(text, "{share:>10.1}  {name}");
        }
    }
    text
}

/// The address of the first symbol of the kernel ELF `elf` whose
/// (mangled) name `wanted` accepts, read from its symbol table (gdb 13
/// cannot be asked: it calls some Rust paths typedefs).
fn symbol_address(elf: &[u8], wanted: impl Fn(&str) -> bool) -> Result<u64> {
    let header = elf::FileHeader64::<object::Endianness>::parse(elf)
        .map_err(|error| format!("the kernel is not an ELF file: {error}"))?;
    let endian = header
        .endian()
        .map_err(|error| format!("the kernel ELF: {error}"))?;
    let symbols = header
        .sections(endian, elf)
        .and_then(|sections| sections.symbols(endian, elf, elf::SHT_SYMTAB))
        .map_err(|error| format!("the kernel ELF's symbol table: {error}"))?;
    symbols
        .iter()
        .find(|symbol| {
            symbol
                .name(endian, symbols.strings())
                .ok()
                .and_then(|name| std::str::from_utf8(name).ok())
                .is_some_and(&wanted)
        })
        .map(|symbol| symbol.st_value(endian))
        .ok_or_else(|| "a symbol the profile stops at is missing from the kernel".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMBOLS: &str = "ffffffff80001000 microkernel::ring::engine::enter::h0123456789abcdef\n\
                           ffffffff80001004 microkernel::ring::engine::enter::h0123456789abcdef\n\
                           ffffffff80002000 memcpy\n";

    #[test]
    fn only_whole_rounds_are_counted_by_function() {
        // Before the first marker and after the last: not counted.
        let trace = "400000\nR\nffffffff80001000\nffffffff80001004\nffffffff80002000\n\
                     400010\n400014\nR\nffffffff80001000\nffffffff80002000\n400010\nR\n\
                     ffffffff80001000\n";
        let profile = analyse(trace, SYMBOLS).unwrap();
        assert_eq!(profile.rounds, 2);
        assert_eq!(profile.total, 8);
        let expected = [
            (USER, 3),
            ("microkernel::ring::engine::enter", 3),
            ("memcpy", 2),
        ]
        .map(|(name, count)| (name.to_string(), count));
        assert_eq!(profile.functions, expected);
    }

    #[test]
    fn the_test_row_wants_rounds_the_kernel_path_and_the_user_side() {
        let breakdown = |rounds, functions: &[(&str, usize)]| Breakdown {
            rounds,
            functions: functions
                .iter()
                .map(|&(name, count)| (name.to_string(), count))
                .collect(),
            total: functions.iter().map(|(_, count)| count).sum(),
        };
        let drain = "microkernel::ring::engine::drain";
        assert_eq!(
            check_breakdown(&breakdown(3, &[(drain, 500), (USER, 300)])),
            Ok(())
        );
        assert!(check_breakdown(&breakdown(0, &[(drain, 500), (USER, 300)])).is_err());
        assert!(check_breakdown(&breakdown(3, &[(USER, 300)])).is_err());
        assert!(check_breakdown(&breakdown(3, &[(drain, 500)])).is_err());
        let mut wrong_total = breakdown(3, &[(drain, 500), (USER, 300)]);
        wrong_total.total += 1;
        assert!(check_breakdown(&wrong_total).is_err());
    }

    #[test]
    fn only_a_real_hash_is_cut_off() {
        assert_eq!(without_hash("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(without_hash("a::hello"), "a::hello");
        assert_eq!(without_hash("memcpy"), "memcpy");
    }

    #[test]
    fn a_trace_without_a_whole_round_is_an_error() {
        assert!(
            analyse("400000\n", SYMBOLS)
                .unwrap_err()
                .contains("no round")
        );
        assert!(
            analyse("R\n400000\n", SYMBOLS)
                .unwrap_err()
                .contains("--steps")
        );
    }

    #[test]
    fn the_report_divides_by_rounds_and_batch() {
        let profile = Breakdown {
            rounds: 2,
            functions: vec![("memcpy".to_string(), 128), (USER.to_string(), 64)],
            total: 192,
        };
        let text = report("forwarded_nop_batch_32", &profile);
        assert!(text.contains("2 whole rounds of 32 operation(s)"), "{text}");
        assert!(text.contains("3.0 instructions per operation"), "{text}");
        assert!(text.contains("       2.0  memcpy"), "{text}");
        assert!(text.contains("       1.0  EL0"), "{text}");
    }

    #[test]
    fn every_loop_figure_can_be_profiled_and_no_other() {
        let figures = profilable();
        assert!(figures.contains(&"kernel_nop_batch_1"));
        assert!(figures.contains(&"read_64k_via_server"));
        assert!(!figures.contains(&"calibration"));
        assert!(!figures.contains(&"memcpy_64k"));
        assert!(!figures.contains(&"boot_to_first_line"));
    }
}
