//! linuxbench: the `/init` that `cargo xtask bench --against linux` boots
//! under Debian's arm64 Linux kernel, on the same QEMU machine as
//! `cargo xtask bench` (`-icount shift=0,sleep=off`), to measure there
//! what the bench program measures on Annulus (docs/performance.md).
//!
//! It is a static ELF with no C library: Linux starts it at `_start` as
//! process 1, and it makes its system calls itself (`svc #0`, the number
//! in `x8`). It counts instructions with a perf counter
//! (`perf_event_open`: hardware instructions, user and kernel, inherited
//! by children), like the bench counts with the PMU; if Linux offers no
//! counter it says so and uses the virtual clock, which with `-icount
//! shift=0` moves one nanosecond per instruction.
//!
//! Output, one line per figure, for xtask to read:
//! `linux: <name> <instructions per operation> <operations>` (the names are
//! those of the Annulus figures they stand beside), then `linux: done`,
//! then it powers the machine off.
//!
//! Started as `/init true` (by its own spawn figure) it exits at once: it is
//! its own `true`.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

// Linux enters with `sp` at `argc`, then the argument pointers, a null,
// the environment pointers, a null. Zeroing x29 and x30 ends the frame
// chain; `start` never returns.
global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".global _start",
    "_start:",
    "mov x29, #0",
    "mov x30, #0",
    "mov x0, sp",
    "bl {start}",
    "brk #1",
    start = sym start,
);

/// The system call numbers used (arm64's generic table).
mod number {
    pub const CLOSE: u64 = 57;
    pub const PIPE2: u64 = 59;
    pub const READ: u64 = 63;
    pub const WRITE: u64 = 64;
    pub const EXIT_GROUP: u64 = 94;
    pub const REBOOT: u64 = 142;
    pub const GETPPID: u64 = 173;
    pub const CLONE: u64 = 220;
    pub const EXECVE: u64 = 221;
    pub const MMAP: u64 = 222;
    pub const PERF_EVENT_OPEN: u64 = 241;
    pub const WAIT4: u64 = 260;
    pub const IO_URING_SETUP: u64 = 425;
    pub const IO_URING_ENTER: u64 = 426;
}

/// A system call with up to six arguments; the result, or `-errno`.
fn syscall(number: u64, arguments: [u64; 6]) -> i64 {
    let result: i64;
    // SAFETY: a Linux system call. Every pointer among the arguments is
    // made by the callers below from live buffers of the sizes the call
    // expects.
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") arguments[0] => result,
            in("x1") arguments[1],
            in("x2") arguments[2],
            in("x3") arguments[3],
            in("x4") arguments[4],
            in("x5") arguments[5],
            in("x8") number,
            options(nostack),
        );
    }
    result
}

fn write_all(bytes: &[u8]) {
    let _ = syscall(
        number::WRITE,
        [1, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0],
    );
}

/// A line of output, formatted into a buffer and written with one `write`.
struct Line {
    bytes: [u8; 160],
    length: usize,
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.length;
        let take = text.len().min(room);
        self.bytes[self.length..self.length + take].copy_from_slice(&text.as_bytes()[..take]);
        self.length += take;
        Ok(())
    }
}

macro_rules! say {
    ($($argument:tt)*) => {{
        let mut line = Line { bytes: [0; 160], length: 0 };
        let _ = writeln!(line, $($argument)*);
        write_all(&line.bytes[..line.length]);
    }};
}

fn exit(code: i32) -> ! {
    let _ = syscall(number::EXIT_GROUP, [code as u64, 0, 0, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

fn power_off() -> ! {
    const MAGIC1: u64 = 0xfee1_dead;
    const MAGIC2: u64 = 672_274_793;
    const POWER_OFF: u64 = 0x4321_fedc;
    let _ = syscall(number::REBOOT, [MAGIC1, MAGIC2, POWER_OFF, 0, 0, 0]);
    // Process 1 must not end: Linux would panic.
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("linux: panic: {}", info.message());
    power_off()
}

/// How instructions are counted: a perf counter's file descriptor, or the
/// virtual clock.
#[derive(Clone, Copy)]
enum Counter {
    Perf(u64),
    Clock,
}

impl Counter {
    /// A counter of instructions retired by this process and its children,
    /// user and kernel; the clock if Linux has none to give.
    fn open() -> Counter {
        // struct perf_event_attr, zeroed but for: type (0, hardware),
        // size, config (1, instructions), and the flag bits (inherit).
        let mut attribute = [0u64; 16];
        const PERF_TYPE_HARDWARE: u64 = 0;
        attribute[0] = (128 << 32) | PERF_TYPE_HARDWARE; // size, then type
        attribute[1] = 1; // PERF_COUNT_HW_INSTRUCTIONS
        attribute[5] = 1 << 1; // inherit (enabled from the start)
        let descriptor = syscall(
            number::PERF_EVENT_OPEN,
            [attribute.as_ptr() as u64, 0, u64::MAX, u64::MAX, 0, 0],
        );
        if descriptor < 0 {
            say!(
                "linux: no instruction counter (perf_event_open: errno {}); using the virtual clock",
                -descriptor
            );
            Counter::Clock
        } else {
            Counter::Perf(descriptor as u64)
        }
    }

    fn read(self) -> u64 {
        match self {
            Counter::Perf(descriptor) => {
                let mut value = 0u64;
                let _ = syscall(
                    number::READ,
                    [descriptor, &mut value as *mut u64 as u64, 8, 0, 0, 0],
                );
                value
            }
            Counter::Clock => clock_nanoseconds(),
        }
    }
}

/// The virtual clock in nanoseconds since the machine started: with
/// `-icount shift=0` one instruction is one nanosecond.
fn clock_nanoseconds() -> u64 {
    let (count, frequency): (u64, u64);
    // SAFETY: reads the generic timer's virtual count and its frequency,
    // which Linux lets EL0 read (its vDSO does).
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack));
        asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack));
    }
    (count as u128 * 1_000_000_000 / frequency.max(1) as u128) as u64
}

