//! The ramfs tree: directories and files in memory, with POSIX-like errors.
//!
//! Every node (file or directory) lives in `Tree::nodes`, found by its
//! [`NodeId`]; a directory maps names to the ids of its entries. Paths are
//! absolute (`/tmp/a`), `.` and `..` are understood, and repeated slashes
//! are one.
//!
//! A node can be open (the server holds it for a client's handle) after it
//! has been unlinked from its directory: like a Unix file, it then stays
//! readable and writable through the open handles and is freed when the
//! last one closes ([`Tree::close`]).
//!
//! Everything the tree holds is counted in `stored`: the memory of each
//! file's own bytes (its capacity; bytes still borrowed from the boot
//! image cost nothing) and [`NODE_COST`] for each node. A change that
//! would take it past the tree's limit fails with `ENOSPC`, before it
//! allocates anything, so the server never runs out of memory on a
//! client's request (`docs/trust.md`). A write far past a file's end
//! fills the gap with zeros, and the gap counts too.
//!
//! # Invariants
//! - Node 0 is the root directory; it is its own parent and never goes.
//! - `stored` is the sum of [`NODE_COST`] per node and the capacity of
//!   every file's owned bytes, and never exceeds `limit` after a change
//!   a client asked for.
//! - A directory entry names a live node whose `parent` is that directory.
//! - A node is freed exactly when it is unlinked and no longer open.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use libring::abi::Errno;

/// Where a node is in [`Tree::nodes`].
pub type NodeId = usize;

/// The root directory.
pub const ROOT: NodeId = 0;

pub use libring::file_server::{Kind, NAME_MAX, OpenOptions, PATH_MAX, Status};

/// The largest a file may grow (`EFBIG` past it).
pub const FILE_MAX: usize = 16 << 20;

/// What a node costs beside its bytes: the node, its name and its place
/// in its directory, rounded up.
pub const NODE_COST: usize = 256;

/// What a tree may hold (`stored`) unless told otherwise: 32 MiB, half of
/// the 64 MiB the default system gives ramfs, so that a file's bytes can
/// move when it grows and the server's own heap has room.
pub const STORE_MAX: usize = 32 << 20;

/// The memory a file's contents hold of their own.
fn cost(contents: &Contents) -> usize {
    match contents {
        Contents::File(Cow::Owned(bytes)) => bytes.capacity(),
        _ => 0,
    }
}

enum Contents {
    /// A file's bytes: borrowed from the boot image until first written
    /// (copy on write), so seeding the tree copies nothing.
    File(Cow<'static, [u8]>),
    Directory(BTreeMap<String, NodeId>),
}

struct Node {
    contents: Contents,
    parent: NodeId,
    /// Still named by a directory entry.
    linked: bool,
    /// Handles open on it.
    opens: u32,
}

impl Node {
    fn kind(&self) -> Kind {
        match self.contents {
            Contents::File(_) => Kind::File,
            Contents::Directory(_) => Kind::Directory,
        }
    }

    fn size(&self) -> u64 {
        match &self.contents {
            Contents::File(bytes) => bytes.len() as u64,
            Contents::Directory(entries) => entries.len() as u64,
        }
    }
}

/// A whole file system in memory.
pub struct Tree {
    nodes: Vec<Option<Node>>,
    /// Freed places in `nodes`, used again first.
    free: Vec<NodeId>,
    /// Bytes held, as the module header counts them.
    stored: usize,
    /// The most `stored` may reach.
    limit: usize,
    /// The last entry [`Tree::entry`] gave: (directory, index, name). A
    /// listing asks for entries 0, 1, 2, ... in turn, and the next one is
    /// found from the last in O(log n), not by counting from the first
    /// (which made listing a 20,000-entry directory quadratic). Forgotten
    /// at every change of any directory's entries.
    cursor: core::cell::RefCell<Option<(NodeId, usize, String)>>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new()
    }
}

impl Tree {
    /// A tree with an empty root directory that may hold [`STORE_MAX`].
    pub fn new() -> Tree {
        Tree::with_limit(STORE_MAX)
    }

    /// A tree with an empty root directory that may hold `limit` bytes.
    pub fn with_limit(limit: usize) -> Tree {
        let root = Node {
            contents: Contents::Directory(BTreeMap::new()),
            parent: ROOT,
            linked: true,
            opens: 0,
        };
        Tree {
            nodes: alloc::vec![Some(root)],
            free: Vec::new(),
            stored: NODE_COST,
            limit,
            cursor: core::cell::RefCell::new(None),
        }
    }

    /// Bytes held now (see the module header).
    pub fn stored(&self) -> usize {
        self.stored
    }

