//! The names service: init's endpoint `names`, where a process finds the
//! current server of a role after a restart, and the shell lists and
//! kills servers (`docs/supervision.md`).
//!
//! | request | answer |
//! | --- | --- |
//! | `OPEN` path = a role's name | a new client handle to the role's current server (`EPERM`: the names handle does not cover the role; `ENOENT`: no such role; `ESRVDEAD`: the role is down) |
//! | `READ` | the roles, one line each: [`Role`] in words, `ROLE PROGRAM PID RESTARTS STATE` (`EPERM` without the supervise right) |
//! | `CONTROL [KILL, pid, 0]` | kills the server with process id `pid`; init restarts it as its manifest line says (`ESRCH`: no server has that id; `EPERM` without the supervise right) |
//! | `CONTROL [FAULT, pid, how]` | makes that server fail its next reply (`INJECT`, [`fault`] makes `how`): a crash, a wrong reply or a stall; only on a kernel booted with `faults` (`EPERM` otherwise, and without the supervise right; `ESRCH`: no server has that id) |
//! | `CONTROL [WATCH, n, 0]` | completes when more than `n` restarts have happened since boot, with their number (one such request per client at a time: `EBUSY` for a second) |
//!
//! What a names handle covers is in its badge, which only init mints: the
//! roles its holder was given at start.

/// `CONTROL [KILL, pid, 0]`.
pub const KILL: u64 = 1;
/// `CONTROL [WATCH, restarts seen, 0]`.
pub const WATCH: u64 = 2;
/// `CONTROL [FAULT, pid, fault(kind, stall_ms)]`.
pub const FAULT: u64 = 3;

/// The third word of `CONTROL [FAULT, ...]`: an `INJECT` kind
/// ([`crate::abi::inject`]) and, for a stall, its milliseconds.
pub const fn fault(kind: u64, stall_ms: u64) -> u64 {
    (stall_ms << 8) | (kind & 0xff)
}

/// The kind and stall of a [`fault`] word.
pub const fn fault_parts(word: u64) -> (u64, u64) {
    (word & 0xff, word >> 8)
}

/// Where a role stands, in the names service's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Its server runs.
    Up,
    /// Between two servers: ended, and starting again (perhaps after a
    /// role it uses).
    Starting,
    /// Given up (or never to be restarted): what uses it fails.
    Down,
}

impl State {
    pub const fn word(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Starting => "starting",
            State::Down => "down",
        }
    }

    fn from_word(word: &str) -> Option<State> {
        [State::Up, State::Starting, State::Down]
            .into_iter()
            .find(|state| state.word() == word)
    }
}

/// One line of the names service's `READ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role<'a> {
    pub role: &'a str,
    pub program: &'a str,
    /// Its process id; 0 while it has none (starting, or down).
    pub id: u32,
    /// How many times it was started again.
    pub restarts: u32,
    pub state: State,
}

impl<'a> Role<'a> {
    /// Reads one line, `ROLE PROGRAM ID RESTARTS STATE`.
    pub fn parse(line: &'a str) -> Option<Role<'a>> {
        let mut words = line.split_whitespace();
        let role = Role {
            role: words.next()?,
            program: words.next()?,
            id: words.next()?.parse().ok()?,
            restarts: words.next()?.parse().ok()?,
            state: State::from_word(words.next()?)?,
        };
        words.next().is_none().then_some(role)
    }
}

impl core::fmt::Display for Role<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            formatter,
            "{} {} {} {} {}",
            self.role,
            self.program,
            self.id,
            self.restarts,
            self.state.word()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::string::ToString;

    #[test]
    fn a_fault_word_holds_its_kind_and_stall() {
        use crate::abi::inject;
        for (kind, stall_ms) in [
            (inject::CRASH, 0),
            (inject::STALL, 300),
            (inject::STALL, inject::STALL_MAX_MS),
        ] {
            assert_eq!(fault_parts(fault(kind, stall_ms)), (kind, stall_ms));
        }
    }

    #[test]
    fn a_line_reads_back() {
        let role = Role {
            role: "fs",
            program: "fat",
            id: 7,
            restarts: 2,
            state: State::Up,
        };
        let text = role.to_string();
        assert_eq!(text, "fs fat 7 2 up\n");
        assert_eq!(Role::parse(&text), Some(role));
        let down = Role::parse("fs fat 0 5 down").unwrap();
        assert_eq!((down.id, down.state), (0, State::Down));
        assert_eq!(
            Role::parse("fs fat 0 5 starting").unwrap().state,
            State::Starting
        );
        assert_eq!(Role::parse("fs fat 7 2"), None);
        assert_eq!(Role::parse("fs fat 7 2 sideways"), None);
        assert_eq!(Role::parse("fs fat seven 2 up"), None);
        assert_eq!(Role::parse("fs fat 7 2 up extra"), None);
    }
}
