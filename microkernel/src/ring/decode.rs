//! Turning a copied submission into an operation, or an error.
//!
//! This is where the ABI's rules are enforced, in one place: unknown
//! opcodes and flags, non-zero reserved fields, and arguments an operation
//! does not use but that are not zero all give `-EINVAL`. What comes out is
//! a typed [`Operation`] the rest of the kernel can trust to be well formed
//! (addresses are still only claims: they are checked against the caller's
//! mappings when used).
//!
//! Pure: unit tested on the host.

use libring::abi::{
    DMA_MAX, Errno, LOG_MAX, MAP_BASE, MAP_LIMIT, Opcode, PAGE_SIZE, RECEIVE_SLOTS_MAX,
    RequestMessage, Submission, SystemValue, inject, map_flags, process_map_flags,
    submission_flags, timeout_flags,
};

/// When a timeout fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// This many nanoseconds after the operation starts.
    After(u64),
    /// At this time on the system clock (nanoseconds since boot).
    At(u64),
}

/// How an `INJECT`ed fault makes a server fail its next reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Crash,
    WrongReply,
    /// The reply held back this many nanoseconds.
    Stall(u64),
}

/// A validated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Nop,
    Exit {
        code: i32,
    },
    /// `repeat`: `None` for a one-shot timeout; `Some(count)` for a
    /// multishot one (`Some(0)`: until cancelled).
    Timeout {
        deadline: Deadline,
        repeat: Option<u64>,
    },
    LinkTimeout {
        deadline: Deadline,
    },
    Map {
        address: u64,
        length: u64,
        writable: bool,
    },
    Unmap {
        address: u64,
        length: u64,
    },
    Close {
        handle: u32,
    },
    Cancel {
        target: u64,
    },
    Log {
        address: u64,
        length: u32,
    },
    SqPoll {
        idle_microseconds: u64,
    },
    SystemInfo {
        value: SystemValue,
    },
    Receive {
        handle: u32,
        address: u64,
        slots: u32,
    },
    Reply {
        request: u64,
        result: i32,
        /// A handle to pass to the client; 0 for none.
        handle: u32,
    },
    Copy {
        /// `CopyOut` (server to client) when true, `CopyIn` when false.
        to_client: bool,
        request: u64,
        offset: u64,
        address: u64,
        length: u32,
    },
    Mint {
        handle: u32,
        badge: u64,
    },
    IrqWait {
        handle: u32,
    },
    IrqAck {
        handle: u32,
    },
    MapDevice {
        handle: u32,
        address: u64,
    },
    DmaMap {
        handle: u32,
        address: u64,
        length: u64,
    },
    PowerOff {
        handle: u32,
    },
    LogRead {
        handle: u32,
        address: u64,
        length: u32,
    },
    ProcessCreate {
        handle: u32,
        address: u64,
        length: u32,
        /// The new process's memory budget in bytes (0: the default).
        memory_bytes: u64,
    },
    ProcessMap {
        handle: u32,
        address: u64,
        length: u32,
        destination: u64,
        memory_bytes: u64,
        flags: u32,
    },
    ProcessGive {
        handle: u32,
        given: u32,
        request: u64,
    },
    ProcessStart {
        handle: u32,
        address: u64,
        length: u32,
        entry: u64,
    },
    Wait {
        handle: u32,
        address: u64,
        length: u32,
    },
    Kill {
        handle: u32,
    },
    /// `fault`: `None` takes back one armed before.
    Inject {
        handle: u32,
        fault: Option<Fault>,
    },
    ProcessInfo {
        handle: u32,
    },
    ProcessList {
        address: u64,
        length: u32,
    },
    EndpointCreate {
        address: u64,
        length: u32,
    },
    /// A request for the server behind `handle`, passed on as it is.
    Forward {
        opcode: u8,
        handle: u32,
        address: u64,
        length: u32,
        operation_flags: u32,
        offset: u64,
        arguments: [u64; 3],
    },
}

/// The fields an operation may use; the others must be zero.
#[derive(Clone, Copy, Default)]
struct Uses {
    handle: bool,
    address: bool,
    length: bool,
    offset: bool,
    /// How many of `arguments` (from the first).
    arguments: usize,
    /// Which `operation_flags` bits are allowed.
    flags: u32,
}

