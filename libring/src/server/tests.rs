//! Host tests for [`Server`]: a fake kernel with one endpoint plays the
//! clients and the kernel's side of `RECEIVE`, `REPLY`, `COPY_IN` and
//! `COPY_OUT`, on a ring region in ordinary memory.
//!
//! The fake completes everything at once, inside `ring_enter`, and then
//! delivers as many waiting client requests as the armed `RECEIVE` has
//! free slots for: each written into its slot as a `RequestMessage`, with
//! a completion flagged `MORE`.

use super::*;
use crate::abi::{
    ABI_VERSION, CQ_ENTRIES, CQ_OFFSET, Opcode, RING_SIZE, RingHeader, SQ_ENTRIES, SQ_OFFSET,
    Submission, grant_flags, header_offset,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The service handle the tests' servers use.
const SERVICE: u32 = 3;

/// A ring region's memory, page aligned like the real one.
#[repr(C, align(4096))]
struct RegionMemory([u8; RING_SIZE as usize]);

/// A ring region set up as the kernel sets one up.
struct Region {
    base: *mut u8,
}

impl Region {
    fn new() -> Region {
        let base = Box::into_raw(Box::new(RegionMemory([0; RING_SIZE as usize]))).cast::<u8>();
        let header = RingHeader {
            abi_version: ABI_VERSION,
            sq_entries: SQ_ENTRIES,
            cq_entries: CQ_ENTRIES,
            sq_offset: SQ_OFFSET,
            cq_offset: CQ_OFFSET,
            ..RingHeader::default()
        };
        // SAFETY: the region starts with a header-sized, aligned area.
        unsafe { base.cast::<RingHeader>().write_volatile(header) };
        Region { base }
    }

    /// A ring over this region, with a fresh fake kernel.
    fn ring(&self) -> (Ring<FakeKernel>, Rc<RefCell<Endpoint>>) {
        let endpoint = Rc::new(RefCell::new(Endpoint::default()));
        let kernel = FakeKernel {
            base: self.base,
            endpoint: Rc::clone(&endpoint),
        };
        // SAFETY: the region is RING_SIZE bytes and outlives the ring in
        // every test (it is declared first, so dropped last).
        let ring = unsafe { Ring::from_raw(self.base, kernel) }.expect("a good header");
        (ring, endpoint)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: made by Box::into_raw in `new`.
        drop(unsafe { Box::from_raw(self.base.cast::<RegionMemory>()) });
    }
}

/// A client's request, as a client's submission would make it.
#[derive(Clone, Debug, Default)]
struct ClientRequest {
    badge: u64,
    opcode: u8,
    grant: u8,
    /// The client's buffer: what the grant covers.
    buffer: Vec<u8>,
    arguments: [u64; 3],
}

impl ClientRequest {
    fn write(badge: u64, bytes: &[u8]) -> ClientRequest {
        ClientRequest {
            badge,
            opcode: Opcode::Write as u8,
            grant: grant_flags::READ,
            buffer: bytes.to_vec(),
            ..ClientRequest::default()
        }
    }

    fn read(badge: u64, length: usize) -> ClientRequest {
        ClientRequest {
            badge,
            opcode: Opcode::Read as u8,
            grant: grant_flags::WRITE,
            buffer: vec![0; length],
            ..ClientRequest::default()
        }
    }
}

/// A request delivered to the server and not yet answered.
struct Pending {
    id: u64,
    slot: usize,
    request: ClientRequest,
}

/// The armed `RECEIVE`.
struct Receive {
    user_data: u64,
    address: u64,
    busy: Vec<bool>,
    delivered: usize,
}

/// What the fake kernel knows and saw.
#[derive(Default)]
struct Endpoint {
    /// Sent by clients, not yet delivered.
    waiting: VecDeque<ClientRequest>,
    /// Delivered, not yet answered.
    pending: Vec<Pending>,
    /// Answers the clients got: (their request, the result, the handle).
    answered: Vec<(ClientRequest, i32, u32)>,
    receive: Option<Receive>,
    next_id: u64,
    /// Every submission taken, in order.
    taken: Vec<Submission>,
    /// Every `ring_enter` call.
    calls: usize,
    /// Completions of other things, posted at the next `ring_enter`.
    extra: Vec<Completion>,
    /// The `RECEIVE` ends (a final completion without `MORE`) after it
    /// has delivered this many requests.
    end_receive_after: Option<usize>,
    /// The slot the next delivery claims to use, instead of the real one.
    lie_about_slot: Option<i32>,
}

impl Endpoint {
    fn send(&mut self, request: ClientRequest) {
        self.waiting.push_back(request);
    }

    /// The submissions of `opcode` taken so far.
    fn taken_of(&self, opcode: Opcode) -> Vec<Submission> {
        self.taken
            .iter()
            .filter(|submission| submission.opcode == opcode as u8)
            .copied()
            .collect()
    }

    /// Runs one submission; returns its completion, if it has one now.
    fn execute(&mut self, submission: &Submission) -> Option<Completion> {
        let complete = |result: i32| {
            Some(Completion {
                user_data: submission.user_data,
                result,
                flags: 0,
            })
        };
        match Opcode::try_from(submission.opcode) {
            Ok(Opcode::Receive) => {
                if submission.handle != SERVICE {
                    return complete(Errno::BadHandle.result());
                }
                let slots = (submission.length / RequestMessage::SIZE) as usize;
                assert!(self.receive.is_none(), "one RECEIVE at a time");
                // Slots still busy with pending requests stay busy.
                let mut busy = vec![false; slots];
                for pending in &self.pending {
                    busy[pending.slot] = true;
                }
                self.receive = Some(Receive {
                    user_data: submission.user_data,
                    address: submission.address,
                    busy,
                    delivered: 0,
                });
                None
            }
            Ok(Opcode::Reply) => {
                let Ok(result) = i32::try_from(submission.arguments[1] as i64) else {
                    return complete(Errno::InvalidArgument.result());
                };
                let id = submission.arguments[0];
                let Some(position) = self.pending.iter().position(|pending| pending.id == id)
                else {
                    return complete(Errno::NotFound.result());
                };
                let pending = self.pending.remove(position);
                if let Some(receive) = &mut self.receive {
                    receive.busy[pending.slot] = false;
                }
                self.answered
                    .push((pending.request, result, submission.handle));
                complete(0)
            }
            Ok(opcode @ (Opcode::CopyIn | Opcode::CopyOut)) => {
                let id = submission.arguments[0];
                let Some(pending) = self.pending.iter_mut().find(|pending| pending.id == id) else {
                    return complete(Errno::NotFound.result());
                };
                let to_client = opcode == Opcode::CopyOut;
                let needed = if to_client {
                    grant_flags::WRITE
                } else {
                    grant_flags::READ
                };
                if pending.request.grant & needed == 0 {
                    return complete(Errno::NotPermitted.result());
                }
                // As the real kernel: a copy that would leave the grant
                // copies nothing.
                let grant = &mut pending.request.buffer;
                let start = submission.offset as usize;
                let count = submission.length as usize;
                if start + count > grant.len() {
                    return complete(Errno::Fault.result());
                }
                let address = submission.address as *mut u8;
                // SAFETY: the address is a live buffer of the test, at
                // least `length` bytes, lent for the `run` in progress.
                unsafe {
                    if to_client {
                        let bytes = core::slice::from_raw_parts(address, count);
                        grant[start..start + count].copy_from_slice(bytes);
                    } else {
                        let bytes = core::slice::from_raw_parts_mut(address, count);
                        bytes.copy_from_slice(&grant[start..start + count]);
                    }
                }
                complete(count as i32)
            }
            Ok(_) => complete(0),
            Err(error) => complete(error.result()),
        }
    }

    /// Delivers waiting requests into free slots of the armed `RECEIVE`.
    fn deliver(&mut self) -> Vec<Completion> {
        let mut completions = Vec::new();
        while let Some(receive) = &mut self.receive {
            let Some(slot) = receive.busy.iter().position(|busy| !busy) else {
                break;
            };
            let Some(request) = self.waiting.pop_front() else {
                break;
            };
            self.next_id += 1;
            let message = RequestMessage {
                request: 1000 + self.next_id,
                badge: request.badge,
                opcode: request.opcode,
                grant: request.grant,
                length: request.buffer.len() as u32,
                arguments: request.arguments,
                ..RequestMessage::default()
            };
            let address = receive.address as *mut RequestMessage;
            // SAFETY: the slot array is the test's 'static slots, and
            // slot < the count the RECEIVE gave.
            unsafe { address.add(slot).write_volatile(message) };
            receive.busy[slot] = true;
            receive.delivered += 1;
            let last = self.end_receive_after == Some(receive.delivered);
            completions.push(Completion {
                user_data: receive.user_data,
                result: self.lie_about_slot.take().unwrap_or(slot as i32),
                flags: if last { 0 } else { completion_flags::MORE },
            });
            self.pending.push(Pending {
                id: message.request,
                slot,
                request,
            });
            if last {
                self.receive = None;
                self.end_receive_after = None;
            }
        }
        completions
    }
}

/// A kernel that runs everything at once, as the endpoint says.
struct FakeKernel {
    base: *mut u8,
    endpoint: Rc<RefCell<Endpoint>>,
}

impl FakeKernel {
    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: header offsets are aligned u32s inside the region, which
        // outlives the kernel.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast::<u32>()) }
    }

    fn post(&self, completion: Completion) {
        let head = self.word(header_offset::CQ_HEAD).load(Ordering::Acquire);
        let tail = self.word(header_offset::CQ_TAIL).load(Ordering::Relaxed);
        assert!(
            tail.wrapping_sub(head) < CQ_ENTRIES,
            "the test overfilled the CQ"
        );
        let slot = (tail & (CQ_ENTRIES - 1)) as usize;
        // SAFETY: the slot is inside the CQ array of the region.
        unsafe {
            self.base
                .add(CQ_OFFSET as usize + slot * 16)
                .cast::<Completion>()
                .write_volatile(completion)
        };
        self.word(header_offset::CQ_TAIL)
            .store(tail.wrapping_add(1), Ordering::Release);
    }
}