/// Instructions per operation of `count` runs of `operation`.
fn measure(counter: Counter, count: u64, mut operation: impl FnMut()) -> f64 {
    let start = counter.read();
    for _ in 0..count {
        operation();
    }
    counter.read().wrapping_sub(start) as f64 / count as f64
}

fn report(name: &str, value: f64, operations: u64) {
    say!("linux: {name} {value:.1} {operations}");
}

/// An io_uring with its rings mapped.
struct Uring {
    descriptor: u64,
    sq_tail: &'static AtomicU32,
    sq_mask: u32,
    sq_array: *mut u32,
    sqes: *mut [u64; 8],
    cq_head: &'static AtomicU32,
    cq_tail: &'static AtomicU32,
}

impl Uring {
    fn new(entries: u32) -> Option<Uring> {
        // struct io_uring_params: 30 words; Linux fills in the offsets.
        let mut parameters = [0u32; 30];
        let descriptor = syscall(
            number::IO_URING_SETUP,
            [entries as u64, parameters.as_mut_ptr() as u64, 0, 0, 0, 0],
        );
        if descriptor < 0 {
            say!("linux: io_uring_setup failed: errno {}", -descriptor);
            return None;
        }
        let descriptor = descriptor as u64;
        let [sq_entries, cq_entries] = [parameters[0], parameters[1]];
        let (sq_tail, sq_mask, sq_array) = (parameters[11], parameters[12], parameters[16]);
        let (cq_head, cq_tail, cqes) = (parameters[20], parameters[21], parameters[25]);
        // IORING_FEAT_SINGLE_MMAP (6.1 has it): both rings in one mapping.
        let length = (sq_array + sq_entries * 4).max(cqes + cq_entries * 16) as u64;
        let map = |length: u64, offset: u64| {
            const READ_WRITE: u64 = 3;
            const SHARED_POPULATE: u64 = 0x01 | 0x8000;
            syscall(
                number::MMAP,
                [0, length, READ_WRITE, SHARED_POPULATE, descriptor, offset],
            )
        };
        let rings = map(length, 0);
        let sqes = map(sq_entries as u64 * 64, 0x1000_0000);
        if rings < 0 || sqes < 0 {
            say!("linux: io_uring mmap failed");
            return None;
        }
        let at = |offset: u32| (rings as u64 + offset as u64) as *mut u32;
        // SAFETY: the offsets Linux gave are inside the ring mapping, which
        // stays mapped for the life of the process; the words it shares
        // with the kernel are read and written atomically.
        unsafe {
            Some(Uring {
                descriptor,
                sq_tail: AtomicU32::from_ptr(at(sq_tail)),
                sq_mask: *at(sq_mask),
                sq_array: at(sq_array),
                sqes: sqes as u64 as *mut [u64; 8],
                cq_head: AtomicU32::from_ptr(at(cq_head)),
                cq_tail: AtomicU32::from_ptr(at(cq_tail)),
            })
        }
    }

    /// `batch` NOPs, one `io_uring_enter` that waits for them all, then
    /// their completions taken: what the bench's `round` does on Annulus.
    fn nop_round(&self, batch: u32) {
        let mut tail = self.sq_tail.load(Ordering::Relaxed);
        for _ in 0..batch {
            let index = tail & self.sq_mask;
            // SAFETY: index <= sq_mask < the SQE array's length; the slot
            // is free (every earlier submission was consumed, as each
            // round waits for all of its completions).
            unsafe {
                // IORING_OP_NOP is opcode 0; user_data (word 4) is 1.
                *self.sqes.add(index as usize) = [0, 0, 0, 0, 1, 0, 0, 0];
                *self.sq_array.add(index as usize) = index;
            }
            tail = tail.wrapping_add(1);
        }
        self.sq_tail.store(tail, Ordering::Release);
        const GETEVENTS: u64 = 1;
        let _ = syscall(
            number::IO_URING_ENTER,
            [self.descriptor, batch as u64, batch as u64, GETEVENTS, 0, 0],
        );
        let ready = self.cq_tail.load(Ordering::Acquire);
        self.cq_head.store(ready, Ordering::Release);
    }
}

