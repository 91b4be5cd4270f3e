//! The FAT backend on a disk in memory: formatted by `fatfs` itself here
//! (the QEMU tests use the host's `mkfs.fat` and `mtools`).

use crate::cache::{BlockDevice, Cache};
use crate::raw;
use crate::volume::{Fat, Volume, canonical};
use libring::abi::Errno;
use libring::file_server::{Backend, Kind, OpenOptions};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone)]
struct MemoryDisk {
    bytes: Rc<RefCell<Vec<u8>>>,
    syncs: Rc<RefCell<u32>>,
}

/// Reads from a disk held in memory.
fn read_memory(bytes: &RefCell<Vec<u8>>, offset: u64, buffer: &mut [u8]) -> Result<(), Errno> {
    let start = offset as usize;
    buffer.copy_from_slice(&bytes.borrow()[start..start + buffer.len()]);
    Ok(())
}

impl BlockDevice for MemoryDisk {
    fn size(&self) -> u64 {
        self.bytes.borrow().len() as u64
    }
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), Errno> {
        read_memory(&self.bytes, offset, buffer)
    }
    fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
        let start = offset as usize;
        self.bytes.borrow_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), Errno> {
        *self.syncs.borrow_mut() += 1;
        Ok(())
    }
}

/// A formatted disk of `mebibytes` MiB (`fatfs` picks the FAT type for
/// the size unless `fat_type` says).
fn formatted(mebibytes: usize) -> MemoryDisk {
    formatted_as(mebibytes, None)
}

fn formatted_as(mebibytes: usize, fat_type: Option<fatfs::FatType>) -> MemoryDisk {
    let disk = MemoryDisk {
        bytes: Rc::new(RefCell::new(vec![0; mebibytes << 20])),
        syncs: Rc::new(RefCell::new(0)),
    };
    let cache = Rc::new(RefCell::new(Cache::new(disk.clone())));
    let mut volume = Volume::for_tests(cache.clone());
    let mut options = fatfs::FormatVolumeOptions::new();
    if let Some(fat_type) = fat_type {
        options = options.fat_type(fat_type);
    }
    fatfs::format_volume(&mut volume, options).unwrap();
    cache.borrow_mut().flush().unwrap();
    disk
}

const CREATE: OpenOptions = OpenOptions {
    create: true,
    exclusive: false,
    truncate: false,
    write: true,
    directory: false,
};
const READ: OpenOptions = OpenOptions {
    create: false,
    exclusive: false,
    truncate: false,
    write: false,
    directory: false,
};

fn read_all(fat: &mut Fat<MemoryDisk>, path: &str) -> Result<Vec<u8>, Errno> {
    let node = fat.open(path, READ)?;
    let bytes = fat.read(node, 0, usize::MAX >> 1).map(<[u8]>::to_vec);
    fat.close(node);
    bytes
}

fn names(fat: &mut Fat<MemoryDisk>, path: &str) -> Vec<String> {
    let node = fat.open(path, READ).unwrap();
    let mut names = Vec::new();
    while let Some((name, _)) = fat.entry(node, names.len()).unwrap() {
        names.push(name);
    }
    fat.close(node);
    names
}

#[test]
fn long_names_subdirectories_and_big_files_survive_a_remount() {
    let disk = formatted(64);
    let mut fat = Fat::mount(disk.clone()).unwrap();
    fat.mkdir("/Projects").unwrap();
    fat.mkdir("/Projects/a rather long directory name").unwrap();
    let path = "/Projects/a rather long directory name/Quarterly Report.final.txt";
    let node = fat.open(path, CREATE).unwrap();
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(fat.write(node, 0, &big, false), Ok(big.len()));
    fat.close(node);
    drop(fat);

    let mut fat = Fat::mount(disk).unwrap();
    assert_eq!(read_all(&mut fat, path).unwrap(), big);
    assert_eq!(
        names(&mut fat, "/projects/A RATHER LONG DIRECTORY NAME"),
        ["Quarterly Report.final.txt"]
    );
    let node = fat.open("/Projects", READ).unwrap();
    let status = fat.stat(node).unwrap();
    assert_eq!((status.kind, status.size), (Kind::Directory, 1));
}

