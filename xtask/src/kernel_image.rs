//! Turns the kernel ELF into a raw arm64 Linux "Image", the file QEMU's
//! `-kernel` loads.
//!
//! An ELF file describes what to load where; an Image *is* what to load. The
//! boot loader (here QEMU) copies the Image into RAM unchanged and jumps to its
//! first byte, so the Image is memory as the kernel expects to find it:
//!
//! ```text
//!   lowest p_vaddr                               highest p_vaddr + p_filesz
//!   |  segment 1 bytes  | zeros (gap) |  segment 2 bytes  |
//! ```
//!
//! This is what `objcopy -O binary` does, done here so no cross binutils is
//! needed.
//!
//! # What stays true
//! - The Image holds each `PT_LOAD` segment's file bytes at
//!   `p_vaddr - lowest p_vaddr`, zeros between segments, and nothing after
//!   the last file byte. Zero-initialised memory (`.bss`) is not in the file:
//!   the arm64 image header, which the kernel's own assembly writes at the
//!   start of the Image, tells the loader how much memory to reserve.
//! - A result without the arm64 magic at byte 56 is an error, never written:
//!   QEMU would boot it as something else and fail in a confusing way.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};

use crate::Result;

/// The arm64 image header's magic number, "ARM\x64", at [`MAGIC_OFFSET`]
/// (Linux Documentation/arch/arm64/booting.rst, section 4).
pub const MAGIC: &[u8; 4] = b"ARM\x64";

/// Where [`MAGIC`] sits in the 64-byte image header.
pub const MAGIC_OFFSET: usize = 56;

/// An Image bigger than this is almost surely two segments linked far apart
/// (a linker script mistake), not a real kernel; refusing it avoids writing a
/// file of gigabytes of zeros.
const LARGEST_SENSIBLE_IMAGE: u64 = 64 * 1024 * 1024;

