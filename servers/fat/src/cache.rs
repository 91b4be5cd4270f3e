//! The block cache: the disk in 4 KiB blocks, kept in memory between
//! requests.
//!
//! The FAT code reads and writes the disk in small pieces (a 32-byte
//! directory entry, a 4-byte FAT entry); each piece sent to the disk
//! driver would be a round trip through the kernel and the device. So the
//! cache holds blocks: a miss reads up to [`READ_AHEAD`] blocks in one
//! request, and writes stay in the cache (dirty) until [`Cache::flush`]
//! writes every dirty block, runs of them in one request each, and asks
//! the disk to make them stable (`FSYNC`).
//!
//! # Invariants
//! - Every block in `blocks` holds the disk's bytes at `index * BLOCK`,
//!   as the disk has them, or (dirty) as they will be after the next flush.
//! - At most [`CAPACITY`] blocks are kept; only clean ones are evicted.

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use libring::abi::Errno;

/// Bytes per cache block.
pub const BLOCK: usize = 4096;
/// Blocks a miss reads at once (and dirty blocks written at once).
pub const READ_AHEAD: usize = 32;
/// Blocks kept at most: 4 MiB.
pub const CAPACITY: usize = 1024;

/// What the cache reads from and writes to: the disk driver through the
/// ring, or memory in host tests. Offsets and lengths are multiples of 512.
pub trait BlockDevice {
    /// The disk's size in bytes.
    fn size(&self) -> u64;
    fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), Errno>;
    fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Errno>;
    /// Returns when everything written is on stable storage.
    fn sync(&mut self) -> Result<(), Errno>;
}

struct Block {
    bytes: Box<[u8]>,
    dirty: bool,
    /// When it was last used (`Cache::clock`), for eviction.
    used: u64,
}

pub struct Cache<D: BlockDevice> {
    device: D,
    blocks: BTreeMap<u64, Block>,
    clock: u64,
    /// Device requests made (reads, writes), for tests and figures.
    pub requests: u64,
    /// Staging for runs of blocks.
    run: Vec<u8>,
}

impl<D: BlockDevice> Cache<D> {
    pub fn new(device: D) -> Cache<D> {
        Cache {
            device,
            blocks: BTreeMap::new(),
            clock: 0,
            requests: 0,
            run: vec![0; READ_AHEAD * BLOCK],
        }
    }

    pub fn size(&self) -> u64 {
        self.device.size()
    }

    /// The blocks in the disk (the last one may be partial).
    fn block_count(&self) -> u64 {
        self.size().div_ceil(BLOCK as u64)
    }

    /// Bytes of block `index` that are on the disk.
    fn block_length(&self, index: u64) -> usize {
        (self.size() - index * BLOCK as u64).min(BLOCK as u64) as usize
    }

    /// Reads `buffer.len()` bytes from `offset`; fewer at the disk's end.
    pub fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<usize, Errno> {
        let end = (offset + buffer.len() as u64).min(self.size());
        let mut position = offset;
        while position < end {
            let index = position / BLOCK as u64;
            let within = (position % BLOCK as u64) as usize;
            let piece = ((end - position) as usize).min(BLOCK - within);
            let block = self.block(index, true)?;
            let done = (position - offset) as usize;
            buffer[done..done + piece].copy_from_slice(&block.bytes[within..within + piece]);
            position += piece as u64;
        }
        Ok(end.saturating_sub(offset) as usize)
    }

