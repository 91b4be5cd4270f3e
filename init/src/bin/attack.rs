//! attack: hostile programs, one per argument, each against one of the
//! kernel's bounds. A test runs each beside `bystander` and checks that
//! the kernel stays up, the bystander is served to its last line, and
//! every frame comes back when the attacker ends.
//!
//! - `reply-chain`: LINK chains whose members are `REPLY`s to requests
//!   that other chains wait behind, so that one `REPLY` unblocks the
//!   next, and that one the next: a kernel that starts an unblocked
//!   member on the spot recurses once per link until its stack runs out.
//!   It needs no handle: it serves an endpoint it makes itself.
//! - `map-all`: `MAP`s memory until the kernel refuses, then asks the
//!   kernel for more work (endpoints, handles, timers, requests) that
//!   needs kernel memory, and expects clean errors, never a panic.
//! - `mint-flood`: `MINT` then `CLOSE`, a million times, on an endpoint
//!   nobody receives on: each close sends the server a `RELEASE`, which
//!   must be bounded, not queued without end.
//! - `endpoint-flood`: `ENDPOINT_CREATE` until the kernel refuses.
//! - `far-write` (needs `use=fs`): one byte at 16 MiB - 1 into four
//!   files, one byte at 4 GiB - 2, nothing at 32 MiB, then as many files
//!   open as the server allows; holds all of it for two seconds while
//!   another client uses the file system, then cleans up.
//! - `read-hog` (needs `use=console`): console `READ`s until refused,
//!   held for two seconds.
//! - `big-write` (needs `use=console`): 8 `WRITE`s of 64 KiB each.
//! - `fs-starve` (needs `use=fs`, `use=proc`): starts 20 `open-hog`s
//!   (each opens files until refused and holds them 3 s), then OPENs and
//!   SPAWNs itself: a server's clients together holding many handles
//!   must not stop it serving others.
//! - `release-forge`: fills the RELEASEs its own endpoint may owe, then
//!   sends RELEASEs itself and answers them: those must not count.
//! - `fill` (needs `use=fs`): makes 8 KiB files (a new name each, each in
//!   a new folder) until the server refuses, then removes them all and
//!   makes one more: a server whose memory runs out must refuse, not die.
//! - `services`: a program the manifest gives no `greeter` service: says
//!   which services it was given, then `READ`s through every handle
//!   number from 1 to 64 but its standard streams, hoping one reaches
//!   the greeter anyway (none must: a service is a handle, given or not).
//! - `pipes` (needs the `pipe` service; `use=fs` and `use=proc` for its
//!   child): 1,000 pipes made, written to and dropped, then the server's
//!   pipe count and heap compared with before; pipes made until refused;
//!   a full pipe whose reader never reads, with a `WRITE` held on it,
//!   while another pipe still works; and a child (`pipe-writer`) killed
//!   in the middle of writing 1 MiB into a pipe, whose reader must get
//!   what was written and then the end, not hang.
//! - `pipe-writer`: writes 1 MiB to its standard output (the child above).
//! - `map-hold`: `MAP`s 1 MiB at a time until refused, says how much it
//!   holds, and holds it for an hour: several of them, started from the
//!   shell, take the machine's memory, and the shell must still run
//!   `kill` (a built-in) and then programs again.
//! - `map-churn`: `MAP`s a page and `UNMAP`s it, 20,000 times, each time
//!   in a 2 MiB of the address space it has not used before (one in 512
//!   in a new GiB), as a heap that never reuses an address does: the
//!   tables the kernel made for each must go with the page, or they add
//!   up past the process's budget and `MAP` is refused.
//! - `exit-last`: fills all but three CQ slots with long timeouts, then
//!   submits a timeout, a `LOG` and an `EXIT` in one `ring_enter`: the
//!   `EXIT` finds no slot and ends the process at once, but what was
//!   taken before it (the `LOG`) must still run first.
//! - `slot-unmap`: arms a `RECEIVE` on an endpoint of its own over a
//!   page of message slots, `UNMAP`s the page, then sends itself a
//!   request: the kernel must find the slots gone (the `RECEIVE` ends with
//!   `EFAULT`), not write the message into the freed frame, which may be
//!   another process's by then.
//! - `big-dir` (needs `use=fs`): 20,000 entries (folders, made 32 at a
//!   time) in one directory, then `READDIR`s of all of it, twice, while
//!   another client works.
//! - `console` (run by the shell): asks the console, through the standard
//!   streams the shell gave it, for raw mode, cooked mode, the Ctrl-C
//!   wait, a new reader and writer, and a reclaim (all must be refused:
//!   those are the terminal handle's), and `READ`s its standard output (a
//!   writer: refused too).
//! - `bin-write` (run by the shell): tries to change `/bin`, which the
//!   file servers keep read-only: `OPEN` of `/bin/true` for writing,
//!   `WRITE` through a read-only `OPEN` of it, a relative `OPEN` with
//!   `CREATE` through a handle to `/bin`, a path through `/tmp/..`, a
//!   `RENAME` into `/bin`; then checks `/bin/true` still starts with the
//!   ELF magic.
//! - `console-reclaim` (needs `use=console`: a terminal handle, as a
//!   shell has): makes a reader, as a shell does for a job, leaves a
//!   `READ` waiting through it, and reclaims: the waiting `READ` and a new
//!   one must be refused, while the reader may still print.
//!
//! - `inject` (on a kernel booted with `faults`, or to see it refused):
//!   `INJECT` with a bad kind, a 0 ms stall, a handle that is no process;
//!   then into a server child of its own (`inject-server`, which answers
//!   every request 7): a wrong reply, twenty 60 s stalls in a row (the
//!   kernel holds 16 at most; each request is cut by a 50 ms deadline),
//!   a crash; then `INJECT` into the dead child.
//!
//! Each prints one line of what it did and what it was told; the test
//! reads it, so an attack that did not happen cannot pass.

#![no_std]
#![no_main]

extern crate alloc;

use libring::abi::{
    Completion, Errno, MAP_BASE, PAGE_SIZE, RequestMessage, Submission, submission_flags,
};
use libring::ops::{self, SubmissionOptions};
use libring::ring::Ring;
use libring::runtime::{Arguments, Syscall, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let how = arguments.get(1).unwrap_or("");
    let result = match how {
        "reply-chain" => reply_chain(),
        "map-all" => map_all(),
        "mint-flood" => mint_flood(),
        "endpoint-flood" => endpoint_flood(),
        "far-write" => far_write(),
        "read-hog" => read_hog(),
        "big-write" => big_write(),
        "big-dir" => big_dir(),
        "fill" => fill(),
        "open-hog" => open_hog(),
        "fs-starve" => fs_starve(),
        "release-forge" => release_forge(),
        "services" => services(),
        "pipes" => pipes(),
        "pipe-writer" => pipe_writer(),
        "map-hold" => map_hold(),
        "map-churn" => map_churn(),
        "exit-last" => exit_last(),
        "slot-unmap" => slot_unmap(),
        "skip-room" => skip_room(),
        "console" => console(),
        "console-reclaim" => console_reclaim(),
        "bin-write" => bin_write(),
        "inject" => inject(),
        "inject-server" => inject_server(),
        _ => {
            libring::println!(
                "attack: usage: attack reply-chain|map-all|mint-flood|endpoint-flood|far-write|read-hog|big-write|big-dir|open-hog|fs-starve|release-forge|fill"
            );
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            libring::println!("attack {how}: failed: {}", error.description());
            1
        }
    }
}

