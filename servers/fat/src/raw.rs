//! The FAT volume read straight from its blocks, for the few things the
//! `fatfs` crate does not do: finding where a directory's entries are on
//! the disk, so that a directory moved to another parent gets a `..` that
//! names its new parent; and where the volume ends, so that the disk's
//! blocks past it can hold the cache's journal.
//!
//! ```text
//!  boot sector ─► geometry: where the FATs, the root directory and the
//!                 data clusters are, and how big a cluster is
//!  root ─► entry "X" (its 11-byte short name) ─► cluster of X ─► entry "Y" ...
//! ```
//!
//! Every walk is bounded: a cluster chain is followed at most as many
//! steps as the volume has clusters, and a cluster number outside the
//! volume ends it with `EIO`, so a damaged volume gives an error, never a
//! loop.

use crate::cache::{BlockDevice, Cache};
use libring::abi::Errno;
#[cfg(test)]
use std::vec::Vec;

/// Where things are on a FAT volume, from its boot sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per cluster.
    cluster_bytes: u64,
    /// Where the first FAT starts (bytes).
    fat_at: u64,
    /// Where cluster 2 starts (bytes).
    data_at: u64,
    /// The root directory of FAT12/16: a region (offset, bytes); of FAT32:
    /// a cluster chain.
    root: Root,
    /// 12, 16 or 32.
    fat_bits: u32,
    /// One past the highest cluster number.
    cluster_end: u32,
    /// The volume's size in bytes (the disk may be larger).
    pub volume_bytes: u64,
    /// How many FAT copies there are, and the bytes of each.
    fats: u64,
    fat_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Region { at: u64, bytes: u64 },
    Cluster(u32),
}

/// Where a directory's entries are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The root directory of FAT12/16.
    RootRegion,
    /// A directory that starts at this cluster (the FAT32 root too).
    Cluster(u32),
}

fn u16_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        bytes[at],
        bytes[at + 1],
        bytes[at + 2],
        bytes[at + 3],
    ]))
}

/// The first cluster a 32-byte directory entry names.
pub fn entry_cluster(entry: &[u8]) -> u32 {
    ((u16_at(entry, 20) << 16) | u16_at(entry, 26)) as u32
}

impl Geometry {
    /// Reads the boot sector. `EIO` for values no FAT volume has.
    pub fn read<D: BlockDevice>(cache: &mut Cache<D>) -> Result<Geometry, Errno> {
        let mut sector = [0u8; 512];
        cache.read(0, &mut sector)?;
        let bytes_per_sector = u16_at(&sector, 11);
        let sectors_per_cluster = u64::from(sector[13]);
        let reserved = u16_at(&sector, 14);
        let fats = u64::from(sector[16]);
        let root_entries = u16_at(&sector, 17);
        let total = match u16_at(&sector, 19) {
            0 => u32_at(&sector, 32),
            small => small,
        };
        let fat_sectors = match u16_at(&sector, 22) {
            0 => u32_at(&sector, 36),
            small => small,
        };
        if !matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
            || sectors_per_cluster == 0
            || fats == 0
            || fat_sectors == 0
        {
            return Err(Errno::Io);
        }
        let root_sectors = (root_entries * 32).div_ceil(bytes_per_sector);
        let data_sector = reserved + fats * fat_sectors + root_sectors;
        let clusters = total.checked_sub(data_sector).ok_or(Errno::Io)? / sectors_per_cluster;
        // The type follows from the cluster count alone (Microsoft's rule).
        let fat_bits = match clusters {
            0..4085 => 12,
            4085..65525 => 16,
            _ => 32,
        };
        let root = if fat_bits == 32 {
            Root::Cluster(u32_at(&sector, 44) as u32)
        } else {
            Root::Region {
                at: (reserved + fats * fat_sectors) * bytes_per_sector,
                bytes: root_entries * 32,
            }
        };
        Ok(Geometry {
            cluster_bytes: sectors_per_cluster * bytes_per_sector,
            fat_at: reserved * bytes_per_sector,
            data_at: data_sector * bytes_per_sector,
            root,
            fat_bits,
            cluster_end: (clusters + 2).min(u64::from(u32::MAX)) as u32,
            volume_bytes: total * bytes_per_sector,
            fats,
            fat_bytes: fat_sectors * bytes_per_sector,
        })
    }

    /// The root directory.
    pub fn root(&self) -> Place {
        match self.root {
            Root::Region { .. } => Place::RootRegion,
            Root::Cluster(cluster) => Place::Cluster(cluster),
        }
    }

    /// Where cluster `cluster` starts; `EIO` for one outside the volume.
    pub fn cluster_at(&self, cluster: u32) -> Result<u64, Errno> {
        if !(2..self.cluster_end).contains(&cluster) {
            return Err(Errno::Io);
        }
        Ok(self.data_at + u64::from(cluster - 2) * self.cluster_bytes)
    }

