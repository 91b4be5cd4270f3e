//! The file system protocol's server side (`docs/fs.md`), written once for
//! every file server: ramfs (files in memory) and fat (files on a disk)
//! differ only in how they store files, which is their [`Backend`].
//!
//! A client's handle to the endpoint (from `use=fs`) names the file
//! system: `OPEN`, `MKDIR`, `UNLINK` and `RENAME` take a path through it.
//! `OPEN` answers with a new handle whose badge names the open file (bit
//! 63 set: [`OPEN_FILE`]): `READ`, `WRITE`, `STAT`, `READDIR`, `FSYNC` and
//! `RELEASE` go through that one.
//!
//! | request | on | what the server does |
//! | --- | --- | --- |
//! | `OPEN` path, flags | the file system, or an open directory (a relative path starts there, as openat(2)) | opens (or creates) the node, mints a handle for it, passes it in the reply |
//! | `MKDIR`, `UNLINK` path | the file system, or an open directory | as mkdir(2), unlink(2)/rmdir(2) |
//! | `RENAME` old NUL new | the file system, or an open directory | as rename(2) |
//! | `READ` at offset | an open file | copies out up to the buffer's length; 0 at the end |
//! | `WRITE` at offset | an open file, opened with `WRITE` (else `EBADF`) | copies all of it in, then writes it at once (at the end, if opened with `APPEND`) |
//! | `STAT` | an open node | a `FileStatus` |
//! | `READDIR` from entry n | an open directory | as many whole `DirectoryEntry` records as fit |
//! | `FSYNC` | an open node | completes when what was written is on stable storage |
//! | `RELEASE` | an open node | forgets the open file; the kernel sends it when the client closes the handle, or ends |
//! | `CONTROL` `[0, 0, 0]` | the file system | answers how many files are open |
//!
//! Every request is answered, with a result or `-errno`; a bad request
//! never stops the server.
//!
//! **`/bin` is read-only** for clients ([`in_programs`]): an `OPEN` that
//! would write, create or truncate there, and a `MKDIR`, `UNLINK` or
//! `RENAME` from or to there, are refused with `EROFS`. The programs are
//! the build's (the boot image's; on a FAT disk, written by `cargo xtask`
//! from the host), and the proc server gives services to a program by its
//! path in `/bin` (`docs/systems.md`): a program that could write there
//! could take another's services.

extern crate alloc;

use crate::abi::{Errno, file_kind};

/// The longest path, in bytes.
pub const PATH_MAX: usize = 1024;
/// The longest name of a directory entry, in bytes (as Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Set in the badge of every handle `OPEN` makes; the rest of such a
/// badge is the open file's generation (31 bits) and its index + 1.
pub const OPEN_FILE: u64 = 1 << 63;

/// The folder of the system's programs, read-only for clients.
pub const PROGRAMS: &str = "bin";

/// Whether absolute `path` names `/bin` or anything in it, as a backend
/// would resolve it: `.`, `..` and empty names taken out (`..` of the
/// root is the root), the first name compared without case and without
/// trailing dots and spaces (as FAT compares names).
pub fn in_programs(path: &str) -> bool {
    // Only the depth and the first name matter: no list of names needed.
    let mut depth = 0usize;
    let mut first = "";
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." => depth = depth.saturating_sub(1),
            name => {
                if depth == 0 {
                    first = name;
                }
                depth += 1;
            }
        }
    }
    depth > 0
        && first
            .trim_end_matches(['.', ' '])
            .eq_ignore_ascii_case(PROGRAMS)
}

/// File or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
}

/// What `STAT` and `READDIR` tell about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub kind: Kind,
    /// Bytes for a file, entries for a directory.
    pub size: u64,
}

impl Status {
    /// The protocol's record of it.
    pub fn file_status(self) -> crate::abi::FileStatus {
        crate::abi::FileStatus {
            size: self.size,
            kind: match self.kind {
                Kind::File => file_kind::FILE,
                Kind::Directory => file_kind::DIRECTORY,
            },
            ..crate::abi::FileStatus::default()
        }
    }
}

/// How `OPEN` should treat the path (from its `open_flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it is missing.
    pub create: bool,
    /// With `create`: fail with `EEXIST` if it is there already.
    pub exclusive: bool,
    /// Cut the file to length 0 (a directory: `EISDIR`).
    pub truncate: bool,
    /// Will be written (a directory: `EISDIR`).
    pub write: bool,
    /// Must be a directory (else `ENOTDIR`).
    pub directory: bool,
}

