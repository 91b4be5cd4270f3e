//! `cargo xtask bench --against linux`: the benchmark's figures measured
//! under Linux on the same QEMU machine, beside Annulus's.
//!
//! 1. **The kernel.** Debian's arm64 kernel package (bookworm: Linux 6.1)
//!    is found in the archive's package index (`Packages.xz`: the
//!    `linux-image-arm64` package names the versioned one it depends on),
//!    downloaded with curl, checked against the index's SHA-256, and
//!    unpacked with `dpkg-deb -x` into `target/linux/root/`. Done once:
//!    later runs use what is there. Without a network this fails at once
//!    with a message, never waiting longer than curl's connect timeout.
//! 2. **The measuring program.** `xtask/linux-bench` (`linuxbench`), a
//!    static ELF with no C library, packed alone as `/init` into a newc
//!    cpio archive (the format Linux unpacks; the Annulus initrd is odc).
//! 3. **The run.** The kernel boots on [`bench::MACHINE`] (`-icount
//!    shift=0,sleep=off`) with that archive; `/init` prints `linux: <name>
//!    <value> <operations>` lines under the names of the Annulus figures
//!    they stand beside, and powers off.
//! 4. **The table.** Annulus's figures come from the serial logs of the
//!    `cargo xtask bench` run just made (`target/bench/`); each row shows
//!    both and their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Result;
use crate::bench::{self, Figure};
use crate::qemu_tests::{self, Outcome, QemuTestConfig};
use crate::tools;
use crate::workspace::{KERNEL_TARGET, Workspace};

/// The Debian archive and suite the kernel comes from.
const ARCHIVE: &str = "https://deb.debian.org/debian";
const SUITE: &str = "bookworm";
/// The package that depends on the suite's current arm64 kernel.
const META_PACKAGE: &str = "linux-image-arm64";

/// The rows of the table: the Annulus figure, and what Linux runs for it.
const ROWS: &[(&str, &str)] = &[
    (
        "kernel_nop_batch_1",
        "io_uring NOP, 1 per io_uring_enter / ring_enter",
    ),
    ("kernel_nop_batch_32", "io_uring NOP, 32 per call, per NOP"),
    ("getppid", "Linux: getppid(), the plainest system call"),
    (
        "pipe_1m_per_kib",
        "1 MiB through a pipe, 16 KiB write then read, per KiB",
    ),
    (
        "spawn_wait",
        "Annulus: SPAWN+WAIT of true; Linux: fork+exec+wait4 of a static true",
    ),
    (
        "boot_to_first_line",
        "Annulus: to init's first line (PMU); Linux: to /init's first instruction (virtual clock)",
    ),
];

/// Boots Linux with the measuring program and prints its figures beside
/// those of the `cargo xtask bench` run just made. Returns whether every
/// Linux figure came.
pub fn against_linux(workspace: &Workspace) -> Result<bool> {
    let directory = workspace.target_directory.join("linux");
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
    let kernel = kernel(workspace, &directory)?;
    let program = build_program(workspace)?;
    let archive = directory.join("init.cpio");
    std::fs::write(&archive, newc_archive(&[("init", &program)]))
        .map_err(|error| format!("cannot write {}: {error}", archive.display()))?;

    let config = QemuTestConfig {
        name: "linux",
        machine: bench::MACHINE,
        command_line: "console=ttyAMA0 quiet",
        system: None,
        disk: None,
        outcome: Outcome::ServersRemain {
            suite: None,
            until: &["linux: done"],
        },
        expected: &[],
        input: &[],
    };
    let booted = crate::build::BuiltKernel {
        elf: kernel.clone(),
        image: kernel,
        initrd: archive,
        disk: None,
        started: Vec::new(),
    };
    let log = directory.join("serial.log");
    println!(
        "\nxtask: measuring Linux on the same machine; serial log in {}",
        workspace.show(&log)
    );
    let run = qemu_tests::boot_until_silent(
        &config,
        &booted,
        &log,
        Duration::from_secs(120),
        Duration::from_secs(1800),
    )?;
    let linux = parse(&run.serial);
    let annulus = bench::last_figures(workspace);
    print!("{}", table(&annulus, &linux));
    let complete = ROWS
        .iter()
        .all(|(name, _)| linux.iter().any(|figure| figure.name == *name));
    if !complete || run.timed_out {
        println!("xtask: some Linux figures are missing; see the serial log");
    }
    Ok(complete && !run.timed_out)
}

