//! Building a process from a program file: the user side of the kernel's
//! process-building operations (`docs/spawn.md`).
//!
//! There is no fork and no exec. A process is made whole, by a builder
//! holding a spawner handle (the proc server, and init for the servers it
//! starts), in four steps, each a ring operation:
//!
//! 1. `PROCESS_CREATE`: an empty process, and a handle to it;
//! 2. `PROCESS_MAP` once per loadable segment [`crate::elf::plan`]
//!    accepted: new pages in the child, filled from the file;
//! 3. `PROCESS_GIVE` once per handle the child is to start with;
//! 4. `PROCESS_START` with the startup block and the argument text.
//!
//! If any step fails, the builder closes the process handle and the kernel
//! throws the unstarted process away: nothing is left behind.

use crate::abi::{
    Errno, PAGE_SIZE, STARTUP_ARGUMENTS_MAX, STARTUP_ARGUMENTS_OFFSET, STARTUP_SERVICES_MAX,
    STARTUP_SERVICES_OFFSET, StartupBlock, StartupService, process_map_flags, spawn_handles,
};
use crate::elf;
use crate::ops;
use crate::ring::{Kernel, Ring};
use zerocopy::IntoBytes;

/// A handle for the child: the builder's own (`request` 0), or one the
/// client of forwarded `SPAWN` request `request` listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Give {
    pub handle: u32,
    pub request: u64,
}

/// What to start.
pub struct Child<'a> {
    /// The process's name (as `ps` shows it): 1 to 31 bytes.
    pub name: &'a str,
    /// Its memory budget in bytes (0: the kernel's default).
    pub memory_bytes: u64,
    /// The program file: an AArch64 ELF executable.
    pub file: &'a [u8],
    /// The arguments, each followed by a NUL, the program's name first.
    pub argument_text: &'a [u8],
    /// The handles to give, in the order the startup block lists them,
    /// each with the roles it plays there: a set of [`spawn_handles`]
    /// slots ([`spawn_handles::role`]; 0: none). `handle` 0: skipped.
    pub handles: &'a [(Give, u8)],
    /// The named services among `handles`: (index in `handles`, the
    /// role's name), written to the startup page's service table (at most
    /// [`STARTUP_SERVICES_MAX`]).
    pub services: &'a [(usize, &'a str)],
}

/// A started child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    /// The process handle (for `WAIT`, `KILL`).
    pub handle: u32,
    /// Its process id.
    pub id: u32,
}

/// Checks `child`, builds it with `spawner`, and starts it.
///
/// Errors: `ENOEXEC` for a file [`elf::plan`] refuses (the reason is
/// [`plan_error`]'s), `EINVAL` for argument text that does not fit or is
/// not NUL-terminated, or whatever the kernel refused.
pub fn start<K: Kernel>(ring: &mut Ring<K>, spawner: u32, child: &Child) -> Result<Started, Errno> {
    let plan = elf::plan(child.file).map_err(|_| Errno::NotExecutable)?;
    let arguments = child.argument_text;
    if arguments.len() > STARTUP_ARGUMENTS_MAX || arguments.last().is_some_and(|&last| last != 0) {
        return Err(Errno::InvalidArgument);
    }
    let process = ring.run(ops::process_create_with_budget(
        spawner,
        child.name.as_bytes(),
        child.memory_bytes,
    ))? as u32;
    match build(ring, process, child, &plan) {
        Ok(id) => Ok(Started {
            handle: process,
            id,
        }),
        Err(error) => {
            // The kernel throws the unstarted process away.
            let _ = ring.run(ops::close(process));
            Err(error)
        }
    }
}

/// Why `file` cannot be started, in words, or `None` if it can.
pub fn plan_error(file: &[u8]) -> Option<&'static str> {
    elf::plan(file).err().map(elf::ElfError::describe)
}

