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
//! **The journal.** A flush writes many blocks, and the power can go
//! between any two of them: a new directory entry on the disk without the
//! allocation table that gives its cluster, say. So when the disk has
//! room past the volume for a journal ([`Journal`]), a flush first writes
//! every dirty block, with a header that lists where each belongs and a
//! checksum over all of it, to the journal in one go, and asks the disk
//! to make it stable; only then does it write the blocks home. A cut
//! during the journal write leaves a journal whose checksum fails, and
//! the volume as it was before the flush; a cut during the home writes
//! leaves a whole journal, which [`Cache::recover`] (at the next mount)
//! writes home again. Either way the next mount sees the volume as it was
//! before the flush or after it, never between.
//!
//! ```text
//!  flush:   journal ◄─ header (indexes, checksum) + dirty blocks ; sync
//!           home    ◄─ dirty blocks, runs of neighbours           ; sync
//!  mount:   journal whole? ──yes──► home ◄─ its blocks ; sync
//! ```
//!
//! # Invariants
//! - Every block in `blocks` holds the disk's bytes at `index * BLOCK`,
//!   as the disk has them, or (dirty) as they will be after the next flush.
//! - At most [`CAPACITY`] blocks are kept; only clean ones are evicted.
//! - The journal on the disk is either torn (its checksum fails), empty,
//!   or holds the last flush whose blocks it lists, so writing it home
//!   again at any time changes nothing or finishes that flush.

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

/// Where the journal is: past the end of the volume, in the disk's last
/// blocks. The blocks of one flush must fit in it with their header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Journal {
    /// Its first block (a block index on the disk).
    pub first: u64,
    /// How many blocks it has.
    pub blocks: u64,
}

/// The journal's first eight bytes.
const JOURNAL_MAGIC: [u8; 8] = *b"ANJOURNL";
/// Header bytes before the list of block indexes: magic, count, checksum.
const JOURNAL_HEAD: usize = 24;

/// The checksum of a journal: 64-bit FNV-1a over 8-byte words, of the
/// index list and then the blocks.
fn checksum(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |hash, word| {
        (hash ^ word).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
}

/// Header blocks for a journal of `count` blocks.
fn header_blocks(count: usize) -> usize {
    (JOURNAL_HEAD + 8 * count).div_ceil(BLOCK)
}

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
    /// The journal, if the disk has room for one.
    journal: Option<Journal>,
    /// Staging for a journal write.
    journal_bytes: Vec<u8>,
    /// Flushes that went through the journal, and ones too big for it.
    pub journaled: u64,
    pub unjournaled: u64,
}

impl<D: BlockDevice> Cache<D> {
    pub fn new(device: D) -> Cache<D> {
        Cache {
            device,
            blocks: BTreeMap::new(),
            clock: 0,
            requests: 0,
            run: vec![0; READ_AHEAD * BLOCK],
            journal: None,
            journal_bytes: Vec::new(),
            journaled: 0,
            unjournaled: 0,
        }
    }

    /// Flushes go through `journal` from now on.
    pub fn use_journal(&mut self, journal: Journal) {
        self.journal = Some(journal);
    }

    /// The journal in use, if any.
    pub fn journal(&self) -> Option<Journal> {
        self.journal
    }

    /// Empties the journal (its first block zeroed, so no magic), stably:
    /// for a disk about to be changed by other means, whose changes a
    /// replay of the last flush would undo.
    pub fn clear_journal(&mut self) -> Result<(), Errno> {
        let Some(journal) = self.journal else {
            return Ok(());
        };
        self.device
            .write(journal.first * BLOCK as u64, &vec![0u8; BLOCK])?;
        self.device.sync()
    }

