//! Forwarding: requests a client aims at a handle go to the EL0 server
//! behind it, and the server's answer comes back as the client's
//! completion.
//!
//! ```text
//!  client ring                 kernel                        server ring
//!  SQE READ h, buf ──► Forward { client, grant } ──► queue ──► slot k of its
//!                                                             RECEIVE buffer
//!                                                    CQE (RECEIVE, result k, MORE)
//!                     COPY_OUT id, offset, src ◄──────────── server copies
//!                     (checked against the grant)
//!  CQE (user_data, n) ◄── REPLY id, n ◄────────────────────── server answers;
//!                                                             slot k is free
//! ```
//!
//! A [`Forward`] lives from the client's submission until the server's
//! `REPLY` (or the client's cancellation, or either side's death). The
//! server never sees a client address: only the request id, the badge of
//! the handle the request came through, and the client's plain arguments.
//! Bytes move only through `COPY_IN`/`COPY_OUT`, inside the grant, while the
//! request is pending.
//!
//! # Invariants
//! - A forward is in its endpoint's queue or in one of the server's slots,
//!   never both; a busy slot holds exactly one forward.
//! - A request is delivered only when the server's CQ has a free slot for
//!   the delivery's completion (so none is ever lost); otherwise it waits
//!   in the queue, and delivery is tried again when the server enters the
//!   kernel or answers a request, or a slot of its CQ comes free without
//!   a completion (`SKIP_SUCCESS`: `engine::complete`, the SQ poller).

use super::engine;
use crate::process::address_space::AddressSpace;
use crate::process::handles::{EndpointId, Object};
use crate::process::{ProcessId, System};
use alloc::collections::VecDeque;
use libring::abi::{Errno, FIRST_FORWARDED_OPCODE, Opcode, RequestMessage, grant_flags};
use zerocopy::IntoBytes;

/// A server's endpoint.
pub struct Endpoint {
    pub server: ProcessId,
    pub name: heapless::String<16>,
    /// The server's armed multishot `RECEIVE`, if any.
    pub receive: Option<Receive>,
    /// Message slots holding a request not yet answered (bit per slot).
    pub busy_slots: u64,
    /// Forwards waiting for a free slot, oldest first.
    pub queue: VecDeque<u64>,
    /// The server has died: new requests fail with `ESRVDEAD`.
    pub dead: bool,
    /// Badges with more than one client handle (copies made by
    /// `PROCESS_GIVE`), and how many extra: only the last handle's close
    /// sends `RELEASE`.
    pub copies: alloc::vec::Vec<(u64, u32)>,
    /// `RELEASE`s the kernel has queued or delivered here (one per client
    /// handle closed) that the server has not answered yet.
    pub releases_owed: u32,
}

/// The most `RELEASE`s a server's endpoints may owe together
/// (`Endpoint::releases_owed`): past it `MINT` fails with `ENOMEM`, so a
/// server that never answers its `RELEASE`s (a process that mints and
/// closes without end on an endpoint of its own, say) makes the kernel
/// keep at most this many, plus one for each handle to it still held,
/// which its holder's handle table bounds. Live handles are not counted:
/// they are their holders' (256 a process), so clients that hold many
/// cannot stop a server from minting for others.
pub const MAX_RELEASES_OWED: u32 = 1024;

/// An armed `RECEIVE`.
#[derive(Clone, Copy)]
pub struct Receive {
    pub request: u64,
    pub address: u64,
    pub slots: u32,
    /// The slot array's pages in the linear map (at most two: 64 slots of
    /// 64 bytes), found when the `RECEIVE` was armed, and the server's
    /// `AddressSpace::unmaps` then: while that has not moved, a delivery
    /// writes its message straight there, with no page-table walk.
    pub pages: [usize; 2],
    pub unmaps: u64,
}

impl Receive {
    /// Where the message for user address `address` (a slot of this
    /// receive's array) is in the linear map, if the pages found when it
    /// was armed still hold (`unmaps` is the server's count now) and the
    /// message lies in one of them; `None` sends the caller the slow way.
    fn slot_in_linear_map(&self, address: u64, unmaps: u64) -> Option<*mut u8> {
        if unmaps != self.unmaps {
            return None;
        }
        let page_size = libring::abi::PAGE_SIZE;
        let from_first_page = address.checked_sub(self.address & !(page_size - 1))?;
        let (page, offset) = (from_first_page / page_size, from_first_page % page_size);
        if page > 1 || offset + RequestMessage::SIZE as u64 > page_size {
            return None;
        }
        Some((self.pages[page as usize] + offset as usize) as *mut u8)
    }
}

