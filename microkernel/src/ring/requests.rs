//! [`Requests`]: a ring's pending requests, in the order they were
//! accepted, found by id in constant time.
//!
//! Every request the engine accepts goes on the back; it leaves when its
//! final completion is posted, which for a batch of forwarded requests
//! answered in turn is the front. The engine asks, for each request it
//! touches: where is request `id` (`index_of`), is it the first of its
//! chain still pending (`is_chain_head`), which pending member of chain
//! `c` comes first (`first_of_chain`), and is any request waiting to be
//! started at all (`unstarted`). With the list in acceptance order those
//! are all cheap:
//!
//! ```text
//!   front                                               back
//!   id 40  id 41  id 42  id 44  id 45  id 46      ids only grow
//!   ch 17  ch 18  ch 18  ch 19  ch 20  ch 21      chains only grow, and a
//!                                                 chain's members are next
//!                                                 to each other (a LINK
//!                                                 joins the next accepted)
//! ```
//!
//! - `index_of(id)`: `id - front id` is the index while no request in
//!   between has left (the usual case); otherwise a binary search.
//! - `is_chain_head(i)`: the request before it is of another chain.
//! - `first_of_chain(c)`: a binary search on the chain numbers.
//! - `next_to_start()`: a scan that starts at the first request not yet
//!   started (`started_below`), not at the front: the running requests
//!   before it are never looked at again.
//! - Removing the front (or near it) moves nothing: a `VecDeque`.
//!
//! A batch of N requests answered one by one so costs the same per request
//! whatever N is; with a `Vec` searched from the front and shifted on
//! each removal, it cost more per request the bigger the batch.
//!
//! # Invariants
//! - `list` is sorted by `id` (strictly) and by `chain`; the members of a
//!   chain are adjacent.
//! - `unstarted` is the number of requests in `list` with `running` false.
//!   `running` changes only through [`Requests::set_running`].
//! - Every request in `list` with an id below `started_below` is running.
//!   (It holds as requests come and go: a new one has the highest id, and
//!   a running request never stops running while it is in the list.)

use super::decode::Operation;
use alloc::collections::{TryReserveError, VecDeque};
use libring::abi::Errno;

/// One accepted submission, until its last completion is posted.
pub struct Request {
    pub id: u64,
    /// Requests of one LINK chain share this; they run in acceptance order.
    pub chain: u64,
    pub user_data: u64,
    pub operation: Result<Operation, Errno>,
    /// Submitted with LINK: the next submission is in its chain.
    pub linked: bool,
    /// Submitted with SKIP_SUCCESS: no final completion if it succeeds.
    pub skip_success: bool,
    /// Started (a timer armed), as opposed to waiting for its turn.
    pub running: bool,
    /// Completions a multishot operation has posted so far.
    pub fired: u64,
    /// A multishot event that found the CQ full, waiting to be posted.
    pub pending_event: bool,
    /// A forwarded request's id in `System::forwards` once it is on its
    /// way to the server; 0 before.
    pub forward: u64,
}

pub struct Requests {
    list: VecDeque<Request>,
    unstarted: usize,
    /// Requests with lower ids are all running: where `next_to_start`
    /// begins to look.
    started_below: u64,
}

impl Requests {
    pub const fn new() -> Requests {
        Requests {
            list: VecDeque::new(),
            unstarted: 0,
            started_below: 0,
        }
    }

    /// Room for one more, so the next [`Requests::push`] allocates nothing.
    pub fn try_reserve_one(&mut self) -> Result<(), TryReserveError> {
        self.list.try_reserve(1)
    }

    /// Adds `request`, which was accepted after every request here (its id
    /// and chain are at least theirs).
    pub fn push(&mut self, request: Request) {
        debug_assert!(
            self.list
                .back()
                .is_none_or(|last| { last.id < request.id && last.chain <= request.chain })
        );
        if !request.running {
            self.unstarted += 1;
        }
        self.list.push_back(request);
    }

