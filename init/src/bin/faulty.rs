//! faulty: breaks a rule on purpose, as its argument says, so the test can
//! check that the kernel kills it with the reason logged and that nothing
//! else is disturbed.
//!
//! - `write-text`: writes to its own code (read-only);
//! - `jump-kernel`: jumps to a kernel address;
//! - `undefined`: runs an undefined instruction;
//! - `bad-syscall`: makes a system call other than `ring_enter`;
//! - `stack-overflow`: writes just below its stack, into the guard page.

#![no_std]
#![no_main]

use core::arch::asm;
use libring::runtime::Arguments;

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let how = arguments.get(1).unwrap_or("");
    libring::println!("faulty: about to {how}");
    match how {
        "write-text" => {
            let code = main as *const () as *mut u32;
            // SAFETY: not safe, on purpose: the kernel must kill us here.
            unsafe { code.write_volatile(0) };
        }
        "jump-kernel" => {
            let kernel: extern "C" fn() = unsafe {
                // SAFETY: not safe, on purpose: the fetch must fault.
                core::mem::transmute::<usize, extern "C" fn()>(0xffff_ffff_8000_0000)
            };
            kernel();
        }
        // SAFETY: not safe, on purpose: an undefined instruction.
        "undefined" => unsafe { asm!("udf #0") },
        // SAFETY: not safe, on purpose: system call 7 does not exist.
        "bad-syscall" => unsafe { asm!("mov x8, #7", "svc #0", out("x8") _, out("x0") _) },
        "stack-overflow" => {
            let guard = (libring::abi::STACK_TOP - libring::abi::STACK_SIZE - 8) as *mut u64;
            // SAFETY: not safe, on purpose: the guard page is unmapped.
            unsafe { guard.write_volatile(1) };
        }
        _ => {
            libring::println!(
                "faulty: usage: faulty write-text|jump-kernel|undefined|bad-syscall|stack-overflow"
            );
            return 2;
        }
    }
    libring::println!("faulty: still alive after {how}: the kernel let it pass");
    1
}