/// The client's buffer a server may read or write.
#[derive(Clone, Copy)]
pub struct Grant {
    pub address: u64,
    pub length: u64,
    pub server_may_write: bool,
}

/// One forwarded request.
pub struct Forward {
    pub endpoint: EndpointId,
    /// The client process and its request; `None` once the client has
    /// cancelled or died (the server's answer then goes nowhere).
    pub client: Option<(ProcessId, u64)>,
    pub message: RequestMessage,
    pub grant: Option<Grant>,
    /// The server's message slot, once delivered.
    pub slot: Option<u32>,
}

/// Creates an endpoint served by `server`.
/// `None` once the 32-bit endpoint ids have run out (ids are never reused).
/// `None` too if the kernel heap has no room for it.
pub fn create_endpoint(system: &mut System, server: ProcessId, name: &str) -> Option<EndpointId> {
    system.endpoints.try_reserve_one().ok()?;
    system.next_endpoint = system.next_endpoint.checked_add(1)?;
    let id = system.next_endpoint;
    let mut short = heapless::String::new();
    for character in name.chars() {
        if short.push(character).is_err() {
            break;
        }
    }
    let endpoint = Endpoint {
        server,
        name: short,
        receive: None,
        busy_slots: 0,
        queue: VecDeque::new(),
        dead: false,
        copies: alloc::vec::Vec::new(),
        releases_owed: 0,
    };
    system.endpoints.insert(id, endpoint);
    Some(id)
}

/// The endpoint called `name`, if one exists and is alive.
pub fn find_endpoint(system: &System, name: &str) -> Option<EndpointId> {
    system
        .endpoints
        .iter()
        .find(|(_, endpoint)| endpoint.name == name && !endpoint.dead)
        .map(|(id, _)| id)
}

/// A client's forwarded operation: checks the handle and the buffer, then
/// queues the request for the server and delivers what can be delivered.
/// `Err` completes the client's request at once; `Ok` leaves it running
/// (marked so in the client's request list, with the forward's id, for
/// [`client_gave_up`]) until the server answers, and gives that id.
///
/// The client, the endpoint and the forward table are separate fields of
/// `System`, borrowed side by side: each is looked up once.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    system: &mut System,
    client: ProcessId,
    client_request: u64,
    opcode: u8,
    handle: u32,
    address: u64,
    length: u32,
    operation_flags: u32,
    offset: u64,
    arguments: [u64; 3],
) -> Result<u64, Errno> {
    let System {
        processes,
        endpoints,
        forwards,
        ..
    } = system;
    let process = processes.get_mut(client).ok_or(Errno::BadHandle)?;
    let (endpoint, badge) = match process.handles.get(handle)? {
        Object::Client { endpoint, badge } => (endpoint, badge),
        _ => return Err(Errno::NotPermitted),
    };
    // The buffer, if the operation has one, must be the client's, and
    // readable or writable as the server will use it.
    let direction = Opcode::try_from(opcode)
        .ok()
        .and_then(Opcode::server_writes_buffer);
    let grant = match direction {
        Some(server_may_write) => {
            if server_may_write {
                process
                    .address_space
                    .check_writable(address, length as usize)?;
            } else {
                process
                    .address_space
                    .check_readable(address, length as usize)?;
            }
            Some(Grant {
                address,
                length: length as u64,
                server_may_write,
            })
        }
        None => None,
    };
    debug_assert!(opcode >= FIRST_FORWARDED_OPCODE);
    let target = match endpoints.get_mut(endpoint) {
        Some(target) if !target.dead => target,
        _ => return Err(Errno::ServerDead),
    };
    if forwards.try_reserve_one().is_err() || target.queue.try_reserve(1).is_err() {
        return Err(Errno::OutOfMemory);
    }
    let grant_bits = match grant {
        Some(Grant {
            server_may_write: true,
            ..
        }) => grant_flags::WRITE,
        Some(Grant {
            server_may_write: false,
            ..
        }) => grant_flags::READ,
        None => 0,
    };
    let id = forwards.insert_with(|id| Forward {
        endpoint,
        client: Some((client, client_request)),
        message: RequestMessage {
            request: id,
            badge,
            opcode,
            grant: grant_bits,
            length,
            operation_flags,
            client,
            offset,
            arguments,
            ..RequestMessage::default()
        },
        grant,
        slot: None,
    });
    target.queue.push_back(id);
    // Running, and where its forward is, before anything is delivered.
    let requests = &mut process.ring.requests;
    if let Some(index) = requests.index_of(client_request) {
        requests.set_running(index);
        if let Some(request) = requests.get_mut(index) {
            request.forward = id;
        }
    }
    deliver(system, endpoint);
    Ok(id)
}