    /// Takes request `index` out (usually the front: nothing moves).
    #[inline]
    pub fn remove(&mut self, index: usize) {
        let Some(request) = self.list.get(index) else {
            return;
        };
        if !request.running {
            self.unstarted -= 1;
        }
        if index == 0 {
            self.list.pop_front();
        } else {
            self.list.remove(index);
        }
    }

    /// Marks request `index` started.
    #[inline]
    pub fn set_running(&mut self, index: usize) {
        if let Some(request) = self.list.get_mut(index)
            && !request.running
        {
            request.running = true;
            self.unstarted -= 1;
        }
    }

    /// How many requests wait to be started (some maybe behind a running
    /// member of their chain).
    #[inline]
    pub fn unstarted(&self) -> usize {
        self.unstarted
    }

    /// Where request `id` is.
    #[inline(always)]
    pub fn index_of(&self, id: u64) -> Option<usize> {
        let first = self.list.front()?.id;
        let guess = id.checked_sub(first)? as usize;
        if self.list.get(guess).is_some_and(|request| request.id == id) {
            return Some(guess);
        }
        self.list
            .binary_search_by_key(&id, |request| request.id)
            .ok()
    }

    /// The index of the first request whose id is `id` or more: `id - front
    /// id` while no request in between has left, else a binary search.
    #[inline(always)]
    fn lower_bound(&self, id: u64) -> usize {
        let Some(first) = self.list.front() else {
            return 0;
        };
        let Some(guess) = id.checked_sub(first.id).map(|guess| guess as usize) else {
            return 0; // every request here has a higher id
        };
        if self.list.get(guess).is_some_and(|request| request.id == id) {
            return guess;
        }
        self.list.partition_point(|request| request.id < id)
    }

    /// Is request `index` the first pending member of its chain?
    #[inline]
    pub fn is_chain_head(&self, index: usize) -> bool {
        index == 0 || self.list[index - 1].chain != self.list[index].chain
    }

    /// The first pending member of `chain`, if any.
    #[inline]
    pub fn first_of_chain(&self, chain: u64) -> Option<usize> {
        let index = self.list.partition_point(|request| request.chain < chain);
        self.list
            .get(index)
            .is_some_and(|request| request.chain == chain)
            .then_some(index)
    }

    /// The first request that waits to start and whose turn has come (the
    /// first of its chain), if any. Constant time when none waits; when a
    /// batch is started one request after another, each call looks at the
    /// request the last one left off at, not at the whole list again.
    #[inline]
    pub fn next_to_start(&mut self) -> Option<usize> {
        if self.unstarted == 0 {
            return None;
        }
        let from = self.lower_bound(self.started_below);
        let mut passed_only_running = true;
        for index in from..self.list.len() {
            let request = &self.list[index];
            if request.running {
                continue;
            }
            if passed_only_running {
                // Everything before this one runs.
                self.started_below = request.id;
                passed_only_running = false;
            }
            if self.is_chain_head(index) {
                return Some(index);
            }
        }
        None
    }

    #[inline]
    pub fn get(&self, index: usize) -> Option<&Request> {
        self.list.get(index)
    }

    /// Request `index`, to change anything but `running`.
    #[inline]
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Request> {
        self.list.get_mut(index)
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Request> {
        self.list.iter()
    }

    /// The requests before `index`, nearest last.
    pub fn before(&self, index: usize) -> impl DoubleEndedIterator<Item = &Request> {
        self.list.range(..index)
    }
}

impl core::ops::Index<usize> for Requests {
    type Output = Request;