/// Submits `submission` and waits for its completion (a blocking call).
fn run(submission: Submission) -> Result<i32, Errno> {
    with_ring(|ring| ring.run(submission))
}

/// An endpoint of our own, and a client handle to it.
fn own_endpoint(name: &[u8]) -> Result<(u32, u32), Errno> {
    let service = run(ops::endpoint_create(name))? as u32;
    let client = run(ops::mint(service, 7))? as u32;
    Ok((service, client))
}

// ------------------------------------------------------------- reply-chain

/// The kernel's table of forwarded requests, as far as this program can
/// tell: the slab's rules (a freed slot is reused last-in first-out, with
/// its generation one higher; a new slot starts at generation 1). In a
/// system of its own (`run=`), this program makes every forward there is,
/// so it can name a request before the kernel has made it. Each guess is
/// checked when the request arrives.
struct ForwardIds {
    generations: [u32; 128],
    slots: usize,
    free: heapless::Vec<u32, 128>,
}

impl ForwardIds {
    fn next(&mut self) -> u64 {
        let index = match self.free.pop() {
            Some(index) => index as usize,
            None => {
                self.slots += 1;
                self.slots - 1
            }
        };
        self.generations[index] = self.generations[index].wrapping_add(1).max(1);
        ((self.generations[index] as u64) << 32) | index as u64
    }

    fn freed(&mut self, id: u64) {
        let _ = self.free.push((id & 0xffff_ffff) as u32);
    }
}

/// Pairs per round: each round's chains fill the SQ (2 entries a pair).
const PAIRS_PER_ROUND: usize = 31;
/// Pairs in all.
const PAIRS: usize = 1_000;
const SLOTS: usize = 64;
const RECEIVE_DATA: u64 = 1 << 40;

fn reply_chain() -> Result<(), Errno> {
    let (service, client) = own_endpoint(b"attack")?;
    let mut messages = [RequestMessage::default(); SLOTS];
    let mut ids = ForwardIds {
        generations: [0; 128],
        slots: 0,
        free: heapless::Vec::new(),
    };
    with_ring(|ring| -> Result<(), Errno> {
        push(
            ring,
            ops::receive(service, messages.as_mut_ptr() as u64, SLOTS as u32)
                .with_user_data(RECEIVE_DATA),
        )?;
        ring.submit()?;
        Ok(())
    })?;
    let mut chained = 0;
    let mut rounds = 0;
    while chained < PAIRS {
        let pairs = PAIRS_PER_ROUND.min(PAIRS - chained);
        // The forward each CONTROL will get, in the order the kernel makes
        // them: chain i's CONTROL, then (after the last chain) one more.
        let mut expected = [0u64; PAIRS_PER_ROUND + 1];
        for id in expected.iter_mut().take(pairs + 1) {
            *id = ids.next();
        }
        with_ring(|ring| -> Result<(), Errno> {
            // Chain i: CONTROL i, then REPLY to CONTROL i+1. Each REPLY
            // waits behind its chain's CONTROL; answering CONTROL 0 lets
            // REPLY 1 run, which answers CONTROL 1, which lets REPLY 2 run...
            for (index, pair) in expected.windows(2).take(pairs).enumerate() {
                let mut control = ops::control(client, [0; 3]).with_user_data(index as u64);
                control.flags |= submission_flags::LINK;
                push(ring, control)?;
                push(
                    ring,
                    ops::reply(pair[1], 0, 0).with_user_data(1000 + index as u64),
                )?;
            }
            push(
                ring,
                ops::control(client, [0; 3]).with_user_data(pairs as u64),
            )?;
            ring.submit()?;
            // Every CONTROL arrives at our own endpoint, with the id
            // foreseen.
            let mut arrived = 0;
            while arrived < pairs + 1 {
                ring.submit_and_wait(1)?;
                while let Some(completion) = ring.completion() {
                    if completion.user_data != RECEIVE_DATA {
                        return unexpected(completion);
                    }
                    let slot = completion.result as usize;
                    let request = messages.get(slot).ok_or(Errno::Fault)?.request;
                    if !expected[..=pairs].contains(&request) {
                        libring::println!(
                            "attack reply-chain: request id {request:#x} was not foreseen"
                        );
                        return Err(Errno::InvalidArgument);
                    }
                    arrived += 1;
                }
            }
            // The first answer sets the whole line going.
            push(ring, ops::reply(expected[0], 0, 0).with_user_data(2000))?;
            ring.submit()?;
            // Every CONTROL, every REPLY and the first answer complete, all
            // with 0.
            let mut completed = 0;
            while completed < 2 * pairs + 2 {
                ring.submit_and_wait(1)?;
                while let Some(completion) = ring.completion() {
                    if completion.result != 0 || completion.user_data == RECEIVE_DATA {
                        return unexpected(completion);
                    }
                    completed += 1;
                }
            }
            Ok(())
        })?;
        for &id in expected.iter().take(pairs + 1) {
            ids.freed(id);
        }
        chained += pairs;
        rounds += 1;
    }
    libring::println!(
        "attack reply-chain: {chained} REPLYs chained in {rounds} rounds, each one unblocking the next; the kernel is still here"
    );
    Ok(())
}

fn push(ring: &mut Ring<Syscall>, submission: Submission) -> Result<(), Errno> {
    if ring.push(submission).is_err() {
        ring.submit()?;
        ring.push(submission).map_err(|_| Errno::Busy)?;
    }
    Ok(())
}

fn unexpected(completion: Completion) -> Result<(), Errno> {
    libring::println!(
        "attack reply-chain: unexpected completion {} for {}",
        completion.result,
        completion.user_data
    );
    Err(Errno::InvalidArgument)
}

// ----------------------------------------------------------------- map-all

/// Far above the program's own heap.
const MAP_AREA: u64 = MAP_BASE + (1 << 36);
const PIECE: u32 = 1 << 20;

