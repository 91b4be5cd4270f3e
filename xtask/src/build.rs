//! `cargo xtask build`: from sources to the two files QEMU boots.
//!
//! 1. cargo builds the `microkernel` binary for the kernel target: an ELF.
//! 2. [`kernel_image`] turns the ELF into `target/annulus/<profile>/Image`.
//! 3. cargo builds the user programs (the `init` crate's binaries) for the
//!    same target, in a separate run so libring's `runtime` feature never
//!    reaches the kernel's copy of libring.
//! 4. [`initrd`] packs `boot/initrd/` and the programs (as `bin/<name>`)
//!    into `target/annulus/initrd.cpio`.
//!
//! `run`, `test` and `gdb` call [`build`] first, so they always boot what the
//! sources say.

use std::path::PathBuf;

use crate::workspace::{KERNEL_TARGET, Profile, Workspace};
use crate::{Result, initrd, kernel_image, tools};

/// The outputs of a build.
pub struct BuiltKernel {
    /// The linked kernel, with its symbols: what gdb reads.
    pub elf: PathBuf,
    /// The raw Image: what QEMU's `-kernel` loads.
    pub image: PathBuf,
    /// The packed boot files: what QEMU's `-initrd` loads.
    pub initrd: PathBuf,
}

/// Builds the kernel Image and the initrd.
pub fn build(workspace: &Workspace, profile: Profile) -> Result<BuiltKernel> {
    tools::ensure_rust_target(workspace)?;

    let mut cargo = tools::cargo(workspace);
    cargo.args([
        "build",
        "--package",
        "microkernel",
        "--bin",
        "microkernel",
        "--target",
        KERNEL_TARGET,
    ]);
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    tools::run_to_completion(&mut cargo)?;

    let elf = workspace.kernel_elf(profile);
    let elf_bytes = std::fs::read(&elf)
        .map_err(|error| format!("cannot read the kernel ELF {}: {error}", elf.display()))?;
    let image_bytes = kernel_image::elf_to_image(&elf_bytes)?;
    let image = workspace.kernel_image(profile);
    write_file(&image, &image_bytes)?;
    println!(
        "xtask: built {} ({} KiB)",
        workspace.show(&image),
        kibibytes(image_bytes.len())
    );

    let initrd_source = workspace.initrd_source();
    if !initrd_source.is_dir() {
        println!(
            "xtask: {} does not exist; the initrd will be empty",
            workspace.show(&initrd_source)
        );
    }
    let programs = build_programs(workspace, profile)?;
    let initrd_bytes = initrd::pack(&initrd_source, &programs)?;
    let initrd = workspace.initrd();
    write_file(&initrd, &initrd_bytes)?;
    println!(
        "xtask: packed {} into {} ({} KiB)",
        workspace.show(&initrd_source),
        workspace.show(&initrd),
        kibibytes(initrd_bytes.len())
    );

    Ok(BuiltKernel { elf, image, initrd })
}

/// Builds the user programs (the `init` crate's binaries) for the kernel's
/// target and returns each one's name and ELF file, for `bin/` in the
/// initrd.
fn build_programs(workspace: &Workspace, profile: Profile) -> Result<Vec<(String, Vec<u8>)>> {
    let mut cargo = tools::cargo(workspace);
    cargo.args([
        "build",
        "--package",
        "init",
        "--bins",
        "--target",
        KERNEL_TARGET,
    ]);
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    tools::run_to_completion(&mut cargo)?;
    let mut programs = Vec::new();
    for name in program_names(workspace)? {
        let path = workspace.program_elf(profile, &name);
        let elf = std::fs::read(&path)
            .map_err(|error| format!("cannot read the program {}: {error}", path.display()))?;
        programs.push((name, elf));
    }
    Ok(programs)
}

/// The `init` crate's binaries: `init` itself (src/main.rs) and one per
/// file in `init/src/bin/`.
fn program_names(workspace: &Workspace) -> Result<Vec<String>> {
    let mut names = vec!["init".to_string()];
    let folder = workspace.root.join("init").join("src").join("bin");
    let listing = std::fs::read_dir(&folder)
        .map_err(|error| format!("cannot list {}: {error}", folder.display()))?;
    for item in listing {
        let path = item
            .map_err(|error| format!("cannot list {}: {error}", folder.display()))?
            .path();
        if path.extension().is_some_and(|extension| extension == "rs")
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Writes a file, making its folder first.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    }
    std::fs::write(path, bytes).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// A size in KiB, rounded up so that a small file never shows as 0.
fn kibibytes(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}
