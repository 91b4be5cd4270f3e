//! [`Slab`]: a table whose entries come and go often, found by an id that
//! says where the entry is.
//!
//! The kernel keeps every forwarded request in one (`System::forwards`):
//! a server names a request by its id in `COPY_IN`, `COPY_OUT` and
//! `REPLY`, many are in flight at once, and each lives only for a round
//! trip. An id is a slot's index and the slot's generation, bumped each
//! time the slot is reused, so a lookup is an index and a compare, adding
//! or removing an entry moves no other entry, and a stale id (a request
//! already answered) finds nothing instead of a newer request in the same
//! slot.
//!
//! A burst (a server that owed a thousand `RELEASE`s) can grow the table
//! far past what it usually holds; once it is empty again,
//! [`Slab::shrink_if_empty`] gives its memory back. New slots then start
//! at a generation above every one used so far, so no old id can name a
//! new entry.
//!
//! # Invariants
//! - A slot is either on the free list or holds a value, never both.
//! - An id is never given out twice (until generations have gone round
//!   2^32), and never 0.

use alloc::vec::Vec;

struct Slot<T> {
    /// Bumped each time the slot is filled; part of the id.
    generation: u32,
    value: Option<T>,
}

/// Values found by the `u64` id [`Slab::insert`] gave them.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Empty slots, to be filled before the vector grows.
    free: Vec<u32>,
    /// The generation a new slot starts from: above every generation any
    /// slot had before the table was last emptied and shrunk.
    floor: u32,
}