fn map_all() -> Result<(), Errno> {
    let before = run(ops::system_info(libring::abi::SystemValue::FreeFrames))?;
    // Big pieces first, then single pages, until the kernel says no.
    let mut mapped: u64 = 0;
    let mut refusal = None;
    for piece in [PIECE, PAGE_SIZE as u32] {
        loop {
            match run(ops::map(MAP_AREA + mapped, piece, true)) {
                Ok(_) => mapped += piece as u64,
                Err(error) => {
                    refusal = Some(error);
                    break;
                }
            }
        }
    }
    let refusal = refusal.unwrap_or(Errno::InvalidArgument);
    let free = run(ops::system_info(libring::abi::SystemValue::FreeFrames))?;
    // Now everything that needs kernel memory: each may fail, none may
    // bring the kernel down.
    let mut refused = 0;
    let mut done = 0;
    for _ in 0..64 {
        match run(ops::endpoint_create(b"starved")) {
            Ok(service) => {
                done += 1;
                for _ in 0..64 {
                    match run(ops::mint(service as u32, 1)) {
                        Ok(_) => done += 1,
                        Err(_) => refused += 1,
                    }
                }
            }
            Err(_) => refused += 1,
        }
    }
    let timers = with_ring(|ring| -> Result<u32, Errno> {
        let mut armed = 0;
        for index in 0..64 {
            if ring
                .push(ops::timeout(1_000_000).with_user_data(index))
                .is_ok()
            {
                armed += 1;
            }
        }
        ring.submit()?;
        let mut seen = 0;
        while seen < armed {
            ring.submit_and_wait(1)?;
            seen += ring.completions().count() as u32;
        }
        Ok(seen)
    })?;
    libring::println!(
        "attack map-all: mapped {} KiB of {} KiB free, then {}; {} kernel objects made, {} refused, {} timers ran; free frames {}",
        mapped / 1024,
        before as u64 * PAGE_SIZE / 1024,
        refusal.name(),
        done,
        refused,
        timers,
        free
    );
    Ok(())
}

// -------------------------------------------------------------- mint-flood

const FLOOD: u32 = 1_000_000;

fn mint_flood() -> Result<(), Errno> {
    let (service, _) = own_endpoint(b"flood")?;
    let mut closed = 0u32;
    let mut refused = 0u32;
    let mut first_refusal = None;
    for _ in 0..FLOOD {
        match run(ops::mint(service, 3)) {
            Ok(handle) => {
                run(ops::close(handle as u32))?;
                closed += 1;
            }
            Err(error) => {
                refused += 1;
                first_refusal.get_or_insert(error);
            }
        }
    }
    let heap = run(ops::system_info(libring::abi::SystemValue::FreeFrames))?;
    libring::println!(
        "attack mint-flood: {closed} handles minted and closed, {refused} refused ({}); free frames {heap}",
        first_refusal.map_or("none", Errno::name)
    );
    Ok(())
}

// ---------------------------------------------------------- endpoint-flood

fn endpoint_flood() -> Result<(), Errno> {
    let mut made = 0;
    let refusal = loop {
        match run(ops::endpoint_create(b"many")) {
            Ok(_) => made += 1,
            Err(error) => break error,
        }
        if made == 1_000_000 {
            break Errno::InvalidArgument;
        }
    };
    libring::println!(
        "attack endpoint-flood: {made} endpoints made, then {}",
        refusal.name()
    );
    Ok(())
}

// --------------------------------------------------------------- far-write

/// How long the file and console attacks hold what they took.
const HOLD_NANOSECONDS: u64 = 2_000_000_000;

/// The result of `submission`, as a name: `ok` or the error's.
fn told(submission: Submission) -> &'static str {
    match run(submission) {
        Ok(_) => "ok",
        Err(error) => error.name(),
    }
}

fn far_write() -> Result<(), Errno> {
    use core::fmt::Write;
    use libring::abi::open_flags;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let flags = open_flags::READ | open_flags::WRITE | open_flags::CREATE;
    let mut files = heapless::Vec::<u32, 4>::new();
    for name in FAR_FILES {
        let file = run(ops::open(fs, name.as_bytes(), flags))? as u32;
        let _ = files.push(file);
    }
    let mut far = heapless::String::<64>::new();
    for &file in &files {
        let _ = write!(far, "{} ", told(ops::write(file, b"x", (16 << 20) - 1)));
    }
    let beyond = told(ops::write(files[0], b"x", (4 << 30) - 2));
    let mut before = libring::abi::FileStatus::default();
    run(ops::stat(files[3], &mut before))?;
    let nothing = told(ops::write(files[3], b"", 32 << 20));
    let mut after = libring::abi::FileStatus::default();
    run(ops::stat(files[3], &mut after))?;
    let size = if after.size == before.size {
        "unchanged"
    } else {
        "changed"
    };
    // Then open files until refused (at most 200).
    let mut opened = heapless::Vec::<u32, 200>::new();
    let refusal = loop {
        match run(ops::open(fs, FAR_FILES[0].as_bytes(), open_flags::READ)) {
            Ok(handle) => {
                if opened.push(handle as u32).is_err() {
                    break "none";
                }
            }
            Err(error) => break error.name(),
        }
    };
    libring::println!(
        "attack far-write: 1 byte at 16 MiB - 1 into 4 files: {}; at 4 GiB - 2: {beyond}; nothing at 32 MiB: {nothing}, size {size}; {} more files open, then {refusal}",
        far.trim_end(),
        opened.len()
    );
    // Hold it all while the other client works.
    run(ops::timeout(HOLD_NANOSECONDS))?;
    for handle in opened.iter().chain(files.iter()) {
        let _ = run(ops::close(*handle));
    }
    for name in FAR_FILES {
        let _ = run(ops::unlink(fs, name.as_bytes()));
    }
    libring::println!("attack far-write: cleaned up");
    Ok(())
}

const FAR_FILES: [&str; 4] = ["/tmp/far0", "/tmp/far1", "/tmp/far2", "/tmp/far3"];

// ---------------------------------------------------------------- read-hog

fn read_hog() -> Result<(), Errno> {
    let console = libring::runtime::stdin().ok_or(Errno::BadHandle)?;
    let mut buffers = [[0u8; 16]; 32];
    let (taken, refused) = with_ring(|ring| -> Result<(u32, u32), Errno> {
        for (index, buffer) in buffers.iter_mut().enumerate() {
            push(
                ring,
                ops::read(console, buffer, 0).with_user_data(index as u64),
            )?;
        }
        // The refused ones come back at once; the others wait for input.
        push(ring, ops::timeout(500_000_000).with_user_data(1000))?;
        ring.submit()?;
        let (mut refused, mut ended) = (0, 0);
        loop {
            ring.submit_and_wait(1)?;
            let mut done = false;
            while let Some(completion) = ring.completion() {
                match completion.user_data {
                    1000 => done = true,
                    _ if completion.result == Errno::Busy.result() => refused += 1,
                    _ => ended += 1,
                }
            }
            if done {
                break;
            }
        }
        Ok((32 - refused - ended, refused))
    })?;
    libring::println!("attack read-hog: {taken} console READs taken, {refused} refused (EBUSY)");
    run(ops::timeout(HOLD_NANOSECONDS))?;
    libring::println!("attack read-hog: letting go");
    // Ending cancels the READs still held.
    Ok(())
}

// ---------------------------------------------------------------- map-hold