/// Puts `forward` in the table (its message gets the id the table gives
/// it), queues it at its endpoint, and delivers what can be delivered.
/// Returns the id. `ENOMEM`, with nothing changed, if the kernel heap has
/// no room for it.
fn queue(system: &mut System, forward: Forward) -> Result<u64, Errno> {
    let endpoint = forward.endpoint;
    let room = system.forwards.try_reserve_one().is_ok()
        && system
            .endpoints
            .get_mut(endpoint)
            .is_none_or(|target| target.queue.try_reserve(1).is_ok());
    if !room {
        return Err(Errno::OutOfMemory);
    }
    let id = system.forwards.insert_with(|id| Forward {
        message: RequestMessage {
            request: id,
            ..forward.message
        },
        ..forward
    });
    if let Some(target) = system.endpoints.get_mut(endpoint) {
        target.queue.push_back(id);
    }
    deliver(system, endpoint);
    Ok(id)
}

/// A client handle to `endpoint` with `badge` is gone (closed, or its
/// process ended): the server gets a `RELEASE` with that badge, so it can
/// let go of whatever the badge names (a file server's open file). Nobody
/// waits for the answer. Nothing if the endpoint is dead.
pub fn client_handle_closed(system: &mut System, endpoint: EndpointId, badge: u64) {
    let Some(target) = system.endpoints.get_mut(endpoint) else {
        return;
    };
    if target.dead {
        return;
    }
    // Another handle with this badge lives on: not the last close.
    if let Some(index) = target
        .copies
        .iter()
        .position(|&(copied, _)| copied == badge)
    {
        target.copies[index].1 -= 1;
        if target.copies[index].1 == 0 {
            target.copies.swap_remove(index);
        }
        return;
    }
    let message = RequestMessage {
        badge,
        opcode: Opcode::Release as u8,
        ..RequestMessage::default()
    };
    // No room for it (the kernel heap is full): the server never hears of
    // this handle's end, and keeps what it named until it ends itself.
    let queued = queue(
        system,
        Forward {
            endpoint,
            client: None,
            message,
            grant: None,
            slot: None,
        },
    );
    if queued.is_ok()
        && let Some(target) = system.endpoints.get_mut(endpoint)
    {
        target.releases_owed += 1;
    }
}

/// A client handle to `endpoint` with `badge` has been copied: one more
/// close before the `RELEASE`.
pub fn client_handle_copied(system: &mut System, endpoint: EndpointId, badge: u64) {
    let Some(target) = system.endpoints.get_mut(endpoint) else {
        return;
    };
    if let Some((_, extra)) = target
        .copies
        .iter_mut()
        .find(|(copied, _)| *copied == badge)
    {
        *extra += 1;
    } else if target.copies.try_reserve(1).is_ok() {
        target.copies.push((badge, 1));
    }
    // (No room to count the copy: its close sends the RELEASE early, which
    // a server must take anyway, as a client may send one itself.)
}

/// The client of forwarded request `request` (pending, delivered to
/// `server`), and the `SPAWN` handles it listed.
pub fn spawn_client(
    system: &System,
    server: ProcessId,
    request: u64,
) -> Result<(ProcessId, [u64; 3]), Errno> {
    let forward = owned_forward(system, server, request)?;
    let (client, _) = forward.client.ok_or(Errno::Cancelled)?;
    if forward.message.opcode != Opcode::Spawn as u8 {
        return Err(Errno::NotPermitted);
    }
    Ok((client, forward.message.arguments))
}

