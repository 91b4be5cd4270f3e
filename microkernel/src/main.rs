//! The kernel binary: `kernel_main`, the boot sequence, and the panic
//! handler every `no_std` binary must provide (the global allocator is in
//! `lib.rs`).
//!
//! The boot code in `boot/src/entry.rs` calls [`kernel_main`] with the MMU
//! on, running at the kernel's link address on the boot stack. From there:
//!
//! 1. exception vectors, so a fault is reported instead of hanging;
//! 2. the early UART (the one hard-coded address) for the boot log;
//! 3. the device tree, read once into a `BootInfo`;
//! 4. memory: the kernel's own page tables, the frame allocator, the heap;
//! 5. the real console (the UART the device tree names);
//! 6. the interrupt controller and the timer tick;
//! 7. the scheduler: with `selftest` on the command line, a thread runs the
//!    self-tests; with `crash=...`, one fails on purpose (to test the fatal
//!    reports); otherwise the boot thread starts the programs `run=` names
//!    (by default `init`, which starts the rest) and becomes the idle
//!    thread.
//!
//! On the host this file builds to an empty program, so that `cargo test`
//! in the workspace works; the kernel is only ever built for
//! `aarch64-unknown-none-softfloat` (see `cargo xtask build`).

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the Annulus kernel runs on QEMU: try `cargo xtask run`");
}

#[cfg(target_os = "none")]
mod kernel {
    use boot::BootInfo;
    use boot::boot_info::{self, InterruptController, PhysicalRange, PsciMethod};
    use boot::layout::{LINEAR_MAP_LIMIT, physical_to_virtual};
    use microkernel::arch::{cpu, exceptions, timer};
    use microkernel::{
        console, interrupts, kprintln, mm, power, process, scheduler, selftest, time,
    };

    /// The largest device tree the early page tables are sure to map.
    const FDT_MAX_SIZE: usize = 2 << 20;

    /// Called by `boot/src/entry.rs` on the boot stack, with IRQs masked.
    #[unsafe(no_mangle)]
    extern "C" fn kernel_main(fdt_physical: u64, kernel_physical: u64, entry_level: u64) -> ! {
        exceptions::install_vectors();
        cpu::enable_serror_reports();
        // SAFETY: the early boot tables map QEMU virt's PL011 here, and
        // nothing else drives it yet.
        unsafe { console::use_uart(boot::entry::EARLY_UART_VIRTUAL) };
        kprintln!();
        kprintln!(
            "Annulus {}: entered at EL{}, CPU {}",
            env!("CARGO_PKG_VERSION"),
            entry_level,
            cpu::cpu_name()
        );

        let info = match read_device_tree(fdt_physical) {
            Ok(info) => {
                let fdt = PhysicalRange {
                    start: fdt_physical,
                    size: info.fdt_size as u64,
                };
                let kernel = mm::setup::kernel_image(kernel_physical).physical_range();
                microkernel::record_boot(info, fdt, kernel)
            }
            Err(reason) => fail("device tree", format_args!("{reason}")),
        };
        power::init(info.psci);

        let memory = mm::setup::init(info, fdt_physical, kernel_physical)
            .unwrap_or_else(|error| fail("memory", format_args!("{error:?}")));
        let Some(uart) = info.console else {
            power::shutdown_after_failure()
        };
        match mm::map_device(uart.registers) {
            // SAFETY: just mapped, for the kernel log only.
            Ok(address) => unsafe { console::use_uart(address) },
            Err(_) => power::shutdown_after_failure(), // nowhere to say why
        }
        interrupts::init(&info.interrupt_controller, info.cpu_count)
            .unwrap_or_else(|error| fail("interrupts", format_args!("{error:?}")));
        time::init(&info.timer).unwrap_or_else(|error| fail("timer", format_args!("{error:?}")));
        microkernel::virtio::probe(&info.virtio_mmio);
        print_boot_log(info, fdt_physical, &memory);

        let mut words = info.bootargs.split_whitespace();
        if words.clone().any(|word| word == "bench") {
            microkernel::arch::pmu::allow_user_reads();
        }
        if words.clone().any(|word| word == "selftest") {
            scheduler::start("selftest", selftest::run, 0)
        } else if let Some(crash) = words.find_map(|word| word.strip_prefix("crash=")) {
            let how = match crash {
                "write-text" => CRASH_WRITE_TEXT,
                "panic" => CRASH_PANIC,
                "stack-overflow" => CRASH_STACK_OVERFLOW,
                _ => fail(
                    "command line",
                    format_args!("crash= takes write-text, panic or stack-overflow"),
                ),
            };
            scheduler::start("crash", crash_on_purpose, how)
        } else {
            process::init();
            scheduler::start_after("start programs", start_programs)
        }
    }

