//! The power-cut campaign: the FAT system must survive QEMU being killed
//! at any moment of a write/rename/remove workload.
//!
//! Each kill: a fresh copy of the fat system's disk; a boot that runs the
//! disk driver, the FAT server and `cutload` (`init/src/bin/cutload.rs`),
//! killed a random time after `cutload: started`; a second boot on the
//! same disk that only mounts it (the FAT server writes home a sync the
//! cut interrupted, from its journal); then, on the host, `fsck.fat -n`
//! must find the volume clean, and the files must be those after the
//! last change cutload printed as done, or after the one after it (which
//! may have been on its way). [`Model`] replays cutload's changes to know
//! them.
//!
//! The delays come from a seeded generator; the seed is printed, and
//! `ANNULUS_CUT_SEED=<seed>` repeats a campaign.

use crate::Result;
use crate::build::BuiltKernel;
use crate::disks;
use crate::qemu_tests::{self, Outcome, PowerCut, QemuTestConfig};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The boot that is cut.
const WORKLOAD: QemuTestConfig = QemuTestConfig {
    name: "power-cut",
    machine: qemu_tests::DEFAULT_MACHINE,
    command_line: "run=virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block,cutload+use=fs",
    system: Some("fat"),
    disk: None,
    outcome: Outcome::ServersRemain {
        suite: None,
        until: &[],
    },
    expected: &[],
    input: &[],
};

/// The boot after it, which mounts the volume and nothing more.
const RECOVERY: QemuTestConfig = QemuTestConfig {
    name: "power-cut-recovery",
    command_line: "run=virtio-blk+serve=block+device=virtio-blk+irq=virtio-blk+dma,fat+serve=fs+use=block",
    outcome: Outcome::ServersRemain {
        suite: None,
        until: &["fat: a FAT32 volume of "],
    },
    ..WORKLOAD
};

/// Cuts land this long after `cutload: started`, at most.
const LATEST_CUT: Duration = Duration::from_millis(2500);

/// What a campaign found.
#[derive(Debug, Default)]
pub struct Findings {
    pub kills: u32,
    /// Recoveries in which the journal held an interrupted sync.
    pub journal_replays: u32,
    /// Changes cutload was told were done, over all kills.
    pub acknowledged: u64,
    pub fsck_failures: u32,
    /// Kills after which the files were not those of an acknowledged
    /// change (a change lost, or a torn one).
    pub lost: u32,
    pub problems: Vec<String>,
}

/// Runs `kills` cuts with `built` (the fat system's build); logs go to
/// `log_directory` as `power-cut-K.log` and `power-cut-K-recovery.log`.
pub fn campaign(
    built: &BuiltKernel,
    log_directory: &Path,
    kills: u32,
    timeout: Duration,
) -> Result<Findings> {
    let system_disk = built.disk.as_deref().ok_or("the fat system has no disk")?;
    let seed = std::env::var("ANNULUS_CUT_SEED")
        .ok()
        .and_then(|text| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64)
                | 1
        });
    println!("(seed {seed:#x}: ANNULUS_CUT_SEED={seed:x} repeats it) ");
    let mut random = seed;
    let mut findings = Findings::default();
    for kill in 0..kills {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let delay = Duration::from_millis(50 + random % LATEST_CUT.as_millis() as u64);
        let log = log_directory.join(format!("power-cut-{kill}.log"));
        let image = log.with_extension("img");
        disks::copy_sparse(system_disk, &image)?;
        let cut = PowerCut {
            after: "cutload: started",
            delay,
        };
        let run =
            qemu_tests::boot_with_disk(&WORKLOAD, built, &log, timeout, Some(&image), Some(cut))?;
        findings.kills += 1;
        let problem = |what: String| format!("kill {kill} ({} ms): {what}", delay.as_millis());
        if !run.serial.contains("cutload: started") || run.timed_out {
            findings
                .problems
                .push(problem("the workload never started".to_string()));
            continue;
        }
        if let Some(line) = run.serial.lines().find(|line| {
            line.contains("KERNEL PANIC")
                || line.contains("unexpected exception")
                || line.contains("cutload: failed")
        }) {
            findings.problems.push(problem(line.to_string()));
        }
        let done = run
            .serial
            .lines()
            .filter_map(|line| line.trim().strip_prefix("cutload: done "))
            .filter_map(|count| count.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        findings.acknowledged += done;
        let recovery_log = log_directory.join(format!("power-cut-{kill}-recovery.log"));
        let started = Instant::now();
        let recovered = qemu_tests::boot_with_disk(
            &RECOVERY,
            built,
            &recovery_log,
            timeout,
            Some(&image),
            None,
        )?;
        if recovered.timed_out || !recovered.serial.contains("fat: a FAT32 volume of ") {
            findings.problems.push(problem(format!(
                "the next boot did not mount the volume ({:.1} s)",
                started.elapsed().as_secs_f64()
            )));
            continue;
        }
        if recovered.serial.contains("fat: the journal held a change") {
            findings.journal_replays += 1;
        }
        if let Err(complaint) = disks::check_volume(&image) {
            findings.fsck_failures += 1;
            findings.problems.push(problem(complaint));
            continue;
        }
        match on_disk(&image) {
            Ok(state) if state == Model::after(done) || state == Model::after(done + 1) => {
                // The image is kept only when something is wrong.
                let _ = std::fs::remove_file(&image);
            }
            Ok(state) => {
                findings.lost += 1;
                findings.problems.push(problem(format!(
                    "after {done} changes done, the disk holds {} (expected {} or {})",
                    state.describe(),
                    Model::after(done).describe(),
                    Model::after(done + 1).describe()
                )));
            }
            Err(message) => findings.problems.push(problem(message)),
        }
    }
    Ok(findings)
}

