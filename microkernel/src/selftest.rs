//! In-kernel tests of what only the machine can show: the MMU enforces the
//! kernel's permissions, interrupts arrive, threads are preempted.
//!
//! Booting with the command line `selftest` (`-append selftest`, which
//! `cargo xtask test` does for each QEMU configuration) runs these instead
//! of a normal boot. Each prints `test <name> ... ok` or
//! `test <name> ... FAILED: <why>`, then a summary line
//! `selftest: N passed, M failed`, and the machine powers off. QEMU exits 0
//! either way; the runner reads the serial output.

use crate::arch::{cpu, probe, psci, timer};
use crate::exception_class::{self, FaultKind, class};
use crate::mm::{self, setup};
use crate::{kprint, kprintln, power, scheduler, time};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use boot::layout::{PAGE_SIZE, physical_to_virtual};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

type Outcome = Result<(), String>;
/// A test: its name and the function that runs it.
type Test = (&'static str, fn() -> Outcome);

/// Every test, in the order they run.
const TESTS: &[Test] = &[
    ("boot_info_names_the_machine", boot_info_names_the_machine),
    (
        "initrd_is_where_the_device_tree_says",
        initrd_is_where_the_device_tree_says,
    ),
    (
        "frames_exclude_kernel_fdt_and_initrd",
        frames_exclude_kernel_fdt_and_initrd,
    ),
    ("frames_allocate_and_free", frames_allocate_and_free),
    (
        "highest_ram_is_in_the_linear_map",
        highest_ram_is_in_the_linear_map,
    ),
    ("heap_allocates_and_frees", heap_allocates_and_frees),
    (
        "kernel_text_write_is_a_permission_fault",
        kernel_text_write_is_a_permission_fault,
    ),
    (
        "kernel_rodata_write_is_a_permission_fault",
        kernel_rodata_write_is_a_permission_fault,
    ),
    (
        "kernel_data_is_not_executable",
        kernel_data_is_not_executable,
    ),
    (
        "boot_stack_guard_page_is_unmapped",
        boot_stack_guard_page_is_unmapped,
    ),
    ("timer_interrupts_arrive", timer_interrupts_arrive),
    (
        "threads_interleave_under_preemption",
        threads_interleave_under_preemption,
    ),
    (
        "sleep_waits_at_least_its_time",
        sleep_waits_at_least_its_time,
    ),
    (
        "yield_lets_another_thread_run",
        yield_lets_another_thread_run,
    ),
    (
        "exited_threads_give_their_stacks_back",
        exited_threads_give_their_stacks_back,
    ),
    ("secondary_cores_stay_parked", secondary_cores_stay_parked),
];

/// The self-test thread: runs every test, prints the summary, powers off.
pub fn run(_: u64) {
    kprintln!("selftest: {} tests", TESTS.len());
    let mut passed = 0;
    let mut failed = 0;
    for (name, test) in TESTS {
        kprint!("test {} ... ", name);
        match test() {
            Ok(()) => {
                passed += 1;
                kprintln!("ok");
            }
            Err(why) => {
                failed += 1;
                kprintln!("FAILED: {}", why);
            }
        }
    }
    kprintln!("selftest: {} passed, {} failed", passed, failed);
    power::shutdown()
}

/// `Err(message)` unless `condition`.
fn check(condition: bool, message: impl FnOnce() -> String) -> Outcome {
    if condition { Ok(()) } else { Err(message()) }
}

fn boot_info() -> &'static boot::BootInfo {
    crate::boot_info().expect("the device tree was read at boot")
}

fn boot_info_names_the_machine() -> Outcome {
    let info = boot_info();
    check(!info.memory.is_empty(), || "no memory banks".into())?;
    check(info.console.is_some(), || "no console UART".into())?;
    check(info.psci.is_some(), || "no PSCI method".into())?;
    check(info.cpu_count >= 1, || "no CPUs".into())?;
    let expected_version = info.interrupt_controller.version();
    check(
        crate::interrupts::gic_version() == Some(expected_version),
        || {
            format!(
                "GIC driver is v{:?}, device tree says v{}",
                crate::interrupts::gic_version(),
                expected_version
            )
        },
    )
}

fn initrd_is_where_the_device_tree_says() -> Outcome {
    let initrd = boot_info()
        .initrd
        .ok_or("no initrd in /chosen (xtask passes one)")?;
    // SAFETY: the initrd is RAM, reserved from the frame allocator, in the
    // linear map; six bytes of it are read.
    let magic =
        unsafe { core::slice::from_raw_parts(physical_to_virtual(initrd.start) as *const u8, 6) };
    check(magic == b"070707", || {
        format!("initrd starts with {magic:?}, not a cpio odc header")
    })
}

