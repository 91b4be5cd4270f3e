//! shutdown: powers the machine off, with the power handle it was given
//! (`+power`; the shell's `shutdown` command). It offers `POWER_OFF` with
//! each of its startup handles in turn; the kernel refuses (`EPERM`) any
//! that is not a power handle. Without one it says so and exits with 1.

#![no_std]
#![no_main]

use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

fn main(_arguments: Arguments) -> i32 {
    for &handle in runtime::handles() {
        // Only a power handle works, and then this never returns.
        let _ = with_ring(|ring| ring.run(ops::power_off(handle)));
    }
    libring::eprintln!("shutdown: no power handle (start it with +power)");
    1
}
