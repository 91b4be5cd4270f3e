//! The one system call, and the way to die when even that cannot help.
//!
//! All `asm!` of the user runtime is here and in `start`'s `_start`.

use core::arch::asm;

use crate::abi::SYSCALL_RING_ENTER;
use crate::ring::Kernel;

/// The real kernel: `ring_enter` is `svc #0` with [`SYSCALL_RING_ENTER`]
/// in `x8`, the arguments in `x0`..`x2`, and the result in `x0`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscall;

impl Kernel for Syscall {
    fn ring_enter(&mut self, to_submit: u32, min_complete: u32, flags: u32) -> i64 {
        let result: i64;
        // SAFETY: this is the ABI's system call. The kernel reads our SQ
        // and writes our CQ while in it, so the asm is not `nomem`: the
        // compiler must assume memory changed. It does not touch our
        // stack. The kernel promises to preserve every register but x0;
        // `clobber_abi("C")` assumes less than that, as a margin of safety
        // that costs a few register saves around a system call.
        unsafe {
            asm!(
                "svc #0",
                in("x8") SYSCALL_RING_ENTER,
                inlateout("x0") u64::from(to_submit) => result,
                in("x1") u64::from(min_complete),
                in("x2") u64::from(flags),
                options(nostack),
                clobber_abi("C"),
            );
        }
        result
    }
}

/// Ends the process when the ring cannot: with a system call number the
/// kernel does not know, which it answers by killing the caller and saying
/// so on its log.
pub(crate) fn die() -> ! {
    loop {
        // SAFETY: an unknown system call touches no memory of ours; the
        // kernel ends the process. (The loop is for a kernel that, against
        // the ABI, returns.)
        unsafe { asm!("svc #0", in("x8") u64::MAX, options(nomem, nostack)) };
    }
}
