//! fstest: the test suite of a file system server, run as its client:
//!
//! ```text
//! run=ramfs+serve=fs+bootimage,fstest:hold+use=fs,fstest+use=fs
//! ```
//!
//! so its startup handle is [fs]. `fstest:hold` ends with two files open;
//! the suite first checks that the server got them back. Then what a
//! program relies on: the boot image's files are there, intact; files created, written at offsets and appended to, read back; `STAT`
//! and `READDIR`; directories made and removed; renames; and each error
//! a caller can cause (missing paths, wrong kinds, names too long, bad
//! flags, released handles), after which the server goes on serving.
//!
//! One line per failed case, then `fstest: N passed, M failed`; the exit
//! code is the number of failures.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use libring::abi::{DirectoryEntry, Errno, FileStatus, file_kind, open_flags};
use libring::ops;
use libring::runtime::{Arguments, handles, with_ring};
use zerocopy::FromBytes;

libring::entry!(main);

type Outcome = Result<(), String>;
/// A test: its name and the function that runs it against the server.
type Test = (&'static str, fn(u32) -> Outcome);

/// Runs one submission and gives its result as a count or an error.
fn run(submission: libring::abi::Submission) -> Result<i32, Errno> {
    with_ring(|ring| ring.run(submission))
}

fn open(fs: u32, path: &str, flags: u32) -> Result<u32, Errno> {
    run(ops::open(fs, path.as_bytes(), flags)).map(|handle| handle as u32)
}

/// `CLOSE`: the kernel drops the handle and tells the server (`RELEASE`).
fn close(handle: u32) {
    let _ = run(ops::close(handle));
}

/// How many files the server has open (its `CONTROL [0, 0, 0]`).
/// How many files process `process` has open at the server (the
/// server counts by the process that opened them, so other clients of
/// the same server make no difference).
fn open_files_of(fs: u32, process: u64) -> Result<i32, Errno> {
    run(ops::control(fs, [1, process, 0]))
}

/// How many files this process has open.
fn open_files(fs: u32) -> Result<i32, Errno> {
    let me = run(ops::system_info(libring::abi::SystemValue::ProcessId))?;
    open_files_of(fs, me as u64)
}

fn write_at(file: u32, bytes: &[u8], offset: u64) -> Result<i32, Errno> {
    run(ops::write(file, bytes, offset))
}

fn read_at(file: u32, length: usize, offset: u64) -> Result<Vec<u8>, Errno> {
    let mut buffer = vec![0u8; length];
    let count = run(ops::read(file, &mut buffer, offset))?;
    buffer.truncate(count as usize);
    Ok(buffer)
}

fn stat(file: u32) -> Result<FileStatus, Errno> {
    let mut status = FileStatus::default();
    run(ops::stat(file, &mut status))?;
    Ok(status)
}

/// Every name in directory `path`, read a few records at a time.
fn list(fs: u32, path: &str) -> Result<Vec<(String, u8, u64)>, Errno> {
    let directory = open(fs, path, open_flags::READ | open_flags::DIRECTORY)?;
    let mut names = Vec::new();
    let mut buffer = vec![0u8; 96];
    loop {
        let filled = run(ops::readdir(directory, &mut buffer, names.len() as u64));
        let filled = match filled {
            Ok(0) => break,
            Ok(filled) => filled as usize,
            Err(error) => {
                close(directory);
                return Err(error);
            }
        };
        let mut at = 0;
        while at < filled {
            let Ok((head, _)) = DirectoryEntry::read_from_prefix(&buffer[at..filled]) else {
                break;
            };
            let name = &buffer[at + 16..at + 16 + head.name_length as usize];
            names.push((
                String::from_utf8_lossy(name).into_owned(),
                head.kind,
                head.size,
            ));
            at += DirectoryEntry::record_size(head.name_length as usize);
        }
    }
    close(directory);
    Ok(names)
}

fn expect<T: core::fmt::Debug + PartialEq>(what: &str, got: T, wanted: T) -> Outcome {
    if got == wanted {
        Ok(())
    } else {
        Err(alloc::format!("{what}: got {got:?}, wanted {wanted:?}"))
    }
}

const CREATE: u32 = open_flags::READ | open_flags::WRITE | open_flags::CREATE;

fn files_are_written_and_read_back(fs: u32) -> Outcome {
    let file = open(fs, "/tmp/a", CREATE).map_err(|error| alloc::format!("open: {error:?}"))?;
    expect("write", write_at(file, b"hello, world", 0), Ok(12))?;
    expect("overwrite", write_at(file, b"W", 7), Ok(1))?;
    expect("read", read_at(file, 64, 0), Ok(b"hello, World".to_vec()))?;
    expect("read at 7", read_at(file, 3, 7), Ok(b"Wor".to_vec()))?;
    expect("read past the end", read_at(file, 8, 100), Ok(Vec::new()))?;
    expect(
        "size",
        stat(file).map(|status| (status.size, status.kind)),
        Ok((12, file_kind::FILE)),
    )?;
    close(file);
    let again =
        open(fs, "/tmp/a", open_flags::READ).map_err(|error| alloc::format!("{error:?}"))?;
    let text = read_at(again, 64, 0);
    close(again);
    expect("read after reopening", text, Ok(b"hello, World".to_vec()))
}

fn append_and_truncate(fs: u32) -> Outcome {
    let appending = open(fs, "/tmp/log", CREATE | open_flags::APPEND)
        .map_err(|error| alloc::format!("{error:?}"))?;
    expect("first", write_at(appending, b"one\n", 0), Ok(4))?;
    expect(
        "second, offset ignored",
        write_at(appending, b"two\n", 0),
        Ok(4),
    )?;
    expect(
        "appended",
        read_at(appending, 64, 0),
        Ok(b"one\ntwo\n".to_vec()),
    )?;
    close(appending);
    let truncating = open(fs, "/tmp/log", CREATE | open_flags::TRUNCATE)
        .map_err(|error| alloc::format!("{error:?}"))?;
    let size = stat(truncating).map(|status| status.size);
    close(truncating);
    expect("truncated", size, Ok(0))
}

fn a_big_file_is_written_and_read_whole(fs: u32) -> Outcome {
    let file = open(fs, "/tmp/big", CREATE).map_err(|error| alloc::format!("{error:?}"))?;
    let data: Vec<u8> = (0..100_000u32)
        .map(|index| (index * 7 % 251) as u8)
        .collect();
    let written = write_at(file, &data, 0);
    let back = read_at(file, data.len(), 0);
    close(file);
    expect("written", written, Ok(data.len() as i32))?;
    expect(
        "read back intact",
        back.map(|bytes| bytes == data),
        Ok(true),
    )?;
    expect("unlinked", run(ops::unlink(fs, b"/tmp/big")), Ok(0))
}

fn directories_list_and_remove(fs: u32) -> Outcome {
    expect("mkdir", run(ops::mkdir(fs, b"/docs")), Ok(0))?;
    expect(
        "mkdir again",
        run(ops::mkdir(fs, b"/docs")),
        Err(Errno::Exists),
    )?;
    for name in [
        "/docs/b",
        "/docs/a-longer-name-than-fits-twice-in-96-bytes",
        "/docs/c",
    ] {
        let file = open(fs, name, CREATE).map_err(|error| alloc::format!("{name}: {error:?}"))?;
        let _ = write_at(file, name.as_bytes(), 0);
        close(file);
    }
    expect("mkdir inside", run(ops::mkdir(fs, b"/docs/sub")), Ok(0))?;
    let listing = list(fs, "/docs").map_err(|error| alloc::format!("list: {error:?}"))?;
    let expected = [
        (
            "a-longer-name-than-fits-twice-in-96-bytes",
            file_kind::FILE,
            47,
        ),
        ("b", file_kind::FILE, 7),
        ("c", file_kind::FILE, 7),
        ("sub", file_kind::DIRECTORY, 0),
    ]
    .map(|(name, kind, size)| (String::from(name), kind, size))
    .to_vec();
    expect("listing", listing, expected)?;
    expect(
        "not empty",
        run(ops::unlink(fs, b"/docs")),
        Err(Errno::NotEmpty),
    )?;
    for path in [
        "/docs/a-longer-name-than-fits-twice-in-96-bytes",
        "/docs/b",
        "/docs/c",
        "/docs/sub",
        "/docs",
    ] {
        expect(path, run(ops::unlink(fs, path.as_bytes())), Ok(0))?;
    }
    expect(
        "gone",
        list(fs, "/docs").map(|names| names.len()),
        Err(Errno::NotFound),
    )
}

fn renames_move_and_replace(fs: u32) -> Outcome {
    for (path, text) in [("/tmp/x", "x"), ("/tmp/y", "y")] {
        let file = open(fs, path, CREATE).map_err(|error| alloc::format!("{error:?}"))?;
        let _ = write_at(file, text.as_bytes(), 0);
        close(file);
    }
    expect(
        "rename over",
        run(ops::rename(fs, b"/tmp/x\0/tmp/y")),
        Ok(0),
    )?;
    expect(
        "old name",
        open(fs, "/tmp/x", open_flags::READ),
        Err(Errno::NotFound),
    )?;
    let file = open(fs, "/tmp/y", open_flags::READ).map_err(|error| alloc::format!("{error:?}"))?;
    let text = read_at(file, 8, 0);
    close(file);
    expect("new name has the old contents", text, Ok(b"x".to_vec()))?;
    expect(
        "no NUL",
        run(ops::rename(fs, b"/tmp/y")),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "into a file",
        run(ops::rename(fs, b"/tmp\0/tmp/y/z")),
        Err(Errno::NotADirectory),
    )?;
    expect(
        "into itself",
        run(ops::rename(fs, b"/tmp\0/tmp/sub")),
        Err(Errno::InvalidArgument),
    )?;
    expect("cleanup", run(ops::unlink(fs, b"/tmp/y")), Ok(0))
}

fn errors_are_clear_and_change_nothing(fs: u32) -> Outcome {
    let read = open_flags::READ;
    expect("missing", open(fs, "/nope", read), Err(Errno::NotFound))?;
    expect(
        "through a missing directory",
        open(fs, "/nope/a", CREATE),
        Err(Errno::NotFound),
    )?;
    // Relative paths start from the directory the handle names (here
    // the root).
    expect(
        "relative, missing",
        open(fs, "tmp/../nope", read),
        Err(Errno::NotFound),
    )?;
    expect(
        "unknown flag",
        open(fs, "/tmp", 1 << 20),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "write a directory",
        open(fs, "/tmp", CREATE),
        Err(Errno::IsADirectory),
    )?;
    let exclusive = CREATE | open_flags::EXCLUSIVE;
    let file = open(fs, "/tmp/e", exclusive).map_err(|error| alloc::format!("{error:?}"))?;
    expect(
        "exclusive twice",
        open(fs, "/tmp/e", exclusive),
        Err(Errno::Exists),
    )?;
    expect(
        "a file as a directory",
        open(fs, "/tmp/e", read | open_flags::DIRECTORY),
        Err(Errno::NotADirectory),
    )?;
    expect(
        "a path through a file",
        open(fs, "/tmp/e/x", CREATE),
        Err(Errno::NotADirectory),
    )?;
    let long = alloc::format!("/{}", "n".repeat(256));
    expect(
        "name too long",
        open(fs, &long, CREATE),
        Err(Errno::NameTooLong),
    )?;
    let too_long_path = "/d".repeat(600);
    expect(
        "path too long",
        run(ops::mkdir(fs, too_long_path.as_bytes())),
        Err(Errno::NameTooLong),
    )?;
    expect(
        "not UTF-8",
        run(ops::mkdir(fs, b"/\xff")),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "READDIR of a file",
        run(ops::readdir(file, &mut [0u8; 64], 0)),
        Err(Errno::NotADirectory),
    )?;
    expect(
        "READ through the file system handle",
        run(ops::read(fs, &mut [0u8; 4], 0)),
        Err(Errno::BadHandle),
    )?;
    expect("a READ of nothing", run(ops::read(file, &mut [], 0)), Ok(0))?;
    // A RELEASE the client sends itself is refused: only the kernel's,
    // on the last CLOSE, lets go of a file (others may hold copies).
    expect(
        "a RELEASE of the client's own",
        run(ops::release(file)),
        Err(Errno::InvalidArgument),
    )?;
    expect(
        "still open after it",
        run(ops::read(file, &mut [], 0)),
        Ok(0),
    )?;
    let other = open(fs, "/tmp/e", read).map_err(|error| alloc::format!("{error:?}"))?;
    let _ = run(ops::close(file));
    close(other);
    expect("the server goes on", run(ops::unlink(fs, b"/tmp/e")), Ok(0))
}

fn an_open_file_outlives_its_name(fs: u32) -> Outcome {
    let file = open(fs, "/tmp/ghost", CREATE).map_err(|error| alloc::format!("{error:?}"))?;
    let _ = write_at(file, b"boo", 0);
    expect("unlink", run(ops::unlink(fs, b"/tmp/ghost")), Ok(0))?;
    expect(
        "name gone",
        open(fs, "/tmp/ghost", open_flags::READ),
        Err(Errno::NotFound),
    )?;
    let text = read_at(file, 8, 0);
    close(file);
    expect("still readable", text, Ok(b"boo".to_vec()))
}

fn the_boot_image_is_in_the_tree(fs: u32) -> Outcome {
    let bin = list(fs, "/bin").map_err(|error| alloc::format!("list /bin: {error:?}"))?;
    let me = bin.iter().find(|(name, _, _)| name == "fstest");
    let Some(&(_, kind, size)) = me else {
        return Err(alloc::format!("no /bin/fstest in {bin:?}"));
    };
    expect("/bin/fstest is a file", kind, file_kind::FILE)?;
    let program =
        open(fs, "/bin/fstest", open_flags::READ).map_err(|error| alloc::format!("{error:?}"))?;
    let whole = read_at(program, size as usize + 16, 0);
    close(program);
    let whole = whole.map_err(|error| alloc::format!("read: {error:?}"))?;
    expect("its size", whole.len() as u64, size)?;
    expect("an ELF file", &whole[..4], b"\x7fELF".as_slice())?;
    let readme =
        open(fs, "/README.txt", open_flags::READ).map_err(|error| alloc::format!("{error:?}"))?;
    let text = read_at(readme, 4096, 0);
    close(readme);
    let text = text.map_err(|error| alloc::format!("{error:?}"))?;
    expect(
        "README.txt as packed",
        text.starts_with(b"Every file and folder here"),
        true,
    )
}

fn closing_a_handle_releases_its_file(fs: u32) -> Outcome {
    let before = open_files(fs);
    let mut handles = Vec::new();
    for path in ["/tmp/c1", "/tmp/c2", "/tmp/c3"] {
        handles.push(open(fs, path, CREATE).map_err(|error| alloc::format!("{error:?}"))?);
    }
    expect(
        "three more open",
        open_files(fs),
        before.map(|count| count + 3),
    )?;
    // A RELEASE of the client's own is refused; the CLOSEs' count.
    expect(
        "release",
        run(ops::release(handles[0])),
        Err(Errno::InvalidArgument),
    )?;
    for handle in handles {
        expect("close", run(ops::close(handle)), Ok(0))?;
    }
    expect("all released", open_files(fs), before)?;
    for path in ["/tmp/c1", "/tmp/c2", "/tmp/c3"] {
        expect(path, run(ops::unlink(fs, path.as_bytes())), Ok(0))?;
    }
    Ok(())
}

/// `fstest:hold`: opens two files, makes `/tmp/held-done` to say so, and
/// ends without closing them: the kernel's RELEASE on its end must free
/// them in the server (checked by the suite's first case).
fn hold(fs: u32) -> i32 {
    for path in ["/tmp/held-1", "/tmp/held-2"] {
        if open(fs, path, CREATE).is_err() {
            return 1;
        }
    }
    // Its process id, for the suite to ask the server about.
    let Ok(me) = run(ops::system_info(libring::abi::SystemValue::ProcessId)) else {
        return 1;
    };
    match open(fs, "/tmp/held-done", CREATE) {
        Ok(done) => {
            let written = write_at(done, &me.to_le_bytes(), 0);
            close(done);
            i32::from(written.is_err())
        }
        Err(_) => 1,
    }
}

/// Asks `done` every 10 ms, for at most 2 s, until it says yes.
fn within_two_seconds(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        let _ = run(ops::timeout(10_000_000));
    }
    done()
}