    /// Fails with `ENOSPC` unless `more` bytes fit beside what is held.
    fn room_for(&self, more: usize) -> Result<(), Errno> {
        match self.stored.checked_add(more) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(Errno::NoSpace),
        }
    }

    fn node(&self, id: NodeId) -> Result<&Node, Errno> {
        self.nodes
            .get(id)
            .and_then(Option::as_ref)
            .ok_or(Errno::BadHandle)
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, Errno> {
        self.nodes
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(Errno::BadHandle)
    }

    fn entries(&self, id: NodeId) -> Result<&BTreeMap<String, NodeId>, Errno> {
        match &self.node(id)?.contents {
            Contents::Directory(entries) => Ok(entries),
            Contents::File(_) => Err(Errno::NotADirectory),
        }
    }

    fn entries_mut(&mut self, id: NodeId) -> Result<&mut BTreeMap<String, NodeId>, Errno> {
        // The entries may change: a listing's place in them is lost.
        *self.cursor.get_mut() = None;
        match &mut self.node_mut(id)?.contents {
            Contents::Directory(entries) => Ok(entries),
            Contents::File(_) => Err(Errno::NotADirectory),
        }
    }

    /// Follows `path` to a node.
    pub fn lookup(&self, path: &str) -> Result<NodeId, Errno> {
        let mut node = ROOT;
        for part in components(path)? {
            node = self.step(node, part)?;
        }
        Ok(node)
    }

    /// The absolute path of directory `id` (for paths relative to an open
    /// directory): `ENOTDIR` for a file, `ENOENT` for a directory that has
    /// been removed.
    pub fn path_of(&self, id: NodeId) -> Result<String, Errno> {
        self.entries(id)?;
        let mut names: Vec<&str> = Vec::new();
        let mut node = id;
        while node != ROOT {
            let current = self.node(node)?;
            if !current.linked {
                return Err(Errno::NotFound);
            }
            let parent = current.parent;
            let name = self
                .entries(parent)?
                .iter()
                .find(|&(_, &child)| child == node)
                .map(|(name, _)| name.as_str())
                .ok_or(Errno::NotFound)?;
            names.push(name);
            node = parent;
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        if path.is_empty() {
            path.push('/');
        }
        Ok(path)
    }

    /// One step of a walk: `part` of directory `directory`.
    fn step(&self, directory: NodeId, part: &str) -> Result<NodeId, Errno> {
        let entries = self.entries(directory)?;
        match part {
            "." => Ok(directory),
            ".." => Ok(self.node(directory)?.parent),
            name => entries.get(name).copied().ok_or(Errno::NotFound),
        }
    }

    /// The directory that holds (or would hold) `path`'s last part, and
    /// that part. `EINVAL` for the root itself, or a path ending in `.` or
    /// `..` (nothing can be created or removed under those names).
    fn parent_of<'p>(&self, path: &'p str) -> Result<(NodeId, &'p str), Errno> {
        let parts = components(path)?;
        let Some((&name, leading)) = parts.split_last() else {
            return Err(Errno::InvalidArgument);
        };
        if name == "." || name == ".." {
            return Err(Errno::InvalidArgument);
        }
        let mut directory = ROOT;
        for part in leading {
            directory = self.step(directory, part)?;
        }
        // The parent must itself be a directory.
        self.entries(directory)?;
        Ok((directory, name))
    }

    fn add_node(&mut self, contents: Contents, parent: NodeId) -> NodeId {
        let node = Node {
            contents,
            parent,
            linked: true,
            opens: 0,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }

    /// Puts a new node called `name` into `directory`.
    fn create(
        &mut self,
        directory: NodeId,
        name: &str,
        contents: Contents,
    ) -> Result<NodeId, Errno> {
        if self.entries(directory)?.contains_key(name) {
            return Err(Errno::Exists);
        }
        self.room_for(NODE_COST + cost(&contents))?;
        // The node table (and the free list, so that forgetting a node
        // never allocates) grow by doubling: fallibly, so a full heap is
        // ENOSPC here and not the server's end.
        let want = self.nodes.len() + 1;
        if self.nodes.try_reserve(1).is_err()
            || self
                .free
                .try_reserve(want.saturating_sub(self.free.len()))
                .is_err()
        {
            return Err(Errno::NoSpace);
        }
        self.stored += NODE_COST + cost(&contents);
        let id = self.add_node(contents, directory);
        self.entries_mut(directory)?.insert(name.to_string(), id);
        Ok(id)
    }

    /// Opens `path` as `options` say and returns its node, now counted as
    /// open until [`Tree::close`].
    pub fn open(&mut self, path: &str, options: OpenOptions) -> Result<NodeId, Errno> {
        let id = match self.lookup(path) {
            Ok(_) if options.create && options.exclusive => return Err(Errno::Exists),
            Ok(id) => id,
            Err(Errno::NotFound) if options.create => {
                if options.directory {
                    return Err(Errno::InvalidArgument);
                }
                let (directory, name) = self.parent_of(path)?;
                self.create(directory, name, Contents::File(Cow::Owned(Vec::new())))?
            }
            Err(error) => return Err(error),
        };
        let node = self
            .nodes
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(Errno::BadHandle)?;
        let before = cost(&node.contents);
        match &mut node.contents {
            Contents::Directory(_) if options.write || options.truncate => {
                return Err(Errno::IsADirectory);
            }
            Contents::File(_) if options.directory => return Err(Errno::NotADirectory),
            Contents::File(bytes) if options.truncate => *bytes = Cow::Owned(Vec::new()),
            // Bytes borrowed from the boot image sit wherever the archive
            // put them, seldom 8-byte aligned, and every READ of them
            // then copies unaligned, much slower (a spawn of /bin/true:
            // 152,829 instructions against 96,334). The first OPEN copies
            // them once into the tree's own, aligned, memory.
            Contents::File(bytes) if !(bytes.as_ptr() as usize).is_multiple_of(ALIGNED) => {
                bytes.to_mut();
            }
            _ => {}
        }
        node.opens += 1;
        // A truncation gives memory back; the copy of a boot-image file
        // takes some (at most the boot image, so not checked).
        self.stored = self.stored - before + cost(&node.contents);
        Ok(id)
    }

    /// One open handle on `id` is gone; an unlinked node goes with its last.
    pub fn close(&mut self, id: NodeId) {
        let Ok(node) = self.node_mut(id) else { return };
        node.opens = node.opens.saturating_sub(1);
        if node.opens == 0 && !node.linked {
            self.forget(id);
        }
    }

    /// Frees node `id` (unlinked and closed).
    fn forget(&mut self, id: NodeId) {
        if id != ROOT
            && let Some(node) = self.nodes.get_mut(id).and_then(Option::take)
        {
            self.stored -= NODE_COST + cost(&node.contents);
            self.free.push(id);
        }
    }

    /// Reads from file `id` at `offset` into `buffer`; 0 at or past its end.
    pub fn read(&self, id: NodeId, offset: u64, buffer: &mut [u8]) -> Result<usize, Errno> {
        let Contents::File(bytes) = &self.node(id)?.contents else {
            return Err(Errno::IsADirectory);
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let count = buffer.len().min(bytes.len() - start);
        buffer[..count].copy_from_slice(&bytes[start..start + count]);
        Ok(count)
    }

    /// The bytes of file `id` from `offset`, at most `length` of them (none
    /// at or past its end): for copying straight to a client, with no copy
    /// in between.
    pub fn bytes(&self, id: NodeId, offset: u64, length: usize) -> Result<&[u8], Errno> {
        let Contents::File(bytes) = &self.node(id)?.contents else {
            return Err(Errno::IsADirectory);
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start + length.min(bytes.len() - start);
        Ok(&bytes[start..end])
    }

    /// Writes `data` into file `id` at `offset` (at its end, with
    /// `append`), filling any gap with zeros. `EFBIG` past [`FILE_MAX`],
    /// `ENOSPC` if the tree's limit would be passed (nothing changes
    /// then). Writing nothing changes nothing, wherever.
    pub fn write(
        &mut self,
        id: NodeId,
        offset: u64,
        data: &[u8],
        append: bool,
    ) -> Result<usize, Errno> {
        let (stored, limit) = (self.stored, self.limit);
        let Contents::File(contents) = &mut self.node_mut(id)?.contents else {
            return Err(Errno::IsADirectory);
        };
        if data.is_empty() {
            return Ok(0);
        }
        let length = contents.len();
        let start = if append {
            length
        } else {
            usize::try_from(offset).map_err(|_| Errno::FileTooBig)?
        };
        let end = start.checked_add(data.len()).ok_or(Errno::FileTooBig)?;
        if end > FILE_MAX {
            return Err(Errno::FileTooBig);
        }
        // What the bytes will hold afterwards: room for `end` bytes, and
        // room to grow (doubling, up to FILE_MAX) when they must move.
        let before = match contents {
            Cow::Owned(bytes) => bytes.capacity(),
            Cow::Borrowed(_) => 0,
        };
        let after = match contents {
            Cow::Owned(bytes) if end <= bytes.capacity() => bytes.capacity(),
            _ => end.max(length).max((before * 2).min(FILE_MAX)),
        };
        if stored - before + after > limit {
            return Err(Errno::NoSpace);
        }
        // A file still borrowed from the boot image is copied now.
        let bytes = contents.to_mut();
        if end > bytes.len() {
            bytes
                .try_reserve_exact(after - bytes.len())
                .map_err(|_| Errno::NoSpace)?;
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        let now = bytes.capacity();
        self.stored = self.stored - before + now;
        Ok(data.len())
    }

    /// Kind and size of node `id`.
    pub fn stat(&self, id: NodeId) -> Result<Status, Errno> {
        let node = self.node(id)?;
        Ok(Status {
            kind: node.kind(),
            size: node.size(),
        })
    }

    /// Entry `index` of directory `id` (in name order), or `None` past the
    /// last.
    pub fn entry(&self, id: NodeId, index: usize) -> Result<Option<(&str, Status)>, Errno> {
        use core::ops::Bound::{Excluded, Unbounded};
        let entries = self.entries(id)?;
        let mut cursor = self.cursor.borrow_mut();
        let found = match cursor.as_ref() {
            Some((node, at, name)) if *node == id && *at + 1 == index => entries
                .range::<str, _>((Excluded(name.as_str()), Unbounded))
                .next(),
            Some((node, at, name)) if *node == id && *at == index => {
                entries.get_key_value(name.as_str())
            }
            _ => entries.iter().nth(index),
        };
        let Some((name, &child)) = found else {
            return Ok(None);
        };
        match cursor.as_mut() {
            Some((node, at, last)) => {
                (*node, *at) = (id, index);
                last.clear();
                last.push_str(name);
            }
            None => *cursor = Some((id, index, name.clone())),
        }
        Ok(Some((name.as_str(), self.stat(child)?)))
    }

    /// Makes the directory `path`.
    pub fn mkdir(&mut self, path: &str) -> Result<NodeId, Errno> {
        if components(path)?.is_empty() {
            return Err(Errno::Exists); // the root
        }
        let (directory, name) = self.parent_of(path)?;
        self.create(directory, name, Contents::Directory(BTreeMap::new()))
    }

    /// Removes the entry `path` (a file, or an empty directory).
    pub fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        let (directory, name) = self.parent_of(path)?;
        let id = self.step(directory, name)?;
        if matches!(&self.node(id)?.contents, Contents::Directory(entries) if !entries.is_empty()) {
            return Err(Errno::NotEmpty);
        }
        self.entries_mut(directory)?.remove(name);
        self.unlinked(id);
        Ok(())
    }

    /// Node `id` lost its directory entry: free it unless it is open.
    fn unlinked(&mut self, id: NodeId) {
        if let Ok(node) = self.node_mut(id) {
            node.linked = false;
            if node.opens == 0 {
                self.forget(id);
            }
        }
    }

    /// Is `ancestor` on the way from `id` up to the root (or `id` itself)?
    fn is_within(&self, id: NodeId, ancestor: NodeId) -> bool {
        let mut node = id;
        loop {
            if node == ancestor {
                return true;
            }
            if node == ROOT {
                return false;
            }
            node = self.node(node).map_or(ROOT, |node| node.parent);
        }
    }

    /// Moves the entry `from` to `to`, replacing what `to` names if that
    /// is a file (for a file) or an empty directory (for a directory), as
    /// rename(2) does.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        let (from_directory, from_name) = self.parent_of(from)?;
        let id = self.step(from_directory, from_name)?;
        let (to_directory, to_name) = self.parent_of(to)?;
        let moving_directory = self.node(id)?.kind() == Kind::Directory;
        if moving_directory && self.is_within(to_directory, id) {
            return Err(Errno::InvalidArgument); // into itself
        }
        let replaced = match self.step(to_directory, to_name) {
            Ok(existing) if existing == id => return Ok(()),
            Ok(existing) => match (&self.node(existing)?.contents, moving_directory) {
                (Contents::Directory(_), false) => return Err(Errno::IsADirectory),
                (Contents::File(_), true) => return Err(Errno::NotADirectory),
                (Contents::Directory(entries), true) if !entries.is_empty() => {
                    return Err(Errno::NotEmpty);
                }
                _ => Some(existing),
            },
            Err(Errno::NotFound) => None,
            Err(error) => return Err(error),
        };
        self.entries_mut(from_directory)?.remove(from_name);
        self.entries_mut(to_directory)?
            .insert(to_name.to_string(), id);
        self.node_mut(id)?.parent = to_directory;
        if let Some(old) = replaced {
            self.unlinked(old);
        }
        Ok(())
    }

    /// Adds the file `path` with `contents`, making the directories on the
    /// way: for seeding the tree from the boot image.
    pub fn add_file(&mut self, path: &str, contents: &'static [u8]) -> Result<NodeId, Errno> {
        if contents.len() > FILE_MAX {
            return Err(Errno::OutOfMemory);
        }
        let (directory, name) = self.parent_of_making_directories(path)?;
        self.create(directory, name, Contents::File(Cow::Borrowed(contents)))
    }

    /// Makes every directory above `path`'s last part that is missing.
    fn parent_of_making_directories<'p>(
        &mut self,
        path: &'p str,
    ) -> Result<(NodeId, &'p str), Errno> {
        let parts = components(path)?;
        let Some((&name, leading)) = parts.split_last() else {
            return Err(Errno::InvalidArgument);
        };
        let mut directory = ROOT;
        for part in leading {
            directory = match self.step(directory, part) {
                Ok(next) => next,
                Err(Errno::NotFound) => {
                    self.create(directory, part, Contents::Directory(BTreeMap::new()))?
                }
                Err(error) => return Err(error),
            };
        }
        Ok((directory, name))
    }

    /// Nodes in use (for tests and leak checks).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

/// The parts of an absolute path, empty ones dropped. `EINVAL` for a
/// relative path, `ENAMETOOLONG` for a path or part that is too long.
fn components(path: &str) -> Result<Vec<&str>, Errno> {
    if path.len() > PATH_MAX {
        return Err(Errno::NameTooLong);
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Errno::InvalidArgument);
    };
    let parts: Vec<&str> = rest.split('/').filter(|part| !part.is_empty()).collect();
    if parts.iter().any(|part| part.len() > NAME_MAX) {
        return Err(Errno::NameTooLong);
    }
    Ok(parts)
}

/// The alignment below which a file borrowed from the boot image is
/// copied on its first `OPEN` (see [`Tree::open`]).
const ALIGNED: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_from_the_boot_image_is_copied_when_first_written() {
        static IMAGE: &[u8] = b"boot image";
        let mut tree = Tree::new();
        let id = tree.add_file("/f", IMAGE).unwrap();
        assert_eq!(
            tree.bytes(id, 0, 64).unwrap().as_ptr(),
            IMAGE.as_ptr(),
            "borrowed"
        );
        tree.write(id, 0, b"B", false).unwrap();
        assert_eq!(tree.bytes(id, 0, 64).unwrap(), b"Boot image");
        assert_ne!(tree.bytes(id, 0, 64).unwrap().as_ptr(), IMAGE.as_ptr());
        assert_eq!(IMAGE, b"boot image");
        let other = tree.add_file("/g", IMAGE).unwrap();
        let truncate = OpenOptions {
            truncate: true,
            write: true,
            ..OpenOptions::default()
        };
        tree.open("/g", truncate).unwrap();
        assert_eq!(tree.stat(other).unwrap().size, 0);
    }

    #[test]
    fn an_unaligned_boot_image_file_is_copied_when_first_opened() {
        #[repr(align(8))]
        struct Aligned([u8; 16]);
        static IMAGE: Aligned = Aligned(*b"0123456789abcdef");
        let (aligned, unaligned) = (&IMAGE.0[..8], &IMAGE.0[1..9]);
        let mut tree = Tree::new();
        let kept = tree.add_file("/kept", aligned).unwrap();
        let copied = tree.add_file("/copied", unaligned).unwrap();
        tree.open("/kept", OpenOptions::default()).unwrap();
        tree.open("/copied", OpenOptions::default()).unwrap();
        let kept_bytes = tree.bytes(kept, 0, 64).unwrap();
        assert_eq!(kept_bytes.as_ptr(), aligned.as_ptr(), "still borrowed");
        let copied_bytes = tree.bytes(copied, 0, 64).unwrap();
        assert_eq!(copied_bytes, b"12345678");
        assert_ne!(copied_bytes.as_ptr(), unaligned.as_ptr(), "copied");
    }

    #[test]
    fn a_directory_knows_its_path_until_it_is_removed() {
        let mut tree = Tree::new();
        assert_eq!(tree.path_of(ROOT).as_deref(), Ok("/"));
        tree.mkdir("/a").unwrap();
        let b = tree.mkdir("/a/b").unwrap();
        assert_eq!(tree.path_of(b).as_deref(), Ok("/a/b"));
        tree.rename("/a", "/c").unwrap();
        assert_eq!(tree.path_of(b).as_deref(), Ok("/c/b"));
        let file = tree.add_file("/c/f", b"x").unwrap();
        assert_eq!(tree.path_of(file), Err(Errno::NotADirectory));
        let opened = tree.open("/c/b", OpenOptions::default()).unwrap();
        tree.unlink("/c/b").unwrap();
        assert_eq!(tree.path_of(opened), Err(Errno::NotFound));
    }

    const CREATE: OpenOptions = OpenOptions {
        create: true,
        exclusive: false,
        truncate: false,
        write: true,
        directory: false,
    };

    fn read_all(tree: &Tree, id: NodeId) -> Vec<u8> {
        let mut buffer = alloc::vec![0u8; 1 << 16];
        let count = tree.read(id, 0, &mut buffer).unwrap();
        buffer.truncate(count);
        buffer
    }

    fn names(tree: &Tree, path: &str) -> Vec<String> {
        let directory = tree.lookup(path).unwrap();
        (0..)
            .map_while(|index| tree.entry(directory, index).unwrap())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn files_are_created_written_and_read_back_at_offsets() {
        let mut tree = Tree::new();
        let id = tree.open("/a", CREATE).unwrap();
        assert_eq!(tree.write(id, 0, b"hello", false), Ok(5));
        assert_eq!(tree.write(id, 7, b"!", false), Ok(1));
        assert_eq!(read_all(&tree, id), b"hello\0\0!");
        assert_eq!(tree.write(id, 0, b" more", true), Ok(5));
        assert_eq!(read_all(&tree, id), b"hello\0\0! more");
        assert_eq!(tree.bytes(id, 1, 4), Ok(b"ello".as_slice()));
        assert_eq!(tree.bytes(id, 10, 100), Ok(b"ore".as_slice()));
        assert_eq!(tree.bytes(id, u64::MAX, 1), Ok(b"".as_slice()));
        assert_eq!(tree.bytes(ROOT, 0, 1), Err(Errno::IsADirectory));
        let mut two = [0u8; 2];
        assert_eq!(tree.read(id, 1, &mut two), Ok(2));
        assert_eq!(&two, b"el");
        assert_eq!(tree.read(id, 100, &mut two), Ok(0));
        assert_eq!(
            tree.stat(id).unwrap(),
            Status {
                kind: Kind::File,
                size: 13
            }
        );
        tree.close(id);
        // Still there after closing; open without create finds it.
        let again = tree.open("/a", OpenOptions::default()).unwrap();
        assert_eq!(again, id);
    }

    #[test]
    fn open_follows_the_posix_rules() {
        let mut tree = Tree::new();
        tree.add_file("/etc/motd", b"welcome\n").unwrap();
        assert_eq!(
            tree.open("/nope", OpenOptions::default()),
            Err(Errno::NotFound)
        );
        assert_eq!(tree.open("/nope/a", CREATE), Err(Errno::NotFound));
        assert_eq!(tree.open("/etc/motd/x", CREATE), Err(Errno::NotADirectory));
        let exclusive = OpenOptions {
            exclusive: true,
            ..CREATE
        };
        assert_eq!(tree.open("/etc/motd", exclusive), Err(Errno::Exists));
        assert_eq!(tree.open("/etc", CREATE), Err(Errno::IsADirectory));
        let directory = OpenOptions {
            directory: true,
            ..OpenOptions::default()
        };
        assert_eq!(tree.open("/etc/motd", directory), Err(Errno::NotADirectory));
        assert!(tree.open("/etc", directory).is_ok());
        let truncate = OpenOptions {
            truncate: true,
            write: true,
            ..OpenOptions::default()
        };
        let motd = tree.open("/etc/motd", truncate).unwrap();
        assert_eq!(tree.stat(motd).unwrap().size, 0);
        assert_eq!(tree.open("relative", CREATE), Err(Errno::InvalidArgument));
    }

    #[test]
    fn paths_understand_dots_and_repeated_slashes() {
        let mut tree = Tree::new();
        let id = tree.add_file("/a/b/c", b"x").unwrap();
        for path in [
            "/a/b/c",
            "//a///b/c",
            "/a/./b/c",
            "/a/b/../b/c",
            "/../a/b/c",
        ] {
            assert_eq!(tree.lookup(path), Ok(id), "{path}");
        }
        assert_eq!(tree.lookup("/"), Ok(ROOT));
        assert_eq!(tree.lookup("/a/b/c/.."), Err(Errno::NotADirectory));
    }

    #[test]
    fn long_names_and_paths_are_refused() {
        let mut tree = Tree::new();
        let long_name = alloc::format!("/{}", "n".repeat(NAME_MAX + 1));
        assert_eq!(tree.open(&long_name, CREATE), Err(Errno::NameTooLong));
        assert_eq!(tree.mkdir(&long_name), Err(Errno::NameTooLong));
        let long_path = "/d".repeat(PATH_MAX / 2 + 1);
        assert_eq!(tree.lookup(&long_path), Err(Errno::NameTooLong));
        let longest = alloc::format!("/{}", "n".repeat(NAME_MAX));
        assert!(tree.open(&longest, CREATE).is_ok());
    }

    #[test]
    fn directories_are_made_listed_and_removed_only_when_empty() {
        let mut tree = Tree::new();
        assert!(tree.mkdir("/tmp").is_ok());
        assert_eq!(tree.mkdir("/tmp"), Err(Errno::Exists));
        assert_eq!(tree.mkdir("/"), Err(Errno::Exists));
        assert_eq!(tree.mkdir("/no/such"), Err(Errno::NotFound));
        tree.add_file("/tmp/b", b"").unwrap();
        tree.add_file("/tmp/a", b"12").unwrap();
        tree.mkdir("/tmp/c").unwrap();
        assert_eq!(names(&tree, "/tmp"), ["a", "b", "c"]);
        let tmp = tree.lookup("/tmp").unwrap();
        assert_eq!(
            tree.entry(tmp, 0).unwrap(),
            Some((
                "a",
                Status {
                    kind: Kind::File,
                    size: 2
                }
            ))
        );
        assert_eq!(tree.entry(tmp, 3).unwrap(), None);
        let a = tree.lookup("/tmp/a").unwrap();
        assert_eq!(tree.entry(a, 0), Err(Errno::NotADirectory));
        assert_eq!(tree.unlink("/tmp"), Err(Errno::NotEmpty));
        assert_eq!(tree.unlink("/tmp/zzz"), Err(Errno::NotFound));
        assert_eq!(tree.unlink("/"), Err(Errno::InvalidArgument));
        for path in ["/tmp/a", "/tmp/b", "/tmp/c", "/tmp"] {
            assert_eq!(tree.unlink(path), Ok(()), "{path}");
        }
        assert_eq!(tree.node_count(), 1, "only the root is left");
    }

    #[test]
    fn an_unlinked_file_lives_until_its_last_close() {
        let mut tree = Tree::new();
        let id = tree.open("/f", CREATE).unwrap();
        tree.write(id, 0, b"kept", false).unwrap();
        tree.unlink("/f").unwrap();
        assert_eq!(tree.lookup("/f"), Err(Errno::NotFound));
        assert_eq!(read_all(&tree, id), b"kept");
        // A new file of that name is a different node.
        let other = tree.open("/f", CREATE).unwrap();
        assert_ne!(other, id);
        tree.close(id);
        assert_eq!(tree.stat(id), Err(Errno::BadHandle));
        assert_eq!(tree.node_count(), 2);
    }

    #[test]
    fn rename_moves_and_replaces_as_rename_2_does() {
        let mut tree = Tree::new();
        tree.add_file("/a", b"A").unwrap();
        tree.add_file("/b", b"B").unwrap();
        tree.add_file("/d/inner", b"").unwrap();
        tree.mkdir("/empty").unwrap();
        // File over file: the old one goes.
        tree.rename("/a", "/b").unwrap();
        assert_eq!(tree.lookup("/a"), Err(Errno::NotFound));
        let b = tree.lookup("/b").unwrap();
        assert_eq!(read_all(&tree, b), b"A");
        // File into a directory, under a new name.
        tree.rename("/b", "/d/moved").unwrap();
        assert_eq!(names(&tree, "/d"), ["inner", "moved"]);
        // The wrong kinds.
        assert_eq!(tree.rename("/d/moved", "/empty"), Err(Errno::IsADirectory));
        assert_eq!(tree.rename("/empty", "/d/moved"), Err(Errno::NotADirectory));
        assert_eq!(tree.rename("/empty", "/d"), Err(Errno::NotEmpty));
        assert_eq!(tree.rename("/d", "/d/inside"), Err(Errno::InvalidArgument));
        assert_eq!(tree.rename("/missing", "/x"), Err(Errno::NotFound));
        // A directory over an empty one, and onto itself.
        tree.rename("/d", "/empty").unwrap();
        assert_eq!(names(&tree, "/empty"), ["inner", "moved"]);
        assert_eq!(tree.rename("/empty", "/empty"), Ok(()));
        let inner = tree.lookup("/empty/inner").unwrap();
        assert_eq!(tree.lookup("/empty/inner/.."), Err(Errno::NotADirectory));
        assert_eq!(
            tree.node(inner).unwrap().parent,
            tree.lookup("/empty").unwrap()
        );
        assert_eq!(names(&tree, "/"), ["empty"]);
        assert_eq!(tree.node_count(), 4);
    }

    #[test]
    fn files_stop_growing_at_the_limit() {
        let mut tree = Tree::new();
        let id = tree.open("/big", CREATE).unwrap();
        assert_eq!(
            tree.write(id, FILE_MAX as u64, b"x", false),
            Err(Errno::FileTooBig)
        );
        assert_eq!(
            tree.write(id, u64::MAX, b"x", false),
            Err(Errno::FileTooBig)
        );
        assert_eq!(tree.write(id, FILE_MAX as u64 - 1, b"x", false), Ok(1));
        assert_eq!(tree.stat(id).unwrap().size, FILE_MAX as u64);
        let root = tree.lookup("/").unwrap();
        assert_eq!(tree.write(root, 0, b"x", false), Err(Errno::IsADirectory));
        assert_eq!(tree.read(root, 0, &mut [0u8; 1]), Err(Errno::IsADirectory));
    }

    #[test]
    fn far_writes_stop_at_the_trees_limit_and_change_nothing() {
        let mut tree = Tree::with_limit(40 << 20);
        let mut files = alloc::vec::Vec::new();
        for name in ["/a", "/b", "/c"] {
            files.push(tree.open(name, CREATE).unwrap());
        }
        // One byte at 16 MiB - 1: 16 MiB of zeros, twice; the third would
        // pass 40 MiB.
        let far = FILE_MAX as u64 - 1;
        assert_eq!(tree.write(files[0], far, b"x", false), Ok(1));
        assert_eq!(tree.write(files[1], far, b"x", false), Ok(1));
        let held = tree.stored();
        assert_eq!(tree.write(files[2], far, b"x", false), Err(Errno::NoSpace));
        assert_eq!(tree.stat(files[2]).unwrap().size, 0);
        assert_eq!(tree.stored(), held);
        // Small things still fit; removing a big file gives its room back.
        assert_eq!(tree.write(files[2], 0, b"small", false), Ok(5));
        tree.close(files[0]);
        tree.unlink("/a").unwrap();
        assert!(tree.stored() < held - (15 << 20));
        assert_eq!(tree.write(files[2], far, b"x", false), Ok(1));
    }

    #[test]
    fn writing_nothing_changes_nothing() {
        let mut tree = Tree::new();
        let id = tree.open("/f", CREATE).unwrap();
        assert_eq!(tree.write(id, 1 << 20, b"", false), Ok(0));
        assert_eq!(tree.stat(id).unwrap().size, 0);
    }

    #[test]
    fn nodes_stop_at_the_trees_limit() {
        let mut tree = Tree::with_limit(NODE_COST * 11);
        for index in 0..10 {
            let path = alloc::format!("/f{index}");
            let id = tree.open(&path, CREATE).unwrap();
            tree.close(id);
        }
        assert_eq!(tree.open("/one-too-many", CREATE), Err(Errno::NoSpace));
        assert_eq!(tree.mkdir("/dir"), Err(Errno::NoSpace));
        tree.unlink("/f0").unwrap();
        assert!(tree.mkdir("/dir").is_ok());
    }

    #[test]
    fn listings_continue_from_the_last_entry_and_follow_changes() {
        let mut tree = Tree::new();
        for index in 0..300 {
            tree.mkdir(&alloc::format!("/n{index:03}")).unwrap();
        }
        let root = tree.lookup("/").unwrap();
        let listed: Vec<String> = (0..)
            .map_while(|index| {
                tree.entry(root, index)
                    .unwrap()
                    .map(|(name, _)| name.into())
            })
            .collect();
        let expected: Vec<String> = (0..300)
            .map(|index| alloc::format!("n{index:03}"))
            .collect();
        assert_eq!(listed, expected);
        // The same entry asked twice; one far away; then on after it.
        assert_eq!(tree.entry(root, 150).unwrap().unwrap().0, "n150");
        assert_eq!(tree.entry(root, 150).unwrap().unwrap().0, "n150");
        assert_eq!(tree.entry(root, 7).unwrap().unwrap().0, "n007");
        assert_eq!(tree.entry(root, 8).unwrap().unwrap().0, "n008");
        // A change in the middle of a listing: entry 9 is counted afresh.
        tree.unlink("/n003").unwrap();
        assert_eq!(tree.entry(root, 9).unwrap().unwrap().0, "n010");
        assert_eq!(tree.entry(root, 299).unwrap(), None);
    }
}