#[test]
fn every_change_is_on_the_disk_when_it_returns() {
    let disk = formatted(8);
    let mut fat = Fat::mount(disk.clone()).unwrap();
    let node = fat.open("/notes.txt", CREATE).unwrap();
    let syncs = *disk.syncs.borrow();
    fat.write(node, 0, b"kept", false).unwrap();
    assert_eq!(*disk.syncs.borrow(), syncs + 1);
    // A second mount of the same bytes, while the first is still up, sees
    // the write: nothing was left in the first one's cache.
    let mut other = Fat::mount(disk.clone()).unwrap();
    assert_eq!(read_all(&mut other, "/notes.txt").unwrap(), b"kept");
}

#[test]
fn writes_at_offsets_append_and_truncate() {
    let mut fat = Fat::mount(formatted(8)).unwrap();
    let node = fat.open("/f", CREATE).unwrap();
    fat.write(node, 0, b"hello world", false).unwrap();
    fat.write(node, 6, b"there", false).unwrap();
    fat.write(node, 0, b"!", true).unwrap();
    assert_eq!(read_all(&mut fat, "/f").unwrap(), b"hello there!");
    // Past the end: zeros in between.
    fat.write(node, 14, b"x", false).unwrap();
    assert_eq!(read_all(&mut fat, "/f").unwrap(), b"hello there!\0\0x");
    assert_eq!(fat.read(node, 100, 10), Ok(&[][..]));
    let truncate = OpenOptions {
        truncate: true,
        ..CREATE
    };
    fat.open("/f", truncate).unwrap();
    assert_eq!(read_all(&mut fat, "/f").unwrap(), b"");
}

#[test]
fn errors_are_the_unix_ones() {
    let mut fat = Fat::mount(formatted(8)).unwrap();
    fat.open("/file", CREATE).unwrap();
    fat.mkdir("/dir").unwrap();
    fat.open("/dir/inner", CREATE).unwrap();
    assert_eq!(fat.open("/missing", READ), Err(Errno::NotFound));
    assert_eq!(fat.open("/file/x", READ), Err(Errno::NotADirectory));
    assert_eq!(fat.open("/dir", CREATE), Err(Errno::IsADirectory));
    let directory = OpenOptions {
        directory: true,
        ..READ
    };
    assert_eq!(fat.open("/file", directory), Err(Errno::NotADirectory));
    let exclusive = OpenOptions {
        exclusive: true,
        ..CREATE
    };
    assert_eq!(fat.open("/file", exclusive), Err(Errno::Exists));
    assert_eq!(fat.mkdir("/dir"), Err(Errno::Exists));
    assert_eq!(fat.mkdir("/nowhere/dir"), Err(Errno::NotFound));
    assert_eq!(fat.unlink("/dir"), Err(Errno::NotEmpty));
    assert_eq!(fat.unlink("/missing"), Err(Errno::NotFound));
    assert_eq!(fat.unlink("/"), Err(Errno::Busy));
    let long = "x".repeat(300);
    assert_eq!(fat.open(&long, CREATE), Err(Errno::NameTooLong));
    let node = fat.open("/dir", READ).unwrap();
    assert_eq!(fat.read(node, 0, 10), Err(Errno::IsADirectory));
    assert_eq!(
        fat.rename("/dir", "/dir/inside"),
        Err(Errno::InvalidArgument)
    );
}

