//! The test server's protocol: what its requests mean, shared by the
//! server (`src/main.rs`) and its test client (init's `serverclient`).
//!
//! | request | the server | the client's result |
//! | --- | --- | --- |
//! | `WRITE` | reads the grant with `COPY_IN`, in pieces | [`Checksum`] of the bytes |
//! | `READ` | fills the grant with `COPY_OUT`: byte `i` is [`pattern_byte`]`(offset + i)` | the length |
//! | `READ` with [`HOLD_READ`] | keeps it unanswered (for [`control::MISUSE`]) | whatever answers it |
//! | `CONTROL` | `arguments[0]` is one of [`control`] | see there |
//! | anything else | | `-EINVAL` |
//!
//! Pure: no machine needed, so the checksum and the pattern have host unit
//! tests (`cargo test -p testserver --lib`).

#![no_std]
#![forbid(unsafe_code)]

/// `operation_flags` bit of a `READ`: do not fill it, hold it (unanswered)
/// until a [`control::MISUSE`] or a [`control::RELEASE`] uses it.
pub const HOLD_READ: u32 = 1 << 0;

/// What a held request is answered with by [`control::RELEASE`].
pub const RELEASED: i32 = 7;

/// The badge of the client handles [`control::GIVE_HANDLE`] mints.
pub const MINTED_BADGE: u64 = 0xb0b;

/// What [`control::MISUSE`] writes, with a `COPY_OUT` that must work, at the
/// start of the held `READ`'s grant; it then answers that `READ` with
/// this many bytes.
pub const MISUSE_BYTES: &[u8; 4] = b"ok!!";

/// `arguments[0]` of a `CONTROL` request.
pub mod control {
    /// Answers `arguments[1]` (as an `i32`).
    pub const ECHO: u64 = 1;
    /// Keeps the request unanswered until a [`RELEASE`] comes.
    pub const HOLD: u64 = 2;
    /// Answers the request id of the most recently held request, packed
    /// into a positive `i32` by [`super::pack_request`], or `-ENOENT` if
    /// none is held.
    pub const WHOAMI: u64 = 3;
    /// Answers every held request with [`super::RELEASED`], then this one
    /// with 0.
    pub const RELEASE: u64 = 4;
    /// Breaks the rules for server operations on purpose, using the most
    /// recently held `READ` (sent with [`super::HOLD_READ`], at least 4
    /// bytes long) for the grant misuses, and answers a bitmask of the
    /// refusals that came back as documented ([`super::misuse`]). Answers
    /// that held `READ` along the way.
    pub const MISUSE: u64 = 5;
    /// `REPLY`s to request `arguments[1]` (as [`WHOAMI`] packed it), which
    /// belongs to another server, and answers the result that `REPLY` got
    /// (expected: `-ENOENT`).
    pub const STEAL: u64 = 6;
    /// Writes to its own program text: the kernel kills the server, with
    /// this request (and any held ones) still in flight.
    pub const CRASH: u64 = 7;
    /// Answers the badge of the handle the request came through (its low
    /// 31 bits).
    pub const BADGE: u64 = 8;
    /// Mints a client handle to this server with badge
    /// [`super::MINTED_BADGE`] and passes it in the `REPLY`: the client's
    /// result is the new handle.
    pub const GIVE_HANDLE: u64 = 9;
    /// Answers 0, then the server exits (with code 0). Held requests then
    /// complete with `-ESRVDEAD`.
    pub const EXIT: u64 = 10;
}

/// Bits of [`control::MISUSE`]'s answer: each is set when that step got
/// the result the ABI documents.
pub mod misuse {
    /// `REPLY` to a request id that is nobody's: `-ENOENT`.
    pub const REPLY_TO_AN_UNKNOWN_REQUEST: u32 = 1 << 0;
    /// `COPY_OUT` of 4 bytes starting 2 bytes before the grant's end:
    /// `-EFAULT`, and nothing is copied.
    pub const COPY_OUT_PAST_THE_GRANT: u32 = 1 << 1;
    /// `COPY_OUT` at an offset so large that offset + length wraps:
    /// `-EFAULT`.
    pub const COPY_OUT_AT_A_WRAPPING_OFFSET: u32 = 1 << 2;
    /// `COPY_IN` from a `READ`'s grant, which the server may only write:
    /// `-EPERM`.
    pub const COPY_IN_FROM_A_WRITE_ONLY_GRANT: u32 = 1 << 3;
    /// `COPY_IN` for the `MISUSE` request itself, which has no grant:
    /// `-EPERM`.
    pub const COPY_WITHOUT_A_GRANT: u32 = 1 << 4;
    /// `COPY_OUT` from server memory that is not mapped: `-EFAULT`, and
    /// nothing is copied.
    pub const COPY_OUT_FROM_UNMAPPED_MEMORY: u32 = 1 << 5;
    /// A forwarded request (`CONTROL`) sent through the server's own
    /// service handle, which is not a client handle: `-EPERM`.
    pub const FORWARD_THROUGH_A_SERVICE_HANDLE: u32 = 1 << 6;
    /// `REPLY` that would pass a handle the server does not have:
    /// `-EBADF`, and the request stays pending.
    pub const REPLY_PASSING_A_FORGED_HANDLE: u32 = 1 << 7;
    /// `COPY_OUT` of [`super::MISUSE_BYTES`] to the start of the grant:
    /// works, 4 bytes.
    pub const COPY_OUT_INSIDE_THE_GRANT: u32 = 1 << 8;
    /// `REPLY` to the held `READ` with 4: works, 0.
    pub const FIRST_REPLY: u32 = 1 << 9;
    /// The same `REPLY` again: `-ENOENT`.
    pub const SECOND_REPLY: u32 = 1 << 10;
    /// `COPY_OUT` to the answered request's grant: `-ENOENT` (grants live
    /// only while their request is pending).
    pub const COPY_AFTER_THE_REPLY: u32 = 1 << 11;
    /// Every step as documented.
    pub const ALL: u32 = (1 << 12) - 1;
}