impl Kernel for FakeKernel {
    fn ring_enter(&mut self, to_submit: u32, _min_complete: u32, _flags: u32) -> i64 {
        let mut endpoint = self.endpoint.borrow_mut();
        endpoint.calls += 1;
        let head = self.word(header_offset::SQ_HEAD).load(Ordering::Acquire);
        let tail = self.word(header_offset::SQ_TAIL).load(Ordering::Acquire);
        let count = to_submit.min(tail.wrapping_sub(head));
        let mut completions = core::mem::take(&mut endpoint.extra);
        for index in 0..count {
            let slot = (head.wrapping_add(index) & (SQ_ENTRIES - 1)) as usize;
            // SAFETY: the slot is inside the SQ array of the region.
            let submission = unsafe {
                self.base
                    .add(SQ_OFFSET as usize + slot * 64)
                    .cast::<Submission>()
                    .read_volatile()
            };
            endpoint.taken.push(submission);
            completions.extend(endpoint.execute(&submission));
        }
        self.word(header_offset::SQ_HEAD)
            .store(head.wrapping_add(count), Ordering::Release);
        completions.extend(endpoint.deliver());
        for completion in completions {
            self.post(completion);
        }
        i64::from(count)
    }
}

/// Message slots for a test (leaked: a test is short).
fn slots(count: usize) -> &'static mut [RequestMessage] {
    Box::leak(vec![RequestMessage::default(); count].into_boxed_slice())
}