fn frames_exclude_kernel_fdt_and_initrd() -> Outcome {
    let info = boot_info();
    let mut ranges: Vec<(&str, u64, u64)> = Vec::new();
    let image = crate::kernel_physical_range();
    ranges.push(("kernel image", image.start, image.end()));
    if let Some(initrd) = info.initrd {
        ranges.push(("initrd", initrd.start, initrd.end()));
    }
    let fdt = crate::fdt_physical_range();
    ranges.push(("fdt", fdt.start, fdt.end()));
    for (name, start, end) in ranges {
        let mut frame = start / PAGE_SIZE as u64 * PAGE_SIZE as u64;
        while frame < end {
            if mm::with_frames(|frames| frames.is_free(frame)) {
                return Err(format!("frame {frame:#x} of the {name} is free"));
            }
            frame += PAGE_SIZE as u64;
        }
    }
    Ok(())
}

fn frames_allocate_and_free() -> Outcome {
    // Room for the list first, so the heap takes no frames while we count.
    let mut frames: Vec<u64> = Vec::with_capacity(64);
    let before = mm::free_frames();
    frames.extend((0..64).filter_map(|_| mm::with_frames(|frames| frames.allocate())));
    check(frames.len() == 64, || "could not allocate 64 frames".into())?;
    check(mm::free_frames() == before - 64, || {
        "free count did not drop by 64".into()
    })?;
    for (index, frame) in frames.iter().enumerate() {
        // SAFETY: the frame is ours, in the linear map.
        unsafe { (physical_to_virtual(*frame) as *mut u64).write_volatile(index as u64) };
    }
    for (index, frame) in frames.iter().enumerate() {
        // SAFETY: as above.
        let value = unsafe { (physical_to_virtual(*frame) as *const u64).read_volatile() };
        check(value == index as u64, || {
            format!("frame {frame:#x} lost its contents")
        })?;
    }
    mm::with_frames(|allocator| frames.iter().for_each(|frame| allocator.free(*frame)));
    check(mm::free_frames() == before, || {
        "free count did not come back".into()
    })
}

fn highest_ram_is_in_the_linear_map() -> Outcome {
    let last_bank = boot_info()
        .memory
        .iter()
        .max_by_key(|bank| bank.end())
        .ok_or("no memory")?;
    let last_word = last_bank.end() - 8;
    let found = setup::translate(physical_to_virtual(last_word))
        .ok_or("the last word of RAM is not mapped")?;
    check(found.physical == last_word, || {
        format!("maps to {:#x}", found.physical)
    })?;
    check(!found.descriptor.kernel_executable(), || {
        "the linear map is executable".into()
    })?;
    let address = physical_to_virtual(last_word) as *mut u64;
    // SAFETY: mapped (checked above), RAM; the value is written back unchanged.
    unsafe { address.write_volatile(address.read_volatile()) };
    Ok(())
}

fn heap_allocates_and_frees() -> Outcome {
    let before = crate::heap_bytes_in_use();
    let numbers: Vec<u32> = (0..10_000).collect();
    // A vec!, not Box::new([..]): a debug build would build the array on
    // the 16 KiB thread stack first.
    let big = alloc::vec![7u8; 3 * PAGE_SIZE];
    let sum: u64 = numbers.iter().map(|&number| number as u64).sum();
    check(sum == 49_995_000, || format!("sum {sum}"))?;
    check(big.iter().all(|&byte| byte == 7), || {
        "large block corrupted".into()
    })?;
    drop(numbers);
    drop(big);
    check(crate::heap_bytes_in_use() == before, || {
        "heap did not shrink back".into()
    })
}

/// Checks that `result` is a data abort for a write with `expected` kind.
fn expect_write_fault(
    result: Result<(), u64>,
    expected: fn(FaultKind) -> bool,
    what: &str,
) -> Outcome {
    let syndrome = result
        .err()
        .ok_or_else(|| format!("the write to {what} succeeded"))?;
    check(
        exception_class::class_of(syndrome) == class::DATA_ABORT_SAME,
        || {
            format!(
                "{what}: exception class {:#x}, not a data abort",
                exception_class::class_of(syndrome)
            )
        },
    )?;
    check(exception_class::is_write(syndrome), || {
        format!("{what}: the abort was not for a write")
    })?;
    let kind = exception_class::fault_kind(syndrome);
    check(expected(kind), || {
        format!("{what}: wrong fault kind {kind:?}")
    })
}

fn is_permission(kind: FaultKind) -> bool {
    matches!(kind, FaultKind::Permission { .. })
}

