//! The first half of `cargo xtask test`: every crate's unit tests, on the
//! host, under plain `cargo test`.
//!
//! cargo's output goes to the terminal as it comes; on the way, each test
//! binary's closing line (`test result: ok. 12 passed; 0 failed; ...`) is
//! read so the totals can join the QEMU tests' in the final summary.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::workspace::Workspace;
use crate::{Result, TestCounts, tools};

/// Runs `cargo test` on the workspace's default members (every crate that
/// builds on the host: not the user programs), then on the `init` crate's
/// library (the shell's and init's pure parts; its programs build only for
/// the kernel's target), passing `filter` on to the test binaries, and
/// adds up what they report.
pub fn run(workspace: &Workspace, filter: Option<&str>) -> Result<TestCounts> {
    let mut counts = TestCounts::default();
    for packages in [&[][..], &["--package", "init", "--lib"][..]] {
        let mut cargo = tools::cargo(workspace);
        cargo.args(["test"]);
        cargo.args(packages);
        if let Some(filter) = filter {
            cargo.args(["--", filter]);
        }
        counts.add(run_one(cargo)?);
    }
    println!(
        "xtask: host tests: {} passed, {} failed",
        counts.passed, counts.failed
    );
    Ok(counts)
}

/// Runs one `cargo test` command and adds up what its test binaries
/// report.
fn run_one(mut cargo: std::process::Command) -> Result<TestCounts> {
    println!("xtask: {}", tools::show_command(&cargo));

    // Only standard output is captured: that is where the test binaries
    // print. cargo's own messages (compiling, errors) go to standard error,
    // straight to the terminal.
    let mut child = cargo
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start cargo test: {error}"))?;
    let output = child.stdout.take().expect("stdout was piped above");

    let mut counts = TestCounts::default();
    for line in BufReader::new(output).lines() {
        let line = line.map_err(|error| format!("cannot read cargo test's output: {error}"))?;
        println!("{line}");
        if let Some(result) = parse_test_result_line(&line) {
            counts.add(result);
        }
    }
    let status = child
        .wait()
        .map_err(|error| format!("lost cargo test: {error}"))?;

    // A build error fails cargo test before any test reports: count it, so
    // that it cannot pass for "0 failed".
    if !status.success() && counts.failed == 0 {
        println!(
            "xtask: cargo test failed ({status}) with no failing test reported; counted as 1 failure"
        );
        counts.failed = 1;
    }
    Ok(counts)
}

/// Reads one test binary's closing line, such as
/// `test result: FAILED. 10 passed; 2 failed; 0 ignored; ...`.
/// Any other line gives `None`.
pub fn parse_test_result_line(line: &str) -> Option<TestCounts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let rest = rest
        .strip_prefix("ok.")
        .or_else(|| rest.strip_prefix("FAILED."))?;

    let mut passed = None;
    let mut failed = None;
    for part in rest.split(';') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(label)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match label {
            "passed" => passed = Some(number),
            "failed" => failed = Some(number),
            _ => {}
        }
    }
    Some(TestCounts {
        passed: passed?,
        failed: failed?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_result_line() {
        let line = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; \
                    0 filtered out; finished in 0.03s";
        assert_eq!(
            parse_test_result_line(line),
            Some(TestCounts {
                passed: 12,
                failed: 0
            })
        );
    }

    #[test]
    fn failing_result_line() {
        let line = "test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; \
                    0 filtered out; finished in 1.50s";
        assert_eq!(
            parse_test_result_line(line),
            Some(TestCounts {
                passed: 10,
                failed: 2
            })
        );
    }

    #[test]
    fn other_lines_are_not_results() {
        assert_eq!(parse_test_result_line("running 12 tests"), None);
        assert_eq!(parse_test_result_line("test parse ... ok"), None);
        assert_eq!(
            parse_test_result_line("test result: maybe. 1 passed; 0 failed"),
            None
        );
        assert_eq!(parse_test_result_line("test result: ok. finished"), None);
    }
}
