//! `cargo xtask clippy`: the linter, on both kinds of build.
//!
//! The host build (every crate, tests included) and the kernel-target build
//! compile different code (`cfg(target_os = "none")`, `cfg(test)`), so both
//! are linted. Warnings are errors, as in CI.

use crate::workspace::{KERNEL_TARGET, Workspace};
use crate::{Result, build, tools};

/// Runs the three clippy passes; returns whether all were clean.
pub fn clippy(workspace: &Workspace) -> Result<bool> {
    tools::ensure_rust_target(workspace)?;

    // The host pass covers the default members: every crate but the user
    // programs in init/, which only build for the kernel's target.
    let host_pass = ["clippy", "--all-targets", "--", "-D", "warnings"].map(String::from);
    let kernel_pass = [
        "clippy",
        "--package",
        "microkernel",
        "--package",
        "boot",
        "--target",
        KERNEL_TARGET,
        "--",
        "-D",
        "warnings",
    ]
    .map(String::from);

    // The user programs (init's and every server's), with libring's
    // runtime, for the kernel's target; and the program `bench --against
    // linux` boots Linux with (`xtask/linux-bench`), built the same way.
    let servers = build::server_names(&workspace.root.join("servers"))?;
    let mut programs_pass = vec!["clippy".to_string()];
    programs_pass.extend(build::program_packages(&servers));
    programs_pass.extend(["--package", "linuxbench"].map(String::from));
    programs_pass.extend(["--target", KERNEL_TARGET, "--", "-D", "warnings"].map(String::from));

    let mut all_clean = true;
    // Every pass runs even if one fails, so one run shows everything.
    for arguments in [
        host_pass.as_slice(),
        kernel_pass.as_slice(),
        programs_pass.as_slice(),
    ] {
        let mut cargo = tools::cargo(workspace);
        cargo.args(arguments);
        println!("xtask: {}", tools::show_command(&cargo));
        if let Err(message) = tools::run_to_completion(&mut cargo) {
            println!("xtask: {message}");
            all_clean = false;
        }
    }
    if all_clean {
        println!("xtask: clippy is clean");
    }
    Ok(all_clean)
}