#[test]
fn rename_moves_replaces_and_open_nodes_follow() {
    let mut fat = Fat::mount(formatted(8)).unwrap();
    fat.mkdir("/a").unwrap();
    fat.mkdir("/b").unwrap();
    let node = fat.open("/a/one", CREATE).unwrap();
    fat.write(node, 0, b"1", false).unwrap();
    let other = fat.open("/b/two", CREATE).unwrap();
    fat.write(other, 0, b"2", false).unwrap();
    fat.rename("/a/one", "/b/two").unwrap();
    assert_eq!(read_all(&mut fat, "/b/two").unwrap(), b"1");
    assert_eq!(names(&mut fat, "/a"), Vec::<String>::new());
    // The node opened as /a/one is now /b/two.
    assert_eq!(fat.path_of(node).unwrap(), "/b/two");
    fat.write(node, 1, b"+", false).unwrap();
    assert_eq!(read_all(&mut fat, "/b/two").unwrap(), b"1+");
    fat.rename("/b", "/c").unwrap();
    assert_eq!(fat.path_of(node).unwrap(), "/c/two");
    assert_eq!(fat.rename("/missing", "/x"), Err(Errno::NotFound));
    fat.unlink("/c/two").unwrap();
    assert_eq!(fat.open("/c/two", READ), Err(Errno::NotFound));
    // Both replaced and removed files live on for the nodes that have
    // them open, until their last close, as on Unix.
    assert_eq!(fat.read(node, 0, 2), Ok(&b"1+"[..]));
    assert_eq!(fat.read(other, 0, 1), Ok(&b"2"[..]));
    assert_eq!(fat.hidden_files(), 2);
    assert_eq!(names(&mut fat, "/"), ["a", "c"]);
    fat.close(node);
    fat.close(other);
    assert_eq!(fat.hidden_files(), 0);
}

#[test]
fn files_removed_while_open_go_at_the_next_mount_if_not_before() {
    let disk = formatted(8);
    let mut fat = Fat::mount(disk.clone()).unwrap();
    let node = fat.open("/kept open", CREATE).unwrap();
    fat.write(node, 0, b"x", false).unwrap();
    fat.unlink("/kept open").unwrap();
    assert_eq!(fat.hidden_files(), 1);
    // The server stops without closing it; the next one cleans up.
    drop(fat);
    let fat = Fat::mount(disk).unwrap();
    assert_eq!(fat.hidden_files(), 0);
}

#[test]
fn listings_are_sorted_and_continue_where_they_stopped() {
    let mut fat = Fat::mount(formatted(8)).unwrap();
    for name in ["/zeta", "/alpha", "/Mid"] {
        fat.open(name, CREATE).unwrap();
    }
    let root = fat.open("/", READ).unwrap();
    let first = fat.entry(root, 0).unwrap().unwrap().0;
    // A change between two READDIRs of one listing does not shift it.
    fat.open("/beta", CREATE).unwrap();
    let rest: Vec<String> = (1..3)
        .map(|index| fat.entry(root, index).unwrap().unwrap().0)
        .collect();
    assert_eq!(
        [first.as_str(), &rest[0], &rest[1]],
        ["Mid", "alpha", "zeta"]
    );
    assert_eq!(fat.entry(root, 3).unwrap(), None);
    assert_eq!(names(&mut fat, "/"), ["Mid", "alpha", "beta", "zeta"]);
}

#[test]
fn paths_are_made_canonical() {
    assert_eq!(canonical("/a/./b/../c/").unwrap(), "/a/c");
    assert_eq!(canonical("/../..").unwrap(), "/");
    assert_eq!(canonical("a//b").unwrap(), "/a/b");
    assert_eq!(canonical(&"n".repeat(256)), Err(Errno::NameTooLong));
}

#[test]
fn fat12_and_fat16_volumes_work_the_same() {
    for (fat_type, name) in [
        (fatfs::FatType::Fat12, "FAT12"),
        (fatfs::FatType::Fat16, "FAT16"),
    ] {
        let disk = formatted_as(16, Some(fat_type));
        let mut fat = Fat::mount(disk.clone()).unwrap();
        assert_eq!(fat.kind(), name);
        fat.mkdir("/A Folder").unwrap();
        let node = fat.open("/A Folder/some long name.text", CREATE).unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        fat.write(node, 0, &bytes, false).unwrap();
        let mut again = Fat::mount(disk).unwrap();
        assert_eq!(
            read_all(&mut again, "/a folder/SOME LONG NAME.TEXT").unwrap(),
            bytes,
            "{name}"
        );
    }
}