/// Checks `submission` against the ABI and returns what it asks for.
pub fn decode(submission: &Submission) -> Result<Operation, Errno> {
    // The commonest submission first, checked whole: a NOP with every
    // field but `flags` and `user_data` zero (what the general checks
    // below accept as a NOP, and nothing else).
    if submission.opcode == Opcode::Nop as u8 && is_bare(submission) {
        return Ok(Operation::Nop);
    }
    decode_general(submission)
}

/// A submission with nothing set but its opcode, known flags and
/// `user_data`.
#[inline(always)]
fn is_bare(submission: &Submission) -> bool {
    // One OR of the words, not `arguments == [0; 3]`: that is a call to
    // `memcmp` (a byte loop) in this kernel.
    let [first, second, third] = submission.arguments;
    let fields = u64::from(submission.reserved)
        | u64::from(submission.handle)
        | submission.address
        | u64::from(submission.length)
        | u64::from(submission.operation_flags)
        | submission.offset
        | first
        | second
        | third;
    submission.flags & !submission_flags::ALL == 0 && fields == 0
}

/// [`decode`] for any submission: the opcode's table of fields it uses,
/// every other field checked to be zero, then the operation built.
fn decode_general(submission: &Submission) -> Result<Operation, Errno> {
    let invalid = Err(Errno::InvalidArgument);
    if submission.reserved != 0 || submission.flags & !submission_flags::ALL != 0 {
        return invalid;
    }
    let opcode = Opcode::try_from(submission.opcode)?;
    let uses = match opcode {
        Opcode::Nop => Uses::default(),
        Opcode::Exit | Opcode::Cancel | Opcode::SqPoll | Opcode::SystemInfo => Uses {
            arguments: 1,
            ..Uses::default()
        },
        Opcode::Timeout => Uses {
            arguments: 2,
            flags: timeout_flags::ALL,
            ..Uses::default()
        },
        Opcode::LinkTimeout => Uses {
            arguments: 1,
            flags: timeout_flags::ABSOLUTE,
            ..Uses::default()
        },
        Opcode::Map => Uses {
            address: true,
            length: true,
            flags: map_flags::ALL,
            ..Uses::default()
        },
        Opcode::Unmap | Opcode::Log => Uses {
            address: true,
            length: true,
            ..Uses::default()
        },
        Opcode::Close | Opcode::IrqWait | Opcode::IrqAck => Uses {
            handle: true,
            ..Uses::default()
        },
        Opcode::Receive => Uses {
            handle: true,
            address: true,
            length: true,
            ..Uses::default()
        },
        Opcode::Reply => Uses {
            handle: true,
            arguments: 2,
            ..Uses::default()
        },
        Opcode::CopyIn | Opcode::CopyOut => Uses {
            address: true,
            length: true,
            offset: true,
            arguments: 1,
            ..Uses::default()
        },
        Opcode::Mint => Uses {
            handle: true,
            arguments: 1,
            ..Uses::default()
        },
        Opcode::MapDevice => Uses {
            handle: true,
            address: true,
            ..Uses::default()
        },
        Opcode::DmaMap => Uses {
            handle: true,
            address: true,
            length: true,
            ..Uses::default()
        },
        Opcode::LogRead => Uses {
            handle: true,
            address: true,
            length: true,
            ..Uses::default()
        },
        Opcode::PowerOff | Opcode::Kill | Opcode::ProcessInfo => Uses {
            handle: true,
            ..Uses::default()
        },
        Opcode::Wait => Uses {
            handle: true,
            address: true,
            length: true,
            ..Uses::default()
        },
        Opcode::ProcessCreate => Uses {
            handle: true,
            address: true,
            length: true,
            offset: true,
            ..Uses::default()
        },
        Opcode::ProcessMap => Uses {
            handle: true,
            address: true,
            length: true,
            offset: true,
            arguments: 1,
            flags: process_map_flags::WRITE | process_map_flags::EXECUTE,
        },
        Opcode::ProcessGive | Opcode::Inject => Uses {
            handle: true,
            arguments: 2,
            ..Uses::default()
        },
        Opcode::ProcessStart => Uses {
            handle: true,
            address: true,
            length: true,
            offset: true,
            ..Uses::default()
        },
        Opcode::ProcessList | Opcode::EndpointCreate => Uses {
            address: true,
            length: true,
            ..Uses::default()
        },
        // Forwarded: what the fields mean is the server's business.
        Opcode::Read
        | Opcode::Write
        | Opcode::Open
        | Opcode::Stat
        | Opcode::Readdir
        | Opcode::Mkdir
        | Opcode::Unlink
        | Opcode::Rename
        | Opcode::Spawn => Uses {
            handle: true,
            address: true,
            length: true,
            offset: true,
            arguments: 3,
            flags: u32::MAX,
        },
        Opcode::Control | Opcode::Release | Opcode::Fsync => Uses {
            handle: true,
            offset: true,
            arguments: 3,
            flags: u32::MAX,
            ..Uses::default()
        },
    };
    let unused_set = (!uses.handle && submission.handle != 0)
        || (!uses.address && submission.address != 0)
        || (!uses.length && submission.length != 0)
        || (!uses.offset && submission.offset != 0)
        || submission.arguments[uses.arguments..]
            .iter()
            .any(|&word| word != 0)
        || submission.operation_flags & !uses.flags != 0;
    if unused_set {
        return invalid;
    }
    let [first, second, _] = submission.arguments;
    let flags = submission.operation_flags;
    Ok(match opcode {
        Opcode::Nop => Operation::Nop,
        Opcode::Exit => Operation::Exit { code: first as i32 },
        Opcode::Timeout => {
            let multishot = flags & timeout_flags::MULTISHOT != 0;
            let absolute = flags & timeout_flags::ABSOLUTE != 0;
            if multishot && (absolute || first == 0) {
                // A repeating timer needs a non-zero period.
                return invalid;
            }
            if !multishot && second != 0 {
                return invalid;
            }
            Operation::Timeout {
                deadline: deadline(first, absolute),
                repeat: multishot.then_some(second),
            }
        }
        Opcode::LinkTimeout => Operation::LinkTimeout {
            deadline: deadline(first, flags & timeout_flags::ABSOLUTE != 0),
        },
        Opcode::Map | Opcode::Unmap => {
            let address = submission.address;
            let length = submission.length as u64;
            if !whole_pages_in_map_area(address, length) {
                return invalid;
            }
            if opcode == Opcode::Map {
                Operation::Map {
                    address,
                    length,
                    writable: flags & map_flags::WRITE != 0,
                }
            } else {
                Operation::Unmap { address, length }
            }
        }
        Opcode::Close => Operation::Close {
            handle: submission.handle,
        },
        Opcode::Cancel => Operation::Cancel { target: first },
        Opcode::Log => {
            if submission.length > LOG_MAX {
                return invalid;
            }
            Operation::Log {
                address: submission.address,
                length: submission.length,
            }
        }
        Opcode::Receive => {
            let slots = submission.length / RequestMessage::SIZE;
            let whole = submission.length.is_multiple_of(RequestMessage::SIZE);
            if submission.handle == 0 || slots == 0 || slots > RECEIVE_SLOTS_MAX || !whole {
                return invalid;
            }
            Operation::Receive {
                handle: submission.handle,
                address: submission.address,
                slots,
            }
        }
        Opcode::Reply => {
            let Ok(result) = i32::try_from(second as i64) else {
                return invalid;
            };
            Operation::Reply {
                request: first,
                result,
                handle: submission.handle,
            }
        }
        Opcode::CopyIn | Opcode::CopyOut => Operation::Copy {
            to_client: opcode == Opcode::CopyOut,
            request: first,
            offset: submission.offset,
            address: submission.address,
            length: submission.length,
        },
        Opcode::Mint => Operation::Mint {
            handle: submission.handle,
            badge: first,
        },
        Opcode::LogRead => Operation::LogRead {
            handle: submission.handle,
            address: submission.address,
            length: submission.length,
        },
        Opcode::PowerOff => Operation::PowerOff {
            handle: submission.handle,
        },
        Opcode::ProcessCreate => Operation::ProcessCreate {
            handle: submission.handle,
            address: submission.address,
            length: submission.length,
            memory_bytes: submission.offset,
        },
        Opcode::ProcessMap => Operation::ProcessMap {
            handle: submission.handle,
            address: submission.address,
            length: submission.length,
            destination: submission.offset,
            memory_bytes: first,
            flags,
        },
        Opcode::ProcessGive => Operation::ProcessGive {
            handle: submission.handle,
            given: u32::try_from(first).map_err(|_| Errno::InvalidArgument)?,
            request: second,
        },
        Opcode::ProcessStart => Operation::ProcessStart {
            handle: submission.handle,
            address: submission.address,
            length: submission.length,
            entry: submission.offset,
        },
        Opcode::Wait => Operation::Wait {
            handle: submission.handle,
            address: submission.address,
            length: submission.length,
        },
        Opcode::Kill => Operation::Kill {
            handle: submission.handle,
        },
        Opcode::ProcessInfo => Operation::ProcessInfo {
            handle: submission.handle,
        },
        Opcode::Inject => Operation::Inject {
            handle: submission.handle,
            fault: match (first, second) {
                (inject::NONE, 0) => None,
                (inject::CRASH, 0) => Some(Fault::Crash),
                (inject::WRONG_REPLY, 0) => Some(Fault::WrongReply),
                (inject::STALL, 1..=inject::STALL_MAX_MS) => Some(Fault::Stall(second * 1_000_000)),
                _ => return invalid,
            },
        },
        Opcode::ProcessList => Operation::ProcessList {
            address: submission.address,
            length: submission.length,
        },
        Opcode::EndpointCreate => Operation::EndpointCreate {
            address: submission.address,
            length: submission.length,
        },
        Opcode::IrqWait => Operation::IrqWait {
            handle: submission.handle,
        },
        Opcode::IrqAck => Operation::IrqAck {
            handle: submission.handle,
        },
        Opcode::MapDevice => {
            let address = submission.address;
            if !address.is_multiple_of(PAGE_SIZE) || !(MAP_BASE..MAP_LIMIT).contains(&address) {
                return invalid;
            }
            Operation::MapDevice {
                handle: submission.handle,
                address,
            }
        }
        Opcode::DmaMap => {
            let address = submission.address;
            let length = submission.length as u64;
            if length > DMA_MAX as u64 || !whole_pages_in_map_area(address, length) {
                return invalid;
            }
            Operation::DmaMap {
                handle: submission.handle,
                address,
                length,
            }
        }
        Opcode::Read
        | Opcode::Write
        | Opcode::Control
        | Opcode::Open
        | Opcode::Stat
        | Opcode::Readdir
        | Opcode::Mkdir
        | Opcode::Unlink
        | Opcode::Rename
        | Opcode::Spawn
        | Opcode::Release
        | Opcode::Fsync => {
            if submission.handle == 0 {
                return Err(Errno::BadHandle);
            }
            Operation::Forward {
                opcode: submission.opcode,
                handle: submission.handle,
                address: submission.address,
                length: submission.length,
                operation_flags: submission.operation_flags,
                offset: submission.offset,
                arguments: submission.arguments,
            }
        }
        Opcode::SqPoll => Operation::SqPoll {
            idle_microseconds: first,
        },
        Opcode::SystemInfo => Operation::SystemInfo {
            value: match first {
                0 => SystemValue::FreeFrames,
                1 => SystemValue::ProcessId,
                2 => SystemValue::SystemCalls,
                3 => SystemValue::TotalFrames,
                4 => SystemValue::Seconds,
                5 => SystemValue::KernelHeapBytes,
                6 => SystemValue::ProcessFrames,
                _ => return invalid,
            },
        },
    })
}

