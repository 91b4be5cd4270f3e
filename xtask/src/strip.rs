//! Shrinks a user program's ELF file to what the kernel loads.
//!
//! A program built in debug mode carries a megabyte of debug information
//! (most of it from `core`), and every program goes into the initrd, which
//! stays in RAM for good. The kernel reads only the file header, the
//! program headers and the loadable segments' bytes (`process::elf`), so
//! the packed copy keeps exactly those: section headers and every section
//! outside a segment are dropped. The ELF in `target/` keeps its debug
//! information for gdb.
//!
//! Segments are packed tight: the loaders copy a segment's bytes into
//! new pages (`PROCESS_MAP`, the kernel's boot loader), so its file
//! offset need not share the address's place in a page, only its place in
//! a cache line (`SEGMENT_ALIGNMENT`; `p_align` says so). Page-congruent
//! offsets padded each program by about 8 KiB, some 290 KiB over the boot
//! image, which stays in RAM.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::Result;

const FILE_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;
#[cfg(test)]
const PAGE_SIZE: u64 = 4096;
/// What a segment's file offset and address agree on, modulo.
const SEGMENT_ALIGNMENT: u64 = 64;

/// The program's ELF with only its file header, program headers and
/// segment bytes. Each segment's file offset is congruent to its address
/// modulo [`SEGMENT_ALIGNMENT`], which its `p_align` then says.
pub fn strip_program(elf_bytes: &[u8]) -> Result<Vec<u8>> {
    let header = elf::FileHeader64::<object::Endianness>::parse(elf_bytes)
        .map_err(|error| format!("not a 64-bit ELF file: {error}"))?;
    let endian = header
        .endian()
        .map_err(|error| format!("a bad ELF header: {error}"))?;
    let program_headers = header
        .program_headers(endian, elf_bytes)
        .map_err(|error| format!("unreadable program headers: {error}"))?;

    let mut file = elf_bytes[..FILE_HEADER_SIZE].to_vec();
    // e_phoff = 64 (right after the header); no section headers.
    file[32..40].copy_from_slice(&(FILE_HEADER_SIZE as u64).to_le_bytes());
    file[40..48].copy_from_slice(&0u64.to_le_bytes());
    file[58..64].copy_from_slice(&[0; 6]);
    let headers_end = FILE_HEADER_SIZE + PROGRAM_HEADER_SIZE * program_headers.len();
    file.resize(headers_end, 0);

    for (index, program_header) in program_headers.iter().enumerate() {
        let bytes = program_header
            .data(endian, elf_bytes)
            .map_err(|()| "a segment points outside the file".to_string())?;
        let mut offset = 0u64;
        if !bytes.is_empty() {
            let address = program_header.p_vaddr(endian);
            let mut start = file.len() as u64;
            start += (address % SEGMENT_ALIGNMENT + SEGMENT_ALIGNMENT - start % SEGMENT_ALIGNMENT)
                % SEGMENT_ALIGNMENT;
            file.resize(start as usize, 0);
            file.extend_from_slice(bytes);
            offset = start;
        }
        // The program header as it was, with the new offset.
        let at = FILE_HEADER_SIZE + index * PROGRAM_HEADER_SIZE;
        let original = header.e_phoff(endian) as usize + index * PROGRAM_HEADER_SIZE;
        file[at..at + PROGRAM_HEADER_SIZE]
            .copy_from_slice(&elf_bytes[original..original + PROGRAM_HEADER_SIZE]);
        file[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        file[at + 48..at + 56].copy_from_slice(&SEGMENT_ALIGNMENT.to_le_bytes());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF with two segments and a megabyte of "debug information"
    /// after them, named by a section header table at the end.
    fn fat_elf() -> Vec<u8> {
        let mut elf = vec![0u8; FILE_HEADER_SIZE];
        elf[0..4].copy_from_slice(b"\x7fELF");
        elf[4..8].copy_from_slice(&[2, 1, 1, 0]);
        elf[16..18].copy_from_slice(&2u16.to_le_bytes());
        elf[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[24..32].copy_from_slice(&0x40_0000u64.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[52..54].copy_from_slice(&64u16.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&2u16.to_le_bytes());
        let segments: [(u64, Vec<u8>); 2] =
            [(0x40_0000, vec![0x11; 300]), (0x40_2010, vec![0x22; 40])];
        let mut data = vec![0u8; 0x1000 - 64 - 2 * 56];
        let mut offsets = Vec::new();
        for (address, bytes) in &segments {
            while (64 + 2 * 56 + data.len()) as u64 % PAGE_SIZE != address % PAGE_SIZE {
                data.push(0);
            }
            offsets.push((64 + 2 * 56 + data.len()) as u64);
            data.extend_from_slice(bytes);
        }
        for ((address, bytes), offset) in segments.iter().zip(&offsets) {
            let mut header = vec![0u8; 56];
            header[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            header[4..8].copy_from_slice(&5u32.to_le_bytes());
            header[8..16].copy_from_slice(&offset.to_le_bytes());
            header[16..24].copy_from_slice(&address.to_le_bytes());
            header[24..32].copy_from_slice(&address.to_le_bytes());
            header[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            header[40..48].copy_from_slice(&(bytes.len() as u64 + 64).to_le_bytes());
            header[48..56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
            elf.extend_from_slice(&header);
        }
        elf.extend_from_slice(&data);
        elf.extend_from_slice(&vec![0xdb; 1 << 20]); // "debug information"
        let section_headers = elf.len() as u64;
        elf[40..48].copy_from_slice(&section_headers.to_le_bytes());
        elf[58..60].copy_from_slice(&64u16.to_le_bytes());
        elf[60..62].copy_from_slice(&1u16.to_le_bytes());
        elf.extend_from_slice(&[0u8; 64]);
        elf
    }

    fn segments(elf_bytes: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
        let header = elf::FileHeader64::<object::Endianness>::parse(elf_bytes).unwrap();
        let endian = header.endian().unwrap();
        header
            .program_headers(endian, elf_bytes)
            .unwrap()
            .iter()
            .map(|program| {
                let bytes = program.data(endian, elf_bytes).unwrap().to_vec();
                (program.p_vaddr(endian), program.p_memsz(endian), bytes)
            })
            .collect()
    }

    #[test]
    fn stripping_keeps_every_segment_and_drops_the_rest() {
        let fat = fat_elf();
        let thin = strip_program(&fat).unwrap();
        // Headers (176 bytes), 300 bytes, then 40 bytes at 0x10 into a line.
        assert!(
            thin.len() <= 176 + 300 + 64 + 40,
            "still {} bytes",
            thin.len()
        );
        assert_eq!(segments(&thin), segments(&fat));
        assert_eq!(&thin[40..48], &[0; 8], "no section headers");
    }

    #[test]
    fn offsets_agree_with_addresses_within_a_cache_line() {
        let thin = strip_program(&fat_elf()).unwrap();
        for index in 0..2 {
            let at = FILE_HEADER_SIZE + index * PROGRAM_HEADER_SIZE;
            let word = |from: usize| u64::from_le_bytes(thin[from..from + 8].try_into().unwrap());
            let (offset, address, align) = (word(at + 8), word(at + 16), word(at + 48));
            assert_eq!(align, SEGMENT_ALIGNMENT);
            assert_eq!(offset % align, address % align);
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(strip_program(b"not an elf").is_err());
    }
}