fn map_hold() -> Result<(), Errno> {
    const PIECE: u32 = 1 << 20;
    // Far above the heap, so the runtime's own MAPs do not meet these.
    let mut address = MAP_AREA;
    let mut held = 0u64;
    while run(ops::map(address, PIECE, true)).is_ok() {
        held += 1;
        address += u64::from(PIECE);
    }
    libring::println!("attack map-hold: {held} MiB held");
    run(ops::timeout(3_600_000_000_000))?;
    Ok(())
}

// -------------------------------------------------------------- slot-unmap

fn slot_unmap() -> Result<(), Errno> {
    let (service, client) = own_endpoint(b"slot-unmap")?;
    let slots = MAP_AREA + (8 << 30);
    run(ops::map(slots, PAGE_SIZE as u32, true))?;
    let ended = with_ring(|ring| -> Result<i32, Errno> {
        push(ring, ops::receive(service, slots, 1).with_user_data(90))?;
        ring.submit()?;
        Ok(0)
    });
    ended?;
    // Once armed, the slots go; a page mapped again somewhere else may get
    // the freed frame.
    run(ops::unmap(slots, PAGE_SIZE as u32))?;
    run(ops::map(slots + (1 << 30), PAGE_SIZE as u32, true))?;
    let receive = with_ring(|ring| -> Result<i32, Errno> {
        push(ring, ops::control(client, [5, 0, 0]).with_user_data(91))?;
        ring.submit()?;
        loop {
            ring.submit_and_wait(1)?;
            while let Some(completion) = ring.completion() {
                if completion.user_data == 90 {
                    return Ok(completion.result);
                }
            }
        }
    })?;
    // The request is still queued: take it back.
    let cancel = run(ops::cancel(91));
    let outcome = if receive == Errno::Fault.result() {
        "EFAULT"
    } else if receive >= 0 {
        "a message was written into the unmapped slots"
    } else {
        "another error"
    };
    libring::println!(
        "attack slot-unmap: the request to a RECEIVE whose slots were unmapped: {outcome}; the request cancelled: {}",
        if cancel.is_ok() { "ok" } else { "no" }
    );
    Ok(())
}

// --------------------------------------------------------------- skip-room

/// A server whose CQ is all reserved gets a request to its own endpoint:
/// it waits at the endpoint for room. Then a `SKIP_SUCCESS` timer frees a
/// slot without posting anything. The request must be delivered then (the
/// `RECEIVE` event comes at the short timer's end), not when some other
/// completion happens to wake the server (the 5 s timers).
fn skip_room() -> Result<(), Errno> {
    let (service, client) = own_endpoint(b"skip-room")?;
    let slots = MAP_AREA + (8 << 30);
    run(ops::map(slots, PAGE_SIZE as u32, true))?;
    let started = now_nanoseconds();
    let first = with_ring(|ring| -> Result<u64, Errno> {
        // 1 + 125 + 1 + 1 = 128: every CQ slot reserved.
        push(ring, ops::receive(service, slots, 4).with_user_data(90))?;
        for _ in 0..125 {
            push(ring, ops::timeout(5_000_000_000).with_user_data(1))?;
        }
        push(
            ring,
            ops::timeout(50_000_000).with_user_data(92).skip_success(),
        )?;
        push(ring, ops::control(client, [5, 0, 0]).with_user_data(91))?;
        ring.submit()?;
        loop {
            ring.submit_and_wait(1)?;
            if let Some(completion) = ring.completion() {
                return Ok(completion.user_data);
            }
        }
    })?;
    let waited = now_nanoseconds().saturating_sub(started);
    let outcome = match first {
        90 if waited < 5_000_000_000 => "delivered when the slot came free",
        90 => "delivered only after the long timers",
        1 => "not delivered: a long timer came first",
        _ => "something else came first",
    };
    libring::println!("attack skip-room: the request waiting for CQ room: {outcome}");
    Ok(())
}

/// Nanoseconds on the system clock (the virtual counter, readable at EL0).
fn now_nanoseconds() -> u64 {
    let (count, frequency): (u64, u64);
    // SAFETY: reads the counter and its frequency, which the kernel lets
    // EL0 read.
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {}, cntvct_el0",
            "mrs {}, cntfrq_el0",
            out(reg) count,
            out(reg) frequency,
            options(nomem, nostack)
        )
    };
    (count as u128 * 1_000_000_000 / frequency.max(1) as u128) as u64
}

// --------------------------------------------------------------- exit-last

fn exit_last() -> Result<(), Errno> {
    use libring::abi::CQ_ENTRIES;
    let line = b"attack exit-last: the LOG taken before the EXIT ran\n";
    with_ring(|ring| -> Result<(), Errno> {
        let mut pushed = 0;
        while pushed < CQ_ENTRIES - 2 {
            while pushed < CQ_ENTRIES - 2 && push(ring, ops::timeout(60_000_000_000)).is_ok() {
                pushed += 1;
            }
            ring.submit()?;
        }
        // Two slots left: the TIMEOUT and the LOG take them; the EXIT has
        // none, and ends the process at once.
        push(ring, ops::timeout(60_000_000_000))?;
        push(ring, ops::log(line))?;
        push(ring, ops::exit(0))?;
        ring.submit()?;
        Ok(())
    })?;
    libring::println!("attack exit-last: still running after the EXIT");
    Err(Errno::InvalidArgument)
}

// --------------------------------------------------------------- map-churn

fn map_churn() -> Result<(), Errno> {
    const ROUNDS: u64 = 20_000;
    const REGION: u64 = 2 << 20;
    let owned = || run(ops::system_info(libring::abi::SystemValue::ProcessFrames));
    let before = owned()?;
    let mut done = 0;
    for round in 0..ROUNDS {
        // One round in 512 also starts a new GiB (a new level-2 table).
        let address = MAP_AREA + round * REGION + (round / 512) * (1 << 30);
        if let Err(error) = run(ops::map(address, PAGE_SIZE as u32, true)) {
            libring::println!(
                "attack map-churn: MAP refused after {done} rounds: {}",
                error.name()
            );
            return Err(error);
        }
        run(ops::unmap(address, PAGE_SIZE as u32))?;
        done += 1;
    }
    let after = owned()?;
    let back = if after == before { "yes" } else { "NO" };
    libring::println!(
        "attack map-churn: {done} pages mapped and unmapped, each in a 2 MiB of its own; frames the processes own before {before}, after {after}: back {back}"
    );
    Ok(())
}

// ------------------------------------------------------------------- pipes

fn pipe_writer() -> Result<(), Errno> {
    let piece = alloc::vec![b'p'; 64 << 10];
    for _ in 0..16 {
        libring::runtime::write_output(libring::runtime::Output::Out, &piece)?;
    }
    Ok(())
}

/// The pipe server's answer to `CONTROL [word]` on its service handle.
fn pipe_status(service: u32, word: u64) -> Result<i32, Errno> {
    run(ops::control(service, [word, 0, 0]))
}

