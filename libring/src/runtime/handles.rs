//! The handles a process starts with, as the startup block lists them.
//!
//! Whoever built the process (the kernel for a program on its command
//! line, init or the proc server otherwise) wrote `handle_count` and
//! `handles` into the startup block (see `docs/processes.md`), in the order
//! the process was given them, and which of them play which role: the
//! three standard streams, the file system, the proc server, power (0 for
//! none). `start` copies them out once, through
//! [`StartupHandles::from_block`], and keeps the copy for [`super::handles`],
//! [`super::stdout`] and the rest.
//!
//! # Invariants
//! - `count <= HANDLES_MAX`, whatever the block claimed.

#![forbid(unsafe_code)]

use crate::abi::{STARTUP_SERVICES_MAX, StartupBlock, StartupService};
use zerocopy::FromBytes;

/// The most handles a startup block holds. (`from_block` copies the
/// block's array into one this long, so a mismatch does not compile.)
pub const HANDLES_MAX: usize = 12;

/// A copy of the startup block's handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartupHandles {
    handles: [u32; HANDLES_MAX],
    count: usize,
    stdin: u32,
    stdout: u32,
    stderr: u32,
    file_system: u32,
    processes: u32,
    power: u32,
    /// The named services, up to the first entry with handle 0.
    services: [StartupService; STARTUP_SERVICES_MAX],
}

impl StartupHandles {
    /// No handles at all (and no console).
    pub const fn none() -> StartupHandles {
        StartupHandles {
            handles: [0; HANDLES_MAX],
            count: 0,
            stdin: 0,
            stdout: 0,
            stderr: 0,
            file_system: 0,
            processes: 0,
            power: 0,
            services: [StartupService {
                name: [0; crate::abi::SERVICE_NAME_MAX],
                handle: 0,
            }; STARTUP_SERVICES_MAX],
        }
    }

    /// The handles `block` lists. A `handle_count` beyond the array is cut
    /// to the array: the block is the kernel's word, but not a reason to
    /// read past it.
    pub fn from_block(block: &StartupBlock) -> StartupHandles {
        StartupHandles {
            handles: block.handles,
            count: (block.handle_count as usize).min(HANDLES_MAX),
            stdin: block.stdin,
            stdout: block.stdout,
            stderr: block.stderr,
            file_system: block.file_system,
            processes: block.processes,
            power: block.power,
            ..StartupHandles::none()
        }
    }

    /// These handles with the service table `table` (the startup page's
    /// bytes from `STARTUP_SERVICES_OFFSET`): its entries up to the first
    /// with handle 0, or all that fit. The names handle init gives every
    /// server it starts (the service `names`, for reconnecting) leaves the
    /// list of [`StartupHandles::handles`]: a server's handles are those
    /// its manifest line grants, in order, as before there was one.
    pub fn with_services(mut self, table: &[u8]) -> StartupHandles {
        let entries = table
            .chunks_exact(size_of::<StartupService>())
            .take(STARTUP_SERVICES_MAX)
            .map_while(|bytes| StartupService::read_from_bytes(bytes).ok())
            .take_while(|entry| entry.handle != 0);
        for (slot, entry) in self.services.iter_mut().zip(entries) {
            *slot = entry;
        }
        if let Some(names) = self.service("names")
            && let Some(at) = self.handles().iter().position(|&handle| handle == names)
        {
            self.handles.copy_within(at + 1..self.count, at);
            self.count -= 1;
            self.handles[self.count] = 0;
        }
        self
    }

    /// The client handle of the service named `name`, if the process was
    /// given one.
    pub fn service(&self, name: &str) -> Option<u32> {
        self.services
            .iter()
            .take_while(|entry| entry.handle != 0)
            .find(|entry| entry.name() == name.as_bytes())
            .map(|entry| entry.handle)
    }

    /// The names of the services the process was given, in order.
    pub fn service_names(&self) -> impl Iterator<Item = &[u8]> {
        self.services
            .iter()
            .take_while(|entry| entry.handle != 0)
            .map(StartupService::name)
    }

