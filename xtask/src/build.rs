//! `cargo xtask build`: from sources to the two files QEMU boots.
//!
//! 1. cargo builds the `microkernel` binary for the kernel target: an ELF.
//! 2. [`kernel_image`] turns the ELF into `target/annulus/<profile>/Image`.
//! 3. cargo builds the user programs for the same target, in a separate
//!    run so libring's `runtime` feature never reaches the kernel's copy of
//!    libring: the `init` crate's binaries and every server, one crate per
//!    folder of `servers/` that has a `Cargo.toml`, whose binary is named
//!    like its folder ([`server_names`]). All in one cargo invocation, so
//!    they share one build of libring.
//! 4. [`initrd`] packs `boot/initrd/` and the programs (as `bin/<name>`)
//!    into `target/annulus/initrd.cpio`.
//!
//! `run`, `test` and `gdb` call [`build`] first, so they always boot what the
//! sources say.

use std::path::{Path, PathBuf};

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
    /// The system's disk as built, if its manifest asks for one: a run
    /// boots a copy of it (`cargo xtask run` keeps its copy).
    pub disk: Option<PathBuf>,
    /// The line init prints as it starts each server of the manifest.
    pub started: Vec<String>,
}

/// Builds the kernel Image and the initrd.
pub fn build(workspace: &Workspace, profile: Profile) -> Result<BuiltKernel> {
    build_system(workspace, profile, DEFAULT_SYSTEM)
}

/// The system `run`, `test` and `bench` boot unless told otherwise.
pub const DEFAULT_SYSTEM: &str = "default";

/// [`build`], with the system manifest `systems/<system>.toml`.
pub fn build_system(workspace: &Workspace, profile: Profile, system: &str) -> Result<BuiltKernel> {
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
    let (manifest, roles, disk) = system_manifest(workspace, system, &programs)?;
    let generated = [("etc/system".to_string(), manifest.into_bytes())];
    let initrd_bytes = initrd::pack(&initrd_source, &programs, &generated)?;
    // The default system's boot image keeps its old name; another
    // system's goes beside it.
    let initrd = if system == DEFAULT_SYSTEM {
        workspace.initrd()
    } else {
        workspace
            .annulus_directory()
            .join(format!("initrd-{system}.cpio"))
    };
    write_file(&initrd, &initrd_bytes)?;
    println!(
        "xtask: packed {} into {} ({} KiB)",
        workspace.show(&initrd_source),
        workspace.show(&initrd),
        kibibytes(initrd_bytes.len())
    );

    // The system's disk, as built: runs start from a copy of it.
    let disk = match disk {
        Some(disk) => {
            let path = workspace
                .annulus_directory()
                .join(format!("disk-{system}.built.img"));
            let files = initrd::files(&initrd_source, &programs, &generated)?;
            crate::disks::make_system_disk(&path, disk.size_mib, &files)?;
            println!(
                "xtask: made {} (FAT32, {} MiB)",
                workspace.show(&path),
                disk.size_mib
            );
            Some(path)
        }
        None => None,
    };
    // What init says as it starts each server, in start order (init is
    // process 1, the servers 2, 3, ...).
    let started = roles
        .iter()
        .filter(|role| role.name != "shell")
        .enumerate()
        .map(|(index, role)| {
            format!(
                "init: started {} ({}, process {})",
                role.name,
                role.program,
                index + 2
            )
        })
        .collect();
    Ok(BuiltKernel {
        elf,
        image,
        initrd,
        disk,
        started,
    })
}

/// The systems of the workspace: the names of `systems/*.toml`, sorted,
/// the default first.
pub fn system_names(workspace: &Workspace) -> Result<Vec<String>> {
    let folder = workspace.root.join("systems");
    let listing = std::fs::read_dir(&folder)
        .map_err(|error| format!("cannot list {}: {error}", workspace.show(&folder)))?;
    let mut names = Vec::new();
    for item in listing {
        let path = item
            .map_err(|error| format!("cannot list {}: {error}", workspace.show(&folder)))?
            .path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            names.push(stem.to_string());
        }
    }
    names.sort_by_key(|name| (name != DEFAULT_SYSTEM, name.clone()));
    Ok(names)
}

