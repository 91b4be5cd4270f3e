//! The console server's protocol, for its clients (`docs/shell.md`): the
//! `CONTROL` words it answers, `ops::control(console, [word, 0, 0])`.
//!
//! Only the *terminal* handle (the one the system gives its shell) may
//! send them; the reader and writer handles the shell gives its jobs get
//! `EPERM` (the console server's `access` module says who may do what).

/// Lines, edited and echoed (the default).
pub const COOKED: u64 = 0;
/// Every byte as it is typed, not echoed.
pub const RAW: u64 = 1;
/// Held until Ctrl-C is typed in cooked mode, then answered with 0:
/// that Ctrl-C goes to no reader (the line and the input typed ahead
/// are thrown away). How a shell hears that the user wants the
/// foreground job stopped. One process's at a time (`EBUSY` for
/// another's); a new one from the same process replaces the old.
pub const INTERRUPT_WAIT: u64 = 2;
/// Answered with a new *reader* handle, moved to the caller: it may
/// `READ` and `WRITE` the console, nothing else, until the next
/// [`RECLAIM`]. What a shell gives the job it runs in the foreground as
/// standard input.
pub const READER: u64 = 3;
/// Answered with a new *writer* handle: `WRITE` only. A job's standard
/// output and error.
pub const WRITER: u64 = 4;
/// Takes the console back from every reader handle made so far: their
/// `READ`s waiting now are answered `-EPERM`, and so is every later one.
/// A shell says it when a job ends.
pub const RECLAIM: u64 = 5;
