//! Disk images: the ones test rows boot with, and (with the FAT system)
//! the system's own disk, built from a folder of the repo.
//!
//! QEMU gets a disk as a raw image file behind a virtio block device
//! ([`qemu_arguments`]); the kernel finds it in a virtio-mmio slot and
//! the disk driver server (`servers/virtio-blk`) serves it.

use std::path::Path;
use std::process::Command;

use crate::Result;

/// The QEMU arguments that attach `image` as the machine's virtio disk.
pub fn qemu_arguments(image: &Path) -> Vec<String> {
    // In QEMU's option syntax a comma is written twice.
    let file = image.display().to_string().replace(',', ",,");
    vec![
        "-drive".to_string(),
        format!("file={file},format=raw,if=none,id=disk"),
        "-device".to_string(),
        "virtio-blk-device,drive=disk".to_string(),
    ]
}

/// The disk space past a system disk's volume, for the FAT server's
/// journal: 4 MiB.
pub const JOURNAL_KIB: u64 = 4096;

/// Makes a system's disk at `image`: `size_mib` MiB, of which all but the
/// last [`JOURNAL_KIB`] is a FAT32 volume (`mkfs.fat`) holding `files` (the boot image's, from
/// [`crate::initrd::files`]) and an empty `tmp/`, copied in with `mcopy`
/// from a staging folder beside the image.
pub fn make_system_disk(
    image: &Path,
    size_mib: u32,
    files: &[(String, Option<Vec<u8>>)],
) -> Result<()> {
    crate::tools::ensure_fat_tools()?;
    let staging = image.with_extension("files");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|error| format!("cannot empty {}: {error}", staging.display()))?;
    }
    let mut top = std::collections::BTreeSet::new();
    for (path, contents) in files
        .iter()
        .map(|(path, contents)| (path.as_str(), contents.as_deref()))
        .chain([("tmp", None)])
    {
        let target = staging.join(path);
        let made = match contents {
            Some(bytes) => target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&target, bytes)),
            None => std::fs::create_dir_all(&target),
        };
        made.map_err(|error| format!("cannot write {}: {error}", target.display()))?;
        top.insert(path.split('/').next().unwrap_or(path).to_string());
    }
    let file = std::fs::File::create(image)
        .and_then(|file| {
            file.set_len(u64::from(size_mib) << 20)?;
            Ok(file)
        })
        .map_err(|error| format!("cannot make {}: {error}", image.display()))?;
    drop(file);
    let mut mkfs = Command::new(crate::tools::program_path(crate::tools::MKFS_FAT));
    // 4 KiB clusters: a cluster is a block of the FAT server's cache. The
    // volume leaves the disk's last JOURNAL_KIB to the FAT server's
    // journal (servers/fat/src/cache.rs).
    mkfs.args(["-F", "32", "-s", "8", "-n", "ANNULUS"])
        .arg(image)
        .arg((u64::from(size_mib) * 1024 - JOURNAL_KIB).to_string());
    run_quietly(&mut mkfs)?;
    let mut mcopy = Command::new("mcopy");
    mcopy
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-Q", "-i"])
        .arg(image);
    for name in &top {
        mcopy.arg(staging.join(name));
    }
    mcopy.arg("::/");
    run_quietly(&mut mcopy)
}

/// A disk image as the FAT server's cache sees a disk, for
/// [`fat::volume::Fat::settle_journal`].
struct ImageFile(std::fs::File);

impl fat::cache::BlockDevice for ImageFile {
    fn size(&self) -> u64 {
        self.0.metadata().map_or(0, |metadata| metadata.len())
    }
    fn read(
        &mut self,
        offset: u64,
        buffer: &mut [u8],
    ) -> std::result::Result<(), libring::abi::Errno> {
        use std::os::unix::fs::FileExt;
        self.0
            .read_exact_at(buffer, offset)
            .map_err(|_| libring::abi::Errno::Io)
    }
    fn write(&mut self, offset: u64, bytes: &[u8]) -> std::result::Result<(), libring::abi::Errno> {
        use std::os::unix::fs::FileExt;
        self.0
            .write_all_at(bytes, offset)
            .map_err(|_| libring::abi::Errno::Io)
    }
    fn sync(&mut self) -> std::result::Result<(), libring::abi::Errno> {
        self.0.sync_data().map_err(|_| libring::abi::Errno::Io)
    }
}