/// Reads and checks `systems/<system>.toml` against the programs just
/// built, and returns the manifest init reads (`etc/system`), the roles
/// in start order and the disk the system asks for.
fn system_manifest(
    workspace: &Workspace,
    system: &str,
    programs: &[(String, Vec<u8>)],
) -> Result<(
    String,
    Vec<crate::system::Role>,
    Option<crate::system::Disk>,
)> {
    let path = workspace
        .root
        .join("systems")
        .join(format!("{system}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "no system called {system}: cannot read {}: {error}",
            workspace.show(&path)
        )
    })?;
    let names: Vec<String> = programs.iter().map(|(name, _)| name.clone()).collect();
    let shown = workspace.show(&path);
    let roles = crate::system::parse(&shown, &text, &names)?;
    let disk = crate::system::disk(&shown, &text)?;
    Ok((crate::system::manifest_text(system, &roles), roles, disk))
}

/// Builds the user programs (the `init` crate's binaries and one binary
/// per server crate) for the kernel's target and returns each one's name
/// and ELF file, for `bin/` in the initrd.
fn build_programs(workspace: &Workspace, profile: Profile) -> Result<Vec<(String, Vec<u8>)>> {
    let servers = server_names(&workspace.root.join("servers"))?;
    check_members(&workspace.root, &servers)?;
    let mut cargo = tools::cargo(workspace);
    cargo.arg("build");
    cargo.args(program_packages(&servers));
    cargo.args(["--bins", "--target", KERNEL_TARGET]);
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    tools::run_to_completion(&mut cargo)?;
    let mut names = program_names(workspace)?;
    for server in servers {
        if names.contains(&server) {
            return Err(format!(
                "servers/{server} and init/ both make a program called {server}: \
                 bin/{server} can only be one of them"
            ));
        }
        names.push(server);
    }
    let mut programs = Vec::new();
    for name in names {
        let path = workspace.program_elf(profile, &name);
        let elf = std::fs::read(&path)
            .map_err(|error| format!("cannot read the program {}: {error}", path.display()))?;
        // Only what the kernel loads goes into the initrd (see strip.rs).
        let stripped = crate::strip::strip_program(&elf)
            .map_err(|error| format!("cannot strip {}: {error}", path.display()))?;
        programs.push((name, stripped));
    }
    Ok(programs)
}

/// `--package` arguments for every crate of user programs: `init` and each
/// server. (`cargo xtask clippy` lints the same list.)
pub fn program_packages(servers: &[String]) -> Vec<String> {
    std::iter::once("init")
        .chain(servers.iter().map(String::as_str))
        .flat_map(|package| ["--package".to_string(), package.to_string()])
        .collect()
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

/// The server crates: every folder of `servers` (the workspace's
/// `servers/`) that holds a `Cargo.toml`, sorted. Each is a package named
/// like its folder, whose binary has that name too. A folder without a
/// `Cargo.toml` (notes, a server not started yet) is not a crate, and a
/// missing `servers/` means no servers. Nothing else is skipped: a crate
/// listed here that does not build fails the build.
/// Each server crate must be a member of the workspace (the root
/// `Cargo.toml` lists them by name); says which one is not, and how to
/// add it.
pub fn check_members(root: &Path, servers: &[String]) -> Result<()> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let parsed: toml::Table =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", manifest.display()))?;
    let members: Vec<&str> = parsed
        .get("workspace")
        .and_then(|workspace| workspace.get("members"))
        .and_then(|members| members.as_array())
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member.as_str())
                .collect()
        })
        .unwrap_or_default();
    for server in servers {
        let member = format!("servers/{server}");
        if !members.contains(&member.as_str()) && !members.contains(&"servers/*") {
            return Err(format!(
                "servers/{server} is a crate but not in the workspace: add \"{member}\" to members in Cargo.toml"
            ));
        }
    }
    Ok(())
}