fn kernel_text_write_is_a_permission_fault() -> Outcome {
    let target = kernel_text_write_is_a_permission_fault as *const () as usize;
    // SAFETY: reads one byte of our own code.
    let before = unsafe { (target as *const u8).read_volatile() };
    // SAFETY: if the MMU wrongly allowed it, the byte written is the one
    // already there, so the code is unchanged.
    let result = unsafe { probe::write_byte(target, before) };
    expect_write_fault(result, is_permission, "kernel text")
}

static READ_ONLY_VALUE: u64 = 0x5eed;

fn kernel_rodata_write_is_a_permission_fault() -> Outcome {
    let target = &READ_ONLY_VALUE as *const u64 as usize;
    // SAFETY: the byte written is the one already there.
    let result = unsafe { probe::write_byte(target, 0xed) };
    expect_write_fault(result, is_permission, "kernel rodata")?;
    check(core::hint::black_box(READ_ONLY_VALUE) == 0x5eed, || {
        "the value changed".into()
    })
}

/// One `ret` instruction, in writable data: if the kernel could execute
/// data, calling this would simply return 0.
static RETURN_INSTRUCTION: AtomicU64 = AtomicU64::new(0xd65f_03c0);

fn kernel_data_is_not_executable() -> Outcome {
    let target = &RETURN_INSTRUCTION as *const AtomicU64 as usize;
    // SAFETY: the code there is a lone `ret`, a valid function.
    let syndrome = match unsafe { probe::execute(target) } {
        Ok(_) => return Err("executed code from kernel data".into()),
        Err(syndrome) => syndrome,
    };
    check(
        exception_class::class_of(syndrome) == class::INSTRUCTION_ABORT_SAME,
        || {
            format!(
                "exception class {:#x}, not an instruction abort",
                exception_class::class_of(syndrome)
            )
        },
    )?;
    let kind = exception_class::fault_kind(syndrome);
    check(is_permission(kind), || format!("wrong fault kind {kind:?}"))
}

fn boot_stack_guard_page_is_unmapped() -> Outcome {
    let image = setup::kernel_image(0);
    let guard = image.bss_end;
    check(image.stack_bottom - guard == PAGE_SIZE, || {
        "no guard page in the layout".into()
    })?;
    // SAFETY: a write to an unmapped page cannot change anything.
    let result = unsafe { probe::write_byte(guard + 8, 0) };
    expect_write_fault(
        result,
        |kind| matches!(kind, FaultKind::Translation { level: 3 }),
        "the stack guard page",
    )
}

/// Waits (with interrupts on) until `done` or `milliseconds` of hardware
/// counter time have passed; true if `done` happened.
fn wait_until(milliseconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = time::counter_microseconds() + milliseconds * 1000;
    while !done() {
        if time::counter_microseconds() > deadline {
            return false;
        }
        scheduler::yield_now();
        core::hint::spin_loop();
    }
    true
}

fn timer_interrupts_arrive() -> Outcome {
    check(!cpu::interrupts_masked(), || {
        "IRQs are masked in a thread".into()
    })?;
    let start = time::ticks();
    let arrived = wait_until(2_000, || time::ticks() >= start + 10);
    check(arrived, || {
        format!(
            "only {} ticks in 2 s of counter time",
            time::ticks() - start
        )
    })?;
    check(timer::frequency() > 0, || "CNTFRQ_EL0 is zero".into())
}

/// Progress of the two spinning threads.
static SPINNER_COUNTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// How often each spinner saw the other make progress while it spun.
static SPINNER_SAW_OTHER: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static SPINNERS_DONE: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// Never yields or sleeps: it only stops running when preempted. It counts,
/// and notes each time the other spinner's count moved since it last
/// looked, which can only happen if a tick switched threads.
fn spinner(index: u64) {
    let me = index as usize;
    let other = 1 - me;
    let deadline = time::counter_microseconds() + 3_000_000;
    let mut last_seen = SPINNER_COUNTS[other].load(Ordering::Relaxed);
    // Both keep spinning until *both* have seen the other run 5 times: a
    // spinner that stopped as soon as it was satisfied would leave the
    // other nothing to see.
    let both_satisfied = || {
        SPINNER_SAW_OTHER
            .iter()
            .all(|saw| saw.load(Ordering::Relaxed) >= 5)
    };
    while !both_satisfied() && time::counter_microseconds() < deadline {
        SPINNER_COUNTS[me].fetch_add(1, Ordering::Relaxed);
        let now = SPINNER_COUNTS[other].load(Ordering::Relaxed);
        if now != last_seen {
            SPINNER_SAW_OTHER[me].fetch_add(1, Ordering::Relaxed);
            last_seen = now;
        }
    }
    SPINNERS_DONE[me].store(true, Ordering::Release);
}