/// Copies this build's `bin/` and `etc/system` (from `staging`, the
/// files the system's disk was made from) onto the kept disk `image`,
/// over what is there; the user's other files stay. The FAT server's
/// journal is settled first (a flush the power cut short finished) and
/// emptied, so its next mount does not write old blocks over these.
pub fn refresh_programs(image: &Path, staging: &Path) -> Result<()> {
    if !staging.join("bin").is_dir() {
        return Err(format!("no {} to copy from", staging.join("bin").display()));
    }
    crate::tools::ensure_fat_tools()?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|error| format!("cannot open {}: {error}", image.display()))?;
    fat::volume::Fat::settle_journal(ImageFile(file))
        .map_err(|error| format!("its journal: {}", error.description()))?;
    let mut mcopy = Command::new("mcopy");
    mcopy
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-o", "-Q", "-i"])
        .arg(image)
        .arg(staging.join("bin"))
        .arg("::/");
    run_quietly(&mut mcopy)?;
    let mut system = Command::new("mcopy");
    system
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-o", "-Q", "-i"])
        .arg(image)
        .arg(staging.join("etc").join("system"))
        .arg("::/etc/system");
    run_quietly(&mut system)
}

/// Runs `command`; its output is shown only if it fails.
pub fn run_quietly(command: &mut Command) -> Result<()> {
    let output = command.output().map_err(|error| {
        format!(
            "cannot start `{}`: {error}",
            crate::tools::show_command(command)
        )
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed ({}): {}{}",
        crate::tools::show_command(command),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Runs an mtools command on `image` (`mcopy`, `mmd`, `mtype`, ...);
/// returns what it printed.
pub fn mtools(tool: &str, image: &Path, arguments: &[&str]) -> Result<Vec<u8>> {
    let mut command = Command::new(tool);
    command
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(image)
        .args(arguments);
    let output = command
        .output()
        .map_err(|error| format!("cannot start {tool}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            crate::tools::show_command(&command),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// The 1.5 MiB file the FAT test's shell copies: bytes from a pattern.
fn big_file() -> Vec<u8> {
    (0..1_572_864u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The `fat-files` row's disk: the FAT system's own, and, put there on
/// the host with mtools, a folder with long names holding a text file,
/// and a 1.5 MiB file.
pub fn make_fat_test_disk(image: &Path, system_disk: Option<&Path>) -> Result<()> {
    crate::tools::ensure_fat_tools()?;
    copy_system_disk(image, system_disk)?;
    let staging = image.with_extension("host");
    std::fs::create_dir_all(&staging)
        .map_err(|error| format!("cannot make {}: {error}", staging.display()))?;
    let text = staging.join("text");
    let big = staging.join("big");
    std::fs::write(&text, "written on the host\n")
        .and_then(|()| std::fs::write(&big, big_file()))
        .map_err(|error| format!("cannot write in {}: {error}", staging.display()))?;
    mtools("mmd", image, &["::/docs", "::/docs/Sub Folder"])?;
    let (text, big) = (text.display().to_string(), big.display().to_string());
    mtools(
        "mcopy",
        image,
        &[&text, "::/docs/Sub Folder/A Long File Name.txt"],
    )?;
    mtools("mcopy", image, &[&big, "::/big.bin"])?;
    Ok(())
}

/// After the `fat-files` row: `fsck.fat -n` finds nothing wrong, and
/// mtools finds what the shell wrote, moved and copied.
pub fn check_fat_test_disk(image: &Path) -> Result<()> {
    check_volume(image)?;
    let written = mtools("mtype", image, &["::/tmp/From Annulus.txt"])?;
    if written != b"made in Annulus\n" {
        return Err(format!(
            "/tmp/From Annulus.txt holds {:?}",
            String::from_utf8_lossy(&written)
        ));
    }
    let moved = mtools("mtype", image, &["::/New Folder/Moved Name.txt"])?;
    if moved != b"written on the host\n" {
        return Err(format!(
            "/New Folder/Moved Name.txt holds {:?}",
            String::from_utf8_lossy(&moved)
        ));
    }
    let listing = mtools("mdir", image, &["-b", "::/docs/Sub Folder"])?;
    if !listing.is_empty() {
        return Err(format!(
            "/docs/Sub Folder still holds {}",
            String::from_utf8_lossy(&listing).trim()
        ));
    }
    let copy = mtools("mtype", image, &["::/tmp/copy.bin"])?;
    if copy != big_file() {
        return Err(format!(
            "/tmp/copy.bin is not /big.bin: {} bytes, {} wanted",
            copy.len(),
            big_file().len()
        ));
    }
    Ok(())
}

/// A fresh copy of the system's own disk (the disk benchmark's row).
pub fn copy_system_disk(image: &Path, system_disk: Option<&Path>) -> Result<()> {
    let system_disk = system_disk.ok_or("the system has no disk")?;
    copy_sparse(system_disk, image)
}

/// After a run that changed files but powered off mid-way (the servers
/// stay up): the volume is still clean by `fsck.fat -n`.
pub fn check_volume(image: &Path) -> Result<()> {
    let mut fsck = Command::new(crate::tools::program_path(crate::tools::FSCK_FAT));
    fsck.arg("-n").arg(image);
    run_quietly(&mut fsck).map_err(|error| format!("the volume is not clean: {error}"))
}

/// For a row whose disk needs no check afterwards.
pub fn no_check(_image: &Path) -> Result<()> {
    Ok(())
}

/// Copies a disk image, leaving its holes holes: a 300 MiB image with a
/// few MiB of files stays a few MiB on the host.
pub fn copy_sparse(from: &Path, to: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let failed = |error: std::io::Error| {
        format!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        )
    };
    let mut source = std::fs::File::open(from).map_err(failed)?;
    let mut target = std::fs::File::create(to).map_err(failed)?;
    let mut chunk = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let count = source.read(&mut chunk).map_err(failed)?;
        if count == 0 {
            break;
        }
        if chunk[..count].iter().all(|&byte| byte == 0) {
            target
                .seek(SeekFrom::Current(count as i64))
                .map_err(failed)?;
        } else {
            target.write_all(&chunk[..count]).map_err(failed)?;
        }
        size += count as u64;
    }
    target.set_len(size).map_err(failed)
}

/// The size of the disk `disktest` gets.
const PATTERN_DISK_SIZE: usize = 4 << 20;
/// Where disktest writes, and how much (its `WRITTEN_AT`, `WRITTEN_LENGTH`).
const PATTERN_WRITTEN: std::ops::Range<usize> = (2 << 20)..(2 << 20) + (300 << 10);

/// The word at byte `offset` of the pattern disk (disktest's `pattern`).
fn pattern(offset: usize) -> u32 {
    ((offset / 4) as u32).wrapping_mul(2_654_435_761)
}

/// disktest's disk: 4 MiB, each 32-bit word holding [`pattern`] of its
/// offset, so that any misplaced read shows.
pub fn make_pattern_disk(path: &Path, _system_disk: Option<&Path>) -> Result<()> {
    let bytes: Vec<u8> = (0..PATTERN_DISK_SIZE)
        .step_by(4)
        .flat_map(|offset| pattern(offset).to_le_bytes())
        .collect();
    std::fs::write(path, bytes).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// After disktest: its write (the pattern's complement) is in the image,
/// and every other word is as it was.
pub fn check_pattern_disk(path: &Path) -> Result<()> {
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if bytes.len() != PATTERN_DISK_SIZE {
        return Err(format!(
            "the disk is {} bytes, not {PATTERN_DISK_SIZE}",
            bytes.len()
        ));
    }
    for (index, word) in bytes.chunks_exact(4).enumerate() {
        let offset = index * 4;
        let got = u32::from_le_bytes(word.try_into().expect("4 bytes"));
        let want = if PATTERN_WRITTEN.contains(&offset) {
            !pattern(offset)
        } else {
            pattern(offset)
        };
        if got != want {
            return Err(format!(
                "on the disk after the run, byte {offset:#x} holds {got:#010x}, not {want:#010x}"
            ));
        }
    }
    Ok(())
}

/// A FAT32 image's layout, from its boot sector, for damaging it on
/// purpose (the damaged-volume rows).
struct Fat32 {
    cluster_bytes: u64,
    fat_at: u64,
    fat_bytes: u64,
    fats: u64,
    data_at: u64,
    root_cluster: u32,
}

impl Fat32 {
    fn read(image: &[u8]) -> Result<Fat32> {
        let u16_at = |at: usize| u64::from(u16::from_le_bytes([image[at], image[at + 1]]));
        let u32_at = |at: usize| {
            u64::from(u32::from_le_bytes([
                image[at],
                image[at + 1],
                image[at + 2],
                image[at + 3],
            ]))
        };
        let sector = u16_at(11);
        let reserved = u16_at(14);
        let fats = u64::from(image[16]);
        let fat_sectors = u32_at(36);
        if sector == 0 || fat_sectors == 0 || u16_at(22) != 0 {
            return Err("not a FAT32 image".to_string());
        }
        Ok(Fat32 {
            cluster_bytes: sector * u64::from(image[13]),
            fat_at: reserved * sector,
            fat_bytes: fat_sectors * sector,
            fats,
            data_at: (reserved + fats * fat_sectors) * sector,
            root_cluster: u32_at(44) as u32,
        })
    }

    /// The first cluster of the root directory's entry with short name
    /// `name` (11 bytes, as stored), looking at the root's first cluster.
    fn root_entry(&self, image: &[u8], name: &[u8; 11]) -> Result<u32> {
        let start = (self.data_at + u64::from(self.root_cluster - 2) * self.cluster_bytes) as usize;
        image[start..start + self.cluster_bytes as usize]
            .chunks_exact(32)
            .find(|entry| entry[..11] == name[..])
            .map(|entry| {
                u32::from(u16::from_le_bytes([entry[20], entry[21]])) << 16
                    | u32::from(u16::from_le_bytes([entry[26], entry[27]]))
            })
            .ok_or_else(|| format!("no {} in the root", String::from_utf8_lossy(name)))
    }

    /// Sets cluster `cluster`'s entry in every FAT copy to `next`.
    fn set_next(&self, image: &mut [u8], cluster: u32, next: u32) {
        for copy in 0..self.fats {
            let at = (self.fat_at + copy * self.fat_bytes + u64::from(cluster) * 4) as usize;
            image[at..at + 4].copy_from_slice(&next.to_le_bytes());
        }
    }
}

/// The fat system's disk with three kinds of damage: `/tests`'s cluster
/// points at itself (a looping folder), `/README.txt`'s first cluster at
/// a cluster far past the volume's end, and `/etc` left whole.
pub fn damaged_disk(image: &Path, system_disk: Option<&Path>) -> Result<()> {
    let system_disk = system_disk.ok_or("the system has no disk")?;
    let mut bytes = std::fs::read(system_disk)
        .map_err(|error| format!("cannot read {}: {error}", system_disk.display()))?;
    let layout = Fat32::read(&bytes)?;
    let tests = layout.root_entry(&bytes, b"TESTS      ")?;
    layout.set_next(&mut bytes, tests, tests);
    let readme = layout.root_entry(&bytes, b"README  TXT")?;
    layout.set_next(&mut bytes, readme, 0x0fff_0000);
    std::fs::write(image, &bytes)
        .map_err(|error| format!("cannot write {}: {error}", image.display()))
}

/// The fat system's disk cut 8 MiB short: shorter than the volume its
/// boot sector describes.
pub fn short_disk(image: &Path, system_disk: Option<&Path>) -> Result<()> {
    copy_system_disk(image, system_disk)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .map_err(|error| format!("cannot open {}: {error}", image.display()))?;
    let size = file.metadata().map_err(|error| error.to_string())?.len();
    file.set_len(size - (8 << 20))
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_disk_gets_this_builds_programs_and_keeps_the_users_files() {
        let directory =
            std::env::temp_dir().join(format!("annulus-refresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let image = directory.join("disk.img");
        let files = vec![
            ("bin/tool".to_string(), Some(b"old tool".to_vec())),
            ("etc/system".to_string(), Some(b"old manifest".to_vec())),
        ];
        make_system_disk(&image, 300, &files).unwrap();
        // What a user made on the disk.
        let mine = directory.join("mine");
        std::fs::write(&mine, b"my own file").unwrap();
        mtools("mcopy", &image, &[mine.to_str().unwrap(), "::/tmp/mine"]).unwrap();
        // A later build's files.
        let staging = directory.join("staging");
        std::fs::create_dir_all(staging.join("bin")).unwrap();
        std::fs::create_dir_all(staging.join("etc")).unwrap();
        std::fs::write(staging.join("bin/tool"), b"new tool").unwrap();
        std::fs::write(staging.join("bin/added"), b"added").unwrap();
        std::fs::write(staging.join("etc/system"), b"new manifest").unwrap();
        refresh_programs(&image, &staging).unwrap();
        let read = |path: &str| mtools("mtype", &image, &[path]).unwrap();
        assert_eq!(read("::/bin/tool"), b"new tool");
        assert_eq!(read("::/bin/added"), b"added");
        assert_eq!(read("::/etc/system"), b"new manifest");
        assert_eq!(read("::/tmp/mine"), b"my own file");
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn the_pattern_disk_fails_its_check_until_disktest_has_written() {
        let path = std::env::temp_dir().join(format!("annulus-pattern-{}.img", std::process::id()));
        make_pattern_disk(&path, None).unwrap();
        let error = check_pattern_disk(&path).unwrap_err();
        assert!(error.contains("byte 0x200000"), "{error}");
        let mut bytes = std::fs::read(&path).unwrap();
        for offset in PATTERN_WRITTEN.step_by(4) {
            bytes[offset..offset + 4].copy_from_slice(&(!pattern(offset)).to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        check_pattern_disk(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn commas_in_the_image_path_are_doubled() {
        let arguments = qemu_arguments(Path::new("/tmp/a,b.img"));
        assert_eq!(
            arguments[1],
            "file=/tmp/a,,b.img,format=raw,if=none,id=disk"
        );
    }
}
