//! proc: the process server. Clients start programs with `SPAWN`; the
//! protocol is in `docs/spawn.md`.
//!
//! Started with the service handle of its endpoint, a spawner handle (the
//! right to build processes), and a file system handle (`+use=fs`), in
//! that order: `run=...,proc+serve=proc+spawn+use=fs` on the kernel command
//! line, or the `proc` line of the system manifest, which init reads.
//!
//! | request | what the server does |
//! | --- | --- |
//! | `SPAWN` path NUL arguments, handles | reads the file at `path` through the file server, checks it (`elf::plan`), builds the process with the kernel's process-building operations, gives it the handles the client listed and the services the manifest gives that program, starts it; answers with a process handle, moved to the client |
//! | anything else | `-EINVAL` |
//!
//! Errors the client sees: `ENOENT` and friends from the file server (a bad
//! path), `EISDIR`, `ENOEXEC` (not an AArch64 ELF executable, or a
//! truncated or malicious one), `ENOMEM`, `EINVAL` (arguments that do not
//! fit in the startup page). A failed `SPAWN` leaves nothing behind: the
//! kernel throws the unstarted process away when its handle is closed.
//!
//! **Services by name.** init gives the server a client handle of each role
//! whose manifest line has `clients=`, named in its startup service table,
//! and one argument per role, `ROLE=P:Q` (or `ROLE=*`). A program started
//! from `/bin/P` (or any program, for `*`) gets that handle too, under the
//! role's name, after the handles its client listed (12 handles at most in
//! all: services past that are left out). A program anywhere else, or not
//! listed, does not: the list is the capability, fixed when the system is
//! built.
//!
//! One request is handled whole before the next (later ones wait in their
//! slots); `WAIT` and `KILL` are kernel operations on the process handle,
//! so the server plays no part in a child's life once it has started it.
//!
//! On the host this builds to an empty stub.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;
    use libring::abi::{
        Errno, Opcode, RequestMessage, STARTUP_SERVICES_MAX, open_flags, spawn_handles,
    };
    use libring::ops::{self, SubmissionOptions};
    use libring::process::{self, Child, Give};
    use libring::runtime::{self, Arguments, HANDLES_MAX, Retry, with_ring};
    use libring::server::{Event, Server};

    libring::entry!(main);

    /// Requests waiting at once.
    const SLOTS: usize = 8;
    /// The longest `SPAWN` request: a path and the argument text.
    const REQUEST_MAX: usize = 4096;
    /// The largest program file it reads.
    const FILE_MAX: usize = 16 << 20;
    /// Its program buffer's first size (it doubles as need be, and stays).
    const FIRST_BUFFER: usize = 64 << 10;

    /// A service the server hands out: the role's name and who gets it
    /// (the `P:Q` list). Its client handle is `runtime::service(role)`,
    /// which follows reconnections.
    struct Service {
        role: &'static str,
        clients: &'static str,
    }

    /// The user data of the server's `WATCH` on init's names service, and
    /// of the pause before a refused one is sent again (1 s).
    const WATCH_TAG: u64 = 1;
    const WATCH_PAUSE_TAG: u64 = 2;
    const WATCH_PAUSE_NANOSECONDS: u64 = 1_000_000_000;

    struct Spawner {
        spawner: u32,
        services: Vec<Service>,
        /// Restarts init has reported to the `WATCH` so far.
        restarts_seen: u64,
        /// The request being handled.
        request: Vec<u8>,
        /// The program file being started (kept: it grows to the largest
        /// program once, and is reused).
        file: Vec<u8>,
    }

    fn main(arguments: Arguments) -> i32 {
        let (service, spawner) = match *runtime::handles() {
            [service, spawner, ..] => (service, spawner),
            _ => {
                libring::println!("proc: expected the handles [service, spawner, file system]");
                return 1;
            }
        };
        if runtime::file_system().is_none() {
            libring::println!(
                "proc: no file system handle: its manifest line needs use=fs (or +use=fs on a command line)"
            );
            return 1;
        };
        let slots = Box::leak(vec![RequestMessage::default(); SLOTS].into_boxed_slice());
        let mut services = Vec::new();
        for argument in arguments.iter().skip(1) {
            let Some((role, clients)) = argument.split_once('=') else {
                libring::println!("proc: {argument}: not ROLE=PROGRAMS; left out");
                continue;
            };
            match runtime::service(role) {
                Some(_) => services.push(Service { role, clients }),
                None => libring::println!("proc: no handle of the service {role}; not given"),
            }
        }
        let mut spawner = Spawner {
            spawner,
            services,
            restarts_seen: 0,
            request: vec![0; REQUEST_MAX],
            file: Vec::new(),
        };
        let Ok(mut server) = with_ring(|ring| Server::new(ring, slots, service)) else {
            libring::println!("proc: cannot serve");
            return 1;
        };
        // Room to finish a SPAWN when memory runs out (`runtime::keep_ballast`):
        // the program's buffer grows fallibly; the rest (the startup page,
        // the handle list) is a few KiB.
        if !runtime::keep_ballast(16 << 10) {
            libring::println!("proc: no memory for its ballast");
        }
        spawner.watch();
        loop {
            match with_ring(|ring| server.wait(ring)) {
                Ok(Event::Request { message, .. }) => spawner.answer(&mut server, &message),
                Ok(Event::Other(completion)) if completion.user_data == WATCH_TAG => {
                    match u64::try_from(completion.result) {
                        Ok(restarts) => {
                            spawner.restarts_seen = restarts;
                            spawner.renew_services();
                            spawner.watch();
                        }
                        // Refused (every place taken): again after a pause.
                        Err(_) => {
                            let pause = ops::timeout(WATCH_PAUSE_NANOSECONDS)
                                .with_user_data(WATCH_PAUSE_TAG);
                            let _ = with_ring(|ring| ring.push(pause));
                        }
                    }
                }
                Ok(Event::Other(completion)) if completion.user_data == WATCH_PAUSE_TAG => {
                    spawner.renew_services();
                    spawner.watch();
                }
                Ok(Event::Other(_)) => {}
                Ok(Event::Stopped(_)) | Err(_) => {
                    libring::println!("proc: the endpoint is gone; stopping");
                    return 1;
                }
            }
        }
    }

    impl Spawner {
        /// Asks init's names service to say when a server has been
        /// restarted after the first `seen` restarts (a proc server started
        /// without one, on a command line, has nothing to renew).
        fn watch(&self) {
            if let Some(names) = runtime::service("names") {
                let watch = ops::control(names, [libring::names::WATCH, self.restarts_seen, 0])
                    .with_user_data(WATCH_TAG);
                let _ = with_ring(|ring| ring.push(watch));
            }
        }

        /// A server was restarted: every service handed out is renewed (a
        /// handle to a server that still runs is renewed too: cheaper than
        /// asking which one it was), so programs started from now on get
        /// handles that work.
        fn renew_services(&self) {
            // (`session` and `supervise` are init's own names service: it
            // is not restarted.)
            for service in self
                .services
                .iter()
                .filter(|service| !matches!(service.role, "session" | "supervise"))
            {
                if let Some(old) = runtime::service(service.role)
                    && let Err(error) = runtime::reconnect(service.role, old)
                {
                    libring::println!(
                        "proc: cannot renew the service {}: {}",
                        service.role,
                        error.description()
                    );
                }
            }
        }

        /// Handles one request and replies to it.
        fn answer(&mut self, server: &mut Server, message: &RequestMessage) {
            let result = match Opcode::try_from(message.opcode) {
                // No ballast to finish with: refused until there is.
                Ok(Opcode::Spawn) if !runtime::restore_ballast() => Errno::OutOfMemory.result(),
                Ok(Opcode::Spawn) => match self.spawn(server, message) {
                    Ok(handle) => {
                        with_ring(|ring| server.reply_passing(ring, message.request, 0, handle));
                        return;
                    }
                    Err(error) => error.result(),
                },
                _ => Errno::InvalidArgument.result(),
            };
            with_ring(|ring| server.reply(ring, message.request, result));
        }

        /// `SPAWN`: returns the new process's handle.
        fn spawn(&mut self, server: &mut Server, message: &RequestMessage) -> Result<u32, Errno> {
            let length = message.length as usize;
            if length > REQUEST_MAX {
                return Err(Errno::InvalidArgument);
            }
            let copied =
                with_ring(|ring| server.copy_in(ring, message, 0, &mut self.request[..length]))?;
            let request = &self.request[..copied];
            let split = request.iter().position(|&byte| byte == 0);
            let (path, argument_text) = match split {
                Some(at) => (&request[..at], &request[at + 1..]),
                None => (request, &[][..]),
            };
            let path = core::str::from_utf8(path).map_err(|_| Errno::InvalidArgument)?;
            if path.is_empty() || argument_text.is_empty() {
                return Err(Errno::InvalidArgument);
            }
            // A restarted file server: reconnect, and read it again.
            let file = &mut self.file;
            let length = runtime::with_service("fs", Retry::Once, |file_system| {
                read_file(file_system, path, file)
            })?;
            let name = path.rsplit('/').next().unwrap_or(path);
            let name = &name[..floor_char_boundary(name, 31)];
            // The listed handles, then the services; fixed arrays, no
            // allocation on a SPAWN's path.
            let mut handles = [(Give::default(), 0u8); HANDLES_MAX];
            let mut count = 0;
            for listed in listed_handles(message) {
                if listed.0.handle != 0 {
                    handles[count] = listed;
                    count += 1;
                }
            }
            let mut names: [(usize, &str); STARTUP_SERVICES_MAX] = [(0, ""); STARTUP_SERVICES_MAX];
            let mut named = 0;
            for service in self
                .services
                .iter()
                .filter(|service| gets(path, service.clients))
            {
                if count == HANDLES_MAX || named == STARTUP_SERVICES_MAX {
                    break;
                }
                let Some(handle) = runtime::service(service.role) else {
                    continue;
                };
                names[named] = (count, service.role);
                named += 1;
                handles[count] = (Give { handle, request: 0 }, 0);
                count += 1;
            }
            let (handles, names) = (&handles[..count], &names[..named]);
            let child = Child {
                name: if name.is_empty() { "?" } else { name },
                // Programs get the kernel's default budget.
                memory_bytes: 0,
                file: &self.file[..length],
                argument_text,
                handles,
                services: names,
            };
            let started = with_ring(|ring| process::start(ring, self.spawner, &child))?;
            Ok(started.handle)
        }
    }

    /// Does the program at `path` get a service whose clients are
    /// `clients` (`P:Q`, or `*`)? Only programs in `/bin`, by name.
    fn gets(path: &str, clients: &str) -> bool {
        let Some(name) = path
            .strip_prefix("/bin/")
            .filter(|name| !name.contains('/'))
        else {
            return clients == "*";
        };
        clients
            .split(':')
            .any(|client| client == "*" || client == name)
    }

    /// The handles the client listed, each once, with every slot it was
    /// listed in as its roles (the console as stdin, stdout and stderr is
    /// one handle in the child).
    /// (Unused entries are handle 0, which `process::start` skips.)
    fn listed_handles(message: &RequestMessage) -> [(Give, u8); spawn_handles::COUNT] {
        let mut handles = [(Give::default(), 0u8); spawn_handles::COUNT];
        let mut count = 0;
        for slot in 0..spawn_handles::COUNT {
            let handle = spawn_handles::get(&message.arguments, slot);
            if handle == 0 {
                continue;
            }
            let role = spawn_handles::role(slot);
            match handles[..count]
                .iter_mut()
                .find(|(give, _)| give.handle == handle)
            {
                Some((_, roles)) => *roles |= role,
                None => {
                    let give = Give {
                        handle,
                        request: message.request,
                    };
                    handles[count] = (give, role);
                    count += 1;
                }
            }
        }
        handles
    }

    /// The longest prefix of `text` of at most `limit` bytes that ends on a
    /// character boundary.
    fn floor_char_boundary(text: &str, limit: usize) -> usize {
        (0..=limit.min(text.len()))
            .rev()
            .find(|&index| text.is_char_boundary(index))
            .unwrap_or(0)
    }

    /// Reads the whole file at `path` into the start of `file` (grown to
    /// fit, never shrunk: zeroing it anew for each program would cost as
    /// much as reading it); returns its length.
    fn read_file(file_system: u32, path: &str, file: &mut Vec<u8>) -> Result<usize, Errno> {
        let handle =
            with_ring(|ring| ring.run(ops::open(file_system, path.as_bytes(), open_flags::READ)))?
                as u32;
        let result = read_open_file(handle, file);
        let _ = with_ring(|ring| ring.run(ops::close(handle)));
        result
    }

    /// Reads the open file into `file`, growing it as need be; returns the
    /// file's length. No `STAT` first: a file server answers a `READ` with
    /// all it asked for unless the file ends first (`docs/fs.md`), so a
    /// `READ` that comes back short is the end, and one round trip does for
    /// a program that fits the buffer. A directory answers `EISDIR`.
    fn read_open_file(handle: u32, file: &mut Vec<u8>) -> Result<usize, Errno> {
        let mut done = 0;
        loop {
            if done == file.len() {
                if file.len() >= FILE_MAX {
                    return Err(Errno::NotExecutable); // too large to be a program
                }
                // Grown outside `with_ring`: the heap may need the ring to grow.
                let grown = (file.len() * 2).clamp(FIRST_BUFFER, FILE_MAX);
                file.try_reserve_exact(grown - file.len())
                    .map_err(|_| Errno::OutOfMemory)?;
                file.resize(grown, 0);
            }
            let count =
                with_ring(|ring| ring.run(ops::read(handle, &mut file[done..], done as u64)))?
                    as usize;
            done += count;
            if count == 0 || done < file.len() {
                return Ok(done);
            }
        }
    }
}