    /// The cluster after `cluster` in its chain, or `None` at its end.
    fn next<D: BlockDevice>(
        &self,
        cache: &mut Cache<D>,
        cluster: u32,
    ) -> Result<Option<u32>, Errno> {
        let mut bytes = [0u8; 4];
        let value = match self.fat_bits {
            12 => {
                let at = self.fat_at + u64::from(cluster) * 3 / 2;
                cache.read(at, &mut bytes[..2])?;
                let pair = u16::from_le_bytes([bytes[0], bytes[1]]) as u32;
                if cluster % 2 == 1 {
                    pair >> 4
                } else {
                    pair & 0xfff
                }
            }
            16 => {
                cache.read(self.fat_at + u64::from(cluster) * 2, &mut bytes[..2])?;
                u16::from_le_bytes([bytes[0], bytes[1]]) as u32
            }
            _ => {
                cache.read(self.fat_at + u64::from(cluster) * 4, &mut bytes)?;
                u32::from_le_bytes(bytes) & 0x0fff_ffff
            }
        };
        let end_of_chain = match self.fat_bits {
            12 => 0xff8,
            16 => 0xfff8,
            _ => 0x0fff_fff8,
        };
        if value >= end_of_chain {
            return Ok(None);
        }
        // A free, reserved or out-of-range cluster inside a chain: damage.
        self.cluster_at(value)?;
        Ok(Some(value))
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        self.cluster_bytes
    }

    /// How many clusters the chain from `first` has: `EIO` if it loops
    /// (longer than the volume), or a cluster in it is outside the volume
    /// or free. At most as many steps as the volume has clusters.
    pub fn chain_length<D: BlockDevice>(
        &self,
        cache: &mut Cache<D>,
        first: u32,
    ) -> Result<u64, Errno> {
        self.cluster_at(first)?;
        let mut cluster = first;
        for length in 1..=u64::from(self.cluster_end) {
            match self.next(cache, cluster)? {
                Some(next) => cluster = next,
                None => return Ok(length),
            }
        }
        Err(Errno::Io)
    }

    /// Sets the allocation table entry of `cluster` to `value` in every
    /// FAT copy (FAT16 and FAT32; tests make damaged volumes with it).
    #[cfg(test)]
    pub fn set_next<D: BlockDevice>(&self, cache: &mut Cache<D>, cluster: u32, value: u32) {
        for copy in 0..self.fats {
            let base = self.fat_at + copy * self.fat_bytes;
            if self.fat_bits == 16 {
                cache
                    .write(base + u64::from(cluster) * 2, &(value as u16).to_le_bytes())
                    .unwrap();
            } else {
                cache
                    .write(base + u64::from(cluster) * 4, &value.to_le_bytes())
                    .unwrap();
            }
        }
    }

    /// The clusters of the chain from `first` (tests; at most 64).
    #[cfg(test)]
    pub fn chain<D: BlockDevice>(&self, cache: &mut Cache<D>, first: u32) -> Vec<u32> {
        let mut chain = vec![first];
        while let Ok(Some(next)) = self.next(cache, *chain.last().unwrap()) {
            if chain.len() == 64 {
                break;
            }
            chain.push(next);
        }
        chain
    }

    /// One past the highest cluster number (tests).
    #[cfg(test)]
    pub fn cluster_end(&self) -> u32 {
        self.cluster_end
    }

    /// Calls `visit(offset, entry)` for each 32-byte entry of the
    /// directory at `place`, until it returns `Some` or the entries end
    /// (an entry whose first byte is 0). At most as many clusters as the
    /// volume has are followed: a looping chain is `EIO`.
    pub fn find_entry<D: BlockDevice, T>(
        &self,
        cache: &mut Cache<D>,
        place: Place,
        mut visit: impl FnMut(u64, &[u8; 32]) -> Option<T>,
    ) -> Result<Option<T>, Errno> {
        let mut entry = [0u8; 32];
        let mut scan = |cache: &mut Cache<D>, at: u64, bytes: u64| -> Result<Step<T>, Errno> {
            for offset in (at..at + bytes).step_by(32) {
                cache.read(offset, &mut entry)?;
                if entry[0] == 0 {
                    return Ok(Step::End);
                }
                if let Some(found) = visit(offset, &entry) {
                    return Ok(Step::Found(found));
                }
            }
            Ok(Step::Next)
        };
        match (place, self.root) {
            (Place::RootRegion, Root::Region { at, bytes }) => {
                return Ok(match scan(cache, at, bytes)? {
                    Step::Found(found) => Some(found),
                    _ => None,
                });
            }
            (Place::RootRegion, Root::Cluster(_)) => return Err(Errno::Io),
            (Place::Cluster(_), _) => {}
        }
        let Place::Cluster(mut cluster) = place else {
            return Err(Errno::Io);
        };
        for _ in 0..self.cluster_end {
            let at = self.cluster_at(cluster)?;
            match scan(cache, at, self.cluster_bytes)? {
                Step::Found(found) => return Ok(Some(found)),
                Step::End => return Ok(None),
                Step::Next => {}
            }
            match self.next(cache, cluster)? {
                Some(next) => cluster = next,
                None => return Ok(None),
            }
        }
        Err(Errno::Io) // a chain longer than the volume: it loops
    }
}

enum Step<T> {
    Found(T),
    End,
    Next,
}

/// The 11 bytes a short name is stored as (`"FOO.TXT"` -> `"FOO     TXT"`),
/// from the crate's `short_file_name_as_bytes`.
pub fn stored_short_name(name: &[u8]) -> [u8; 11] {
    let mut stored = [b' '; 11];
    let (base, extension) = match name.iter().rposition(|&byte| byte == b'.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot + 1..]),
        _ => (name, &[][..]),
    };
    for (slot, &byte) in stored[..8].iter_mut().zip(base) {
        *slot = byte;
    }
    for (slot, &byte) in stored[8..].iter_mut().zip(extension) {
        *slot = byte;
    }
    // A name that starts with 0xE5 is stored with 0x05 (0xE5 marks a free entry).
    if stored[0] == 0xe5 {
        stored[0] = 0x05;
    }
    stored
}
