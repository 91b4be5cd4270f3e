//! The command line: `cargo xtask COMMAND [OPTIONS]`, parsed by hand.
//!
//! There are few enough options that a parser crate would be more to learn
//! than this file. Options take their value either as the next word
//! (`--gic 2`) or after an equals sign (`--gic=2`).

use std::time::Duration;

use crate::Result;
use crate::qemu::{GicVersion, Machine};
use crate::workspace::Profile;

/// What `cargo xtask help` prints, and what a wrong command line is answered
/// with.
pub const USAGE: &str = "\
Usage: cargo xtask COMMAND [OPTIONS]

Commands:
  build [--release]      Build the kernel Image and the initrd into target/annulus/
  run [MACHINE OPTIONS] [-- QEMU ARGUMENTS...]
                         Build, then boot Annulus in QEMU (quit with Ctrl-A then X)
  test [--host-only | --qemu-only] [--release] [--long] [--timeout SECONDS] [NAME]
                         Run the host unit tests, then boot each QEMU test
                         configuration in self-test mode; with NAME, only the
                         tests whose name contains NAME; --long adds the long
                         campaigns (a million-submission flood, ...)
  gdb [MACHINE OPTIONS] [-- QEMU ARGUMENTS...]
                         Boot in QEMU, paused at the first instruction, and
                         attach gdb-multiarch
    clippy                 Run clippy on the host crates and on the kernel target
  bench [--quick] [--system NAME] [--against linux]
                         Measure instructions per operation in QEMU with -icount
                         (release build); writes target/bench/results.json;
                         --system fat: the disk figures (FAT on virtio-blk);
                         --against linux: the same figures under Debian's arm64
                         Linux too (fetched once into target/linux/), side by side
  profile FIGURE [--steps N]
                         Where one bench figure's instructions go, by function
                         (single-steps N instructions under gdb-multiarch)
  help                   Show this message

Machine options (run and gdb):
  --release              Build with the release profile
  --system NAME          Boot the system systems/NAME.toml (default: default)
  --disk PATH            Boot with this disk image (raw) as the virtio disk,
                         not the system's own (target/annulus/disk-NAME.img)
  --gic 2|3              Interrupt controller version (default 3)
  --cpu NAME             QEMU CPU model (default cortex-a72)
  --mem SIZE             Memory size, as QEMU's -m takes it (default 256M)
  --smp N                Number of CPU cores (default 1)
  -- QEMU ARGUMENTS...   Everything after -- goes to QEMU unchanged
";

/// One parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Build {
        profile: Profile,
    },
    Run(RunOptions),
    Gdb(RunOptions),
    Test(TestOptions),
    Clippy,
    /// `bench [--quick] [--system NAME] [--against linux]`.
    Bench {
        quick: bool,
        /// `None`: the kernel and ramfs figures; `Some("fat")`: the disk's.
        system: Option<String>,
        /// `--against linux`: Linux's figures beside them.
        against_linux: bool,
    },
    /// `profile FIGURE [--steps N]`.
    Profile {
        figure: String,
        steps: u32,
    },
}

/// Options of `run` and `gdb`: which kernel, which machine, and anything the
/// user wants passed to QEMU as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    pub profile: Profile,
    pub machine: Machine,
    pub extra_qemu_arguments: Vec<String>,
    /// `--system NAME`: boot `systems/NAME.toml` (`None`: the default).
    pub system: Option<String>,
    /// `--disk PATH`: the user's own disk image.
    pub disk: Option<std::path::PathBuf>,
}

/// Options of `test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOptions {
    pub profile: Profile,
    pub run_host: bool,
    pub run_qemu: bool,
    /// How long one QEMU configuration may run before it counts as hung.
    pub timeout: Duration,
    /// Keep only the tests whose name contains this.
    pub filter: Option<String>,
    /// Run the long campaigns too (`LONG_QEMU_TESTS`): minutes, not
    /// seconds, so not part of `.ci/run`.
    pub long: bool,
}

impl Default for TestOptions {
    fn default() -> TestOptions {
        TestOptions {
            profile: Profile::Debug,
            run_host: true,
            run_qemu: true,
            timeout: Duration::from_secs(60),
            filter: None,
            long: false,
        }
    }
}

