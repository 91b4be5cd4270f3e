//! disktest: the disk driver's test suite (`servers/virtio-blk`), and the
//! kernel's `DMA_MAP`. xtask boots it with a 4 MiB disk whose every 32-bit
//! word holds [`pattern`] of its byte offset, then checks on the host that
//! what it wrote is in the image (`docs/drivers.md`).
//!
//! Started as `disktest+use=block+dma`: a client handle to the disk
//! driver and a DMA right. One line per case, then `disktest: N passed,
//! M failed`; the exit code is the number of failures.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{DMA_MAX, Errno, FileStatus, MAP_BASE, PAGE_SIZE, SystemValue};
use libring::ops::{self, SubmissionOptions};
use libring::println;
use libring::runtime::{self, Arguments, with_ring};

use init::fail;
use init::suite::{Failure, expect};

libring::entry!(main);

/// The disk xtask gives: 4 MiB.
const DISK_SIZE: u64 = 4 << 20;
/// Where the write case writes, and how much (the host checks it).
const WRITTEN_AT: u64 = 2 << 20;
const WRITTEN_LENGTH: usize = 300 << 10;

/// The word the host put at byte `offset` (a multiple of 4) of the disk.
fn pattern(offset: u64) -> u32 {
    ((offset / 4) as u32).wrapping_mul(2_654_435_761)
}

/// What the write case puts there instead: the pattern's complement.
fn written(offset: u64) -> u32 {
    !pattern(offset)
}

/// Does `bytes`, read from byte `start`, hold `word` of each offset?
fn holds(bytes: &[u8], start: u64, word: fn(u64) -> u32) -> Result<(), Failure> {
    for (index, chunk) in bytes.chunks_exact(4).enumerate() {
        let offset = start + index as u64 * 4;
        let got = u32::from_le_bytes(chunk.try_into().unwrap());
        if got != word(offset) {
            fail!("byte {offset:#x}: {got:#010x}, want {:#010x}", word(offset));
        }
    }
    Ok(())
}

fn read(disk: u32, buffer: &mut [u8], offset: u64) -> Result<i32, Errno> {
    with_ring(|ring| ring.run(ops::read(disk, buffer, offset)))
}

fn main(_arguments: Arguments) -> i32 {
    let [disk, dma] = *runtime::handles() else {
        println!("disktest: needs +use=block+dma");
        return 1;
    };
    type Case = fn(u32, u32) -> Result<(), Failure>;
    let cases: [(&str, Case); 6] = [
        ("stat gives the disk's size", stat),
        (
            "a 1 MiB read comes in pieces and holds the host's words",
            big_read,
        ),
        (
            "reads sent together all complete, each with its own data",
            reads_together,
        ),
        (
            "bad offsets and lengths are refused, reads stop at the end",
            bad_requests,
        ),
        ("written data reads back after fsync", write_and_fsync),
        ("DMA_MAP needs the right and whole pages", dma_map),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        match case(disk, dma) {
            Ok(()) => println!("disktest: {name}: ok"),
            Err(failure) => {
                failed += 1;
                println!("disktest: {name}: FAILED: {}", failure.0);
            }
        }
    }
    println!(
        "disktest: {} passed, {} failed",
        cases.len() - failed,
        failed
    );
    failed as i32
}

fn stat(disk: u32, _dma: u32) -> Result<(), Failure> {
    let mut status = FileStatus::default();
    expect(
        "STAT",
        with_ring(|ring| ring.run(ops::stat(disk, &mut status))),
        Ok(0),
    )?;
    expect("size", status.size, DISK_SIZE)
}

fn big_read(disk: u32, _dma: u32) -> Result<(), Failure> {
    let mut buffer = vec![0u8; 1 << 20];
    expect("READ", read(disk, &mut buffer, 0), Ok(1 << 20))?;
    holds(&buffer, 0, pattern)
}

fn reads_together(disk: u32, _dma: u32) -> Result<(), Failure> {
    const COUNT: usize = 4;
    const PIECE: usize = 64 << 10;
    let mut buffers: Vec<Vec<u8>> = (0..COUNT).map(|_| vec![0u8; PIECE]).collect();
    // Far apart, and out of order.
    let offsets = [3 << 20, 64 << 10, 1 << 20, 512];
    let results = with_ring(|ring| {
        for (index, buffer) in buffers.iter_mut().enumerate() {
            let read = ops::read(disk, buffer, offsets[index]).with_user_data(100 + index as u64);
            ring.push(read).map_err(|_| Errno::Busy)?;
        }
        ring.submit()?;
        let mut results = [None; COUNT];
        while results.iter().any(Option::is_none) {
            ring.submit_and_wait(1)?;
            while let Some(completion) = ring.completion() {
                if let Some(index) = completion.user_data.checked_sub(100)
                    && (index as usize) < COUNT
                {
                    results[index as usize] = Some(completion.result);
                }
            }
        }
        Ok::<_, Errno>(results)
    });
    let results = match results {
        Ok(results) => results,
        Err(error) => fail!("submitting: {error:?}"),
    };
    for (index, buffer) in buffers.iter().enumerate() {
        expect("READ", results[index], Some(PIECE as i32))?;
        holds(buffer, offsets[index], pattern)?;
    }
    Ok(())
}