    /// Writes `bytes` at `offset` into the cache (to the disk at the next
    /// flush); fewer at the disk's end.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<usize, Errno> {
        let end = (offset + bytes.len() as u64).min(self.size());
        let mut position = offset;
        while position < end {
            let index = position / BLOCK as u64;
            let within = (position % BLOCK as u64) as usize;
            let piece = ((end - position) as usize).min(BLOCK - within);
            // A whole block is not read first: all of it is replaced.
            let whole = within == 0 && piece == self.block_length(index);
            let block = self.block(index, !whole)?;
            let done = (position - offset) as usize;
            block.bytes[within..within + piece].copy_from_slice(&bytes[done..done + piece]);
            block.dirty = true;
            position += piece as u64;
        }
        Ok(end.saturating_sub(offset) as usize)
    }

    /// Writes every dirty block, a run of neighbours per request, then
    /// asks the disk to make them stable.
    pub fn flush(&mut self) -> Result<(), Errno> {
        let dirty: Vec<u64> = self
            .blocks
            .iter()
            .filter(|(_, block)| block.dirty)
            .map(|(&index, _)| index)
            .collect();
        let mut next = 0;
        while next < dirty.len() {
            let first = dirty[next];
            let mut count = 1;
            while next + count < dirty.len()
                && count < READ_AHEAD
                && dirty[next + count] == first + count as u64
            {
                count += 1;
            }
            let mut length = 0;
            for index in first..first + count as u64 {
                let block = &self.blocks[&index];
                let size = self.block_length(index);
                self.run[length..length + size].copy_from_slice(&block.bytes[..size]);
                length += size;
            }
            self.requests += 1;
            self.device
                .write(first * BLOCK as u64, &self.run[..length])?;
            for index in first..first + count as u64 {
                if let Some(block) = self.blocks.get_mut(&index) {
                    block.dirty = false;
                }
            }
            next += count;
        }
        self.device.sync()
    }

    /// Block `index`, from the disk if it is not here (when `load`; else
    /// a zeroed one, about to be overwritten whole).
    fn block(&mut self, index: u64, load: bool) -> Result<&mut Block, Errno> {
        self.clock += 1;
        if !self.blocks.contains_key(&index) {
            self.make_room()?;
            if load {
                self.load(index)?;
            } else {
                self.blocks.insert(
                    index,
                    Block {
                        bytes: vec![0; BLOCK].into_boxed_slice(),
                        dirty: false,
                        used: 0,
                    },
                );
            }
        }
        let clock = self.clock;
        let block = self.blocks.get_mut(&index).expect("just made sure");
        block.used = clock;
        Ok(block)
    }

    /// Reads block `index` and the uncached ones after it, up to
    /// [`READ_AHEAD`] in all, in one request.
    fn load(&mut self, index: u64) -> Result<(), Errno> {
        let mut count = 1;
        while count < READ_AHEAD
            && index + (count as u64) < self.block_count()
            && !self.blocks.contains_key(&(index + count as u64))
        {
            count += 1;
        }
        let length: usize = (index..index + count as u64)
            .map(|block| self.block_length(block))
            .sum();
        // Whole sectors: a disk's size is a multiple of 512.
        self.requests += 1;
        self.device
            .read(index * BLOCK as u64, &mut self.run[..length])?;
        let mut start = 0;
        for block in index..index + count as u64 {
            let size = self.block_length(block);
            let mut bytes = vec![0; BLOCK].into_boxed_slice();
            bytes[..size].copy_from_slice(&self.run[start..start + size]);
            start += size;
            self.blocks.insert(
                block,
                Block {
                    bytes,
                    dirty: false,
                    used: self.clock,
                },
            );
        }
        Ok(())
    }

    /// Evicts the least recently used clean blocks until a read-ahead
    /// fits; writes the dirty ones first if nothing clean is left.
    fn make_room(&mut self) -> Result<(), Errno> {
        if self.blocks.len() + READ_AHEAD <= CAPACITY {
            return Ok(());
        }
        if self.blocks.values().all(|block| block.dirty) {
            self.flush()?;
        }
        while self.blocks.len() + READ_AHEAD > CAPACITY {
            let oldest = self
                .blocks
                .iter()
                .filter(|(_, block)| !block.dirty)
                .min_by_key(|(_, block)| block.used)
                .map(|(&index, _)| index);
            match oldest {
                Some(index) => {
                    self.blocks.remove(&index);
                }
                None => self.flush()?,
            }
        }
        Ok(())
    }

    /// The device, for tests.
    pub fn device(&self) -> &D {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk in memory that counts what it is asked.
    pub struct MemoryDisk {
        pub bytes: Vec<u8>,
        pub syncs: u32,
    }

    impl BlockDevice for MemoryDisk {
        fn size(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), Errno> {
            assert!(offset.is_multiple_of(512) && buffer.len().is_multiple_of(512));
            let start = offset as usize;
            buffer.copy_from_slice(&self.bytes[start..start + buffer.len()]);
            Ok(())
        }
        fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
            assert!(offset.is_multiple_of(512) && bytes.len().is_multiple_of(512));
            let start = offset as usize;
            self.bytes[start..start + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }
        fn sync(&mut self) -> Result<(), Errno> {
            self.syncs += 1;
            Ok(())
        }
    }

    fn disk(size: usize) -> Cache<MemoryDisk> {
        let bytes = (0..size).map(|i| (i / 512) as u8).collect();
        Cache::new(MemoryDisk { bytes, syncs: 0 })
    }

    #[test]
    fn reads_come_from_one_read_ahead_then_from_memory() {
        let mut cache = disk(1 << 20);
        let mut buffer = [0u8; 100];
        cache.read(5000, &mut buffer).unwrap();
        assert_eq!(buffer[0], (5000 / 512) as u8);
        cache.read(4096 * 20, &mut buffer).unwrap();
        assert_eq!(cache.requests, 1);
        cache.read(4096 * 40, &mut buffer).unwrap();
        assert_eq!(cache.requests, 2);
    }

    #[test]
    fn writes_reach_the_disk_only_at_flush_in_runs() {
        let mut cache = disk(1 << 20);
        let bytes = vec![0xee; 3 * BLOCK + 10];
        assert_eq!(cache.write(BLOCK as u64 - 5, &bytes), Ok(bytes.len()));
        assert_eq!(cache.device().bytes[BLOCK], 8);
        cache.flush().unwrap();
        let disk = &cache.device().bytes;
        assert_eq!(disk[BLOCK - 6], ((BLOCK - 6) / 512) as u8);
        assert!(disk[BLOCK - 5..4 * BLOCK + 5].iter().all(|&b| b == 0xee));
        assert_eq!(disk[4 * BLOCK + 5], ((4 * BLOCK + 5) / 512) as u8);
        assert_eq!(cache.device().syncs, 1);
        // One read-ahead for the partial first block, one write for the run.
        assert_eq!(cache.requests, 2);
    }

    #[test]
    fn reads_and_writes_stop_at_the_disk_end() {
        let mut cache = disk(3 * 512 + BLOCK);
        let mut buffer = [0u8; 4096];
        assert_eq!(cache.read(BLOCK as u64 + 512, &mut buffer), Ok(1024));
        assert_eq!(cache.write(BLOCK as u64 + 1024, &[1; 1024]), Ok(512));
        cache.flush().unwrap();
        assert_eq!(cache.device().bytes[BLOCK + 1024..], [1; 512]);
    }

    #[test]
    fn a_full_cache_evicts_clean_blocks_and_keeps_dirty_ones() {
        let mut cache = disk(8 << 20);
        cache.write(0, &[7; 16]).unwrap();
        let mut buffer = [0u8; 1];
        for block in 0..(2 * CAPACITY) as u64 {
            cache.read(block * BLOCK as u64, &mut buffer).unwrap();
        }
        assert!(cache.blocks.len() <= CAPACITY);
        cache.read(0, &mut buffer).unwrap();
        assert_eq!(buffer[0], 7);
    }
}