/// Parses the words after `cargo xtask`.
pub fn parse(arguments: &[String]) -> Result<Command> {
    let Some((command, options)) = arguments.split_first() else {
        return Err("no command given".to_string());
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "build" => parse_build(options),
        "run" => parse_run_options(options, "run").map(Command::Run),
        "gdb" => parse_run_options(options, "gdb").map(Command::Gdb),
        "test" => parse_test_options(options).map(Command::Test),
        "clippy" => match options.first() {
            None => Ok(Command::Clippy),
            Some(option) => Err(format!("clippy takes no options, got '{option}'")),
        },
        "bench" => {
            let mut quick = false;
            let mut system = None;
            let mut against_linux = false;
            let mut words = options.iter();
            while let Some(word) = words.next() {
                match word.as_str() {
                    "--quick" => quick = true,
                    "--system" => system = words.next().cloned(),
                    "--against" => match words.next().map(String::as_str) {
                        Some("linux") => against_linux = true,
                        _ => return Err("bench --against takes linux".to_string()),
                    },
                    _ => {
                        return Err(
                            "bench takes --quick, --system NAME and --against linux".to_string()
                        );
                    }
                }
            }
            if system
                .as_deref()
                .is_some_and(|system| system != "fat" && system != "default")
            {
                return Err("bench --system takes fat or default".to_string());
            }
            let system = system.filter(|system| system != "default");
            if against_linux && system.is_some() {
                return Err(
                    "bench --against linux measures the default system's figures; \
                     leave out --system"
                        .to_string(),
                );
            }
            Ok(Command::Bench {
                quick,
                system,
                against_linux,
            })
        }
        "profile" => parse_profile(options),
        other => Err(format!("unknown command '{other}'")),
    }
}

/// Instructions `profile` single-steps unless told otherwise: two or three
/// rounds of the batch-1 figures.
const DEFAULT_PROFILE_STEPS: u32 = 20_000;

fn parse_profile(arguments: &[String]) -> Result<Command> {
    let mut figure = None;
    let mut steps = DEFAULT_PROFILE_STEPS;
    let mut words = arguments.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--steps" => {
                let value = words.next().ok_or("--steps needs a number")?;
                steps = value
                    .parse()
                    .ok()
                    .filter(|&steps| steps > 0)
                    .ok_or_else(|| format!("--steps needs a positive number, got '{value}'"))?;
            }
            option if option.starts_with('-') => {
                return Err(format!("unknown option '{option}' for profile"));
            }
            name if figure.is_none() => figure = Some(name.to_string()),
            extra => return Err(format!("profile takes one figure, got '{extra}' too")),
        }
    }
    let figure = figure.ok_or("profile needs a figure, e.g. kernel_nop_batch_1")?;
    Ok(Command::Profile { figure, steps })
}

fn parse_build(arguments: &[String]) -> Result<Command> {
    let mut profile = Profile::Debug;
    for argument in arguments {
        match argument.as_str() {
            "--release" => profile = Profile::Release,
            other => return Err(format!("unknown option '{other}' for build")),
        }
    }
    Ok(Command::Build { profile })
}

fn parse_run_options(arguments: &[String], command: &str) -> Result<RunOptions> {
    let mut options = RunOptions::default();
    let mut remaining = arguments.iter();
    while let Some(argument) = remaining.next() {
        let (flag, inline_value) = split_option(argument);
        match flag {
            "--" => {
                options.extra_qemu_arguments = remaining.cloned().collect();
                break;
            }
            "--release" if inline_value.is_none() => options.profile = Profile::Release,
            "--system" => options.system = Some(option_value(flag, inline_value, &mut remaining)?),
            "--disk" => {
                options.disk = Some(option_value(flag, inline_value, &mut remaining)?.into());
            }
            "--gic" => {
                let value = option_value(flag, inline_value, &mut remaining)?;
                options.machine.gic_version = match value.as_str() {
                    "2" => GicVersion::Two,
                    "3" => GicVersion::Three,
                    other => return Err(format!("--gic takes 2 or 3, not '{other}'")),
                };
            }
            "--cpu" => options.machine.cpu = option_value(flag, inline_value, &mut remaining)?,
            "--mem" => options.machine.memory = option_value(flag, inline_value, &mut remaining)?,
            "--smp" => {
                let value = option_value(flag, inline_value, &mut remaining)?;
                options.machine.cpu_count = match value.parse::<u32>() {
                    Ok(count) if count > 0 => count,
                    _ => return Err(format!("--smp takes a number of cores, not '{value}'")),
                };
            }
            _ => return Err(format!("unknown option '{argument}' for {command}")),
        }
    }
    Ok(options)
}

fn parse_test_options(arguments: &[String]) -> Result<TestOptions> {
    let mut options = TestOptions::default();
    let mut remaining = arguments.iter();
    while let Some(argument) = remaining.next() {
        let (flag, inline_value) = split_option(argument);
        match flag {
            "--host-only" if inline_value.is_none() => options.run_qemu = false,
            "--qemu-only" if inline_value.is_none() => options.run_host = false,
            "--long" if inline_value.is_none() => options.long = true,
            "--release" if inline_value.is_none() => options.profile = Profile::Release,
            "--timeout" => {
                let value = option_value(flag, inline_value, &mut remaining)?;
                options.timeout = match value.parse::<u64>() {
                    Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                    _ => return Err(format!("--timeout takes whole seconds, not '{value}'")),
                };
            }
            _ if argument.starts_with('-') => {
                return Err(format!("unknown option '{argument}' for test"));
            }
            _ if options.filter.is_some() => {
                return Err(format!(
                    "test takes one NAME filter, got a second: '{argument}'"
                ));
            }
            _ => options.filter = Some(argument.clone()),
        }
    }
    if !options.run_host && !options.run_qemu {
        return Err("--host-only and --qemu-only together leave nothing to run".to_string());
    }
    Ok(options)
}

