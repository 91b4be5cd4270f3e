//! The system manifest: which program plays each role, in start order, and
//! what each is given (`docs/spawn.md`). init reads it from `etc/system` in
//! the boot image.
//!
//! One line per role; `#` starts a comment:
//!
//! ```text
//! # role   program  grants
//! console  console  serve device=console irq=console klog
//! fs       ramfs    serve bootimage
//! proc     proc     serve spawn use=fs
//! shell    sh       use=console use=fs use=proc power
//! ```
//!
//! | grant | the program gets |
//! | --- | --- |
//! | `serve` | the service handle of a new endpoint named after the role |
//! | `use=ROLE` | a client handle to ROLE's endpoint (served by an earlier line) |
//! | `device=D`, `irq=D` | device D's registers, its interrupt line (D: `console`, `virtio-blk`) |
//! | `dma` | the right to `DMA_MAP` memory a device reads and writes |
//! | `klog` | the right to read the kernel log |
//! | `bootimage` | the boot image, to map read only |
//! | `power` | the right to power off |
//! | `spawn` | the right to build processes |
//! | `memory=MIB` | a memory budget of MIB MiB (1 to 4096) instead of the kernel's default, 32 MiB (not a handle) |
//! | `clients=P:Q` | not a handle: the proc server gives a client handle of this role to programs `/bin/P` and `/bin/Q` when it starts them (`*`: every program); the role must serve, and start before `proc` |
//! | `restart=WHEN` | not a handle: when init starts the program again after it ends: `always`, `on-failure` (the default: killed, a fault, or an exit code other than 0) or `never` |
//! | `limit=N/S` | not a handle: at most N restarts (1 to 100) in S seconds (1 to 3600), then init gives the role up and says so; the default is 5/10 |
//!
//! Handles are given in the order the grants are written. The `shell` role
//! comes last and serves nothing: init starts it through the proc server.
//! For the shell, a failure is being killed or a fault: an exit (the user's
//! `exit`) powers the machine off.
//!
//! # Invariants
//! - A parsed manifest has each role once, a `shell` line last, and every
//!   `use=` names a role an earlier line serves.

use heapless::Vec;

/// The most lines with a role.
pub const ROLES_MAX: usize = 12;
/// The most grants on one line.
pub const GRANTS_MAX: usize = 8;

/// When init starts a role's program again after it has ended (`restart=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Whatever the end.
    Always,
    /// When it was killed, faulted, or exited with a code other than 0
    /// (for the shell: killed or faulted).
    OnFailure,
    /// Never: the role stays down.
    Never,
}

/// At most `times` restarts within `seconds` (`limit=N/S`); one more, and
/// init gives the role up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartLimit {
    pub times: u32,
    pub seconds: u32,
}

impl RestartLimit {
    /// Without `limit=`: 5 restarts in 10 seconds.
    pub const DEFAULT: RestartLimit = RestartLimit {
        times: 5,
        seconds: 10,
    };

    /// Reads `N/S`, each in its range.
    pub fn parse(text: &str) -> Option<RestartLimit> {
        let (times, seconds) = text.split_once('/')?;
        let times = times
            .parse()
            .ok()
            .filter(|times| (1..=100).contains(times))?;
        let seconds = seconds
            .parse()
            .ok()
            .filter(|seconds| (1..=3600).contains(seconds))?;
        Some(RestartLimit { times, seconds })
    }
}

/// One capability a role is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant<'a> {
    Serve,
    Use(&'a str),
    Device(&'a str),
    Interrupt(&'a str),
    KernelLog,
    BootImage,
    Power,
    Spawn,
    Dma,
}

/// One role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Where it is, for messages (from 1).
    pub line: usize,
    pub role: &'a str,
    /// `bin/<program>` in the boot image.
    pub program: &'a str,
    pub grants: Vec<Grant<'a>, GRANTS_MAX>,
    /// Its memory budget in MiB (`memory=`); `None`: the kernel's default.
    pub memory_mib: Option<u32>,
    /// The programs the proc server gives this service to (`clients=`,
    /// colon-separated; `*`: all), if any.
    pub clients: Option<&'a str>,
    /// When init restarts it (`restart=`).
    pub restart: Restart,
    /// How often, at most (`limit=`).
    pub limit: RestartLimit,
}

impl Entry<'_> {
    /// Does the proc server give this service to the program `/bin/name`?
    pub fn serves_program(&self, name: &str) -> bool {
        self.clients.is_some_and(|clients| {
            clients
                .split(':')
                .any(|client| client == "*" || client == name)
        })
    }
}

/// What is wrong with a manifest, and on which line (0: the whole file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub problem: &'static str,
}

/// The devices a manifest may name: the console UART, and the first
/// virtio block device (a disk).
pub const DEVICES: [&str; 2] = ["console", "virtio-blk"];

