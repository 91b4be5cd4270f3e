//! The physical frame allocator: who owns each 4 KiB page of RAM.
//!
//! One bit per frame of every RAM bank the device tree names: 1 = in use (or
//! not ours: the kernel image, the FDT, the initrd, firmware reservations),
//! 0 = free. A bitmap is chosen over a free list because it is easy to
//! inspect, it catches double frees, and it can find runs of contiguous
//! frames (kernel stacks, later DMA buffers). It costs 32 KiB per GiB of RAM.
//!
//! # Invariants
//! - `free_frames` equals the number of 0 bits.
//! - A frame is handed out at most once until it is freed; freeing a frame
//!   that is not in use is a kernel bug and panics.
//! - Frames that overlap a reserved range are never handed out.

use boot::boot_info::PhysicalRange;
use boot::layout::PAGE_SIZE;

const FRAME: u64 = PAGE_SIZE as u64;
const BITS_PER_WORD: usize = 64;

/// The most RAM banks the allocator tracks.
pub const MAX_BANKS: usize = boot::boot_info::MAX_MEMORY_REGIONS;

/// One RAM bank, as frames.
#[derive(Clone, Copy, Debug)]
struct Bank {
    /// Physical address of the first whole frame.
    start: u64,
    frames: usize,
    /// Index of this bank's first frame in the bitmap.
    first_bit: usize,
}

pub struct FrameAllocator<'bitmap> {
    banks: heapless::Vec<Bank, MAX_BANKS>,
    bitmap: &'bitmap mut [u64],
    total_frames: usize,
    free_frames: usize,
    /// Where the last search ended: the next one starts there (a word index).
    search_hint: usize,
    /// Where `allocate_contiguous` starts looking (a bit index).
    contiguous_hint: usize,
}

/// The bitmap's size in bytes for these banks (whole 64-bit words).
pub fn bitmap_bytes(memory: &[PhysicalRange]) -> usize {
    let frames: usize = memory.iter().map(|range| whole_frames(range).1).sum();
    frames.div_ceil(BITS_PER_WORD) * 8
}

/// A page-aligned range of `bytes` inside `memory` that overlaps nothing in
/// `reserved`: a home for the bitmap.
pub fn find_free_range(
    memory: &[PhysicalRange],
    reserved: &[PhysicalRange],
    bytes: usize,
) -> Option<PhysicalRange> {
    let size = (bytes as u64).div_ceil(FRAME) * FRAME;
    for bank in memory {
        let (mut candidate, frames) = whole_frames(bank);
        let bank_end = candidate + frames as u64 * FRAME;
        while candidate + size <= bank_end {
            let range = PhysicalRange::new(candidate, size)?;
            match reserved.iter().find(|taken| taken.overlaps(&range)) {
                // Skip past the reservation in the way and try again.
                Some(taken) => candidate = taken.end().div_ceil(FRAME) * FRAME,
                None => return Some(range),
            }
        }
    }
    None
}

/// The first whole frame of `range` and how many whole frames it holds.
fn whole_frames(range: &PhysicalRange) -> (u64, usize) {
    let start = range.start.div_ceil(FRAME) * FRAME;
    let end = range.end() / FRAME * FRAME;
    (start, (end.saturating_sub(start) / FRAME) as usize)
}

impl<'bitmap> FrameAllocator<'bitmap> {
    /// An allocator for the frames of `memory` that touch nothing in
    /// `reserved`, keeping its bitmap in `bitmap` (at least
    /// [`bitmap_bytes`] long; its old contents do not matter). Banks past
    /// [`MAX_BANKS`] are ignored.
    pub fn new(
        memory: &[PhysicalRange],
        reserved: &[PhysicalRange],
        bitmap: &'bitmap mut [u64],
    ) -> Self {
        let mut banks = heapless::Vec::new();
        let mut first_bit = 0;
        for range in memory {
            let (start, frames) = whole_frames(range);
            if frames == 0
                || banks
                    .push(Bank {
                        start,
                        frames,
                        first_bit,
                    })
                    .is_err()
            {
                continue;
            }
            first_bit += frames;
        }
        assert!(
            bitmap.len() * BITS_PER_WORD >= first_bit,
            "frame bitmap too small"
        );
        bitmap.fill(u64::MAX);
        let mut allocator = FrameAllocator {
            banks,
            bitmap,
            total_frames: first_bit,
            free_frames: 0,
            search_hint: 0,
            contiguous_hint: 0,
        };
        // Everything in a bank starts free (a word at a time: this runs over
        // every frame of RAM at boot), then the reservations are taken out.
        for bank_index in 0..allocator.banks.len() {
            let bank = allocator.banks[bank_index];
            allocator.mark_free(bank.first_bit, bank.frames);
        }
        allocator.free_frames = allocator.total_frames;
        for taken in reserved {
            let first = taken.start / FRAME * FRAME;
            let mut address = first;
            while address < taken.end() {
                if allocator.is_free(address) {
                    let bit = allocator
                        .bit_of(address)
                        .expect("a free frame is in a bank");
                    allocator.set_bit(bit, true);
                    allocator.free_frames -= 1;
                }
                address += FRAME;
            }
        }
        allocator
    }