    /// Writes home the blocks of a whole journal that differ from what is
    /// home (a flush the power cut short), and returns how many; 0 if the
    /// journal is empty or torn, or its flush finished (the journal keeps
    /// the last flush after it is done).
    /// Called before the volume is mounted, with nothing dirty cached;
    /// what is cached is dropped.
    pub fn recover(&mut self) -> Result<usize, Errno> {
        let Some(journal) = self.journal else {
            return Ok(0);
        };
        let mut head = vec![0u8; BLOCK];
        self.device.read(journal.first * BLOCK as u64, &mut head)?;
        if head[..8] != JOURNAL_MAGIC {
            return Ok(0);
        }
        let count = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        let headers = header_blocks(count);
        if count == 0 || (headers + count) as u64 > journal.blocks {
            return Ok(0);
        }
        let mut bytes = vec![0u8; (headers + count) * BLOCK];
        self.device.read(journal.first * BLOCK as u64, &mut bytes)?;
        let stored = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        let (header, blocks) = bytes.split_at(headers * BLOCK);
        let indexes = &header[JOURNAL_HEAD..JOURNAL_HEAD + 8 * count];
        if checksum(words(indexes).chain(words(blocks))) != stored {
            return Ok(0); // torn: the flush it held never began at home
        }
        if words(indexes).any(|index| index >= self.block_count() || index >= journal.first) {
            return Ok(0); // not blocks of the volume: not a journal of ours
        }
        let mut home = vec![0u8; BLOCK];
        let mut written = 0;
        for (index, block) in words(indexes).zip(blocks.chunks_exact(BLOCK)) {
            let size = self.block_length(index);
            self.device.read(index * BLOCK as u64, &mut home[..size])?;
            if home[..size] != block[..size] {
                self.device.write(index * BLOCK as u64, &block[..size])?;
                written += 1;
            }
        }
        if written == 0 {
            return Ok(0);
        }
        self.device.sync()?;
        // What was read before (the boot sector, to find the journal, and
        // its read-ahead) is older than what was just written home.
        self.blocks.retain(|_, block| block.dirty);
        Ok(written)
    }

    /// Writes the dirty blocks `dirty` (sorted) to the journal, with their
    /// header, and makes it stable. `false` if they do not fit: the
    /// journal is emptied instead (so it can never be written home over
    /// newer blocks), and the flush goes without it.
    fn write_journal(&mut self, dirty: &[u64]) -> Result<bool, Errno> {
        let Some(journal) = self.journal else {
            return Ok(false);
        };
        let headers = header_blocks(dirty.len());
        if (headers + dirty.len()) as u64 > journal.blocks {
            let empty = vec![0u8; BLOCK];
            self.device.write(journal.first * BLOCK as u64, &empty)?;
            self.device.sync()?;
            return Ok(false);
        }
        let mut bytes = core::mem::take(&mut self.journal_bytes);
        bytes.clear();
        bytes.resize((headers + dirty.len()) * BLOCK, 0);
        bytes[..8].copy_from_slice(&JOURNAL_MAGIC);
        bytes[8..12].copy_from_slice(&(dirty.len() as u32).to_le_bytes());
        for (slot, index) in dirty.iter().enumerate() {
            let at = JOURNAL_HEAD + 8 * slot;
            bytes[at..at + 8].copy_from_slice(&index.to_le_bytes());
            let data = headers * BLOCK + slot * BLOCK;
            bytes[data..data + BLOCK].copy_from_slice(&self.blocks[index].bytes);
        }
        let (header, blocks) = bytes.split_at(headers * BLOCK);
        let indexes = &header[JOURNAL_HEAD..JOURNAL_HEAD + 8 * dirty.len()];
        let sum = checksum(words(indexes).chain(words(blocks)));
        bytes[16..24].copy_from_slice(&sum.to_le_bytes());
        self.requests += 1;
        let written = self
            .device
            .write(journal.first * BLOCK as u64, &bytes)
            .and_then(|()| self.device.sync());
        self.journal_bytes = bytes;
        written.map(|()| true)
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
        if dirty.is_empty() {
            return self.device.sync();
        }
        if self.write_journal(&dirty)? {
            self.journaled += 1;
        } else if self.journal.is_some() {
            self.unjournaled += 1;
        }
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