impl OpenOptions {
    /// The options `OPEN`'s flags ask for; `EINVAL` for unknown flags.
    pub fn from_flags(flags: u32) -> Result<OpenOptions, Errno> {
        use crate::abi::open_flags;
        if flags & !open_flags::ALL != 0 {
            return Err(Errno::InvalidArgument);
        }
        Ok(OpenOptions {
            create: flags & open_flags::CREATE != 0,
            exclusive: flags & open_flags::EXCLUSIVE != 0,
            truncate: flags & open_flags::TRUNCATE != 0,
            write: flags & (open_flags::WRITE | open_flags::APPEND) != 0,
            directory: flags & open_flags::DIRECTORY != 0,
        })
    }
}

/// How a file server stores its files. Paths are absolute (the protocol
/// side has joined a relative one to its directory) and at most
/// [`PATH_MAX`] bytes.
pub trait Backend {
    /// What names an open file or directory.
    type Node: Copy;

    /// Opens (or, with `options.create`, creates) the node at `path`.
    fn open(&mut self, path: &str, options: OpenOptions) -> Result<Self::Node, Errno>;
    /// The node is no longer open through this handle.
    fn close(&mut self, node: Self::Node);
    /// The absolute path of an open directory (relative paths start there).
    fn path_of(&mut self, node: Self::Node) -> Result<alloc::string::String, Errno>;
    /// Up to `length` bytes of the file from `offset`: fewer at its end,
    /// none past it. The bytes may be the backend's own buffer.
    fn read(&mut self, node: Self::Node, offset: u64, length: usize) -> Result<&[u8], Errno>;
    /// Writes `bytes` at `offset` (at the end, with `append`); returns how
    /// many were written.
    fn write(
        &mut self,
        node: Self::Node,
        offset: u64,
        bytes: &[u8],
        append: bool,
    ) -> Result<usize, Errno>;
    fn stat(&mut self, node: Self::Node) -> Result<Status, Errno>;
    /// Entry `index` of an open directory, if it has that many.
    fn entry(
        &mut self,
        node: Self::Node,
        index: usize,
    ) -> Result<Option<(alloc::string::String, Status)>, Errno>;
    fn mkdir(&mut self, path: &str) -> Result<(), Errno>;
    fn unlink(&mut self, path: &str) -> Result<(), Errno>;
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno>;
    /// What was written to the node is on stable storage when this
    /// returns.
    fn fsync(&mut self, node: Self::Node) -> Result<(), Errno>;
    /// The most bytes one `WRITE` may bring (it is copied in whole first).
    fn write_max(&self) -> usize;
    /// The bytes [`Backend::read`] gave have been copied to the client: a
    /// backend that read them into a buffer of its own may let a large
    /// one go, so one client's big `READ` does not keep its memory.
    fn read_done(&mut self) {}
}

#[cfg(all(feature = "runtime", target_os = "none"))]
pub use serve::FileServer;

#[cfg(all(feature = "runtime", target_os = "none"))]
mod serve {
    use super::alloc::string::String;
    use super::alloc::vec;
    use super::alloc::vec::Vec;
    use super::{Backend, OPEN_FILE, OpenOptions, PATH_MAX};
    use crate::abi::{DirectoryEntry, Errno, Opcode, RequestMessage, open_flags};
    use crate::ops;
    use crate::runtime::with_ring;
    use crate::server::Server;
    use zerocopy::IntoBytes;

    /// `path`, if a client may change what it names: not in `/bin`.
    fn changeable(path: String) -> Result<String, Errno> {
        if super::in_programs(&path) {
            Err(Errno::ReadOnly)
        } else {
            Ok(path)
        }
    }

    /// The buffer paths are copied into and `READDIR` records made in:
    /// room for `RENAME`'s two paths and for [`LISTING`].
    const CHUNK: usize = 4096;
    /// Bytes of `READDIR` records made per request at most.
    const LISTING: usize = 4096;

    /// The most files one client process may have open at once: past it
    /// `OPEN` fails with `ENOMEM`, so one process cannot fill the
    /// server's table of open files (its memory) for the others.
    pub const OPEN_PER_CLIENT: usize = 64;

