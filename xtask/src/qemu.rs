//! `cargo xtask run` and `cargo xtask gdb`: boot Annulus in QEMU.
//!
//! The emulated board is QEMU's `virt`: a made-up but well-documented Arm
//! machine with a PL011 UART, a GIC, PSCI firmware and RAM from 0x4000_0000.
//! QEMU loads the Image, the initrd and a device tree describing the board,
//! then starts the kernel as a boot loader would.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::arguments::RunOptions;
use crate::build::{self, BuiltKernel};
use crate::disks;
use crate::tools::{self, QEMU};
use crate::workspace::Workspace;

/// Which version of Arm's Generic Interrupt Controller the board has. The
/// kernel must drive either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GicVersion {
    Two,
    #[default]
    Three,
}

/// The emulated machine: everything that changes what the kernel finds at
/// boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    pub gic_version: GicVersion,
    /// A QEMU CPU model name, such as `cortex-a53` or `max`.
    pub cpu: String,
    /// RAM size as QEMU's `-m` takes it: `256M`, `4G`.
    pub memory: String,
    pub cpu_count: u32,
}

impl Default for Machine {
    fn default() -> Machine {
        Machine {
            gic_version: GicVersion::Three,
            cpu: "cortex-a72".to_string(),
            memory: "256M".to_string(),
            cpu_count: 1,
        }
    }
}

impl Machine {
    /// The QEMU arguments that choose this machine.
    pub fn qemu_arguments(&self) -> Vec<String> {
        let gic = match self.gic_version {
            GicVersion::Two => 2,
            GicVersion::Three => 3,
        };
        vec![
            "-M".to_string(),
            format!("virt,gic-version={gic}"),
            "-cpu".to_string(),
            self.cpu.clone(),
            "-m".to_string(),
            self.memory.clone(),
            "-smp".to_string(),
            self.cpu_count.to_string(),
        ]
    }
}

/// The arguments every QEMU run ends with: no network card, then the kernel
/// and the initrd.
pub fn boot_arguments(command: &mut Command, image: &Path, initrd: &Path) {
    // `-nic none`: by default `virt` gets a virtio network card, and QEMU 7.2
    // then refuses to start where its boot ROM (efi-virtio.rom) is not
    // installed. Annulus has no network driver, so no card is lost.
    command.args(["-nic", "none"]);
    command.arg("-kernel").arg(image);
    command.arg("-initrd").arg(initrd);
}

/// Builds what `options` ask for: the profile, and the system.
fn build_for(workspace: &Workspace, options: &RunOptions) -> Result<build::BuiltKernel> {
    let system = options.system.as_deref().unwrap_or(build::DEFAULT_SYSTEM);
    build::build_system(workspace, options.profile, system)
}

/// The disk a run boots with: the user's (`--disk`), else the system's
/// own, `target/annulus/disk-NAME.img`, made from the built one the first
/// time and kept after (what the system writes stays for the next run).
fn run_disk(
    workspace: &Workspace,
    options: &RunOptions,
    built: &BuiltKernel,
) -> Result<Option<std::path::PathBuf>> {
    if let Some(disk) = &options.disk {
        if !disk.is_file() {
            return Err(format!("--disk {}: no such file", disk.display()));
        }
        return Ok(Some(disk.clone()));
    }
    let Some(pristine) = &built.disk else {
        return Ok(None);
    };
    let system = options.system.as_deref().unwrap_or(build::DEFAULT_SYSTEM);
    let disk = workspace
        .annulus_directory()
        .join(format!("disk-{system}.img"));
    if disk.exists() {
        let staging = pristine.with_extension("files");
        match disks::refresh_programs(&disk, &staging) {
            Ok(()) => println!(
                "xtask: the disk is {} (as the last run left it, /bin and /etc/system refreshed from this build; delete it to start again)",
                workspace.show(&disk)
            ),
            Err(message) => println!(
                "xtask: the disk is {} (as the last run left it; /bin could not be refreshed: {message})",
                workspace.show(&disk)
            ),
        }
    } else {
        disks::copy_sparse(pristine, &disk)?;
        println!("xtask: the disk is {} (new)", workspace.show(&disk));
    }
    Ok(Some(disk))
}

/// `cargo xtask run`: build, then replace this process with QEMU, the
/// serial port on the terminal.
pub fn run(workspace: &Workspace, options: &RunOptions) -> Result<()> {
    tools::ensure_qemu()?;
    let built = build_for(workspace, options)?;

    let mut qemu = Command::new(QEMU);
    qemu.args(options.machine.qemu_arguments());
    // -nographic: the serial port and QEMU's monitor share the terminal.
    qemu.arg("-nographic");
    boot_arguments(&mut qemu, &built.image, &built.initrd);
    if let Some(disk) = run_disk(workspace, options, &built)? {
        qemu.args(disks::qemu_arguments(&disk));
    }
    qemu.args(&options.extra_qemu_arguments);

    println!("xtask: {}", tools::show_command(&qemu));
    println!("xtask: (quit QEMU with Ctrl-A then X)");
    // `exec` only returns if QEMU could not be started.
    let error = qemu.exec();
    Err(format!("cannot start {QEMU}: {error}"))
}

