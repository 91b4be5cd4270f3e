//! `cargo xtask`: builds, runs, tests and debugs Annulus.
//!
//! The kernel cannot be built by a plain `cargo build`: it needs another target
//! (`aarch64-unknown-none-softfloat`), then its ELF must become the raw "Image"
//! that QEMU's `-kernel` loads, and the boot files must be packed into an
//! initrd. This program does those steps, so every developer and CI run them
//! the same way. It is an ordinary host program, written with `std` only (plus
//! an ELF reader and a cpio writer), in the "xtask" pattern: `.cargo/config.toml`
//! makes `cargo xtask ARGS` mean `cargo run --package xtask -- ARGS`.
//!
//! # Layout
//! - [`arguments`] parses the command line into a [`arguments::Command`].
//! - [`workspace`] knows where things live (workspace root, target folder).
//! - [`tools`] checks for (and installs) the Rust target and QEMU.
//! - [`build`] is `build`, the pipeline from sources to Image and initrd.
//! - [`kernel_image`] and [`initrd`] are its two conversions, pure and tested.
//! - [`qemu`] is `run` and `gdb`.
//! - [`host_tests`] and [`qemu_tests`] are `test`; [`serial`] reads and
//!   types on a test run's serial port.
//! - [`clippy`] is `clippy`; [`bench`] is `bench`, [`profile`] is `profile`.
//!
//! # Principles
//! - Every step prints one short line starting with `xtask:`, so a failure is
//!   easy to place.
//! - Errors are sentences for the user. Nothing here recovers from an error:
//!   it is printed and the program exits non-zero.
//! - The logic worth testing (ELF conversion, cpio packing, argument parsing,
//!   judging test output) is pure and has unit tests under `cargo test`.

mod arguments;
mod bench;
mod build;
mod clippy;
mod disks;
mod host_tests;
mod initrd;
mod kernel_image;
mod linux;
mod power_cut;
mod profile;
mod qemu;
mod qemu_tests;
mod serial;
mod strip;
mod system;
mod tools;
mod workspace;

use std::process::ExitCode;

use arguments::Command;
use workspace::Workspace;

/// Every fallible step returns this: the error is a sentence for the user.
pub type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let command_line: Vec<String> = std::env::args().skip(1).collect();
    let command = match arguments::parse(&command_line) {
        Ok(command) => command,
        Err(message) if command_line.is_empty() => {
            eprintln!("xtask: {message}");
            eprint!("{}", arguments::USAGE);
            return ExitCode::from(2);
        }
        Err(message) => {
            eprintln!("xtask: {message}");
            eprintln!("xtask: `cargo xtask help` lists the commands and their options");
            return ExitCode::from(2);
        }
    };

    // Ok(true): done. Ok(false): the command ran, and what it checked
    // failed (a test, a lint); it has said what. Err: it could not run.
    let workspace = Workspace::locate();
    let outcome = match command {
        Command::Help => {
            print!("{}", arguments::USAGE);
            Ok(true)
        }
        Command::Build { profile } => build::build(&workspace, profile).map(|_| true),
        Command::Run(options) => qemu::run(&workspace, &options).map(|()| true),
        Command::Gdb(options) => qemu::gdb(&workspace, &options).map(|()| true),
        Command::Test(options) => run_tests(&workspace, &options),
        Command::Clippy => clippy::clippy(&workspace),
        Command::Bench {
            quick,
            system,
            against_linux,
        } => bench::bench(&workspace, quick, system.as_deref()).and_then(|complete| {
            if against_linux {
                linux::against_linux(&workspace).map(|linux| complete && linux)
            } else {
                Ok(complete)
            }
        }),
        Command::Profile { figure, steps } => profile::profile(&workspace, &figure, steps),
    };

    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test`: host unit tests, then the QEMU matrix, then one
/// summary line. Returns whether everything passed.
fn run_tests(workspace: &Workspace, options: &arguments::TestOptions) -> Result<bool> {
    let filter = options.filter.as_deref();

    // Check the tools first, so a missing QEMU is reported before the (long)
    // host test run rather than after it.
    if options.run_qemu {
        tools::ensure_rust_target(workspace)?;
        tools::ensure_qemu()?;
    }

    let mut totals = TestCounts::default();
    if options.run_host {
        totals.add(host_tests::run(workspace, filter)?);
    }
    if options.run_qemu {
        totals.add(qemu_tests::run(workspace, options)?);
    }

    // The last line, alone, is what CI reads.
    println!("{} passed, {} failed", totals.passed, totals.failed);
    Ok(totals.failed == 0)
}

/// How many tests passed and failed, added up across the host and QEMU runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
}

impl TestCounts {
    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}