/// Waits (up to 2 s) until the server has as many pipes as `wanted`: the
/// kernel's RELEASEs of closed ends reach it a moment after the CLOSEs.
fn pipes_settle(service: u32, wanted: i32) -> Result<i32, Errno> {
    for _ in 0..200 {
        let count = pipe_status(service, libring::pipe::COUNT)?;
        if count == wanted {
            return Ok(count);
        }
        run(ops::timeout(10_000_000))?;
    }
    pipe_status(service, libring::pipe::COUNT)
}

fn pipes() -> Result<(), Errno> {
    let service = libring::runtime::service("pipe").ok_or(Errno::BadHandle)?;
    // One pipe made and dropped first: the server's tables then have
    // their size.
    let (read, write) = with_ring(|ring| libring::pipe::create(ring, service))?;
    run(ops::close(read))?;
    run(ops::close(write))?;
    let base_count = pipes_settle(service, 0)?;
    let base_heap = pipe_status(service, libring::pipe::HEAP)?;
    let mut made = 0;
    for round in 0..1000u32 {
        let (read, write) = with_ring(|ring| libring::pipe::create(ring, service))?;
        run(ops::write(write, &round.to_le_bytes(), 0))?;
        // Half are dropped with their bytes unread.
        if round % 2 == 0 {
            let mut back = [0u8; 4];
            run(ops::read(read, &mut back, 0))?;
        }
        run(ops::close(write))?;
        run(ops::close(read))?;
        made += 1;
    }
    let count = pipes_settle(service, base_count)?;
    let heap = pipe_status(service, libring::pipe::HEAP)?;
    libring::println!(
        "attack pipes: {made} made and dropped: pipes {base_count} -> {count}, server heap {base_heap} -> {heap} bytes (the same: {})",
        heap == base_heap
    );

    // Until refused: the per-process bound.
    let mut ends = alloc::vec::Vec::new();
    let refusal = loop {
        match with_ring(|ring| libring::pipe::create(ring, service)) {
            Ok(pipe) => ends.push(pipe),
            Err(error) => break error,
        }
        if ends.len() > 64 {
            break Errno::InvalidArgument;
        }
    };
    libring::println!("attack pipes: {} made, then {}", ends.len(), refusal.name());
    for (read, write) in ends.drain(..) {
        run(ops::close(read))?;
        run(ops::close(write))?;
    }
    pipes_settle(service, base_count)?;

    // A reader that never reads: the pipe fills, one more WRITE is held
    // (given up after 200 ms), and another pipe still carries bytes.
    let (stuck_read, stuck_write) = with_ring(|ring| libring::pipe::create(ring, service))?;
    let full = alloc::vec![b'f'; libring::pipe::CAPACITY];
    let mut filled = 0;
    while filled < full.len() {
        filled += run(ops::write(stuck_write, &full[filled..], 0))? as usize;
    }
    let held = with_ring(|ring| -> Result<i32, Errno> {
        let byte = [b'x'];
        push(
            ring,
            ops::write(stuck_write, &byte, 0).linked().with_user_data(1),
        )?;
        push(ring, ops::link_timeout(200_000_000).with_user_data(2))?;
        ring.submit()?;
        let mut result = 0;
        let mut seen = 0;
        while seen < 2 {
            ring.submit_and_wait(1)?;
            while let Some(completion) = ring.completion() {
                seen += 1;
                if completion.user_data == 1 {
                    result = completion.result;
                }
            }
        }
        Ok(result)
    })?;
    let (other_read, other_write) = with_ring(|ring| libring::pipe::create(ring, service))?;
    run(ops::write(other_write, b"still flowing", 0))?;
    let mut back = [0u8; 32];
    let got = run(ops::read(other_read, &mut back, 0))? as usize;
    libring::println!(
        "attack pipes: {filled} bytes fill a pipe; one more WRITE: {}; another pipe meanwhile: {:?}",
        Errno::from_result(held).map_or("ok", Errno::name),
        core::str::from_utf8(&back[..got]).unwrap_or("?")
    );
    for handle in [stuck_read, stuck_write, other_read, other_write] {
        run(ops::close(handle))?;
    }
    pipes_settle(service, base_count)?;

    // A writer killed mid-write.
    let processes = libring::runtime::processes().ok_or(Errno::BadHandle)?;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let (read, write) = with_ring(|ring| libring::pipe::create(ring, service))?;
    let mut handles = [0u32; libring::abi::spawn_handles::COUNT];
    handles[libring::abi::spawn_handles::STDOUT] = write;
    handles[libring::abi::spawn_handles::FILE_SYSTEM] = fs;
    let mut request = [0u8; 128];
    let length =
        libring::process::spawn_request("/bin/attack", &["attack", "pipe-writer"], &mut request)?;
    let child = run(ops::spawn(processes, &request[..length], handles))? as u32;
    run(ops::close(write))?;
    let mut buffer = alloc::vec![0u8; 16 << 10];
    let mut total = 0usize;
    let mut killed = false;
    loop {
        let count = run(ops::read(read, &mut buffer, 0))? as usize;
        if count == 0 {
            break;
        }
        total += count;
        if !killed && total >= 100_000 {
            run(ops::kill(child))?;
            killed = true;
        }
    }
    let mut reason = [0u8; 160];
    let _ = run(ops::wait(child, &mut reason));
    run(ops::close(child))?;
    run(ops::close(read))?;
    let count = pipes_settle(service, base_count)?;
    libring::println!(
        "attack pipes: writer killed after {} bytes read; the reader then got the end ({} bytes in all, under 1 MiB: {}); pipes {count}",
        100_000,
        total,
        total < (1 << 20)
    );
    Ok(())
}

// ---------------------------------------------------------------- console

fn console() -> Result<(), Errno> {
    use libring::console::{COOKED, INTERRUPT_WAIT, RAW, READER, RECLAIM, WRITER};
    let input = libring::runtime::stdin().ok_or(Errno::BadHandle)?;
    let output = libring::runtime::stdout().ok_or(Errno::BadHandle)?;
    let mut told = alloc::vec::Vec::new();
    for (name, word) in [
        ("raw", RAW),
        ("cooked", COOKED),
        ("ctrl-c wait", INTERRUPT_WAIT),
        ("reader", READER),
        ("writer", WRITER),
        ("reclaim", RECLAIM),
    ] {
        let answer = run(ops::control(input, [word, 0, 0]));
        told.push(alloc::format!("{name} {}", outcome(answer)));
    }
    let mut buffer = [0u8; 16];
    let read = run(ops::read(output, &mut buffer, 0));
    libring::println!(
        "attack console: through stdin: {}; READ of stdout: {}",
        told.join(", "),
        outcome(read)
    );
    Ok(())
}

/// `ok` or the error's name, for a report line.
fn outcome(result: Result<i32, Errno>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.name(),
    }
}