    /// Frames in the banks, in use or not.
    pub fn total_frames(&self) -> usize {
        self.total_frames
    }

    /// Frames free right now.
    pub fn free_frames(&self) -> usize {
        self.free_frames
    }

    /// One free frame's physical address, now in use; `None` when RAM is full.
    pub fn allocate(&mut self) -> Option<u64> {
        let words = self.bitmap.len();
        for step in 0..words {
            let word = (self.search_hint + step) % words;
            if self.bitmap[word] != u64::MAX {
                let bit = word * BITS_PER_WORD + self.bitmap[word].trailing_ones() as usize;
                if bit >= self.total_frames {
                    continue;
                }
                self.search_hint = word;
                self.set_bit(bit, true);
                self.free_frames -= 1;
                return Some(self.address_of(bit));
            }
        }
        None
    }

    /// `count` free frames that are next to each other in one bank, now in
    /// use; returns the first one's address.
    pub fn allocate_contiguous(&mut self, count: usize) -> Option<u64> {
        if count == 0 || count > self.free_frames {
            return None;
        }
        // From where the last run was found on, then from the start: the
        // low end of memory is the kernel's, the boot image's and the
        // long-lived processes', and a run is usually found past them.
        let hint = self.contiguous_hint;
        let first = self
            .banks
            .iter()
            .find_map(|bank| {
                let from = hint.saturating_sub(bank.first_bit).min(bank.frames);
                self.find_run(bank, from, count)
            })
            .or_else(|| {
                self.banks
                    .iter()
                    .find_map(|bank| self.find_run(bank, 0, count))
            })?;
        for bit in first..first + count {
            self.set_bit(bit, true);
        }
        self.free_frames -= count;
        self.contiguous_hint = first + count;
        Some(self.address_of(first))
    }

    /// The first bit of a run of `count` free frames in `bank`, from its
    /// frame `from` on.
    fn find_run(&self, bank: &Bank, from: usize, count: usize) -> Option<usize> {
        let mut run = 0;
        let mut frame = from;
        while frame < bank.frames {
            let bit = bank.first_bit + frame;
            // A whole word of frames in use is skipped at once rather
            // than bit by bit.
            if bit.is_multiple_of(BITS_PER_WORD)
                && frame + BITS_PER_WORD <= bank.frames
                && self.bitmap[bit / BITS_PER_WORD] == u64::MAX
            {
                run = 0;
                frame += BITS_PER_WORD;
                continue;
            }
            run = if self.bit(bit) { 0 } else { run + 1 };
            frame += 1;
            if run == count {
                return Some(bank.first_bit + frame - count);
            }
        }
        None
    }

    /// Gives back the frame at `address`.
    ///
    /// # Panics
    /// If `address` is not a frame this allocator handed out and that is
    /// still in use: that is a kernel bug (a double free, or a wild pointer).
    pub fn free(&mut self, address: u64) {
        let bit = self
            .bit_of(address)
            .unwrap_or_else(|| panic!("freeing {address:#x}, which is not a frame of RAM"));
        assert!(
            self.bit(bit),
            "freeing frame {address:#x}, which is already free"
        );
        self.set_bit(bit, false);
        self.free_frames += 1;
    }

    /// Gives back `count` frames from `address` up (see [`Self::free`]).
    pub fn free_contiguous(&mut self, address: u64, count: usize) {
        for frame in 0..count as u64 {
            self.free(address + frame * FRAME);
        }
    }

