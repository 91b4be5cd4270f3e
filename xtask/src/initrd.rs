//! Packs `boot/initrd/` into the initrd: a cpio archive in the "odc"
//! (portable ASCII) format.
//!
//! The initrd is the boot image's file system: QEMU puts it in RAM next to the
//! kernel, and the kernel finds it through the device tree. Every odc entry is
//! a 76-byte text header (magic `070707`, then fields in octal), the name and a
//! NUL, then the file's bytes; an entry named `TRAILER!!!` ends the archive.
//!
//! Why odc and not "newc", the flavour Linux uses for its initramfs: the
//! kernel reads the archive with `cpio_reader`, which sums every byte of a
//! newc entry as it reads it (for newc's CRC variant, whether the archive
//! uses it or not). Over the whole initrd that was about a million
//! instructions of every boot. odc has no checksum field, so reading it costs
//! only the headers (`docs/performance.md`).
//!
//! # What stays true
//! - Entries are the files *and* folders under the source folder, named by
//!   their path relative to it with `/` between parts (`bin/init`), in sorted
//!   order, so a folder always comes before what it holds.
//! - The archive depends only on the names, contents and executable bits of
//!   the files: owners are 0 and times are 0, so the same tree always gives
//!   the same bytes.

use std::path::{Path, PathBuf};

use crate::Result;

/// One file or folder to put in the archive.
struct Entry {
    /// Path relative to the source folder, `/`-separated.
    name: String,
    /// `None` for a folder.
    contents: Option<Vec<u8>>,
    executable: bool,
}

/// Builds the archive of everything under `source`, plus each of
/// `programs` (name, ELF bytes) as `bin/<name>`, plus the `generated`
/// files (path, bytes: the system manifest, `etc/system`). A missing
/// folder gives an archive with only those and the trailer.
pub fn pack(
    source: &Path,
    programs: &[(String, Vec<u8>)],
    generated: &[(String, Vec<u8>)],
) -> Result<Vec<u8>> {
    let entries = entries(source, programs, generated)?;
    let mut builder = cpio_archive::OdcBuilder::new(Vec::new());
    // Times are 0 (the builder's default is "now"), so the same tree always
    // gives the same bytes.
    builder.default_mtime(chrono::DateTime::UNIX_EPOCH);
    for entry in &entries {
        write_entry(&mut builder, entry)
            .map_err(|error| format!("cannot add {} to the initrd: {error}", entry.name))?;
    }
    builder
        .into_inner()
        .map_err(|error| format!("cannot end the initrd: {error}"))
}

/// What the boot image holds, as (path, contents; `None` for a folder), a
/// folder before what is in it: a system's disk is made of the same.
pub fn files(
    source: &Path,
    programs: &[(String, Vec<u8>)],
    generated: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    Ok(entries(source, programs, generated)?
        .into_iter()
        .map(|entry| (entry.name, entry.contents))
        .collect())
}

/// Every entry of the boot image, sorted by path.
fn entries(
    source: &Path,
    programs: &[(String, Vec<u8>)],
    generated: &[(String, Vec<u8>)],
) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    if source.exists() {
        collect_entries(source, Path::new(""), &mut entries)?;
    }
    for (path, bytes) in generated {
        if entries.iter().any(|entry| entry.name == *path) {
            return Err(format!(
                "{path} is both written by xtask and a file in {}",
                source.display()
            ));
        }
        // Its folders first, if the source has none of that name.
        let mut folder = Path::new(path.as_str()).parent();
        while let Some(parent) = folder.filter(|parent| !parent.as_os_str().is_empty()) {
            let name = parent.to_string_lossy().into_owned();
            if !entries.iter().any(|entry| entry.name == name) {
                entries.push(Entry {
                    name,
                    contents: None,
                    executable: true,
                });
            }
            folder = parent.parent();
        }
        entries.push(Entry {
            name: path.clone(),
            contents: Some(bytes.clone()),
            executable: false,
        });
    }
    if !programs.is_empty() && !entries.iter().any(|entry| entry.name == "bin") {
        entries.push(Entry {
            name: "bin".to_string(),
            contents: None,
            executable: true,
        });
    }
    for (name, elf) in programs {
        let path = format!("bin/{name}");
        if entries.iter().any(|entry| entry.name == path) {
            return Err(format!(
                "{path} is both a built program and a file in {}",
                source.display()
            ));
        }
        entries.push(Entry {
            name: path,
            contents: Some(elf.clone()),
            executable: true,
        });
    }
    entries.sort_by(|left, right| Path::new(&left.name).cmp(Path::new(&right.name)));
    Ok(entries)
}