/// `cargo xtask gdb`: build, start QEMU paused at the kernel's first
/// instruction with a gdb server, and attach gdb-multiarch to it.
pub fn gdb(workspace: &Workspace, options: &RunOptions) -> Result<()> {
    tools::ensure_qemu()?;
    let built = build_for(workspace, options)?;

    let port = free_local_port()?;
    let gdbinit = workspace.annulus_directory().join("gdbinit");
    let gdb_commands = format!(
        "file {}\ntarget remote 127.0.0.1:{port}\nset confirm off\n",
        built.elf.display()
    );
    std::fs::write(&gdbinit, gdb_commands)
        .map_err(|error| format!("cannot write {}: {error}", gdbinit.display()))?;

    let mut qemu = Command::new(QEMU);
    qemu.args(options.machine.qemu_arguments());
    let gdb_is_installed = tools::find_program("gdb-multiarch").is_some();
    if gdb_is_installed {
        // gdb owns the terminal, so the serial port goes to a file.
        let serial_log = workspace.annulus_directory().join("gdb-serial.log");
        qemu.args(["-display", "none", "-monitor", "none", "-serial"]);
        qemu.arg(format!("file:{}", serial_log.display()));
        println!(
            "xtask: the kernel's serial output goes to {} (follow it with: tail -f {})",
            workspace.show(&serial_log),
            serial_log.display()
        );
    } else {
        qemu.arg("-nographic");
    }
    boot_arguments(&mut qemu, &built.image, &built.initrd);
    if let Some(disk) = run_disk(workspace, options, &built)? {
        qemu.args(disks::qemu_arguments(&disk));
    }
    // -S: wait for the debugger before the first instruction.
    qemu.arg("-S")
        .arg("-gdb")
        .arg(format!("tcp:127.0.0.1:{port}"));
    qemu.args(&options.extra_qemu_arguments);
    println!("xtask: {}", tools::show_command(&qemu));

    if gdb_is_installed {
        debug_with_gdb(qemu, &built, &gdbinit, port)
    } else {
        println!(
            "xtask: gdb-multiarch not found; from another terminal, attach with: \
             gdb-multiarch -q -x {}",
            gdbinit.display()
        );
        println!("xtask: (quit QEMU with Ctrl-A then X)");
        let status = qemu
            .status()
            .map_err(|error| format!("cannot start {QEMU}: {error}"))?;
        println!("xtask: QEMU exited ({status})");
        Ok(())
    }
}

/// Runs QEMU in the background and gdb in the foreground; stops QEMU when
/// gdb exits.
fn debug_with_gdb(mut qemu: Command, built: &BuiltKernel, gdbinit: &Path, port: u16) -> Result<()> {
    // A process group of its own keeps QEMU out of reach of the Ctrl-C that
    // the user types to gdb to stop the kernel.
    qemu.stdin(Stdio::null()).process_group(0);
    let mut qemu = qemu
        .spawn()
        .map_err(|error| format!("cannot start {QEMU}: {error}"))?;

    let outcome = wait_for_gdb_server(&mut qemu, port).and_then(|()| {
        println!(
            "xtask: gdb-multiarch -q -x {}   (debugging {})",
            gdbinit.display(),
            built.elf.display()
        );
        let mut gdb = Command::new("gdb-multiarch")
            .arg("-q")
            .arg("-x")
            .arg(gdbinit)
            .spawn()
            .map_err(|error| format!("cannot start gdb-multiarch: {error}"))?;
        ignore_interrupt_signal();
        gdb.wait()
            .map_err(|error| format!("lost gdb-multiarch: {error}"))
    });

    // Whether gdb ended well or not, QEMU goes with it. It may already have
    // gone (gdb's `kill` ends it), so a failed kill is no news.
    let _ = qemu.kill();
    let _ = qemu.wait();
    outcome.map(|status| println!("xtask: gdb exited ({status}); QEMU stopped"))
}

/// A TCP port on 127.0.0.1 that nothing listens on right now. The port is
/// free again when this returns; the small chance that another program takes
/// it before QEMU does is accepted.
pub fn free_local_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|error| format!("cannot find a free TCP port: {error}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free TCP port: {error}"))
}

/// Waits until QEMU's gdb server accepts connections, so gdb's
/// `target remote` does not race QEMU's start-up. QEMU's gdb server takes a
/// new connection after one closes, so the probe costs gdb nothing.
pub fn wait_for_gdb_server(qemu: &mut Child, port: u16) -> Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = qemu.try_wait() {
            return Err(format!(
                "{QEMU} exited ({status}) before its gdb server started"
            ));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{QEMU}'s gdb server did not open port {port} within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes xtask survive Ctrl-C while gdb runs.
///
/// Ctrl-C sends SIGINT to every process in the terminal's foreground group:
/// gdb, which uses it to stop the kernel, and xtask, which waits for gdb. If
/// xtask died of it, the shell would take the terminal back from under gdb.
/// The standard library cannot ignore a signal, so this calls the C library
/// (which std links anyway) directly.
fn ignore_interrupt_signal() {
    unsafe extern "C" {
        /// POSIX `signal(2)`; the handler is a function pointer or one of
        /// the special values, passed as an address-sized integer.
        fn signal(signal_number: i32, handler: usize) -> usize;
    }
    const SIGINT: i32 = 2; // The same on Linux and macOS.
    const SIG_IGN: usize = 1; // "Ignore this signal".

    // SAFETY: SIG_IGN installs no code of ours as a handler, so nothing runs
    // in signal context, and no other thread changes signal handling.
    unsafe {
        signal(SIGINT, SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_machine_is_a72_with_gicv3_and_256_mib() {
        assert_eq!(
            Machine::default().qemu_arguments(),
            [
                "-M",
                "virt,gic-version=3",
                "-cpu",
                "cortex-a72",
                "-m",
                "256M",
                "-smp",
                "1"
            ]
        );
    }
}
