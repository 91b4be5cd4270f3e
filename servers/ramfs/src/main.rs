//! ramfs: the file system server, its files and directories in memory
//! (`tree.rs`). The protocol is in `docs/fs.md`.
//!
//! Started with the service handle of its endpoint and, optionally, a
//! boot-image handle (for now from the kernel command line,
//! `run=ramfs+serve=fs+bootimage`): with it, the tree starts as a copy of
//! the boot image's files (`/bin/init`, `/README.txt`, ...), plus an empty
//! `/tmp`. A client's handle
//! to the endpoint (from `+use=fs`, whose badge is the client's process
//! id) names the file system: `OPEN`, `MKDIR`, `UNLINK` and `RENAME` take
//! a path through it. `OPEN` answers with a new handle whose badge names
//! the open file (bit 63 set: [`OPEN_FILE`]): `READ`, `WRITE`, `STAT`,
//! `READDIR` and `RELEASE` go through that one.
//!
//! | request | on | what the server does |
//! | --- | --- | --- |
//! | `OPEN` path, flags | the file system, or an open directory (a relative path starts there, as openat(2)) | opens (or creates) the node, mints a handle for it, passes it in the reply |
//! | `MKDIR`, `UNLINK` path | the file system, or an open directory | as mkdir(2), unlink(2)/rmdir(2) |
//! | `RENAME` old NUL new | the file system, or an open directory | as rename(2) |
//! | `READ` at offset | an open file | copies out up to the buffer's length, in one copy from the file; 0 at the end |
//! | `WRITE` at offset | an open file | copies all of it in, then writes it at once (at the end, if opened with `APPEND`) |
//! | `STAT` | an open node | a `FileStatus` |
//! | `READDIR` from entry n | an open directory | as many whole `DirectoryEntry` records as fit |
//! | `RELEASE` | an open node | forgets the open file; the kernel sends it when the client closes the handle, or ends |
//! | `CONTROL` `[0, 0, 0]` | the file system | answers how many files are open |
//!
//! Every request is answered, with a result or `-errno`; a bad request
//! never stops the server.
//!
//! On the host this builds to a stub, so that `cargo test -p ramfs` can
//! test the tree.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use libring::abi::{
        DirectoryEntry, Errno, FileStatus, Opcode, RequestMessage, file_kind, open_flags,
    };
    use libring::ops;
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};
    use ramfs::tree::{FILE_MAX, Kind, NodeId, OpenOptions, PATH_MAX, Status, Tree};
    use zerocopy::IntoBytes;

    libring::entry!(main);

    /// Requests in progress at once.
    const SLOTS: usize = 16;
    /// The buffer paths are copied into and `READDIR` records made in:
    /// room for `RENAME`'s two paths and for [`LISTING`].
    const CHUNK: usize = 4096;
    /// Bytes of `READDIR` records made per request at most.
    const LISTING: usize = 4096;
    /// Set in the badge of every handle `OPEN` makes; the rest of such a
    /// badge is the open file's generation (31 bits) and its index + 1.
    const OPEN_FILE: u64 = 1 << 63;

    /// One open file, behind the handles minted for it.
    struct OpenFile {
        node: NodeId,
        append: bool,
        /// Part of the badge, so an old handle of a reused slot is refused.
        generation: u32,
    }

    struct FileSystem {
        tree: Tree,
        /// Open files; a badge is `OPEN_FILE | generation << 32 | (index + 1)`.
        open: Vec<Option<OpenFile>>,
        next_generation: u32,
        service: u32,
        /// [`CHUNK`] bytes for paths and `READDIR` records.
        chunk: Vec<u8>,
    }

    fn main(_arguments: Arguments) -> i32 {
        let (service, boot_image) = match *runtime::handles() {
            [service] => (service, None),
            [service, boot_image] => (service, Some(boot_image)),
            _ => {
                libring::println!("ramfs: expected the handles [service] or [service, boot image]");
                return 1;
            }
        };
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        let mut file_system = FileSystem {
            tree: Tree::new(),
            open: Vec::new(),
            next_generation: 1,
            service,
            chunk: vec![0; CHUNK],
        };
        if let Some(boot_image) = boot_image {
            match seed(&mut file_system.tree, boot_image) {
                Ok(files) => libring::println!("ramfs: {files} files from the boot image"),
                Err(error) => libring::println!("ramfs: cannot read the boot image: {error:?}"),
            }
        }
        let _ = file_system.tree.mkdir("/tmp");
        let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            libring::println!("ramfs: cannot serve");
            return 1;
        };
        loop {
            // The ring is held only for each exchange with the kernel: the
            // tree allocates, and the heap may need the ring to grow.
            match with_ring(|ring| server.wait(ring)) {
                Ok(Event::Request { message, .. }) => file_system.answer(&mut server, &message),
                Ok(Event::Other(_)) => {}
                Ok(Event::Stopped(_)) | Err(_) => {
                    libring::println!("ramfs: the endpoint is gone; stopping");
                    return 1;
                }
            }
        }
    }

    impl FileSystem {
        /// Handles one request and replies to it.
        fn answer(&mut self, server: &mut Server, message: &RequestMessage) {
            let opcode = Opcode::try_from(message.opcode);
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
                    .and_then(|path| self.tree.mkdir(&path).map(|_| 0)),
                (Ok(Opcode::Unlink), _) => self
                    .path(server, message, base)
                    .and_then(|path| self.tree.unlink(&path).map(|_| 0)),
                (Ok(Opcode::Rename), _) => self.rename(server, message, base),
                // How many files are open (for tests: nothing leaks).
                (Ok(Opcode::Control), None) if message.arguments == [0; 3] => {
                    Ok(self.open.iter().flatten().count() as i32)
                }
                // File operations need a handle from OPEN.
                (_, None) => Err(Errno::BadHandle),
                (Ok(Opcode::Read), Some(index)) => self.read(server, message, index),
                (Ok(Opcode::Write), Some(index)) => self.write(server, message, index),
                (Ok(Opcode::Stat), Some(index)) => self.stat(server, message, index),
                (Ok(Opcode::Readdir), Some(index)) => self.readdir(server, message, index),
                // Everything is in memory: nothing to wait for.
                (Ok(Opcode::Fsync), Some(_)) => Ok(0),
                (Ok(Opcode::Release), Some(index)) => {
                    if let Some(file) = self.open[index].take() {
                        self.tree.close(file.node);
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
            base: Option<NodeId>,
        ) -> Result<String, Errno> {
            let path = copy_path(server, message, &mut self.chunk)?;
            let path = String::from(path);
            self.absolute(&path, base)
        }

        fn absolute(&self, path: &str, base: Option<NodeId>) -> Result<String, Errno> {
            if path.starts_with('/') {
                return Ok(String::from(path));
            }
            let mut full = match base {
                Some(base) => self.tree.path_of(base)?,
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
            base: Option<NodeId>,
        ) -> Result<u32, Errno> {
            let flags = message.operation_flags;
            if flags & !open_flags::ALL != 0 {
                return Err(Errno::InvalidArgument);
            }
            let options = OpenOptions {
                create: flags & open_flags::CREATE != 0,
                exclusive: flags & open_flags::EXCLUSIVE != 0,
                truncate: flags & open_flags::TRUNCATE != 0,
                write: flags & (open_flags::WRITE | open_flags::APPEND) != 0,
                directory: flags & open_flags::DIRECTORY != 0,
            };
            let append = flags & open_flags::APPEND != 0;
            let path = self.path(server, message, base)?;
            let node = self.tree.open(&path, options)?;
            let generation = self.next_generation;
            // 31 bits, never 0.
            self.next_generation = (self.next_generation + 1) & 0x7fff_ffff;
            self.next_generation = self.next_generation.max(1);
            let index = match self.open.iter().position(Option::is_none) {
                Some(index) => index,
                None => {
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
                        generation,
                    });
                    Ok(handle as u32)
                }
                Err(error) => {
                    self.tree.close(node);
                    Err(error)
                }
            }
        }

        fn rename(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            base: Option<NodeId>,
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
            let (from, to) = (self.absolute(&from, base)?, self.absolute(&to, base)?);
            self.tree.rename(&from, &to).map(|()| 0)
        }

        /// `READ`: one `COPY_OUT` straight from the file's bytes.
        fn read(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let node = self.node_of(index)?;
            let bytes = self
                .tree
                .bytes(node, message.offset, message.length as usize)?;
            if bytes.is_empty() {
                return Ok(0);
            }
            let copied = with_ring(|ring| server.copy_out(ring, message, 0, bytes))?;
            Ok(copied as i32)
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
            let append = self.open[index].as_ref().is_some_and(|file| file.append);
            let length = message.length as usize;
            if length > FILE_MAX {
                return Err(Errno::OutOfMemory);
            }
            let mut bytes = Vec::new();
            bytes
                .try_reserve_exact(length)
                .map_err(|_| Errno::OutOfMemory)?;
            bytes.resize(length, 0);
            let copied = with_ring(|ring| server.copy_in(ring, message, 0, &mut bytes))?;
            let written = self
                .tree
                .write(node, message.offset, &bytes[..copied], append)?;
            Ok(written as i32)
        }

        fn stat(
            &mut self,
            server: &Server,
            message: &RequestMessage,
            index: usize,
        ) -> Result<i32, Errno> {
            let status = file_status(self.tree.stat(self.node_of(index)?)?);
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
            while let Some((name, status)) = self.tree.entry(node, entry_index)? {
                let size = DirectoryEntry::record_size(name.len());
                if filled + size > room {
                    if filled == 0 {
                        return Err(Errno::InvalidArgument); // not even one fits
                    }
                    break;
                }
                let head = DirectoryEntry {
                    size: status.size,
                    kind: file_status(status).kind,
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

        fn node_of(&self, index: usize) -> Result<NodeId, Errno> {
            self.open[index]
                .as_ref()
                .map(|file| file.node)
                .ok_or(Errno::BadHandle)
        }
    }

    /// Copies every file of the boot image into `tree` (as `/` + its path
    /// in the archive) and returns how many there were.
    fn seed(tree: &mut Tree, boot_image: u32) -> Result<usize, Errno> {
        let archive = runtime::boot_image::map(boot_image)?;
        let mut files = 0;
        for entry in cpio_reader::iter_files(archive) {
            let mode = entry.mode();
            let path = alloc::format!("/{}", entry.name().trim_start_matches("./"));
            if mode.contains(cpio_reader::Mode::DIRECTORY)
                && !mode.contains(cpio_reader::Mode::REGULAR_FILE)
            {
                match tree.mkdir(&path) {
                    Ok(_) | Err(Errno::Exists) => {}
                    Err(error) => return Err(error),
                }
            } else if mode.contains(cpio_reader::Mode::REGULAR_FILE) {
                tree.add_file(&path, entry.file())?;
                files += 1;
            }
        }
        Ok(files)
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

    fn file_status(status: Status) -> FileStatus {
        FileStatus {
            size: status.size,
            kind: match status.kind {
                Kind::File => file_kind::FILE,
                Kind::Directory => file_kind::DIRECTORY,
            },
            ..FileStatus::default()
        }
    }
}