/// Reads a manifest and checks it whole.
pub fn parse(text: &str) -> Result<Vec<Entry<'_>, ROLES_MAX>, ManifestError> {
    let mut entries: Vec<Entry, ROLES_MAX> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let error = |problem| ManifestError {
            line: number,
            problem,
        };
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(role) = words.next() else { continue };
        let program = words.next().ok_or(error("a role without a program"))?;
        if entries.iter().any(|entry| entry.role == role) {
            return Err(error("a role named twice"));
        }
        if entries.iter().any(|entry| entry.role == "shell") {
            return Err(error("a line after the shell's (the shell comes last)"));
        }
        let mut grants = Vec::new();
        let mut memory_mib = None;
        let mut clients = None;
        let mut restart = None;
        let mut limit = None;
        for word in words {
            if let Some(when) = word.strip_prefix("restart=") {
                let when = match when {
                    "always" => Restart::Always,
                    "on-failure" => Restart::OnFailure,
                    "never" => Restart::Never,
                    _ => return Err(error("restart= takes always, on-failure or never")),
                };
                if restart.replace(when).is_some() {
                    return Err(error("restart= given twice"));
                }
                continue;
            }
            if let Some(text) = word.strip_prefix("limit=") {
                let parsed = RestartLimit::parse(text).ok_or(error(
                    "limit= takes N/S: 1 to 100 restarts in 1 to 3600 seconds",
                ))?;
                if limit.replace(parsed).is_some() {
                    return Err(error("limit= given twice"));
                }
                continue;
            }
            if let Some(list) = word.strip_prefix("clients=") {
                if clients.is_some() {
                    return Err(error("clients= given twice"));
                }
                if list.split(':').any(str::is_empty) {
                    return Err(error("clients= takes program names, P:Q or *"));
                }
                if entries.iter().any(|entry| entry.role == "proc") {
                    return Err(error("a role with clients= starts before proc"));
                }
                if role.len() > libring::abi::SERVICE_NAME_MAX {
                    return Err(error("a role with clients= has a name of at most 12 bytes"));
                }
                clients = Some(list);
                continue;
            }
            if let Some(mib) = word.strip_prefix("memory=") {
                match mib.parse::<u32>() {
                    Ok(mib @ 1..=4096) if memory_mib.is_none() => memory_mib = Some(mib),
                    Ok(_) if memory_mib.is_some() => return Err(error("memory= given twice")),
                    _ => return Err(error("memory= takes MiB, 1 to 4096")),
                }
                continue;
            }
            let grant = match word.split_once('=') {
                None if word == "serve" => Grant::Serve,
                None if word == "klog" => Grant::KernelLog,
                None if word == "bootimage" => Grant::BootImage,
                None if word == "power" => Grant::Power,
                None if word == "spawn" => Grant::Spawn,
                None if word == "dma" => Grant::Dma,
                Some(("use", used)) => {
                    let served = entries
                        .iter()
                        .any(|entry| entry.role == used && entry.grants.contains(&Grant::Serve));
                    if !served {
                        return Err(error("use= names a role no earlier line serves"));
                    }
                    Grant::Use(used)
                }
                Some(("device", device)) if DEVICES.contains(&device) => Grant::Device(device),
                Some(("irq", device)) if DEVICES.contains(&device) => Grant::Interrupt(device),
                Some(("device" | "irq", _)) => return Err(error("an unknown device")),
                _ => return Err(error("an unknown grant")),
            };
            grants
                .push(grant)
                .map_err(|_| error("more than 8 grants"))?;
        }
        if role == "shell" && grants.contains(&Grant::Serve) {
            return Err(error("the shell serves nothing"));
        }
        if clients.is_some() && !grants.contains(&Grant::Serve) {
            return Err(error("clients= on a role that serves nothing"));
        }
        entries
            .push(Entry {
                line: number,
                role,
                program,
                grants,
                memory_mib,
                clients,
                restart: restart.unwrap_or(Restart::OnFailure),
                limit: limit.unwrap_or(RestartLimit::DEFAULT),
            })
            .map_err(|_| error("more than 12 roles"))?;
    }
    if entries.last().is_none_or(|entry| entry.role != "shell") {
        return Err(ManifestError {
            line: 0,
            problem: "no shell line",
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "\
# role   program  grants
console  console  serve device=console irq=console klog
fs       ramfs    serve bootimage   # the ram file system
proc     proc     serve spawn use=fs

shell    sh       use=console use=fs use=proc power
";

    #[test]
    fn the_default_manifest_reads_as_written() {
        let entries = parse(DEFAULT).unwrap();
        let roles: std::vec::Vec<_> = entries.iter().map(|entry| entry.role).collect();
        assert_eq!(roles, ["console", "fs", "proc", "shell"]);
        assert_eq!(
            entries[0].grants.as_slice(),
            [
                Grant::Serve,
                Grant::Device("console"),
                Grant::Interrupt("console"),
                Grant::KernelLog
            ]
        );
        assert_eq!(
            entries[1].grants.as_slice(),
            [Grant::Serve, Grant::BootImage]
        );
        assert_eq!(entries[2].line, 4);
        assert_eq!(entries[1].memory_mib, None);
        assert_eq!(entries[3].program, "sh");
        assert_eq!(
            entries[3].grants.as_slice(),
            [
                Grant::Use("console"),
                Grant::Use("fs"),
                Grant::Use("proc"),
                Grant::Power
            ]
        );
    }

    #[test]
    fn clients_name_the_programs_a_service_is_given_to() {
        let entries =
            parse("kv kv serve clients=kvclient:sh\npipe pipe serve clients=*\nshell sh").unwrap();
        assert_eq!(entries[0].clients, Some("kvclient:sh"));
        assert_eq!(entries[0].grants.as_slice(), [Grant::Serve]);
        assert!(entries[0].serves_program("kvclient"));
        assert!(entries[0].serves_program("sh"));
        assert!(!entries[0].serves_program("ls"));
        assert!(!entries[0].serves_program("kv"));
        assert!(entries[1].serves_program("ls"));
        assert!(!entries[2].serves_program("ls"));
    }

    #[test]
    fn restart_lines_say_when_and_how_often() {
        let entries =
            parse("a x serve restart=always limit=3/60\nb y serve restart=never\nshell sh")
                .unwrap();
        assert_eq!(entries[0].restart, Restart::Always);
        assert_eq!(
            entries[0].limit,
            RestartLimit {
                times: 3,
                seconds: 60
            }
        );
        assert_eq!(entries[0].grants.as_slice(), [Grant::Serve]);
        assert_eq!(entries[1].restart, Restart::Never);
        assert_eq!(entries[1].limit, RestartLimit::DEFAULT);
        assert_eq!(entries[2].restart, Restart::OnFailure);
    }

    #[test]
    fn a_memory_budget_is_not_a_grant() {
        let entries = parse("fs ramfs serve memory=96 bootimage\nshell sh use=fs").unwrap();
        assert_eq!(entries[0].memory_mib, Some(96));
        assert_eq!(
            entries[0].grants.as_slice(),
            [Grant::Serve, Grant::BootImage]
        );
        assert_eq!(entries[1].memory_mib, None);
    }

    #[test]
    fn each_mistake_names_its_line() {
        let cases = [
            ("console\nshell sh", 1, "a role without a program"),
            ("a x serve\na y serve\nshell sh", 2, "a role named twice"),
            (
                "a x use=b\nb y serve\nshell sh",
                1,
                "use= names a role no earlier line serves",
            ),
            (
                "a x use=b\nshell sh",
                1,
                "use= names a role no earlier line serves",
            ),
            ("a x frobnicate\nshell sh", 1, "an unknown grant"),
            ("a x device=disk\nshell sh", 1, "an unknown device"),
            (
                "shell sh\na x serve",
                2,
                "a line after the shell's (the shell comes last)",
            ),
            ("shell sh serve", 1, "the shell serves nothing"),
            ("a x memory=0\nshell sh", 1, "memory= takes MiB, 1 to 4096"),
            (
                "a x memory=4097\nshell sh",
                1,
                "memory= takes MiB, 1 to 4096",
            ),
            (
                "a x memory=lots\nshell sh",
                1,
                "memory= takes MiB, 1 to 4096",
            ),
            ("a x memory=8 memory=9\nshell sh", 1, "memory= given twice"),
            (
                "a x restart=sometimes\nshell sh",
                1,
                "restart= takes always, on-failure or never",
            ),
            (
                "a x restart=never restart=always\nshell sh",
                1,
                "restart= given twice",
            ),
            (
                "a x limit=0/10\nshell sh",
                1,
                "limit= takes N/S: 1 to 100 restarts in 1 to 3600 seconds",
            ),
            (
                "a x limit=5/3601\nshell sh",
                1,
                "limit= takes N/S: 1 to 100 restarts in 1 to 3600 seconds",
            ),
            (
                "a x limit=5\nshell sh",
                1,
                "limit= takes N/S: 1 to 100 restarts in 1 to 3600 seconds",
            ),
            ("a x limit=1/1 limit=2/2\nshell sh", 1, "limit= given twice"),
            (
                "a x clients=*\nshell sh",
                1,
                "clients= on a role that serves nothing",
            ),
            (
                "a x serve clients=b: \nshell sh",
                1,
                "clients= takes program names, P:Q or *",
            ),
            (
                "a x serve clients=b clients=c\nshell sh",
                1,
                "clients= given twice",
            ),
            (
                "proc proc serve\na x serve clients=*\nshell sh",
                2,
                "a role with clients= starts before proc",
            ),
            (
                "thirteen-long x serve clients=*\nshell sh",
                1,
                "a role with clients= has a name of at most 12 bytes",
            ),
            (
                "a x serve serve serve serve serve serve serve serve serve\nshell sh",
                1,
                "more than 8 grants",
            ),
        ];
        for (text, line, problem) in cases {
            assert_eq!(parse(text), Err(ManifestError { line, problem }), "{text}");
        }
        assert_eq!(
            parse("# nothing\n"),
            Err(ManifestError {
                line: 0,
                problem: "no shell line"
            })
        );
    }
}
