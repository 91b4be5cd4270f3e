//! drivertest: what the kernel does when a disk driver ends. It starts
//! the disk driver (`bin/virtio-blk` from the boot image) itself, with
//! the disk and an endpoint of its own, kills it, and checks that the
//! kernel reset the device (its `Status` register reads 0, so it no
//! longer reads or writes the dead driver's freed DMA memory), that the
//! driver's clients get `ESRVDEAD`, and that a second driver starts the
//! device again from scratch (`docs/drivers.md`).
//!
//! Started as `drivertest+device=virtio-blk+irq=virtio-blk+dma+spawn+bootimage`.
//! One line per case, then `drivertest: N passed, M failed`.

#![no_std]
#![no_main]

extern crate alloc;

use init::fail;
use init::suite::{Failure, expect};
use libring::abi::{Errno, FileStatus, MAP_BASE};
use libring::ops;
use libring::println;
use libring::process::{self, Child, Give};
use libring::runtime::{self, Arguments, boot_image, with_ring};

libring::entry!(main);

/// Where this program maps the disk's registers to look at them.
const REGISTERS: u64 = MAP_BASE + (1 << 30);
/// The virtio-mmio `Status` register, and its "driver OK" bit.
const STATUS: u64 = 0x070;
const DRIVER_OK: u32 = 4;

struct Rights {
    device: u32,
    interrupt: u32,
    dma: u32,
    spawner: u32,
    image: &'static [u8],
}

/// A driver this program started: its process and a client of it.
struct Driver {
    process: u32,
    client: u32,
}

fn main(_arguments: Arguments) -> i32 {
    let [device, interrupt, dma, spawner, boot] = *runtime::handles() else {
        println!("drivertest: needs +device=virtio-blk+irq=virtio-blk+dma+spawn+bootimage");
        return 1;
    };
    let Ok(image) = boot_image::map(boot) else {
        println!("drivertest: cannot map the boot image");
        return 1;
    };
    let rights = Rights {
        device,
        interrupt,
        dma,
        spawner,
        image,
    };
    let outcome = run(&rights);
    let failed = match outcome {
        Ok(()) => 0,
        Err(failure) => {
            println!("drivertest: FAILED: {}", failure.0);
            1
        }
    };
    println!("drivertest: {} passed, {failed} failed", 1 - failed);
    failed
}

/// The disk's `Status` register, its registers mapped at `base`.
fn status(base: u64) -> u32 {
    // SAFETY: `run` mapped the device's registers at `base` (device
    // memory, read and write); reading Status has no side effects.
    unsafe { ((base + STATUS) as *const u32).read_volatile() }
}

fn run(rights: &Rights) -> Result<(), Failure> {
    let offset = with_ring(|ring| ring.run(ops::map_device(rights.device, REGISTERS)))
        .map_err(|error| Failure(alloc::format!("MAP_DEVICE: {error:?}")))?;
    let base = REGISTERS + offset as u64;
    let first = start_driver(rights)?;
    expect(
        "STAT through the first driver",
        disk_size(first.client),
        Ok(4 << 20),
    )?;
    if status(base) & DRIVER_OK == 0 {
        fail!(
            "the first driver has not set DRIVER_OK: Status {:#x}",
            status(base)
        );
    }
    // A process that holds the device's handle but never mapped it ends:
    // the running driver's device is left alone.
    let holder = start(rights, "true", &[rights.device])?;
    let _ = with_ring(|ring| ring.run(ops::wait(holder, &mut [])));
    if status(base) & DRIVER_OK == 0 {
        fail!(
            "a holder's end stopped the device: Status {:#x}",
            status(base)
        );
    }
    expect(
        "STAT after the holder's end",
        disk_size(first.client),
        Ok(4 << 20),
    )?;
    with_ring(|ring| ring.run(ops::kill(first.process)))
        .map_err(|error| Failure(alloc::format!("KILL: {error:?}")))?;
    let _ = with_ring(|ring| ring.run(ops::wait(first.process, &mut [])));
    expect("Status after the driver's end", status(base), 0)?;
    expect(
        "STAT through the dead driver",
        disk_size(first.client),
        Err(Errno::ServerDead),
    )?;
    let second = start_driver(rights)?;
    expect(
        "STAT through a second driver",
        disk_size(second.client),
        Ok(4 << 20),
    )?;
    let mut sector = [0u8; 512];
    expect(
        "READ through the second driver",
        with_ring(|ring| ring.run(ops::read(second.client, &mut sector, 0))),
        Ok(512),
    )?;
    // The pattern disk's first words (disktest's `pattern`).
    expect(
        "its first bytes",
        &sector[4..8],
        &2_654_435_761u32.to_le_bytes()[..],
    )?;
    // This program mapped the registers too, so its own end resets the
    // device: the second driver goes first.
    let _ = with_ring(|ring| ring.run(ops::kill(second.process)));
    let _ = with_ring(|ring| ring.run(ops::wait(second.process, &mut [])));
    println!("drivertest: a killed driver's device is reset, and starts again: ok");
    Ok(())
}

fn disk_size(client: u32) -> Result<u64, Errno> {
    let mut status = FileStatus::default();
    with_ring(|ring| ring.run(ops::stat(client, &mut status)))?;
    Ok(status.size)
}

/// Starts `bin/<name>` from the boot image with `handles`; returns its
/// process handle.
fn start(rights: &Rights, name: &str, handles: &[u32]) -> Result<u32, Failure> {
    let path = alloc::format!("bin/{name}");
    let file = cpio_reader::iter_files(rights.image)
        .find(|entry| entry.name().trim_start_matches("./") == path)
        .map(|entry| entry.file())
        .ok_or(Failure(alloc::format!("no {path} in the boot image")))?;
    let handles: alloc::vec::Vec<(Give, u8)> = handles
        .iter()
        .map(|&handle| (Give { handle, request: 0 }, 0))
        .collect();
    let mut argument_text = alloc::vec::Vec::from(name.as_bytes());
    argument_text.push(0);
    let child = Child {
        name,
        memory_bytes: 0,
        file,
        argument_text: &argument_text,
        handles: &handles,
        services: &[],
    };
    with_ring(|ring| process::start(ring, rights.spawner, &child))
        .map(|started| started.handle)
        .map_err(|error| Failure(alloc::format!("starting {name}: {error:?}")))
}

/// Starts `bin/virtio-blk` with a new endpoint and the disk, as init
/// would from a manifest line; returns it and a client of it.
fn start_driver(rights: &Rights) -> Result<Driver, Failure> {
    let made = with_ring(|ring| {
        let service = ring.run(ops::endpoint_create(b"block"))? as u32;
        let client = ring.run(ops::mint(service, 7))? as u32;
        Ok::<_, Errno>((service, client))
    });
    let (service, client) =
        made.map_err(|error| Failure(alloc::format!("an endpoint: {error:?}")))?;
    let handles = [service, rights.device, rights.interrupt, rights.dma];
    let started = start(rights, "virtio-blk", &handles);
    let _ = with_ring(|ring| ring.run(ops::close(service)));
    Ok(Driver {
        process: started?,
        client,
    })
}