    /// One open file, behind the handles minted for it.
    struct OpenFile<N> {
        node: N,
        append: bool,
        /// Opened with `WRITE`: only then may it be written (`EBADF`
        /// otherwise, as write(2) on a file opened read-only).
        writable: bool,
        /// The process that opened it.
        client: u32,
        /// Part of the badge, so an old handle of a reused slot is refused.
        generation: u32,
    }

    /// The protocol side of a file server, over its backend.
    pub struct FileServer<B: Backend> {
        pub backend: B,
        /// Open files; a badge is `OPEN_FILE | generation << 32 | (index + 1)`.
        open: Vec<Option<OpenFile<B::Node>>>,
        next_generation: u32,
        /// The service handle, to mint open-file handles with.
        service: u32,
        /// [`CHUNK`] bytes for paths and `READDIR` records.
        chunk: Vec<u8>,
    }

    impl<B: Backend> FileServer<B> {
        pub fn new(backend: B, service: u32) -> FileServer<B> {
            FileServer {
                backend,
                open: Vec::new(),
                next_generation: 1,
                service,
                chunk: vec![0; CHUNK],
            }
        }

        /// Handles one request and replies to it.
        pub fn answer(&mut self, server: &mut Server, message: &RequestMessage) {
            let opcode = Opcode::try_from(message.opcode);
            // No ballast to finish with (`runtime::restore_ballast`): only
            // what gives memory back (`RELEASE`, `UNLINK`) goes ahead;
            // everything else is refused until then.
            let gives_back = matches!(opcode, Ok(Opcode::Release | Opcode::Unlink));
            if !gives_back && !crate::runtime::restore_ballast() {
                with_ring(|ring| server.reply(ring, message.request, Errno::OutOfMemory.result()));
                return;
            }
            // The directory relative paths start from: the root for the
            // file system handle, the open directory for one of its
            // handles (as openat(2) does).
            let (base, index) = if message.badge & OPEN_FILE == 0 {
                (None, None)
            } else {
                match self.open_file(message.badge) {
                    Some(index) => (self.node_of(index).ok(), Some(index)),
                    None => {
                        let result = Errno::BadHandle.result();
                        with_ring(|ring| server.reply(ring, message.request, result));
                        return;
                    }
                }
            };
            let result = match (opcode, index) {
                (Ok(Opcode::Open), _) => match self.open(server, message, base) {
                    Ok(handle) => {
                        with_ring(|ring| server.reply_passing(ring, message.request, 0, handle));
                        return;
                    }
                    Err(error) => Err(error),
                },
                (Ok(Opcode::Mkdir), _) => self
                    .path(server, message, base)
                    .and_then(changeable)
                    .and_then(|path| self.backend.mkdir(&path).map(|()| 0)),
                (Ok(Opcode::Unlink), _) => self
                    .path(server, message, base)
                    .and_then(changeable)
                    .and_then(|path| self.backend.unlink(&path).map(|()| 0)),
                (Ok(Opcode::Rename), _) => self.rename(server, message, base),
                // How many files are open (for tests: nothing leaks), in
                // all or (`[1, pid, 0]`) those process `pid` opened.
                (Ok(Opcode::Control), None) if message.arguments == [0; 3] => {
                    Ok(self.open.iter().flatten().count() as i32)
                }
                (Ok(Opcode::Control), None) if message.arguments[0] == 1 => {
                    let client = message.arguments[1];
                    let count = self.open.iter().flatten();
                    Ok(count
                        .filter(|file| u64::from(file.client) == client)
                        .count() as i32)
                }
                // File operations need a handle from OPEN.
                (_, None) => Err(Errno::BadHandle),
                (Ok(Opcode::Read), Some(index)) => self.read(server, message, index),
                (Ok(Opcode::Write), Some(index)) => self.write(server, message, index),
                (Ok(Opcode::Stat), Some(index)) => self.stat(server, message, index),
                (Ok(Opcode::Readdir), Some(index)) => self.readdir(server, message, index),
                (Ok(Opcode::Fsync), Some(index)) => self
                    .node_of(index)
                    .and_then(|node| self.backend.fsync(node))
                    .map(|()| 0),
                // Only the kernel's (a client's own would close a handle
                // other processes may share: a copy given at SPAWN).
                (Ok(Opcode::Release), Some(index)) if message.client == 0 => {
                    if let Some(file) = self.open[index].take() {
                        self.backend.close(file.node);
                    }
                    Ok(0)
                }
                _ => Err(Errno::InvalidArgument),
            };
            let result = result.unwrap_or_else(Errno::result);
            with_ring(|ring| server.reply(ring, message.request, result));
        }