fn bin_write() -> Result<(), Errno> {
    use libring::abi::open_flags::{CREATE, DIRECTORY, READ, WRITE};
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let for_writing = run(ops::open(fs, b"/bin/true", READ | WRITE));
    let file = run(ops::open(fs, b"/bin/true", READ))? as u32;
    let through_read_only = run(ops::write(file, b"PWND", 0));
    let bin = run(ops::open(fs, b"/bin", READ | DIRECTORY))? as u32;
    let relative = run(ops::open(bin, b"new", WRITE | CREATE));
    let dotted = run(ops::open(fs, b"/tmp/../bin/new", WRITE | CREATE));
    let made = run(ops::open(fs, b"/tmp/mine", WRITE | CREATE))? as u32;
    run(ops::close(made))?;
    let moved = run(ops::rename(fs, b"/tmp/mine\0/bin/true"));
    let mut magic = [0u8; 4];
    run(ops::read(file, &mut magic, 0))?;
    run(ops::close(file))?;
    run(ops::close(bin))?;
    libring::println!(
        "attack bin-write: OPEN to write {}; WRITE through a read-only OPEN {}; relative CREATE {}; /tmp/../bin CREATE {}; RENAME into /bin {}; /bin/true still ELF: {}",
        outcome(for_writing),
        outcome(through_read_only),
        outcome(relative),
        outcome(dotted),
        outcome(moved),
        magic == *b"\x7fELF"
    );
    Ok(())
}

fn console_reclaim() -> Result<(), Errno> {
    use libring::console::{READER, RECLAIM};
    let terminal = libring::runtime::stdin().ok_or(Errno::BadHandle)?;
    let reader = run(ops::control(terminal, [READER, 0, 0]))? as u32;
    let mut buffer = [0u8; 16];
    let waiting = with_ring(|ring| {
        ring.push(ops::read(reader, &mut buffer, 0).with_user_data(7))
            .map_err(|_| Errno::Busy)?;
        ring.submit()
    });
    waiting?;
    let reclaimed = run(ops::control(terminal, [RECLAIM, 0, 0]));
    let answer = with_ring(|ring| {
        loop {
            match ring.completion() {
                Some(completion) if completion.user_data == 7 => break completion.result,
                Some(_) => {}
                None => {
                    let _ = ring.submit_and_wait(1);
                }
            }
        }
    });
    let again = run(ops::read(reader, &mut buffer, 0));
    let printed = run(ops::write(
        reader,
        b"attack console-reclaim: the reader still prints\n",
        0,
    ));
    libring::println!(
        "attack console-reclaim: reclaim {}; the waiting READ: {}; a new READ: {}; a WRITE: {}",
        outcome(reclaimed),
        outcome(libring::ring::check_result(answer)),
        outcome(again),
        outcome(printed)
    );
    run(ops::close(reader))?;
    Ok(())
}

// ---------------------------------------------------------------- services

fn services() -> Result<(), Errno> {
    let mut given = alloc::string::String::new();
    for name in ["console", "fs", "proc", "pipe", "greeter"] {
        if libring::runtime::service(name).is_some() {
            given.push_str(name);
            given.push(' ');
        }
    }
    let mut greetings = 0;
    // Its standard streams are the console: a READ there waits for typing.
    let streams = [
        libring::runtime::stdin(),
        libring::runtime::stdout(),
        libring::runtime::stderr(),
    ];
    for handle in (1..=64u32).filter(|handle| !streams.contains(&Some(*handle))) {
        let mut buffer = [0u8; 64];
        if let Ok(count) = run(ops::read(handle, &mut buffer, 0))
            && buffer[..count as usize].starts_with(b"hello, process")
        {
            greetings += 1;
        }
    }
    libring::println!(
        "attack services: given {}; handles 1 to 64 read: {greetings} greetings",
        given.trim_end()
    );
    Ok(())
}

// --------------------------------------------------------------- big-write

const BIG_WRITES: u32 = 8;

fn big_write() -> Result<(), Errno> {
    let console = libring::runtime::stdout().ok_or(Errno::BadHandle)?;
    // 64 KiB of lines that say what they are.
    const LINE: &[u8] = b"attack big-write: a line of the 64 KiB writes\n";
    let mut buffer = alloc::vec![0u8; 64 << 10];
    for (index, byte) in buffer.iter_mut().enumerate() {
        *byte = LINE[index % LINE.len()];
    }
    let mut longest = 0;
    for _ in 0..BIG_WRITES {
        let written = run(ops::write(console, &buffer, 0))? as u32;
        longest = longest.max(written);
    }
    libring::println!(
        "\nattack big-write: {BIG_WRITES} WRITEs of 65536 bytes, each took at most {longest}"
    );
    Ok(())
}

// ----------------------------------------------------------------- big-dir

const BIG_DIR_FILES: u32 = 20_000;

fn big_dir() -> Result<(), Errno> {
    use libring::abi::{DirectoryEntry, open_flags};
    use zerocopy::FromBytes;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    run(ops::mkdir(fs, b"/tmp/many"))?;
    // 32 MKDIRs in flight at a time (each path lent until its completion).
    let mut paths: alloc::vec::Vec<alloc::string::String> = alloc::vec::Vec::new();
    for first in (0..BIG_DIR_FILES).step_by(32) {
        paths.clear();
        for index in first..(first + 32).min(BIG_DIR_FILES) {
            paths.push(alloc::format!("/tmp/many/entry-{index:05}"));
        }
        with_ring(|ring| -> Result<(), Errno> {
            for (slot, path) in paths.iter().enumerate() {
                push(
                    ring,
                    ops::mkdir(fs, path.as_bytes()).with_user_data(slot as u64),
                )?;
            }
            ring.submit()?;
            let mut done = 0;
            while done < paths.len() {
                ring.submit_and_wait(1)?;
                while let Some(completion) = ring.completion() {
                    libring::ring::check_result(completion.result)?;
                    done += 1;
                }
            }
            Ok(())
        })?;
    }
    let directory = run(ops::open(
        fs,
        b"/tmp/many",
        open_flags::READ | open_flags::DIRECTORY,
    ))? as u32;
    let mut buffer = alloc::vec![0u8; 4096];
    let mut requests = 0;
    let mut listed = 0;
    for _ in 0..2 {
        let mut next = 0u64;
        loop {
            let filled = run(ops::readdir(directory, &mut buffer, next))? as usize;
            requests += 1;
            if filled == 0 {
                break;
            }
            let mut at = 0;
            while let Ok((head, _)) = DirectoryEntry::read_from_prefix(&buffer[at..filled]) {
                at += DirectoryEntry::record_size(head.name_length as usize);
                next += 1;
                if at >= filled {
                    break;
                }
            }
        }
        listed = next;
    }
    run(ops::close(directory))?;
    libring::println!(
        "attack big-dir: {BIG_DIR_FILES} entries made, {listed} listed, twice, in {requests} READDIRs"
    );
    Ok(())
}