    /// The startup handles, in the order they were given.
    pub fn handles(&self) -> &[u32] {
        &self.handles[..self.count]
    }

    /// Standard input, if the process has one (0 means none).
    pub fn stdin(&self) -> Option<u32> {
        (self.stdin != 0).then_some(self.stdin)
    }

    /// Standard output, if the process has one.
    pub fn stdout(&self) -> Option<u32> {
        (self.stdout != 0).then_some(self.stdout)
    }

    /// Standard error, if the process has one.
    pub fn stderr(&self) -> Option<u32> {
        (self.stderr != 0).then_some(self.stderr)
    }

    /// The file server's handle, if the process has one (0 means none).
    pub fn file_system(&self) -> Option<u32> {
        (self.file_system != 0).then_some(self.file_system)
    }

    /// The proc server's handle, if the process has one.
    pub fn processes(&self) -> Option<u32> {
        (self.processes != 0).then_some(self.processes)
    }

    /// A power handle, if the process has one.
    pub fn power(&self) -> Option<u32> {
        (self.power != 0).then_some(self.power)
    }
}

/// The most handles [`Renewals`] follows: every startup handle and every
/// named service.
pub const RENEWALS_MAX: usize = HANDLES_MAX + STARTUP_SERVICES_MAX;

/// Handles replaced by reconnecting (`runtime::reconnect`): for each
/// handle the process started with (or got later) whose server was
/// restarted, the handle that replaced it last. Every accessor of the
/// startup handles looks here first, so the process's stdout, file system
/// and services follow their roles across restarts.
///
/// # Invariants
/// - No pair's new handle is another pair's old one: a handle renewed
///   twice maps straight to the newest.
#[derive(Clone, Copy, Debug)]
pub struct Renewals {
    pairs: [(u32, u32); RENEWALS_MAX],
    count: usize,
}

impl Renewals {
    /// None renewed.
    pub const fn new() -> Renewals {
        Renewals {
            pairs: [(0, 0); RENEWALS_MAX],
            count: 0,
        }
    }

    /// What `handle` is now.
    pub fn current(&self, handle: u32) -> u32 {
        self.pairs[..self.count]
            .iter()
            .find(|(old, _)| *old == handle)
            .map_or(handle, |&(_, new)| new)
    }

    /// `old` is replaced by `new`: so is every handle `old` replaced.
    /// `false` if there is no room to remember it (more distinct handles
    /// renewed than a process starts with).
    pub fn record(&mut self, old: u32, new: u32) -> bool {
        let mut followed = false;
        for pair in &mut self.pairs[..self.count] {
            if pair.1 == old {
                pair.1 = new;
                followed = true;
            }
        }
        if followed {
            return true;
        }
        if self.count == RENEWALS_MAX {
            return false;
        }
        self.pairs[self.count] = (old, new);
        self.count += 1;
        true
    }
}

impl Default for Renewals {
    fn default() -> Renewals {
        Renewals::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_handle_maps_to_its_newest_replacement() {
        let mut renewals = Renewals::new();
        assert_eq!(renewals.current(7), 7);
        assert!(renewals.record(7, 20));
        assert_eq!(renewals.current(7), 20);
        assert!(renewals.record(20, 31));
        assert_eq!(renewals.current(7), 31, "followed to the newest");
        assert_eq!(renewals.current(20), 20, "20 is no startup handle");
        assert!(renewals.record(8, 40));
        assert_eq!(renewals.current(8), 40);
        assert_eq!(renewals.current(7), 31);
        for old in 100..100 + (RENEWALS_MAX as u32 - 2) {
            assert!(renewals.record(old, old + 1000));
        }
        assert!(!renewals.record(5000, 5001), "full");
        assert!(
            renewals.record(31, 32),
            "a renewal of a renewal needs no room"
        );
        assert_eq!(renewals.current(7), 32);
    }
    use crate::abi::{ABI_VERSION, RING_ADDRESS};

    fn block(handle_count: u32, stdout: u32) -> StartupBlock {
        StartupBlock {
            abi_version: ABI_VERSION,
            argument_count: 1,
            ring: RING_ADDRESS,
            arguments_length: 0,
            handle_count,
            handles: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22],
            stdin: 0,
            stdout,
            stderr: 12,
            file_system: 13,
            processes: 14,
            power: 0,
        }
    }