        /// The request's path, made absolute: relative to `base` (an open
        /// directory), or to the root.
        fn path(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            base: Option<B::Node>,
        ) -> Result<String, Errno> {
            let path = copy_path(server, message, &mut self.chunk)?;
            let path = String::from(path);
            self.absolute(&path, base)
        }

        fn absolute(&mut self, path: &str, base: Option<B::Node>) -> Result<String, Errno> {
            if path.starts_with('/') {
                return Ok(String::from(path));
            }
            let mut full = match base {
                Some(base) => self.backend.path_of(base)?,
                None => String::from("/"),
            };
            if !full.ends_with('/') {
                full.push('/');
            }
            full.push_str(path);
            if full.len() > PATH_MAX {
                return Err(Errno::NameTooLong);
            }
            Ok(full)
        }

        /// The open file a badge names, if it is still open.
        fn open_file(&self, badge: u64) -> Option<usize> {
            let index = ((badge & 0xffff_ffff) as usize).checked_sub(1)?;
            let file = self.open.get(index)?.as_ref()?;
            let generation = ((badge & !OPEN_FILE) >> 32) as u32;
            (file.generation == generation).then_some(index)
        }

        fn open(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            base: Option<B::Node>,
        ) -> Result<u32, Errno> {
            let options = OpenOptions::from_flags(message.operation_flags)?;
            let append = message.operation_flags & open_flags::APPEND != 0;
            let client = message.client;
            let own = self
                .open
                .iter()
                .flatten()
                .filter(|file| file.client == client)
                .count();
            if own >= OPEN_PER_CLIENT {
                return Err(Errno::OutOfMemory);
            }
            let mut path = self.path(server, message, base)?;
            if options.write || options.create || options.truncate {
                path = changeable(path)?;
            }
            let node = self.backend.open(&path, options)?;
            let generation = self.next_generation;
            // 31 bits, never 0.
            self.next_generation = (self.next_generation + 1) & 0x7fff_ffff;
            self.next_generation = self.next_generation.max(1);
            let index = match self.open.iter().position(Option::is_none) {
                Some(index) => index,
                None => {
                    // The table grows by doubling: fallibly.
                    if self.open.try_reserve(1).is_err() {
                        self.backend.close(node);
                        return Err(Errno::OutOfMemory);
                    }
                    self.open.push(None);
                    self.open.len() - 1
                }
            };
            let badge = OPEN_FILE | ((generation as u64) << 32) | (index as u64 + 1);
            match with_ring(|ring| ring.run(ops::mint(self.service, badge))) {
                Ok(handle) => {
                    self.open[index] = Some(OpenFile {
                        node,
                        append,
                        writable: options.write,
                        client,
                        generation,
                    });
                    Ok(handle as u32)
                }
                Err(error) => {
                    self.backend.close(node);
                    Err(error)
                }
            }
        }

        fn rename(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            base: Option<B::Node>,
        ) -> Result<i32, Errno> {
            let bytes = copy_buffer(server, message, 2 * PATH_MAX + 1, &mut self.chunk)?;
            let Some(split) = bytes.iter().position(|&byte| byte == 0) else {
                return Err(Errno::InvalidArgument);
            };
            let (from, to) = (&bytes[..split], &bytes[split + 1..]);
            let (Ok(from), Ok(to)) = (core::str::from_utf8(from), core::str::from_utf8(to)) else {
                return Err(Errno::InvalidArgument);
            };
            if from.len() > PATH_MAX || to.len() > PATH_MAX {
                return Err(Errno::NameTooLong);
            }
            let (from, to) = (String::from(from), String::from(to));
            let from = changeable(self.absolute(&from, base)?)?;
            let to = changeable(self.absolute(&to, base)?)?;
            self.backend.rename(&from, &to).map(|()| 0)
        }

        /// `READ`: one `COPY_OUT` of what the backend gives.
        fn read(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let node = self.node_of(index)?;
            let bytes = self
                .backend
                .read(node, message.offset, message.length as usize)?;
            if bytes.is_empty() {
                return Ok(0);
            }
            let copied = with_ring(|ring| server.copy_out(ring, message, 0, bytes));
            self.backend.read_done();
            Ok(copied? as i32)
        }