/// `RECEIVE`: arms the server's multishot receive on its endpoint.
pub fn receive(
    system: &mut System,
    server: ProcessId,
    request: u64,
    handle: u32,
    address: u64,
    slots: u32,
) -> Result<(), Errno> {
    let process = system.process(server).ok_or(Errno::BadHandle)?;
    let Object::Service { endpoint } = process.handles.get(handle)? else {
        return Err(Errno::NotPermitted);
    };
    let pages = process
        .address_space
        .writable_pages(address, (slots * RequestMessage::SIZE) as usize)?;
    let unmaps = process.address_space.unmaps();
    let target = system.endpoints.get_mut(endpoint).ok_or(Errno::BadHandle)?;
    if target.receive.is_some() {
        return Err(Errno::Busy);
    }
    if target.dead {
        return Err(Errno::ServerDead);
    }
    // Whoever takes the requests serves the endpoint: its maker (init)
    // may have handed the service handle on (`PROCESS_GIVE`).
    // (Requests queued are anybody's; ones delivered to the old server
    // are its to answer first.)
    if target.server != server {
        if target.busy_slots != 0 {
            return Err(Errno::Busy);
        }
        target.server = server;
    }
    target.receive = Some(Receive {
        request,
        address,
        slots,
        pages,
        unmaps,
    });
    deliver(system, endpoint);
    Ok(())
}

/// Hands queued requests of `endpoint` to its server, as long as it has an
/// armed `RECEIVE`, a free message slot and a free CQ slot.
///
/// The endpoint, the server and each forward are looked up once for the
/// whole run (the tables are separate fields of `System`, borrowed side
/// by side), however many requests it hands over.
pub fn deliver(system: &mut System, endpoint: EndpointId) {
    let System {
        endpoints,
        forwards,
        processes,
        ..
    } = system;
    let Some(target) = endpoints.get_mut(endpoint) else {
        return;
    };
    let Some(receive) = target.receive.as_ref() else {
        return;
    };
    if target.queue.is_empty() {
        return;
    }
    let server = target.server;
    let Some(process) = processes.get_mut(server) else {
        return;
    };
    // The lowest free slot: one bit per slot, up to 64.
    let all = u64::MAX >> (64 - receive.slots.clamp(1, 64));
    while let Some(&forward_id) = target.queue.front() {
        let free = all & !target.busy_slots;
        if free == 0 {
            return;
        }
        if process.ring.free_slots() == 0 {
            return; // tried again when the server next enters the kernel
        }
        let slot = free.trailing_zeros();
        let Some(forward) = forwards.get_mut(forward_id) else {
            return;
        };
        let address = receive.address + (slot * RequestMessage::SIZE) as u64;
        let written = match receive.slot_in_linear_map(address, process.address_space.unmaps()) {
            Some(target) => {
                // SAFETY: `target` is the message's 64 bytes inside one
                // page of the server's slot array, mapped writable for it
                // when the RECEIVE was armed and not unmapped since (the
                // address space's unmap count has not moved). Written as
                // one value (eight stores, no `memcpy` call), at whatever
                // alignment the server chose.
                unsafe {
                    core::ptr::write_unaligned(target.cast::<RequestMessage>(), forward.message)
                };
                Ok(())
            }
            None => process
                .address_space
                .copy_to_user(address, forward.message.as_bytes()),
        };
        if written.is_err() {
            // The server unmapped its own message buffer: its RECEIVE ends.
            let request = receive.request;
            target.receive = None;
            engine::finish(system, server, request, Errno::Fault.result());
            return;
        }
        target.queue.pop_front();
        target.busy_slots |= 1 << slot;
        forward.slot = Some(slot);
        engine::post_event_to(process, receive.request, slot as i32);
    }
}

/// Tries delivery on every endpoint `server` serves (after it has made room
/// in its CQ).
pub fn deliver_to(system: &mut System, server: ProcessId) {
    // Only endpoints with something queued (usually none): this runs at
    // every ring_enter. Endpoint ids grow, so each is visited once.
    let mut after = 0;
    loop {
        let next = system.endpoints.iter().find(|&(id, endpoint)| {
            id > after && endpoint.server == server && !endpoint.queue.is_empty()
        });
        let Some((endpoint, _)) = next else { return };
        deliver(system, endpoint);
        after = endpoint;
    }
}