    /// Is the frame at `address` in RAM we track and currently free?
    pub fn is_free(&self, address: u64) -> bool {
        self.bit_of(address).is_some_and(|bit| !self.bit(bit))
    }

    fn bit_of(&self, address: u64) -> Option<usize> {
        if !address.is_multiple_of(FRAME) {
            return None;
        }
        self.banks.iter().find_map(|bank| {
            let frame = (address.checked_sub(bank.start)? / FRAME) as usize;
            (frame < bank.frames).then_some(bank.first_bit + frame)
        })
    }

    fn address_of(&self, bit: usize) -> u64 {
        let bank = self
            .banks
            .iter()
            .rev()
            .find(|bank| bank.first_bit <= bit)
            .expect("a bit below total_frames belongs to a bank");
        bank.start + (bit - bank.first_bit) as u64 * FRAME
    }

    /// Marks `count` bits from `first` free, whole words at a time where it can.
    fn mark_free(&mut self, first: usize, count: usize) {
        let end = first + count;
        let mut bit = first;
        while bit < end {
            if bit.is_multiple_of(BITS_PER_WORD) && end - bit >= BITS_PER_WORD {
                self.bitmap[bit / BITS_PER_WORD] = 0;
                bit += BITS_PER_WORD;
            } else {
                self.set_bit(bit, false);
                bit += 1;
            }
        }
    }

    fn bit(&self, bit: usize) -> bool {
        self.bitmap[bit / BITS_PER_WORD] & (1 << (bit % BITS_PER_WORD)) != 0
    }

    fn set_bit(&mut self, bit: usize, in_use: bool) {
        let mask = 1 << (bit % BITS_PER_WORD);
        if in_use {
            self.bitmap[bit / BITS_PER_WORD] |= mask;
        } else {
            self.bitmap[bit / BITS_PER_WORD] &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, size: u64) -> PhysicalRange {
        PhysicalRange::new(start, size).unwrap()
    }

    fn storage(memory: &[PhysicalRange]) -> Vec<u64> {
        vec![0; bitmap_bytes(memory) / 8]
    }

    #[test]
    fn reserved_ranges_are_never_handed_out() {
        let memory = [range(0x4000_0000, 64 * FRAME)];
        // The kernel at frames 2..5, a one-byte reservation inside frame 10.
        let reserved = [
            range(0x4000_0000 + 2 * FRAME, 3 * FRAME),
            range(0x4000_0000 + 10 * FRAME + 7, 1),
        ];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &reserved, &mut bitmap);
        assert_eq!(frames.total_frames(), 64);
        assert_eq!(frames.free_frames(), 60);
        let mut handed_out = Vec::new();
        while let Some(frame) = frames.allocate() {
            handed_out.push(frame);
        }
        assert_eq!(handed_out.len(), 60);
        for frame in &handed_out {
            let this = range(*frame, FRAME);
            assert!(
                !reserved.iter().any(|taken| taken.overlaps(&this)),
                "{frame:#x} is reserved"
            );
        }
        handed_out.sort();
        handed_out.dedup();
        assert_eq!(handed_out.len(), 60, "no frame is handed out twice");
        assert_eq!(frames.free_frames(), 0);
    }

    #[test]
    fn freed_frames_come_back() {
        let memory = [range(0x4000_0000, 8 * FRAME)];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        let first = frames.allocate().unwrap();
        let second = frames.allocate().unwrap();
        assert_ne!(first, second);
        assert_eq!(frames.free_frames(), 6);
        frames.free(first);
        assert!(frames.is_free(first));
        assert!(!frames.is_free(second));
        assert_eq!(frames.free_frames(), 7);
    }

    #[test]
    #[should_panic(expected = "already free")]
    fn double_free_is_caught() {
        let memory = [range(0x4000_0000, 8 * FRAME)];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        let frame = frames.allocate().unwrap();
        frames.free(frame);
        frames.free(frame);
    }

    #[test]
    #[should_panic(expected = "not a frame of RAM")]
    fn freeing_outside_ram_is_caught() {
        let memory = [range(0x4000_0000, 8 * FRAME)];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        frames.free(0x9000_0000);
    }

