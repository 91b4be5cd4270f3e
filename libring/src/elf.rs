//! Reading a program's ELF file into a plan of what to map where.
//!
//! An ELF file is user input like any other: a truncated, malformed or
//! malicious one must give a clear error and nothing else. [`plan`] parses
//! it with the `elf` crate and checks every loadable segment before a
//! single frame is allocated:
//!
//! - a little-endian 64-bit AArch64 executable (`ET_EXEC`);
//! - each `PT_LOAD` segment inside the program area
//!   `[PROGRAM_BASE, STARTUP_ADDRESS)`, with no arithmetic overflow, its
//!   file bytes inside the file, `filesz <= memsz`;
//! - never both writable and executable (W^X);
//! - no two segments touching the same page (each page gets exactly one
//!   set of permissions);
//! - at most [`MAX_PROGRAM_BYTES`] of memory in all;
//! - the entry point inside an executable segment.
//!
//! The kernel then maps the plan (`process::address_space`).

use crate::abi::{PAGE_SIZE, PROGRAM_BASE, STARTUP_ADDRESS};
use ::elf::ElfBytes;
use ::elf::abi::{EM_AARCH64, ET_EXEC, PF_W, PF_X, PT_LOAD};
use ::elf::endian::LittleEndian;
use ::elf::file::Class;

/// The most segments a program may have.
pub const MAX_SEGMENTS: usize = 8;
/// The most memory a program's segments may take: 16 MiB.
pub const MAX_PROGRAM_BYTES: u64 = 16 << 20;

/// One loadable segment, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First byte's address (not necessarily page aligned).
    pub address: u64,
    /// Bytes in memory; those past `file_bytes` are zero.
    pub memory_bytes: u64,
    /// Where its bytes are in the file, and how many.
    pub file_offset: u64,
    pub file_bytes: u64,
    pub writable: bool,
    pub executable: bool,
}

impl Segment {
    /// The page-aligned range the segment occupies: `[first, end)`.
    pub fn pages(&self) -> (u64, u64) {
        let first = self.address / PAGE_SIZE * PAGE_SIZE;
        let end = (self.address + self.memory_bytes).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        (first, end)
    }
}

/// What to map for a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    pub segments: heapless::Vec<Segment, MAX_SEGMENTS>,
}

/// Why a file cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF file, or its headers do not parse.
    NotElf,
    /// An ELF file, but not a 64-bit little-endian AArch64 executable.
    WrongKind,
    /// No loadable segment.
    NoSegments,
    TooManySegments,
    /// A segment's numbers are impossible (overflow, `filesz > memsz`,
    /// bytes past the end of the file).
    BadSegment,
    /// A segment outside the program area (in kernel space, say).
    OutsideProgramArea,
    /// A segment both writable and executable.
    WritableAndExecutable,
    /// Two segments share a page.
    Overlap,
    /// More than [`MAX_PROGRAM_BYTES`].
    TooLarge,
    /// The entry point is not in an executable segment.
    BadEntry,
}

impl ElfError {
    /// A sentence for logs.
    pub fn describe(self) -> &'static str {
        match self {
            ElfError::NotElf => "not an ELF file",
            ElfError::WrongKind => "not a 64-bit little-endian AArch64 executable",
            ElfError::NoSegments => "no loadable segment",
            ElfError::TooManySegments => "too many loadable segments",
            ElfError::BadSegment => "a segment's sizes or offsets are impossible",
            ElfError::OutsideProgramArea => "a segment lies outside the program area",
            ElfError::WritableAndExecutable => "a segment is both writable and executable",
            ElfError::Overlap => "two segments share a page",
            ElfError::TooLarge => "the program is too large",
            ElfError::BadEntry => "the entry point is not in an executable segment",
        }
    }
}