/// The forward `request` if it was delivered to `server` and is pending.
fn owned_forward(system: &System, server: ProcessId, request: u64) -> Result<&Forward, Errno> {
    let forward = system.forwards.get(request).ok_or(Errno::NotFound)?;
    let endpoint = system
        .endpoints
        .get(forward.endpoint)
        .ok_or(Errno::NotFound)?;
    if endpoint.server != server || forward.slot.is_none() {
        return Err(Errno::NotFound);
    }
    Ok(forward)
}

/// The client waiting for forwarded request `request` of `server`, if the
/// request is the server's and its client has not given up.
pub fn client_of(system: &System, server: ProcessId, request: u64) -> Option<ProcessId> {
    let forward = owned_forward(system, server, request).ok()?;
    forward.client.map(|(client, _)| client)
}

/// `REPLY`: completes forwarded request `request` for its client with
/// `result` (or, with `pass`, a handle moved to the client), and frees its
/// slot.
pub fn reply(
    system: &mut System,
    server: ProcessId,
    request: u64,
    result: i32,
    pass: u32,
) -> Result<(), Errno> {
    // The forward, its endpoint and the server, each looked up once (the
    // tables are borrowed side by side).
    let System {
        processes,
        endpoints,
        forwards,
        ..
    } = system;
    let forward = forwards.get(request).ok_or(Errno::NotFound)?;
    let endpoint = forward.endpoint;
    let target = endpoints.get_mut(endpoint).ok_or(Errno::NotFound)?;
    // Only a request delivered to this server is its to answer.
    let Some(slot) = forward.slot.filter(|_| target.server == server) else {
        return Err(Errno::NotFound);
    };
    let client = forward.client;
    // Only the kernel's own RELEASEs (no client) were counted: a client
    // may send RELEASE itself, and answering that pays nothing back.
    let released = client.is_none() && forward.message.opcode == Opcode::Release as u8;
    // Check the handle to pass before anything changes.
    let passed = match pass {
        0 => None,
        handle => {
            let process = processes.get_mut(server).ok_or(Errno::BadHandle)?;
            let object = process.handles.get(handle)?;
            let _ = process.handles.remove(handle);
            Some(object)
        }
    };
    forwards.delete(request);
    target.busy_slots &= !(1 << slot);
    if released {
        target.releases_owed = target.releases_owed.saturating_sub(1);
    }
    // A slot is free: what waits for one can go (after the answer).
    let queued = !target.queue.is_empty();
    let mut undelivered = passed;
    if let Some((client, client_request)) = client {
        let mut result = result;
        if let Some(object) = passed
            && let Some(process) = system.process(client)
        {
            result = match process.handles.insert(object) {
                Ok(handle) => {
                    undelivered = None;
                    handle as i32
                }
                Err(error) => error.result(),
            };
        }
        engine::finish(system, client, client_request, result);
        engine::advance_later(system, client);
    }
    // A handle nobody could take (the client gave up, or its table is
    // full) is closed, as if the server had closed it.
    if let Some(object) = undelivered {
        crate::process::handle_dropped(system, object);
    }
    if queued {
        deliver(system, endpoint);
    }
    Ok(())
}

/// `COPY_IN` / `COPY_OUT`: moves bytes between the server's buffer and the
/// grant of forwarded request `request`. Returns the number of bytes.
pub fn copy(
    system: &mut System,
    server: ProcessId,
    request: u64,
    to_client: bool,
    offset: u64,
    address: u64,
    length: u32,
) -> Result<i32, Errno> {
    let forward = owned_forward(system, server, request)?;
    let (client, _) = forward.client.ok_or(Errno::Cancelled)?;
    let grant = forward.grant.ok_or(Errno::NotPermitted)?;
    if grant.server_may_write != to_client {
        return Err(Errno::NotPermitted);
    }
    let end = offset.checked_add(length as u64).ok_or(Errno::Fault)?;
    if end > grant.length {
        return Err(Errno::Fault);
    }
    let (source, source_address, target, target_address) = if to_client {
        (server, address, client, grant.address + offset)
    } else {
        (client, grant.address + offset, server, address)
    };
    // One copy, frame to frame; a bad buffer on either side copies nothing.
    let source = &system
        .processes
        .get(source)
        .ok_or(Errno::Fault)?
        .address_space;
    let target = &system
        .processes
        .get(target)
        .ok_or(Errno::Fault)?
        .address_space;
    AddressSpace::copy_between(
        source,
        source_address,
        target,
        target_address,
        length as usize,
    )?;
    Ok(length as i32)
}

