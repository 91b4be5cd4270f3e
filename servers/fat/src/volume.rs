//! The FAT server's backend: the file protocol's operations
//! (`libring::file_server::Backend`) on a FAT volume, through the block
//! cache. The FAT format (clusters, the allocation table, directory
//! entries and long names) is the `fatfs` crate's; this file maps paths
//! and errors, and decides when data goes to the disk.
//!
//! - **Paths** are made canonical first (`.` and `..` resolved, `/` at the
//!   start), and walked one name at a time, so that a missing name is
//!   `ENOENT` and a file in the middle of a path `ENOTDIR`, as on Unix.
//!   Names compare without regard to case, as FAT's do.
//! - **Open files** are paths: each request opens the file anew (`fatfs`'s
//!   file objects borrow the file system, and the server must be able to
//!   unmount it, see below). `RENAME` updates the paths of open nodes; a
//!   node whose file was removed answers `ENOENT`.
//! - **Durability**: every request that changes the disk (`WRITE`, `OPEN`
//!   that creates or truncates, `MKDIR`, `UNLINK`, `RENAME`) and `FSYNC`
//!   end with [`Fat::sync`]: the file system is unmounted (so it writes
//!   its FSInfo sector and clears its "dirty" flag), every dirty block
//!   goes to the disk, the disk is flushed, and the volume is mounted
//!   again from the cache. So when the reply comes, the change is on the
//!   disk, and a machine powered off then leaves a clean volume
//!   (`fsck.fat -n` finds nothing to say).

extern crate alloc;

use crate::cache::{BLOCK, BlockDevice, Cache, Journal};
use crate::raw;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use fatfs::{
    FileSystem, FsOptions, IoBase, LossyOemCpConverter, NullTimeProvider, Read, Seek, SeekFrom,
    Write,
};
use libring::abi::Errno;
use libring::file_server::{Backend, Kind, NAME_MAX, OpenOptions, Status};

/// The most one `READ` returns (its buffer is the server's), and one
/// `WRITE` brings.
pub const TRANSFER_MAX: usize = 16 << 20;

/// The most a `WRITE` may leave as a gap of zeros past a file's end. FAT
/// has no sparse files: the zeros are written, so a far write costs the
/// disk space and the time of writing them, while every other client
/// waits. Past this the write fails with `EFBIG`.
pub const GAP_MAX: u64 = 16 << 20;

/// The fewest blocks past the volume that make a journal (256 KiB).
pub const JOURNAL_MIN_BLOCKS: u64 = 64;

/// The most bytes a `WRITE` puts in one sync: a longer write (or a gap
/// of zeros) is synced piece by piece, so each sync's blocks fit the
/// journal and the cache together.
pub const WRITE_PIECE: usize = 1 << 20;

/// The largest file FAT can hold: 4 GiB - 1.
pub const FILE_MAX: u64 = u32::MAX as u64;

/// A disk error, as `fatfs` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskError(pub Errno);

impl fatfs::IoError for DiskError {
    fn is_interrupted(&self) -> bool {
        false
    }
    fn new_unexpected_eof_error() -> Self {
        DiskError(Errno::Io)
    }
    fn new_write_zero_error() -> Self {
        DiskError(Errno::Io)
    }
}

/// What `fatfs` reads and writes: the cache, from a position.
///
/// `fatfs` reads a directory entry field by field and the allocation
/// table 4 bytes at a time, so most reads are a few bytes. Those come from
/// `window`, a copy of the last block such a read touched, without a
/// lookup in the cache; every write goes through here too, and into the
/// window where they overlap.
pub struct Volume<D: BlockDevice> {
    cache: Rc<RefCell<Cache<D>>>,
    position: u64,
    /// The block index and bytes of the window.
    window: Option<(u64, Box<[u8]>)>,
}

impl<D: BlockDevice> Volume<D> {
    fn new(cache: Rc<RefCell<Cache<D>>>) -> Volume<D> {
        Volume {
            cache,
            position: 0,
            window: None,
        }
    }

    /// The volume over `cache`, for formatting a disk in host tests.
    #[cfg(test)]
    pub fn for_tests(cache: Rc<RefCell<Cache<D>>>) -> Volume<D> {
        Volume::new(cache)
    }

