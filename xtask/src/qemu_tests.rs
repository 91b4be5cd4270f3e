//! The second half of `cargo xtask test`: boot the kernel on several
//! emulated machines and judge each run from its serial output.
//!
//! Each row gives the kernel a command line (`-append`):
//! - `selftest`: the kernel runs its in-kernel tests, printing
//!   `test <name> ... ok` or `test <name> ... FAILED: <reason>` for each,
//!   then `selftest: N passed, M failed`, then powers the machine off;
//! - `run=...`: user programs run (a suite like `ringtest`, or programs
//!   that misbehave beside a `bystander`) until every process has ended;
//! - `crash=...`: the kernel fails on purpose, to check its reports.
//!
//! QEMU exits 0 however that went, so the verdict comes from the serial
//! output alone, and a run that never reaches its end (a hang, a crash) is
//! a failure.
//!
//! # Runs with servers
//! A server never exits by itself, so the machine only powers off (`every
//! process has ended`) if something tells the servers to go. Two ways,
//! chosen per row:
//! - The suite ends them: `serverclient`'s last act is a `CONTROL EXIT`
//!   to the test server still alive, and the row is an ordinary
//!   [`Outcome::ProgramsEnd`]. Preferred where the server can be told.
//! - The row says when it is over: [`Outcome::ServersRemain`] lists the
//!   lines that end it (usually a program's leak report), and xtask stops
//!   QEMU itself once they have all appeared and the output has then been
//!   quiet for [`QUIET_AFTER_UNTIL`]. For the console server, which has no
//!   reason to ever stop.
//!
//! # Typing
//! QEMU's standard input is the UART's receive side (`-serial stdio`). A
//! row's `input` lists what to type and what to wait for first (a prompt);
//! [`crate::serial::InputScript`] decides when each step is due, and the
//! run fails if any input was left unsent.
//!
//! To test on another machine, add a row to [`QEMU_TESTS`].

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::arguments::TestOptions;
use crate::build::{self, BuiltKernel};
use crate::disks;
use crate::qemu::boot_arguments;
use crate::serial::{InputScript, LineSplitter, show_input};
use crate::tools::{self, QEMU};
use crate::workspace::Workspace;
use crate::{Result, TestCounts};

/// One machine to boot the kernel on, and what the run must show.
pub struct QemuTestConfig {
    /// Names the test and its log, `target/annulus/test-logs/<name>.log`.
    pub name: &'static str,
    /// QEMU arguments that choose the machine: board, CPU, memory, cores.
    pub machine: &'static [&'static str],
    /// The kernel command line (`-append`).
    pub command_line: &'static str,
    /// The one system the row boots (`systems/NAME.toml`); `None`: the
    /// default, and every system if the row boots the system (see
    /// [`boots_the_system`]).
    pub system: Option<&'static str>,
    /// How the run must end.
    pub outcome: Outcome,
    /// Text the serial output must contain: proof that the kernel saw the
    /// machine as it is, or that its report says what it must. Text with a
    /// `\n` must appear as written, over consecutive lines (carriage
    /// returns ignored).
    pub expected: &'static [&'static str],
    /// The disk this row boots with, made fresh for the run and checked
    /// after it; `None`: the system's own disk, if it has one (a fresh
    /// copy of it), else none.
    pub disk: Option<&'static TestDisk>,
    /// What to type on the serial port, and when: (text to wait for in the
    /// output, text to send), in order; see [`InputScript`]. A run that
    /// ends with input left unsent fails.
    pub input: &'static [(&'static str, &'static str)],
}

/// A disk made for one row: written before QEMU starts, checked after it
/// has exited (what the OS wrote must be there).
pub struct TestDisk {
    /// Writes the image to the first path; the second is the system's
    /// own disk as built, if it has one.
    pub make: fn(&Path, Option<&Path>) -> Result<()>,
    /// Checks the image after the run.
    pub check: fn(&Path) -> Result<()>,
    /// A second boot on the same disk, after the check, judged like a
    /// row of its own (`NAME-reboot`): what the first one wrote must
    /// still be there.
    pub reboot: Option<&'static QemuTestConfig>,
}

/// How a run must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel's self-tests all pass (`selftest: N passed, 0 failed`,
    /// N > 0), with no panic and no unexpected exception.
    SelfTestPasses,
    /// User programs ran and every process ended (`annulus: every process
    /// has ended`), with no panic and no unexpected exception. If the named
    /// suite ran, its summary (`<name>: N passed, 0 failed`) must be clean;
    /// if `bystander` ran, every one of its lines must be there, whole and
    /// in order.
    ProgramsEnd { suite: Option<&'static str> },
    /// User programs ran beside servers that never exit (the console), so
    /// the machine never powers off by itself: the run is over once every
    /// text of `until` has appeared (each within one line, `*` for any
    /// text) and the output has then been quiet for [`QUIET_AFTER_UNTIL`];
    /// xtask stops QEMU then. Judged like `ProgramsEnd`, except that
    /// `every process has ended` is not wanted.
    ServersRemain {
        suite: Option<&'static str>,
        until: &'static [&'static str],
    },
    /// The kernel stops on purpose (`crash=...` on the command line) with a
    /// fatal report; only the expected text is checked.
    FatalReport,
}

/// The command line of rows that boot the system: `hangdump=20` makes a
/// run that hangs show, before the 60 s timeout, what each process waits
/// for (`microkernel/src/hang_dump.rs`); a run that works ends long before.
const HANG_DUMP: &str = "hangdump=20";

/// The default machine, for rows that test something other than hardware.
pub const DEFAULT_MACHINE: &[&str] = &[
    "-M",
    "virt,gic-version=3",
    "-cpu",
    "cortex-a72",
    "-m",
    "256M",
];

/// The test matrix, run in this order.
/// A fresh copy of the fat system's disk, found clean by `fsck.fat -n`
/// after the run.
const FAT_SYSTEM_DISK: TestDisk = TestDisk {
    make: disks::copy_system_disk,
    check: disks::check_volume,
    reboot: None,
};