/// `MINT`: a new client handle to the endpoint of service handle `handle`.
/// Fails with `ENOMEM` when the endpoint's server owes
/// [`MAX_RELEASES_OWED`] `RELEASE`s on its endpoints together.
pub fn mint(system: &mut System, server: ProcessId, handle: u32, badge: u64) -> Result<i32, Errno> {
    let process = system.process(server).ok_or(Errno::BadHandle)?;
    let Object::Service { endpoint } = process.handles.get(handle)? else {
        return Err(Errno::NotPermitted);
    };
    let serving = system
        .endpoints
        .get(endpoint)
        .ok_or(Errno::ServerDead)?
        .server;
    let owed: u32 = system
        .endpoints
        .values()
        .filter(|other| other.server == serving)
        .map(|other| other.releases_owed)
        .sum();
    if owed >= MAX_RELEASES_OWED {
        return Err(Errno::OutOfMemory);
    }
    let process = system.process(server).ok_or(Errno::BadHandle)?;
    Ok(process.handles.insert(Object::Client { endpoint, badge })? as i32)
}

/// Client request `client_request`, forwarded as `id`, has completed: if
/// that was not the server's answer (the client cancelled, or it was cut
/// off by its chain or a link timeout), forget the client side. A queued
/// request never reaches the server; a delivered one is answered into
/// nothing. (Answered, the forward is gone already, or its id names
/// another request now: nothing to do.)
pub fn client_gave_up(system: &mut System, client: ProcessId, client_request: u64, id: u64) {
    let Some(forward) = system.forwards.get(id) else {
        return;
    };
    if forward.client != Some((client, client_request)) {
        return;
    }
    let (endpoint, slot) = (forward.endpoint, forward.slot);
    match slot {
        None => {
            system.forwards.remove(id);
            if let Some(target) = system.endpoints.get_mut(endpoint) {
                target.queue.retain(|queued| *queued != id);
            }
        }
        Some(_) => {
            if let Some(forward) = system.forwards.get_mut(id) {
                forward.client = None;
            }
        }
    }
}

/// Process `id` is ending (or was never started). Its endpoints die, and
/// leave the table: every request they hold completes with `ESRVDEAD` in
/// its client's ring. Its own requests to other servers are forgotten.
pub fn process_ended(system: &mut System, id: ProcessId) {
    let mut orphans: alloc::vec::Vec<(ProcessId, u64)> = alloc::vec::Vec::new();
    for endpoint in system
        .endpoints
        .values_mut()
        .filter(|endpoint| endpoint.server == id)
    {
        endpoint.dead = true;
        endpoint.receive = None;
        endpoint.queue.clear();
        endpoint.busy_slots = 0;
    }
    let endpoints = &system.endpoints;
    system.forwards.retain(|_, forward| {
        let server_died = endpoints
            .get(forward.endpoint)
            .is_none_or(|endpoint| endpoint.dead);
        let client_died = matches!(forward.client, Some((client, _)) if client == id);
        if server_died && let Some(client) = forward.client {
            orphans.push(client);
        }
        if client_died {
            forward.client = None;
        }
        !(server_died || (client_died && forward.slot.is_none()))
    });
    for endpoint in system.endpoints.values_mut() {
        let forwards = &system.forwards;
        endpoint
            .queue
            .retain(|queued| forwards.contains_key(*queued));
    }
    // The dead endpoints go (their ids are never reused, so a client
    // handle still naming one just gets ESRVDEAD).
    system.endpoints.retain(|_, endpoint| !endpoint.dead);
    // In the order each client submitted them (the table has no order).
    orphans.sort_unstable();
    for (client, client_request) in orphans {
        if client != id {
            engine::finish(system, client, client_request, Errno::ServerDead.result());
            engine::advance_later(system, client);
        }
    }
}
