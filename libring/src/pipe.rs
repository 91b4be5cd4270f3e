//! The pipe server's protocol, for its clients (`docs/pipes.md`): the
//! `CONTROL` words it answers, and [`create`], which makes a pipe.

use crate::abi::Errno;
use crate::ops;
use crate::ring::{Kernel, Ring};

/// The most bytes a pipe holds: a `WRITE` to a full pipe waits.
pub const CAPACITY: usize = 64 * 1024;

/// `CONTROL` on the service handle: a new pipe; answers with its read end.
pub const CREATE: u64 = 1;
/// `CONTROL` on a read end: the pipe's write end (once per pipe).
pub const WRITE_END: u64 = 2;
/// `CONTROL` on the service handle: how many pipes exist.
pub const COUNT: u64 = 3;
/// `CONTROL` on the service handle: the bytes of the server's heap in use
/// (to see that pipes that are gone leave nothing behind).
pub const HEAP: u64 = 4;

/// Makes a pipe through the pipe service `service`: returns (read end,
/// write end), two handles. `ENOMEM` when the server has made as many as
/// it may.
pub fn create<K: Kernel>(ring: &mut Ring<K>, service: u32) -> Result<(u32, u32), Errno> {
    let read = ring.run(ops::control(service, [CREATE, 0, 0]))? as u32;
    match ring.run(ops::control(read, [WRITE_END, 0, 0])) {
        Ok(write) => Ok((read, write as u32)),
        Err(error) => {
            let _ = ring.run(ops::close(read));
            Err(error)
        }
    }
}
