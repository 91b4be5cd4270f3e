//! Disk images: the ones test rows boot with, and (with the FAT system)
//! the system's own disk, built from a folder of the repo.
//!
//! QEMU gets a disk as a raw image file behind a virtio block device
//! ([`qemu_arguments`]); the kernel finds it in a virtio-mmio slot and
//! the disk driver server (`servers/virtio-blk`) serves it.

use std::path::Path;

use crate::Result;

/// The QEMU arguments that attach `image` as the machine's virtio disk.
pub fn qemu_arguments(image: &Path) -> Vec<String> {
    // In QEMU's option syntax a comma is written twice.
    let file = image.display().to_string().replace(',', ",,");
    vec![
        "-drive".to_string(),
        format!("file={file},format=raw,if=none,id=disk"),
        "-device".to_string(),
        "virtio-blk-device,drive=disk".to_string(),
    ]
}

/// The size of the disk `disktest` gets.
const PATTERN_DISK_SIZE: usize = 4 << 20;
/// Where disktest writes, and how much (its `WRITTEN_AT`, `WRITTEN_LENGTH`).
const PATTERN_WRITTEN: std::ops::Range<usize> = (2 << 20)..(2 << 20) + (300 << 10);

/// The word at byte `offset` of the pattern disk (disktest's `pattern`).
fn pattern(offset: usize) -> u32 {
    ((offset / 4) as u32).wrapping_mul(2_654_435_761)
}

/// disktest's disk: 4 MiB, each 32-bit word holding [`pattern`] of its
/// offset, so that any misplaced read shows.
pub fn make_pattern_disk(path: &Path) -> Result<()> {
    let bytes: Vec<u8> = (0..PATTERN_DISK_SIZE)
        .step_by(4)
        .flat_map(|offset| pattern(offset).to_le_bytes())
        .collect();
    std::fs::write(path, bytes).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// After disktest: its write (the pattern's complement) is in the image,
/// and every other word is as it was.
pub fn check_pattern_disk(path: &Path) -> Result<()> {
    let bytes =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if bytes.len() != PATTERN_DISK_SIZE {
        return Err(format!(
            "the disk is {} bytes, not {PATTERN_DISK_SIZE}",
            bytes.len()
        ));
    }
    for (index, word) in bytes.chunks_exact(4).enumerate() {
        let offset = index * 4;
        let got = u32::from_le_bytes(word.try_into().expect("4 bytes"));
        let want = if PATTERN_WRITTEN.contains(&offset) {
            !pattern(offset)
        } else {
            pattern(offset)
        };
        if got != want {
            return Err(format!(
                "on the disk after the run, byte {offset:#x} holds {got:#010x}, not {want:#010x}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_disk_fails_its_check_until_disktest_has_written() {
        let path = std::env::temp_dir().join(format!("annulus-pattern-{}.img", std::process::id()));
        make_pattern_disk(&path).unwrap();
        let error = check_pattern_disk(&path).unwrap_err();
        assert!(error.contains("byte 0x200000"), "{error}");
        let mut bytes = std::fs::read(&path).unwrap();
        for offset in PATTERN_WRITTEN.step_by(4) {
            bytes[offset..offset + 4].copy_from_slice(&(!pattern(offset)).to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        check_pattern_disk(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn commas_in_the_image_path_are_doubled() {
        let arguments = qemu_arguments(Path::new("/tmp/a,b.img"));
        assert_eq!(
            arguments[1],
            "file=/tmp/a,,b.img,format=raw,if=none,id=disk"
        );
    }
}