/// Is `[address, address + length)` one or more whole pages inside the
/// map area (`MAP`, `UNMAP`, `DMA_MAP`)?
fn whole_pages_in_map_area(address: u64, length: u64) -> bool {
    let aligned = address.is_multiple_of(PAGE_SIZE) && length.is_multiple_of(PAGE_SIZE);
    let inside = address >= MAP_BASE
        && address
            .checked_add(length)
            .is_some_and(|end| end <= MAP_LIMIT);
    length != 0 && aligned && inside
}

fn deadline(nanoseconds: u64, absolute: bool) -> Deadline {
    if absolute {
        Deadline::At(nanoseconds)
    } else {
        Deadline::After(nanoseconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(opcode: Opcode) -> Submission {
        Submission {
            opcode: opcode as u8,
            ..Submission::default()
        }
    }

    #[test]
    fn a_plain_nop_decodes() {
        assert_eq!(decode(&submission(Opcode::Nop)), Ok(Operation::Nop));
    }

    #[test]
    fn the_nop_shortcut_agrees_with_the_general_checks() {
        // NOPs with each field set alone, every flag byte, then many with
        // a few random fields set: the shortcut and the general path give
        // the same answer for every one.
        let mut cases = alloc::vec::Vec::new();
        let set: [fn(&mut Submission, u64); 9] = [
            |s, v| s.flags = v as u8,
            |s, v| s.reserved = v as u16,
            |s, v| s.handle = v as u32,
            |s, v| s.address = v,
            |s, v| s.length = v as u32,
            |s, v| s.operation_flags = v as u32,
            |s, v| s.offset = v,
            |s, v| s.arguments[(v % 3) as usize] = v | 1,
            |s, v| s.user_data = v,
        ];
        for field in set {
            for value in [1, 2, 0x80, u64::MAX] {
                let mut nop = submission(Opcode::Nop);
                field(&mut nop, value);
                cases.push(nop);
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            let mut nop = submission(Opcode::Nop);
            for _ in 0..2 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let value = if seed & 0x100 == 0 { 0 } else { seed >> 9 };
                set[(seed % 9) as usize](&mut nop, value);
            }
            cases.push(nop);
        }
        for nop in cases {
            assert_eq!(decode(&nop), decode_general(&nop), "{nop:?}");
        }
        let mut skipped = submission(Opcode::Nop);
        skipped.flags = submission_flags::SKIP_SUCCESS | submission_flags::LINK;
        assert_eq!(decode(&skipped), Ok(Operation::Nop));
    }

    #[test]
    fn inject_takes_a_kind_and_only_a_stall_takes_milliseconds() {
        let inject = |kind: u64, stall_ms: u64| {
            let mut request = submission(Opcode::Inject);
            request.handle = 5;
            request.arguments = [kind, stall_ms, 0];
            decode(&request)
        };
        let armed = |fault| Ok(Operation::Inject { handle: 5, fault });
        assert_eq!(inject(inject::NONE, 0), armed(None));
        assert_eq!(inject(inject::CRASH, 0), armed(Some(Fault::Crash)));
        assert_eq!(
            inject(inject::WRONG_REPLY, 0),
            armed(Some(Fault::WrongReply))
        );
        assert_eq!(
            inject(inject::STALL, 300),
            armed(Some(Fault::Stall(300_000_000)))
        );
        assert_eq!(
            inject(inject::STALL, inject::STALL_MAX_MS),
            armed(Some(Fault::Stall(inject::STALL_MAX_MS * 1_000_000)))
        );
        for (kind, stall_ms) in [
            (inject::STALL, 0),
            (inject::STALL, inject::STALL_MAX_MS + 1),
            (inject::STALL, u64::MAX),
            (inject::CRASH, 1),
            (inject::WRONG_REPLY, 7),
            (inject::NONE, 1),
            (4, 0),
            (u64::MAX, 0),
        ] {
            assert_eq!(
                inject(kind, stall_ms),
                Err(Errno::InvalidArgument),
                "{kind} {stall_ms}"
            );
        }
        let mut with_address = submission(Opcode::Inject);
        with_address.address = 0x1000;
        assert_eq!(decode(&with_address), Err(Errno::InvalidArgument));
    }

    #[test]
    fn unknown_opcodes_and_flags_are_invalid() {
        let mut unknown = submission(Opcode::Nop);
        unknown.opcode = 200;
        assert_eq!(decode(&unknown), Err(Errno::InvalidArgument));
        let mut flagged = submission(Opcode::Nop);
        flagged.flags = 0x80;
        assert_eq!(decode(&flagged), Err(Errno::InvalidArgument));
    }

    #[test]
    fn every_unused_field_must_be_zero() {
        let nop = submission(Opcode::Nop);
        let dirty: [fn(&mut Submission); 8] = [
            |s| s.reserved = 1,
            |s| s.handle = 1,
            |s| s.address = 1,
            |s| s.length = 1,
            |s| s.offset = 1,
            |s| s.operation_flags = 1,
            |s| s.arguments[0] = 1,
            |s| s.arguments[2] = 1,
        ];
        for (index, make_dirty) in dirty.iter().enumerate() {
            let mut copy = nop;
            make_dirty(&mut copy);
            assert_eq!(decode(&copy), Err(Errno::InvalidArgument), "field {index}");
        }
        // user_data is the caller's own: anything goes.
        let mut with_data = nop;
        with_data.user_data = u64::MAX;
        assert_eq!(decode(&with_data), Ok(Operation::Nop));
    }

    #[test]
    fn timeouts_relative_absolute_and_multishot() {
        let mut timeout = submission(Opcode::Timeout);
        timeout.arguments[0] = 5_000_000;
        assert_eq!(
            decode(&timeout),
            Ok(Operation::Timeout {
                deadline: Deadline::After(5_000_000),
                repeat: None
            })
        );
        timeout.operation_flags = timeout_flags::ABSOLUTE;
        assert_eq!(
            decode(&timeout),
            Ok(Operation::Timeout {
                deadline: Deadline::At(5_000_000),
                repeat: None
            })
        );
        timeout.operation_flags = timeout_flags::MULTISHOT;
        timeout.arguments[1] = 3;
        assert_eq!(
            decode(&timeout),
            Ok(Operation::Timeout {
                deadline: Deadline::After(5_000_000),
                repeat: Some(3)
            })
        );
        timeout.operation_flags = timeout_flags::MULTISHOT | timeout_flags::ABSOLUTE;
        assert_eq!(decode(&timeout), Err(Errno::InvalidArgument));
        timeout.operation_flags = 0;
        assert_eq!(
            decode(&timeout),
            Err(Errno::InvalidArgument),
            "a count without MULTISHOT"
        );
        let mut link_timeout = submission(Opcode::LinkTimeout);
        link_timeout.operation_flags = timeout_flags::MULTISHOT;
        assert_eq!(decode(&link_timeout), Err(Errno::InvalidArgument));
    }

    #[test]
    fn map_must_be_aligned_and_inside_the_map_area() {
        let mut map = submission(Opcode::Map);
        map.address = MAP_BASE;
        map.length = 2 * PAGE_SIZE as u32;
        map.operation_flags = map_flags::WRITE;
        assert_eq!(
            decode(&map),
            Ok(Operation::Map {
                address: MAP_BASE,
                length: 2 * PAGE_SIZE,
                writable: true
            })
        );
        for (address, length) in [
            (MAP_BASE + 1, PAGE_SIZE as u32),
            (MAP_BASE, 100),
            (MAP_BASE, 0),
            (MAP_BASE - PAGE_SIZE, PAGE_SIZE as u32),
            (MAP_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE as u32),
            (0xffff_ffff_8000_0000, PAGE_SIZE as u32),
            (u64::MAX - 0xfff, PAGE_SIZE as u32),
        ] {
            map.address = address;
            map.length = length;
            assert_eq!(
                decode(&map),
                Err(Errno::InvalidArgument),
                "{address:#x} + {length:#x}"
            );
        }
    }

    #[test]
    fn dma_map_takes_whole_pages_up_to_dma_max_inside_the_map_area() {
        let mut map = submission(Opcode::DmaMap);
        map.handle = 3;
        map.address = MAP_BASE;
        map.length = DMA_MAX;
        assert_eq!(
            decode(&map),
            Ok(Operation::DmaMap {
                handle: 3,
                address: MAP_BASE,
                length: DMA_MAX as u64
            })
        );
        for (address, length) in [
            (MAP_BASE, DMA_MAX + PAGE_SIZE as u32),
            (MAP_BASE, 0),
            (MAP_BASE, 100),
            (MAP_BASE + 8, PAGE_SIZE as u32),
            (MAP_BASE - PAGE_SIZE, PAGE_SIZE as u32),
            (MAP_LIMIT - PAGE_SIZE, 2 * PAGE_SIZE as u32),
        ] {
            map.address = address;
            map.length = length;
            assert_eq!(decode(&map), Err(Errno::InvalidArgument), "{address:#x}");
        }
    }

    #[test]
    fn log_length_is_limited() {
        let mut log = submission(Opcode::Log);
        log.address = 0x1000;
        log.length = LOG_MAX;
        assert!(decode(&log).is_ok());
        log.length = LOG_MAX + 1;
        assert_eq!(decode(&log), Err(Errno::InvalidArgument));
    }

    #[test]
    fn system_info_knows_its_values() {
        let mut info = submission(Opcode::SystemInfo);
        info.arguments[0] = 1;
        assert_eq!(
            decode(&info),
            Ok(Operation::SystemInfo {
                value: SystemValue::ProcessId
            })
        );
        info.arguments[0] = 7;
        assert_eq!(decode(&info), Err(Errno::InvalidArgument));
    }

    #[test]
    fn random_submissions_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let submission = Submission {
                opcode: (next() % 16) as u8,
                flags: (next() % 4) as u8,
                reserved: if next() % 8 == 0 { 1 } else { 0 },
                handle: next() as u32 % 4,
                address: next(),
                length: next() as u32,
                operation_flags: next() as u32 % 8,
                offset: if next() % 2 == 0 { 0 } else { next() },
                user_data: next(),
                arguments: [next(), next() % 3, 0],
            };
            let _ = decode(&submission);
        }
    }
}
