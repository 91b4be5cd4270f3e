//! [`IdMap`]: the kernel's tables of processes, endpoints and forwarded
//! requests, keyed by ids that only grow.
//!
//! These tables hold a handful of entries, are looked up on every system
//! call (several times), and get a new entry only with an id larger than
//! any before it. A vector of `(id, value)` pairs kept sorted by id suits
//! that better than a B-tree: a new entry goes on the end, a lookup is
//! one guess (ids come one after another, so id `first + n` is usually
//! entry n) or else a binary search over a few contiguous pairs, and
//! iteration is a slice walk. `docs/performance.md` has the measurement that led here (a
//! `BTreeMap` lookup cost about 55 instructions; this one, about 30).
//!
//! # Invariants
//! - `entries` is sorted by id, with no id twice.

use alloc::vec::Vec;

/// A map from growing ids to values, in id order.
pub struct IdMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K: Ord + Copy + Into<u64>, V> IdMap<K, V> {
    pub const fn new() -> IdMap<K, V> {
        IdMap {
            entries: Vec::new(),
        }
    }

    fn position(&self, id: K) -> Result<usize, usize> {
        // Ids are handed out one after another, so while none in the middle
        // has gone, id `first + n` is entry n: try that before searching.
        if let Some(&(first, _)) = self.entries.first() {
            let guess = id.into().wrapping_sub(first.into()) as usize;
            if self.entries.get(guess).is_some_and(|(key, _)| *key == id) {
                return Ok(guess);
            }
        }
        self.entries.binary_search_by(|(key, _)| key.cmp(&id))
    }

    /// Gives back room past twice what it holds, once it has more than
    /// `keep` places.
    pub fn shrink(&mut self, keep: usize) {
        if self.entries.capacity() > keep && self.entries.len() * 4 < self.entries.capacity() {
            self.entries.shrink_to(keep.max(self.entries.len() * 2));
        }
    }

    /// Makes room for one more entry, so that the next [`IdMap::insert`]
    /// allocates nothing; `Err` if the heap has none.
    pub fn try_reserve_one(&mut self) -> Result<(), alloc::collections::TryReserveError> {
        self.entries.try_reserve(1)
    }

    /// Adds (or replaces) the value for `id`. Cheapest, a push, when `id`
    /// is larger than every id in the map, which is how the kernel uses it.
    pub fn insert(&mut self, id: K, value: V) {
        match self.entries.last() {
            Some((last, _)) if *last >= id => match self.position(id) {
                Ok(index) => self.entries[index].1 = value,
                Err(index) => self.entries.insert(index, (id, value)),
            },
            _ => self.entries.push((id, value)),
        }
    }

    #[inline]
    pub fn get(&self, id: K) -> Option<&V> {
        let index = self.position(id).ok()?;
        Some(&self.entries[index].1)
    }

    #[inline]
    pub fn get_mut(&mut self, id: K) -> Option<&mut V> {
        let index = self.position(id).ok()?;
        Some(&mut self.entries[index].1)
    }

    pub fn contains_key(&self, id: K) -> bool {
        self.position(id).is_ok()
    }

    /// Takes the value for `id` out of the map.
    pub fn remove(&mut self, id: K) -> Option<V> {
        let index = self.position(id).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// Keeps only the entries for which `keep` says true.
    pub fn retain(&mut self, mut keep: impl FnMut(K, &mut V) -> bool) {
        self.entries.retain_mut(|(id, value)| keep(*id, value));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(id, value)` pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.entries.iter().map(|(id, value)| (*id, value))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, value)| value)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, value)| value)
    }
}

impl<K: Ord + Copy + Into<u64>, V> Default for IdMap<K, V> {
    fn default() -> IdMap<K, V> {
        IdMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn growing_ids_are_found_and_removed() {
        let mut map = IdMap::new();
        for id in 1..=20u32 {
            map.insert(id, id * 10);
        }
        assert_eq!(map.len(), 20);
        assert_eq!(map.get(7), Some(&70));
        assert_eq!(map.get(21), None);
        assert_eq!(map.get(0), None);
        assert_eq!(map.remove(7), Some(70));
        assert_eq!(map.remove(7), None);
        assert_eq!(map.get(7), None);
        assert_eq!(
            map.get(8),
            Some(&80),
            "found by search once the guess misses"
        );
        assert_eq!(map.get(6), Some(&60));
        assert_eq!(map.get(20), Some(&200));
        *map.get_mut(8).unwrap() += 1;
        assert_eq!(map.get(8), Some(&81));
        assert!(map.contains_key(20) && !map.contains_key(7));
    }

    #[test]
    fn an_older_id_goes_in_its_place_and_a_repeated_one_replaces() {
        let mut map = IdMap::new();
        map.insert(5u64, "five");
        map.insert(9, "nine");
        map.insert(2, "two");
        map.insert(7, "seven");
        map.insert(9, "NINE");
        let ids: vec::Vec<u64> = map.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [2, 5, 7, 9]);
        assert_eq!(map.get(9), Some(&"NINE"));
    }

    #[test]
    fn retain_and_iteration_keep_id_order() {
        let mut map = IdMap::new();
        for id in 0..10u32 {
            map.insert(id, id);
        }
        map.retain(|id, value| {
            *value += 100;
            id % 3 == 0
        });
        let left: vec::Vec<(u32, u32)> = map.iter().map(|(id, value)| (id, *value)).collect();
        assert_eq!(left, [(0, 100), (3, 103), (6, 106), (9, 109)]);
        for value in map.values_mut() {
            *value = 0;
        }
        assert!(map.values().all(|value| *value == 0));
        for id in [0, 3, 6, 9] {
            assert_eq!(map.remove(id), Some(0));
        }
        assert!(map.is_empty());
    }
}