    fn index(&self, index: usize) -> &Request {
        &self.list[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: u64, chain: u64) -> Request {
        Request {
            id,
            chain,
            user_data: id,
            operation: Ok(Operation::Nop),
            linked: false,
            skip_success: false,
            running: false,
            fired: 0,
            pending_event: false,
            forward: 0,
        }
    }

    /// Ids 1 to 6; chains: 1, then 2 2 2 (a LINK chain), then 3, 4.
    fn six() -> Requests {
        let mut requests = Requests::new();
        for (id, chain) in [(1, 1), (2, 2), (3, 2), (4, 2), (5, 3), (6, 4)] {
            requests.push(request(id, chain));
        }
        requests
    }

    #[test]
    fn found_by_id_before_and_after_removals_anywhere() {
        let mut requests = six();
        for id in 1..=6 {
            assert_eq!(requests.index_of(id), Some(id as usize - 1));
        }
        assert_eq!(requests.index_of(0), None);
        assert_eq!(requests.index_of(7), None);
        // From the middle (the guess now misses for the later ones).
        requests.remove(2);
        assert_eq!(requests.index_of(3), None);
        assert_eq!(requests.index_of(4), Some(2));
        assert_eq!(requests.index_of(6), Some(4));
        // From the front.
        requests.remove(0);
        assert_eq!(requests.index_of(2), Some(0));
        assert_eq!(requests.index_of(6), Some(3));
    }

    #[test]
    fn chain_heads_and_first_members() {
        let mut requests = six();
        let heads: [bool; 6] = core::array::from_fn(|index| requests.is_chain_head(index));
        assert_eq!(heads, [true, true, false, false, true, true]);
        assert_eq!(requests.first_of_chain(2), Some(1));
        assert_eq!(requests.first_of_chain(9), None);
        // The chain's first member completes: the next is its head.
        requests.remove(1);
        assert!(requests.is_chain_head(1));
        assert_eq!(requests.first_of_chain(2), Some(1));
        requests.remove(1);
        requests.remove(1);
        assert_eq!(requests.first_of_chain(2), None, "the chain is done");
    }

    #[test]
    fn the_next_to_start_is_a_chain_head_and_none_is_looked_for_when_all_run() {
        let mut requests = six();
        assert_eq!(requests.unstarted(), 6);
        assert_eq!(requests.next_to_start(), Some(0));
        requests.set_running(0);
        requests.set_running(1);
        // 3 and 4 wait behind 2, a running member of their chain.
        assert_eq!(requests.next_to_start(), Some(4));
        requests.set_running(4);
        requests.set_running(5);
        requests.set_running(5);
        assert_eq!(requests.unstarted(), 2, "set twice counts once");
        assert_eq!(requests.next_to_start(), None);
        // 2 completes: 3 may start.
        requests.remove(1);
        assert_eq!(requests.next_to_start(), Some(1));
        // A request removed before it started leaves the count right.
        requests.remove(1);
        requests.remove(1);
        assert_eq!(requests.unstarted(), 0);
        assert_eq!(requests.next_to_start(), None);
    }

    #[test]
    fn a_batch_is_started_in_order_while_requests_come_and_go() {
        let mut requests = Requests::new();
        for id in 1..=4 {
            requests.push(request(id, id));
        }
        // Started one after another, as `advance` does.
        for expected in 0..4 {
            assert_eq!(requests.next_to_start(), Some(expected));
            requests.set_running(expected);
        }
        assert_eq!(requests.next_to_start(), None);
        // The first two complete, and new ones come: found past the
        // running ones, wherever the list now begins.
        requests.remove(0);
        requests.remove(0);
        requests.push(request(5, 5));
        requests.push(request(6, 6));
        assert_eq!(requests.next_to_start(), Some(2));
        requests.set_running(2);
        assert_eq!(requests.next_to_start(), Some(3));
        // A chain behind a running member (7 runs, 8 waits), then an
        // independent request (9): 9 starts, 8 only once 7 has gone.
        requests.set_running(3);
        requests.push(request(7, 7));
        requests.push(request(8, 7));
        requests.push(request(9, 8));
        assert_eq!(requests.next_to_start(), Some(4));
        requests.set_running(4);
        assert_eq!(requests.next_to_start(), Some(6));
        requests.set_running(6);
        assert_eq!(requests.next_to_start(), None);
        requests.remove(4);
        assert_eq!(requests.index_of(8), Some(4));
        assert_eq!(requests.next_to_start(), Some(4));
    }
}