/// The next event, waiting if need be; panics on a ring error.
fn wait(server: &mut Server, ring: &mut Ring<FakeKernel>) -> Event {
    server.wait(ring).expect("the fake kernel never fails")
}

/// The next event, which must be a request.
fn next_request(server: &mut Server, ring: &mut Ring<FakeKernel>) -> (usize, RequestMessage) {
    match wait(server, ring) {
        Event::Request { slot, message } => (slot, message),
        other => panic!("a request expected, got {other:?}"),
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn new_arms_one_multishot_receive_over_the_slots() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let slots = slots(4);
    let address = slots.as_ptr() as u64;
    let server = Server::new(&mut ring, slots, SERVICE).unwrap();
    let endpoint = endpoint.borrow();
    let [receive] = endpoint.taken[..] else {
        panic!("one submission expected, got {:?}", endpoint.taken);
    };
    let expected = ops::receive(SERVICE, address, 4).with_user_data(RECEIVE_USER_DATA);
    assert_eq!(receive, expected);
    assert_eq!(receive.length, 4 * 64);
    assert_eq!(server.stopped(), None);
}

#[test]
fn new_refuses_no_slots_and_too_many() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    for count in [0, RECEIVE_SLOTS_MAX as usize + 1] {
        let result = Server::new(&mut ring, slots(count), SERVICE);
        assert_eq!(result.err(), Some(Errno::InvalidArgument), "{count} slots");
    }
    assert!(endpoint.borrow().taken.is_empty(), "nothing submitted");
}