    const CRASH_WRITE_TEXT: u64 = 1;
    const CRASH_PANIC: u64 = 2;
    const CRASH_STACK_OVERFLOW: u64 = 3;

    /// `crash=write-text`, `crash=panic` or `crash=stack-overflow` on the
    /// command line: fail on purpose, so `cargo xtask test` can check the
    /// fatal reports.
    fn crash_on_purpose(how: u64) {
        if how == CRASH_WRITE_TEXT {
            let text = crash_on_purpose as *const () as *mut u32;
            // SAFETY: not safe at all, on purpose: kernel text is read-only,
            // so this store faults and the kernel reports it and stops.
            unsafe { text.write_volatile(0) };
        }
        if how == CRASH_STACK_OVERFLOW {
            let depth = recurse(u64::MAX);
            kprintln!("crash: recursed {depth} deep and came back");
        }
        panic!("crash requested on the command line");
    }

    /// Calls itself `depth` times, 1 KiB of stack a call: runs into the
    /// kernel stack's guard page long before it ends.
    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let mut buffer = [0u8; 1024];
        // The buffer is written and read through volatile pointers, so the
        // compiler cannot drop it or turn the call into a loop.
        // SAFETY: a local array.
        unsafe { core::ptr::write_volatile(&mut buffer[depth as usize % 1024], depth as u8) };
        if depth == 0 {
            return 0;
        }
        let below = recurse(depth - 1);
        // SAFETY: a local array.
        below + unsafe { core::ptr::read_volatile(&buffer[0]) } as u64 + 1
    }

    /// What runs when the command line names nothing: `init`, with every
    /// right the manifest may hand out (the console UART and its
    /// interrupt, the kernel log, the boot image, power, building
    /// processes). init reads the system manifest and starts the rest.
    /// A device with `?` is given only if the machine has it (a disk).
    const DEFAULT_PROGRAMS: &str = "init+device=console+irq=console+klog+bootimage+power+spawn+dma+device=virtio-blk?+irq=virtio-blk?";

    /// The boot thread's last work before it idles: starts the programs the command
    /// line names (`run=name[:argument...][+grant...][,name...]`, default
    /// [`DEFAULT_PROGRAMS`]),
    /// each from `bin/<name>` in the initrd.
    fn start_programs() {
        kprintln!(
            "annulus: boot complete after {} ms",
            time::counter_microseconds() / 1000
        );
        let bootargs = microkernel::boot_info().map_or("", |info| info.bootargs.as_str());
        let given = bootargs
            .split_whitespace()
            .find_map(|word| word.strip_prefix("run="));
        // The system from the manifest talks to its user through the
        // shell: the kernel then reports only leaks, not every ending
        // (`verbose` says otherwise; `quiet` keeps a run= list quiet too).
        let word = |wanted: &str| bootargs.split_whitespace().any(|word| word == wanted);
        process::report_every_ending(word("verbose") || (given.is_some() && !word("quiet")));
        let list = given.unwrap_or(DEFAULT_PROGRAMS);
        microkernel::hang_dump::configure(bootargs);
        microkernel::ring::faults::configure(bootargs);
        microkernel::arch::eret_window::configure(bootargs);
        let mut started = 0;
        process::SYSTEM.lock().starting = true;
        // All of them are created before any runs: this is the idle
        // thread, which would otherwise get the processor back only when
        // every program it already started is waiting.
        let interrupts = cpu::disable_interrupts();
        for program in list.split(',').filter(|program| !program.is_empty()) {
            // name[:argument...][+serve=E][+use=E][+device=D][+irq=D]
            // [+klog][+bootimage][+power][+spawn][+memory=MIB]...
            let mut options = program.split('+');
            let mut parts = options.next().unwrap_or_default().split(':');
            let name = parts.next().unwrap_or_default();
            let mut grants: heapless::Vec<process::Grant, 12> = heapless::Vec::new();
            let mut bad_option = None;
            let mut budget = process::address_space::DEFAULT_FRAME_BUDGET;
            for option in options {
                let grant = match option.split_once('=') {
                    // Not a handle: the process's memory budget, in MiB.
                    Some(("memory", mib)) => match mib.parse::<usize>() {
                        Ok(mib @ 1..=4096) => {
                            budget = mib * 256;
                            continue;
                        }
                        _ => {
                            bad_option = Some(option);
                            break;
                        }
                    },
                    Some(("serve", endpoint)) => process::Grant::Serve(endpoint),
                    Some(("use", endpoint)) => process::Grant::Use(endpoint),
                    Some((kind @ ("device" | "irq"), device)) => {
                        // `D?`: only if the machine has D.
                        let device = match device.strip_suffix('?') {
                            Some(device) if !microkernel::virtio::present(device) => continue,
                            Some(device) => device,
                            None => device,
                        };
                        if kind == "device" {
                            process::Grant::Device(device)
                        } else {
                            process::Grant::Interrupt(device)
                        }
                    }
                    None if option == "dma" => process::Grant::Dma,
                    None if option == "klog" => process::Grant::KernelLog,
                    None if option == "bootimage" => process::Grant::BootImage,
                    None if option == "power" => process::Grant::Power,
                    None if option == "spawn" => process::Grant::Spawner,
                    _ => {
                        bad_option = Some(option);
                        break;
                    }
                };
                if grants.push(grant).is_err() {
                    bad_option = Some(option);
                    break;
                }
            }
            if let Some(option) = bad_option {
                kprintln!("annulus: cannot start {}: bad option +{}", program, option);
                continue;
            }
            let mut arguments: heapless::Vec<&str, 8> = heapless::Vec::new();
            let mut too_many = false;
            for argument in parts {
                too_many |= arguments.push(argument).is_err();
            }
            if too_many {
                kprintln!("annulus: cannot start {}: more than 8 arguments", program);
                continue;
            }
            match process::create(name, &arguments, &grants, budget) {
                Ok(id) => {
                    started += 1;
                    kprintln!("annulus: started process {} ({})", id, program);
                }
                Err(error) => kprintln!("annulus: cannot start {}: {}", program, error.describe()),
            }
        }
        cpu::restore_interrupts(interrupts);
        process::SYSTEM.lock().starting = false;
        if started == 0 {
            kprintln!("annulus: no program to run; powering off");
            power::shutdown();
        }
        // Programs that ended while others were being started.
        process::stop_if_all_ended();
    }

    fn read_device_tree(fdt_physical: u64) -> Result<BootInfo, &'static str> {
        if fdt_physical == 0 {
            return Err("x0 held no device tree: boot the raw Image, not the ELF");
        }
        if fdt_physical >= LINEAR_MAP_LIMIT {
            return Err("the device tree is above 512 GiB, out of the early map's reach");
        }
        let start = physical_to_virtual(fdt_physical) as *const u8;
        // SAFETY: the early tables map the GiB holding the FDT and the next,
        // so at least 2 MiB from its start are readable; the header is 8 bytes.
        let header = unsafe { core::slice::from_raw_parts(start, 8) };
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if size > FDT_MAX_SIZE {
            return Err("the device tree claims to be larger than 2 MiB");
        }
        // SAFETY: as above; `size` is at most 2 MiB.
        let blob = unsafe { core::slice::from_raw_parts(start, size.max(8)) };
        boot_info::parse(blob).map_err(|error| match error {
            boot_info::BootInfoError::InvalidTree => "not a valid flattened device tree",
            boot_info::BootInfoError::NoMemory => "no memory node",
            boot_info::BootInfoError::NoInterruptController => "no GICv2 or GICv3 node",
            boot_info::BootInfoError::NoTimer => "no arm,armv8-timer node",
            boot_info::BootInfoError::TooMany(what) | boot_info::BootInfoError::Malformed(what) => {
                what
            }
        })
    }

    fn print_boot_log(info: &BootInfo, fdt_physical: u64, memory: &mm::setup::MemoryReport) {
        let total: u64 = info.memory.iter().map(|bank| bank.size).sum();
        let banks = if info.memory.len() == 1 {
            "bank"
        } else {
            "banks"
        };
        kprint_ranges(
            "memory",
            total >> 20,
            info.memory.len(),
            banks,
            &info.memory,
        );
        let image = memory.image.physical_range();
        kprintln!(
            "  kernel   {} ({} KiB) at {:#x}",
            image,
            image.size >> 10,
            memory.image.start
        );
        kprintln!(
            "  fdt      {:#010x} ({} bytes)",
            fdt_physical,
            info.fdt_size
        );
        match info.initrd {
            Some(initrd) => kprintln!("  initrd   {} ({} bytes)", initrd, initrd.size),
            None => kprintln!("  initrd   none"),
        }
        let free = mm::free_frames();
        kprintln!(
            "  frames   {} of {} free ({} MiB), bitmap at {}",
            free,
            mm::with_frames(|frames| frames.total_frames()),
            free >> 8,
            memory.bitmap
        );
        if let Some(uart) = info.console {
            kprintln!(
                "  console  PL011 at {:#010x}, interrupt {}",
                uart.registers.start,
                uart.interrupt.id
            );
        }
        let frequency = timer::frequency();
        kprintln!(
            "  gic      GICv{} (distributor {:#010x})",
            interrupts::gic_version().unwrap_or(0),
            match info.interrupt_controller {
                InterruptController::GicV2 { distributor, .. }
                | InterruptController::GicV3 { distributor, .. } => distributor.start,
            }
        );
        kprintln!(
            "  timer    {}.{} MHz counter, tick interrupt {}, {} ticks per second",
            frequency / 1_000_000,
            frequency % 1_000_000 / 100_000,
            info.timer.virtual_timer.id,
            time::TICKS_PER_SECOND
        );
        let count = info.cpu_count.max(1);
        kprintln!(
            "  cpus     {} found, 1 running, {} parked",
            count,
            count - 1
        );
        match info.psci {
            Some(PsciMethod::Hvc) => kprintln!("  psci     via hvc"),
            Some(PsciMethod::Smc) => kprintln!("  psci     via smc"),
            None => kprintln!("  psci     none: shutdown will only halt"),
        }
        kprintln!(
            "  virtio   {} mmio slots, {} with a device",
            info.virtio_mmio.len(),
            microkernel::virtio::count()
        );
        if !info.bootargs.is_empty() {
            kprintln!("  bootargs {}", info.bootargs);
        }
    }

    fn kprint_ranges(
        name: &str,
        mebibytes: u64,
        count: usize,
        noun: &str,
        ranges: &[PhysicalRange],
    ) {
        microkernel::kprint!("  {:<8} {} MiB in {} {}:", name, mebibytes, count, noun);
        for range in ranges {
            microkernel::kprint!(" {}", range);
        }
        kprintln!();
    }

    /// Reports a boot step that cannot go on, and powers off.
    fn fail(step: &str, reason: core::fmt::Arguments) -> ! {
        kprintln!("annulus: boot failed at {}: {}", step, reason);
        power::shutdown_after_failure()
    }

    #[panic_handler]
    fn panic(information: &core::panic::PanicInfo) -> ! {
        console::prepare_for_fatal_report();
        match information.location() {
            Some(location) => kprintln!(
                "\nKERNEL PANIC at {}:{}: {}",
                location.file(),
                location.line(),
                information.message()
            ),
            None => kprintln!("\nKERNEL PANIC: {}", information.message()),
        }
        power::shutdown_after_failure()
    }
}