/// What cutload's files are after some changes (its module header says
/// which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    files: [Vec<u8>; 4],
    /// `x` (true) or `y` (false).
    named_x: bool,
    folder_d: bool,
}

/// Byte `j` of change `i`'s bytes.
fn change_bytes(i: u64, length: usize) -> Vec<u8> {
    (0..length)
        .map(|j| ((i * 7 + j as u64) % 251) as u8)
        .collect()
}

fn write_at(file: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    if file.len() < offset + bytes.len() {
        file.resize(offset + bytes.len(), 0);
    }
    file[offset..offset + bytes.len()].copy_from_slice(bytes);
}

impl Model {
    /// The files after the first `changes` changes.
    pub fn after(changes: u64) -> Model {
        let mut model = Model {
            files: Default::default(),
            named_x: true,
            folder_d: false,
        };
        for i in 0..changes {
            match i % 6 {
                0..=2 => {
                    let offset = ((i * 700) % 30000) as usize;
                    write_at(
                        &mut model.files[(i % 4) as usize],
                        offset,
                        &change_bytes(i, 700),
                    );
                }
                3 => model.named_x = !model.named_x,
                4 => model.folder_d = !model.folder_d,
                _ => write_at(
                    &mut model.files[(i % 4) as usize],
                    30000,
                    &change_bytes(i, 9000),
                ),
            }
        }
        model
    }

    fn describe(&self) -> String {
        let sizes: Vec<String> = self
            .files
            .iter()
            .map(|file| file.len().to_string())
            .collect();
        format!(
            "files of {} bytes, {}, {}",
            sizes.join("/"),
            if self.named_x { "x" } else { "y" },
            if self.folder_d {
                "folder d"
            } else {
                "no folder d"
            }
        )
    }
}

/// cutload's files as the disk image holds them (read with mtools).
fn on_disk(image: &Path) -> Result<Model> {
    let listing = disks::mtools("mdir", image, &["-b", "::/cut"])?;
    let names: BTreeSet<String> = String::from_utf8_lossy(&listing)
        .lines()
        .filter_map(|line| {
            let path = line.trim().trim_end_matches('/');
            path.rsplit('/').next().map(str::to_lowercase)
        })
        .filter(|name| !name.is_empty())
        .collect();
    let mut files: [Vec<u8>; 4] = Default::default();
    for (index, file) in files.iter_mut().enumerate() {
        *file = disks::mtools("mtype", image, &[&format!("::/cut/f{index}")])?;
    }
    let expected_names = ["f0", "f1", "f2", "f3"];
    for name in expected_names {
        if !names.contains(name) {
            return Err(format!("/cut/{name} is missing"));
        }
    }
    if names.contains("x") == names.contains("y") {
        return Err(format!(
            "/cut holds {names:?}: x and y together, or neither"
        ));
    }
    Ok(Model {
        files,
        named_x: names.contains("x"),
        folder_d: names.contains("d"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_cutloads_table() {
        assert_eq!(Model::after(0).files[0].len(), 0);
        // Change 0: 700 bytes into f0 at 0; change 1 into f1 at 700.
        let one = Model::after(2);
        assert_eq!(one.files[0], change_bytes(0, 700));
        assert_eq!(one.files[1].len(), 1400);
        assert_eq!(&one.files[1][..700], &[0u8; 700][..]);
        // Change 3 renames, change 4 makes d, change 5 writes f1 at 30000.
        let six = Model::after(6);
        assert!(!six.named_x && six.folder_d);
        assert_eq!(six.files[1].len(), 39000);
        // Changes 9 and 10 undo 3 and 4.
        let eleven = Model::after(11);
        assert!(eleven.named_x && !eleven.folder_d);
    }
}
