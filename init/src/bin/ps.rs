//! ps: lists the processes that are running, one a line: id, state, name
//! (`PROCESS_LIST`, which any process may use).

#![no_std]
#![no_main]

use libring::abi::{ProcessRecord, process_state};
use libring::ops;
use libring::println;
use libring::runtime::{Arguments, with_ring};
use zerocopy::FromBytes;

libring::entry!(main);

/// The most processes listed.
const MOST: usize = 64;

fn main(_arguments: Arguments) -> i32 {
    let mut buffer = [0u8; MOST * size_of::<ProcessRecord>()];
    let count = match with_ring(|ring| ring.run(ops::process_list(&mut buffer))) {
        Ok(count) => count as usize,
        Err(error) => {
            libring::eprintln!("ps: {}", error.description());
            return 1;
        }
    };
    let Ok(records) =
        <[ProcessRecord]>::ref_from_bytes(&buffer[..count * size_of::<ProcessRecord>()])
    else {
        return 1;
    };
    println!("  PID  STATE    NAME");
    for record in records {
        let name = core::str::from_utf8(&record.name[..(record.name_length as usize).min(24)])
            .unwrap_or("?");
        let state = if record.state == process_state::ENDING {
            "ending"
        } else {
            "running"
        };
        println!("{:>5}  {:<8} {}", record.id, state, name);
    }
    0
}
