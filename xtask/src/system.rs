//! System manifests: `systems/<name>.toml` says which program plays each
//! role (console, fs, proc, shell, ...) and which devices and handles it
//! gets. xtask checks it and writes what init reads at boot, `etc/system`
//! in the boot image (`docs/spawn.md`), with the roles in start order.
//!
//! ```toml
//! [role.fs]
//! server = "ramfs"
//! grants = ["serve", "bootimage"]
//!
//! [role.proc]
//! server = "proc"
//! grants = ["serve", "spawn", "use=fs"]
//! ```
//!
//! A wrong manifest stops the build with one error naming the file and the
//! line: a TOML mistake (a role written twice is one), a server that is
//! not a program of the workspace, a missing role (console, fs, proc and
//! shell are needed), an unknown grant or device, a `use=` of a role that
//! is not there or serves nothing, a shell that serves, or a cycle in the
//! start order (a role starts after every role it uses).
//!
//! Pure, so unit tested on the host.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

// The devices a grant may name: init's list.
use init::manifest::DEVICES;

/// The roles every system must have.
pub const REQUIRED_ROLES: [&str; 4] = ["console", "fs", "proc", "shell"];
/// Grants with no value.
const PLAIN_GRANTS: [&str; 6] = ["serve", "klog", "bootimage", "power", "spawn", "dma"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    role: BTreeMap<Spanned<String>, RoleEntry>,
    disk: Option<Spanned<DiskEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskEntry {
    size_mib: u32,
}

/// The disk a system boots with: a FAT volume of `size_mib` MiB holding
/// the boot image's files (`disks.rs` makes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disk {
    pub size_mib: u32,
}

/// The smallest and largest disk a manifest may ask for: FAT32 wants
/// 65,525 clusters at least, and the disk has 4 KiB clusters (so that a
/// file's clusters are the cache's blocks): 260 MiB; past 4 GiB is a long
/// wait for nothing. The image is sparse: only what is written takes room.
const DISK_MIB: std::ops::RangeInclusive<u32> = 260..=4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    server: Spanned<String>,
    #[serde(default)]
    grants: Vec<Spanned<String>>,
    /// The programs (in `/bin`) the proc server gives a client handle of
    /// this role when it starts them; `*`: every program.
    #[serde(default)]
    clients: Vec<Spanned<String>>,
    /// When init starts the role again after it ends: "always",
    /// "on-failure" (the default) or "never".
    restart: Option<Spanned<String>>,
    /// At most N restarts in S seconds, "N/S" (default "5/10").
    restart_limit: Option<Spanned<String>>,
}

/// One role, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub program: String,
    pub grants: Vec<String>,
    /// The programs the proc server gives this service to (`*`: all).
    pub clients: Vec<String>,
    /// `restart=` and `limit=` words for init, as the manifest gave them.
    pub restart: Vec<String>,
    /// Where the role's table starts in the file (from 1).
    pub line: usize,
}