fn bad_requests(disk: u32, _dma: u32) -> Result<(), Failure> {
    let mut buffer = vec![0u8; 8192];
    expect(
        "unaligned offset",
        read(disk, &mut buffer, 100),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "unaligned length",
        read(disk, &mut buffer[..100], 0),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "offset past the end",
        read(disk, &mut buffer, DISK_SIZE + 512),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "offset at the end",
        read(disk, &mut buffer, DISK_SIZE),
        Ok(0),
    )?;
    expect(
        "across the end",
        read(disk, &mut buffer, DISK_SIZE - 4096),
        Ok(4096),
    )?;
    holds(&buffer[..4096], DISK_SIZE - 4096, pattern)?;
    let request = [0u8; 4];
    expect(
        "an unknown request",
        with_ring(|ring| ring.run(ops::rename(disk, &request))),
        Err(Errno::InvalidArgument),
    )
}

fn write_and_fsync(disk: u32, _dma: u32) -> Result<(), Failure> {
    let mut bytes = vec![0u8; WRITTEN_LENGTH];
    for (index, chunk) in bytes.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&written(WRITTEN_AT + index as u64 * 4).to_le_bytes());
    }
    expect(
        "WRITE",
        with_ring(|ring| ring.run(ops::write(disk, &bytes, WRITTEN_AT))),
        Ok(WRITTEN_LENGTH as i32),
    )?;
    expect("FSYNC", with_ring(|ring| ring.run(ops::fsync(disk))), Ok(0))?;
    let mut back = vec![0u8; WRITTEN_LENGTH + 4096];
    expect(
        "READ back",
        read(disk, &mut back, WRITTEN_AT - 2048),
        Ok(WRITTEN_LENGTH as i32 + 4096),
    )?;
    holds(&back[..2048], WRITTEN_AT - 2048, pattern)?;
    holds(&back[2048..2048 + WRITTEN_LENGTH], WRITTEN_AT, written)?;
    holds(
        &back[2048 + WRITTEN_LENGTH..],
        WRITTEN_AT + WRITTEN_LENGTH as u64,
        pattern,
    )
}

fn dma_map(disk: u32, dma: u32) -> Result<(), Failure> {
    let address = MAP_BASE + (3 << 30);
    let map =
        |handle, address, length| with_ring(|ring| ring.run(ops::dma_map(handle, address, length)));
    expect(
        "without the right",
        map(disk, address, 4096),
        Err(Errno::NotPermitted),
    )?;
    for (what, at, length) in [
        ("length 0", address, 0),
        ("part of a page", address, 4097),
        ("more than DMA_MAX", address, DMA_MAX + 4096),
        ("an unaligned address", address + 8, 4096),
        ("outside the map area", 0x1000, 4096),
    ] {
        expect(what, map(dma, at, length), Err(Errno::InvalidArgument))?;
    }
    let free = || with_ring(|ring| ring.run(ops::system_info(SystemValue::FreeFrames)));
    let length = 64 << 10;
    // A page of ordinary memory in the same 2 MiB, held throughout, keeps
    // the page tables for the address (UNMAP frees tables left empty):
    // the counts below are then the DMA memory's alone.
    let anchor = address + (1 << 20);
    expect(
        "MAP of a page beside it",
        with_ring(|ring| ring.run(ops::map(anchor, 4096, true))),
        Ok(0),
    )?;
    let before = free();
    let frame = match map(dma, address, length) {
        Ok(frame) if frame > 0 => frame as u64,
        other => fail!("DMA_MAP: {other:?}"),
    };
    if frame * PAGE_SIZE < 0x4000_0000 {
        fail!("frame {frame:#x} is below RAM");
    }
    // SAFETY: just mapped, read and write, `length` bytes.
    let memory = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, length as usize) };
    if memory.iter().any(|&byte| byte != 0) {
        fail!("DMA memory is not zeroed");
    }
    memory.fill(0x5a);
    expect(
        "over mapped memory",
        map(dma, address, 4096),
        Err(Errno::Exists),
    )?;
    let after_map = free();
    expect(
        "UNMAP",
        with_ring(|ring| ring.run(ops::unmap(address, length))),
        Ok(0),
    )?;
    let after_unmap = free();
    expect(
        "UNMAP of the page beside it",
        with_ring(|ring| ring.run(ops::unmap(anchor, 4096))),
        Ok(0),
    )?;
    if after_map.unwrap_or(0) + 16 != before.unwrap_or(0) {
        fail!("free frames {before:?} before, {after_map:?} mapped");
    }
    expect("free frames after UNMAP", after_unmap, before)
}