/// The `linux: <name> <value> <operations>` lines of a serial log.
fn parse(serial: &str) -> Vec<Figure> {
    let as_bench: String = serial
        .lines()
        .filter_map(|line| line.trim_end_matches('\r').strip_prefix("linux: "))
        .map(|rest| format!("bench: {rest}\n"))
        .collect();
    bench::parse(&as_bench)
}

/// The side-by-side table.
fn table(annulus: &[Figure], linux: &[Figure]) -> String {
    let find = |figures: &[Figure], name: &str| {
        figures
            .iter()
            .find(|figure| figure.name == name)
            .map(|figure| figure.value)
    };
    let show = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.1}"));
    let mut text = format!(
        "\n{:<22} {:>14} {:>14} {:>9}  what\n",
        "figure", "Annulus", "Linux 6.1", "ratio"
    );
    for (name, meaning) in ROWS {
        let (ours, theirs) = (find(annulus, name), find(linux, name));
        let ratio = match (ours, theirs) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2} x", ours / theirs),
            _ => "-".to_string(),
        };
        text.push_str(&format!(
            "{name:<22} {:>14} {:>14} {ratio:>9}  {meaning}\n",
            show(ours),
            show(theirs)
        ));
    }
    text.push_str("(ratio: Annulus / Linux, instructions; below 1 Annulus does less)\n");
    text
}

/// The kernel Image: unpacked before, or fetched and unpacked now.
fn kernel(workspace: &Workspace, directory: &Path) -> Result<PathBuf> {
    let root = directory.join("root");
    if let Some(found) = find_image(&root) {
        return Ok(found);
    }
    for (program, package) in [("curl", "curl"), ("xz", "xz-utils"), ("dpkg-deb", "dpkg")] {
        tools::ensure_program(program, package)?;
    }
    let index = directory.join("Packages.xz");
    let index_url = format!("{ARCHIVE}/dists/{SUITE}/main/binary-arm64/Packages.xz");
    println!("xtask: fetching Debian's arm64 package index ({index_url})");
    download(&index_url, &index, Duration::from_secs(300))?;
    let listing = tools::output_of(Command::new("xz").arg("-dc").arg(&index))?;
    let (filename, sha256) = kernel_package(&listing)?;
    let package = directory.join("linux-image.deb");
    let url = format!("{ARCHIVE}/{filename}");
    println!(
        "xtask: fetching {url} (about 60 MB, once; kept in {})",
        workspace.show(directory)
    );
    download(&url, &package, Duration::from_secs(1800))?;
    let sum = tools::output_of(Command::new("sha256sum").arg(&package))?;
    if sum.split_whitespace().next() != Some(sha256.as_str()) {
        let _ = std::fs::remove_file(&package);
        return Err(format!(
            "{url}: the download's SHA-256 is not the one in the package index; removed it"
        ));
    }
    tools::run_to_completion(Command::new("dpkg-deb").arg("-x").arg(&package).arg(&root))?;
    let _ = std::fs::remove_file(&package);
    find_image(&root).ok_or_else(|| format!("{filename} holds no boot/vmlinuz-*"))
}

/// `boot/vmlinuz-*` under `root`, if unpacked there.
fn find_image(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("vmlinuz-"))
        })
}

/// Downloads `url` to `path` with curl, failing (never hanging) without a
/// network: a 20 s connect timeout and `limit` in all.
fn download(url: &str, path: &Path, limit: Duration) -> Result<()> {
    let partial = path.with_extension("part");
    let status = Command::new("curl")
        .args(["-fsSL", "--connect-timeout", "20", "--max-time"])
        .arg(limit.as_secs().to_string())
        .arg("-o")
        .arg(&partial)
        .arg(url)
        .status()
        .map_err(|error| format!("cannot run curl: {error}"))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "cannot download {url} (curl: {status}). `bench --against linux` needs the \
             network once, to fetch Debian's arm64 kernel (about 60 MB) into target/linux/; \
             later runs use that copy"
        ));
    }
    std::fs::rename(&partial, path)
        .map_err(|error| format!("cannot rename {}: {error}", partial.display()))
}