#[test]
fn small_reads_see_every_write_through_the_volume() {
    use fatfs::{Read, Seek, SeekFrom, Write};
    let disk = formatted(8);
    let cache = Rc::new(RefCell::new(Cache::new(disk)));
    let mut volume = Volume::for_tests(cache.clone());
    let mut word = [0u8; 4];
    volume.seek(SeekFrom::Start(8190)).unwrap();
    volume.read(&mut word).unwrap(); // fills the window with block 1
    // A write across the end of block 1 into block 2.
    volume.seek(SeekFrom::Start(8191)).unwrap();
    volume.write(&[1, 2, 3, 4]).unwrap();
    volume.seek(SeekFrom::Start(8190)).unwrap();
    volume.read(&mut word).unwrap();
    assert_eq!(word[1..], [1, 2, 3]);
    volume.seek(SeekFrom::Start(8192)).unwrap();
    volume.read(&mut word).unwrap();
    assert_eq!(word[..3], [2, 3, 4]);
    // The cache (and so the disk, at the next flush) has them too.
    let mut direct = [0u8; 4];
    cache.borrow_mut().read(8191, &mut direct).unwrap();
    assert_eq!(direct, [1, 2, 3, 4]);
}

#[test]
fn far_writes_are_refused_before_anything_is_written() {
    let mut fat = Fat::mount(formatted(8)).unwrap();
    let node = fat.open("/far", CREATE).unwrap();
    // A gap past GAP_MAX, or an end past what FAT holds: EFBIG.
    let gap = crate::volume::GAP_MAX + 1;
    assert_eq!(fat.write(node, gap, b"x", false), Err(Errno::FileTooBig));
    assert_eq!(
        fat.write(node, u32::MAX as u64, b"x", false),
        Err(Errno::FileTooBig)
    );
    assert_eq!(
        fat.write(node, u64::MAX, b"x", false),
        Err(Errno::FileTooBig)
    );
    // A gap the 8 MiB volume has no room for: ENOSPC.
    assert_eq!(fat.write(node, 12 << 20, b"x", false), Err(Errno::NoSpace));
    // Writing nothing, far away, changes nothing.
    assert_eq!(fat.write(node, 1 << 20, b"", false), Ok(0));
    assert_eq!(fat.stat(node).unwrap().size, 0);
    // Nothing was written by any of those; a near write still works.
    assert_eq!(fat.write(node, 4096, b"y", false), Ok(1));
    assert_eq!(fat.stat(node).unwrap().size, 4097);
}

/// `fsck.fat -n` on the disk's bytes: its output if it finds the volume
/// clean, `Err` with its complaint otherwise. (xtask and `.ci/run`
/// install dosfstools; without it the test fails, it does not pass.)
fn fsck(disk: &MemoryDisk, name: &str) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("annulus-fat-{name}-{}.img", std::process::id()));
    std::fs::write(&path, &*disk.bytes.borrow()).unwrap();
    let program = ["/usr/sbin/fsck.fat", "/sbin/fsck.fat", "fsck.fat"]
        .into_iter()
        .find(|program| std::path::Path::new(program).exists())
        .unwrap_or("fsck.fat");
    let output = std::process::Command::new(program)
        .arg("-n")
        .arg(&path)
        .output()
        .map_err(|problem| format!("cannot run {program}: {problem}"));
    let _ = std::fs::remove_file(&path);
    let output = output?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn every_kind_of_change_leaves_a_clean_volume() {
    for (mebibytes, fat_type) in [
        (4, fatfs::FatType::Fat12),
        (16, fatfs::FatType::Fat16),
        (64, fatfs::FatType::Fat32),
    ] {
        every_kind_of_change(formatted_as(mebibytes, Some(fat_type)), fat_type);
    }
}

