//! Checking a device tree blob against the format before `fdt` reads it.
//!
//! `fdt` 0.1.5 trusts its input (see the parent module), so every offset,
//! size, token and name is checked here first.

use super::*;

/// `magic` of every FDT (section 5.2).
pub(super) const FDT_MAGIC: u32 = 0xd00d_feed;
/// Bytes in the header of a version 17 FDT.
pub(super) const HEADER_SIZE: usize = 40;
/// The oldest format with `size_dt_struct`, which `fdt` relies on.
pub(super) const OLDEST_VERSION: u32 = 17;
/// Structure block tokens (section 5.4.1).
pub(super) const FDT_BEGIN_NODE: u32 = 0x1;
pub(super) const FDT_END_NODE: u32 = 0x2;
pub(super) const FDT_PROP: u32 = 0x3;
pub(super) const FDT_END: u32 = 0x9;
/// How deeply nodes may nest. `fdt` recurses once per level (and keeps at
/// most 64 levels in a fixed array), and so does [`visit`]; real trees stay
/// below 10.
pub(super) const MAX_DEPTH: usize = 16;
/// One memory reservation: a 64-bit address and a 64-bit size.
pub(super) const RESERVATION_SIZE: usize = 16;

/// The parts of the FDT header that say where everything is, checked to lie
/// inside the tree.
pub(super) struct Header {
    /// `totalsize`: the tree's length, at most the blob's.
    pub(super) total_size: usize,
    /// `off_dt_struct .. + size_dt_struct`.
    pub(super) structure: core::ops::Range<usize>,
    /// `off_dt_strings .. + size_dt_strings`.
    pub(super) strings: core::ops::Range<usize>,
    /// `off_mem_rsvmap`.
    pub(super) reservations: usize,
}

impl Header {
    /// Reads and checks the header at the start of `blob`.
    pub(super) fn read(blob: &[u8]) -> Result<Header, BootInfoError> {
        // Ten big-endian u32s, in the order of section 5.2.
        let mut fields = [0; HEADER_SIZE / 4];
        for (index, field) in fields.iter_mut().enumerate() {
            *field = read_u32(blob, index * 4).ok_or(BootInfoError::InvalidTree)?;
        }
        let [
            magic,
            total_size,
            structure_offset,
            strings_offset,
            reservations_offset,
            version,
            last_compatible_version,
            _boot_cpu,
            strings_size,
            structure_size,
        ] = fields.map(|field| field as usize);
        if magic != FDT_MAGIC as usize
            || version < OLDEST_VERSION as usize
            || last_compatible_version > OLDEST_VERSION as usize
            || total_size < HEADER_SIZE
            || total_size > blob.len()
        {
            return Err(BootInfoError::InvalidTree);
        }
        let block = |offset: usize, size: usize| {
            let end = offset.checked_add(size).filter(|end| *end <= total_size);
            end.map(|end| offset..end).ok_or(BootInfoError::InvalidTree)
        };
        Ok(Header {
            total_size,
            structure: block(structure_offset, structure_size)?,
            strings: block(strings_offset, strings_size)?,
            reservations: block(reservations_offset, RESERVATION_SIZE)?.start,
        })
    }
}

/// Checks that `structure` is one well-formed root node followed by
/// `FDT_END`, in the strict shape `fdt` can walk without panicking: every
/// name NUL-terminated UTF-8, every property inside the block with its name
/// inside `strings`, properties before child nodes, at most [`MAX_DEPTH`]
/// levels.
///
/// `FDT_NOP` is refused although the format allows it: `fdt` 0.1.5 skips it
/// in some places and not others, and panics when it steps over a node with
/// a NOP between two of its children or properties. Neither QEMU nor dtc
/// writes one. FIXME: accept NOPs once `fdt` is replaced or fixed.
pub(super) fn check_structure(structure: &[u8], strings: &[u8]) -> Result<(), BootInfoError> {
    let mut cursor = Cursor {
        bytes: structure,
        offset: 0,
    };
    let mut depth = 0;
    let mut seen_root = false;
    // Properties must come before the first child node.
    let mut properties_allowed = false;
    loop {
        match cursor.token()? {
            FDT_BEGIN_NODE => {
                let name = cursor.name()?;
                if depth == 0 && (seen_root || !name.is_empty()) {
                    return Err(BootInfoError::InvalidTree);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(BootInfoError::InvalidTree);
                }
                seen_root = true;
                properties_allowed = true;
            }
            FDT_END_NODE if depth > 0 => {
                depth -= 1;
                properties_allowed = false;
            }
            FDT_PROP if properties_allowed => {
                let length = cursor.token()? as usize;
                let name_offset = cursor.token()? as usize;
                strings
                    .get(name_offset..)
                    .and_then(c_string)
                    .ok_or(BootInfoError::InvalidTree)?;
                cursor.skip(length)?;
            }
            FDT_END if depth == 0 && seen_root => return Ok(()),
            _ => return Err(BootInfoError::InvalidTree),
        }
    }
}

/// A read position in the structure block. Everything after a token is
/// padded to 4 bytes from the block's start, as `fdt` expects.
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) offset: usize,
}

impl<'a> Cursor<'a> {
    /// The next big-endian `u32`.
    pub(super) fn token(&mut self) -> Result<u32, BootInfoError> {
        let value = read_u32(self.bytes, self.offset).ok_or(BootInfoError::InvalidTree)?;
        self.skip(4)?;
        Ok(value)
    }

    /// A node's NUL-terminated name, and its padding.
    pub(super) fn name(&mut self) -> Result<&'a str, BootInfoError> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let name = c_string(rest).ok_or(BootInfoError::InvalidTree)?;
        self.skip(name.len() + 1)?;
        Ok(name)
    }

    /// Moves past `length` bytes and the padding after them, which must all
    /// lie inside the block.
    pub(super) fn skip(&mut self, length: usize) -> Result<(), BootInfoError> {
        self.offset = self
            .offset
            .checked_add(length)
            .and_then(|end| end.checked_next_multiple_of(4))
            .filter(|end| *end <= self.bytes.len())
            .ok_or(BootInfoError::InvalidTree)?;
        Ok(())
    }
}

/// Adds the memory reservation block's entries to `reserved`. The block is a
/// list of (address, size) pairs ending with (0, 0), all inside `tree`.
pub(super) fn read_memory_reservations(
    tree: &[u8],
    mut offset: usize,
    reserved: &mut heapless::Vec<PhysicalRange, MAX_RESERVED_REGIONS>,
) -> Result<(), BootInfoError> {
    loop {
        let address = read_u64(tree, offset).ok_or(BootInfoError::InvalidTree)?;
        let size = offset
            .checked_add(8)
            .and_then(|at| read_u64(tree, at))
            .ok_or(BootInfoError::InvalidTree)?;
        if address == 0 && size == 0 {
            return Ok(());
        }
        push_ram(reserved, address, size, "/memreserve/", "reserved regions")?;
        offset = offset
            .checked_add(RESERVATION_SIZE)
            .ok_or(BootInfoError::InvalidTree)?;
    }
}