pub fn server_names(servers: &Path) -> Result<Vec<String>> {
    let listing = match std::fs::read_dir(servers) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("cannot list {}: {error}", servers.display())),
    };
    let mut names = Vec::new();
    for item in listing {
        let path = item
            .map_err(|error| format!("cannot list {}: {error}", servers.display()))?
            .path();
        if !path.join("Cargo.toml").is_file() {
            if path.is_dir() {
                println!(
                    "xtask: {} has no Cargo.toml: not a server (yet); left out",
                    path.display()
                );
            }
            continue;
        }
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .filter(|name| is_package_name(name))
            .ok_or_else(|| {
                format!(
                    "{} holds a crate, but its folder name is not a usable package name",
                    path.display()
                )
            })?;
        names.push(name.to_string());
    }
    names.sort();
    Ok(names)
}

/// Could `name` be a cargo package and binary name (and a file in the
/// initrd's `bin/`)?
fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character))
}

/// Writes a file, making its folder first.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty folder under the system's temporary folder.
    fn scratch_folder(test: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("annulus-xtask-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    fn make_crate(servers: &Path, name: &str) {
        std::fs::create_dir_all(servers.join(name).join("src")).unwrap();
        std::fs::write(servers.join(name).join("Cargo.toml"), "[package]\n").unwrap();
    }

    #[test]
    fn every_folder_with_a_cargo_toml_is_a_server_in_sorted_order() {
        let servers = scratch_folder("servers-found");
        make_crate(&servers, "testserver");
        make_crate(&servers, "console");
        // Not crates: a folder without a manifest, and a loose file.
        std::fs::create_dir_all(servers.join("fs")).unwrap();
        std::fs::write(servers.join("README.md"), "notes").unwrap();
        assert_eq!(
            server_names(&servers).unwrap(),
            ["console", "testserver"],
            "sorted, and only the crates"
        );
        std::fs::remove_dir_all(&servers).unwrap();
    }

    #[test]
    fn a_server_crate_missing_from_the_workspace_is_named_with_the_fix() {
        let root = scratch_folder("members");
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"servers/console\", \"xtask\"]\n",
        )
        .unwrap();
        assert_eq!(check_members(&root, &["console".to_string()]), Ok(()));
        let error = check_members(&root, &["console".to_string(), "kv".to_string()]).unwrap_err();
        assert!(
            error.contains("servers/kv is a crate but not in the workspace: add \"servers/kv\""),
            "{error}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_servers_folder_means_no_servers() {
        let missing = scratch_folder("servers-missing").join("servers");
        assert_eq!(server_names(&missing).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_crate_folder_that_cannot_be_a_package_name_is_an_error() {
        let servers = scratch_folder("servers-bad-name");
        make_crate(&servers, "my server");
        let error = server_names(&servers).unwrap_err();
        assert!(error.contains("my server"), "{error}");
        std::fs::remove_dir_all(&servers).unwrap();
    }

    #[test]
    fn init_and_every_server_are_built_in_one_cargo_run() {
        let servers = ["console".to_string(), "testserver".to_string()];
        assert_eq!(
            program_packages(&servers),
            [
                "--package",
                "init",
                "--package",
                "console",
                "--package",
                "testserver"
            ]
        );
        assert_eq!(program_packages(&[]), ["--package", "init"]);
    }

    #[test]
    fn package_names_are_words_dashes_and_underscores() {
        for good in ["console", "test-server", "fs_ram2"] {
            assert!(is_package_name(good), "{good}");
        }
        for bad in ["", ".hidden", "-x", "a b", "a/b", "ü"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }
}