#[test]
fn requests_arrive_in_order_with_their_slot_and_message() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(4), SERVICE).unwrap();
    assert_eq!(server.next(&mut ring), None, "nothing sent yet");
    endpoint
        .borrow_mut()
        .send(ClientRequest::write(7, b"hello"));
    endpoint.borrow_mut().send(ClientRequest::read(8, 10));

    let (slot, message) = next_request(&mut server, &mut ring);
    assert_eq!(slot, 0);
    assert_eq!(
        (message.badge, message.opcode, message.grant, message.length),
        (7, Opcode::Write as u8, grant_flags::READ, 5)
    );
    let (slot, message) = next_request(&mut server, &mut ring);
    assert_eq!(slot, 1);
    assert_eq!((message.badge, message.opcode), (8, Opcode::Read as u8));
    assert_eq!(server.next(&mut ring), None);
}

#[test]
fn reply_answers_the_client_and_frees_the_slot_for_the_next_request() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(1), SERVICE).unwrap();
    for badge in 1..=2 {
        endpoint
            .borrow_mut()
            .send(ClientRequest::write(badge, b"x"));
    }
    let (_, first) = next_request(&mut server, &mut ring);
    assert_eq!(first.badge, 1);
    // One slot: the second request waits in the kernel until a reply.
    assert_eq!(server.next(&mut ring), None);
    assert_eq!(endpoint.borrow().waiting.len(), 1);

    server.reply(&mut ring, first.request, 1);
    let (slot, second) = next_request(&mut server, &mut ring);
    assert_eq!((slot, second.badge), (0, 2));
    server.reply_passing(&mut ring, second.request, 9, 4);
    ring.submit().unwrap();

    let endpoint = endpoint.borrow();
    let answers: Vec<_> = endpoint
        .answered
        .iter()
        .map(|(request, result, handle)| (request.badge, *result, *handle))
        .collect();
    assert_eq!(answers, [(1, 1, 0), (2, 9, 4)]);
    assert_eq!(server.reply_errors(), 0);
    // Fire and forget: a reply that works completes nothing.
    assert!(
        endpoint
            .taken_of(Opcode::Reply)
            .iter()
            .all(|reply| reply.flags & crate::abi::submission_flags::SKIP_SUCCESS != 0)
    );
}