/// FNV-1a, 32 bits: the checksum the server answers a `WRITE` with, fed
/// piece by piece as the bytes arrive.
#[derive(Clone, Copy, Debug)]
pub struct Checksum(u32);

impl Checksum {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    pub const fn new() -> Checksum {
        Checksum(Checksum::OFFSET_BASIS)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ byte as u32).wrapping_mul(Checksum::PRIME);
        }
    }

    /// The checksum as a completion result: the low 31 bits, so it is
    /// never negative (never mistaken for an error).
    pub const fn result(self) -> i32 {
        (self.0 & 0x7fff_ffff) as i32
    }

    /// The result for `bytes` in one piece.
    pub fn of(bytes: &[u8]) -> i32 {
        let mut checksum = Checksum::new();
        checksum.update(bytes);
        checksum.result()
    }
}

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum::new()
    }
}

/// The byte a `READ` finds at `position` (the request's offset plus the
/// index in its buffer): every bit of the position stirs it, so a piece
/// copied to the wrong place shows.
pub const fn pattern_byte(position: u64) -> u8 {
    let mixed = position.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 56) as u8 ^ (mixed >> 29) as u8
}

/// A request id (the kernel's: a slot index in the low 32 bits, the
/// slot's generation, from 1, in the high 32) as a positive `i32` that is
/// never 0: the generation's low 20 bits, then the index's low 11 bits.
/// (Exact while fewer than 2048 requests are in flight and the slot has
/// been reused fewer than a million times; the tests stay far below.)
pub fn pack_request(request: u64) -> i32 {
    ((((request >> 32) & 0xf_ffff) << 11) | (request & 0x7ff)) as i32
}

/// The request id [`pack_request`] packed.
pub fn unpack_request(packed: u64) -> u64 {
    ((packed >> 11) << 32) | (packed & 0x7ff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_request_id_is_positive_and_comes_back() {
        for request in [1u64 << 32, (7 << 32) | 5, (999_999 << 32) | 2047] {
            let packed = pack_request(request);
            assert!(packed > 0, "{request:#x}");
            assert_eq!(unpack_request(packed as u64), request);
        }
    }

    #[test]
    fn checksum_is_fnv1a_of_the_bytes_and_never_negative() {
        // FNV-1a 32 of "a" is 0xe40c292c; of "" the offset basis.
        assert_eq!(Checksum::of(b"a"), 0x640c_292c);
        assert_eq!(Checksum::of(b""), 0x011c_9dc5);
        assert!(Checksum::of(b"foobar") >= 0);
    }

    #[test]
    fn checksum_in_pieces_equals_checksum_in_one() {
        let bytes: [u8; 300] = core::array::from_fn(|index| pattern_byte(index as u64));
        let mut pieces = Checksum::new();
        for piece in bytes.chunks(77) {
            pieces.update(piece);
        }
        assert_eq!(pieces.result(), Checksum::of(&bytes));
    }

    #[test]
    fn the_pattern_depends_on_the_position() {
        let first: [u8; 64] = core::array::from_fn(|index| pattern_byte(index as u64));
        let shifted: [u8; 64] = core::array::from_fn(|index| pattern_byte(index as u64 + 1));
        assert_ne!(first, shifted);
        assert_eq!(&first[1..], &shifted[..63]);
        let distinct = (0..=255u8).filter(|value| first.contains(value)).count();
        assert!(
            distinct > 32,
            "the pattern is not varied enough: {distinct}"
        );
    }

    #[test]
    fn misuse_bits_are_distinct_and_all_covers_them() {
        let bits = [
            misuse::REPLY_TO_AN_UNKNOWN_REQUEST,
            misuse::COPY_OUT_PAST_THE_GRANT,
            misuse::COPY_OUT_AT_A_WRAPPING_OFFSET,
            misuse::COPY_IN_FROM_A_WRITE_ONLY_GRANT,
            misuse::COPY_WITHOUT_A_GRANT,
            misuse::COPY_OUT_FROM_UNMAPPED_MEMORY,
            misuse::FORWARD_THROUGH_A_SERVICE_HANDLE,
            misuse::REPLY_PASSING_A_FORGED_HANDLE,
            misuse::COPY_OUT_INSIDE_THE_GRANT,
            misuse::FIRST_REPLY,
            misuse::SECOND_REPLY,
            misuse::COPY_AFTER_THE_REPLY,
        ];
        assert_eq!(bits.iter().fold(0, |all, bit| all | bit), misuse::ALL);
        assert_eq!(misuse::ALL.count_ones() as usize, bits.len());
    }
}
