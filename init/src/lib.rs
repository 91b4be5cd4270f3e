//! The pure parts of init and the shell, unit tested on the host
//! (`cargo test -p init --lib`); the programs in `src/bin/` and `main.rs`
//! use them.
//!
//! - [`manifest`]: the system manifest init reads: which program plays
//!   each role, and which handles it gets.
//! - [`syntax`]: the shell's command lines: words, quoting, `>`/`>>`,
//!   `&`.
//! - [`line_editor`]: the shell's line editing: backspace, left/right,
//!   history with up/down, as terminal bytes in and out.
//! - [`suite`]: the test programs' failures and checks.
//! - [`supervision`]: when init restarts a role, and the badges of its
//!   `names` service.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod line_editor;
pub mod manifest;
pub mod suite;
pub mod supervision;
pub mod syntax;