/// The pipe figure's buffers: 16 KiB written, then read back.
static mut PIECE_OUT: [u8; 16 * 1024] = [0x5a; 16 * 1024];
static mut PIECE_IN: [u8; 16 * 1024] = [0; 16 * 1024];

/// 1 MiB through a pipe in 16 KiB pieces, each written and then read by
/// this process: instructions per KiB, like the bench's pipe figure.
fn pipe_per_kib(counter: Counter) -> Option<f64> {
    let mut ends = [0i32; 2];
    if syscall(number::PIPE2, [ends.as_mut_ptr() as u64, 0, 0, 0, 0, 0]) < 0 {
        return None;
    }
    let [read_end, write_end] = ends.map(|end| end as u64);
    let piece = 16 * 1024u64;
    let out = &raw const PIECE_OUT as u64;
    let into = &raw mut PIECE_IN as u64;
    let total = measure(counter, 1, || {
        for _ in 0..(1 << 20) / piece {
            let _ = syscall(number::WRITE, [write_end, out, piece, 0, 0, 0]);
            let _ = syscall(number::READ, [read_end, into, piece, 0, 0, 0]);
        }
    });
    let _ = syscall(number::CLOSE, [read_end, 0, 0, 0, 0, 0]);
    let _ = syscall(number::CLOSE, [write_end, 0, 0, 0, 0, 0]);
    Some(total / 1024.0)
}

/// fork, exec of `/init true` (this program, which then exits at once),
/// wait: a whole process's life.
fn spawn_and_wait() {
    const SIGCHLD: u64 = 17;
    let child = syscall(number::CLONE, [SIGCHLD, 0, 0, 0, 0, 0]);
    if child == 0 {
        let path = b"/init\0";
        let word = b"true\0";
        let arguments = [path.as_ptr() as u64, word.as_ptr() as u64, 0];
        let environment = [0u64];
        let _ = syscall(
            number::EXECVE,
            [
                path.as_ptr() as u64,
                arguments.as_ptr() as u64,
                environment.as_ptr() as u64,
                0,
                0,
                0,
            ],
        );
        exit(127);
    }
    if child > 0 {
        let mut status = 0i32;
        let _ = syscall(
            number::WAIT4,
            [child as u64, &mut status as *mut i32 as u64, 0, 0, 0, 0],
        );
    }
}

/// The entry point (from `_start`), with the address of `argc`.
extern "C" fn start(stack: *const u64) -> ! {
    // The clock first: the boot figure is the time to this instruction.
    let booted = clock_nanoseconds();
    // SAFETY: Linux put argc, then argc argument pointers (C strings), on
    // the stack it started us with.
    let second_argument = unsafe {
        let count = *stack;
        (count >= 2).then(|| *stack.add(2) as *const u8)
    };
    // SAFETY: a C string from the argument list, compared up to its end.
    let is_true = second_argument
        .is_some_and(|argument| unsafe { core::ffi::CStr::from_ptr(argument.cast()) } == c"true");
    if is_true {
        exit(0);
    }
    report("boot_to_first_line", booted as f64, 1);
    main();
    say!("linux: done");
    power_off()
}

fn main() {
    let counter = Counter::open();
    const OPERATIONS: u64 = 10_000;
    if let Some(uring) = Uring::new(32) {
        let batch_1 = measure(counter, OPERATIONS, || uring.nop_round(1));
        report("kernel_nop_batch_1", batch_1, OPERATIONS);
        let rounds = OPERATIONS / 32;
        let batch_32 = measure(counter, rounds, || uring.nop_round(32)) / 32.0;
        report("kernel_nop_batch_32", batch_32, rounds * 32);
    }
    let getppid = measure(counter, OPERATIONS, || {
        let _ = syscall(number::GETPPID, [0; 6]);
    });
    report("getppid", getppid, OPERATIONS);
    if let Some(figure) = pipe_per_kib(counter) {
        report("pipe_1m_per_kib", figure, 1024);
    }
    const SPAWNS: u64 = 100;
    // One first, not counted: it warms the page cache and the allocator.
    spawn_and_wait();
    let spawn = measure(counter, SPAWNS, spawn_and_wait);
    report("spawn_wait", spawn, SPAWNS);
}