/// Reads and checks the manifest `text` (from the file `path`, for
/// messages) against the workspace's `programs`; returns its roles in
/// start order, the shell last.
pub fn parse(path: &str, text: &str, programs: &[String]) -> Result<Vec<Role>, String> {
    let line_of = |offset: usize| line(text, offset);
    let error = |offset: usize, message: String| format!("{path}:{}: {message}", line_of(offset));
    let file = read(path, text)?;
    // In file order.
    let mut entries: Vec<(&Spanned<String>, &RoleEntry)> = file.role.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    let names: Vec<&str> = entries
        .iter()
        .map(|(name, _)| name.get_ref().as_str())
        .collect();
    let serves = |role: &str| {
        entries.iter().any(|(name, entry)| {
            name.get_ref() == role && entry.grants.iter().any(|grant| grant.get_ref() == "serve")
        })
    };
    let mut roles = Vec::new();
    for (name, entry) in &entries {
        let program = entry.server.get_ref();
        if !programs.iter().any(|known| known == program) {
            return Err(error(
                entry.server.span().start,
                format!(
                    "role {}: no program called {program} in the workspace",
                    name.get_ref()
                ),
            ));
        }
        for grant in &entry.grants {
            let at = grant.span().start;
            let text = grant.get_ref().as_str();
            match text.split_once('=') {
                None if PLAIN_GRANTS.contains(&text) => {}
                Some(("use", used)) if !names.contains(&used) => {
                    return Err(error(at, format!("{text}: there is no role {used}")));
                }
                Some(("use", used)) if !serves(used) => {
                    return Err(error(at, format!("{text}: role {used} serves nothing")));
                }
                Some(("use", _)) => {}
                Some(("device" | "irq", device)) if DEVICES.contains(&device) => {}
                Some(("device" | "irq", device)) => {
                    return Err(error(at, format!("{text}: no device called {device}")));
                }
                // A memory budget: init's parser checks the number.
                Some(("memory", _)) => {}
                _ => return Err(error(at, format!("{text}: not a grant"))),
            }
        }
        for client in &entry.clients {
            let wanted = client.get_ref();
            if wanted != "*" && !programs.iter().any(|known| known == wanted) {
                return Err(error(
                    client.span().start,
                    format!("clients: no program called {wanted} in the workspace"),
                ));
            }
        }
        if !entry.clients.is_empty() {
            if !serves(name.get_ref()) {
                return Err(error(
                    name.span().start,
                    format!("role {}: clients, but it serves nothing", name.get_ref()),
                ));
            }
            if name.get_ref().len() > libring::abi::SERVICE_NAME_MAX {
                return Err(error(
                    name.span().start,
                    format!(
                        "role {}: a service's name has at most {} bytes",
                        name.get_ref(),
                        libring::abi::SERVICE_NAME_MAX
                    ),
                ));
            }
        }
        let mut restart = Vec::new();
        for (key, value) in [("restart", &entry.restart), ("limit", &entry.restart_limit)] {
            if let Some(value) = value {
                // init's parser checks the value; one word it must be.
                if value.get_ref().is_empty() || value.get_ref().contains(char::is_whitespace) {
                    return Err(error(
                        value.span().start,
                        format!(
                            "{:?}: one word, such as \"on-failure\" or \"5/10\"",
                            value.get_ref()
                        ),
                    ));
                }
                restart.push(format!("{key}={}", value.get_ref()));
            }
        }
        if name.get_ref() == "shell" && entry.grants.iter().any(|grant| grant.get_ref() == "serve")
        {
            return Err(error(
                name.span().start,
                "the shell serves nothing".to_string(),
            ));
        }
        roles.push(Role {
            name: name.get_ref().clone(),
            program: program.clone(),
            grants: entry
                .grants
                .iter()
                .map(|grant| grant.get_ref().clone())
                .collect(),
            clients: entry
                .clients
                .iter()
                .map(|client| client.get_ref().clone())
                .collect(),
            restart,
            line: line_of(name.span().start),
        });
    }
    for required in REQUIRED_ROLES {
        if !names.contains(&required) {
            return Err(format!(
                "{path}:1: no {required} role (every system needs {})",
                REQUIRED_ROLES.join(", ")
            ));
        }
    }
    let roles = start_order(path, roles)?;
    // What init will read must read back there, within its limits (grants
    // per role, roles per system): checked with init's own parser.
    if let Err(failure) = init::manifest::parse(&manifest_text("check", &roles)) {
        let role = failure
            .line
            .checked_sub(HEADER_LINES + 1)
            .and_then(|index| roles.get(index));
        let line = role.map_or(1, |role| role.line);
        return Err(format!(
            "{path}:{line}: init would refuse it: {}",
            failure.problem
        ));
    }
    Ok(roles)
}

/// The comment lines [`manifest_text`] writes before the roles.
const HEADER_LINES: usize = 2;