fn every_kind_of_change(disk: MemoryDisk, fat_type: fatfs::FatType) {
    let mut fat = Fat::mount(disk.clone()).unwrap();
    let write_file = |fat: &mut Fat<MemoryDisk>, path: &str, bytes: &[u8]| {
        let node = fat.open(path, CREATE).unwrap();
        fat.write(node, 0, bytes, false).unwrap();
        fat.close(node);
    };
    // Directories in directories, files in them, a big file.
    fat.mkdir("/a").unwrap();
    fat.mkdir("/a/b").unwrap();
    fat.mkdir("/a/b/deep").unwrap();
    write_file(&mut fat, "/a/b/deep/file.txt", b"deep");
    write_file(&mut fat, "/a/one", b"one");
    write_file(&mut fat, "/big", &vec![7u8; 300_000]);
    // A directory moved across directories, to the root and back down.
    fat.rename("/a/b", "/c").unwrap();
    assert_eq!(read_all(&mut fat, "/c/deep/file.txt").unwrap(), b"deep");
    fat.mkdir("/x").unwrap();
    fat.mkdir("/x/y").unwrap();
    fat.rename("/c", "/x/y/c").unwrap();
    fat.rename("/x/y/c/deep", "/a/deep").unwrap();
    // Files moved across directories, and over another file.
    fat.rename("/a/one", "/x/one").unwrap();
    write_file(&mut fat, "/x/two", b"two");
    fat.rename("/x/two", "/x/one").unwrap();
    // Names that differ only in case.
    write_file(&mut fat, "/Case", b"case");
    fat.rename("/Case", "/CASE").unwrap();
    fat.rename("/x/y", "/x/Y").unwrap();
    // Writes at offsets, truncation, removal of files and directories.
    let node = fat.open("/big", CREATE).unwrap();
    fat.write(node, 1 << 20, b"end", false).unwrap();
    fat.close(node);
    let truncate = OpenOptions {
        truncate: true,
        ..CREATE
    };
    let node = fat.open("/x/one", truncate).unwrap();
    fat.close(node);
    fat.unlink("/a/deep/file.txt").unwrap();
    fat.unlink("/a/deep").unwrap();
    write_file(&mut fat, "/gone", b"soon");
    fat.unlink("/gone").unwrap();
    assert_eq!(names(&mut fat, "/"), ["CASE", "a", "big", "x"]);
    assert_eq!(names(&mut fat, "/x"), ["Y", "one"]);
    assert_eq!(names(&mut fat, "/x/Y/c"), Vec::<String>::new());
    fat.sync().unwrap();
    if let Err(complaint) = fsck(&disk, "every-change") {
        panic!("{fat_type:?}: fsck.fat -n found problems:\n{complaint}");
    }
}

// ------------------------------------------------------------ power cuts

/// A disk whose power goes after a number of writes: that write lands
/// half (its first half of sectors), and every later one not at all.
#[derive(Clone)]
struct CutDisk {
    bytes: Rc<RefCell<Vec<u8>>>,
    /// Writes still to land whole (`None`: the power stays on).
    writes_left: Rc<RefCell<Option<u32>>>,
    /// Writes made so far (landed or not).
    writes: Rc<RefCell<u32>>,
}

impl BlockDevice for CutDisk {
    fn size(&self) -> u64 {
        self.bytes.borrow().len() as u64
    }
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), Errno> {
        read_memory(&self.bytes, offset, buffer)
    }
    fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
        *self.writes.borrow_mut() += 1;
        let landing = match *self.writes_left.borrow() {
            None => bytes.len(),
            Some(0) => 0,
            Some(1) => bytes.len() / 1024 * 512, // torn, on a sector
            Some(_) => bytes.len(),
        };
        if let Some(left) = self.writes_left.borrow_mut().as_mut() {
            *left = left.saturating_sub(1);
        }
        let start = offset as usize;
        self.bytes.borrow_mut()[start..start + landing].copy_from_slice(&bytes[..landing]);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), Errno> {
        Ok(())
    }
}

