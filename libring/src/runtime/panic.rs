//! The panic handler: say what went wrong, then exit with code 101.
//!
//! The message goes where `eprint!` goes (standard error, or the kernel
//! log), as one line:
//! `panic in <program>: <message> at <file>:<line>`. 101 is the exit code
//! Rust programs use for a panic elsewhere too.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::LogWriter;
use super::print::{Output, send_piece};
use super::start::{exit, program_name, ring_for_the_end};
use super::syscall::die;

/// The exit code of a process that panicked.
const PANIC_EXIT_CODE: i32 = 101;

/// Set by the first panic; a second one (while reporting the first) ends
/// the process at once instead of recursing.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(information: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        die();
    }
    // In its own block, so the ring is unlocked again before `exit`.
    {
        let mut guard = ring_for_the_end();
        if let Some(ring) = guard.as_mut() {
            // Written straight to the ring: `print!` would lock it again.
            let mut writer = LogWriter::new(|piece: &[u8]| send_piece(ring, Output::Error, piece));
            let _ = write!(
                writer,
                "panic in {}: {}",
                program_name(),
                information.message()
            );
            if let Some(location) = information.location() {
                let _ = write!(writer, " at {}:{}", location.file(), location.line());
            }
            let _ = writer.write_str("\n");
            writer.flush();
        }
    }
    exit(PANIC_EXIT_CODE)
}