/// Steps 2 to 4 for the unstarted `process`.
fn build<K: Kernel>(
    ring: &mut Ring<K>,
    process: u32,
    child: &Child,
    plan: &elf::LoadPlan,
) -> Result<u32, Errno> {
    for segment in &plan.segments {
        let start = segment.file_offset as usize;
        let bytes = &child.file[start..start + segment.file_bytes as usize]; // checked by plan
        let mut flags = 0;
        if segment.writable {
            flags |= process_map_flags::WRITE;
        }
        if segment.executable {
            flags |= process_map_flags::EXECUTE;
        }
        ring.run(ops::process_map(
            process,
            bytes,
            segment.address,
            segment.memory_bytes,
            flags,
        ))?;
    }
    let mut block = StartupBlock {
        argument_count: child
            .argument_text
            .iter()
            .filter(|&&byte| byte == 0)
            .count() as u32,
        arguments_length: child.argument_text.len() as u32,
        ..StartupBlock::default()
    };
    if child.services.len() > STARTUP_SERVICES_MAX {
        return Err(Errno::InvalidArgument);
    }
    let mut count = 0;
    // The child's number for each entry of `child.handles` (0: skipped;
    // past the block's 12, giving fails below anyway).
    let mut numbers = [0u32; 12];
    for (index, &(give, roles)) in child.handles.iter().enumerate() {
        if give.handle == 0 {
            continue;
        }
        let number = ring.run(ops::process_give(process, give.handle, give.request))? as u32;
        if let Some(slot) = numbers.get_mut(index) {
            *slot = number;
        }
        *block.handles.get_mut(count).ok_or(Errno::InvalidArgument)? = number;
        count += 1;
        let fields = [
            (spawn_handles::STDIN, &mut block.stdin),
            (spawn_handles::STDOUT, &mut block.stdout),
            (spawn_handles::STDERR, &mut block.stderr),
            (spawn_handles::FILE_SYSTEM, &mut block.file_system),
            (spawn_handles::PROCESSES, &mut block.processes),
            (spawn_handles::POWER, &mut block.power),
        ];
        for (slot, field) in fields {
            if roles & spawn_handles::role(slot) != 0 {
                *field = number;
            }
        }
    }
    block.handle_count = count as u32;
    let mut page = [0u8; PAGE_SIZE as usize];
    page[..size_of::<StartupBlock>()].copy_from_slice(block.as_bytes());
    for (place, &(index, name)) in child.services.iter().enumerate() {
        let handle = numbers.get(index).copied().unwrap_or(0);
        let entry = StartupService::new(name, handle)
            .filter(|entry| entry.handle != 0)
            .ok_or(Errno::InvalidArgument)?;
        let at = STARTUP_SERVICES_OFFSET + place * size_of::<StartupService>();
        page[at..at + size_of::<StartupService>()].copy_from_slice(entry.as_bytes());
    }
    let end = STARTUP_ARGUMENTS_OFFSET + child.argument_text.len();
    page[STARTUP_ARGUMENTS_OFFSET..end].copy_from_slice(child.argument_text);
    let id = ring.run(ops::process_start(process, &page[..end], plan.entry))?;
    Ok(id as u32)
}

/// Writes a `SPAWN` request into `buffer`: `path`, a NUL, then each of
/// `arguments` followed by a NUL (the program's name first, as the child
/// will see it). Returns its length; `EINVAL` if it does not fit or a
/// piece holds a NUL of its own.
pub fn spawn_request(path: &str, arguments: &[&str], buffer: &mut [u8]) -> Result<usize, Errno> {
    let mut length = 0;
    for piece in core::iter::once(path).chain(arguments.iter().copied()) {
        let end = length + piece.len() + 1;
        if piece.as_bytes().contains(&0) || end > buffer.len() {
            return Err(Errno::InvalidArgument);
        }
        buffer[length..end - 1].copy_from_slice(piece.as_bytes());
        buffer[end - 1] = 0;
        length = end;
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawn_request_is_the_path_then_each_argument_nul_terminated() {
        let mut buffer = [0xff; 32];
        let length = spawn_request("/bin/echo", &["echo", "a b", ""], &mut buffer).unwrap();
        assert_eq!(&buffer[..length], b"/bin/echo\0echo\0a b\0\0");
    }

    #[test]
    fn a_spawn_request_that_does_not_fit_or_holds_a_nul_is_refused() {
        let mut buffer = [0; 8];
        assert_eq!(
            spawn_request("/bin/echo", &[], &mut buffer),
            Err(Errno::InvalidArgument)
        );
        let mut buffer = [0; 64];
        assert_eq!(
            spawn_request("/bin/x", &["a\0b"], &mut buffer),
            Err(Errno::InvalidArgument)
        );
    }
}