/// The `Filename` and `SHA256` of the kernel package that the index's
/// [`META_PACKAGE`] depends on.
fn kernel_package(index: &str) -> Result<(String, String)> {
    let stanza = |package: &str| {
        index.split("\n\n").find(|stanza| {
            stanza
                .lines()
                .any(|line| line == format!("Package: {package}"))
        })
    };
    let field = |stanza: &str, name: &str| {
        stanza
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
            .map(str::to_string)
    };
    let meta =
        stanza(META_PACKAGE).ok_or_else(|| format!("the package index has no {META_PACKAGE}"))?;
    let depends = field(meta, "Depends").unwrap_or_default();
    let versioned = depends
        .split(',')
        .map(|dependency| dependency.trim().split(' ').next().unwrap_or_default())
        .find(|name| name.starts_with("linux-image-") && name.ends_with("-arm64"))
        .ok_or_else(|| format!("{META_PACKAGE} depends on no linux-image-*-arm64"))?;
    let package =
        stanza(versioned).ok_or_else(|| format!("the package index has no {versioned}"))?;
    match (field(package, "Filename"), field(package, "SHA256")) {
        (Some(filename), Some(sha256)) => Ok((filename, sha256)),
        _ => Err(format!(
            "{versioned} has no Filename or SHA256 in the index"
        )),
    }
}

/// Builds `linuxbench` for the kernel target; its ELF.
fn build_program(workspace: &Workspace) -> Result<Vec<u8>> {
    let mut cargo = tools::cargo(workspace);
    cargo.args([
        "build",
        "--release",
        "--package",
        "linuxbench",
        "--target",
        KERNEL_TARGET,
    ]);
    tools::run_to_completion(&mut cargo)?;
    let path = workspace
        .target_directory
        .join(KERNEL_TARGET)
        .join("release")
        .join("linuxbench");
    std::fs::read(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// A cpio archive in the "newc" format Linux's initramfs takes: each
/// entry a 110-byte ASCII header (magic `070701`, then 13 fields of 8 hex
/// digits), the name with its NUL, padding to 4 bytes, the data, padding
/// to 4; then the `TRAILER!!!` entry. Files only, all executable.
pub fn newc_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut archive = Vec::new();
    let mut entry = |name: &str, mode: u32, data: &[u8], inode: u32| {
        let fields = [
            inode,
            mode,
            0, // uid
            0, // gid
            1, // links
            0, // mtime
            data.len() as u32,
            0, // device major
            0, // device minor
            0, // rdev major
            0, // rdev minor
            name.len() as u32 + 1,
            0, // check
        ];
        archive.extend_from_slice(b"070701");
        for field in fields {
            archive.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        archive.resize(archive.len().next_multiple_of(4), 0);
        archive.extend_from_slice(data);
        archive.resize(archive.len().next_multiple_of(4), 0);
    };
    for (index, (name, data)) in files.iter().enumerate() {
        entry(name, 0o100755, data, index as u32 + 1);
    }
    entry("TRAILER!!!", 0, &[], 0);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newc_archive_has_aligned_headers_names_and_data() {
        let archive = newc_archive(&[("init", b"abcde")]);
        assert!(archive.starts_with(b"070701"));
        // Header 110 bytes, "init\0" 5: 115, padded to 116; data 5, to 124.
        assert_eq!(&archive[110..115], b"init\0");
        assert_eq!(&archive[116..121], b"abcde");
        // The mode and size fields of the first header.
        assert_eq!(&archive[14..22], b"000081ED");
        assert_eq!(&archive[54..62], b"00000005");
        let trailer = &archive[124..];
        assert!(trailer.starts_with(b"070701"));
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert_eq!(archive.len() % 4, 0);
    }

    #[test]
    fn the_kernel_package_is_the_one_the_meta_package_depends_on() {
        let index = "Package: linux-image-6.1.0-9-arm64\nFilename: pool/old.deb\nSHA256: 00\n\n\
                     Package: linux-image-arm64\nDepends: linux-image-6.1.0-10-arm64 (= 6.1.1-1)\n\n\
                     Package: linux-image-6.1.0-10-arm64\nVersion: 6.1.1-1\n\
                     Filename: pool/new.deb\nSHA256: abcd\n";
        assert_eq!(
            kernel_package(index),
            Ok(("pool/new.deb".to_string(), "abcd".to_string()))
        );
        assert!(kernel_package("Package: other\n").is_err());
    }

    #[test]
    fn linux_lines_become_figures_and_the_table_shows_both_and_the_ratio() {
        let serial = "[    0.1] boot noise\nlinux: kernel_nop_batch_1 1000.0 10000\r\n\
                      linux: done\n";
        let linux = parse(serial);
        assert_eq!(linux.len(), 1);
        let annulus = bench::parse("bench: kernel_nop_batch_1 500.0 10000\n");
        let text = table(&annulus, &linux);
        let row = text
            .lines()
            .find(|line| line.starts_with("kernel_nop_batch_1"))
            .unwrap();
        assert!(row.contains("500.0") && row.contains("1000.0") && row.contains("0.50 x"));
        let missing = text
            .lines()
            .find(|line| line.starts_with("getppid"))
            .unwrap();
        assert!(missing.contains(" - "));
    }
}