/// Checks `file` and says what to map.
pub fn plan(file: &[u8]) -> Result<LoadPlan, ElfError> {
    let parsed = ElfBytes::<LittleEndian>::minimal_parse(file).map_err(|_| ElfError::NotElf)?;
    let header = &parsed.ehdr;
    if header.class != Class::ELF64 || header.e_machine != EM_AARCH64 || header.e_type != ET_EXEC {
        return Err(ElfError::WrongKind);
    }
    let program_headers = parsed.segments().ok_or(ElfError::NoSegments)?;
    let mut segments: heapless::Vec<Segment, MAX_SEGMENTS> = heapless::Vec::new();
    let mut total: u64 = 0;
    for program_header in program_headers
        .iter()
        .filter(|header| header.p_type == PT_LOAD)
    {
        if program_header.p_memsz == 0 {
            continue;
        }
        let segment = Segment {
            address: program_header.p_vaddr,
            memory_bytes: program_header.p_memsz,
            file_offset: program_header.p_offset,
            file_bytes: program_header.p_filesz,
            writable: program_header.p_flags & PF_W != 0,
            executable: program_header.p_flags & PF_X != 0,
        };
        check_segment(&segment, file.len() as u64)?;
        let (first, end) = segment.pages();
        if segments.iter().any(|other| {
            let (other_first, other_end) = other.pages();
            first < other_end && other_first < end
        }) {
            return Err(ElfError::Overlap);
        }
        total = total.checked_add(end - first).ok_or(ElfError::TooLarge)?;
        if total > MAX_PROGRAM_BYTES {
            return Err(ElfError::TooLarge);
        }
        segments
            .push(segment)
            .map_err(|_| ElfError::TooManySegments)?;
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    let entry = header.e_entry;
    let entry_is_code = segments.iter().any(|segment| {
        segment.executable
            && entry >= segment.address
            && entry < segment.address + segment.memory_bytes
    });
    if !entry_is_code {
        return Err(ElfError::BadEntry);
    }
    Ok(LoadPlan { entry, segments })
}

fn check_segment(segment: &Segment, file_length: u64) -> Result<(), ElfError> {
    if segment.file_bytes > segment.memory_bytes {
        return Err(ElfError::BadSegment);
    }
    let file_end = segment
        .file_offset
        .checked_add(segment.file_bytes)
        .ok_or(ElfError::BadSegment)?;
    if file_end > file_length {
        return Err(ElfError::BadSegment);
    }
    let end = segment
        .address
        .checked_add(segment.memory_bytes)
        .ok_or(ElfError::OutsideProgramArea)?;
    if segment.address < PROGRAM_BASE || end > STARTUP_ADDRESS {
        return Err(ElfError::OutsideProgramArea);
    }
    if segment.writable && segment.executable {
        return Err(ElfError::WritableAndExecutable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment for [`build_elf`]: address, memory size, file bytes, flags.
    struct TestSegment {
        address: u64,
        memory_bytes: u64,
        contents: Vec<u8>,
        flags: u32,
    }

    const PF_R: u32 = 4;

    fn segment(address: u64, memory_bytes: u64, file_bytes: usize, flags: u32) -> TestSegment {
        TestSegment {
            address,
            memory_bytes,
            contents: vec![0xaa; file_bytes],
            flags,
        }
    }

    /// A minimal ELF64 executable: header, program headers, then contents.
    fn build_elf(machine: u16, entry: u64, segments: &[TestSegment]) -> Vec<u8> {
        let header_size = 64;
        let program_header_size = 56;
        let mut file = vec![0u8; header_size];
        file[0..4].copy_from_slice(b"\x7fELF");
        file[4] = 2; // 64-bit
        file[5] = 1; // little endian
        file[6] = 1; // version
        file[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        file[18..20].copy_from_slice(&machine.to_le_bytes());
        file[20..24].copy_from_slice(&1u32.to_le_bytes());
        file[24..32].copy_from_slice(&entry.to_le_bytes());
        file[32..40].copy_from_slice(&(header_size as u64).to_le_bytes()); // e_phoff
        file[52..54].copy_from_slice(&(header_size as u16).to_le_bytes());
        file[54..56].copy_from_slice(&(program_header_size as u16).to_le_bytes());
        file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut offset = (header_size + program_header_size * segments.len()) as u64;
        let mut contents = Vec::new();
        for segment in segments {
            let mut header = vec![0u8; program_header_size];
            header[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            header[4..8].copy_from_slice(&segment.flags.to_le_bytes());
            header[8..16].copy_from_slice(&offset.to_le_bytes());
            header[16..24].copy_from_slice(&segment.address.to_le_bytes());
            header[24..32].copy_from_slice(&segment.address.to_le_bytes());
            header[32..40].copy_from_slice(&(segment.contents.len() as u64).to_le_bytes());
            header[40..48].copy_from_slice(&segment.memory_bytes.to_le_bytes());
            header[48..56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
            file.extend_from_slice(&header);
            offset += segment.contents.len() as u64;
            contents.extend_from_slice(&segment.contents);
        }
        file.extend_from_slice(&contents);
        file
    }

    fn text_and_data() -> Vec<TestSegment> {
        vec![
            segment(PROGRAM_BASE, 0x1800, 0x1800, PF_R | PF_X),
            segment(PROGRAM_BASE + 0x2000, 0x3000, 0x100, PF_R | PF_W),
        ]
    }

    #[test]
    fn a_normal_program_plans_its_segments() {
        let file = build_elf(EM_AARCH64, PROGRAM_BASE + 0x10, &text_and_data());
        let plan = plan(&file).unwrap();
        assert_eq!(plan.entry, PROGRAM_BASE + 0x10);
        assert_eq!(plan.segments.len(), 2);
        let data = plan.segments[1];
        assert!(data.writable && !data.executable);
        assert_eq!((data.file_bytes, data.memory_bytes), (0x100, 0x3000));
        assert_eq!(data.pages(), (PROGRAM_BASE + 0x2000, PROGRAM_BASE + 0x5000));
    }

    #[test]
    fn garbage_and_truncations_are_refused_without_panicking() {
        assert_eq!(plan(b""), Err(ElfError::NotElf));
        assert_eq!(plan(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf));
        let file = build_elf(EM_AARCH64, PROGRAM_BASE + 0x10, &text_and_data());
        for length in 0..file.len() {
            assert!(
                plan(&file[..length]).is_err(),
                "a file cut to {length} bytes was accepted"
            );
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut corrupted = file.clone();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let position = (state % corrupted.len() as u64) as usize;
            corrupted[position] = (state >> 32) as u8;
            let _ = plan(&corrupted); // must not panic, whatever it says
        }
    }

    #[test]
    fn other_machines_are_refused() {
        let file = build_elf(62, PROGRAM_BASE, &text_and_data()); // x86-64
        assert_eq!(plan(&file), Err(ElfError::WrongKind));
    }

    #[test]
    fn segments_in_kernel_space_or_below_the_program_area_are_refused() {
        for address in [
            0xffff_ffff_8000_0000,
            0,
            PROGRAM_BASE - PAGE_SIZE,
            STARTUP_ADDRESS,
        ] {
            let file = build_elf(
                EM_AARCH64,
                address,
                &[segment(address, 0x1000, 0x10, PF_R | PF_X)],
            );
            assert_eq!(
                plan(&file),
                Err(ElfError::OutsideProgramArea),
                "at {address:#x}"
            );
        }
        let wrapping = build_elf(
            EM_AARCH64,
            PROGRAM_BASE,
            &[segment(u64::MAX - 0x10, 0x1000, 0, PF_R)],
        );
        assert_eq!(plan(&wrapping), Err(ElfError::OutsideProgramArea));
    }

    #[test]
    fn writable_code_is_refused() {
        let file = build_elf(
            EM_AARCH64,
            PROGRAM_BASE,
            &[segment(PROGRAM_BASE, 0x1000, 0x10, PF_R | PF_W | PF_X)],
        );
        assert_eq!(plan(&file), Err(ElfError::WritableAndExecutable));
    }

    #[test]
    fn overlapping_segments_are_refused() {
        let segments = [
            segment(PROGRAM_BASE, 0x1800, 0x10, PF_R | PF_X),
            segment(PROGRAM_BASE + 0x1800, 0x1000, 0x10, PF_R | PF_W),
        ];
        let file = build_elf(EM_AARCH64, PROGRAM_BASE, &segments);
        assert_eq!(plan(&file), Err(ElfError::Overlap));
    }

    #[test]
    fn huge_sizes_are_refused() {
        let file = build_elf(
            EM_AARCH64,
            PROGRAM_BASE,
            &[segment(PROGRAM_BASE, 32 << 20, 0x10, PF_R | PF_X)],
        );
        assert_eq!(plan(&file), Err(ElfError::TooLarge));
        let mut lying = build_elf(
            EM_AARCH64,
            PROGRAM_BASE,
            &[segment(PROGRAM_BASE, 0x1000, 0x10, PF_R | PF_X)],
        );
        // Claim more file bytes than the file has.
        lying[64 + 32..64 + 40].copy_from_slice(&0x800u64.to_le_bytes());
        assert_eq!(plan(&lying), Err(ElfError::BadSegment));
    }

    #[test]
    fn entry_outside_code_is_refused() {
        let file = build_elf(EM_AARCH64, PROGRAM_BASE + 0x2000, &text_and_data());
        assert_eq!(
            plan(&file),
            Err(ElfError::BadEntry),
            "entry in the data segment"
        );
    }
}