    /// Reads a piece that lies in one whole block through the window;
    /// `None` if it does not (a big read, or the disk's last block).
    fn read_small(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, DiskError> {
        let block = BLOCK as u64;
        let (index, within) = (self.position / block, (self.position % block) as usize);
        if buffer.len() > SMALL || within + buffer.len() > BLOCK {
            return Ok(None);
        }
        // Most reads: in the window already.
        if let Some((held, bytes)) = &self.window
            && *held == index
        {
            buffer.copy_from_slice(&bytes[within..within + buffer.len()]);
            return Ok(Some(buffer.len()));
        }
        if (index + 1) * block > self.cache.borrow().size() {
            return Ok(None);
        }
        let mut bytes = self
            .window
            .take()
            .map_or_else(|| vec![0; BLOCK].into_boxed_slice(), |(_, bytes)| bytes);
        self.cache
            .borrow_mut()
            .read(index * block, &mut bytes)
            .map_err(DiskError)?;
        let (_, bytes) = self.window.insert((index, bytes));
        buffer.copy_from_slice(&bytes[within..within + buffer.len()]);
        Ok(Some(buffer.len()))
    }
}

/// Reads of at most this many bytes go through the window.
const SMALL: usize = 512;

impl<D: BlockDevice> IoBase for Volume<D> {
    type Error = DiskError;
}

impl<D: BlockDevice> Read for Volume<D> {
    fn read(&mut self, buffer: &mut [u8]) -> Result<usize, DiskError> {
        let count = match self.read_small(buffer)? {
            Some(count) => count,
            None => self
                .cache
                .borrow_mut()
                .read(self.position, buffer)
                .map_err(DiskError)?,
        };
        self.position += count as u64;
        Ok(count)
    }
}

impl<D: BlockDevice> Write for Volume<D> {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, DiskError> {
        // The window keeps showing what the disk will hold: the part of
        // the write that falls in it is written there too.
        if let Some((held, window)) = self.window.as_mut() {
            let start = *held * BLOCK as u64;
            let (from, to) = (
                self.position.max(start),
                (self.position + bytes.len() as u64).min(start + BLOCK as u64),
            );
            if from < to {
                let source = (from - self.position) as usize..(to - self.position) as usize;
                window[(from - start) as usize..(to - start) as usize]
                    .copy_from_slice(&bytes[source]);
            }
        }
        let count = self
            .cache
            .borrow_mut()
            .write(self.position, bytes)
            .map_err(DiskError)?;
        self.position += count as u64;
        Ok(count)
    }

    /// The server decides when the cache goes to the disk ([`Fat::sync`]).
    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }
}

impl<D: BlockDevice> Seek for Volume<D> {
    fn seek(&mut self, position: SeekFrom) -> Result<u64, DiskError> {
        let size = self.cache.borrow().size();
        let new = match position {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
            SeekFrom::End(delta) => size.checked_add_signed(delta),
        };
        self.position = new.ok_or(DiskError(Errno::InvalidArgument))?;
        Ok(self.position)
    }
}

type Fs<D> = FileSystem<Volume<D>, NullTimeProvider, LossyOemCpConverter>;

type Dir<'a, D> = fatfs::Dir<'a, Volume<D>, NullTimeProvider, LossyOemCpConverter>;
type File<'a, D> = fatfs::File<'a, Volume<D>, NullTimeProvider, LossyOemCpConverter>;
/// What writes one piece of a `WRITE` into an open file.
type Fill<'a, D> = dyn FnMut(&mut File<'_, D>) -> Result<(), fatfs::Error<DiskError>> + 'a;

/// An open file or directory.
struct Node {
    /// Its canonical path.
    path: String,
    /// A directory's entries, sorted by name, as `READDIR` from entry 0
    /// found them: later `READDIR`s of the same listing continue in it.
    listing: Option<Vec<(String, Status)>>,
}

/// Where a file removed while open waits for its last close: renamed to
/// `/.unlinked-N` (hidden from listings), removed when no node names it,
/// and at the next mount if the server did not live that long.
const UNLINKED: &str = ".unlinked-";

/// A FAT volume, served.
pub struct Fat<D: BlockDevice> {
    cache: Rc<RefCell<Cache<D>>>,
    /// `None` only if mounting again after a sync failed.
    fs: Option<Fs<D>>,
    nodes: Vec<Option<Node>>,
    /// What `read` returns.
    buffer: Vec<u8>,
    /// The number of the next `/.unlinked-N`.
    unlinked: u64,
    /// What paths looked up since the last change name (by lower-case
    /// canonical path): spares `OPEN` the walk a `READ` will make again
    /// (a spawn is both). Emptied by every [`Fat::sync`], which every
    /// change ends with.
    kinds: RefCell<BTreeMap<String, Found>>,
    /// A directory moved to another parent: where its `..` entry is on the
    /// volume (byte offset) and the cluster it must name. The crate's
    /// rename leaves `..` naming the old parent; [`Fat::sync`] mends it
    /// while the file system is unmounted.
    parent_link: Option<(u64, u32)>,
    /// Blocks the journal gave back at mount.
    recovered: usize,
    /// Where things are on the volume (its boot sector never changes).
    geometry: raw::Geometry,
    /// First clusters of chains found whole since the last change, and
    /// where each directory walked to since then starts (by lower-case
    /// canonical path): a damaged volume's loops are found before the
    /// crate follows them (`raw.rs`), once per change.
    checked: RefCell<BTreeMap<String, raw::Place>>,
    chains: RefCell<alloc::collections::BTreeSet<u32>>,
    /// What was found wrong with the volume and not yet said.
    damage: RefCell<Option<String>>,
}