fn threads_interleave_under_preemption() -> Outcome {
    let switches_before = scheduler::switch_count();
    for index in 0..2 {
        scheduler::spawn("spinner", spinner, index)
            .map_err(|_| String::from("no memory for a thread"))?;
    }
    let finished = wait_until(5_000, || {
        SPINNERS_DONE
            .iter()
            .all(|done| done.load(Ordering::Acquire))
    });
    check(finished, || "the spinners did not finish".into())?;
    let saw = [
        SPINNER_SAW_OTHER[0].load(Ordering::Relaxed),
        SPINNER_SAW_OTHER[1].load(Ordering::Relaxed),
    ];
    check(saw.iter().all(|&count| count >= 5), || {
        format!("each spinner should see the other run 5 times while it spins, saw {saw:?}")
    })?;
    check(scheduler::switch_count() > switches_before + 10, || {
        "too few thread switches".into()
    })
}

fn sleep_waits_at_least_its_time() -> Outcome {
    let start = time::counter_microseconds();
    scheduler::sleep_ticks(time::ticks_for_milliseconds(50));
    let slept = time::counter_microseconds() - start;
    // The deadline is on the counter: never early, however late the ticks.
    check(slept >= 50_000, || format!("slept only {slept} us"))
}

static YIELD_FLAG: AtomicBool = AtomicBool::new(false);

fn yield_lets_another_thread_run() -> Outcome {
    scheduler::spawn(
        "flag setter",
        |_| YIELD_FLAG.store(true, Ordering::Release),
        0,
    )
    .map_err(|_| String::from("no memory for a thread"))?;
    // With interrupts off no tick can preempt us: only our yields let the
    // other thread run.
    let interrupts = cpu::disable_interrupts();
    let mut yields = 0;
    while !YIELD_FLAG.load(Ordering::Acquire) && yields < 100 {
        scheduler::yield_now();
        yields += 1;
    }
    cpu::restore_interrupts(interrupts);
    check(YIELD_FLAG.load(Ordering::Acquire), || {
        "the other thread never ran".into()
    })
}

/// Starts 20 threads that end at once, and waits until they are gone.
/// Lets the short-lived threads of [`spawn_and_finish_twenty`] end.
static SHORT_LIVED_GO: AtomicBool = AtomicBool::new(false);

/// Starts 20 threads, all alive at once (each waits for the others to be
/// started: a tick in the middle of starting them must not let the first
/// ones end early, or one round would need less room than the next), then
/// lets them end and waits until they are reaped.
fn spawn_and_finish_twenty() -> Outcome {
    SHORT_LIVED_GO.store(false, Ordering::SeqCst);
    for _ in 0..20 {
        let waiting = |_| {
            while !SHORT_LIVED_GO.load(Ordering::SeqCst) {
                scheduler::yield_now();
            }
        };
        scheduler::spawn("short-lived", waiting, 0)
            .map_err(|_| String::from("no memory for a thread"))?;
    }
    SHORT_LIVED_GO.store(true, Ordering::SeqCst);
    let all_done = wait_until(2_000, || scheduler::thread_count() == 2);
    check(all_done, || {
        format!("{} threads still alive", scheduler::thread_count())
    })?;
    scheduler::yield_now(); // reap the last one
    Ok(())
}

fn exited_threads_give_their_stacks_back() -> Outcome {
    // Let earlier tests' threads finish and be reaped.
    wait_until(1_000, || scheduler::thread_count() == 2);
    // The first round may grow the heap (thread records, queues); the heap
    // keeps such pages. The second round must give back every frame it
    // took: each is free again, or (should the heap still have grown) one
    // of the heap's pages.
    spawn_and_finish_twenty()?;
    let accounted = || mm::free_frames() + crate::heap_pages_held();
    let before = accounted();
    spawn_and_finish_twenty()?;
    check(accounted() == before, || {
        format!("{} frames leaked", before as i64 - accounted() as i64)
    })
}

fn secondary_cores_stay_parked() -> Outcome {
    let info = boot_info();
    let method = power::psci_method().ok_or("no PSCI")?;
    check(
        psci::affinity_info(method, cpu::core_affinity()) == psci::CoreState::On,
        || "this core is not on".into(),
    )?;
    for core in &info.cpu_ids {
        if *core == cpu::core_affinity() {
            continue;
        }
        let state = psci::affinity_info(method, *core);
        check(state == psci::CoreState::Off, || {
            format!("core {core:#x} is {state:?}, not parked")
        })?;
    }
    let expected = info.cpu_count.min(boot::boot_info::MAX_CPU_IDS);
    check(info.cpu_ids.len() == expected, || {
        format!("{} CPU ids for {} CPUs", info.cpu_ids.len(), info.cpu_count)
    })
}
