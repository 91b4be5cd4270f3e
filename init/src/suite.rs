//! What the test programs that run inside Annulus (`spawntest`,
//! `disktest`) share: a case's failure, in words, and the checks that
//! make one.
//!
//! ```ignore
//! fn a_case() -> Result<(), Failure> {
//!     expect("READ", read(...), Ok(4096))?;
//!     if bad { fail!("byte {offset:#x} is {got}"); }
//!     Ok(())
//! }
//! ```

use alloc::string::String;

/// Why a case failed.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure(pub String);

/// Ends the case (returns `Err(Failure)`) with a message, `format!`-style.
#[macro_export]
macro_rules! fail {
    ($($argument:tt)*) => {
        return Err($crate::suite::Failure(alloc::format!($($argument)*)))
    };
}

/// `Ok` if `got` is `want`; otherwise a failure naming `what` and both.
pub fn expect<T: core::fmt::Debug + PartialEq>(what: &str, got: T, want: T) -> Result<(), Failure> {
    if got != want {
        return Err(Failure(alloc::format!(
            "{what}: got {got:?}, want {want:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(value: i32) -> Result<(), Failure> {
        expect("value", value, 3)?;
        if value == 3 {
            crate::fail!("three is {}", "right, but this fails");
        }
        Ok(())
    }

    #[test]
    fn expect_and_fail_say_what_went_wrong() {
        assert_eq!(case(4), Err(Failure("value: got 4, want 3".into())));
        assert_eq!(
            case(3),
            Err(Failure("three is right, but this fails".into()))
        );
    }
}