fn error(error: fatfs::Error<DiskError>) -> Errno {
    match error {
        fatfs::Error::Io(DiskError(errno)) => errno,
        fatfs::Error::NotFound => Errno::NotFound,
        fatfs::Error::AlreadyExists => Errno::Exists,
        fatfs::Error::DirectoryIsNotEmpty => Errno::NotEmpty,
        fatfs::Error::NotEnoughSpace => Errno::NoSpace,
        fatfs::Error::InvalidFileNameLength => Errno::NameTooLong,
        fatfs::Error::InvalidInput | fatfs::Error::UnsupportedFileNameCharacter => {
            Errno::InvalidArgument
        }
        _ => Errno::Io,
    }
}

fn mount<D: BlockDevice>(cache: &Rc<RefCell<Cache<D>>>) -> Result<Fs<D>, Errno> {
    let volume = Volume::new(cache.clone());
    let options = FsOptions::new()
        .time_provider(NullTimeProvider::new())
        .oem_cp_converter(LossyOemCpConverter::new());
    FileSystem::new(volume, options).map_err(error)
}

/// `path` made canonical: absolute, no `.`, `..` or empty names, no `/`
/// at the end (but the root's).
pub fn canonical(path: &str) -> Result<String, Errno> {
    let mut names: Vec<&str> = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            name if name.len() > NAME_MAX => return Err(Errno::NameTooLong),
            name => names.push(name),
        }
    }
    let mut canonical = String::new();
    for name in &names {
        canonical.push('/');
        canonical.push_str(name);
    }
    if canonical.is_empty() {
        canonical.push('/');
    }
    Ok(canonical)
}

/// A canonical path's parent and last name (`None` for the root).
fn split(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = path.rsplit_once('/')?;
    (!name.is_empty()).then_some((if parent.is_empty() { "/" } else { parent }, name))
}

/// Does `path` equal `prefix`, or lie under it (case ignored, as FAT)?
fn under(path: &str, prefix: &str) -> bool {
    let (path, prefix) = (path.to_ascii_lowercase(), prefix.to_ascii_lowercase());
    path == prefix || path.starts_with(&(prefix + "/"))
}

/// Is a directory entry called `name` listed?
fn shown(name: &str) -> bool {
    name != "." && name != ".." && !name.starts_with(UNLINKED)
}

/// What a path names.
#[derive(Clone, Copy)]
enum Found {
    Directory,
    File,
}

impl<D: BlockDevice> Fat<D> {
    /// Reads the volume on `device`; `EIO` if it holds no FAT file system.
    pub fn mount(device: D) -> Result<Fat<D>, Errno> {
        let cache = Rc::new(RefCell::new(Cache::new(device)));
        let recovered = Fat::start_journal(&mut cache.borrow_mut())?;
        let geometry = raw::Geometry::read(&mut cache.borrow_mut())?;
        let fs = mount(&cache)?;
        let mut fat = Fat {
            cache,
            fs: Some(fs),
            nodes: Vec::new(),
            buffer: Vec::new(),
            unlinked: 0,
            kinds: RefCell::new(BTreeMap::new()),
            parent_link: None,
            recovered: 0,
            geometry,
            checked: RefCell::new(BTreeMap::new()),
            chains: RefCell::new(alloc::collections::BTreeSet::new()),
            damage: RefCell::new(None),
        };
        fat.remove_unlinked()?;
        fat.recovered = recovered;
        Ok(fat)
    }

    /// If the disk has at least [`JOURNAL_MIN_BLOCKS`] whole blocks past
    /// the volume, flushes go through a journal there (`cache.rs`); a
    /// flush the power cut short is finished first. Returns how many
    /// blocks that wrote home.
    fn start_journal(cache: &mut Cache<D>) -> Result<usize, Errno> {
        let Ok(geometry) = raw::Geometry::read(cache) else {
            return Ok(0); // no FAT volume: mounting will say so
        };
        let first = geometry.volume_bytes.div_ceil(BLOCK as u64);
        let blocks = (cache.size() / BLOCK as u64).saturating_sub(first);
        if blocks < JOURNAL_MIN_BLOCKS {
            return Ok(0);
        }
        cache.use_journal(Journal { first, blocks });
        cache.recover()
    }