/// Every file and directory under `path`, with each file's bytes.
fn tree<D: BlockDevice>(fat: &mut Fat<D>, path: &str, into: &mut Vec<(String, Option<Vec<u8>>)>) {
    let node = fat.open(path, READ).unwrap();
    let mut index = 0;
    while let Some((name, status)) = fat.entry(node, index).unwrap() {
        index += 1;
        let child = if path == "/" {
            format!("/{name}")
        } else {
            format!("{path}/{name}")
        };
        if status.kind == Kind::Directory {
            into.push((child.clone(), None));
            tree(fat, &child, into);
        } else {
            let file = fat.open(&child, READ).unwrap();
            let bytes = fat.read(file, 0, 1 << 24).unwrap().to_vec();
            fat.close(file);
            into.push((child, Some(bytes)));
        }
    }
    fat.close(node);
}

/// Each path with its length (or `dir`), for messages.
fn summary(state: &[(String, Option<Vec<u8>>)]) -> Vec<String> {
    state
        .iter()
        .map(|(path, bytes)| match bytes {
            Some(bytes) => format!("{path}: {}", bytes.len()),
            None => format!("{path}: dir"),
        })
        .collect()
}

/// One change of the power-cut workload.
type Change = fn(&mut Fat<CutDisk>);

/// The workload: each step is one request, so one sync.
const CHANGES: [Change; 12] = [
    |fat| fat.mkdir("/d").unwrap(),
    |fat| {
        let node = fat.open("/d/a", CREATE).unwrap();
        fat.close(node);
    },
    |fat| {
        let node = fat.open("/d/a", CREATE).unwrap();
        fat.write(node, 0, &[b'a'; 9000], false).unwrap();
        fat.close(node);
    },
    |fat| fat.mkdir("/d/sub").unwrap(),
    |fat| fat.rename("/d/sub", "/moved").unwrap(),
    |fat| fat.rename("/d/a", "/moved/a").unwrap(),
    |fat| {
        let node = fat.open("/b", CREATE).unwrap();
        fat.close(node);
    },
    |fat| {
        let node = fat.open("/b", CREATE).unwrap();
        fat.write(node, 5000, b"far", false).unwrap();
        fat.close(node);
    },
    |fat| fat.rename("/b", "/moved/a").unwrap(),
    |fat| fat.unlink("/d").unwrap(),
    |fat| fat.rename("/moved", "/Moved").unwrap(),
    |fat| fat.unlink("/Moved/a").unwrap(),
];

fn cut_disk(image: &[u8], writes_left: Option<u32>) -> CutDisk {
    CutDisk {
        bytes: Rc::new(RefCell::new(image.to_vec())),
        writes_left: Rc::new(RefCell::new(writes_left)),
        writes: Rc::new(RefCell::new(0)),
    }
}

/// A FAT32 volume of 64 MiB with 1 MiB of disk past it for the journal.
fn journaled_image() -> Vec<u8> {
    let disk = formatted_as(64, Some(fatfs::FatType::Fat32));
    let mut bytes = disk.bytes.borrow().clone();
    bytes.resize(bytes.len() + (1 << 20), 0);
    bytes
}

