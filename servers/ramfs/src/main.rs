//! ramfs: the file system server, its files and directories in memory
//! (`tree.rs`). The protocol is in `docs/fs.md`, and its server side in
//! `libring::file_server`, which this server fills in with its
//! [`Backend`]: the tree.
//!
//! Started with the service handle of its endpoint and, optionally, a
//! boot-image handle (`run=ramfs+serve=fs+bootimage`, or the manifest's
//! `serve bootimage`): with it, the tree starts as a copy of the boot
//! image's files (`/bin/init`, `/README.txt`, ...), plus an empty `/tmp`.
//! Everything is in memory: `FSYNC` has nothing to wait for.
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
    use libring::abi::{Errno, RequestMessage};
    use libring::file_server::{Backend, FileServer, OpenOptions, Status};
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};
    use ramfs::tree::{FILE_MAX, NodeId, Tree};

    libring::entry!(main);

    /// Requests in progress at once.
    const SLOTS: usize = 16;

    /// Memory kept aside to finish a request with when the kernel has no
    /// more (`runtime::keep_ballast`): what one request allocates beside
    /// what it allocates fallibly (a path, a name, a directory's node).
    const BALLAST: usize = 32 << 10;

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
        let mut tree = Tree::new();
        if let Some(boot_image) = boot_image {
            match seed(&mut tree, boot_image) {
                Ok(files) => libring::println!("ramfs: {files} files from the boot image"),
                Err(error) => libring::println!("ramfs: cannot read the boot image: {error:?}"),
            }
        }
        let _ = tree.mkdir("/tmp");
        // Room to finish a request when memory runs out (a path, a name,
        // a directory's new entry): see `runtime::keep_ballast`.
        if !runtime::keep_ballast(BALLAST) {
            libring::println!("ramfs: no memory for its ballast");
        }
        let mut file_system = FileServer::new(Memory(tree), service);
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

    /// The tree, as the protocol's backend.
    struct Memory(Tree);

    impl Backend for Memory {
        type Node = NodeId;

        fn open(&mut self, path: &str, options: OpenOptions) -> Result<NodeId, Errno> {
            self.0.open(path, options)
        }

        fn close(&mut self, node: NodeId) {
            self.0.close(node);
        }

        fn path_of(&mut self, node: NodeId) -> Result<String, Errno> {
            self.0.path_of(node)
        }

        /// Straight from the file's bytes: no copy here.
        fn read(&mut self, node: NodeId, offset: u64, length: usize) -> Result<&[u8], Errno> {
            self.0.bytes(node, offset, length)
        }

        fn write(
            &mut self,
            node: NodeId,
            offset: u64,
            bytes: &[u8],
            append: bool,
        ) -> Result<usize, Errno> {
            self.0.write(node, offset, bytes, append)
        }

        fn stat(&mut self, node: NodeId) -> Result<Status, Errno> {
            self.0.stat(node)
        }

        fn entry(&mut self, node: NodeId, index: usize) -> Result<Option<(String, Status)>, Errno> {
            Ok(self
                .0
                .entry(node, index)?
                .map(|(name, status)| (String::from(name), status)))
        }

        fn mkdir(&mut self, path: &str) -> Result<(), Errno> {
            self.0.mkdir(path).map(|_| ())
        }

        fn unlink(&mut self, path: &str) -> Result<(), Errno> {
            self.0.unlink(path)
        }

        fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
            self.0.rename(from, to)
        }

        /// Everything is in memory: nothing to wait for.
        fn fsync(&mut self, _node: NodeId) -> Result<(), Errno> {
            Ok(())
        }

        fn write_max(&self) -> usize {
            FILE_MAX
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
}
