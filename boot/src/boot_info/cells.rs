//! Small readers of property values: big-endian cells, strings, names.

use super::*;

/// The child of `node` called `name`, with any unit address.
pub(super) fn child<'b, 'a>(node: FdtNode<'b, 'a>, name: &str) -> Option<FdtNode<'b, 'a>> {
    node.children().find(|child| base_name(child.name) == name)
}

/// A node name without its `@unit-address`.
pub(super) fn base_name(name: &str) -> &str {
    name.split_once('@')
        .map_or(name, |(base, _unit_address)| base)
}

/// The raw value of `node`'s property `name`.
pub(super) fn bytes<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.property(name).map(|property| property.value)
}

/// A string property's value up to its first NUL (or its end).
pub(super) fn first_string(value: &[u8]) -> Option<&str> {
    let end = value
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(value.len());
    core::str::from_utf8(value.get(..end)?).ok()
}

/// The NUL-terminated UTF-8 string at the start of `bytes`; `None` without
/// a NUL.
pub(super) fn c_string(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().position(|byte| *byte == 0)?;
    core::str::from_utf8(bytes.get(..end)?).ok()
}

/// A value that must be exactly one 32-bit cell (a phandle, a cell count).
pub(super) fn single_cell(value: &[u8]) -> Option<u32> {
    if value.len() != 4 {
        return None;
    }
    read_u32(value, 0)
}

/// One or two big-endian cells as a number; `None` for any other length.
pub(super) fn read_cells(cells: &[u8]) -> Option<u64> {
    match cells.len() {
        4 => read_u32(cells, 0).map(u64::from),
        8 => read_u64(cells, 0),
        _ => None,
    }
}

/// The big-endian `u32` at `offset`, or `None` past the end of `bytes`.
pub(super) fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let chunk = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(chunk.try_into().ok()?))
}

/// The big-endian `u64` at `offset`, or `None` past the end of `bytes`.
pub(super) fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let chunk = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(chunk.try_into().ok()?))
}

/// A device's register block: empty or wrapping is a broken tree.
pub(super) fn device_range((start, size): (u64, u64)) -> Result<PhysicalRange, BootInfoError> {
    PhysicalRange::new(start, size).ok_or(BootInfoError::Malformed("reg"))
}

/// Adds a RAM range to `list`. An empty one is skipped (firmware writes
/// them for unpopulated banks); one that wraps is a broken `property`.
pub(super) fn push_ram<const N: usize>(
    list: &mut heapless::Vec<PhysicalRange, N>,
    start: u64,
    size: u64,
    property: &'static str,
    what: &'static str,
) -> Result<(), BootInfoError> {
    if size == 0 {
        return Ok(());
    }
    let range = PhysicalRange::new(start, size).ok_or(BootInfoError::Malformed(property))?;
    list.push(range).map_err(|_| BootInfoError::TooMany(what))
}
