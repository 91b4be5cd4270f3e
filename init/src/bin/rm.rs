//! rm: removes each file, or empty directory, named on its command line
//! (`+use=console+use=fs`). A path that fails gets one line,
//! `rm: PATH: why`; the exit code is 1 if any failed.

#![no_std]
#![no_main]

use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        libring::eprintln!("rm: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    for path in arguments.iter().skip(1) {
        if let Err(error) = with_ring(|ring| ring.run(ops::unlink(fs, path.as_bytes()))) {
            libring::eprintln!("rm: {path}: {}", error.description());
            failed = true;
        }
    }
    i32::from(failed)
}