/// The long campaigns, run only by `cargo xtask test --long` (not by
/// `.ci/run`): each takes minutes.
pub const LONG_QEMU_TESTS: &[QemuTestConfig] = &[
    QemuTestConfig {
        // The hostile flood of the `hostile` row, ten times longer: a
        // million random submissions and scribbles on the ring.
        name: "hostile-long",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,hostile:1000000",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "hostile: done: 10",
            "process 2 (hostile): exited with code 0",
            // The bystander ends first here, so the machine's free-frame
            // change is not the hostile's alone: only its own frames count.
            "process 2 (hostile): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The fault-injection campaign of supervision-campaign, a hundred
        // times longer: 100,000 faults (hours: `row_timeout`).
        name: "supervision-campaign-long",
        machine: DEFAULT_MACHINE,
        command_line: "quiet faults run=init:manifest:tests/system-campaign+device=console+irq=console+klog+bootimage+power+spawn+dma",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "faultinject: campaign: 100000 faults: * kills (* during a request), * crashes, * wrong replies, * stalls (",
            "faultinject: campaign: 0 failures",
            "annulus:/$ echo alive\nalive\n",
        ],
        input: &[
            ("annulus:/$ ", "faultinject campaign 100000 13\r"),
            (" failures", "\r"),
            ("annulus:/$ ", "echo alive\r"),
            ("alive\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
];

pub const QEMU_TESTS: &[QemuTestConfig] = &[
    QemuTestConfig {
        name: "a72-gicv3-256M",
        machine: &[
            "-M",
            "virt,gic-version=3",
            "-cpu",
            "cortex-a72",
            "-m",
            "256M",
        ],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["entered at EL1", "GICv3", "memory   256 MiB"],
        input: &[],
    },
    QemuTestConfig {
        name: "a53-gicv2-128M",
        machine: &[
            "-M",
            "virt,gic-version=2",
            "-cpu",
            "cortex-a53",
            "-m",
            "128M",
        ],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["GICv2", "memory   128 MiB"],
        input: &[],
    },
    QemuTestConfig {
        name: "max-1G",
        machine: &["-M", "virt,gic-version=3", "-cpu", "max", "-m", "1G"],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["GICv3", "memory   1024 MiB"],
        input: &[],
    },
    QemuTestConfig {
        // virtualization=on makes QEMU start the kernel at EL2, as a
        // hypervisor-capable boot loader would.
        name: "el2-entry",
        machine: &[
            "-M",
            "virt,gic-version=3,virtualization=on",
            "-cpu",
            "cortex-a72",
            "-m",
            "256M",
        ],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["entered at EL2"],
        input: &[],
    },
    QemuTestConfig {
        name: "ram-above-4G",
        machine: &["-M", "virt,gic-version=3", "-cpu", "cortex-a72", "-m", "4G"],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["memory   4096 MiB"],
        input: &[],
    },
    QemuTestConfig {
        name: "smp4",
        machine: &[
            "-M",
            "virt,gic-version=3",
            "-cpu",
            "cortex-a72",
            "-m",
            "256M",
            "-smp",
            "4",
        ],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["4 found, 1 running, 3 parked"],
        input: &[],
    },
    QemuTestConfig {
        // The ring ABI's own test suite, a user program.
        name: "ringtest",
        machine: DEFAULT_MACHINE,
        command_line: "run=ringtest",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd {
            suite: Some("ringtest"),
        },
        expected: &[
            "process 1 (ringtest): exited with code 0",
            "process 1 (ringtest): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A random-submission flood and scribbles on the ring, beside a
        // process that must not notice; every frame comes back.
        name: "hostile",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,hostile",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "hostile: done: 10",
            "process 2 (hostile): exited with code 0",
            // Its frames all came back, and the machine's free-frame count
            // after it equals the count before it (the bystander allocates
            // nothing meanwhile; the kernel heap's own pages are set apart).
            "process 2 (hostile): leaked frames: 0; free frames * free-frame change +0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // LINK chains of REPLYs, each unblocking the next: the kernel
        // starts each unblocked request from one loop, so its stack does
        // not grow with the chain (docs/trust.md).
        name: "attack-reply-chain",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:reply-chain",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack reply-chain: 1000 REPLYs chained in 33 rounds, each one unblocking the next",
            "process 2 (attack): exited with code 0",
            "process 2 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Nine processes MAP all they can: each stops at its budget
        // (32 MiB), and together they stop at the kernel's reserve, with
        // ENOMEM; then they ask for kernel memory (endpoints, handles,
        // timers), which fails cleanly or works. The bystander is served
        // throughout and every frame comes back.
        name: "attack-map-all",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:map-all,attack:map-all,attack:map-all,attack:map-all,attack:map-all,attack:map-all,attack:map-all,attack:map-all,attack:map-all",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            // Each is refused (by its budget or by the kernel's reserve),
            // then makes 256 kernel objects (a full handle table), and
            // its timers all run.
            ", then ENOMEM; 256 kernel objects made, 64 refused, 64 timers ran",
            "process 2 (attack): exited with code 0",
            "process 10 (attack): exited with code 0",
            "process 10 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // MAP and UNMAP a page 20,000 times, each in a 2 MiB never used
        // before: the level-3 (and level-2, level-1) tables the kernel
        // made for it go with it. Kept, they would be a frame per 2 MiB
        // charged to the process, past its 32 MiB budget by round 8,000.
        name: "attack-map-churn",
        machine: DEFAULT_MACHINE,
        command_line: "run=attack:map-churn",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack map-churn: 20000 pages mapped and unmapped, each in a 2 MiB of its own; frames the processes own before * back yes",
            "process 1 (attack): exited with code 0",
            "process 1 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A server unmaps the message slots its RECEIVE is armed over: the
        // next delivery must fail (EFAULT), never write into the freed
        // frame (the kernel keeps the slots' pages while nothing has been
        // unmapped).
        name: "attack-slot-unmap",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:slot-unmap",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack slot-unmap: the request to a RECEIVE whose slots were unmapped: EFAULT; the request cancelled: ok",
            "process 2 (attack): exited with code 0",
            "process 2 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A request that waits at an endpoint because the server's CQ is
        // all reserved is delivered as soon as a slot comes free, even
        // when it comes free silently (a SKIP_SUCCESS completion posts
        // nothing and wakes nobody).
        name: "attack-skip-room",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:skip-room",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack skip-room: the request waiting for CQ room: delivered when the slot came free",
            "process 2 (attack): exited with code 0",
            "process 2 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // An EXIT that finds no CQ slot ends the process at once, after
        // what the same ring_enter took before it has run (the LOG).
        name: "attack-exit-last",
        machine: DEFAULT_MACHINE,
        command_line: "run=attack:exit-last",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack exit-last: the LOG taken before the EXIT ran",
            "process 1 (attack): exited with code 0",
            "process 1 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // MINT and CLOSE a million times on an endpoint nobody receives
        // on: the RELEASEs the server owes are bounded
        // (MAX_RELEASES_OWED), then MINT fails with ENOMEM; and
        // ENDPOINT_CREATE until it fails.
        name: "attack-mint-flood",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:mint-flood,attack:endpoint-flood",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack mint-flood: 1024 handles minted and closed, 998976 refused (ENOMEM)",
            "attack endpoint-flood: 16 endpoints made, then ENOMEM",
            "process 2 (attack): leaked frames: 0;",
            "process 3 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A client that writes far past the ends of files and opens all
        // it can, beside the file system suite: ramfs refuses what passes
        // its limits (ENOSPC, EFBIG, ENOMEM) and goes on serving.
        name: "attack-files",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage,attack:far-write+use=fs,fstest:hold+use=fs,fstest+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: Some("fstest"),
            until: &[
                "process 4 (fstest): leaked frames: ",
                "attack far-write: cleaned up",
            ],
        },
        expected: &[
            "attack far-write: 1 byte at 16 MiB - 1 into 4 files: ok ENOSPC ENOSPC ENOSPC; at 4 GiB - 2: EFBIG; nothing at 32 MiB: ok, size unchanged; 60 more files open, then ENOMEM",
            "fstest: 11 passed, 0 failed",
            "process 2 (attack): exited with code 0",
            "process 4 (fstest): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The same against the FAT server: the far writes fit the disk
        // (16 MiB of zeros each, GAP_MAX), 4 GiB is past what FAT holds.
        name: "attack-files-fat",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,attack:far-write+use=fs,fstest:hold+use=fs,fstest+use=fs",
        system: Some("fat"),
        disk: Some(&FAT_SYSTEM_DISK),
        outcome: Outcome::ServersRemain {
            suite: Some("fstest"),
            until: &[
                "process 5 (fstest): leaked frames: ",
                "attack far-write: cleaned up",
            ],
        },
        expected: &[
            "attack far-write: 1 byte at 16 MiB - 1 into 4 files: ok ok ok ok; at 4 GiB - 2: EFBIG; nothing at 32 MiB: ok, size unchanged; 60 more files open, then ENOMEM",
            "fstest: 11 passed, 0 failed",
            "process 3 (attack): exited with code 0",
            "process 5 (fstest): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A directory of 20,000 files, listed whole twice, beside the file
        // system suite: each READDIR is bounded work (4 KiB of records),
        // and the suite's requests are served between them.
        name: "attack-big-dir",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage,attack:big-dir+use=fs,fstest:hold+use=fs,fstest+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: Some("fstest"),
            until: &[
                "process 4 (fstest): leaked frames: ",
                "process 2 (attack): leaked frames: ",
            ],
        },
        expected: &[
            "attack big-dir: 20000 entries made, 20000 listed, twice, in ",
            "fstest: 11 passed, 0 failed",
            "process 2 (attack): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Twenty processes each hold as many open files as ramfs allows
        // one client: ramfs must still open files, and proc still spawn,
        // for everyone else (live client handles are their holders').
        name: "attack-fs-starve",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage,proc+serve=proc+spawn+use=fs,attack:fs-starve+use=fs+use=proc",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["attack fs-starve: after the hogs ended"],
        },
        expected: &[
            "attack open-hog: 64 open, then ENOMEM",
            "attack fs-starve: 20 open-hogs started, then none; now OPEN: ok; SPAWN /bin/true: ok",
            "attack fs-starve: after the hogs ended, OPEN: ok",
        ],
        input: &[],
    },
    QemuTestConfig {
        // INJECT turned against the kernel (`attack inject`, on a kernel
        // booted with `faults`): bad arguments refused; a wrong reply once;
        // of twenty 60 s stalls in a row the kernel holds 16 and answers
        // the rest on time; a crash ends the child with its reason.
        name: "attack-inject",
        machine: DEFAULT_MACHINE,
        command_line: "faults run=ramfs+serve=fs+bootimage,attack:inject+spawn+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["attack inject: "],
        },
        expected: &[
            "attack inject: bad kind EINVAL, 0 ms stall EINVAL, no process EPERM; first answer Ok(7); wrong reply: Err(Io) then Ok(7); 20 stalls: 16 held and cut by the deadline, 4 answered on time, 0 other; taken back Ok(0); crash: Err(ServerDead), the child ended Ok(256) (killed: fault injected: crashed in the middle of a request); INJECT after: ESRCH",
            "faults: process * not stalled: 16 replies are held already",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The same on a kernel without `faults`: INJECT is refused.
        name: "attack-inject-refused",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage,attack:inject+spawn+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["attack inject: "],
        },
        expected: &[
            "attack inject: bad kind EINVAL, 0 ms stall EINVAL, no process EPERM; first answer Ok(7); INJECT into the child: EPERM",
        ],
        input: &[],
    },
    QemuTestConfig {
        // RELEASEs a process sends itself and answers do not pay back the
        // RELEASEs its server owes: MINT stays refused.
        name: "attack-release-forge",
        machine: DEFAULT_MACHINE,
        command_line: "run=bystander,attack:release-forge",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "attack release-forge: 1024 RELEASEs queued at flood (bound reached), then 0 forge handles minted past the bound and closed (mint at flood now: ENOMEM)",
            "process 2 (attack): exited with code 0",
            "process 2 (attack): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // ramfs with a 3 MiB budget, filled by one client until refused:
        // its memory runs out long before its store limit, and it must
        // refuse (its ballast finishes the request in progress), not die;
        // once the client removes its files, ramfs serves again.
        name: "attack-fill",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage+memory=3,attack:fill+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["process 2 (attack): leaked frames: "],
        },
        expected: &[
            "attack fill: ",
            "of 200 long-named folders; all removed; a new file: ok",
            "process 2 (attack): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A damaged volume: a folder whose cluster points at itself, a
        // file whose chain leaves the volume. Each is an error for its own
        // requests, named on the console; the rest is served.
        name: "fat-damaged",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,ls:/tests+use=console+use=fs,cat:/README.txt+use=console+use=fs,ls:/etc+use=console+use=fs",
        system: Some("fat"),
        disk: Some(&TestDisk {
            make: disks::damaged_disk,
            check: disks::no_check,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 4 (ls): leaked frames: ",
                "process 5 (cat): leaked frames: ",
                "process 6 (ls): leaked frames: ",
            ],
        },
        expected: &[
            "fat: /tests: its chain of clusters loops or leaves the volume: the volume is damaged (fsck.fat can mend it)",
            "fat: /README.txt: its chain of clusters loops or leaves the volume: the volume is damaged (fsck.fat can mend it)",
            "ls: /tests: Input/output error",
            "cat: /README.txt: Input/output error",
            "system",
            "process 6 (ls): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A disk shorter than its volume: said at mount; the files on the
        // part that is there are served.
        name: "fat-short-disk",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,ls:/etc+use=console+use=fs",
        system: Some("fat"),
        disk: Some(&TestDisk {
            make: disks::short_disk,
            check: disks::no_check,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["process 4 (ls): leaked frames: "],
        },
        expected: &[
            "fat: the disk (299008 KiB) is shorter than its volume (303093 KiB)",
            "system",
            "process 4 (ls): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // One client takes console READs until refused, another writes
        // 64 KiB at a time, beside a chatter whose lines must all come
        // through whole.
        name: "attack-console",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,attack:read-hog+use=console,attack:big-write+use=console,chatter:a+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 4 (chatter): leaked frames: ",
                "attack read-hog: letting go",
                "attack big-write: 8 WRITEs",
            ],
        },
        expected: &[
            "attack read-hog: 2 console READs taken, 30 refused (EBUSY)",
            "attack big-write: 8 WRITEs of 65536 bytes, each took at most 4096",
            "process 2 (attack): exited with code 0",
            "process 3 (attack): exited with code 0",
            "process 4 (chatter): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Processes that break the rules are killed with the reason logged;
        // the others go on.
        name: "faulting-processes",
        machine: DEFAULT_MACHINE,
        command_line: "run=faulty:write-text,faulty:jump-kernel,faulty:undefined,faulty:bad-syscall,faulty:stack-overflow,bystander",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &[
            "process 1 (faulty): killed: permission fault (level 3) writing 0x",
            "process 2 (faulty): killed: permission fault (level 3) executing 0xffffffff80000000",
            "process 3 (faulty): killed: Unknown reason (undefined instruction)",
            "process 4 (faulty): killed: unknown system call 7",
            "process 5 (faulty): killed: translation fault (level 3) writing 0x7ffefff8",
            "process 6 (bystander): exited with code 0",
            // The bad system call is counted, and it is the only one.
            ", any other number 1",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Requests forwarded to EL0 servers: two test servers and their
        // client's suite, which ends by killing beta (CONTROL CRASH) and
        // telling alpha to exit, so that every process ends.
        name: "servers",
        machine: DEFAULT_MACHINE,
        command_line: "run=testserver+serve=alpha,testserver+serve=beta,serverclient+use=alpha+use=beta",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd {
            suite: Some("servertest"),
        },
        expected: &[
            "process 2 (testserver): killed: permission fault (level 3) writing 0x",
            "process 2 (testserver): leaked frames: 0;",
            "process 1 (testserver): exited with code 0",
            "process 3 (serverclient): exited with code 0",
            // Servers and client together used no system call but ring_enter.
            ", any other number 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The ram file system server, seeded from the boot image, and its
        // client's suite (fstest): every operation and its errors, and
        // (fstest:hold) files left open by a process that ends released. ramfs never exits, so the run ends
        // once fstest has.
        name: "ramfs",
        machine: DEFAULT_MACHINE,
        command_line: "run=ramfs+serve=fs+bootimage,fstest:hold+use=fs,fstest+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: Some("fstest"),
            until: &[
                "process 2 (fstest): leaked frames: ",
                "process 3 (fstest): leaked frames: ",
            ],
        },
        expected: &[
            " files from the boot image",
            "fstest: 11 passed, 0 failed",
            "process 2 (fstest): exited with code 0",
            "process 3 (fstest): exited with code 0",
            "process 3 (fstest): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The file system suite against the FAT server, on a copy of the
        // fat system's disk (the boot image's files are there): the same
        // protocol as ramfs, errors and all.
        name: "fat-fstest",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,fstest:hold+use=fs,fstest+use=fs",
        system: Some("fat"),
        disk: Some(&FAT_SYSTEM_DISK),
        outcome: Outcome::ServersRemain {
            suite: Some("fstest"),
            until: &[
                "process 3 (fstest): leaked frames: ",
                "process 4 (fstest): leaked frames: ",
            ],
        },
        expected: &[
            "fat: a FAT32 volume of 303093 KiB, with a journal of 4104 KiB",
            "fstest: 11 passed, 0 failed",
            "process 3 (fstest): exited with code 0",
            "process 4 (fstest): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The proc server and the process operations (spawntest): SPAWN
        // with arguments and handles, WAIT and its reasons, KILL, bad
        // paths, malformed and malicious ELF files, the kernel's checks of
        // a builder's requests, and 100 spawn+wait cycles with the
        // free-frame count the same before and after.
        name: "spawn",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,ramfs+serve=fs+bootimage,proc+serve=proc+spawn+use=fs,spawntest+use=console+use=fs+use=proc+spawn",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: Some("spawntest"),
            until: &["process 4 (spawntest): leaked frames: "],
        },
        expected: &[
            "spawned with two words \"quoted\"",
            "spawntest: the faulting child: killed: ",
            "spawntest: 100 spawn+wait cycles: free frames ",
            "process 4 (spawntest): exited with code 0",
            "process 4 (spawntest): leaked frames: 0;",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The README's session, on the system `cargo xtask run` boots (no
        // run=: init starts the manifest's servers and the shell): list,
        // read a file from the boot image, write a file and read it back,
        // a program with arguments, and shutdown. The kernel's system
        // call count shows only ring_enter.
        name: "shell-session",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "Annulus shell: type help for the commands.",
            "annulus:/$ ls /\nREADME.txt\nbin/\netc/\ntests/\ntmp/\n",
            "\nEvery file and folder here is packed by `cargo xtask build`",
            "annulus:/$ cat /tmp/a\nhi\n",
            "\nspaced  out | quoted \"words\" 'and' more\n",
            "annulus: process * asked to power off",
            "annulus: system calls: ring_enter (0) ",
            ", any other number 0",
        ],
        input: &[
            ("annulus:/$ ", "ls /\r"),
            ("annulus:/$ ", "cat /README.txt\r"),
            ("annulus:/$ ", "echo hi > /tmp/a\r"),
            ("annulus:/$ ", "cat /tmp/a\r"),
            (
                "annulus:/$ ",
                "echo 'spaced  out' \\| \"quoted \\\"words\\\"\" \"'and'\" more\r",
            ),
            ("annulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Supervision typed at the shell: kill each server by its role;
        // init starts it again, the shell reconnects, and the system goes
        // on. What a server keeps across it: a file written before (on
        // FAT; ramfs comes back with the boot image's files only), the
        // terminal (the shell types again after its console is killed).
        name: "supervision-session",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "ROLE       PROGRAM      PID  RESTARTS  STATE\nconsole    console    ",
            "fs: restarted as process ",
            // (A restarted ramfs's first line may come before what is typed.)
            "cat /README.txt\nEvery file and folder here",
            // (Nor does init's "restarted" line always come before the
            // shell's prompt: it goes through the kernel log.)
            "proc: restarted as process ",
            "echo one | cat\none\n",
            "pipe: restarted as process ",
            "echo two | cat\ntwo\n",
            "console: restarted as process ",
            "annulus:/$ echo typed again\ntyped again\n",
            "init: role console (console) has ended (killed: killed by process ",
            "init: restarted shell (sh, process ",
            "annulus:/$ echo back\nback\n",
            "faultinject: fs: no faults allowed (*",
            "         2  up\n",
            "         1  up\n",
        ],
        input: &[
            ("annulus:/$ ", "ps\r"),
            ("annulus:/$ ", "kill fs\r"),
            ("annulus:/$ ", "cat /README.txt\r"),
            ("annulus:/$ ", "kill proc\r"),
            ("annulus:/$ ", "echo one | cat\r"),
            ("annulus:/$ ", "kill pipe\r"),
            ("annulus:/$ ", "echo two | cat\r"),
            ("annulus:/$ ", "kill console\r"),
            ("console: restarted as process ", "echo typed again\r"),
            // The shell killed after a file server's restart: init starts
            // it through the proc server, which must reconnect to the new
            // file server through init meanwhile (init never waits).
            ("typed again\r\nannulus:/$ ", "kill fs\r"),
            ("annulus:/$ ", "kill shell\r"),
            ("help for the commands.\r\nannulus:/$ ", "echo back\r"),
            ("back\r\nannulus:/$ ", "ps\r"),
            // A kernel booted without `faults` allows no injected ones.
            ("annulus:/$ ", "faultinject wrong fs\r"),
            ("annulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // What the FAT system keeps across restarts: a file written
        // before its file server is killed reads back from the new one
        // (which mounts the volume again), and after the disk driver is
        // killed the file server reconnects to the new driver and writes.
        name: "supervision-fat",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: Some("fat"),
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            // (A restarted server's first line, and init's, may come
            // between a prompt and what is typed after it.)
            "fs: restarted as process ",
            "cat /tmp/k\nkept\n",
            "block: restarted as process ",
            "cat /tmp/k\nkept\nafter\n",
            "init: restarted block (virtio-blk, process ",
        ],
        input: &[
            ("annulus:/$ ", "echo kept > /tmp/k\r"),
            ("annulus:/$ ", "kill fs\r"),
            ("annulus:/$ ", "cat /tmp/k\r"),
            ("annulus:/$ ", "kill block\r"),
            ("annulus:/$ ", "echo after >> /tmp/k\r"),
            ("annulus:/$ ", "cat /tmp/k\r"),
            ("annulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Kills that overlap: fs and proc killed together (init takes both
        // requests before it hears of either end), twenty times, then proc,
        // fs and pipe: init handles proc's end before fs's, and proc waits
        // for the file server's restart instead of being given up. Then
        // the system works.
        name: "supervision-overlap",
        machine: DEFAULT_MACHINE,
        command_line: "quiet hangdump=40 run=init:manifest:tests/system-campaign+device=console+irq=console+klog+bootimage+power+spawn+dma",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "faultinject: fs,proc killed together 20 times; all restarted",
            "faultinject: proc,fs,pipe killed together 20 times; all restarted",
            "init: proc (proc) waits for a role it uses to start again",
            "\n2\nalive\n",
        ],
        input: &[
            ("annulus:/$ ", "faultinject fs,proc 20\r"),
            ("all restarted", "faultinject proc,fs,pipe 20\r"),
            // (Restarted servers' first lines may come between the last
            // kill's report and the prompt: wait for the report only.)
            (
                "pipe killed together 20 times; all restarted",
                "echo one two | wc -w; echo al''ive\r",
            ),
            ("alive\r\n", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Faults injected by hand, on a kernel booted with `faults`: the
        // file server's next reply wrong, late, or a crash.
        name: "supervision-faults",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 faults",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            // Wrong: the first reply after (the proc server's READ of
            // /bin/cat) says EIO; the next cat reads the file.
            "faultinject: fs (process *) fails its next reply: -EIO instead of its answer",
            "faults: process * answers process * -EIO instead of *",
            "sh: cat: Input/output error",
            // Late: the same reply, 700 ms on; the cat works.
            "faultinject: fs (process *) fails its next reply: its answer 700 ms late",
            "faults: process * stalls 700 ms before answering process *",
            // A crash: that command fails, init restarts the server, the
            // next cat works.
            "faults: process * crashes in the middle of a request of process *",
            "init: role fs (*) has ended (killed: fault injected: crashed in the middle of a request); starting it again",
        ],
        input: &[
            ("annulus:/$ ", "faultinject wrong fs\r"),
            ("annulus:/$ ", "cat /README.txt | wc -l\r"),
            ("annulus:/$ ", "cat /README.txt | wc -l\r"),
            ("5\r\nannulus:/$ ", "faultinject stall fs 700\r"),
            ("annulus:/$ ", "cat /README.txt | wc -l\r"),
            ("5\r\nannulus:/$ ", "faultinject crash fs\r"),
            ("annulus:/$ ", "cat /README.txt | wc -l\r"),
            ("init: restarted fs", "cat /README.txt | wc -l\r"),
            ("5\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The fault-injection campaign on the default system: random
        // servers killed (half of them while a request of the workload
        // is at the file server) while the workload runs; no request
        // hangs, nothing read back is wrong, every server is back, and
        // free frames and kernel heap are what they were (faultinject's
        // own checks, `docs/supervision.md`); then the shell answers.
        name: "supervision-campaign",
        machine: DEFAULT_MACHINE,
        command_line: "quiet hangdump=120 faults run=init:manifest:tests/system-campaign+device=console+irq=console+klog+bootimage+power+spawn+dma",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "faultinject: campaign: 1000 faults: * kills (* during a request), * crashes, * wrong replies, * stalls (",
            "faultinject: campaign: 0 failures",
            "annulus:/$ echo alive\nalive\n",
        ],
        input: &[
            ("annulus:/$ ", "faultinject campaign 1000 7\r"),
            (" failures", "\r"),
            ("annulus:/$ ", "echo alive\r"),
            ("alive\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The campaign on the FAT system: the disk driver killed too, and
        // every write acknowledged is read back at the end; then on the
        // host, fsck.fat finds the volume clean.
        name: "supervision-campaign-fat",
        machine: DEFAULT_MACHINE,
        command_line: "quiet hangdump=120 faults run=init:manifest:tests/system-campaign-fat+device=console+irq=console+klog+bootimage+power+spawn+dma+device=virtio-blk+irq=virtio-blk",
        system: Some("fat"),
        disk: Some(&TestDisk {
            make: disks::copy_system_disk,
            check: disks::check_volume,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "faultinject: campaign: 1000 faults: * kills (* during a request), * crashes, * wrong replies, * stalls (",
            "faultinject: campaign: 0 failures",
            "annulus:/$ echo alive\nalive\n",
        ],
        input: &[
            ("annulus:/$ ", "faultinject campaign 1000 11 keeps-files\r"),
            (" failures", "\r"),
            ("annulus:/$ ", "echo alive\r"),
            ("alive\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The pipe server against a hostile client (attack pipes): 1,000
        // pipes made and dropped leave its count and heap as they were;
        // its per-process bound; a reader that never reads does not stop
        // another pipe; a writer killed mid-write leaves its reader the
        // bytes and then the end. Beside a bystander.
        name: "attack-pipes",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=ramfs+serve=fs+bootimage,pipe+serve=pipe,proc+serve=proc+spawn+use=fs,bystander,attack:pipes+use=fs+use=proc+use=pipe",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["attack pipes: writer killed", "bystander: done"],
        },
        expected: &[
            "attack pipes: 1000 made and dropped: pipes 0 -> 0, server heap * bytes (the same: true)",
            "attack pipes: 16 made, then ENOMEM",
            "attack pipes: 65536 bytes fill a pipe; one more WRITE: ECANCELED; another pipe meanwhile: \"still flowing\"",
            "the reader then got the end (",
            "under 1 MiB: true); pipes 0",
            "exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The console's handles against the programs the shell runs
        // (attack console): a job's standard streams cannot switch the
        // console's mode, take the shell's Ctrl-C wait, make handles or
        // reclaim, and its standard output cannot read; Ctrl-C still
        // works; a shell run from the shell reads cooked lines until
        // Ctrl-D. And /bin is read-only to a program (attack bin-write),
        // on ramfs and on FAT.
        name: "shell-rights",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "attack console: through stdin: raw EPERM, cooked EPERM, ctrl-c wait EPERM, reader EPERM, writer EPERM, reclaim EPERM; READ of stdout: EPERM",
            "annulus:/$ echo mine\nmine\n",
            "attack bin-write: OPEN to write EROFS; WRITE through a read-only OPEN EBADF; relative CREATE EROFS; /tmp/../bin CREATE EROFS; RENAME into /bin EROFS; /bin/true still ELF: true",
            "annulus:/$ true && echo true runs\ntrue runs\n",
            "annulus:/$ spin\nspin: spinning\n^C\nannulus:/$ ",
            "Annulus shell (reading lines: the terminal is another shell's)\nannulus:/$ echo nested\nnested\n",
            // A line longer than one READ of the inner shell (64 bytes).
            "\nand a line of seventy bytes, longer than the inner shell reads at once\n",
            "annulus:/$ exit\nannulus:/$ echo back\nback\nannulus:/$ shutdown\n",
        ],
        input: &[
            ("annulus:/$ ", "attack console\r"),
            ("annulus:/$ ", "echo mine\r"),
            ("annulus:/$ ", "attack bin-write\r"),
            ("annulus:/$ ", "true && echo true runs\r"),
            ("annulus:/$ ", "spin\r"),
            ("spin: spinning", "\x03"),
            ("annulus:/$ ", "sh\r"),
            ("another shell's)\r\nannulus:/$ ", "echo nested\r"),
            (
                "nested\r\nannulus:/$ ",
                "echo and a line of seventy bytes, longer than the inner shell reads at once\r",
            ),
            ("reads at once\r\nand a line", "\x04"),
            ("exit\r\nannulus:/$ ", "echo back\r"),
            ("back\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // A manifest mistake only a run shows: a role whose program ends
        // at once (boot/initrd/tests/system-server-ends, read by init in
        // place of etc/system). init names the role; the rest of the
        // system works.
        name: "manifest-server-ends",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=init:manifest:tests/system-server-ends+device=console+irq=console+klog+bootimage+power+spawn+dma",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "init: started extra (true, process ",
            "init: role extra (true) has ended (exited with code 0); what uses it will fail",
            // (init's line may come between the prompt and what is typed.)
            "echo still here\nstill here\n",
        ],
        input: &[
            ("annulus:/$ ", "echo still here\r"),
            // A run= system reports every process's end, between lines.
            ("(echo): leaked frames", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // A role without a grant it needs (boot/initrd/tests/
        // system-proc-without-fs: proc has no use=fs): proc names the
        // grant, init says it cannot start the shell, and powers off.
        name: "manifest-grant-missing",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=init:manifest:tests/system-proc-without-fs+device=console+irq=console+klog+bootimage+power+spawn+dma",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "proc: no file system handle: its manifest line needs use=fs",
            "init: cannot start the shell (sh): ",
        ],
        input: &[],
    },
    QemuTestConfig {
        // RECLAIM (attack console-reclaim, with a terminal handle as a
        // shell has): a READ waiting through a reader is refused when the
        // reader is reclaimed, and so is the next; it may still print.
        name: "attack-console-reclaim",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=console+serve=console+device=console+irq=console+klog,attack:console-reclaim+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["(attack): exited with code"],
        },
        expected: &[
            "attack console-reclaim: the reader still prints",
            "attack console-reclaim: reclaim ok; the waiting READ: EPERM; a new READ: EPERM; a WRITE: ok",
            "exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The README's session, typed as it shows it: a pipeline, an
        // error sent to a file, a sleep stopped with Ctrl-C, a job in the
        // background, ps, a command not found.
        name: "readme-session",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: Some("default"),
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ ls /\nREADME.txt\nbin/\netc/\ntests/\ntmp/\n",
            "\nshell     sh        use=console use=fs use=proc power\n",
            "annulus:/$ echo hi > /tmp/a\nannulus:/$ cat /tmp/a\nhi\n",
            "annulus:/$ cat /README.txt | wc -c\n425\n",
            "annulus:/$ nosuch 2> /tmp/e; cat /tmp/e\nsh: nosuch: command not found\n",
            "annulus:/$ echo \"two  words\" 'and more'\ntwo  words and more\n",
            "annulus:/$ sleep 5000\n^C\nannulus:/$ cd /tmp\n",
            // Process ids from here on depend on whether the Ctrl-C came
            // before sleep 5000 started (then it never did) or after.
            "annulus:/tmp$ sleep 2000 &\n[1] ",
            "annulus:/tmp$ ps\n  PID  STATE              NAME\n    1  waiting for child  init\n",
            // Each process's state is the kernel's at that instant: a
            // server that has just answered (proc has just started ps),
            // or the shell between its SPAWN and its WAIT, is now and then
            // caught `ready` by a tick instead of waiting.
            "    2  *  console",
            "    3  *  ramfs",
            "    4  *  pipe",
            "    5  *  proc",
            "    6  *  sh",
            "  sleeping           sleep",
            "  running            ps",
            "ROLE       PROGRAM      PID  RESTARTS  STATE\nconsole    console        2         0  up\nfs         ramfs          3         0  up\npipe       pipe           4         0  up\nproc       proc           5         0  up\nshell      sh             6         0  up\n",
            "sh: nope: command not found",
            "annulus: process * asked to power off",
            ", any other number 0",
        ],
        input: &[
            ("annulus:/$ ", "ls /\r"),
            ("annulus:/$ ", "cat /etc/system\r"),
            ("annulus:/$ ", "echo hi > /tmp/a\r"),
            ("annulus:/$ ", "cat /tmp/a\r"),
            ("annulus:/$ ", "cat /README.txt | wc -c\r"),
            ("annulus:/$ ", "nosuch 2> /tmp/e; cat /tmp/e\r"),
            ("annulus:/$ ", "echo \"two  words\" 'and more'\r"),
            ("annulus:/$ ", "sleep 5000\r"),
            ("sleep 5000", "\x03"),
            ("annulus:/$ ", "cd /tmp\r"),
            ("annulus:/tmp$ ", "sleep 2000 &\r"),
            ("annulus:/tmp$ ", "ps\r"),
            ("annulus:/tmp$ ", "nope\r"),
            ("annulus:/tmp$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Standard streams and the shell's language, typed: a pipeline
        // through the pipe server, stderr to a file and into a pipe, <,
        // ;, && and ||, $? and variables, a non-zero exit shown, a
        // background pipeline, syntax errors that name what is missing.
        name: "shell-pipes",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ echo hello pipes | cat\nhello pipes\n",
            "annulus:/$ echo one two three | wc\n1 3 14\n",
            // (A line wider than 80 columns: the editor wraps its echo.)
            "\n /tmp/n1 /tmp/n2 && echo same count\nsame count\n",
            "annulus:/$ nosuch 2> /tmp/e; cat /tmp/e\nsh: nosuch: command not found\n",
            "annulus:/$ ls /nope 2>&1 | wc -l\n1\n",
            "annulus:/$ ls /nope 2> /tmp/null || echo failed: $?\n[exit 1]\nfailed: 1\n",
            "annulus:/$ false; echo status $?\n[exit 1]\nstatus 1\n",
            "annulus:/$ true && echo yes || echo no\nyes\n",
            "annulus:/$ A=world; echo \"hello $A\" '$A'\nhello world $A\n",
            "annulus:/$ wc -l < /tmp/e\n1\n",
            "annulus:/$ echo a | cat | cat | cat | wc -c\n2\n",
            // 1 MiB through two pipes; yes ends on EPIPE when head is done.
            "annulus:/$ yes | head -c 1048576 | wc -c\n1048576\n",
            "annulus:/$ yes abc | head -n 3\nabc\nabc\nabc\nannulus:/$ ",
            "annulus:/$ cat /README.txt | head -n 2 | wc -l\n2\n",
            // Globs: a plain * or ? in a word's last part, sorted; no match
            // leaves the word; quoted, it is itself.
            "annulus:/$ echo /tmp/n? /tmp/zz* '/tmp/n*'\n/tmp/n1 /tmp/n2 /tmp/zz* /tmp/n*\n",
            "annulus:/$ cd /bin; echo c?t w*; cd /\ncat wc\n",
            // A script with arguments.
            "annulus:/$ sh /tmp/s one two\nscript /tmp/s got 2 arguments: one two\nls: /nope: No such file or directory\n",
            "failed one\n",
            // A script starts in the directory of the shell that ran it.
            "annulus:/$ cd /tmp; echo 'cat n1; pwd' > rel; sh rel; cd /\n425\n/tmp\n",
            "sh: no command next to the |",
            "sh: ( ) (a subshell) is not supported",
            "] done: sleep | cat (exited with code 0)",
            ", any other number 0",
        ],
        input: &[
            ("annulus:/$ ", "echo hello pipes | cat\r"),
            ("annulus:/$ ", "echo one two three | wc\r"),
            (
                "annulus:/$ ",
                "cat /README.txt | wc -c > /tmp/n1; wc -c < /README.txt > /tmp/n2; cmp /tmp/n1 /tmp/n2 && echo same count\r",
            ),
            ("annulus:/$ ", "nosuch 2> /tmp/e; cat /tmp/e\r"),
            ("annulus:/$ ", "ls /nope 2>&1 | wc -l\r"),
            ("annulus:/$ ", "ls /nope 2> /tmp/null || echo failed: $?\r"),
            ("annulus:/$ ", "false; echo status $?\r"),
            ("annulus:/$ ", "true && echo yes || echo no\r"),
            ("annulus:/$ ", "A=world; echo \"hello $A\" '$A'\r"),
            ("annulus:/$ ", "wc -l < /tmp/e\r"),
            ("annulus:/$ ", "echo a | cat | cat | cat | wc -c\r"),
            ("annulus:/$ ", "yes | head -c 1048576 | wc -c\r"),
            ("annulus:/$ ", "yes abc | head -n 3\r"),
            ("annulus:/$ ", "cat /README.txt | head -n 2 | wc -l\r"),
            ("annulus:/$ ", "echo /tmp/n? /tmp/zz* '/tmp/n*'\r"),
            ("annulus:/$ ", "cd /bin; echo c?t w*; cd /\r"),
            (
                "annulus:/$ ",
                "echo 'echo script $0 got $# arguments: $1 $2' > /tmp/s; echo 'ls /nope || echo failed $1' >> /tmp/s\r",
            ),
            ("annulus:/$ ", "sh /tmp/s one two\r"),
            (
                "annulus:/$ ",
                "cd /tmp; echo 'cat n1; pwd' > rel; sh rel; cd /\r",
            ),
            ("annulus:/$ ", "ls |\r"),
            ("annulus:/$ ", "(ls)\r"),
            ("annulus:/$ ", "sleep 10 | cat &\r"),
            ("annulus:/$ ", "wait\r"),
            ("] done", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The tools a Unix user reaches for, typed: cp, touch, stat,
        // ls -l and -a, grep of a file and of a pipe, tail of a file and
        // of a pipe, history; each error a line on standard error.
        name: "shell-tools",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ cp /README.txt /tmp/r; cmp /README.txt /tmp/r && echo copied\ncopied\n",
            "annulus:/$ touch /tmp/.hidden /tmp/empty; stat /tmp/empty /tmp/r /tmp\n/tmp/empty: file, 0 bytes\n/tmp/r: file, 425 bytes\n/tmp: directory, 4 entries\n",
            "annulus:/$ ls /tmp\nempty\nr\nx/\n",
            "annulus:/$ ls -a /tmp\n.hidden\nempty\nr\nx/\n",
            "annulus:/$ ls -l /tmp\n-          0 empty\n-        425 r\nd          0 x/\n",
            "annulus:/$ grep ram /README.txt\n(target/annulus/initrd.cpio), beside the programs in bin/, and appears in the ram file\n",
            "annulus:/$ cat /README.txt | grep nothing-like-this || echo none\n[exit 1]\nnone\n",
            "annulus:/$ tail -n 1 /README.txt\nprogram file cut short on purpose (the shell tests run it and expect \"Exec format error\").\n",
            "annulus:/$ cat /README.txt | tail -n 2 | wc -l\n2\n",
            "annulus:/$ cp /nope /tmp/q\ncp: /nope: No such file or directory\n",
            "annulus:/$ history\n    1  mkdir /tmp/x\n    2  cp /README.txt /tmp/r; cmp /README.txt /tmp/r && echo copied\n",
            "\ncompleted\n",
            "\n425 /README.txt\n",
            "\nafter ctrl-u\n",
            "\none three\n",
        ],
        input: &[
            ("annulus:/$ ", "mkdir /tmp/x\r"),
            (
                "annulus:/$ ",
                "cp /README.txt /tmp/r; cmp /README.txt /tmp/r && echo copied\r",
            ),
            (
                "annulus:/$ ",
                "touch /tmp/.hidden /tmp/empty; stat /tmp/empty /tmp/r /tmp\r",
            ),
            ("annulus:/$ ", "ls /tmp\r"),
            ("annulus:/$ ", "ls -a /tmp\r"),
            ("annulus:/$ ", "ls -l /tmp\r"),
            ("annulus:/$ ", "grep ram /README.txt\r"),
            (
                "annulus:/$ ",
                "cat /README.txt | grep nothing-like-this || echo none\r",
            ),
            ("annulus:/$ ", "tail -n 1 /README.txt\r"),
            ("annulus:/$ ", "cat /README.txt | tail -n 2 | wc -l\r"),
            ("annulus:/$ ", "cp /nope /tmp/q\r"),
            ("annulus:/$ ", "history\r"),
            // Tab completes a program's name and a path; ^U and ^W delete.
            ("annulus:/$ ", "ech\tcompleted\r"),
            ("completed\r\nannulus:/$ ", "wc -c /READ\t\r"),
            (
                "425 /README.txt\r\nannulus:/$ ",
                "garbage\x15echo after ctrl-u\r",
            ),
            ("after ctrl-u\r\nannulus:/$ ", "echo one two\x17three\r"),
            ("one three\r\nannulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Limits met at the shell, on the system whose files live in
        // memory: a file grown past ramfs's 16 MiB says EFBIG on standard
        // error; eight programs holding all the memory they can get (the
        // eighth gets what the seven left) leave the shell able to kill
        // them, and then to run programs again.
        name: "shell-limits",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: Some("default"),
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ yes | head -c 17000000 > /tmp/big\nhead: File too large\n",
            "attack map-hold: 31 MiB held",
            "[1] done: attack (killed: killed by process ",
            "[7] done: attack (killed: killed by process ",
            "\nafter\n",
            ", any other number 0",
        ],
        input: &[
            ("annulus:/$ ", "yes | head -c 17000000 > /tmp/big\r"),
            ("head: File too large", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            ("MiB held", "attack map-hold &\r"),
            // The eighth gets what is left, if anything: it may start
            // with 0 MiB or not start at all (`Out of memory`), as the
            // programs' sizes leave it.
            ("MiB held", "attack map-hold &\r"),
            ("annulus:/$ ", "kill %1\r"),
            (
                "[1] done",
                "kill %2; kill %3; kill %4; kill %5; kill %6; kill %7; kill %8\r",
            ),
            ("[7] done", "rm /tmp/big; echo after\r"),
            ("after\r\n", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // Job control, typed: Ctrl-C stops an infinite loop and a sleep
        // (the prompt comes back, $? is 130); a program reading typed
        // lines gets them, cooked, until Ctrl-D; a line typed before the
        // program reads still reaches it; Ctrl-C ends every process of a
        // pipeline, and a script with the program it runs; the shell
        // edits in raw mode again afterwards.
        name: "shell-interrupt",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ spin\nspin: spinning\n^C\nannulus:/$ echo $?\n130\n",
            "annulus:/$ sleep 500000\n^C\nannulus:/$ ",
            "annulus:/$ cat\nfirst line\nfirst line\nsecond\nsecond\nannulus:/$ ",
            "annulus:/$ cat | wc -l\nthree\nlines\nhere\n3\n",
            "annulus:/$ spin | cat\nspin: spinning\n^C\nannulus:/$ ",
            // A script stopped by Ctrl-C takes the program it ran with
            // it: no spin is left (grep finds nothing: exit code 1); and
            // so does a script that runs that script.
            "annulus:/$ sh /tmp/spinner\nspin: spinning\n^C\nannulus:/$ ps | grep spin; echo $?\n[exit 1]\n1\n",
            "annulus:/$ sh /tmp/outer\nspin: spinning\n^C\nannulus:/$ ps | grep spin; echo $?\n[exit 1]\n1\n",
            // The line, edited with Backspace by the shell again.
            "\nstill editing\n",
            ", any other number 0",
        ],
        input: &[
            ("annulus:/$ ", "spin\r"),
            ("spin: spinning", "\x03"),
            ("annulus:/$ ", "echo $?\r"),
            ("annulus:/$ ", "sleep 500000\r"),
            ("sleep 500000", "\x03"),
            ("annulus:/$ ", "cat\r"),
            ("cat", "first line\r"),
            ("first line\r\nfirst line", "second\r"),
            ("second\r\nsecond", "\x04"),
            ("annulus:/$ ", "cat | wc -l\r"),
            ("cat | wc -l", "three\rlines\rhere\r\x04"),
            ("annulus:/$ ", "spin | cat\r"),
            ("spin: spinning", "\x03"),
            ("annulus:/$ ", "echo spin > /tmp/spinner\r"),
            ("annulus:/$ ", "sh /tmp/spinner\r"),
            ("spin: spinning", "\x03"),
            ("annulus:/$ ", "ps | grep spin; echo $?\r"),
            ("annulus:/$ ", "echo sh /tmp/spinner > /tmp/outer\r"),
            ("annulus:/$ ", "sh /tmp/outer\r"),
            ("spin: spinning", "\x03"),
            ("annulus:/$ ", "ps | grep spin; echo $?\r"),
            ("annulus:/$ ", "echo still edx\x7fiting\r"),
            ("annulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // debug=eret-window: every return from the kernel sends itself an
        // interrupt between writing ELR_EL1 and its eret
        // (microkernel/src/arch/eret_window.rs). The paths mask first, so
        // each interrupt waits until after the eret, and the system works
        // as ever; a path with the window open would "return" a process
        // to kernel code (killed, a permission fault) or hang.
        name: "eret-window",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 debug=eret-window",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "kernel: debug=eret-window: every return interrupts itself (SGI 15)",
            "annulus:/$ ls /\nREADME.txt\nbin/\netc/\ntests/\ntmp/\n",
            "annulus:/$ cat /tmp/a\nhi\n",
            "[1] done: sleep (exited with code 0)",
            "annulus: debug=eret-window: * returns probed",
        ],
        input: &[
            ("annulus:/$ ", "ls /\r"),
            ("annulus:/$ ", "echo hi > /tmp/a\r"),
            ("annulus:/$ ", "cat /tmp/a\r"),
            ("annulus:/$ ", "sleep 20 &\r"),
            ("[1] ", "wait\r"),
            ("[1] done", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The same probe on a GICv2 (its SGIs are sent through the
        // distributor, not a system register), under the ring suite.
        name: "eret-window-gicv2",
        machine: &[
            "-M",
            "virt,gic-version=2",
            "-cpu",
            "cortex-a53",
            "-m",
            "128M",
        ],
        command_line: "debug=eret-window run=ringtest",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd {
            suite: Some("ringtest"),
        },
        expected: &[
            "GICv2",
            "kernel: debug=eret-window: every return interrupts itself (SGI 15)",
            "process 1 (ringtest): exited with code 0",
            "annulus: debug=eret-window: * returns probed",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Every built-in and tool of the shell, and their errors, one
        // clear line each: cd/pwd, mkdir, mv, rm, >>, ps, & with jobs,
        // kill and wait, missing files, unknown commands, a file that is
        // not a program, a truncated ELF, a faulting child (reported, the
        // shell goes on), syntax errors; exit ends the shell and init
        // powers off.
        name: "shell-commands",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus:/$ help\nbuilt-ins:\n",
            "annulus:/tmp$ pwd\n/tmp\n",
            "annulus:/tmp$ ls\nd/\nlog\n",
            "annulus:/tmp$ cat log\none\ntwo three\n",
            "annulus:/tmp$ ls d\nmoved\n",
            "annulus:/tmp$ ls /tmp\nd/\n",
            "sh: cd: /nope: No such file or directory",
            "sh: cd: /README.txt: Not a directory",
            "cat: /missing: No such file or directory",
            "sh: frobnicate: command not found",
            "sh: ./d: Is a directory",
            "sh: /tmp/notelf: Exec format error",
            "sh: /tests/truncated: Exec format error",
            "sh: a quote is not closed",
            "sh: a redirection needs a file name after it",
            "sh: /nowhere/x: No such file or directory",
            "faulty: about to write-text",
            "sh: faulty: killed: permission fault",
            "annulus:/$ echo still here\nstill here\n",
            "  PID  STATE              NAME",
            "  sleeping           sleep",
            "[1] done: sleep (killed: killed by process *)",
            "[2] done: sleep (exited with code 0)",
            "sh: kill: 999: no such job of this shell",
            "sh: kill: usage: kill PID|%JOB",
            "[3] done: faulty (killed: translation fault",
            "ls: /nope: No such file or directory",
            "mkdir: /tmp: File exists",
            "rm: /nope: No such file or directory",
            "mv: /nope -> /x: No such file or directory",
            "sh: help: a built-in takes no redirection",
            "sh: exit: abc: not a number",
            "init: the shell has ended (exited with code 3); powering off",
        ],
        input: &[
            ("annulus:/$ ", "help\r"),
            ("annulus:/$ ", "cd tmp\r"),
            ("annulus:/tmp$ ", "pwd\r"),
            ("annulus:/tmp$ ", "mkdir d\r"),
            ("annulus:/tmp$ ", "echo one > log\r"),
            ("annulus:/tmp$ ", "echo two three >> log\r"),
            ("annulus:/tmp$ ", "echo x > f\r"),
            ("annulus:/tmp$ ", "mv f d/moved\r"),
            ("annulus:/tmp$ ", "ls\r"),
            ("annulus:/tmp$ ", "cat log\r"),
            ("annulus:/tmp$ ", "ls d\r"),
            ("annulus:/tmp$ ", "rm log d/moved\r"),
            ("annulus:/tmp$ ", "ls /tmp\r"),
            ("annulus:/tmp$ ", "cd /nope\r"),
            ("annulus:/tmp$ ", "cd /README.txt\r"),
            ("annulus:/tmp$ ", "cat /missing\r"),
            ("annulus:/tmp$ ", "frobnicate\r"),
            ("annulus:/tmp$ ", "./d\r"),
            ("annulus:/tmp$ ", "echo not a program > notelf\r"),
            ("annulus:/tmp$ ", "/tmp/notelf\r"),
            ("annulus:/tmp$ ", "/tests/truncated\r"),
            ("annulus:/tmp$ ", "echo 'open\r"),
            ("annulus:/tmp$ ", "echo >\r"),
            ("annulus:/tmp$ ", "echo x > /nowhere/x\r"),
            ("annulus:/tmp$ ", "cd ..\r"),
            ("annulus:/$ ", "faulty write-text\r"),
            ("annulus:/$ ", "echo still here\r"),
            ("annulus:/$ ", "sleep 60000 &\r"),
            ("[1] ", "ps\r"),
            ("annulus:/$ ", "kill %1\r"),
            ("[1] done", "sleep 10 &\r"),
            ("[2] ", "wait\r"),
            ("[2] done", "kill 999\r"),
            ("annulus:/$ ", "kill\r"),
            ("annulus:/$ ", "faulty stack-overflow &\r"),
            ("[3] ", "wait\r"),
            ("[3] done", "jobs\r"),
            ("annulus:/$ ", "ls /nope\r"),
            ("annulus:/$ ", "mkdir /tmp\r"),
            ("annulus:/$ ", "rm /nope\r"),
            ("annulus:/$ ", "mv /nope /x\r"),
            ("annulus:/$ ", "help > /tmp/h\r"),
            ("annulus:/$ ", "exit abc\r"),
            ("annulus:/$ ", "exit 3\r"),
        ],
    },
    QemuTestConfig {
        // Line editing in the shell: backspace, the cursor moved left
        // and a letter put in the middle, the history recalled with
        // Up and edited, ^C throwing a line away.
        name: "shell-editing",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["init: the shell has ended"],
        },
        expected: &[
            "\nfixed\n",
            "\nright\n",
            "\nfirst again\n",
            "^C\n",
            "init: the shell has ended (exited with code 0); powering off",
        ],
        input: &[
            // Each step waits for the last command's output and the
            // prompt after it: a redrawn line shows the prompt too, and
            // input sent on that would be typed ahead into the command.
            ("annulus:/$ ", "echo fxz\x7f\x7fixed\r"),
            ("fixed\r\nannulus:/$ ", "echo rigt\x1b[Dh\r"),
            ("right\r\nannulus:/$ ", "echo first\r"),
            ("first\r\nannulus:/$ ", "echo second\r"),
            ("second\r\nannulus:/$ ", "\x1b[A\x1b[A again\r"),
            ("first again\r\nannulus:/$ ", "nonsense\x03"),
            ("^C", "exit\r"),
        ],
    },
    QemuTestConfig {
        // The file tools on the ram file system, beside the console server:
        // ls and cat of what the boot image put there, and of paths that
        // are missing or the wrong kind (one clear line each).
        name: "fs-tools",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,ramfs+serve=fs+bootimage,ls:/bin:/README.txt+use=console+use=fs,cat:/README.txt+use=console+use=fs,ls:/nope+use=console+use=fs,cat:/bin:/missing+use=console+use=fs,echo:hello:the:world+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 3 (ls): leaked frames: ",
                "process 4 (cat): leaked frames: ",
                "process 5 (ls): leaked frames: ",
                "process 6 (cat): leaked frames: ",
                "process 7 (echo): leaked frames: ",
            ],
        },
        expected: &[
            "hello the world",
            "process 7 (echo): exited with code 0",
            "ramfs: ",
            "fstest",
            "init",
            "/README.txt",
            "Every file and folder here is packed by `cargo xtask build`",
            "ls: /nope: No such file or directory",
            "cat: /bin: Is a directory",
            "cat: /missing: No such file or directory",
            "process 3 (ls): exited with code 0",
            "process 4 (cat): exited with code 0",
            "process 5 (ls): exited with code 1",
            "process 6 (cat): exited with code 1",
        ],
        input: &[],
    },
    QemuTestConfig {
        // mkdir, rm and mv, each on paths no other of them touches (they
        // run at once): what succeeds exits 0, each failure is one line;
        // /bin is read-only.
        name: "fs-changes",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,ramfs+serve=fs+bootimage,mkdir:/tmp/a:/tmp+use=console+use=fs,rm:/README.txt:/bin+use=console+use=fs,mv:/bin/init:/init+use=console+use=fs,mv:/nope:/x+use=console+use=fs,mv:/etc:/e+use=fs",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 3 (mkdir): leaked frames: ",
                "process 4 (rm): leaked frames: ",
                "process 5 (mv): leaked frames: ",
                "process 6 (mv): leaked frames: ",
                "process 7 (mv): leaked frames: ",
            ],
        },
        expected: &[
            "mkdir: /tmp: File exists",
            "rm: /bin: Read-only file system",
            "mv: /bin/init -> /init: Read-only file system",
            "mv: /nope -> /x: No such file or directory",
            "process 3 (mkdir): exited with code 1",
            "process 4 (rm): exited with code 1",
            "process 5 (mv): exited with code 1",
            "process 6 (mv): exited with code 1",
            "process 7 (mv): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // shutdown with the power handle: the machine powers off at once,
        // though the console server is still running, after printing the
        // system call counts.
        name: "power-off",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,shutdown+use=console+power",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "annulus: process 2 asked to power off",
            "annulus: system calls: ring_enter (0) ",
        ],
        input: &[],
    },
    QemuTestConfig {
        // shutdown without it (its only handle is the console's): the
        // kernel refuses, it says so in one line and exits with 1, and
        // the machine runs on.
        name: "power-refused",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,shutdown+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["process 2 (shutdown): leaked frames: "],
        },
        expected: &[
            "shutdown: no power handle (start it with +power)",
            "process 2 (shutdown): exited with code 1",
        ],
        input: &[],
    },
    QemuTestConfig {
        // Typing at the console server (the EL0 UART driver): a line, a
        // line edited with Backspace (DEL), Ctrl-C, then Ctrl-D, each once
        // the reader has prompted for it.
        name: "console-input",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console,readline+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["process 2 (readline): leaked frames: "],
        },
        expected: &[
            "got: hello",
            "got: abcd",
            "interrupted",
            "readline: end of file",
            "process 2 (readline): exited with code 0",
        ],
        input: &[
            ("readline> ", "hello\r"),
            ("readline> ", "abcx\x7fd\r"),
            ("readline> ", "\x03"),
            ("readline> ", "\x04"),
        ],
    },
    QemuTestConfig {
        // Two programs print long lines through the console server at
        // once: no line may be torn by the other's. With `+klog` the
        // console prints the kernel's log too, so nothing else writes the
        // UART (without it, a kernel line such as a process's exit could
        // land in the middle of a chatter line, now and then).
        name: "console-output",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,chatter:a+use=console,chatter:b+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 2 (chatter): leaked frames: ",
                "process 3 (chatter): leaked frames: ",
            ],
        },
        expected: &[
            "process 2 (chatter): exited with code 0",
            "process 3 (chatter): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The pipe figure's boot of `cargo xtask bench`: it runs and
        // reports its figure.
        name: "bench-pipe-quick",
        machine: DEFAULT_MACHINE,
        command_line: crate::bench::PIPE_COMMAND_LINE,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["bench: done"],
        },
        expected: &["bench: pipe_1m_per_kib "],
        input: &[],
    },
    QemuTestConfig {
        // The benchmark in quick mode (a few hundred operations per
        // figure, debug build, no -icount): it still runs and reports every
        // figure. No figure is judged here: `cargo xtask bench` measures.
        name: "bench-quick",
        machine: DEFAULT_MACHINE,
        command_line: crate::bench::QUICK_COMMAND_LINE,
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["bench: done"],
        },
        expected: &[
            "bench: boot_to_first_line ",
            "bench: frames_in_use_kib ",
            "bench: calibration ",
            "bench: kernel_nop_batch_1 ",
            "bench: kernel_nop_batch_32 ",
            "bench: forwarded_nop_batch_1 ",
            "bench: forwarded_nop_batch_32 ",
            "bench: ramfs_read_64k ",
            "bench: read_4k_via_server ",
            "bench: memcpy_4k ",
            "bench: read_64k_via_server ",
            "bench: memcpy_64k ",
            "bench: console_write_64_bytes ",
            "bench: spawn_wait ",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The FAT system on a disk the host filled (mkfs.fat, then mtools
        // adds a folder with long names and a 1.5 MiB file): the shell
        // reads them, writes files, makes a folder, moves a file, copies
        // the big one; after power-off the host finds all of it with
        // mtools and fsck.fat -n finds nothing wrong; then a second boot
        // on the same disk reads back what the first wrote.
        name: "fat-files",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: Some("fat"),
        disk: Some(&TestDisk {
            make: disks::make_fat_test_disk,
            check: disks::check_fat_test_disk,
            reboot: Some(&QemuTestConfig {
                name: "fat-files-reboot",
                machine: DEFAULT_MACHINE,
                command_line: HANG_DUMP,
                system: None,
                disk: None,
                outcome: Outcome::ServersRemain {
                    suite: None,
                    until: &["annulus: powering off"],
                },
                expected: &[
                    "annulus:/$ cat \"/tmp/From Annulus.txt\"\nmade in Annulus\n",
                    "annulus:/$ ls \"/New Folder\"\nMoved Name.txt\n",
                ],
                input: &[
                    ("annulus:/$ ", "cat \"/tmp/From Annulus.txt\"\r"),
                    ("annulus:/$ ", "ls \"/New Folder\"\r"),
                    ("annulus:/$ ", "shutdown\r"),
                ],
            }),
        }),
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "fat: a FAT32 volume of 303093 KiB, with a journal of 4104 KiB",
            "annulus:/$ cat \"/docs/Sub Folder/A Long File Name.txt\"\nwritten on the host\n",
            "annulus:/$ ls \"/docs/Sub Folder\"\nA Long File Name.txt\n",
            "annulus:/$ ls /tmp\nFrom Annulus.txt\ncopy.bin\n",
        ],
        input: &[
            (
                "annulus:/$ ",
                "cat \"/docs/Sub Folder/A Long File Name.txt\"\r",
            ),
            ("annulus:/$ ", "ls \"/docs/Sub Folder\"\r"),
            (
                "annulus:/$ ",
                "echo made in Annulus > \"/tmp/From Annulus.txt\"\r",
            ),
            ("annulus:/$ ", "mkdir \"/New Folder\"\r"),
            (
                "annulus:/$ ",
                "mv \"/docs/Sub Folder/A Long File Name.txt\" \"/New Folder/Moved Name.txt\"\r",
            ),
            ("annulus:/$ ", "cat /big.bin > /tmp/copy.bin\r"),
            ("annulus:/$ ", "ls /tmp\r"),
            ("annulus:/$ ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The disk driver (servers/virtio-blk) and DMA_MAP: disktest reads
        // a 4 MiB disk of known words, writes some, and the host then
        // finds exactly those changed in the image.
        name: "disk-driver",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,disktest+use=block+dma",
        system: None,
        disk: Some(&TestDisk {
            make: disks::make_pattern_disk,
            check: disks::check_pattern_disk,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: Some("disktest"),
            until: &["process 2 (disktest): leaked frames: "],
        },
        expected: &[
            "virtio-blk: a disk of 4096 KiB",
            "process 2 (disktest): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A disk driver killed: drivertest starts virtio-blk itself, kills
        // it, and finds the device reset by the kernel (Status 0), the
        // driver's client told ESRVDEAD, and a second driver working.
        name: "driver-reset",
        machine: DEFAULT_MACHINE,
        command_line: "hangdump=20 run=drivertest+device=virtio-blk+irq=virtio-blk+dma+spawn+bootimage",
        system: None,
        disk: Some(&TestDisk {
            make: disks::make_pattern_disk,
            check: disks::no_check,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: Some("drivertest"),
            until: &["process 1 (drivertest): leaked frames: "],
        },
        expected: &[
            "drivertest: a killed driver's device is reset, and starts again: ok",
            "process 1 (drivertest): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The tutorial's example server (docs/systems.md): greet asks the
        // greeter for a greeting, which names greet's process.
        name: "greeter",
        machine: DEFAULT_MACHINE,
        command_line: "run=console+serve=console+device=console+irq=console+klog,greeter+serve=greeter+use=console,greet+use=console+use=greeter",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["process 3 (greet): leaked frames: "],
        },
        expected: &[
            "greeter: ready",
            "greet: hello, process 3",
            "process 3 (greet): exited with code 0",
        ],
        input: &[],
    },
    QemuTestConfig {
        // The tutorial's example system (docs/systems.md): the default
        // system and the greeter; init starts it from its one line.
        name: "greeter-system",
        machine: DEFAULT_MACHINE,
        command_line: HANG_DUMP,
        system: Some("greeter"),
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["annulus: powering off"],
        },
        expected: &[
            "greeter: ready",
            "annulus:/$ ls /bin/greeter\n/bin/greeter\n",
            // The tutorial's last step: the service used from the shell,
            // by the program the manifest names, and by no other.
            "annulus:/$ greet\ngreet: hello, process ",
            "annulus:/$ attack services\nattack services: given pipe; handles 1 to 64 read: 0 greetings\n",
            // Nor can another program take greet's place in /bin.
            "annulus:/$ cp /bin/attack /bin/greet\ncp: /bin/greet: Read-only file system\n",
            "annulus:/$ mv /bin/greet /tmp/g\nmv: /bin/greet -> /tmp/g: Read-only file system\n",
            "annulus:/$ cp /bin/attack /tmp/x; mv /tmp/x /BIN/greet\nmv: /tmp/x -> /BIN/greet: Read-only file system\n",
            "greeter: restarted as process ",
            "init: restarted greeter (greeter, process ",
            // (The new greeter's "ready" may come between the prompt and
            // what is typed; the shutdown typed after this answer says it
            // came after the restart.)
            "greet\ngreet: hello, process ",
        ],
        input: &[
            ("annulus:/$ ", "ls /bin/greeter\r"),
            ("annulus:/$ ", "greet\r"),
            ("annulus:/$ ", "attack services\r"),
            ("annulus:/$ ", "cp /bin/attack /bin/greet\r"),
            ("annulus:/$ ", "mv /bin/greet /tmp/g\r"),
            (
                "annulus:/$ ",
                "cp /bin/attack /tmp/x; mv /tmp/x /BIN/greet\r",
            ),
            ("annulus:/$ ", "greet\r"),
            // The server restarted by hand: greet reaches the new one.
            ("annulus:/$ ", "kill greeter\r"),
            ("greeter: restarted as process ", "greet\r"),
            // (Its answer: the greet after the restart was served.)
            ("greet: hello, process ", "shutdown\r"),
        ],
    },
    QemuTestConfig {
        // The disk benchmark in quick mode on the FAT system's servers and
        // disk: it still runs and reports every figure (`cargo xtask bench
        // --system fat` measures).
        name: "bench-disk-quick",
        machine: DEFAULT_MACHINE,
        command_line: crate::bench::DISK_QUICK_COMMAND_LINE,
        system: Some("fat"),
        disk: Some(&TestDisk {
            make: disks::copy_system_disk,
            check: disks::no_check,
            reboot: None,
        }),
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["bench: done"],
        },
        expected: &[
            "fat: a FAT32 volume of 303093 KiB, with a journal of 4104 KiB",
            "bench: fat_write_1m_per_kib ",
            "bench: fat_read_1m_per_kib ",
            "bench: fat_spawn_wait ",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A kernel write to its own text, outside any probe: the exception
        // report must name the class and show the registers, then power off.
        name: "fault-report",
        machine: DEFAULT_MACHINE,
        command_line: "crash=write-text",
        system: None,
        disk: None,
        outcome: Outcome::FatalReport,
        expected: &[
            "unexpected exception: KernelSynchronous",
            "class  0x25 Data Abort from the same exception level",
            "ESR    0x",
            "ELR    0x",
            "FAR    0x",
            "fault  Permission { level: 3 }",
            "x29 0x",
            "powering off",
        ],
        input: &[],
    },
    QemuTestConfig {
        // A kernel thread that overflows its stack hits the guard page
        // below it and is reported by name, instead of writing over
        // whatever lies below.
        name: "kernel-stack-overflow",
        machine: DEFAULT_MACHINE,
        command_line: "crash=stack-overflow",
        system: None,
        disk: None,
        outcome: Outcome::FatalReport,
        expected: &[
            "kernel stack overflow: thread 1 (crash) of process 0 ran into its guard page",
            "SP     0xfffffffe0000",
            "FAR    0xfffffffe0000",
            "powering off",
        ],
        input: &[],
    },
    QemuTestConfig {
        name: "panic-report",
        machine: DEFAULT_MACHINE,
        command_line: "crash=panic",
        system: None,
        disk: None,
        outcome: Outcome::FatalReport,
        expected: &[
            "KERNEL PANIC at microkernel/src/",
            "crash requested on the command line",
            "powering off",
        ],
        input: &[],
    },
];

/// Text that means the kernel went wrong, wherever it appears.
const FORBIDDEN: &[&str] = &["PANIC", "unexpected exception"];

/// How much of a failed run's serial log is shown on the terminal.
const LINES_SHOWN_ON_FAILURE: usize = 40;

/// Builds the kernel, then runs every configuration whose name contains the
/// filter, one after the other.
pub fn run(workspace: &Workspace, options: &TestOptions) -> Result<TestCounts> {
    let long: &[QemuTestConfig] = if options.long { LONG_QEMU_TESTS } else { &[] };
    // The filter picks runs by their names: `NAME`, or `NAME@SYSTEM` for
    // a row that boots the system (so `fat` picks every run on the fat
    // system, as well as the rows named for it).
    let rows: Vec<&QemuTestConfig> = QEMU_TESTS.iter().chain(long).collect();
    let systems: Vec<(String, ())> = build::system_names(workspace)?
        .into_iter()
        .map(|system| (system, ()))
        .collect();
    let wanted: Vec<String> = runs_on_systems(&rows, &systems)
        .into_iter()
        .map(|(name, _, _)| name)
        .filter(|name| {
            options
                .filter
                .as_deref()
                .is_none_or(|filter| name.contains(filter))
        })
        .collect();
    let selected: Vec<&QemuTestConfig> = rows
        .into_iter()
        .filter(|config| {
            wanted
                .iter()
                .any(|name| name.split('@').next() == Some(config.name))
        })
        .collect();
    // The power-cut campaign (`power_cut.rs`) is a row of its own.
    let power_cut = options
        .filter
        .as_deref()
        .is_none_or(|filter| POWER_CUT.contains(filter));
    let profile_row = options
        .filter
        .as_deref()
        .is_none_or(|filter| PROFILE.contains(filter));
    if selected.is_empty() && !power_cut && !profile_row {
        println!("xtask: no QEMU test configuration matches the filter");
        return Ok(TestCounts::default());
    }

    // Every system of the workspace: the rows that boot the system (no
    // run= on the command line) run once on each.
    let built = match build::system_names(workspace).and_then(|systems| {
        systems
            .into_iter()
            .map(|system| {
                build::build_system(workspace, options.profile, &system)
                    .map(|built| (system, built))
            })
            .collect::<Result<Vec<_>>>()
    }) {
        Ok(built) if !built.is_empty() => built,
        Ok(_) => return Err("no system in systems/".to_string()),
        Err(message) => {
            // Every configuration counts as failed: none of them could pass.
            println!("xtask: {message}");
            for config in &selected {
                println!(
                    "qemu {} ... FAILED: not run, the kernel did not build",
                    config.name
                );
            }
            return Ok(TestCounts {
                passed: 0,
                failed: selected.len() as u64,
            });
        }
    };

    let log_directory = workspace.test_log_directory();
    std::fs::create_dir_all(&log_directory)
        .map_err(|error| format!("cannot create {}: {error}", log_directory.display()))?;
    let mut runs = runs_on_systems(&selected, &built);
    runs.retain(|(name, _, _)| wanted.contains(name));
    println!(
        "xtask: booting {} QEMU configuration{}, {} s each at most; serial logs in {}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        options.timeout.as_secs(),
        workspace.show(&log_directory)
    );
    let mut counts = TestCounts::default();
    for (name, config, built) in runs {
        print!("qemu {name} ... ");
        let _ = std::io::stdout().flush();

        let log_path = log_directory.join(format!("{name}.log"));
        let started = Instant::now();
        let timeout = row_timeout(config, options.timeout);
        let run = match boot(config, built, &log_path, timeout) {
            Ok(run) => run,
            Err(message) => {
                counts.failed += 1;
                println!("FAILED: {message}");
                continue;
            }
        };
        let mut verdict = if run.timed_out {
            Err(timed_out_reason(&run.serial, timeout))
        } else {
            judge(config, &run.serial)
        };
        if let (Ok(()), Some(disk)) = (&verdict, config.disk) {
            let image = disk_image_path(&log_path);
            verdict = (disk.check)(&image);
            if let (Ok(()), Some(reboot)) = (&verdict, disk.reboot) {
                let log = log_directory.join(format!("{name}-reboot.log"));
                verdict = boot_with_disk(reboot, built, &log, options.timeout, Some(&image), None)
                    .and_then(|run| {
                        if run.timed_out {
                            Err(timed_out_reason(&run.serial, options.timeout))
                        } else {
                            judge(reboot, &run.serial)
                        }
                    })
                    .map_err(|reason| format!("after a reboot: {reason}"));
            }
        }
        // A row that boots the system must show each server of its
        // manifest started, in order.
        if verdict.is_ok() && boots_the_system(config) {
            let missing: Vec<&String> = built
                .started
                .iter()
                .filter(|line| {
                    !run.serial
                        .lines()
                        .any(|serial| serial.contains(line.as_str()))
                })
                .collect();
            if let Some(line) = missing.first() {
                verdict = Err(format!("\"{line}\" is missing from the log"));
            }
        }
        if let Some(waiting_for) = run.input_waiting_for {
            let unsent = format!(
                "input was left unsent: the run never printed {:?}",
                show_input(waiting_for)
            );
            verdict = Err(match verdict {
                Ok(()) => unsent,
                Err(reason) => format!("{reason}; {unsent}"),
            });
        }

        match verdict {
            Ok(()) => {
                counts.passed += 1;
                println!("ok ({:.1} s)", started.elapsed().as_secs_f64());
            }
            Err(reason) => {
                counts.failed += 1;
                println!("FAILED: {reason}");
                show_failed_run(&run, &workspace.show(&log_path));
            }
        }
    }
    if power_cut {
        let kills = if options.long {
            POWER_CUT_KILLS_LONG
        } else {
            POWER_CUT_KILLS
        };
        print!("qemu {POWER_CUT} ({kills} kills) ... ");
        let _ = std::io::stdout().flush();
        let started = Instant::now();
        let fat = built
            .iter()
            .find(|(system, _)| system == "fat")
            .map(|(_, built)| built)
            .ok_or("no fat system in systems/")?;
        let findings = crate::power_cut::campaign(fat, &log_directory, kills, options.timeout)?;
        let summary = format!(
            "{} kills, {} fsck failures, {} times the files were not those of an acknowledged change; {} acknowledged changes in all, {} recoveries from the journal",
            findings.kills,
            findings.fsck_failures,
            findings.lost,
            findings.acknowledged,
            findings.journal_replays
        );
        if findings.problems.is_empty() {
            counts.passed += 1;
            println!("ok ({:.1} s): {summary}", started.elapsed().as_secs_f64());
        } else {
            counts.failed += 1;
            println!("FAILED: {summary}");
            for problem in &findings.problems {
                println!("    {problem}");
            }
        }
    }
    if profile_row {
        print!(
            "qemu {PROFILE} ({} steps of {}) ... ",
            crate::profile::TEST_STEPS,
            crate::profile::TEST_FIGURE
        );
        let _ = std::io::stdout().flush();
        let started = Instant::now();
        match crate::profile::test_row(workspace) {
            Ok(Ok(summary)) => {
                counts.passed += 1;
                println!("ok ({:.1} s): {summary}", started.elapsed().as_secs_f64());
            }
            Ok(Err(reason)) | Err(reason) => {
                counts.failed += 1;
                println!("FAILED: {reason}");
            }
        }
    }
    Ok(counts)
}

/// The row that runs `cargo xtask profile` on a NOP for a few thousand
/// steps (`profile.rs`): gdb, QEMU's gdb server and the kernel's symbols
/// still work together.
const PROFILE: &str = "profile";

/// The power-cut campaign's name, and how many times it kills QEMU in a
/// run of `cargo xtask test` and with `--long`.
const POWER_CUT: &str = "power-cut";
const POWER_CUT_KILLS: u32 = 20;
const POWER_CUT_KILLS_LONG: u32 = 200;

/// What one boot produced.
pub struct QemuRun {
    /// Everything the kernel printed on its serial port.
    pub serial: String,
    /// QEMU's own complaints (a bad option, say), from its standard error.
    pub qemu_messages: String,
    pub timed_out: bool,
    /// What the input script still waited for when the run ended, if it
    /// had not sent everything.
    input_waiting_for: Option<&'static str>,
}

/// Each configuration with the build it boots, and its name: a row that
/// boots the system (no `run=` on its command line) runs on every system,
/// named `row@system` on all but the first (the default).
fn runs_on_systems<'a, Built>(
    selected: &[&'a QemuTestConfig],
    built: &'a [(String, Built)],
) -> Vec<(String, &'a QemuTestConfig, &'a Built)> {
    let mut runs = Vec::new();
    for &config in selected {
        if let Some(only) = config.system {
            if let Some((_, build)) = built.iter().find(|(system, _)| system == only) {
                runs.push((config.name.to_string(), config, build));
            }
            continue;
        }
        let boots_the_system = boots_the_system(config);
        for (index, (system, build)) in built.iter().enumerate() {
            if index > 0 && !boots_the_system {
                break;
            }
            let name = if index == 0 {
                config.name.to_string()
            } else {
                format!("{}@{system}", config.name)
            };
            runs.push((name, config, build));
        }
    }
    runs
}

/// Does the row boot the system (init and the manifest) rather than
/// name its programs (`run=`), test the kernel alone or crash it?
fn boots_the_system(config: &QemuTestConfig) -> bool {
    !config.command_line.contains("run=")
        && !config.command_line.contains("selftest")
        && !config.command_line.contains("crash=")
}

/// How long the output must stay quiet, once a `ServersRemain` run has
/// printed everything it waits for, before xtask stops QEMU: time for the
/// last lines (a process's leak report, or a panic) to arrive.
const QUIET_AFTER_UNTIL: Duration = Duration::from_millis(500);

/// Boots one configuration and collects its serial output, writing it to
/// `log_path` line by line as it arrives (so `tail -f` shows a run live),
/// and typing the configuration's input when its output asks for it.
pub fn boot(
    config: &QemuTestConfig,
    built: &BuiltKernel,
    log_path: &Path,
    timeout: Duration,
) -> Result<QemuRun> {
    boot_with_disk(config, built, log_path, timeout, None, None)
}

/// When to cut the power on a run: `delay` after a line containing the
/// text has been printed, QEMU is killed (`power_cut.rs`).
#[derive(Clone, Copy)]
pub struct PowerCut {
    pub after: &'static str,
    pub delay: Duration,
}

/// [`boot`], on the disk image `disk` as it is, if given (a reboot);
/// otherwise on the row's disk made fresh, or a copy of the system's.
/// With `cut`, QEMU is killed as it says (the run is then not timed out).
pub fn boot_with_disk(
    config: &QemuTestConfig,
    built: &BuiltKernel,
    log_path: &Path,
    timeout: Duration,
    disk: Option<&Path>,
    cut: Option<PowerCut>,
) -> Result<QemuRun> {
    run_qemu(config, built, log_path, timeout, None, disk, cut)
}

/// [`boot`] for a run that may take as long as it needs while it keeps
/// printing: it is cut off (timed out) only after `silence` with no
/// output at all, or, so that output without end cannot hold it for ever,
/// after `cap` in all. The benchmark uses it: how long its figures take
/// depends on the host and its load, and a silent guest is a stuck one.
pub fn boot_until_silent(
    config: &QemuTestConfig,
    built: &BuiltKernel,
    log_path: &Path,
    silence: Duration,
    cap: Duration,
) -> Result<QemuRun> {
    run_qemu(config, built, log_path, cap, Some(silence), None, None)
}

/// Boots `config` and collects its serial output until it ends, its
/// `until` lines have appeared and it went quiet, the power cut `cut`, or
/// the deadline: `timeout` after the start, and, with `silence`, also
/// `silence` after the last output.
fn run_qemu(
    config: &QemuTestConfig,
    built: &BuiltKernel,
    log_path: &Path,
    timeout: Duration,
    silence: Option<Duration>,
    disk: Option<&Path>,
    cut: Option<PowerCut>,
) -> Result<QemuRun> {
    let mut log = std::fs::File::create(log_path)
        .map_err(|error| format!("cannot create {}: {error}", log_path.display()))?;

    let mut command = Command::new(QEMU);
    command.args(config.machine);
    command.args(["-display", "none", "-monitor", "none", "-serial", "stdio"]);
    boot_arguments(&mut command, &built.image, &built.initrd);
    let image = disk_image_path(log_path);
    if let Some(disk) = disk {
        command.args(disks::qemu_arguments(disk));
    } else if let Some(disk) = config.disk {
        (disk.make)(&image, built.disk.as_deref())?;
        command.args(disks::qemu_arguments(&image));
    } else if let Some(system_disk) = &built.disk {
        // A fresh copy of the system's disk for each run.
        disks::copy_sparse(system_disk, &image)?;
        command.args(disks::qemu_arguments(&image));
    }
    command.args(["-append", config.command_line]);
    // Standard input is the emulated UART's receive side: a pipe, so that
    // the input script can type, and nothing else can.
    let mut qemu = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start `{}`: {error}", tools::show_command(&command)))?;
    let mut keyboard = qemu.stdin.take();

    // One thread reads the serial port as it comes and hands each piece
    // over; this thread can then wait for output *or* a deadline, cut the
    // output into lines, and type what the script says.
    let serial_output = qemu.stdout.take().expect("stdout was piped above");
    let (piece_sender, piece_receiver) = mpsc::channel::<Vec<u8>>();
    let serial_reader = std::thread::spawn(move || {
        let mut serial_output = serial_output;
        let mut buffer = [0u8; 4096];
        while let Ok(count @ 1..) = serial_output.read(&mut buffer) {
            if piece_sender.send(buffer[..count].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut error_output = qemu.stderr.take().expect("stderr was piped above");
    let error_reader = std::thread::spawn(move || {
        let mut messages = String::new();
        let _ = error_output.read_to_string(&mut messages);
        messages
    });

    let until = match config.outcome {
        Outcome::ServersRemain { until, .. } => until,
        _ => &[],
    };
    let mut lines = LineSplitter::new();
    let mut script = InputScript::new(config.input);
    let mut serial = String::new();
    let mut add_line = |serial: &mut String, line: String| {
        let _ = writeln!(log, "{line}");
        serial.push_str(&line);
        serial.push('\n');
    };
    let started = Instant::now();
    let end_of_run = started + timeout;
    let deadline_after = |last_output| run_deadline(end_of_run, silence, last_output);
    let mut deadline = deadline_after(started);
    // Set once a `ServersRemain` run has printed all it waits for: the run
    // ends when this passes with no more output.
    let mut quiet_deadline: Option<Instant> = None;
    // Set once the text a power cut waits for has appeared.
    let mut cut_deadline: Option<Instant> = None;
    // Which texts of `until` have appeared, looked for in each new line
    // only (a long run prints hundreds of thousands of bytes).
    let mut seen = vec![false; until.len()];
    let mut timed_out = loop {
        // Output that never stops must not keep the run from its deadline.
        if Instant::now() >= deadline {
            break true;
        }
        if let Some(cut_at) = cut_deadline
            && Instant::now() >= cut_at
        {
            let _ = qemu.kill();
            break false;
        }
        let wait_until = quiet_deadline
            .into_iter()
            .chain(cut_deadline)
            .fold(deadline, Instant::min);
        match piece_receiver.recv_timeout(wait_until.saturating_duration_since(Instant::now())) {
            Ok(piece) => {
                deadline = deadline_after(Instant::now());
                for line in lines.push(&piece) {
                    for (found, pattern) in seen.iter_mut().zip(until) {
                        *found |= line_matches(&line, pattern);
                    }
                    add_line(&mut serial, line);
                }
                for text in script.output(&piece) {
                    if let Some(keyboard) = keyboard.as_mut() {
                        let _ = keyboard
                            .write_all(text.as_bytes())
                            .and_then(|()| keyboard.flush());
                    }
                }
                if !until.is_empty() && seen.iter().all(|&found| found) {
                    quiet_deadline = Some(Instant::now() + QUIET_AFTER_UNTIL);
                }
                if let Some(cut) = cut
                    && cut_deadline.is_none()
                    && serial.contains(cut.after)
                {
                    cut_deadline = Some(Instant::now() + cut.delay);
                }
            }
            // The serial port closed: QEMU is exiting.
            Err(RecvTimeoutError::Disconnected) => break false,
            Err(RecvTimeoutError::Timeout) if cut_deadline.is_some() => continue,
            Err(RecvTimeoutError::Timeout) if quiet_deadline.is_some() => {
                // Done, and quiet: the servers would run for ever.
                let _ = qemu.kill();
                break false;
            }
            Err(RecvTimeoutError::Timeout) => break true,
        }
    };
    if !timed_out {
        timed_out = !wait_until(&mut qemu, deadline);
    }
    if timed_out {
        let _ = qemu.kill();
    }
    let _ = qemu.wait();
    drop(keyboard);

    let _ = serial_reader.join();
    for piece in piece_receiver.try_iter() {
        for line in lines.push(&piece) {
            add_line(&mut serial, line);
        }
    }
    if let Some(line) = lines.finish() {
        add_line(&mut serial, line);
    }
    let qemu_messages = error_reader.join().unwrap_or_default();
    Ok(QemuRun {
        serial,
        qemu_messages,
        timed_out,
        input_waiting_for: script.waiting_for(),
    })
}

/// When a run is cut off, given its last output at `last_output`: at
/// `end_of_run`, or `silence` after that output if that comes first.
fn run_deadline(end_of_run: Instant, silence: Option<Duration>, last_output: Instant) -> Instant {
    silence.map_or(end_of_run, |silence| end_of_run.min(last_output + silence))
}

/// Where a row's disk image is kept: beside its log.
fn disk_image_path(log_path: &Path) -> std::path::PathBuf {
    log_path.with_extension("img")
}

/// Waits for the process to exit, until the deadline at most. Returns whether
/// it exited.
fn wait_until(process: &mut Child, deadline: Instant) -> bool {
    loop {
        if let Ok(Some(_)) = process.try_wait() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long `config` may run: the fault-injection campaigns kill a
/// thousand servers (a hundred thousand with `--long`), the mint flood
/// makes a million requests and attack-files-fat writes 64 MiB of zeros
/// through the FAT server, so they get longer than the other rows'
/// `default`.
fn row_timeout(config: &QemuTestConfig, default: Duration) -> Duration {
    match config.name {
        name if name.ends_with("-long") && name.starts_with("supervision") => {
            default.max(Duration::from_secs(4 * 3600))
        }
        name if name.starts_with("supervision-campaign") => default.max(Duration::from_secs(600)),
        // A million MINTs and CLOSEs: about 35 s on an idle 2-core host,
        // past 60 on a loaded one. And four files zero-filled to 16 MiB
        // on FAT (37 to 59 s seen; past 60 once, on a loaded host).
        "attack-mint-flood" | "attack-files-fat" => default.max(Duration::from_secs(180)),
        _ => default,
    }
}

/// Judges a finished run's serial output against its configuration: `Ok` if
/// it passed, otherwise every reason it did not, as one sentence.
pub fn judge(config: &QemuTestConfig, serial: &str) -> std::result::Result<(), String> {
    let mut problems = Vec::new();
    match config.outcome {
        Outcome::SelfTestPasses => {
            judge_forbidden(serial, &mut problems);
            judge_summary("selftest", serial, &mut problems);
        }
        Outcome::ProgramsEnd { suite } => {
            if !serial.contains("annulus: every process has ended") {
                problems.push("not every process ended".to_string());
            }
            judge_programs(suite, serial, &mut problems);
        }
        Outcome::ServersRemain { suite, until } => {
            for pattern in until {
                if !serial.lines().any(|line| line_matches(line, pattern)) {
                    problems.push(format!("the run never got to \"{pattern}\""));
                }
            }
            judge_programs(suite, serial, &mut problems);
        }
        Outcome::FatalReport => {}
    }
    // Text over several lines must appear as it is, line after line; a
    // hang dump's lines (a run slower than `hangdump=` seconds: a loaded
    // host) may come anywhere, and are not the run's output.
    let joined = without_hang_dump(&serial.replace('\r', ""));
    for expected in config.expected {
        let found = if expected.contains('\n') {
            joined.contains(expected)
        } else {
            serial.lines().any(|line| line_matches(line, expected))
        };
        if !found {
            problems.push(format!("\"{expected}\" is missing from the log"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// `text` without the kernel's hang-dump lines (`hangdump: ...` up to its
/// end of line, wherever in a line of other output it starts).
fn without_hang_dump(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("hangdump: ") {
        kept.push_str(&rest[..start]);
        rest = match rest[start..].find('\n') {
            Some(end) => &rest[start + end + 1..],
            None => "",
        };
    }
    kept.push_str(rest);
    kept
}

/// The checks of a run of user programs: no panic, no leak, a clean
/// suite summary if a suite is named, and intact output from the programs
/// that print known lines (`bystander`, `chatter`).
fn judge_programs(suite: Option<&str>, serial: &str, problems: &mut Vec<String>) {
    judge_forbidden(serial, problems);
    for line in serial
        .lines()
        .filter(|line| line.contains("leaked frames: "))
    {
        if !line.contains("leaked frames: 0;") {
            problems.push(format!("a process leaked memory: {line:?}"));
        }
    }
    if let Some(suite) = suite {
        judge_summary(suite, serial, problems);
    }
    if serial.contains("annulus: started process") && serial.contains("(bystander)") {
        judge_bystander(serial, problems);
    }
    for tag in chatter_tags(serial) {
        judge_chatter(serial, tag, problems);
    }
}

/// Does `line` contain `pattern`, where a `*` in the pattern stands for any
/// text (within the line)?
fn line_matches(line: &str, pattern: &str) -> bool {
    let mut rest = line;
    for part in pattern.split('*') {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Text that means the kernel failed must not be there.
fn judge_forbidden(serial: &str, problems: &mut Vec<String>) {
    for forbidden in FORBIDDEN {
        if serial.contains(forbidden) {
            problems.push(format!("the log contains \"{forbidden}\""));
        }
    }
}

/// `bystander` prints `bystander: N of 150` for N = 1 to 150, then
/// `bystander: done`: every line must be there, whole, once, in order,
/// whatever ran beside it.
fn judge_bystander(serial: &str, problems: &mut Vec<String>) {
    let lines: Vec<&str> = serial
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| line.starts_with("bystander: "))
        .collect();
    let mut expected: Vec<String> = (1..=150)
        .map(|count| format!("bystander: {count} of 150"))
        .collect();
    expected.push("bystander: done".to_string());
    if lines != expected {
        let first_difference = lines
            .iter()
            .zip(&expected)
            .position(|(line, wanted)| line != wanted)
            .unwrap_or(lines.len().min(expected.len()));
        problems.push(format!(
            "the bystander's output is not intact: line {} is {:?}, expected {:?}",
            first_difference + 1,
            lines.get(first_difference),
            expected.get(first_difference)
        ));
    }
}

/// Lines each `chatter` prints (`init/src/bin/chatter.rs`).
const CHATTER_LINES: usize = 100;

/// Line `count` (from 1) of the `chatter` started with argument `tag`: the
/// same text as `init/src/bin/chatter.rs` makes, 300 letters after a
/// header, so that a line torn by another's output shows.
fn chatter_line(tag: &str, count: usize) -> String {
    let letters: String = (0..300)
        .map(|index| char::from(b'a' + ((count + index) % 26) as u8))
        .collect();
    format!("chatter {tag} {count} of {CHATTER_LINES}: {letters}")
}

/// The tags of the `chatter`s started (`run=chatter:TAG...`): the program's
/// first argument, `x` without one.
fn chatter_tags(serial: &str) -> Vec<&str> {
    serial
        .lines()
        .filter(|line| line.contains("annulus: started process "))
        .filter_map(|line| line.split_once("(chatter").map(|(_, rest)| rest))
        .map(|rest| match rest.strip_prefix(':') {
            Some(argument) => argument.split(['+', ':', ')']).next().unwrap_or_default(),
            None => "x",
        })
        .collect()
}

/// Every line of the `chatter` with `tag` must be there, whole, once each
/// and in order, whatever printed beside it.
fn judge_chatter(serial: &str, tag: &str, problems: &mut Vec<String>) {
    let prefix = format!("chatter {tag} ");
    let lines: Vec<&str> = serial
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .collect();
    let expected: Vec<String> = (1..=CHATTER_LINES)
        .map(|count| chatter_line(tag, count))
        .collect();
    if lines != expected {
        let first_difference = lines
            .iter()
            .zip(&expected)
            .position(|(line, wanted)| line != wanted)
            .unwrap_or(lines.len().min(expected.len()));
        let line = lines.get(first_difference).copied().unwrap_or_default();
        let wanted = expected
            .get(first_difference)
            .map(String::as_str)
            .unwrap_or_default();
        let column = line
            .chars()
            .zip(wanted.chars())
            .position(|(got, want)| got != want)
            .unwrap_or(line.len().min(wanted.len()));
        let from = |text: &str| text.chars().skip(column).take(40).collect::<String>();
        problems.push(format!(
            "chatter {tag}'s output is not intact: line {} differs from character {}: {:?}, expected {:?}",
            first_difference + 1,
            column + 1,
            from(line),
            from(wanted)
        ));
    }
}

/// The checks of a test suite's summary line: there, no failures, not empty.
fn judge_summary(suite: &str, serial: &str, problems: &mut Vec<String>) {
    match find_summary(suite, serial) {
        None => problems.push(format!(
            "no `{suite}: N passed, M failed` line (it stopped or hung before the end)"
        )),
        Some(summary) if summary.failed > 0 => {
            let names = failed_test_names(serial);
            let names = if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            };
            problems.push(format!("{} {suite} test(s) failed{names}", summary.failed));
        }
        Some(summary) if summary.passed == 0 => {
            problems.push(format!("{suite} ran no tests"));
        }
        Some(_) => {}
    }
}

/// The reason given for a run that hit its time limit.
fn timed_out_reason(serial: &str, timeout: Duration) -> String {
    let hint = if find_summary("selftest", serial).is_some() {
        " (the summary was printed, but the machine did not power off)"
    } else {
        ""
    };
    format!("timed out after {} s{hint}", timeout.as_secs())
}

/// The last `<suite>: N passed, M failed` line of a log, read.
fn find_summary(suite: &str, serial: &str) -> Option<TestCounts> {
    let prefix = format!("{suite}: ");
    serial.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once(prefix.as_str())?;
        let (passed, failed) = rest.split_once(',')?;
        Some(TestCounts {
            passed: passed.trim().strip_suffix(" passed")?.trim().parse().ok()?,
            failed: failed
                .trim()
                .trim_end_matches('\r')
                .strip_suffix(" failed")?
                .trim()
                .parse()
                .ok()?,
        })
    })
}

/// The names from `test <name> ... FAILED: <reason>` lines.
fn failed_test_names(serial: &str) -> Vec<&str> {
    serial
        .lines()
        .filter_map(|line| {
            let (test, _) = line.split_once(" ... FAILED")?;
            test.trim().strip_prefix("test ")
        })
        .collect()
}

/// Prints the end of a failed run's serial log, and anything QEMU itself
/// said, so the failure can be read without opening the log.
fn show_failed_run(run: &QemuRun, log_name: &str) {
    let lines: Vec<&str> = run.serial.lines().collect();
    let first_shown = lines.len().saturating_sub(LINES_SHOWN_ON_FAILURE);
    println!(
        "    --- last {} lines of {log_name} ---",
        lines.len() - first_shown
    );
    for line in &lines[first_shown..] {
        println!("    {line}");
    }
    if !run.qemu_messages.trim().is_empty() {
        println!("    --- {QEMU} said ---");
        for line in run.qemu_messages.lines() {
            println!("    {line}");
        }
    }
    println!("    ---");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_keeps_printing_goes_on_and_a_silent_one_is_cut_off() {
        let start = Instant::now();
        let end = start + Duration::from_secs(3600);
        // No silence limit: the end of the run, whenever the output came.
        assert_eq!(run_deadline(end, None, start), end);
        let silence = Some(Duration::from_secs(120));
        // Each piece of output moves the deadline on...
        assert_eq!(
            run_deadline(end, silence, start),
            start + Duration::from_secs(120)
        );
        let later = start + Duration::from_secs(1000);
        assert_eq!(
            run_deadline(end, silence, later),
            later + Duration::from_secs(120)
        );
        // ... but never past the end of the run.
        let last = start + Duration::from_secs(3590);
        assert_eq!(run_deadline(end, silence, last), end);
    }

    const CONFIG: QemuTestConfig = QemuTestConfig {
        name: "test-config",
        machine: &[],
        command_line: "selftest",
        system: None,
        disk: None,
        outcome: Outcome::SelfTestPasses,
        expected: &["GICv3", "memory   256 MiB"],
        input: &[],
    };

    const PASSING_LOG: &str = "\
Annulus: entered at EL1
interrupts GICv3
memory   256 MiB
test frame_allocator ... ok
test page_tables ... ok
selftest: 2 passed, 0 failed
";

    #[test]
    fn passing_log_passes() {
        assert_eq!(judge(&CONFIG, PASSING_LOG), Ok(()));
    }

    #[test]
    fn log_without_summary_fails() {
        let log = PASSING_LOG.replace("selftest: 2 passed, 0 failed\n", "");
        let reason = judge(&CONFIG, &log).unwrap_err();
        assert!(reason.contains("no `selftest"), "{reason}");
    }

    #[test]
    fn failed_self_test_fails_and_is_named() {
        let log = PASSING_LOG
            .replace(
                "test page_tables ... ok",
                "test page_tables ... FAILED: wrong index",
            )
            .replace("2 passed, 0 failed", "1 passed, 1 failed");
        let reason = judge(&CONFIG, &log).unwrap_err();
        assert!(
            reason.contains("1 selftest test(s) failed (page_tables)"),
            "{reason}"
        );
    }

    #[test]
    fn summary_with_no_tests_fails() {
        let log = PASSING_LOG.replace("2 passed, 0 failed", "0 passed, 0 failed");
        assert!(judge(&CONFIG, &log).is_err());
    }

    #[test]
    fn panic_fails_even_with_a_clean_summary() {
        let log = format!("{PASSING_LOG}PANIC at microkernel/src/main.rs:10\n");
        let reason = judge(&CONFIG, &log).unwrap_err();
        assert!(reason.contains("\"PANIC\""), "{reason}");
    }

    #[test]
    fn unexpected_exception_fails() {
        let log = format!("unexpected exception: data abort\n{PASSING_LOG}");
        assert!(judge(&CONFIG, &log).is_err());
    }

    #[test]
    fn rows_that_boot_the_system_run_on_every_system() {
        let system_row = QemuTestConfig {
            name: "shell",
            command_line: HANG_DUMP,
            system: None,
            ..CONFIG
        };
        let run_row = QemuTestConfig {
            name: "ring",
            command_line: "run=ringtest",
            system: None,
            ..CONFIG
        };
        let self_test = QemuTestConfig {
            name: "machine",
            command_line: "selftest",
            system: None,
            ..CONFIG
        };
        let built = [("default".to_string(), 1), ("fat".to_string(), 2)];
        let runs = runs_on_systems(&[&system_row, &run_row, &self_test], &built);
        let names: Vec<(&str, i32)> = runs
            .iter()
            .map(|(name, _, build)| (name.as_str(), **build))
            .collect();
        assert_eq!(
            names,
            [("shell", 1), ("shell@fat", 2), ("ring", 1), ("machine", 1)]
        );
    }

    #[test]
    fn text_over_several_lines_must_appear_in_order() {
        let config = QemuTestConfig {
            expected: &["$ ls\nb\nc\n"],
            ..CONFIG
        };
        let passing = format!("{PASSING_LOG}$ ls\r\nb\r\nc\r\n");
        let failing = format!("{PASSING_LOG}$ ls\r\nc\r\nb\r\n");
        assert!(judge(&config, &failing).is_err());
        assert!(
            judge(&config, &passing).is_ok(),
            "{:?}",
            judge(&config, &passing)
        );
    }

    #[test]
    fn missing_expected_text_fails() {
        let log = PASSING_LOG.replace("GICv3", "GICv2");
        let reason = judge(&CONFIG, &log).unwrap_err();
        assert_eq!(reason, "\"GICv3\" is missing from the log");
    }

    #[test]
    fn a_hang_dump_between_lines_is_not_output() {
        let serial = "annulus:/$ yes | head\r\nhangdump: at 20009 ms\r\nhangdump: process 1 (init): 0 ready\r\nhead: done\r\nannulus:/$ hangdump: late\r\nls\r\n";
        assert_eq!(
            without_hang_dump(&serial.replace('\r', "")),
            "annulus:/$ yes | head\nhead: done\nannulus:/$ ls\n"
        );
        assert_eq!(without_hang_dump("no dump"), "no dump");
        assert_eq!(without_hang_dump("cut hangdump: at"), "cut ");
    }

    #[test]
    fn timed_out_run_says_whether_the_summary_came() {
        let timeout = Duration::from_secs(60);
        assert_eq!(timed_out_reason("", timeout), "timed out after 60 s");
        assert!(timed_out_reason(PASSING_LOG, timeout).contains("did not power off"));
    }

    #[test]
    fn fatal_report_is_judged_by_its_text_alone() {
        const FATAL: QemuTestConfig = QemuTestConfig {
            name: "fatal",
            machine: &[],
            command_line: "crash=panic",
            system: None,
            disk: None,
            outcome: Outcome::FatalReport,
            expected: &["KERNEL PANIC at", "powering off"],
            input: &[],
        };
        let log = "KERNEL PANIC at microkernel/src/main.rs:1: boom\nannulus: powering off\n";
        assert_eq!(
            judge(&FATAL, log),
            Ok(()),
            "no summary is needed, and PANIC is wanted"
        );
        let reason = judge(&FATAL, "KERNEL PANIC at x\n").unwrap_err();
        assert!(reason.contains("powering off"), "{reason}");
    }

    const PROGRAMS: QemuTestConfig = QemuTestConfig {
        name: "programs",
        machine: &[],
        command_line: "run=bystander,hostile",
        system: None,
        disk: None,
        outcome: Outcome::ProgramsEnd { suite: None },
        expected: &["hostile: done"],
        input: &[],
    };

    fn programs_log(bystander_lines: impl Iterator<Item = String>) -> String {
        let mut log = String::from("annulus: started process 1 (bystander)\nhostile: done\n");
        for line in bystander_lines {
            log.push_str(&line);
            log.push('\n');
        }
        log.push_str("process 1 (bystander): leaked frames: 0; free frames 9 before, 9 after, kernel heap +0 pages: free-frame change +0\n");
        log.push_str("annulus: every process has ended\n");
        log
    }

    fn bystander_lines() -> impl Iterator<Item = String> {
        (1..=150)
            .map(|count| format!("bystander: {count} of 150"))
            .chain(["bystander: done".to_string()])
    }

    #[test]
    fn intact_bystander_and_no_leak_pass() {
        assert_eq!(judge(&PROGRAMS, &programs_log(bystander_lines())), Ok(()));
    }

    #[test]
    fn a_missing_or_torn_bystander_line_fails() {
        let missing = programs_log(bystander_lines().filter(|line| line != "bystander: 77 of 150"));
        assert!(judge(&PROGRAMS, &missing).unwrap_err().contains("line 77"));
        let torn = programs_log(bystander_lines().map(|line| line.replace("90 of", "90 xf")));
        assert!(judge(&PROGRAMS, &torn).unwrap_err().contains("not intact"));
    }

    #[test]
    fn a_leak_or_a_process_left_running_fails() {
        let leak =
            programs_log(bystander_lines()).replace("leaked frames: 0;", "leaked frames: 3;");
        assert!(judge(&PROGRAMS, &leak).unwrap_err().contains("leaked"));
        let running =
            programs_log(bystander_lines()).replace("annulus: every process has ended\n", "");
        assert!(
            judge(&PROGRAMS, &running)
                .unwrap_err()
                .contains("not every process ended")
        );
    }

    #[test]
    fn stars_in_expected_text_match_within_one_line() {
        assert!(line_matches(
            "a: leaked frames: 0; free 9, change +0",
            "leaked frames: 0; * change +0"
        ));
        assert!(!line_matches(
            "a: leaked frames: 0; free 9, change +4",
            "leaked frames: 0; * change +0"
        ));
        let log = "x: leaked frames: 0; free 1\ny: change +0\n";
        assert!(
            !log.lines()
                .any(|line| line_matches(line, "leaked frames: 0; * change +0"))
        );
    }

    const CONSOLE: QemuTestConfig = QemuTestConfig {
        name: "console",
        machine: &[],
        command_line: "run=console+serve=console,chatter:a+use=console,chatter:b+use=console",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &[
                "process 2 (chatter): leaked frames",
                "process 3 (chatter): leaked frames",
            ],
        },
        expected: &[],
        input: &[],
    };

    fn chatter_log(tear: Option<(&str, usize)>) -> String {
        let mut log = String::from(
            "annulus: started process 1 (console+serve=console)\n\
             annulus: started process 2 (chatter:a+use=console)\n\
             annulus: started process 3 (chatter:b+use=console)\n",
        );
        for count in 1..=CHATTER_LINES {
            for tag in ["a", "b"] {
                let mut line = chatter_line(tag, count);
                if tear == Some((tag, count)) {
                    line.insert_str(100, "process 9 (x): exited with code 0\n");
                }
                log.push_str(&line);
                log.push('\n');
            }
        }
        log.push_str("process 2 (chatter): leaked frames: 0; free frames 1 before\n");
        log.push_str("process 3 (chatter): leaked frames: 0; free frames 1 before\n");
        log
    }

    #[test]
    fn a_run_beside_servers_needs_its_until_lines_not_the_end_of_every_process() {
        assert_eq!(judge(&CONSOLE, &chatter_log(None)), Ok(()));
        let unfinished = chatter_log(None).replace(
            "process 3 (chatter): leaked frames: 0; free frames 1 before\n",
            "",
        );
        let reason = judge(&CONSOLE, &unfinished).unwrap_err();
        assert!(
            reason.contains("never got to \"process 3 (chatter)"),
            "{reason}"
        );
    }

    #[test]
    fn a_torn_chatter_line_is_found_and_placed() {
        let reason = judge(&CONSOLE, &chatter_log(Some(("b", 42)))).unwrap_err();
        assert!(
            reason.contains("chatter b's output is not intact: line 42 differs from character 101"),
            "{reason}"
        );
        assert!(!reason.contains("chatter a's"), "{reason}");
    }

    #[test]
    fn chatter_tags_come_from_the_started_programs() {
        let log = "annulus: started process 1 (chatter:left+use=console)\n\
                   annulus: started process 2 (chatter)\n\
                   annulus: started process 3 (bystander)\n";
        assert_eq!(chatter_tags(log), ["left", "x"]);
        assert!(chatter_line("a", 3).starts_with("chatter a 3 of 100: defg"));
        assert_eq!(
            chatter_line("a", 3).len(),
            "chatter a 3 of 100: ".len() + 300
        );
    }

    #[test]
    fn every_row_with_input_waits_for_something_it_can_print() {
        for config in QEMU_TESTS {
            for (wait_for, send) in config.input {
                assert!(!send.is_empty(), "{}: a step sends nothing", config.name);
                // The console ends its lines with \r\n: a bare \n never comes.
                assert!(
                    !wait_for.replace("\r\n", "").contains('\n'),
                    "{}: the output has \\r\\n, never a bare \\n",
                    config.name
                );
            }
        }
    }

    #[test]
    fn matrix_names_are_unique_and_usable_as_file_names() {
        let all: Vec<&QemuTestConfig> = QEMU_TESTS.iter().chain(LONG_QEMU_TESTS).collect();
        for (index, config) in all.iter().enumerate() {
            assert!(!config.name.contains(['/', ' ']), "{}", config.name);
            assert!(
                all[index + 1..]
                    .iter()
                    .all(|other| other.name != config.name),
                "{} appears twice",
                config.name
            );
        }
    }
}
