//! touch: makes each file named that does not exist yet, empty; a file
//! that exists is left as it is (there are no times to change).

#![no_std]
#![no_main]

use libring::abi::open_flags;
use libring::eprintln;
use libring::ops;
use libring::runtime::{self, Arguments, with_ring};

libring::entry!(main);

fn main(arguments: Arguments) -> i32 {
    let Some(fs) = runtime::file_system() else {
        eprintln!("touch: needs the file system (+use=fs)");
        return 1;
    };
    let mut failed = false;
    for path in arguments.iter().skip(1) {
        let flags = open_flags::WRITE | open_flags::CREATE;
        match with_ring(|ring| ring.run(ops::open(fs, path.as_bytes(), flags))) {
            Ok(file) => {
                let _ = with_ring(|ring| ring.run(ops::close(file as u32)));
            }
            Err(error) => {
                eprintln!("touch: {path}: {}", error.description());
                failed = true;
            }
        }
    }
    i32::from(failed)
}