#[test]
fn a_power_cut_at_any_write_leaves_the_volume_before_or_after_each_change() {
    let image = journaled_image();
    // The states after 0, 1, ... changes, with the power on; and the
    // device writes each change ends at.
    let disk = cut_disk(&image, None);
    let mut fat = Fat::mount(disk.clone()).unwrap();
    assert!(
        fat.cache().journal().is_some(),
        "the disk has room for a journal"
    );
    let mut states = Vec::new();
    let mut ends = Vec::new();
    let mut state = Vec::new();
    tree(&mut fat, "/", &mut state);
    states.push(state);
    for change in CHANGES {
        change(&mut fat);
        ends.push(*disk.writes.borrow());
        let mut state = Vec::new();
        tree(&mut fat, "/", &mut state);
        states.push(state);
    }
    let total = *disk.writes.borrow();
    assert_eq!(fat.cache().unjournaled, 0);
    // Now cut the power after every number of writes in turn.
    let mut checked = 0;
    let mut replays = 0;
    for cut in 0..total {
        let disk = cut_disk(&image, Some(cut));
        let mut fat = Fat::mount(disk.clone()).unwrap();
        for change in CHANGES {
            change(&mut fat);
        }
        drop(fat);
        // Changes whose writes all landed were acknowledged before the cut.
        let acknowledged = ends.iter().filter(|&&end| end <= cut).count();
        // The next mount finishes what the journal holds.
        let after = cut_disk(&disk.bytes.borrow(), None);
        let mut fat = Fat::mount(after.clone()).unwrap();
        replays += u32::from(fat.recovered() > 0);
        let mut state = Vec::new();
        tree(&mut fat, "/", &mut state);
        assert!(
            state == states[acknowledged]
                || states
                    .get(acknowledged + 1)
                    .is_some_and(|next| *next == state),
            "cut after {cut} writes ({acknowledged} changes acknowledged): {:?}, expected {:?} or {:?}",
            summary(&state),
            summary(&states[acknowledged]),
            states.get(acknowledged + 1).map(|next| summary(next))
        );
        drop(fat);
        let volume = MemoryDisk {
            bytes: after.bytes.clone(),
            syncs: Rc::new(RefCell::new(0)),
        };
        if let Err(complaint) = fsck(&volume, "cut") {
            panic!("cut after {cut} writes: fsck.fat -n found problems:\n{complaint}");
        }
        checked += 1;
    }
    assert!(checked >= 2 * CHANGES.len() as u32, "only {checked} cuts");
    // Cuts while blocks went home: the journal finished those flushes.
    assert!(replays >= CHANGES.len() as u32, "only {replays} recoveries");
    // And a journal whose flush was done has nothing to finish.
    let mut fat = Fat::mount(cut_disk(&disk.bytes.borrow(), None)).unwrap();
    assert_eq!(fat.recovered(), 0);
    let mut state = Vec::new();
    tree(&mut fat, "/", &mut state);
    assert_eq!(state, states[CHANGES.len()]);
}

// ------------------------------------------------------- damaged volumes

/// A FAT32 volume with `/d` (a folder holding `inner`), `/f` and `/g`
/// (files of several clusters), and the first cluster of each.
fn damaged_fixture() -> (MemoryDisk, raw::Geometry, u32, u32) {
    let disk = formatted_as(64, Some(fatfs::FatType::Fat32));
    let mut fat = Fat::mount(disk.clone()).unwrap();
    fat.mkdir("/d").unwrap();
    for (path, length) in [("/d/inner", 100), ("/f", 5000), ("/g", 5000)] {
        let node = fat.open(path, CREATE).unwrap();
        fat.write(node, 0, &vec![b'x'; length], false).unwrap();
        fat.close(node);
    }
    fat.sync().unwrap();
    drop(fat);
    let mut cache = Cache::new(disk.clone());
    let geometry = raw::Geometry::read(&mut cache).unwrap();
    let mut first = |name: &[u8; 11]| {
        geometry
            .find_entry(&mut cache, geometry.root(), |_, entry| {
                (entry[..11] == name[..]).then(|| raw::entry_cluster(entry))
            })
            .unwrap()
            .unwrap()
    };
    let (d, f) = (first(b"D          "), first(b"F          "));
    (disk, geometry, d, f)
}

