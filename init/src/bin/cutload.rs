//! cutload: the workload of the power-cut test. xtask kills QEMU at a
//! random moment while this runs, boots the disk again (the FAT server
//! finishes a sync the cut interrupted), and checks on the host that the
//! volume is clean and holds every change this program was told was
//! done (`xtask/src/power_cut.rs` replays the same changes to know what
//! to expect).
//!
//! Setup (before `cutload: started`): the folder `/cut`, four files
//! `f0` to `f3` open, and an empty file `x`. Then change `i` = 0, 1, ...,
//! each one request, so each one sync of the FAT server, and after each
//! one `cutload: done N` (N = i + 1 changes done):
//!
//! | `i % 6` | change |
//! | --- | --- |
//! | 0, 1, 2 | 700 bytes into `f(i % 4)` at `(i * 700) % 30000` |
//! | 3 | renames `x` to `y`, or `y` back to `x` (every other time) |
//! | 4 | makes the folder `d`, or removes it (every other time) |
//! | 5 | 9,000 bytes into `f(i % 4)` at 30000 |
//!
//! Byte `j` of change `i`'s bytes is `(i * 7 + j) % 251`.

#![no_std]
#![no_main]

extern crate alloc;

use libring::abi::{Errno, open_flags};
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

/// Changes at most (a run is cut long before).
const CHANGES: u64 = 100_000;

fn run(submission: libring::abi::Submission) -> Result<i32, Errno> {
    with_ring(|ring| ring.run(submission))
}

/// The bytes of change `i`: `length` of them.
pub fn change_bytes(i: u64, length: usize) -> alloc::vec::Vec<u8> {
    (0..length)
        .map(|j| ((i * 7 + j as u64) % 251) as u8)
        .collect()
}

fn main(_arguments: Arguments) -> i32 {
    match work() {
        Ok(()) => 0,
        Err(error) => {
            libring::println!("cutload: failed: {}", error.description());
            1
        }
    }
}

fn work() -> Result<(), Errno> {
    let fs = runtime::file_system().ok_or(Errno::BadHandle)?;
    match run(ops::mkdir(fs, b"/cut")) {
        Ok(_) | Err(Errno::Exists) => {}
        Err(error) => return Err(error),
    }
    let flags = open_flags::READ | open_flags::WRITE | open_flags::CREATE;
    let mut files = [0u32; 4];
    for (index, file) in files.iter_mut().enumerate() {
        let path = alloc::format!("/cut/f{index}");
        *file = run(ops::open(fs, path.as_bytes(), flags))? as u32;
    }
    let x = run(ops::open(fs, b"/cut/x", flags))? as u32;
    run(ops::close(x))?;
    libring::println!("cutload: started");
    for i in 0..CHANGES {
        let second_time = (i / 6) % 2 == 1;
        match i % 6 {
            0..=2 => {
                let bytes = change_bytes(i, 700);
                let file = files[(i % 4) as usize];
                run(ops::write(file, &bytes, (i * 700) % 30000))?;
            }
            3 if second_time => {
                run(ops::rename(fs, b"/cut/y\0/cut/x"))?;
            }
            3 => {
                run(ops::rename(fs, b"/cut/x\0/cut/y"))?;
            }
            4 if second_time => {
                run(ops::unlink(fs, b"/cut/d"))?;
            }
            4 => {
                run(ops::mkdir(fs, b"/cut/d"))?;
            }
            _ => {
                let bytes = change_bytes(i, 9000);
                let file = files[(i % 4) as usize];
                run(ops::write(file, &bytes, 30000))?;
            }
        }
        libring::println!("cutload: done {}", i + 1);
    }
    Ok(())
}