/// Adds every file and folder under `source/relative` to `entries`.
fn collect_entries(source: &Path, relative: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let folder = source.join(relative);
    let listing = std::fs::read_dir(&folder)
        .map_err(|error| format!("cannot list {}: {error}", folder.display()))?;
    for item in listing {
        let item = item.map_err(|error| format!("cannot list {}: {error}", folder.display()))?;
        let relative_path: PathBuf = relative.join(item.file_name());
        let full_path = item.path();
        let Some(name) = relative_path.to_str().map(str::to_string) else {
            return Err(format!(
                "{} has a name that is not UTF-8",
                full_path.display()
            ));
        };
        // symlink_metadata, so a symbolic link is seen as one and refused
        // below rather than silently followed.
        let metadata = std::fs::symlink_metadata(&full_path)
            .map_err(|error| format!("cannot read {}: {error}", full_path.display()))?;
        if metadata.is_dir() {
            entries.push(Entry {
                name,
                contents: None,
                executable: true,
            });
            collect_entries(source, &relative_path, entries)?;
        } else if metadata.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let contents = std::fs::read(&full_path)
                .map_err(|error| format!("cannot read {}: {error}", full_path.display()))?;
            entries.push(Entry {
                name,
                contents: Some(contents),
                executable: metadata.permissions().mode() & 0o111 != 0,
            });
        } else {
            return Err(format!(
                "{} is neither a file nor a folder; the initrd holds only those",
                full_path.display()
            ));
        }
    }
    Ok(())
}

/// Appends one entry (header, name, contents) to the archive.
fn write_entry(
    builder: &mut cpio_archive::OdcBuilder<Vec<u8>>,
    entry: &Entry,
) -> cpio_archive::CpioResult<()> {
    /// The file-type bits of `mode` (`S_IFREG`, `S_IFDIR`), as in stat(2).
    const REGULAR: u32 = 0o100000;
    const DIRECTORY: u32 = 0o040000;

    let file_type = match entry.contents {
        Some(_) => REGULAR,
        None => DIRECTORY,
    };
    let permissions = if entry.executable { 0o755 } else { 0o644 };
    let contents = entry.contents.as_deref().unwrap_or_default();
    let mut header = builder.next_header();
    header.name = entry.name.clone();
    header.mode = file_type | permissions;
    // A folder's link count is 2 (its name, and its own "."), a file's 1.
    header.nlink = if entry.contents.is_some() { 1 } else { 2 };
    header.file_size = contents.len() as u64;
    builder.append_header_with_data(header, contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty folder under the system's temporary folder.
    fn temporary_folder(test_name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("annulus-xtask-{test_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    /// The names in an archive, in order, read back with the reader the
    /// kernel uses.
    fn entry_names(archive: &[u8]) -> Vec<String> {
        cpio_reader::iter_files(archive)
            .map(|entry| entry.name().to_string())
            .collect()
    }

    #[test]
    fn archive_holds_sorted_files_and_folders_then_the_trailer() {
        let source = temporary_folder("pack");
        std::fs::create_dir_all(source.join("etc")).unwrap();
        std::fs::write(source.join("etc/motd"), b"hi\n").unwrap();
        std::fs::write(source.join("README.txt"), b"hello\n").unwrap();
        std::fs::write(source.join("a-file"), b"").unwrap();
        let programs = [("init".to_string(), b"\x7fELF...".to_vec())];

        let generated = [("etc/system".to_string(), b"shell sh\n".to_vec())];
        let archive = pack(&source, &programs, &generated).unwrap();
        std::fs::remove_dir_all(&source).unwrap();

        assert!(archive.starts_with(b"070707"));
        // The trailer is the last entry: its name and a NUL.
        assert!(archive.ends_with(b"TRAILER!!!\0"));
        assert_eq!(
            entry_names(&archive),
            [
                "README.txt",
                "a-file",
                "bin",
                "bin/init",
                "etc",
                "etc/motd",
                "etc/system"
            ]
        );
        let system = cpio_reader::iter_files(&archive)
            .find(|entry| entry.name() == "etc/system")
            .unwrap();
        assert_eq!(system.file(), b"shell sh\n");
        let motd = cpio_reader::iter_files(&archive)
            .find(|entry| entry.name() == "etc/motd")
            .unwrap();
        assert_eq!(motd.file(), b"hi\n");
        assert_eq!(motd.mode().bits() & 0o777, 0o644);
        let init = cpio_reader::iter_files(&archive)
            .find(|entry| entry.name() == "bin/init")
            .unwrap();
        assert_eq!(init.file(), b"\x7fELF...");
        assert_eq!(init.mode().bits() & 0o777, 0o755);
    }

    #[test]
    fn a_program_may_not_shadow_a_file() {
        let source = temporary_folder("shadow");
        std::fs::create_dir_all(source.join("bin")).unwrap();
        std::fs::write(source.join("bin/init"), b"#!").unwrap();
        let result = pack(&source, &[("init".to_string(), Vec::new())], &[]);
        let generated = [("bin/init".to_string(), Vec::new())];
        let written = pack(&source, &[], &generated);
        std::fs::remove_dir_all(&source).unwrap();
        assert!(result.unwrap_err().contains("bin/init"));
        assert!(written.unwrap_err().contains("bin/init"));
    }

    #[test]
    fn a_generated_file_gets_its_folders() {
        let generated = [("etc/deep/system".to_string(), b"x".to_vec())];
        let archive = pack(Path::new("/nonexistent/annulus/initrd"), &[], &generated).unwrap();
        assert_eq!(
            entry_names(&archive),
            ["etc", "etc/deep", "etc/deep/system"]
        );
    }

    #[test]
    fn missing_folder_gives_an_archive_with_only_the_trailer() {
        let archive = pack(Path::new("/nonexistent/annulus/initrd"), &[], &[]).unwrap();
        assert!(archive.starts_with(b"070707"));
        assert!(entry_names(&archive).is_empty());
    }
}
