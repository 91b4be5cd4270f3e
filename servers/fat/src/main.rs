//! fat: the FAT file server. It serves the file protocol (`docs/fs.md`,
//! through `libring::file_server`) from a FAT12, FAT16 or FAT32 volume on
//! the disk the disk driver (`servers/virtio-blk`) serves. `volume.rs`
//! says how requests become FAT operations and when data reaches the disk
//! (by the time each change is answered); `cache.rs` keeps the disk's
//! blocks in memory.
//!
//! Started with the service handle of its endpoint and a client handle to
//! the disk driver, in that order (the manifest's `serve use=block`).
//!
//! On the host this builds to a stub; `cargo test -p fat` tests the
//! library on a disk in memory.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;
    use fat::cache::BlockDevice;
    use fat::volume::Fat;
    use libring::abi::Submission;
    use libring::abi::{Errno, FileStatus, RequestMessage};
    use libring::file_server::FileServer;
    use libring::ops;
    use libring::println;
    use libring::runtime::{self, Arguments, with_ring};
    use libring::server::{Event, Server};

    libring::entry!(main);

    /// Requests in progress at once.
    const SLOTS: usize = 16;

    /// Memory kept aside to finish a request with when the kernel has no
    /// more (`runtime::keep_ballast`): a request may fill the cache's
    /// blocks.
    const BALLAST: usize = 1 << 20;

    /// The disk, through the disk driver's handle.
    struct Disk {
        handle: u32,
        size: u64,
    }

    impl Disk {
        /// Runs `operation` on the disk; if the driver was restarted
        /// (`ESRVDEAD`), reconnects (`runtime::reconnect`) and runs it
        /// again on the new one. Every block operation may be done twice:
        /// a `WRITE` the old driver finished writes the same bytes again.
        fn run(&mut self, mut operation: impl FnMut(u32) -> Submission) -> Result<i32, Errno> {
            match with_ring(|ring| ring.run(operation(self.handle))) {
                Err(Errno::ServerDead) => {
                    self.handle = runtime::reconnect("block", self.handle)?;
                    with_ring(|ring| ring.run(operation(self.handle)))
                }
                other => other,
            }
        }
    }

    impl BlockDevice for Disk {
        fn size(&self) -> u64 {
            self.size
        }

        fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), Errno> {
            let wanted = buffer.len();
            match self.run(|disk| ops::read(disk, buffer, offset))? {
                count if count as usize == wanted => Ok(()),
                _ => Err(Errno::Io),
            }
        }

        fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
            match self.run(|disk| ops::write(disk, bytes, offset))? {
                count if count as usize == bytes.len() => Ok(()),
                _ => Err(Errno::Io),
            }
        }

        fn sync(&mut self) -> Result<(), Errno> {
            self.run(ops::fsync).map(|_| ())
        }
    }

    fn main(_arguments: Arguments) -> i32 {
        let [service, disk] = *runtime::handles() else {
            println!("fat: expected the handles [service, disk]");
            return 1;
        };
        let mut status = FileStatus::default();
        if let Err(error) = with_ring(|ring| ring.run(ops::stat(disk, &mut status))) {
            println!("fat: cannot ask the disk its size: {}", error.description());
            return 1;
        }
        let volume = match Fat::mount(Disk {
            handle: disk,
            size: status.size,
        }) {
            Ok(volume) => volume,
            Err(error) => {
                println!(
                    "fat: no FAT file system on the disk ({})",
                    error.description()
                );
                return 1;
            }
        };
        let (volume_bytes, journal_bytes) = volume.sizes().unwrap_or((status.size, 0));
        if volume_bytes > status.size {
            println!(
                "fat: the disk ({} KiB) is shorter than its volume ({} KiB): the volume is damaged \
                 or was made for another disk; what lies past the disk's end reads as an error",
                status.size / 1024,
                volume_bytes / 1024
            );
        }
        if journal_bytes > 0 {
            println!(
                "fat: a {} volume of {} KiB, with a journal of {} KiB",
                volume.kind(),
                volume_bytes / 1024,
                journal_bytes / 1024
            );
        } else {
            println!(
                "fat: a {} volume of {} KiB, with no room for a journal: a power cut \
                 in the middle of a change can leave it for fsck.fat to mend",
                volume.kind(),
                volume_bytes / 1024
            );
        }
        if volume.recovered() > 0 {
            println!(
                "fat: the journal held a change the power cut short: {} blocks written again",
                volume.recovered()
            );
        }
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        // Room to finish a request when memory runs out (the cache's
        // blocks, the crate's own allocations): `runtime::keep_ballast`.
        if !runtime::keep_ballast(BALLAST) {
            println!("fat: no memory for its ballast");
        }
        let mut file_system = FileServer::new(volume, service);
        let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            println!("fat: cannot serve");
            return 1;
        };
        loop {
            match with_ring(|ring| server.wait(ring)) {
                Ok(Event::Request { message, .. }) => {
                    file_system.answer(&mut server, &message);
                    // Damage the request ran into (it was answered EIO).
                    if let Some(said) = file_system.backend.take_damage() {
                        println!("fat: {said}");
                    }
                }
                Ok(Event::Other(_)) => {}
                Ok(Event::Stopped(_)) | Err(_) => {
                    println!("fat: the endpoint is gone; stopping");
                    return 1;
                }
            }
        }
    }
}
