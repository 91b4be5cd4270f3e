//! hostile: floods its own ring with random submissions and scribbles on
//! the ring's indices, to show that nothing a process writes to its shared
//! memory can panic the kernel, hang another process, or leak memory.
//!
//! It writes at least 100,000 submissions, or as many as its first
//! argument says (`hostile:1000000`, the `--long` row), seeded so a
//! failure repeats, with random opcodes, flags, handles, lengths and arguments, and
//! addresses drawn from kernel space, unmapped memory, the ring itself and
//! its own stack; and every few batches it writes random values into the
//! ring header, the kernel's words included. It bypasses the client
//! library for all of this (the library would refuse to do such things)
//! and talks to the kernel with raw `ring_enter` calls.
//!
//! The opcodes include the server and driver operations; with no handles,
//! those must all be refused (EBADF and friends) without harm.
//!
//! Left out, so the flood keeps flowing: `EXIT` (it would end the flood),
//! `SQ_POLL` (another thread taking submissions would make its own
//! bookkeeping guesswork), endless multishot timeouts (each would hold a
//! CQ slot forever), and `LOG` of readable memory (it would print noise):
//! those are covered by `ringtest`. `LOG` still gets unreadable addresses.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use libring::abi::{
    MAP_BASE, Opcode, PAGE_SIZE, RING_ADDRESS, RING_SIZE, SQ_ENTRIES, SQ_OFFSET, STACK_TOP,
    Submission, enter_flags, header_offset, timeout_flags,
};
use libring::ops::{self, SubmissionOptions};
use libring::ring::Kernel;
use libring::runtime::{Arguments, Syscall};

libring::entry!(main);

/// At least this many submissions are written and published.
/// Unless the first argument says how many (`hostile:1000000`).
const TOTAL: u64 = 100_000;
const SEED: u64 = 0x005e_ed0f_a55a_17ed;

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, limit: u64) -> u64 {
        self.next() % limit
    }
}

fn header(offset: usize) -> &'static AtomicU32 {
    // SAFETY: the ring header is mapped read/write at RING_ADDRESS for the
    // life of the process; `offset` is one of its aligned words.
    unsafe { &*((RING_ADDRESS as usize + offset) as *const AtomicU32) }
}

fn write_slot(index: u32, submission: &Submission) {
    let slot = (index % SQ_ENTRIES) as u64;
    let address = RING_ADDRESS + SQ_OFFSET as u64 + slot * 64;
    // SAFETY: an SQ slot inside the mapped ring region.
    unsafe { core::ptr::write_volatile(address as *mut Submission, *submission) };
}

/// An address worth trying: mostly ones the process does not own.
fn address(random: &mut Random) -> u64 {
    match random.below(8) {
        0 => 0,
        1 => 0xffff_0000_4000_0000, // the kernel's linear map
        2 => 0xffff_ffff_8000_0000, // kernel text
        3 => RING_ADDRESS + random.below(RING_SIZE), // the ring itself
        4 => MAP_BASE + (1 << 40),  // never mapped
        5 => u64::MAX - random.below(64), // wraps
        6 => STACK_TOP - 64,        // its own stack
        _ => random.next(),
    }
}

/// An address the process certainly cannot read.
fn unreadable(random: &mut Random) -> u64 {
    [0, 0xffff_ffff_8000_0000, MAP_BASE + (1 << 40), u64::MAX - 8][random.below(4) as usize]
}

fn random_submission(random: &mut Random) -> Submission {
    // Every opcode the ABI has (0 to 19, 32 to 34) and some it does not.
    let mut opcode = random.below(40) as u8;
    if opcode == Opcode::Exit as u8 || opcode == Opcode::SqPoll as u8 {
        opcode = 0xff; // unknown: must be refused with EINVAL
    }
    let mut submission = Submission {
        opcode,
        flags: random.below(4) as u8,
        reserved: if random.below(16) == 0 { 1 } else { 0 },
        handle: random.below(4) as u32,
        address: address(random),
        length: random.below(64 * PAGE_SIZE) as u32,
        operation_flags: random.below(8) as u32,
        offset: if random.below(8) == 0 {
            random.next()
        } else {
            0
        },
        user_data: random.next() & !(1 << 63),
        arguments: [
            random.below(2_000_000),
            random.below(4),
            if random.below(8) == 0 { 1 } else { 0 },
        ],
    };
    if opcode == Opcode::Timeout as u8
        && submission.operation_flags & timeout_flags::MULTISHOT != 0
        && submission.arguments[1] == 0
    {
        submission.arguments[1] = 1; // never an endless multishot
    }
    if opcode == Opcode::Log as u8 {
        submission.address = unreadable(random);
    }
    if opcode == Opcode::Map as u8 || opcode == Opcode::Unmap as u8 {
        // Far from the runtime's heap, which grows up from MAP_BASE.
        submission.address = MAP_BASE + (1 << 30) + random.below(1024) * PAGE_SIZE;
        submission.length = ((random.below(16) + 1) * PAGE_SIZE) as u32;
    }
    submission
}