    #[test]
    fn services_are_found_by_name_up_to_the_first_empty_entry() {
        let mut table = [0u8; 160];
        let entries = [
            StartupService::new("pipe", 21).unwrap(),
            StartupService::new("kv", 22).unwrap(),
            StartupService::default(),
            StartupService::new("hidden", 23).unwrap(),
        ];
        for (index, entry) in entries.iter().enumerate() {
            table[index * 16..index * 16 + 16]
                .copy_from_slice(zerocopy::IntoBytes::as_bytes(entry));
        }
        let handles = StartupHandles::none().with_services(&table);
        assert_eq!(handles.service("pipe"), Some(21));
        assert_eq!(handles.service("kv"), Some(22));
        assert_eq!(handles.service("hidden"), None);
        assert_eq!(handles.service("pip"), None);
        assert_eq!(handles.service(""), None);
        assert_eq!(handles.service_names().count(), 2);
        // A short table, and names that cannot be.
        assert_eq!(
            StartupHandles::none()
                .with_services(&table[..20])
                .service("kv"),
            None
        );
        assert_eq!(StartupService::new("", 1), None);
        assert_eq!(StartupService::new("thirteen-long", 1), None);
        assert_eq!(StartupService::new("a\0b", 1), None);
    }

    #[test]
    fn the_names_handle_is_a_service_not_a_startup_handle() {
        let mut table = [0u8; 32];
        let entries = [
            StartupService::new("block", 12).unwrap(),
            StartupService::new("names", 13).unwrap(),
        ];
        for (index, entry) in entries.iter().enumerate() {
            table[index * 16..index * 16 + 16]
                .copy_from_slice(zerocopy::IntoBytes::as_bytes(entry));
        }
        let handles = StartupHandles::from_block(&block(4, 0)).with_services(&table);
        assert_eq!(handles.handles(), [11, 12, 14]);
        assert_eq!(handles.service("names"), Some(13));
        assert_eq!(handles.service("block"), Some(12));
    }

    #[test]
    fn handles_are_the_first_handle_count_in_order() {
        let handles = StartupHandles::from_block(&block(3, 0));
        assert_eq!(handles.handles(), [11, 12, 13]);
        assert_eq!(handles.stdout(), None);
    }

    #[test]
    fn a_handle_count_beyond_the_array_is_cut_to_it() {
        for count in [12, 13, u32::MAX] {
            let handles = StartupHandles::from_block(&block(count, 0));
            assert_eq!(handles.handles().len(), HANDLES_MAX, "{count}");
        }
    }

    #[test]
    fn each_role_is_whatever_non_zero_handle_the_block_names() {
        assert_eq!(StartupHandles::from_block(&block(1, 11)).stdout(), Some(11));
        assert_eq!(StartupHandles::from_block(&block(1, 11)).stdin(), None);
        assert_eq!(StartupHandles::from_block(&block(1, 11)).stderr(), Some(12));
        assert_eq!(StartupHandles::none().stdout(), None);
        assert_eq!(
            StartupHandles::from_block(&block(3, 0)).file_system(),
            Some(13)
        );
        assert_eq!(StartupHandles::none().file_system(), None);
        assert_eq!(
            StartupHandles::from_block(&block(3, 0)).processes(),
            Some(14)
        );
        assert_eq!(StartupHandles::from_block(&block(3, 0)).power(), None);
        assert!(StartupHandles::none().handles().is_empty());
    }
}
