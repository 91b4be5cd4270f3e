//! Supervision: what init decides when a process it started ends, and the
//! badges of the `names` service through which clients find a role's
//! current server.
//!
//! The life of a role, as init (`main.rs`) runs it:
//!
//! ```text
//!   start ──► running ──(WAIT completes)──► ended ──restart?──┬─► start (a new endpoint:
//!     ▲                                                        │   a new generation)
//!     └────────────────────────────────────────────────────────┘
//!                                           └──no, or over the limit──► down (given up)
//! ```
//!
//! Whether an end is restarted is [`should_restart`]: the manifest's
//! `restart=` and how the process ended. How often is [`History`]: at most
//! `limit=N/S` restarts in any S seconds; the one more is refused, and the
//! role stays down.
//!
//! A *names handle* is a client handle to init's `names` endpoint. Its
//! badge ([`NamesBadge`]) says which roles its holder may reconnect to
//! (those it was given at start), the badge the new client handle gets,
//! and whether it may list and kill servers (the shell's `kill`, `ps`).
//! Only init mints names handles, so the badge is the whole permission.
//!
//! Pure: unit tested on the host.

use crate::manifest::{Restart, RestartLimit};

/// How a process ended, from its `WAIT` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It exited with this code.
    Exited(u8),
    /// It was killed (`KILL`, or a fault).
    Killed,
}

impl End {
    /// The end a `WAIT` result (0 to 255, or `WAIT_KILLED`) says.
    pub fn from_wait(result: i32) -> End {
        match u8::try_from(result) {
            Ok(code) => End::Exited(code),
            Err(_) => End::Killed,
        }
    }
}

/// Does `policy` restart a role that ended so? For the shell an exit is
/// the user's `exit` and never restarts it; only being killed (or a fault)
/// is a failure.
pub fn should_restart(policy: Restart, is_shell: bool, end: End) -> bool {
    match (policy, end) {
        (Restart::Never, _) => false,
        (_, End::Exited(_)) if is_shell => false,
        (Restart::Always, _) => true,
        (Restart::OnFailure, End::Killed) => true,
        (Restart::OnFailure, End::Exited(code)) => code != 0,
    }
}

/// The most restarts a [`History`] remembers (the largest `limit=` N).
pub const HISTORY_MAX: usize = 100;

/// When a role was restarted, newest last, in whole seconds since boot.
#[derive(Clone, Debug, Default)]
pub struct History {
    times: heapless::Deque<u32, HISTORY_MAX>,
    /// Restarts in all, for `ps`.
    pub count: u32,
}

impl History {
    /// May the role be restarted at `now` under `limit`? If so the
    /// restart is counted. No: `limit.times` restarts already happened in
    /// the last `limit.seconds`.
    pub fn allow(&mut self, now: u32, limit: RestartLimit) -> bool {
        while self
            .times
            .front()
            .is_some_and(|&time| now.saturating_sub(time) >= limit.seconds)
        {
            self.times.pop_front();
        }
        if self.times.len() >= limit.times as usize {
            return false;
        }
        if self.times.is_full() {
            self.times.pop_front();
        }
        let _ = self.times.push_back(now);
        self.count = self.count.saturating_add(1);
        true
    }
}

/// What a names handle lets its holder do, in its badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamesBadge {
    /// Bit i: the role of manifest entry i may be reconnected to.
    pub roles: u16,
    /// The badge a new client handle gets: the holder's manifest line, as
    /// for the handles init gives at start (so a reconnected shell's
    /// console handle is a terminal handle again).
    pub line: u16,
    /// May list the roles and kill servers (`ps`, `kill`).
    pub supervise: bool,
}

impl NamesBadge {
    const LINE_SHIFT: u32 = 16;
    const SUPERVISE: u64 = 1 << 32;

    pub fn encode(self) -> u64 {
        self.roles as u64
            | (self.line as u64) << Self::LINE_SHIFT
            | if self.supervise { Self::SUPERVISE } else { 0 }
    }

    /// Any badge reads as some permission; init mints only its own.
    pub fn decode(badge: u64) -> NamesBadge {
        NamesBadge {
            roles: badge as u16,
            line: (badge >> Self::LINE_SHIFT) as u16,
            supervise: badge & Self::SUPERVISE != 0,
        }
    }

    /// May the holder reconnect to the role of entry `index`?
    pub fn may_use(self, index: usize) -> bool {
        index < 16 && self.roles & (1 << index) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_result_is_an_exit_code_or_a_kill() {
        assert_eq!(End::from_wait(0), End::Exited(0));
        assert_eq!(End::from_wait(255), End::Exited(255));
        assert_eq!(End::from_wait(256), End::Killed);
        assert_eq!(End::from_wait(-3), End::Killed);
    }

    #[test]
    fn the_policy_and_the_end_decide() {
        use Restart::*;
        assert!(should_restart(Always, false, End::Exited(0)));
        assert!(should_restart(Always, false, End::Killed));
        assert!(!should_restart(OnFailure, false, End::Exited(0)));
        assert!(should_restart(OnFailure, false, End::Exited(1)));
        assert!(should_restart(OnFailure, false, End::Killed));
        assert!(!should_restart(Never, false, End::Killed));
        // The shell: the user's exit powers off, whatever its code.
        assert!(!should_restart(Always, true, End::Exited(0)));
        assert!(!should_restart(OnFailure, true, End::Exited(1)));
        assert!(should_restart(OnFailure, true, End::Killed));
        assert!(!should_restart(Never, true, End::Killed));
    }

    #[test]
    fn restarts_are_limited_per_window() {
        let limit = RestartLimit {
            times: 3,
            seconds: 10,
        };
        let mut history = History::default();
        assert!(history.allow(100, limit));
        assert!(history.allow(101, limit));
        assert!(history.allow(105, limit));
        assert!(!history.allow(109, limit), "a fourth within 10 s");
        // At 110 the first has left the window.
        assert!(history.allow(110, limit));
        assert!(!history.allow(110, limit));
        assert_eq!(history.count, 4);
        // A clock that seems to go back (it does not) refuses, never panics.
        assert!(!history.allow(0, limit));
    }

    #[test]
    fn a_long_history_stays_bounded() {
        let limit = RestartLimit {
            times: 100,
            seconds: 1,
        };
        let mut history = History::default();
        for second in 0..1000 {
            assert!(history.allow(second, limit));
        }
        assert_eq!(history.count, 1000);
        let most = RestartLimit {
            times: 100,
            seconds: 3600,
        };
        let mut history = History::default();
        for _ in 0..100 {
            assert!(history.allow(7, most));
        }
        assert!(!history.allow(7, most));
    }

    #[test]
    fn a_names_badge_reads_back() {
        let badge = NamesBadge {
            roles: 0b1011,
            line: 31,
            supervise: true,
        };
        assert_eq!(NamesBadge::decode(badge.encode()), badge);
        assert!(badge.may_use(0));
        assert!(!badge.may_use(2));
        assert!(!badge.may_use(16));
        assert!(!badge.may_use(usize::MAX));
        let plain = NamesBadge {
            supervise: false,
            ..badge
        };
        assert!(!NamesBadge::decode(plain.encode()).supervise);
    }
}
