//! The stash: completions [`super::Ring::run`] took off the CQ while
//! looking for its own, kept in arrival order until the program asks for
//! them.
//!
//! A fixed array, because the ring must work before (and without) a heap.
//!
//! # Invariants
//! - `entries[..length]` are the stashed completions, oldest first.
//! - `length <= STASH_CAPACITY`.

use super::STASH_CAPACITY;
use crate::abi::Completion;

/// A first-in, first-out queue of at most [`STASH_CAPACITY`] completions.
pub(super) struct Stash {
    entries: [Completion; STASH_CAPACITY],
    length: usize,
}

impl Stash {
    /// An empty stash.
    pub(super) const fn new() -> Stash {
        const EMPTY: Completion = Completion {
            user_data: 0,
            result: 0,
            flags: 0,
        };
        Stash {
            entries: [EMPTY; STASH_CAPACITY],
            length: 0,
        }
    }

    /// How many completions are stashed.
    pub(super) fn len(&self) -> usize {
        self.length
    }

    /// Whether another `push` would have nowhere to go.
    pub(super) fn is_full(&self) -> bool {
        self.length == STASH_CAPACITY
    }

    /// Adds `completion` at the back. The caller checks `is_full` first;
    /// a push onto a full stash is a bug in the ring, so it panics.
    pub(super) fn push(&mut self, completion: Completion) {
        self.entries[self.length] = completion;
        self.length += 1;
    }

    /// Takes the oldest completion. Shifting the rest down costs at most
    /// 31 copies of 16 bytes, and keeps the code obvious.
    pub(super) fn pop_front(&mut self) -> Option<Completion> {
        if self.length == 0 {
            return None;
        }
        let first = self.entries[0];
        self.entries.copy_within(1..self.length, 0);
        self.length -= 1;
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(user_data: u64) -> Completion {
        Completion {
            user_data,
            ..Completion::default()
        }
    }

    #[test]
    fn stash_is_first_in_first_out_up_to_its_capacity() {
        let mut stash = Stash::new();
        assert_eq!(stash.pop_front(), None);
        for user_data in 0..STASH_CAPACITY as u64 {
            assert!(!stash.is_full());
            stash.push(tagged(user_data));
        }
        assert!(stash.is_full());
        assert_eq!(stash.len(), STASH_CAPACITY);
        for user_data in 0..STASH_CAPACITY as u64 {
            assert_eq!(stash.pop_front(), Some(tagged(user_data)));
        }
        assert_eq!(stash.pop_front(), None);
        assert_eq!(stash.len(), 0);
    }
}