fn main(arguments: Arguments) -> i32 {
    let total = arguments
        .get(1)
        .and_then(|count| count.parse::<u64>().ok())
        .unwrap_or(TOTAL);
    libring::println!("hostile: flooding with {total} random submissions, seed {SEED:#x}");
    // From here on the client library's view of the ring is stale: only
    // raw accesses. The kernel's head is tracked from ring_enter's results.
    let mut kernel = Syscall;
    let mut random = Random(SEED);
    let mut kernel_head = header(header_offset::SQ_HEAD).load(Ordering::Acquire);
    let (mut written, mut taken, mut busy, mut refused) = (0u64, 0u64, 0u64, 0u64);
    let mut round = 0u64;
    while written < total {
        round += 1;
        let count = random.below(32) as u32 + 1;
        for index in 0..count {
            write_slot(
                kernel_head.wrapping_add(index),
                &random_submission(&mut random),
            );
        }
        written += count as u64;
        let scribble = round.is_multiple_of(8) && written + 3200 < total;
        let tail = if scribble && random.below(2) == 0 {
            random.next() as u32
        } else {
            kernel_head.wrapping_add(count)
        };
        header(header_offset::SQ_TAIL).store(tail, Ordering::Release);
        if scribble {
            let offsets = [
                header_offset::FLAGS,
                header_offset::SQ_HEAD,
                header_offset::CQ_TAIL,
                header_offset::CQ_HEAD,
            ];
            header(offsets[random.below(4) as usize])
                .store(random.next() as u32, Ordering::Relaxed);
        }
        let to_submit = match random.below(4) {
            0 => u32::MAX,
            1 => random.next() as u32,
            _ => count,
        };
        let flags = match random.below(8) {
            0 => enter_flags::SQ_WAKEUP,
            1 => 1 << 7, // unknown flag: EINVAL
            _ => 0,
        };
        let result = kernel.ring_enter(to_submit, 0, flags);
        if result >= 0 {
            taken += result as u64;
            kernel_head = kernel_head.wrapping_add(result as u32);
        } else if result == libring::abi::Errno::Busy.result() as i64 {
            busy += 1;
        } else {
            refused += 1;
        }
        // Consume every completion (the kernel rewrites cq_tail on each).
        let cq_tail = header(header_offset::CQ_TAIL).load(Ordering::Acquire);
        header(header_offset::CQ_HEAD).store(cq_tail, Ordering::Release);
    }
    finish(&mut kernel, kernel_head, written, taken, busy, refused)
}

/// Prints the totals and exits, with raw submissions at the kernel's head.
fn finish(
    kernel: &mut Syscall,
    mut head: u32,
    written: u64,
    taken: u64,
    busy: u64,
    refused: u64,
) -> ! {
    let mut text = [0u8; 160];
    let mut writer = Cursor {
        bytes: &mut text,
        length: 0,
    };
    let _ = core::fmt::write(
        &mut writer,
        format_args!(
            "hostile: done: {written} submissions written, {taken} taken, {busy} times EBUSY, {refused} enters refused\n"
        ),
    );
    let length = writer.length;
    // The NOP ends a chain the flood may have left open (its last
    // submission may have had LINK): as a member of it the line would
    // wait behind the chain, or be cancelled with it if it failed.
    let closing = [
        ops::nop().with_user_data(1),
        ops::log(&text[..length]).with_user_data(1),
        ops::exit(0),
    ];
    for submission in closing {
        // Retry while the CQ is full of completions still to come.
        loop {
            write_slot(head, &submission);
            header(header_offset::SQ_TAIL).store(head.wrapping_add(1), Ordering::Release);
            let result = kernel.ring_enter(1, 0, 0);
            let cq_tail = header(header_offset::CQ_TAIL).load(Ordering::Acquire);
            header(header_offset::CQ_HEAD).store(cq_tail, Ordering::Release);
            if result == 1 {
                head = head.wrapping_add(1);
                break;
            }
            let _ = kernel.ring_enter(0, 0, 0);
        }
    }
    // EXIT was taken: the kernel ends this process before it runs again.
    loop {
        core::hint::spin_loop();
    }
}

/// A `fmt::Write` into a byte array.
struct Cursor<'a> {
    bytes: &'a mut [u8],
    length: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let end = (self.length + text.len()).min(self.bytes.len());
        let count = end - self.length;
        self.bytes[self.length..end].copy_from_slice(&text.as_bytes()[..count]);
        self.length = end;
        Ok(())
    }
}