#[test]
fn a_negative_result_reaches_the_client_whole() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(2), SERVICE).unwrap();
    endpoint.borrow_mut().send(ClientRequest::read(1, 4));
    let (_, message) = next_request(&mut server, &mut ring);
    server.reply(&mut ring, message.request, Errno::Interrupted.result());
    ring.submit().unwrap();
    assert_eq!(endpoint.borrow().answered[0].1, -4);
    assert_eq!(server.reply_errors(), 0, "the kernel took it");
}

#[test]
fn steady_state_costs_one_submission_per_request() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(4), SERVICE).unwrap();
    let requests = 50;
    for badge in 0..requests {
        endpoint.borrow_mut().send(ClientRequest::write(badge, b""));
    }
    for _ in 0..requests {
        let (_, message) = next_request(&mut server, &mut ring);
        server.reply(&mut ring, message.request, 0);
    }
    ring.submit().unwrap();
    let endpoint = endpoint.borrow();
    assert_eq!(endpoint.answered.len(), requests as usize);
    assert_eq!(endpoint.taken_of(Opcode::Receive).len(), 1, "armed once");
    assert_eq!(endpoint.taken_of(Opcode::Reply).len(), requests as usize);
    assert_eq!(endpoint.taken.len(), requests as usize + 1);
    // Each wait publishes the replies pushed since the last one and
    // fetches the requests that are in: fewer calls than requests.
    assert!(
        endpoint.calls < requests as usize,
        "{} calls",
        endpoint.calls
    );
}

#[test]
fn copy_in_and_copy_out_move_bytes_through_the_grant() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(2), SERVICE).unwrap();
    endpoint
        .borrow_mut()
        .send(ClientRequest::write(1, b"hello, world"));
    endpoint.borrow_mut().send(ClientRequest::read(2, 8));

    let (_, write) = next_request(&mut server, &mut ring);
    let mut buffer = [0u8; 5];
    assert_eq!(server.copy_in(&mut ring, &write, 0, &mut buffer), Ok(5));
    assert_eq!(&buffer, b"hello");
    assert_eq!(server.copy_in(&mut ring, &write, 7, &mut buffer), Ok(5));
    assert_eq!(&buffer, b"world");
    assert_eq!(
        server.copy_in(&mut ring, &write, 10, &mut buffer),
        Ok(2),
        "only what is left of the grant"
    );
    assert_eq!(&buffer[..2], b"ld");
    let copies = endpoint.borrow().taken_of(Opcode::CopyIn).len();
    assert_eq!(server.copy_in(&mut ring, &write, 12, &mut buffer), Ok(0));
    assert_eq!(
        server.copy_in(&mut ring, &write, u64::MAX, &mut buffer),
        Ok(0)
    );
    assert_eq!(
        endpoint.borrow().taken_of(Opcode::CopyIn).len(),
        copies,
        "nothing left to copy: no system call"
    );
    assert_eq!(
        server.copy_out(&mut ring, &write, 0, b"no"),
        Err(Errno::NotPermitted),
        "a WRITE's grant is read-only"
    );

    let (_, read) = next_request(&mut server, &mut ring);
    assert_eq!(server.copy_out(&mut ring, &read, 2, b"abc"), Ok(3));
    assert_eq!(
        server.copy_out(&mut ring, &read, 6, b"abcdef"),
        Ok(2),
        "cut at the end of the grant"
    );
    server.reply(&mut ring, read.request, 5);
    assert_eq!(
        server.copy_out(&mut ring, &read, 0, b"late"),
        Err(Errno::NotFound),
        "only while the request is pending"
    );
    let endpoint = endpoint.borrow();
    let (request, result, _) = &endpoint.answered[0];
    assert_eq!((&request.buffer[..], *result), (&b"\0\0abc\0ab"[..], 5));
}

