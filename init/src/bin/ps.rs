//! ps: lists the processes, one a line: id, state, name (`PROCESS_LIST`,
//! which any process may use). The state is what the kernel says: running
//! (ps itself), ready (runnable, waiting for its turn), ending, or waiting
//! in `ring_enter`, and then for what: `sleeping` (a `TIMEOUT`), `waiting
//! for child` (a `WAIT`), `serving` (a `RECEIVE`: a server between
//! requests), `reading` or `writing` (a `READ` or `WRITE` at a server), or
//! the operation's name.
//!
//! Given init's names service (`supervise`: ps is one of the programs the
//! proc server gives it to), ps then lists the roles of the system: each
//! role's program, its process id (0 while it is down) and how many times
//! init has started it again (`docs/supervision.md`).

#![no_std]
#![no_main]

use libring::abi::{Opcode, ProcessRecord, process_state};
use libring::names::Role;
use libring::ops;
use libring::println;
use libring::runtime::{self, Arguments, with_ring};
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
    println!("  PID  STATE              NAME");
    for record in records {
        let name = core::str::from_utf8(&record.name[..(record.name_length as usize).min(24)])
            .unwrap_or("?");
        println!("{:>5}  {:<18} {}", record.id, state(record), name);
    }
    if let Some(session) = runtime::service("supervise") {
        let mut text = [0u8; 1024];
        match with_ring(|ring| ring.run(ops::read(session, &mut text, 0))) {
            Ok(count) => {
                let text =
                    core::str::from_utf8(&text[..(count as usize).min(text.len())]).unwrap_or("");
                println!("ROLE       PROGRAM      PID  RESTARTS  STATE");
                for role in text.lines().filter_map(Role::parse) {
                    println!(
                        "{:<10} {:<10} {:>5}  {:>8}  {}",
                        role.role,
                        role.program,
                        role.id,
                        role.restarts,
                        role.state.word()
                    );
                }
            }
            Err(error) => libring::eprintln!("ps: the roles: {}", error.description()),
        }
    }
    0
}

/// The state column for `record`.
fn state(record: &ProcessRecord) -> &'static str {
    match record.state {
        process_state::RUNNING => "running",
        process_state::READY => "ready",
        process_state::ENDING => "ending",
        process_state::WAITING => match Opcode::try_from(record.waits_for) {
            Ok(Opcode::Timeout) => "sleeping",
            Ok(Opcode::Wait) => "waiting for child",
            Ok(Opcode::Receive) => "serving",
            Ok(Opcode::Read) => "reading",
            Ok(Opcode::Write) => "writing",
            Ok(Opcode::IrqWait) => "waiting for irq",
            Ok(Opcode::Control) => "control",
            Ok(Opcode::Open | Opcode::Stat | Opcode::Readdir) => "at a file server",
            Ok(Opcode::Spawn) => "starting a child",
            _ => "waiting",
        },
        _ => "?",
    }
}