/// Damages the volume on `disk` with `change`, then mounts it.
fn damage(disk: &MemoryDisk, change: impl FnOnce(&mut Cache<MemoryDisk>)) -> Fat<MemoryDisk> {
    let mut cache = Cache::new(disk.clone());
    change(&mut cache);
    cache.flush().unwrap();
    Fat::mount(disk.clone()).unwrap()
}

#[test]
fn a_looping_folder_is_an_error_not_a_hang_and_the_rest_is_served() {
    let (disk, geometry, d, _) = damaged_fixture();
    let mut fat = damage(&disk, |cache| geometry.set_next(cache, d, d));
    // Opening the folder is its parent's business; listing it, or
    // anything in it, is where its chain is followed.
    let folder = fat.open("/d", READ).unwrap();
    assert_eq!(fat.entry(folder, 0).map(|_| ()), Err(Errno::Io));
    fat.close(folder);
    assert_eq!(fat.open("/d/inner", READ).map(|_| ()), Err(Errno::Io));
    let said = fat.take_damage().unwrap();
    assert!(said.contains("/d") && said.contains("fsck.fat"), "{said}");
    assert_eq!(read_all(&mut fat, "/g").unwrap().len(), 5000);
}

#[test]
fn a_looping_file_a_cluster_past_the_end_and_a_short_chain_are_errors() {
    let (disk, geometry, _, f) = damaged_fixture();
    let mut cache = Cache::new(disk.clone());
    let chain = geometry.chain(&mut cache, f);
    assert!(chain.len() >= 2, "{chain:?}");
    let last = *chain.last().unwrap();
    drop(cache);
    let cases: [(&str, u32, u32); 3] = [
        ("loops", last, f),
        ("past the end", chain[0], geometry.cluster_end() + 5),
        ("short", chain[0], 0x0fff_ffff),
    ];
    for (what, cluster, value) in cases {
        let (disk, geometry, _, _) = damaged_fixture();
        let mut fat = damage(&disk, |cache| geometry.set_next(cache, cluster, value));
        assert_eq!(read_all(&mut fat, "/f"), Err(Errno::Io), "{what}");
        assert!(fat.take_damage().unwrap().contains("/f"), "{what}");
        // The damaged file only: the rest is served.
        assert_eq!(read_all(&mut fat, "/g").unwrap().len(), 5000, "{what}");
        assert_eq!(names(&mut fat, "/d"), ["inner"], "{what}");
    }
}

#[test]
fn settling_the_journal_finishes_a_cut_flush_and_leaves_nothing_to_replay() {
    let image = journaled_image();
    // The writes of one change with the power on: the journal's, then
    // the blocks home.
    let disk = cut_disk(&image, None);
    let mut fat = Fat::mount(disk.clone()).unwrap();
    let before = *disk.writes.borrow();
    CHANGES[0](&mut fat);
    let writes = *disk.writes.borrow() - before;
    drop(fat);
    assert!(writes >= 2, "{writes} writes");
    // Cut once the journal is written and before all went home: the
    // volume needs the journal.
    let disk = cut_disk(&image, Some(before + writes - 1));
    let mut fat = Fat::mount(disk.clone()).unwrap();
    CHANGES[0](&mut fat);
    drop(fat);
    let cut = cut_disk(&disk.bytes.borrow(), None);
    let written = Fat::settle_journal(cut.clone()).unwrap();
    assert!(written > 0, "the cut flush was finished");
    // Nothing is left to replay: the next mount writes nothing home, and
    // the change is there.
    let mut fat = Fat::mount(cut.clone()).unwrap();
    assert_eq!(fat.recovered(), 0);
    let node = fat.open("/d", READ).unwrap();
    fat.close(node);
    drop(fat);
    let volume = MemoryDisk {
        bytes: cut.bytes.clone(),
        syncs: Rc::new(RefCell::new(0)),
    };
    if let Err(complaint) = fsck(&volume, "settled") {
        panic!("fsck.fat -n found problems:\n{complaint}");
    }
}
