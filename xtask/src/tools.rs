//! The outside programs xtask needs, and how it runs them.
//!
//! Three tools do not come with cargo: the Rust standard library for the
//! kernel target, QEMU, and (for systems with a disk) the FAT tools. Each is
//! checked before it is needed. Where installing is
//! safe to do unasked (rustup; apt-get when we already are root, as on CI)
//! xtask installs it and says so; otherwise it prints the one command that
//! would, and stops.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;
use crate::workspace::{KERNEL_TARGET, Workspace};

/// The QEMU that emulates a 64-bit Arm machine.
pub const QEMU: &str = "qemu-system-aarch64";

/// The Debian package that has [`QEMU`].
const QEMU_PACKAGE: &str = "qemu-system-arm";

/// A `cargo` command started in the workspace root. Uses the cargo that runs
/// xtask (`$CARGO`), so both use the same toolchain.
pub fn cargo(workspace: &Workspace) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(&workspace.root);
    command
}

/// Runs a command with the terminal as its input and output, and turns a
/// non-zero exit into an error that shows the command.
pub fn run_to_completion(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", show_command(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", show_command(command)))
    }
}

/// Runs a command and returns its standard output as text; a non-zero
/// exit is an error that shows the command.
pub fn output_of(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot start `{}`: {error}", show_command(command)))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({})",
            show_command(command),
            output.status
        ));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("`{}` printed something not UTF-8", show_command(command)))
}

/// The full path of a program on `$PATH`, like the shell's `command -v`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;

    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| {
            candidate.metadata().is_ok_and(|metadata| {
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
}

/// Makes sure the standard library for [`KERNEL_TARGET`] is installed for
/// the toolchain this workspace uses (the one `rust-toolchain.toml` pins).
pub fn ensure_rust_target(workspace: &Workspace) -> Result<()> {
    // `rustup target list --installed`, asked in the workspace root so that
    // rust-toolchain.toml picks the toolchain, answers exactly this.
    if rust_target_installed(workspace)? {
        return Ok(());
    }
    let install = format!("rustup target add {KERNEL_TARGET}");
    if find_program("rustup").is_none() {
        return Err(format!(
            "the Rust target {KERNEL_TARGET} is not installed; install it with: {install}"
        ));
    }
    println!("xtask: installing the Rust target: {install}");
    run_to_completion(
        Command::new("rustup")
            .args(["target", "add", KERNEL_TARGET])
            .current_dir(&workspace.root),
    )
}

fn rust_target_installed(workspace: &Workspace) -> Result<bool> {
    if find_program("rustup").is_none() {
        // Without rustup (a distribution's Rust, say) the target can only
        // come with the toolchain; look for it in the compiler's sysroot.
        let output = Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(&workspace.root)
            .output()
            .map_err(|error| format!("cannot run rustc: {error}"))?;
        let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let library = PathBuf::from(sysroot)
            .join("lib/rustlib")
            .join(KERNEL_TARGET);
        return Ok(library.is_dir());
    }
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(&workspace.root)
        .output()
        .map_err(|error| format!("cannot run rustup: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let installed = String::from_utf8_lossy(&output.stdout);
    Ok(installed.lines().any(|line| line.trim() == KERNEL_TARGET))
}

/// Makes sure [`QEMU`] is on `$PATH`, installing it with apt-get when we are
/// root on a Debian-like system (CI is).
pub fn ensure_qemu() -> Result<()> {
    ensure_program(QEMU, QEMU_PACKAGE)
}

/// The debugger `cargo xtask profile` (and `gdb`) drive QEMU's gdb
/// server with; installed like QEMU when missing.
pub const GDB: &str = "gdb-multiarch";

pub fn ensure_gdb() -> Result<()> {
    ensure_program(GDB, "gdb-multiarch")
}

/// The FAT tools a system's disk is made with, and its tests check it
/// with: `mkfs.fat` and `fsck.fat` (dosfstools), `mcopy`, `mmd`, `mtype`
/// (mtools). Installed like QEMU when missing.
pub fn ensure_fat_tools() -> Result<()> {
    ensure_program(MKFS_FAT, "dosfstools")?;
    ensure_program(FSCK_FAT, "dosfstools")?;
    ensure_program("mcopy", "mtools")
}

/// `mkfs.fat` and `fsck.fat` live in /usr/sbin, which a user's PATH may
/// not have; they are found there too.
pub const MKFS_FAT: &str = "mkfs.fat";
pub const FSCK_FAT: &str = "fsck.fat";

/// The path of a program, looked for on PATH and in /usr/sbin and /sbin.
pub fn program_path(name: &str) -> PathBuf {
    find_program(name)
        .or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|directory| Path::new(directory).join(name))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Makes sure `program` is there: if not, and we are root with apt-get
/// (CI, a fresh Debian machine), installs `package`; otherwise says how.
pub fn ensure_program(program: &str, package: &str) -> Result<()> {
    if program_path(program).is_absolute() {
        return Ok(());
    }
    let can_install = running_as_root() && find_program("apt-get").is_some();
    if !can_install {
        return Err(format!(
            "{program} not found; install it with: \
             sudo apt-get install -y --no-install-recommends {package}"
        ));
    }
    println!(
        "xtask: {program} not found; installing it: apt-get update, then \
         apt-get install -y --no-install-recommends {package}"
    );
    run_to_completion(Command::new("apt-get").arg("update"))?;
    run_to_completion(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !program_path(program).is_absolute() {
        return Err(format!(
            "installed {package}, but {program} is still not there"
        ));
    }
    Ok(())
}

/// Whether we run as root, asked of `id -u` so that no extra crate is needed.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// A command as one line the user could paste into a shell.
pub fn show_command(command: &Command) -> String {
    // The full path of cargo (from $CARGO) is noise: a plain `cargo` in the
    // workspace picks the same toolchain.
    let program = command.get_program();
    let program = match Path::new(program).file_name() {
        Some(name) if name == "cargo" => name,
        _ => program,
    };
    std::iter::once(program)
        .chain(command.get_args())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a word for a POSIX shell, only when it needs quoting.
fn shell_quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain =
        |character: char| character.is_ascii_alphanumeric() || "-_./=:,+@%".contains(character);
    if !word.is_empty() && word.chars().all(plain) {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_with_shell_quoting_where_needed() {
        let mut command = Command::new("qemu-system-aarch64");
        command.args(["-M", "virt,gic-version=3", "-append", "two words", "it's"]);
        assert_eq!(
            show_command(&command),
            r"qemu-system-aarch64 -M virt,gic-version=3 -append 'two words' 'it'\''s'"
        );
    }
}