#[test]
fn completions_that_arrive_during_a_copy_are_not_lost() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(4), SERVICE).unwrap();
    endpoint.borrow_mut().send(ClientRequest::write(1, b"a"));
    let (_, first) = next_request(&mut server, &mut ring);
    // While the copy runs, another request and an interrupt come in.
    endpoint.borrow_mut().send(ClientRequest::write(2, b"b"));
    endpoint.borrow_mut().extra.push(Completion {
        user_data: 77,
        result: 0,
        flags: completion_flags::MORE,
    });
    let mut byte = [0u8];
    assert_eq!(server.copy_in(&mut ring, &first, 0, &mut byte), Ok(1));
    assert_eq!(
        server.next(&mut ring),
        Some(Event::Other(Completion {
            user_data: 77,
            result: 0,
            flags: completion_flags::MORE,
        }))
    );
    let (_, second) = next_request(&mut server, &mut ring);
    assert_eq!(second.badge, 2);
}

#[test]
fn failed_replies_are_counted_not_returned() {
    let region = Region::new();
    let (mut ring, _endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(1), SERVICE).unwrap();
    server.reply(&mut ring, 12345, 0);
    server.reply(&mut ring, 12346, 0);
    ring.submit().unwrap();
    assert_eq!(
        server.next(&mut ring),
        None,
        "reply completions are the server's"
    );
    assert_eq!(server.reply_errors(), 2);
    assert_eq!(server.last_reply_error(), Some(Errno::NotFound));
}

#[test]
fn a_receive_that_ends_is_armed_again() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(4), SERVICE).unwrap();
    endpoint.borrow_mut().end_receive_after = Some(2);
    for badge in 1..=4 {
        endpoint.borrow_mut().send(ClientRequest::write(badge, b""));
    }
    let mut badges = Vec::new();
    for _ in 0..4 {
        let (_, message) = next_request(&mut server, &mut ring);
        badges.push(message.badge);
    }
    assert_eq!(badges, [1, 2, 3, 4], "nothing lost across the re-arm");
    let endpoint = endpoint.borrow();
    let receives = endpoint.taken_of(Opcode::Receive);
    assert_eq!(receives.len(), 2);
    assert_eq!(receives[0], receives[1], "the same RECEIVE again");
    assert_eq!(server.stopped(), None);
}

#[test]
fn a_failed_receive_stops_the_server_once() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(2), SERVICE + 1).unwrap();
    assert_eq!(
        wait(&mut server, &mut ring),
        Event::Stopped(Errno::BadHandle)
    );
    assert_eq!(server.stopped(), Some(Errno::BadHandle));
    // Not armed again: other completions still come through.
    endpoint.borrow_mut().extra.push(Completion {
        user_data: 5,
        ..Completion::default()
    });
    ring.submit_and_wait(1).unwrap();
    assert!(matches!(server.next(&mut ring), Some(Event::Other(_))));
    assert_eq!(endpoint.borrow().taken_of(Opcode::Receive).len(), 1);
}

#[test]
fn other_completions_are_handed_back_in_order() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(2), SERVICE).unwrap();
    ring.push(ops::nop().with_user_data(40)).unwrap();
    endpoint.borrow_mut().send(ClientRequest::write(1, b""));
    ring.push(ops::nop().with_user_data(41)).unwrap();
    let events: Vec<_> = (0..3).map(|_| wait(&mut server, &mut ring)).collect();
    assert!(matches!(
        events[0],
        Event::Other(Completion { user_data: 40, .. })
    ));
    assert!(matches!(
        events[1],
        Event::Other(Completion { user_data: 41, .. })
    ));
    assert!(matches!(events[2], Event::Request { .. }));
}

#[test]
fn a_slot_outside_the_array_is_dropped_and_counted() {
    let region = Region::new();
    let (mut ring, endpoint) = region.ring();
    let mut server = Server::new(&mut ring, slots(2), SERVICE).unwrap();
    endpoint.borrow_mut().lie_about_slot = Some(2);
    endpoint.borrow_mut().send(ClientRequest::write(1, b""));
    endpoint.borrow_mut().send(ClientRequest::write(2, b""));
    let (_, message) = next_request(&mut server, &mut ring);
    assert_eq!(message.badge, 2);
    assert_eq!(server.bad_slots(), 1);
}