    /// Finishes, on `device`, a flush the power cut short (the journal's
    /// blocks written home), then empties the journal: for a disk about to
    /// be changed by other means (xtask refreshing `/bin` with mtools),
    /// which the next mount's replay of the journal would otherwise undo.
    /// Returns the blocks written home.
    pub fn settle_journal(device: D) -> Result<usize, Errno> {
        let mut cache = Cache::new(device);
        let written = Self::start_journal(&mut cache)?;
        cache.clear_journal()?;
        Ok(written)
    }

    /// Blocks written home from the journal at mount (a flush the power
    /// cut short), for the server to report.
    pub fn recovered(&self) -> usize {
        self.recovered
    }

    /// The volume's size in bytes (its boot sector's), and its journal's
    /// (0: the disk has no room past the volume for one).
    pub fn sizes(&self) -> Result<(u64, u64), Errno> {
        let mut cache = self.cache.borrow_mut();
        let volume = raw::Geometry::read(&mut cache)?.volume_bytes;
        let journal = cache
            .journal()
            .map_or(0, |journal| journal.blocks * BLOCK as u64);
        Ok((volume, journal))
    }

    /// How many `/.unlinked-N` files there are.
    #[cfg(test)]
    pub fn hidden_files(&self) -> usize {
        self.fs()
            .unwrap()
            .root_dir()
            .iter()
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|entry| entry.file_name().starts_with(UNLINKED))
            })
            .count()
    }

    /// Removes the `/.unlinked-N` files a server that stopped left.
    fn remove_unlinked(&mut self) -> Result<(), Errno> {
        let mut left = Vec::new();
        for entry in self.fs()?.root_dir().iter() {
            let name = entry.map_err(error)?.file_name();
            if name.starts_with(UNLINKED) {
                left.push(name);
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        for name in &left {
            self.fs()?.root_dir().remove(name).map_err(error)?;
        }
        self.sync()
    }

    /// Moves the entry at canonical `from` to canonical `to` (which is
    /// not there); open nodes follow what they name. Not synced.
    fn move_entry(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        self.forget_lookups();
        let (Some((from_parent, from_name)), Some((to_parent, to_name))) = (split(from), split(to))
        else {
            return Err(Errno::Busy); // the root
        };
        {
            let source = self.directory(from_parent)?;
            let target = self.directory(to_parent)?;
            source.rename(from_name, &target, to_name).map_err(error)?;
        }
        for node in self.nodes.iter_mut().flatten() {
            if under(&node.path, from) {
                node.path = String::from(to) + &node.path[from.len()..];
            }
        }
        if !from_parent.eq_ignore_ascii_case(to_parent) {
            self.parent_link = self.parent_link_of(to)?;
        }
        Ok(())
    }

    /// Writes into the file at `path` from offset `at` with `fill` (given
    /// the file, already there), then syncs, what did reach the cache
    /// going to the disk even if `fill` failed.
    fn write_piece(&mut self, path: &str, at: u64, fill: &mut Fill<'_, D>) -> Result<(), Errno> {
        let mut file = self.file(path)?;
        let written = (|| {
            file.seek(SeekFrom::Start(at))?;
            fill(&mut file)?;
            file.flush()
        })();
        drop(file);
        let synced = self.sync();
        written.map_err(error)?;
        synced
    }

    /// If `moved` (canonical) is a directory, where its `..` entry is and
    /// the first cluster of the directory that holds it (0 for the root,
    /// as FAT has it), for [`Fat::sync`] to write.
    fn parent_link_of(&self, moved: &str) -> Result<Option<(u64, u32)>, Errno> {
        let Some((parent, name)) = split(moved) else {
            return Ok(None); // the root
        };
        let (directory, holder) = self.directory_at(parent)?;
        let entry = find(&directory, name)?.ok_or(Errno::NotFound)?;
        if !entry.is_dir() {
            return Ok(None);
        }
        let (cluster, _) = self.raw_entry(holder, &entry, true)?;
        let parent = match holder {
            raw::Place::Cluster(cluster) if holder != self.geometry.root() => cluster,
            _ => 0,
        };
        // A directory's first cluster holds `.`, then `..`.
        Ok(Some((self.geometry.cluster_at(cluster)? + 32, parent)))
    }

    /// Forgets what lookups learnt (what paths name, where folders start,
    /// which chains are whole): a change may have made any of it untrue.
    fn forget_lookups(&mut self) {
        self.kinds.get_mut().clear();
        self.checked.get_mut().clear();
        self.chains.get_mut().clear();
    }

    /// Takes the file at canonical `path` away from its name: removed,
    /// or, while a node has it open, moved to `/.unlinked-N` until its
    /// last close. Not synced.
    fn remove_file(&mut self, path: &str) -> Result<(), Errno> {
        self.forget_lookups();
        let open = self
            .nodes
            .iter()
            .flatten()
            .any(|node| node.path.eq_ignore_ascii_case(path));
        if open {
            self.unlinked += 1;
            let hidden = alloc::format!("/{UNLINKED}{}", self.unlinked);
            return self.move_entry(path, &hidden);
        }
        let (parent, name) = split(path).ok_or(Errno::Busy)?;
        self.directory(parent)?.remove(name).map_err(error)
    }

    /// "FAT32", say.
    pub fn kind(&self) -> &'static str {
        match self.fs.as_ref().map(|fs| fs.fat_type()) {
            Some(fatfs::FatType::Fat12) => "FAT12",
            Some(fatfs::FatType::Fat16) => "FAT16",
            Some(fatfs::FatType::Fat32) => "FAT32",
            None => "no file system",
        }
    }

    /// The cache, for tests and figures.
    pub fn cache(&self) -> core::cell::Ref<'_, Cache<D>> {
        self.cache.borrow()
    }

    fn fs(&self) -> Result<&Fs<D>, Errno> {
        self.fs.as_ref().ok_or(Errno::Io)
    }

    /// Bytes free on the volume (whole clusters).
    fn free_bytes(&self) -> Result<u64, Errno> {
        let stats = self.fs()?.stats().map_err(error)?;
        Ok(u64::from(stats.free_clusters()) * u64::from(stats.cluster_size()))
    }

    /// Puts everything changed on the disk: unmounts (FSInfo, the dirty
    /// flag cleared), flushes the cache and the disk, mounts again.
    pub fn sync(&mut self) -> Result<(), Errno> {
        self.forget_lookups();
        let unmounted = match self.fs.take() {
            Some(fs) => fs.unmount().map_err(error),
            None => Ok(()),
        };
        if let Some((at, cluster)) = self.parent_link.take() {
            let mut dot_dot = [0u8; 32];
            let mut cache = self.cache.borrow_mut();
            cache.read(at, &mut dot_dot)?;
            // Only a `..` entry is changed: anything else means the
            // offset was wrong, and nothing is written.
            if &dot_dot[..11] == b"..         " {
                cache.write(at + 20, &((cluster >> 16) as u16).to_le_bytes())?;
                cache.write(at + 26, &(cluster as u16).to_le_bytes())?;
            }
        }
        let flushed = self.cache.borrow_mut().flush();
        self.fs = Some(mount(&self.cache)?);
        unmounted.and(flushed)
    }

    /// The directory at canonical `path`, walked name by name.
    fn directory(&self, path: &str) -> Result<Dir<'_, D>, Errno> {
        self.directory_at(path).map(|(directory, _)| directory)
    }

    /// The directory at canonical `path`, and where its entries are. Each
    /// directory's chain of clusters is checked (bounded, `raw.rs`) before
    /// the crate reads it, so a loop is `EIO`, not a server that spins.
    fn directory_at(&self, path: &str) -> Result<(Dir<'_, D>, raw::Place), Errno> {
        let mut directory = self.fs()?.root_dir();
        let mut place = self.geometry.root();
        self.check_chain(place, "/", 0)?;
        let mut walked = String::new();
        for name in path.split('/').filter(|name| !name.is_empty()) {
            let entry = find(&directory, name)?.ok_or(Errno::NotFound)?;
            if !entry.is_dir() {
                return Err(Errno::NotADirectory);
            }
            walked.push('/');
            walked.push_str(name);
            let key = walked.to_ascii_lowercase();
            let known = self.checked.borrow().get(&key).copied();
            place = match known {
                Some(known) => known,
                None => {
                    let (cluster, _) = self.raw_entry(place, &entry, true)?;
                    let found = raw::Place::Cluster(cluster);
                    self.check_chain(found, &walked, 0)?;
                    self.checked.borrow_mut().insert(key, found);
                    found
                }
            };
            directory = entry.to_dir();
        }
        Ok((directory, place))
    }

    /// The first cluster and size of `entry` as the entries at `place`
    /// hold them on the disk (the crate does not say).
    fn raw_entry(
        &self,
        place: raw::Place,
        entry: &fatfs::DirEntry<'_, Volume<D>, NullTimeProvider, LossyOemCpConverter>,
        directory: bool,
    ) -> Result<(u32, u64), Errno> {
        let stored = raw::stored_short_name(entry.short_file_name_as_bytes());
        let mut cache = self.cache.borrow_mut();
        self.geometry
            .find_entry(&mut cache, place, |_, raw| {
                let is_directory = raw[11] & 0x10 != 0;
                let matches =
                    raw[11] != 0x0f && raw[..11] == stored[..] && is_directory == directory;
                matches.then(|| {
                    let size = u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]);
                    (raw::entry_cluster(raw), u64::from(size))
                })
            })?
            .ok_or(Errno::Io)
    }

    /// Checks the chain at `place` (a directory's, or a file's of `size`
    /// bytes): whole, no loop, inside the volume, long enough for `size`.
    /// Damage is `EIO`, and remembered for the server to say.
    fn check_chain(&self, place: raw::Place, path: &str, size: u64) -> Result<(), Errno> {
        let raw::Place::Cluster(first) = place else {
            return Ok(()); // the root region of FAT12/16: fixed
        };
        if first == 0 && size == 0 {
            return Ok(()); // an empty file has no cluster
        }
        if self.chains.borrow().contains(&first) {
            return Ok(());
        }
        let length = self
            .geometry
            .chain_length(&mut self.cache.borrow_mut(), first);
        let problem = match length {
            Err(_) => Some("its chain of clusters loops or leaves the volume"),
            Ok(clusters) if clusters * self.geometry.cluster_bytes() < size => {
                Some("its size is larger than its clusters")
            }
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            *self.damage.borrow_mut() = Some(alloc::format!(
                "{path}: {problem}: the volume is damaged (fsck.fat can mend it)"
            ));
            return Err(Errno::Io);
        }
        self.chains.borrow_mut().insert(first);
        Ok(())
    }

    /// What was last found wrong with the volume, if it has not been
    /// taken yet (the server prints it).
    pub fn take_damage(&self) -> Option<String> {
        self.damage.borrow_mut().take()
    }

    /// What canonical `path` is.
    fn look_up(&self, path: &str) -> Result<Found, Errno> {
        let Some((parent, name)) = split(path) else {
            return Ok(Found::Directory); // the root
        };
        let key = path.to_ascii_lowercase();
        if let Some(&found) = self.kinds.borrow().get(&key) {
            return Ok(found);
        }
        let entry = find(&self.directory(parent)?, name)?.ok_or(Errno::NotFound)?;
        let found = if entry.is_dir() {
            Found::Directory
        } else {
            Found::File
        };
        self.kinds.borrow_mut().insert(key, found);
        Ok(found)
    }

    /// The file at canonical `path`, its chain checked against its size.
    fn file(&self, path: &str) -> Result<File<'_, D>, Errno> {
        let (parent, name) = split(path).ok_or(Errno::IsADirectory)?;
        let (directory, place) = self.directory_at(parent)?;
        let entry = find(&directory, name)?.ok_or(Errno::NotFound)?;
        if entry.is_dir() {
            return Err(Errno::IsADirectory);
        }
        let (first, size) = self.raw_entry(place, &entry, false)?;
        self.check_chain(raw::Place::Cluster(first), path, size)?;
        Ok(entry.to_file())
    }

    fn path(&self, node: usize) -> Result<String, Errno> {
        self.nodes
            .get(node)
            .and_then(Option::as_ref)
            .map(|node| node.path.clone())
            .ok_or(Errno::BadHandle)
    }

    fn add_node(&mut self, path: String) -> usize {
        let node = Some(Node {
            path,
            listing: None,
        });
        match self.nodes.iter().position(Option::is_none) {
            Some(index) => {
                self.nodes[index] = node;
                index
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Entries of the directory at `path`, but `.`, `..` and files
    /// waiting for their last close.
    fn count_entries(&self, path: &str) -> Result<u64, Errno> {
        let mut count = 0;
        for entry in self.directory(path)?.iter() {
            let name = entry.map_err(error)?.file_name();
            if shown(&name) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The directory at `path`'s entries with their status, sorted by
    /// name (a FAT directory keeps the order entries were made in).
    fn listing(&self, path: &str) -> Result<Vec<(String, Status)>, Errno> {
        let mut listing = Vec::new();
        for entry in self.directory(path)?.iter() {
            let entry = entry.map_err(error)?;
            let name = entry.file_name();
            if !shown(&name) {
                continue;
            }
            let status = if entry.is_dir() {
                let inside = canonical(&(String::from(path) + "/" + &name))?;
                Status {
                    kind: Kind::Directory,
                    size: self.count_entries(&inside)?,
                }
            } else {
                Status {
                    kind: Kind::File,
                    size: entry.len(),
                }
            };
            listing.push((name, status));
        }
        listing.sort_by(|left, right| left.0.cmp(&right.0));
        Ok(listing)
    }

    fn create(&mut self, path: &str) -> Result<(), Errno> {
        let (parent, name) = split(path).ok_or(Errno::Exists)?;
        self.directory(parent)?.create_file(name).map_err(error)?;
        self.sync()
    }

    fn truncate(&mut self, path: &str) -> Result<(), Errno> {
        let mut file = self.file(path)?;
        file.truncate().map_err(error)?;
        file.flush().map_err(error)?;
        drop(file);
        self.sync()
    }
}

/// The entry called `name` in `directory` (case ignored), if any.
fn find<'a, D: BlockDevice>(
    directory: &Dir<'a, D>,
    name: &str,
) -> Result<Option<fatfs::DirEntry<'a, Volume<D>, NullTimeProvider, LossyOemCpConverter>>, Errno> {
    for entry in directory.iter() {
        let entry = entry.map_err(error)?;
        if entry.eq_name(name) {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

impl<D: BlockDevice> Backend for Fat<D> {
    type Node = usize;

    fn open(&mut self, path: &str, options: OpenOptions) -> Result<usize, Errno> {
        let path = canonical(path)?;
        match self.look_up(&path) {
            Ok(Found::Directory) => {
                if options.create && options.exclusive {
                    return Err(Errno::Exists);
                }
                if options.write || options.truncate {
                    return Err(Errno::IsADirectory);
                }
            }
            Ok(Found::File) => {
                if options.directory {
                    return Err(Errno::NotADirectory);
                }
                if options.create && options.exclusive {
                    return Err(Errno::Exists);
                }
                if options.truncate {
                    self.truncate(&path)?;
                }
            }
            Err(Errno::NotFound) if options.create && !options.directory => self.create(&path)?,
            Err(error) => return Err(error),
        }
        Ok(self.add_node(path))
    }

    fn close(&mut self, node: usize) {
        let Some(closed) = self.nodes.get_mut(node).and_then(Option::take) else {
            return;
        };
        // The last close of a file removed while open removes it.
        let still_open = self
            .nodes
            .iter()
            .flatten()
            .any(|node| node.path == closed.path);
        if closed.path.starts_with(&alloc::format!("/{UNLINKED}")) && !still_open {
            let removed = self
                .directory("/")
                .and_then(|root| root.remove(&closed.path[1..]).map_err(error));
            if removed.is_ok() {
                let _ = self.sync();
            }
        }
    }

    fn path_of(&mut self, node: usize) -> Result<String, Errno> {
        self.path(node)
    }

    fn read(&mut self, node: usize, offset: u64, length: usize) -> Result<&[u8], Errno> {
        let path = self.path(node)?;
        let mut buffer = core::mem::take(&mut self.buffer);
        let mut file = self.file(&path)?;
        let size = u64::from(file.size().unwrap_or(0));
        if offset >= size {
            drop(file);
            self.buffer = buffer;
            return Ok(&[]);
        }
        let length = (length as u64).min(size - offset).min(TRANSFER_MAX as u64) as usize;
        // The buffer grows to the largest READ asked for (16 MiB at most),
        // fallibly: with no room the READ fails, not the server.
        if buffer.len() < length {
            buffer
                .try_reserve_exact(length - buffer.len())
                .map_err(|_| Errno::OutOfMemory)?;
        }
        buffer.resize(length, 0);
        let mut filled = 0;
        let result = file.seek(SeekFrom::Start(offset)).map(|_| ());
        let result = result.map_err(error).and_then(|()| {
            loop {
                if filled == length {
                    break Ok(());
                }
                match file.read(&mut buffer[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(count) => filled += count,
                    Err(problem) => break Err(error(problem)),
                }
            }
        });
        drop(file);
        self.buffer = buffer;
        result.map(|()| &self.buffer[..filled])
    }

    fn write(
        &mut self,
        node: usize,
        offset: u64,
        bytes: &[u8],
        append: bool,
    ) -> Result<usize, Errno> {
        // Writing nothing changes nothing, wherever.
        if bytes.is_empty() {
            return Ok(0);
        }
        let path = self.path(node)?;
        let free = self.free_bytes()?;
        let file = self.file(&path)?;
        let size = u64::from(file.size().unwrap_or(0));
        let start = if append { size } else { offset };
        let end = start
            .checked_add(bytes.len() as u64)
            .ok_or(Errno::FileTooBig)?;
        if end > FILE_MAX || start.saturating_sub(size) > GAP_MAX {
            return Err(Errno::FileTooBig);
        }
        // Refused before anything is written: growth that cannot fit.
        if end.saturating_sub(size) > free {
            return Err(Errno::NoSpace);
        }
        drop(file);
        // From the old end (writing past it: zeros up to the offset first)
        // or the offset, to the new end, in pieces of at most WRITE_PIECE
        // bytes, each synced on its own so that a sync fits the journal.
        // A write of one piece is all on the disk or not at all; a cut
        // between pieces of a longer one leaves the file with the pieces
        // synced so far.
        let zeros = [0u8; 512];
        let mut at = size.min(start);
        while at < end {
            let piece_end = (at + WRITE_PIECE as u64).min(end);
            self.write_piece(&path, at, &mut |file| {
                let mut gap = start.min(piece_end).saturating_sub(at);
                while gap > 0 {
                    let part = gap.min(zeros.len() as u64) as usize;
                    file.write_all(&zeros[..part])?;
                    gap -= part as u64;
                }
                if piece_end > start {
                    let from = (at.max(start) - start) as usize;
                    file.write_all(&bytes[from..(piece_end - start) as usize])?;
                }
                Ok(())
            })?;
            at = piece_end;
        }
        Ok(bytes.len())
    }

    fn stat(&mut self, node: usize) -> Result<Status, Errno> {
        let path = self.path(node)?;
        match self.look_up(&path)? {
            Found::Directory => Ok(Status {
                kind: Kind::Directory,
                size: self.count_entries(&path)?,
            }),
            Found::File => Ok(Status {
                kind: Kind::File,
                size: u64::from(self.file(&path)?.size().unwrap_or(0)),
            }),
        }
    }

    fn entry(&mut self, node: usize, index: usize) -> Result<Option<(String, Status)>, Errno> {
        let path = self.path(node)?;
        let listed = self.nodes[node]
            .as_ref()
            .is_some_and(|node| node.listing.is_some());
        // Entry 0 starts a listing: the directory is read whole, sorted.
        if index == 0 || !listed {
            let listing = self.listing(&path)?;
            if let Some(node) = self.nodes[node].as_mut() {
                node.listing = Some(listing);
            }
        }
        Ok(self.nodes[node]
            .as_ref()
            .and_then(|node| node.listing.as_ref())
            .and_then(|listing| listing.get(index).cloned()))
    }

    fn mkdir(&mut self, path: &str) -> Result<(), Errno> {
        let path = canonical(path)?;
        let (parent, name) = split(&path).ok_or(Errno::Exists)?;
        {
            let directory = self.directory(parent)?;
            if find(&directory, name)?.is_some() {
                return Err(Errno::Exists);
            }
            directory.create_dir(name).map_err(error)?;
        }
        self.sync()
    }

    fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        let path = canonical(path)?;
        match self.look_up(&path)? {
            _ if split(&path).is_none() => return Err(Errno::Busy), // the root
            Found::File => self.remove_file(&path)?,
            Found::Directory => {
                let (parent, name) = split(&path).ok_or(Errno::Busy)?;
                self.directory(parent)?.remove(name).map_err(error)?;
            }
        }
        self.sync()
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        let (from, to) = (canonical(from)?, canonical(to)?);
        let (Some(_), Some((to_parent, to_name))) = (split(&from), split(&to)) else {
            return Err(Errno::Busy); // the root
        };
        let moved = self.look_up(&from)?;
        // The destination's folder must be there (ENOENT, ENOTDIR) before
        // anything else is said of it.
        self.directory(to_parent)?;
        if from == to {
            return Ok(());
        }
        let same_name = from.eq_ignore_ascii_case(&to);
        if under(&to, &from) && !same_name {
            return Err(Errno::InvalidArgument); // into itself
        }
        // rename(2) replaces what is there: a file by a file (which lives
        // on for whoever has it open), an empty directory by a directory.
        match (self.look_up(&to), moved) {
            (Ok(Found::File), Found::Directory) => return Err(Errno::NotADirectory),
            (Ok(Found::Directory), Found::File) => return Err(Errno::IsADirectory),
            (Ok(Found::File), Found::File) if !same_name => self.remove_file(&to)?,
            (Ok(Found::Directory), Found::Directory) if !same_name => {
                self.directory(to_parent)?.remove(to_name).map_err(error)?;
            }
            (Ok(_), _) | (Err(Errno::NotFound), _) => {}
            (Err(error), _) => return Err(error),
        }
        if same_name {
            // The crate takes a new name that differs only in case for the
            // entry that is already there, and changes nothing: go by a
            // name of its own in the same folder.
            self.unlinked += 1;
            let step = alloc::format!("{to_parent}/{UNLINKED}{}", self.unlinked);
            let step = canonical(&step)?;
            self.move_entry(&from, &step)?;
            self.move_entry(&step, &to)?;
        } else {
            self.move_entry(&from, &to)?;
        }
        self.sync()
    }

    fn fsync(&mut self, _node: usize) -> Result<(), Errno> {
        self.sync()
    }

    fn write_max(&self) -> usize {
        TRANSFER_MAX
    }

    /// A read buffer grown past 1 MiB goes: the next large `READ` makes
    /// another, and meanwhile the memory is the server's to use again.
    fn read_done(&mut self) {
        if self.buffer.capacity() > 1 << 20 {
            self.buffer = Vec::new();
        }
    }
}