        /// `WRITE`: all of the client's bytes are copied in first, with one
        /// `COPY_IN`, then written at once, so a copy that fails (the
        /// client unmapped its buffer meanwhile) changes nothing.
        fn write(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let node = self.node_of(index)?;
            let file = self.open[index].as_ref().ok_or(Errno::BadHandle)?;
            if !file.writable {
                return Err(Errno::BadHandle);
            }
            let append = file.append;
            let length = message.length as usize;
            if length > self.backend.write_max() {
                return Err(Errno::OutOfMemory);
            }
            let mut bytes = Vec::new();
            bytes
                .try_reserve_exact(length)
                .map_err(|_| Errno::OutOfMemory)?;
            bytes.resize(length, 0);
            let copied = with_ring(|ring| server.copy_in(ring, message, 0, &mut bytes))?;
            let written = self
                .backend
                .write(node, message.offset, &bytes[..copied], append)?;
            Ok(written as i32)
        }

        fn stat(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let status = self.backend.stat(self.node_of(index)?)?.file_status();
            if (message.length as usize) < status.as_bytes().len() {
                return Err(Errno::InvalidArgument);
            }
            with_ring(|ring| server.copy_out(ring, message, 0, status.as_bytes()))?;
            Ok(0)
        }

        fn readdir(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let node = self.node_of(index)?;
            let room = (message.length as usize).min(LISTING);
            let mut filled = 0;
            let mut entry_index = usize::try_from(message.offset).unwrap_or(usize::MAX);
            while let Some((name, status)) = self.backend.entry(node, entry_index)? {
                let size = DirectoryEntry::record_size(name.len());
                if filled + size > room {
                    if filled == 0 {
                        return Err(Errno::InvalidArgument); // not even one fits
                    }
                    break;
                }
                let head = DirectoryEntry {
                    size: status.size,
                    kind: status.file_status().kind,
                    name_length: name.len() as u16,
                    ..DirectoryEntry::default()
                };
                let record = &mut self.chunk[filled..filled + size];
                record.fill(0);
                record[..16].copy_from_slice(head.as_bytes());
                record[16..16 + name.len()].copy_from_slice(name.as_bytes());
                filled += size;
                entry_index += 1;
            }
            let records = &self.chunk[..filled];
            with_ring(|ring| server.copy_out(ring, message, 0, records))?;
            Ok(filled as i32)
        }

        fn node_of(&self, index: usize) -> Result<B::Node, Errno> {
            self.open[index]
                .as_ref()
                .map(|file| file.node)
                .ok_or(Errno::BadHandle)
        }
    }

    /// The request's whole buffer, up to `most` bytes, copied into `chunk`.
    fn copy_buffer<'c>(
        server: &Server,
        message: &RequestMessage,
        most: usize,
        chunk: &'c mut [u8],
    ) -> Result<&'c [u8], Errno> {
        let length = message.length as usize;
        if length > most {
            return Err(Errno::NameTooLong);
        }
        let copied = with_ring(|ring| server.copy_in(ring, message, 0, &mut chunk[..length]))?;
        Ok(&chunk[..copied])
    }

    /// The request's buffer as a path: at most `PATH_MAX` bytes of UTF-8.
    fn copy_path<'c>(
        server: &Server,
        message: &RequestMessage,
        chunk: &'c mut [u8],
    ) -> Result<&'c str, Errno> {
        let bytes = copy_buffer(server, message, PATH_MAX, chunk)?;
        core::str::from_utf8(bytes).map_err(|_| Errno::InvalidArgument)
    }
}

#[cfg(test)]
mod tests {
    use super::in_programs;

    #[test]
    fn bin_and_everything_in_it_is_the_programs_however_it_is_written() {
        for path in [
            "/bin",
            "/bin/",
            "/bin/sh",
            "//bin//greet",
            "/./bin/./ls",
            "/tmp/../bin/greet",
            "/../../bin/x",
            "/tmp/a/b/../../../bin/new/deeper",
            "/BIN/sh",
            "/Bin./sh",
            "/bin /sh",
        ] {
            assert!(in_programs(path), "{path}");
        }
    }

    #[test]
    fn other_paths_are_not() {
        for path in [
            "/",
            "/tmp/bin",
            "/binary",
            "/bin/../tmp/x",
            "/tmp/bin/../x",
            "/b",
            "/..",
            "/etc/system",
        ] {
            assert!(!in_programs(path), "{path}");
        }
    }
}