    #[test]
    fn partial_frames_at_bank_edges_are_not_used() {
        // A bank that starts and ends mid-frame holds only its whole frames.
        let memory = [range(0x4000_0800, 4 * FRAME)];
        let mut bitmap = storage(&memory);
        let frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        assert_eq!(frames.total_frames(), 3);
        assert!(frames.is_free(0x4000_1000));
        assert!(!frames.is_free(0x4000_0000));
    }

    #[test]
    fn several_banks_including_above_4_gib() {
        let memory = [
            range(0x4000_0000, 100 * FRAME),
            range(0x1_0000_0000, 100 * FRAME),
        ];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        assert_eq!(frames.total_frames(), 200);
        let all: Vec<u64> = std::iter::from_fn(|| frames.allocate()).collect();
        assert_eq!(all.len(), 200);
        assert!(all.contains(&0x1_0000_0000));
        assert!(all.contains(&(0x1_0000_0000 + 99 * FRAME)));
        for frame in all {
            frames.free(frame);
        }
        assert_eq!(frames.free_frames(), 200);
    }

    #[test]
    fn contiguous_runs_skip_used_frames() {
        let memory = [range(0x4000_0000, 16 * FRAME)];
        let reserved = [range(0x4000_0000 + 3 * FRAME, FRAME)];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &reserved, &mut bitmap);
        let run = frames.allocate_contiguous(4).unwrap();
        assert_eq!(
            run,
            0x4000_0000 + 4 * FRAME,
            "frames 0..3 are interrupted by the reservation"
        );
        assert_eq!(frames.free_frames(), 11);
        assert_eq!(frames.allocate_contiguous(12), None);
        frames.free_contiguous(run, 4);
        assert_eq!(frames.free_frames(), 15);
    }

    #[test]
    fn contiguous_runs_are_found_past_whole_words_in_use() {
        let memory = [range(0x4000_0000, 300 * FRAME)];
        // Frames 0..130 in use (two whole words and two more frames), and
        // frame 131 too: the first run of 3 starts at 132.
        let reserved = [
            range(0x4000_0000, 130 * FRAME),
            range(0x4000_0000 + 131 * FRAME, FRAME),
        ];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &reserved, &mut bitmap);
        assert_eq!(
            frames.allocate_contiguous(1),
            Some(0x4000_0000 + 130 * FRAME)
        );
        assert_eq!(
            frames.allocate_contiguous(3),
            Some(0x4000_0000 + 132 * FRAME)
        );
        // A run may start just before a word boundary and end after it.
        assert_eq!(
            frames.allocate_contiguous(60),
            Some(0x4000_0000 + 135 * FRAME)
        );
        assert_eq!(frames.allocate_contiguous(200), None);
        assert_eq!(
            frames.allocate_contiguous(105),
            Some(0x4000_0000 + 195 * FRAME)
        );
        assert_eq!(frames.free_frames(), 0);
    }

    #[test]
    fn contiguous_runs_are_looked_for_after_the_last_then_from_the_start() {
        let memory = [range(0x4000_0000, 300 * FRAME)];
        let mut bitmap = storage(&memory);
        let mut frames = FrameAllocator::new(&memory, &[], &mut bitmap);
        let at = |frame: u64| Some(0x4000_0000 + frame * FRAME);
        assert_eq!(frames.allocate_contiguous(100), at(0));
        assert_eq!(frames.allocate_contiguous(100), at(100));
        frames.free_contiguous(0x4000_0000, 100);
        assert_eq!(
            frames.allocate_contiguous(150),
            None,
            "100 + 100 free, apart"
        );
        assert_eq!(
            frames.allocate_contiguous(100),
            at(200),
            "after the last run"
        );
        assert_eq!(frames.allocate_contiguous(50), at(0), "then from the start");
    }

    #[test]
    fn bitmap_home_avoids_reservations() {
        let memory = [range(0x4000_0000, 64 * FRAME)];
        let reserved = [range(0x4000_0000, 5 * FRAME + 1)];
        let home = find_free_range(&memory, &reserved, 3 * FRAME as usize).unwrap();
        assert_eq!(home, range(0x4000_0000 + 6 * FRAME, 3 * FRAME));
        assert_eq!(
            find_free_range(&memory, &reserved, 64 * FRAME as usize),
            None
        );
    }
}