/// Splits `--name=value` into `("--name", Some("value"))`; anything else is
/// returned whole, with no value.
fn split_option(argument: &str) -> (&str, Option<&str>) {
    match argument.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (argument, None),
    }
}

/// The value of an option: the part after `=` if there was one, otherwise
/// the next word on the command line.
fn option_value<'a>(
    flag: &str,
    inline_value: Option<&str>,
    remaining: &mut impl Iterator<Item = &'a String>,
) -> Result<String> {
    match inline_value {
        Some(value) => Ok(value.to_string()),
        None => remaining
            .next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(line: &str) -> Result<Command> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&words)
    }

    #[test]
    fn bench_takes_quick_a_system_or_linux_beside_it() {
        assert_eq!(
            parse_words("bench --quick --against linux"),
            Ok(Command::Bench {
                quick: true,
                system: None,
                against_linux: true
            })
        );
        assert_eq!(
            parse_words("bench --system fat"),
            Ok(Command::Bench {
                quick: false,
                system: Some("fat".to_string()),
                against_linux: false
            })
        );
        assert!(parse_words("bench --against bsd").is_err());
        assert!(parse_words("bench --against").is_err());
        assert!(parse_words("bench --system fat --against linux").is_err());
    }

    #[test]
    fn profile_takes_a_figure_and_a_step_count() {
        assert_eq!(
            parse_words("profile kernel_nop_batch_1"),
            Ok(Command::Profile {
                figure: "kernel_nop_batch_1".to_string(),
                steps: DEFAULT_PROFILE_STEPS
            })
        );
        assert_eq!(
            parse_words("profile --steps 5000 read_4k_via_server"),
            Ok(Command::Profile {
                figure: "read_4k_via_server".to_string(),
                steps: 5000
            })
        );
        assert!(
            parse_words("profile")
                .unwrap_err()
                .contains("needs a figure")
        );
        assert!(
            parse_words("profile a b")
                .unwrap_err()
                .contains("one figure")
        );
        assert!(
            parse_words("profile a --steps 0")
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse_words("profile a --steps")
                .unwrap_err()
                .contains("number")
        );
        assert!(
            parse_words("profile a --fast")
                .unwrap_err()
                .contains("--fast")
        );
    }

    #[test]
    fn run_without_options_uses_the_default_machine() {
        let Ok(Command::Run(options)) = parse_words("run") else {
            panic!("run did not parse");
        };
        assert_eq!(options, RunOptions::default());
        assert_eq!(options.machine.gic_version, GicVersion::Three);
        assert_eq!(options.machine.cpu, "cortex-a72");
        assert_eq!(options.machine.memory, "256M");
        assert_eq!(options.machine.cpu_count, 1);
    }

    #[test]
    fn run_options_and_extra_qemu_arguments() {
        let parsed = parse_words(
            "run --release --system fat --disk my.img --gic 2 --cpu=cortex-a53 --mem 1G --smp 4 -- -d int -s",
        );
        let expected = RunOptions {
            profile: Profile::Release,
            machine: Machine {
                gic_version: GicVersion::Two,
                cpu: "cortex-a53".to_string(),
                memory: "1G".to_string(),
                cpu_count: 4,
            },
            extra_qemu_arguments: vec!["-d".into(), "int".into(), "-s".into()],
            system: Some("fat".to_string()),
            disk: Some("my.img".into()),
        };
        assert_eq!(parsed, Ok(Command::Run(expected)));
    }

    #[test]
    fn gic_version_other_than_two_or_three_is_an_error() {
        let error = parse_words("run --gic 4").unwrap_err();
        assert!(error.contains("--gic takes 2 or 3"), "{error}");
    }

    #[test]
    fn option_without_its_value_is_an_error() {
        assert_eq!(
            parse_words("gdb --cpu"),
            Err("--cpu needs a value".to_string())
        );
    }

    #[test]
    fn unknown_command_and_unknown_option_are_errors() {
        assert!(parse_words("").is_err());
        assert!(parse_words("frobnicate").is_err());
        assert!(parse_words("build --fast").is_err());
        assert!(parse_words("run --fast").is_err());
    }

    #[test]
    fn test_options_with_a_filter() {
        let parsed = parse_words("test --qemu-only --timeout 5 gicv3");
        let expected = TestOptions {
            run_host: false,
            timeout: Duration::from_secs(5),
            filter: Some("gicv3".to_string()),
            ..TestOptions::default()
        };
        assert_eq!(parsed, Ok(Command::Test(expected)));
    }

    #[test]
    fn test_refuses_to_run_nothing() {
        assert!(parse_words("test --host-only --qemu-only").is_err());
    }
}
