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

use crate::abi::StartupBlock;

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
        }
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

#[cfg(test)]
mod tests {
    use super::*;
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