// ---------------------------------------------------------------- open-hog
// Many processes, each within OPEN_PER_CLIENT, together hold many client
// handles of one server: that server must still mint for the others.

fn open_hog() -> Result<(), Errno> {
    use libring::abi::open_flags;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let mut opened = 0u32;
    let refusal = loop {
        match run(ops::open(
            fs,
            b"/tmp/hog",
            open_flags::READ | open_flags::CREATE,
        )) {
            Ok(_) => opened += 1,
            Err(error) => break error.name(),
        }
        if opened == 300 {
            break "none";
        }
    };
    libring::println!("attack open-hog: {opened} open, then {refusal}");
    run(ops::timeout(3_000_000_000))?;
    Ok(())
}

// ----------------------------------------------------------- release-forge
// A RELEASE a client sends itself, answered by the server, must not count
// as one the server owed: else MAX_RELEASES_OWED could be passed.

/// Forges one RELEASE through client handle `handle` to our own endpoint
/// `service`, receives it, answers it; stops receiving again.
fn forge_one(service: u32, handle: u32, messages: &mut [RequestMessage; 1]) -> Result<i32, Errno> {
    use libring::abi::Opcode;
    with_ring(|ring| -> Result<i32, Errno> {
        push(
            ring,
            ops::receive(service, messages.as_mut_ptr() as u64, 1).with_user_data(77),
        )?;
        push(
            ring,
            libring::abi::Submission {
                opcode: Opcode::Release as u8,
                handle,
                user_data: 78,
                ..libring::abi::Submission::default()
            },
        )?;
        ring.submit()?;
        let (mut got, mut done, mut receive_ended, mut cancelled) = (false, None, false, false);
        while !(done.is_some() && receive_ended) {
            ring.submit_and_wait(1)?;
            while let Some(completion) = ring.completion() {
                match completion.user_data {
                    77 if completion.flags & libring::abi::completion_flags::MORE != 0 && !got => {
                        got = true;
                        push(
                            ring,
                            ops::reply(messages[0].request, 0, 0).with_user_data(79),
                        )?;
                        push(ring, ops::cancel(77).with_user_data(80))?;
                        ring.submit()?;
                        cancelled = true;
                    }
                    77 => receive_ended = true,
                    78 => done = Some(completion.result),
                    _ => {}
                }
            }
        }
        let _ = cancelled;
        Ok(done.unwrap_or(-1))
    })
}

fn release_forge() -> Result<(), Errno> {
    let mut messages = [RequestMessage::default(); 1];
    let forge = run(ops::endpoint_create(b"forge"))? as u32;
    let flood = run(ops::endpoint_create(b"flood"))? as u32;
    let mut current = run(ops::mint(forge, 9))? as u32;
    // Mint and close on `flood` until refused (nobody receives there).
    let mut closed = 0u32;
    while let Ok(handle) = run(ops::mint(flood, 3)) {
        run(ops::close(handle as u32))?;
        closed += 1;
    }
    let mut live = heapless::Vec::<u32, 250>::new();
    loop {
        let answered = forge_one(forge, current, &mut messages)?;
        if answered != 0 {
            libring::println!("attack release-forge: forged RELEASE answered {answered}");
            break;
        }
        // The forged answer took one off the count: one more mint.
        let Ok(next) = run(ops::mint(forge, 9)) else {
            break;
        };
        if live.push(current).is_err() {
            let _ = run(ops::close(next as u32));
            break;
        }
        current = next as u32;
    }
    let extra = live.len() as u32;
    for handle in live.iter() {
        run(ops::close(*handle))?;
    }
    let still = told(ops::mint(flood, 3));
    // Every closed forge handle's RELEASE is queued at `forge`: receive them.
    let mut slots = [RequestMessage::default(); 64];
    let delivered = with_ring(|ring| -> Result<u32, Errno> {
        push(
            ring,
            ops::receive(forge, slots.as_mut_ptr() as u64, 64).with_user_data(90),
        )?;
        push(ring, ops::timeout(300_000_000).with_user_data(91))?;
        ring.submit()?;
        let mut count = 0;
        loop {
            ring.submit_and_wait(1)?;
            let mut stop = false;
            while let Some(completion) = ring.completion() {
                match completion.user_data {
                    90 if completion.result >= 0 => {
                        let message = slots[completion.result as usize];
                        if message.opcode == libring::abi::Opcode::Release as u8
                            && message.client == 0
                        {
                            count += 1;
                        }
                        push(ring, ops::reply(message.request, 0, 0).with_user_data(92))?;
                        ring.submit()?;
                    }
                    91 => stop = true,
                    _ => {}
                }
            }
            if stop {
                break;
            }
        }
        Ok(count)
    })?;
    libring::println!(
        "attack release-forge: {closed} RELEASEs queued at flood (bound reached), then {extra} forge handles minted past the bound and closed (mint at flood now: {still}); {delivered} kernel RELEASEs were queued at forge"
    );
    Ok(())
}

// --------------------------------------------------------------- fs-starve
// One client with a proc handle (as any shell user with `&`) starts 20
// open-hogs; OPEN and SPAWN must still work for others.

fn fs_starve() -> Result<(), Errno> {
    use libring::abi::{open_flags, spawn_handles};
    use libring::process::spawn_request;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let processes = libring::runtime::processes().ok_or(Errno::BadHandle)?;
    let mut handles = [0u32; spawn_handles::COUNT];
    handles[spawn_handles::FILE_SYSTEM] = fs;
    let mut request = [0u8; 256];
    let length = spawn_request("/bin/attack", &["attack", "open-hog"], &mut request)?;
    let mut children = heapless::Vec::<u32, 32>::new();
    let mut refusal = "none";
    for _ in 0..20 {
        match run(ops::spawn(processes, &request[..length], handles)) {
            Ok(child) => {
                let _ = children.push(child as u32);
            }
            Err(error) => {
                refusal = error.name();
                break;
            }
        }
    }
    run(ops::timeout(1_000_000_000))?;
    let open = told(ops::open(
        fs,
        b"/tmp/victim",
        open_flags::READ | open_flags::WRITE | open_flags::CREATE,
    ));
    let length = spawn_request("/bin/true", &["true"], &mut request)?;
    let spawn = told(ops::spawn(
        processes,
        &request[..length],
        [0; spawn_handles::COUNT],
    ));
    libring::println!(
        "attack fs-starve: {} open-hogs started, then {refusal}; now OPEN: {open}; SPAWN /bin/true: {spawn}",
        children.len()
    );
    for &child in &children {
        let _ = run(ops::wait(child, &mut []));
    }
    let open = told(ops::open(
        fs,
        b"/tmp/victim",
        open_flags::READ | open_flags::WRITE | open_flags::CREATE,
    ));
    libring::println!("attack fs-starve: after the hogs ended, OPEN: {open}");
    Ok(())
}

// -------------------------------------------------------------------- fill