fn files_of_an_ended_process_are_released(fs: u32) -> Outcome {
    let mut holder = None;
    let held = within_two_seconds(|| {
        let Ok(file) = open(fs, "/tmp/held-done", open_flags::READ) else {
            return false;
        };
        let id = read_at(file, 4, 0);
        close(file);
        holder = id
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .map(u32::from_le_bytes);
        holder.is_some()
    });
    expect("the holder made /tmp/held-done", held, true)?;
    let holder = u64::from(holder.unwrap_or(0));
    // The holder ends without closing its two files; once it has, the
    // server has none of its files open.
    let released = within_two_seconds(|| open_files_of(fs, holder) == Ok(0));
    expect(
        "released at the holder's end",
        (released, open_files_of(fs, holder)),
        (true, Ok(0)),
    )?;
    for path in ["/tmp/held-1", "/tmp/held-2", "/tmp/held-done"] {
        expect(path, run(ops::unlink(fs, path.as_bytes())), Ok(0))?;
    }
    Ok(())
}

fn main(arguments: Arguments) -> i32 {
    let &[fs] = handles() else {
        libring::println!("fstest: expected one startup handle (+use=fs)");
        return 1;
    };
    if arguments.iter().any(|argument| argument == "hold") {
        return hold(fs);
    }
    let tests: [Test; 10] = [
        (
            "files_of_an_ended_process_are_released",
            files_of_an_ended_process_are_released,
        ),
        (
            "the_boot_image_is_in_the_tree",
            the_boot_image_is_in_the_tree,
        ),
        (
            "files_are_written_and_read_back",
            files_are_written_and_read_back,
        ),
        ("append_and_truncate", append_and_truncate),
        (
            "a_big_file_is_written_and_read_whole",
            a_big_file_is_written_and_read_whole,
        ),
        ("directories_list_and_remove", directories_list_and_remove),
        ("renames_move_and_replace", renames_move_and_replace),
        (
            "errors_are_clear_and_change_nothing",
            errors_are_clear_and_change_nothing,
        ),
        (
            "an_open_file_outlives_its_name",
            an_open_file_outlives_its_name,
        ),
        (
            "closing_a_handle_releases_its_file",
            closing_a_handle_releases_its_file,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        match test(fs) {
            Ok(()) => passed += 1,
            Err(why) => {
                failed += 1;
                libring::println!("fstest: {name} FAILED: {why}");
            }
        }
    }
    // The listing of / shows only what was there: the boot image's files
    // and the server's empty /tmp.
    let left = list(fs, "/").map(|names| {
        names
            .into_iter()
            .map(|(name, _, _)| name)
            .collect::<Vec<_>>()
    });
    match left {
        Ok(names) if names == ["README.txt", "bin", "etc", "tests", "tmp"] => passed += 1,
        other => {
            failed += 1;
            libring::println!("fstest: leftovers in /: {other:?}");
        }
    }
    libring::println!("fstest: {passed} passed, {failed} failed");
    failed
}