/// The roles in start order: each after every role it uses, otherwise in
/// file order; the shell last. A cycle is an error at its first role.
/// The line (from 1) of byte `offset` of `text`.
fn line(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The manifest's TOML, read; an error names the file and line.
fn read(path: &str, text: &str) -> Result<File, String> {
    toml::from_str(text).map_err(|failure| {
        let offset = failure.span().map_or(0, |span| span.start);
        // toml's messages may take several lines ("invalid table header",
        // then why): one line here.
        let message = failure
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        format!("{path}:{}: {message}", line(text, offset))
    })
}

/// The disk the manifest asks for, if any (`disk = { size_mib = N }`).
pub fn disk(path: &str, text: &str) -> Result<Option<Disk>, String> {
    let Some(entry) = read(path, text)?.disk else {
        return Ok(None);
    };
    let size_mib = entry.get_ref().size_mib;
    if !DISK_MIB.contains(&size_mib) {
        return Err(format!(
            "{path}:{}: disk: size_mib = {size_mib}: from {} to {} MiB",
            line(text, entry.span().start),
            DISK_MIB.start(),
            DISK_MIB.end()
        ));
    }
    Ok(Some(Disk { size_mib }))
}

fn start_order(path: &str, mut waiting: Vec<Role>) -> Result<Vec<Role>, String> {
    // The proc server is given every service that has clients, so it
    // starts after them.
    let with_clients: Vec<String> = waiting
        .iter()
        .filter(|role| !role.clients.is_empty())
        .map(|role| role.name.clone())
        .collect();
    let uses = |role: &Role| -> Vec<String> {
        let mut used: Vec<String> = role
            .grants
            .iter()
            .filter_map(|grant| grant.strip_prefix("use="))
            .map(str::to_string)
            .collect();
        if role.name == "proc" {
            used.extend(with_clients.iter().cloned());
        }
        used
    };
    let mut ordered: Vec<Role> = Vec::new();
    while !waiting.is_empty() {
        let ready = waiting.iter().position(|role| {
            role.name != "shell"
                && uses(role)
                    .iter()
                    .all(|used| ordered.iter().any(|done| &done.name == used))
        });
        match ready {
            Some(index) => ordered.push(waiting.remove(index)),
            None => {
                // Only the shell may be left, with everything it uses started.
                if let [shell] = waiting.as_slice()
                    && shell.name == "shell"
                    && uses(shell)
                        .iter()
                        .all(|used| ordered.iter().any(|done| &done.name == used))
                {
                    ordered.push(waiting.remove(0));
                    continue;
                }
                let first = waiting
                    .iter()
                    .filter(|role| role.name != "shell")
                    .min_by_key(|role| role.line)
                    .unwrap_or(&waiting[0]);
                let names: Vec<&str> = waiting
                    .iter()
                    .filter(|role| role.name != "shell")
                    .map(|role| role.name.as_str())
                    .collect();
                return Err(format!(
                    "{path}:{}: a cycle in the start order: each of {} uses another of them",
                    first.line,
                    names.join(", ")
                ));
            }
        }
    }
    Ok(ordered)
}

/// What init reads (`etc/system`): one line per role, in start order.
pub fn manifest_text(system: &str, roles: &[Role]) -> String {
    let mut text = format!(
        "# The system manifest, written by `cargo xtask build` from systems/{system}.toml:\n# role, program, grants, in start order (docs/spawn.md).\n"
    );
    for role in roles {
        let mut words = role.grants.clone();
        if !role.clients.is_empty() {
            words.push(format!("clients={}", role.clients.join(":")));
        }
        words.extend(role.restart.iter().cloned());
        text.push_str(&format!(
            "{:<9} {:<9} {}\n",
            role.name,
            role.program,
            words.join(" ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = r#"
[role.shell]
server = "sh"
grants = ["use=console", "use=fs", "use=proc", "power"]

[role.proc]
server = "proc"
grants = ["serve", "spawn", "use=fs"]

[role.console]
server = "console"
grants = ["serve", "device=console", "irq=console", "klog"]

[role.fs]
server = "ramfs"
grants = ["serve", "bootimage"]
"#;

    fn programs() -> Vec<String> {
        ["console", "ramfs", "proc", "sh", "init"]
            .map(String::from)
            .to_vec()
    }

    fn check(text: &str) -> Result<Vec<Role>, String> {
        parse("systems/x.toml", text, &programs())
    }

    #[test]
    fn roles_start_after_what_they_use_and_the_shell_last() {
        let roles = check(DEFAULT).unwrap();
        let names: Vec<&str> = roles.iter().map(|role| role.name.as_str()).collect();
        assert_eq!(names, ["console", "fs", "proc", "shell"]);
        assert_eq!(roles[2].line, 6, "where [role.proc] is");
        let text = manifest_text("x", &roles);
        assert!(
            text.contains("\nproc      proc      serve spawn use=fs\n"),
            "{text}"
        );
        assert!(text.ends_with("shell     sh        use=console use=fs use=proc power\n"));
    }

    #[test]
    fn the_written_manifest_reads_back_in_init() {
        let text = manifest_text("x", &check(DEFAULT).unwrap());
        let entries = init::manifest::parse(&text).unwrap();
        let roles: Vec<&str> = entries.iter().map(|entry| entry.role).collect();
        assert_eq!(roles, ["console", "fs", "proc", "shell"]);
        assert_eq!(entries[1].line, HEADER_LINES + 2);
    }

    #[test]
    fn restart_lines_reach_init_and_init_checks_them() {
        let text = DEFAULT.replace(
            "server = \"ramfs\"",
            "server = \"ramfs\"\nrestart = \"always\"\nrestart_limit = \"3/60\"",
        );
        let written = manifest_text("x", &check(&text).unwrap());
        let entries = init::manifest::parse(&written).unwrap();
        assert_eq!(entries[1].restart, init::manifest::Restart::Always);
        assert_eq!(entries[1].limit.times, 3);
        assert_eq!(entries[0].restart, init::manifest::Restart::OnFailure);
        let wrong = DEFAULT.replace(
            "server = \"ramfs\"",
            "server = \"ramfs\"\nrestart = \"often\"",
        );
        let error = check(&wrong).unwrap_err();
        assert!(
            error.ends_with("init would refuse it: restart= takes always, on-failure or never"),
            "{error}"
        );
        let spaced = DEFAULT.replace(
            "server = \"ramfs\"",
            "server = \"ramfs\"\nrestart_limit = \"5 / 10\"",
        );
        assert!(check(&spaced).unwrap_err().contains("one word"));
    }

    #[test]
    fn what_init_would_refuse_stops_the_build() {
        let nine = DEFAULT.replace(
            "[\"serve\", \"bootimage\"]",
            "[\"serve\", \"bootimage\", \"klog\", \"klog\", \"klog\", \"klog\", \"klog\", \"klog\", \"klog\"]",
        );
        let error = check(&nine).unwrap_err();
        assert_eq!(
            error,
            "systems/x.toml:14: init would refuse it: more than 8 grants"
        );
    }

    #[test]
    fn each_mistake_names_the_file_and_line() {
        let cases = [
            (
                DEFAULT.replace("\"ramfs\"", "\"ramfz\""),
                "systems/x.toml:15: role fs: no program called ramfz",
            ),
            (
                DEFAULT.replace("\"bootimage\"", "\"frob\""),
                "systems/x.toml:16: frob: not a grant",
            ),
            (
                DEFAULT.replace("irq=console", "irq=disk"),
                "systems/x.toml:12: irq=disk: no device called disk",
            ),
            (
                DEFAULT.replace("\"use=fs\"]", "\"use=nfs\"]"),
                "systems/x.toml:8: use=nfs: there is no role nfs",
            ),
            (
                DEFAULT.replace("\"power\"]", "\"power\", \"serve\"]"),
                "systems/x.toml:2: the shell serves nothing",
            ),
            (
                DEFAULT.replace(
                    "[\"serve\", \"bootimage\"]",
                    "[\"bootimage\", \"use=proc\"]",
                ),
                "systems/x.toml:4: use=fs: role fs serves nothing",
            ),
            (
                DEFAULT.replace(
                    "[role.fs]\nserver = \"ramfs\"\ngrants = [\"serve\", \"bootimage\"]\n",
                    "",
                ),
                "systems/x.toml:4: use=fs: there is no role fs",
            ),
            (
                format!("{DEFAULT}\n[role.fs]\nserver = \"ramfs\"\n"),
                "systems/x.toml:18: invalid table header: duplicate key `fs`",
            ),
            (
                DEFAULT.replace("server = \"proc\"", "server = \"proc\"\nport = 3"),
                "systems/x.toml:8: unknown field",
            ),
        ];
        for (text, expected) in &cases {
            let error = check(text).unwrap_err();
            assert!(error.starts_with(expected), "{error}\nwanted: {expected}");
        }
    }

    #[test]
    fn a_missing_role_and_a_cycle_are_errors() {
        let without_proc = DEFAULT
            .replace(
                "[role.proc]\nserver = \"proc\"\ngrants = [\"serve\", \"spawn\", \"use=fs\"]\n",
                "",
            )
            .replace(", \"use=proc\"", "");
        assert!(
            check(&without_proc)
                .unwrap_err()
                .starts_with("systems/x.toml:1: no proc role"),
            "{}",
            check(&without_proc).unwrap_err()
        );
        let cycle = DEFAULT.replace(
            "[\"serve\", \"bootimage\"]",
            "[\"serve\", \"bootimage\", \"use=proc\"]",
        );
        let error = check(&cycle).unwrap_err();
        assert!(
            error.starts_with("systems/x.toml:6: a cycle in the start order"),
            "{error}"
        );
        assert!(error.contains("proc, fs"), "{error}");
    }
}