fn fill() -> Result<(), Errno> {
    use libring::abi::open_flags;
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let bytes = alloc::vec![7u8; 8192];
    let flags = open_flags::CREATE | open_flags::WRITE;
    let mut made = 0u32;
    let refusal = loop {
        let folder = alloc::format!("/tmp/fill-{made:05}");
        if let Err(error) = run(ops::mkdir(fs, folder.as_bytes())) {
            break error;
        }
        let path = alloc::format!("{folder}/file");
        let file = match run(ops::open(fs, path.as_bytes(), flags)) {
            Ok(file) => file as u32,
            Err(error) => break error,
        };
        let written = run(ops::write(file, &bytes, 0));
        let _ = run(ops::close(file));
        if let Err(error) = written {
            break error;
        }
        made += 1;
        if made == 100_000 {
            break Errno::InvalidArgument;
        }
    };
    // Out of room for files: now many small things that the server must
    // allocate for (a folder with a long name each), refused or not.
    let mut folders = 0;
    for index in 0..200 {
        let folder = alloc::format!("/tmp/long-{index:03}-{}", "x".repeat(200));
        if run(ops::mkdir(fs, folder.as_bytes())).is_ok() {
            folders += 1;
        }
    }
    for index in 0..200 {
        let folder = alloc::format!("/tmp/long-{index:03}-{}", "x".repeat(200));
        let _ = run(ops::unlink(fs, folder.as_bytes()));
    }
    // Remove all of it (what the last round made too).
    for index in 0..=made {
        let folder = alloc::format!("/tmp/fill-{index:05}");
        let path = alloc::format!("{folder}/file");
        let _ = run(ops::unlink(fs, path.as_bytes()));
        let _ = run(ops::unlink(fs, folder.as_bytes()));
    }
    let again = told(ops::open(fs, b"/tmp/after-fill", flags));
    libring::println!(
        "attack fill: {made} files of 8 KiB made, then {}; then {folders} of 200 long-named folders; all removed; a new file: {again}",
        refusal.name()
    );
    Ok(())
}

// ------------------------------------------------------------------ inject
// INJECT turned against the kernel: bad arguments, a handle that is no
// process, the bound on held (stalled) replies, and a server that crashes.

/// The child: serves the endpoint whose service handle it got as stdin,
/// answering every request 7, until it is killed.
fn inject_server() -> Result<(), Errno> {
    use libring::server::{Event, Server};
    let service = libring::runtime::stdin().ok_or(Errno::BadHandle)?;
    let slots =
        alloc::boxed::Box::leak(alloc::vec![RequestMessage::default(); 32].into_boxed_slice());
    let mut server = with_ring(|ring| Server::new(ring, slots, service))?;
    loop {
        with_ring(|ring| match server.wait(ring) {
            Ok(Event::Request { message, .. }) => {
                server.reply(ring, message.request, 7);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        })?;
    }
}

fn inject() -> Result<(), Errno> {
    use libring::abi::{inject, open_flags, spawn_handles};
    use libring::process::{Child, Give};
    // Its handles: a spawner (`+spawn`), and the file system.
    let &[spawner, ..] = libring::runtime::handles() else {
        return Err(Errno::BadHandle);
    };
    let fs = libring::runtime::file_system().ok_or(Errno::BadHandle)?;
    let (service, client) = own_endpoint(b"injected")?;
    let bad_kind = told(ops::inject(client, 9, 0));
    let no_stall = told(ops::inject(client, inject::STALL, 0));
    let not_a_process = told(ops::inject(client, inject::WRONG_REPLY, 0));
    // The server child, built here (a SPAWN client may not lend an
    // endpoint to serve), with the service handle as its stdin.
    let file = run(ops::open(fs, b"/bin/attack", open_flags::READ))? as u32;
    let mut program = alloc::vec![0u8; 4 << 20];
    let length = run(ops::read(file, &mut program, 0))? as usize;
    let _ = run(ops::close(file));
    let handles = [(
        Give {
            handle: service,
            request: 0,
        },
        spawn_handles::role(spawn_handles::STDIN),
    )];
    let child = Child {
        name: "inject-server",
        memory_bytes: 0,
        file: &program[..length],
        argument_text: b"attack\0inject-server\0",
        handles: &handles,
        services: &[],
    };
    let child = with_ring(|ring| libring::process::start(ring, spawner, &child))?.handle;
    drop(program);
    let _ = run(ops::close(service));
    let ask = || run(ops::control(client, [0, 0, 0]));
    let answered = ask();
    let wrong = match run(ops::inject(child, inject::WRONG_REPLY, 0)) {
        Ok(_) => alloc::format!("{:?} then {:?}", ask(), ask()),
        Err(error) => {
            let _ = run(ops::kill(child));
            libring::println!(
                "attack inject: bad kind {}, 0 ms stall {}, no process {}; first answer {answered:?}; INJECT into the child: {}",
                bad_kind,
                no_stall,
                not_a_process,
                error.name()
            );
            return Ok(());
        }
    };
    // Twenty stalls of 60 s: each request gets a 50 ms deadline.
    let (mut held, mut on_time, mut other) = (0, 0, 0);
    for _ in 0..20 {
        run(ops::inject(child, inject::STALL, inject::STALL_MAX_MS))?;
        let result = with_ring(|ring| {
            let _ = ring.push(ops::control(client, [0, 0, 0]).linked().with_user_data(1));
            let _ = ring.push(ops::link_timeout(50_000_000).with_user_data(2));
            let mut result = None;
            let mut timer = false;
            while result.is_none() || !timer {
                ring.submit_and_wait(1)?;
                while let Some(completion) = ring.completion() {
                    match completion.user_data {
                        1 => result = Some(completion.result),
                        2 => timer = true,
                        _ => {}
                    }
                }
            }
            Ok::<i32, Errno>(result.unwrap_or(0))
        })?;
        match result {
            7 => on_time += 1,
            r if r == Errno::Cancelled.result() || r == Errno::TimedOut.result() => held += 1,
            _ => other += 1,
        }
    }
    // The armed stall the last request left unused, if any, taken back.
    let taken_back = run(ops::inject(child, inject::NONE, 0));
    run(ops::inject(child, inject::CRASH, 0))?;
    let crashed = ask();
    let mut why = [0u8; 96];
    let ended = run(ops::wait(child, &mut why));
    let why_length = why.iter().position(|&byte| byte == 0).unwrap_or(why.len());
    let after = told(ops::inject(child, inject::CRASH, 0));
    libring::println!(
        "attack inject: bad kind {}, 0 ms stall {}, no process {}; first answer {answered:?}; wrong reply: {wrong}; 20 stalls: {held} held and cut by the deadline, {on_time} answered on time, {other} other; taken back {taken_back:?}; crash: {crashed:?}, the child ended {ended:?} ({}); INJECT after: {after}",
        bad_kind,
        no_stall,
        not_a_process,
        core::str::from_utf8(&why[..why_length]).unwrap_or("?")
    );
    let _ = run(ops::close(client));
    let _ = run(ops::close(child));
    Ok(())
}