/// Converts the bytes of a 64-bit little-endian AArch64 ELF executable into
/// the bytes of its Image.
pub fn elf_to_image(elf_bytes: &[u8]) -> Result<Vec<u8>> {
    let header = elf::FileHeader64::<object::Endianness>::parse(elf_bytes)
        .map_err(|error| format!("the kernel is not a 64-bit ELF file: {error}"))?;
    let endian = header
        .endian()
        .map_err(|error| format!("the kernel ELF has a bad header: {error}"))?;
    if header.e_machine(endian) != elf::EM_AARCH64 {
        return Err("the kernel ELF is not for AArch64 (wrong --target?)".to_string());
    }
    let program_headers = header
        .program_headers(endian, elf_bytes)
        .map_err(|error| format!("the kernel ELF's program headers are unreadable: {error}"))?;

    // Segments with no file bytes (only .bss) add nothing to the Image, so
    // they neither start nor end it.
    let mut segments = Vec::new();
    for program_header in program_headers {
        if program_header.p_type(endian) != elf::PT_LOAD || program_header.p_filesz(endian) == 0 {
            continue;
        }
        let bytes = program_header
            .data(endian, elf_bytes)
            .map_err(|()| "a kernel ELF segment points outside the file".to_string())?;
        segments.push((program_header.p_vaddr(endian), bytes));
    }

    let Some(start) = segments.iter().map(|&(address, _)| address).min() else {
        return Err("the kernel ELF has no loadable segment with file bytes".to_string());
    };
    let end = segments
        .iter()
        .map(|&(address, bytes)| address + bytes.len() as u64)
        .max()
        .unwrap_or(start);
    let size = end - start;
    if size > LARGEST_SENSIBLE_IMAGE {
        return Err(format!(
            "the kernel's segments span {} MiB, from {start:#x} to {end:#x}; \
             is a section linked at the wrong address?",
            size / (1024 * 1024)
        ));
    }

    let mut image = vec![0u8; size as usize];
    for (address, bytes) in segments {
        let offset = (address - start) as usize;
        image[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    if image.get(MAGIC_OFFSET..MAGIC_OFFSET + MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(format!(
            "the kernel Image has no arm64 image header (\"ARM\\x64\" at byte {MAGIC_OFFSET}); \
             the first loadable segment must start with the header from boot/"
        ));
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One segment of a test ELF: where it loads, its bytes, and how much
    /// memory it takes (more than its bytes when it has .bss).
    struct TestSegment {
        address: u64,
        bytes: Vec<u8>,
        memory_size: u64,
    }

    /// Builds the smallest ELF the converter reads: a file header, one
    /// program header per segment, then the segments' bytes.
    fn build_elf(machine: u16, segments: &[TestSegment]) -> Vec<u8> {
        const FILE_HEADER_SIZE: usize = 64;
        const PROGRAM_HEADER_SIZE: usize = 56;
        let mut elf = Vec::new();

        // File header (ELF64, little-endian, executable).
        elf.extend_from_slice(b"\x7fELF");
        elf.extend_from_slice(&[2, 1, 1, 0]); // ELFCLASS64, ELFDATA2LSB, EV_CURRENT, System V
        elf.extend_from_slice(&[0; 8]); // padding of e_ident
        elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
        elf.extend_from_slice(&machine.to_le_bytes()); // e_machine
        elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
        elf.extend_from_slice(&segments[0].address.to_le_bytes()); // e_entry
        elf.extend_from_slice(&(FILE_HEADER_SIZE as u64).to_le_bytes()); // e_phoff
        elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no sections
        elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        elf.extend_from_slice(&(FILE_HEADER_SIZE as u16).to_le_bytes()); // e_ehsize
        elf.extend_from_slice(&(PROGRAM_HEADER_SIZE as u16).to_le_bytes()); // e_phentsize
        elf.extend_from_slice(&(segments.len() as u16).to_le_bytes()); // e_phnum
        elf.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
        assert_eq!(elf.len(), FILE_HEADER_SIZE);

        // Program headers, then the data they point at.
        let mut data_offset = FILE_HEADER_SIZE + PROGRAM_HEADER_SIZE * segments.len();
        for segment in segments {
            elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
            elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: read + execute
            elf.extend_from_slice(&(data_offset as u64).to_le_bytes()); // p_offset
            elf.extend_from_slice(&segment.address.to_le_bytes()); // p_vaddr
            elf.extend_from_slice(&segment.address.to_le_bytes()); // p_paddr
            elf.extend_from_slice(&(segment.bytes.len() as u64).to_le_bytes()); // p_filesz
            elf.extend_from_slice(&segment.memory_size.to_le_bytes()); // p_memsz
            elf.extend_from_slice(&8u64.to_le_bytes()); // p_align
            data_offset += segment.bytes.len();
        }
        for segment in segments {
            elf.extend_from_slice(&segment.bytes);
        }
        elf
    }

    /// 64 bytes that pass for an arm64 image header: only the magic matters.
    fn image_header() -> Vec<u8> {
        let mut header = vec![0xAA; 64];
        header[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(MAGIC);
        header
    }

    const EM_AARCH64: u16 = 183;
    const EM_X86_64: u16 = 62;

    #[test]
    fn segments_are_placed_by_address_with_zeros_between() {
        let text = TestSegment {
            address: 0x4008_0000,
            bytes: image_header(),
            memory_size: 64,
        };
        let data = TestSegment {
            address: 0x4008_1000,
            bytes: vec![1, 2, 3, 4],
            memory_size: 0x2000, // .bss after the data: must not be in the Image
        };
        // Program headers in reverse address order: the lowest still starts.
        let image = elf_to_image(&build_elf(EM_AARCH64, &[data, text])).unwrap();

        assert_eq!(image.len(), 0x1004);
        assert_eq!(image[..64], image_header()[..]);
        assert!(image[64..0x1000].iter().all(|&byte| byte == 0));
        assert_eq!(image[0x1000..], [1, 2, 3, 4]);
    }

    #[test]
    fn missing_arm64_magic_is_an_error() {
        let segment = TestSegment {
            address: 0x4008_0000,
            bytes: vec![0; 64],
            memory_size: 64,
        };
        let error = elf_to_image(&build_elf(EM_AARCH64, &[segment])).unwrap_err();
        assert!(error.contains("no arm64 image header"), "{error}");
    }

    #[test]
    fn elf_for_another_machine_is_an_error() {
        let segment = TestSegment {
            address: 0x4008_0000,
            bytes: image_header(),
            memory_size: 64,
        };
        let error = elf_to_image(&build_elf(EM_X86_64, &[segment])).unwrap_err();
        assert!(error.contains("not for AArch64"), "{error}");
    }

    #[test]
    fn bytes_that_are_not_elf_are_an_error() {
        assert!(
            elf_to_image(b"this is not an ELF file, just some text....................").is_err()
        );
    }
}