impl<T> Slab<T> {
    pub const fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            floor: 0,
        }
    }

    /// If nothing is in the table and it has grown past `keep` slots,
    /// lets its memory go (a burst is over). Ids given before stay
    /// unused: new slots start above their generations.
    pub fn shrink_if_empty(&mut self, keep: usize) {
        if !self.is_empty() || self.slots.capacity() <= keep {
            return;
        }
        let highest = self.slots.iter().map(|slot| slot.generation).max();
        self.floor = highest.map_or(self.floor, |highest| highest.wrapping_add(1).max(1));
        self.slots = Vec::new();
        self.free = Vec::new();
    }

    fn id(index: usize, generation: u32) -> u64 {
        ((generation as u64) << 32) | index as u64
    }

    /// The slot an id names, if it still holds that id's value.
    fn slot(&self, id: u64) -> Option<usize> {
        let index = (id & 0xffff_ffff) as usize;
        let slot = self.slots.get(index)?;
        (slot.generation == (id >> 32) as u32 && slot.value.is_some()).then_some(index)
    }

    /// Makes sure the next [`Slab::insert`] allocates nothing: `Err` if
    /// the heap has no room for one more slot (and its place on the free
    /// list, for when it is removed).
    pub fn try_reserve_one(&mut self) -> Result<(), alloc::collections::TryReserveError> {
        if self.free.is_empty() {
            self.slots.try_reserve(1)?;
        }
        self.free.try_reserve(1)
    }

    /// Adds `value` and returns its id.
    pub fn insert(&mut self, value: T) -> u64 {
        self.insert_with(|_| value)
    }

    /// Adds the value `make` makes from the id it will have (so a value
    /// that holds its own id is made whole, in place), and returns the id.
    #[inline(always)]
    pub fn insert_with(&mut self, make: impl FnOnce(u64) -> T) -> u64 {
        let index = match self.free.pop() {
            Some(index) => index as usize,
            None => {
                self.slots.push(Slot {
                    generation: self.floor,
                    value: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        // Generations start at 1, so no id is 0.
        slot.generation = slot.generation.wrapping_add(1).max(1);
        let id = Slab::<T>::id(index, slot.generation);
        slot.value = Some(make(id));
        id
    }

    #[inline]
    pub fn get(&self, id: u64) -> Option<&T> {
        self.slots[self.slot(id)?].value.as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let index = self.slot(id)?;
        self.slots[index].value.as_mut()
    }

    pub fn contains_key(&self, id: u64) -> bool {
        self.slot(id).is_some()
    }

    /// Takes the value for `id` out; its slot is free for reuse.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let index = self.slot(id)?;
        self.free.push(index as u32);
        self.slots[index].value.take()
    }

    /// Drops the value for `id` where it lies (nothing is moved out, unlike
    /// [`Slab::remove`]); its slot is free for reuse. False if there was none.
    pub fn delete(&mut self, id: u64) -> bool {
        let Some(index) = self.slot(id) else {
            return false;
        };
        self.free.push(index as u32);
        self.slots[index].value = None;
        true
    }

    /// Keeps only the entries for which `keep` says true.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &mut T) -> bool) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(value) = slot.value.as_mut() else {
                continue;
            };
            if !keep(Slab::<T>::id(index, slot.generation), value) {
                slot.value = None;
                self.free.push(index as u32);
            }
        }
    }

    /// `(id, value)` for every entry (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let value = slot.value.as_ref()?;
            Some((Slab::<T>::id(index, slot.generation), value))
        })
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn entries_are_found_by_their_ids_until_removed() {
        let mut slab = Slab::new();
        let ids: vec::Vec<u64> = (0..10).map(|value| slab.insert(value * 10)).collect();
        assert!(ids.iter().all(|&id| id != 0));
        assert_eq!(slab.len(), 10);
        for (value, &id) in ids.iter().enumerate() {
            assert_eq!(slab.get(id), Some(&(value * 10)));
        }
        assert_eq!(slab.remove(ids[3]), Some(30));
        assert_eq!(slab.remove(ids[3]), None);
        assert_eq!(slab.get(ids[3]), None);
        assert!(!slab.contains_key(ids[3]) && slab.contains_key(ids[4]));
        *slab.get_mut(ids[4]).unwrap() += 1;
        assert_eq!(slab.get(ids[4]), Some(&41));
        assert_eq!(slab.len(), 9);
        // Deleted in place: gone the same way.
        assert!(slab.delete(ids[5]));
        assert!(!slab.delete(ids[5]));
        assert_eq!(slab.get(ids[5]), None);
        assert_eq!(slab.len(), 8);
        let reused = slab.insert(99);
        assert_eq!(
            reused & 0xffff_ffff,
            ids[5] & 0xffff_ffff,
            "its slot is free"
        );
        assert_eq!(slab.get(reused), Some(&99));
    }

    #[test]
    fn a_reused_slot_gives_a_new_id_and_the_old_one_finds_nothing() {
        let mut slab = Slab::new();
        let first = slab.insert("first");
        slab.remove(first);
        let second = slab.insert("second");
        assert_ne!(first, second);
        assert_eq!(first & 0xffff_ffff, second & 0xffff_ffff, "same slot");
        assert_eq!(slab.get(first), None);
        assert_eq!(slab.get(second), Some(&"second"));
        assert_eq!(slab.remove(first), None);
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_value_made_with_its_id_holds_the_id_it_is_found_by() {
        let mut slab = Slab::new();
        let first = slab.insert_with(|id| id);
        slab.remove(first);
        let second = slab.insert_with(|id| id);
        assert_ne!(first, second);
        assert_eq!(slab.get(second), Some(&second));
    }

    #[test]
    fn made_up_ids_find_nothing() {
        let mut slab = Slab::new();
        let id = slab.insert(1u8);
        for wrong in [0, id + 1, id ^ (1 << 32), u64::MAX, id & 0xffff_ffff] {
            assert_eq!(slab.get(wrong), None, "{wrong:#x}");
            assert_eq!(slab.get_mut(wrong), None);
        }
    }

    #[test]
    fn retain_frees_the_slots_it_drops() {
        let mut slab = Slab::new();
        let ids: vec::Vec<u64> = (0..6u32).map(|value| slab.insert(value)).collect();
        slab.retain(|_, value| *value % 2 == 0);
        let mut left: vec::Vec<u32> = slab.iter().map(|(_, value)| *value).collect();
        left.sort();
        assert_eq!(left, [0, 2, 4]);
        assert_eq!(slab.get(ids[1]), None);
        assert_eq!(slab.get(ids[2]), Some(&2));
        for value in 10..13 {
            slab.insert(value);
        }
        assert_eq!(slab.len(), 6);
        assert!(slab.iter().all(|(id, value)| slab.get(id) == Some(value)));
    }

    #[test]
    fn an_emptied_table_shrinks_and_never_gives_an_old_id_again() {
        let mut slab = Slab::new();
        let ids: Vec<u64> = (0..100).map(|value| slab.insert(value)).collect();
        for &id in &ids {
            slab.remove(id);
        }
        slab.shrink_if_empty(16);
        assert_eq!(slab.slots.capacity(), 0);
        let new: Vec<u64> = (0..100).map(|value| slab.insert(value)).collect();
        for id in &ids {
            assert!(!new.contains(id), "{id:#x} given twice");
            assert_eq!(slab.get(*id), None);
        }
        // Not shrunk while anything is in it, or when small.
        slab.shrink_if_empty(16);
        assert_eq!(slab.len(), 100);
    }
}
