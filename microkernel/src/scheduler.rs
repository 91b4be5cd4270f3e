//! The scheduler: which kernel thread runs next.
//!
//! Round-robin: runnable threads wait in one FIFO queue; the running thread
//! goes to the back when its time slice (one tick) runs out, when it yields,
//! or never, if it sleeps or exits. When nothing is runnable the idle thread
//! runs and waits for an interrupt (`wfi`). Chosen because it is easy to
//! reason about; priorities can come when something needs them.
//!
//! Preemption: the timer tick marks the running thread's slice as used up;
//! on the way out of the interrupt, [`preempt_if_needed`] switches threads.
//! The interrupted thread's registers stay in the trap frame on its own
//! stack until it is switched back to and returns from the interrupt.
//!
//! # Invariants
//! - A thread is in the ready queue at most once, and only while `Ready`.
//! - `SCHEDULER` is only locked with IRQs masked (it is an `IrqMutex`), and
//!   never held across `switch_context`.
//! - The idle thread is never in the ready queue and never sleeps or exits.

use crate::arch::context::{Context, switch_context};
use crate::arch::cpu;
use crate::sync::IrqMutex;
use crate::{kprintln, mm, time};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// A kernel thread's stack: 16 KiB, with a guard below it
/// (`mm::stacks`).
pub const STACK_PAGES: usize = mm::stacks::STACK_PAGES;

pub type ThreadId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Running,
    /// Waiting until the counter (`arch::timer::counter`) reaches this.
    Sleeping {
        until_counter: u64,
    },
    /// Waiting for [`wake`] (a completion, a wake-up call).
    Blocked,
    /// Finished; its stack is freed by the next thread to run.
    Exited,
}

pub struct Thread {
    pub id: ThreadId,
    pub name: &'static str,
    pub state: State,
    context: Context,
    /// Its stack, in the stack window (`None`: the boot stack, which the
    /// idle thread keeps).
    stack: Option<mm::stacks::Stack>,
    /// For a thread that runs a process: the process's `TTBR0_EL1` value,
    /// loaded whenever this thread is switched to.
    user_tables: Option<u64>,
    /// The process this thread runs (0: a kernel thread).
    owner: u32,
}

/// The process of the running thread (0: none), kept up to date by every
/// switch so a system call finds its caller without a lock.
static CURRENT_OWNER: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Set while `Scheduler::exited` holds a thread whose stack is still to be
/// freed, so a switch looks for one only then (`reap_exited`).
static THREADS_EXITED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The process the running thread belongs to (0 if it is a kernel thread).
pub fn current_owner() -> u32 {
    CURRENT_OWNER.load(core::sync::atomic::Ordering::Relaxed)
}

#[expect(
    clippy::vec_box,
    reason = "a switch holds pointers to contexts, which must not move when the Vec grows"
)]
struct Scheduler {
    /// Every thread that has not been reaped. Boxed, so a `Context` does not
    /// move while a switch holds a pointer to it.
    threads: Vec<Box<Thread>>,
    ready: VecDeque<ThreadId>,
    current: ThreadId,
    idle: ThreadId,
    next_id: ThreadId,
    /// Set by the tick when the running thread's slice is used up.
    need_reschedule: bool,
    /// Threads that exited; their stacks are freed once we are off them.
    exited: Vec<Box<Thread>>,
    /// How many switches there have been (for tests and the curious).
    switches: u64,
}

static SCHEDULER: IrqMutex<Option<Scheduler>> = IrqMutex::new(None);

impl Scheduler {
    fn index_of(&self, id: ThreadId) -> usize {
        self.threads
            .iter()
            .position(|thread| thread.id == id)
            .expect("scheduler lost a thread")
    }

    fn thread(&mut self, id: ThreadId) -> &mut Thread {
        self.threads
            .iter_mut()
            .find(|thread| thread.id == id)
            .expect("scheduler lost a thread")
    }
}

/// Why a thread could not be made.
#[derive(Debug)]
pub struct OutOfMemory;

/// What a thread runs: `entry(argument)`; returning ends the thread.
pub type ThreadEntry = fn(u64);

fn new_thread(
    id: ThreadId,
    name: &'static str,
    entry: ThreadEntry,
    argument: u64,
) -> Result<Box<Thread>, OutOfMemory> {
    let stack = mm::stacks::allocate().ok_or(OutOfMemory)?;
    Ok(Box::new(Thread {
        id,
        name,
        state: State::Ready,
        context: Context::new(stack.top() as u64, entry as usize as u64, argument),
        stack: Some(stack),
        user_tables: None,
        owner: 0,
    }))
}

/// Turns the boot thread into the idle thread and starts scheduling: makes
/// `first(argument)` runnable and switches to it. Never returns; the boot
/// stack becomes the idle thread's stack.
pub fn start(first_name: &'static str, first: ThreadEntry, argument: u64) -> ! {
    install_idle_thread();
    if spawn(first_name, first, argument).is_err() {
        kprintln!("scheduler: no memory for the first thread");
        crate::power::shutdown_after_failure();
    }
    announce(first_name);
    idle()
}

/// Like [`start`], but runs `work` on the boot thread itself (with the
/// scheduler running) before it becomes the idle thread: for boot work that
/// never sleeps or blocks, and leaves no thread behind to be reaped.
pub fn start_after(work_name: &'static str, work: fn()) -> ! {
    install_idle_thread();
    announce(work_name);
    cpu::enable_interrupts();
    work();
    idle()
}

fn install_idle_thread() {
    let idle = Box::new(Thread {
        id: 0,
        name: "idle",
        state: State::Running,
        context: Context::default(),
        stack: None, // the boot stack, part of the kernel image
        user_tables: None,
        owner: 0,
    });
    *SCHEDULER.lock() = Some(Scheduler {
        threads: alloc::vec![idle],
        ready: VecDeque::new(),
        current: 0,
        idle: 0,
        next_id: 1,
        need_reschedule: false,
        exited: Vec::new(),
        switches: 0,
    });
}

fn announce(first_name: &str) {
    kprintln!(
        "scheduler: round-robin, {} ms time slices; first work \"{}\"",
        1000 / time::TICKS_PER_SECOND,
        first_name
    );
}

/// The idle thread's loop: run whatever is runnable, else wait.
fn idle() -> ! {
    cpu::enable_interrupts();
    loop {
        yield_now();
        cpu::wait_for_interrupt();
    }
}

/// Creates a thread running `entry(argument)` and makes it runnable.
pub fn spawn(
    name: &'static str,
    entry: ThreadEntry,
    argument: u64,
) -> Result<ThreadId, OutOfMemory> {
    spawn_with_tables(name, entry, argument, None, 0)
}

/// Creates a thread that runs a process: like [`spawn`], and `user_tables`
/// is loaded into `TTBR0_EL1` whenever the thread runs.
pub fn spawn_with_tables(
    name: &'static str,
    entry: ThreadEntry,
    argument: u64,
    user_tables: Option<u64>,
    owner: u32,
) -> Result<ThreadId, OutOfMemory> {
    let mut guard = SCHEDULER.lock();
    let scheduler = guard.as_mut().expect("scheduler started");
    let id = scheduler.next_id;
    let mut thread = new_thread(id, name, entry, argument)?;
    thread.user_tables = user_tables;
    thread.owner = owner;
    scheduler.next_id += 1;
    scheduler.threads.push(thread);
    scheduler.ready.push_back(id);
    Ok(id)
}

/// Lets every other runnable thread run before this one continues.
pub fn yield_now() {
    reschedule(State::Ready);
}

/// Sleeps for at least `ticks` tick periods of the counter: the thread is
/// woken by the first tick at or after that deadline. (Not by counting
/// ticks: a tick taken late, with IRQs masked or the emulator given no
/// time, is followed by the next one soon after, so counted ticks can run
/// behind the counter, and a sleep of N counted ticks could end early.)
pub fn sleep_ticks(ticks: u64) {
    let until_counter = crate::arch::timer::counter() + ticks.max(1) * time::tick_interval();
    reschedule(State::Sleeping { until_counter });
}

/// Stops the calling thread until [`wake`] is called for it. Call with
/// IRQs masked, right after checking (under a lock) that there is reason
/// to wait: then no wake-up can slip in between the check and the block.
pub fn block() {
    reschedule(State::Blocked);
}

/// Makes a blocked thread runnable again; does nothing to a thread that is
/// not blocked (so a wake-up may be sent without knowing).
pub fn wake(id: ThreadId) {
    let mut guard = SCHEDULER.lock();
    let Some(scheduler) = guard.as_mut() else {
        return;
    };
    let Some(thread) = scheduler.threads.iter_mut().find(|thread| thread.id == id) else {
        return;
    };
    if thread.state == State::Blocked {
        thread.state = State::Ready;
        scheduler.ready.push_back(id);
    }
}

/// The top of the running thread's kernel stack (where a trap frame from
/// EL0 lands).
pub fn current_stack_top() -> u64 {
    let mut guard = SCHEDULER.lock();
    let scheduler = guard.as_mut().expect("scheduler started");
    let current = scheduler.current;
    let stack = scheduler
        .thread(current)
        .stack
        .expect("a process thread has a stack");
    stack.top() as u64
}

/// The thread whose stack is in slot `slot` of the stack window, and its
/// name; `None` if there is none, or if the scheduler is busy (for the
/// overflow report, which must not wait for a lock its own thread holds).
pub fn thread_of_stack(slot: usize) -> Option<(ThreadId, &'static str)> {
    let guard = SCHEDULER.try_lock()?;
    let scheduler = guard.as_ref()?;
    scheduler
        .threads
        .iter()
        .find(|thread| thread.stack.is_some_and(|stack| stack.slot() == slot))
        .map(|thread| (thread.id, thread.name))
}

/// Ends the calling thread.
pub fn exit() -> ! {
    reschedule(State::Exited);
    unreachable!("an exited thread was scheduled again");
}

/// Has thread `id` not exited yet?
pub fn is_alive(id: ThreadId) -> bool {
    SCHEDULER.lock().as_ref().is_some_and(|scheduler| {
        scheduler
            .threads
            .iter()
            .any(|thread| thread.id == id && thread.state != State::Exited)
    })
}

/// The running thread's id.
pub fn current() -> ThreadId {
    SCHEDULER
        .lock()
        .as_ref()
        .map_or(0, |scheduler| scheduler.current)
}

/// How many thread switches there have been.
pub fn switch_count() -> u64 {
    SCHEDULER
        .lock()
        .as_ref()
        .map_or(0, |scheduler| scheduler.switches)
}

/// Threads alive (not exited), the idle thread included.
pub fn thread_count() -> usize {
    SCHEDULER.lock().as_ref().map_or(0, |scheduler| {
        scheduler
            .threads
            .iter()
            .filter(|thread| thread.state != State::Exited)
            .count()
    })
}

/// Called on every timer tick, in the interrupt handler, with the
/// counter's value.
pub fn tick(counter: u64) {
    let mut guard = SCHEDULER.lock();
    let Some(scheduler) = guard.as_mut() else {
        return;
    };
    for thread in scheduler.threads.iter_mut() {
        if let State::Sleeping { until_counter } = thread.state
            && until_counter <= counter
        {
            thread.state = State::Ready;
            scheduler.ready.push_back(thread.id);
        }
    }
    // One tick is one time slice; the idle thread gives way at once.
    scheduler.need_reschedule = true;
}

/// Called on the way out of every interrupt: switches threads if the
/// running one's slice is used up.
pub fn preempt_if_needed() {
    let due = SCHEDULER
        .lock()
        .as_mut()
        .is_some_and(|scheduler| core::mem::take(&mut scheduler.need_reschedule));
    if due {
        yield_now();
    }
}

/// Puts the running thread in `new_state` and switches to the next one.
fn reschedule(new_state: State) {
    // IRQs stay masked from here until this thread runs again and restores
    // its own state, so no tick can see the scheduler half-switched.
    let interrupts = cpu::disable_interrupts();
    let switch = {
        let mut guard = SCHEDULER.lock();
        let scheduler = guard.as_mut().expect("scheduler started");
        let previous = scheduler.current;
        let idle = scheduler.idle;
        // Each thread is found once (a search of `threads`), then indexed.
        let previous_index = scheduler.index_of(previous);
        if previous != idle {
            scheduler.threads[previous_index].state = new_state;
        }
        if previous != idle && new_state == State::Ready {
            scheduler.ready.push_back(previous);
        }
        let next = scheduler.ready.pop_front().unwrap_or(idle);
        if next == previous {
            if previous != idle {
                scheduler.threads[previous_index].state = State::Running;
            }
            None
        } else {
            let next_index = scheduler.index_of(next);
            scheduler.current = next;
            scheduler.switches += 1;
            let next_thread = &mut scheduler.threads[next_index];
            next_thread.state = State::Running;
            if let Some(tables) = next_thread.user_tables {
                cpu::set_user_tables(tables);
            }
            CURRENT_OWNER.store(next_thread.owner, core::sync::atomic::Ordering::Relaxed);
            let to: *const Context = &next_thread.context;
            let from: *mut Context = &mut scheduler.threads[previous_index].context;
            if new_state == State::Exited && previous != idle {
                let exited = scheduler.threads.swap_remove(previous_index);
                scheduler.exited.push(exited);
                THREADS_EXITED.store(true, core::sync::atomic::Ordering::Relaxed);
            }
            Some((from, to))
        }
    };
    if let Some((from, to)) = switch {
        // SAFETY: both contexts are inside boxed threads that stay alive:
        // `from` is ours (kept in `exited` if we are exiting, and reaped only
        // after this switch), and `to` is a thread that is not running.
        unsafe { switch_context(from, to) };
        if THREADS_EXITED.load(core::sync::atomic::Ordering::Relaxed) {
            reap_exited();
        }
    }
    cpu::restore_interrupts(interrupts);
}

/// Frees the stacks of exited threads other than the running one.
fn reap_exited() {
    let mut finished = Vec::new();
    if let Some(scheduler) = SCHEDULER.lock().as_mut() {
        let current = scheduler.current;
        let mut index = 0;
        while index < scheduler.exited.len() {
            if scheduler.exited[index].id != current {
                finished.push(scheduler.exited.swap_remove(index));
            } else {
                index += 1;
            }
        }
        THREADS_EXITED.store(
            !scheduler.exited.is_empty(),
            core::sync::atomic::Ordering::Relaxed,
        );
    }
    for thread in finished {
        if let Some(stack) = thread.stack {
            mm::stacks::free(stack);
        }
    }
}

/// The first Rust code of every new thread (see `Context::new`). IRQs are
/// still masked from the switch that started it.
#[unsafe(no_mangle)]
extern "C" fn thread_main(entry: usize, argument: u64) -> ! {
    reap_exited();
    // The switch that started this thread may have come from inside an
    // exception handler, where SError is masked too: unmask both.
    cpu::enable_serror_reports();
    cpu::enable_interrupts();
    // SAFETY: `entry` was made from a `ThreadEntry` in `new_thread`.
    let entry: ThreadEntry = unsafe { core::mem::transmute::<usize, ThreadEntry>(entry) };
    entry(argument);
    exit()
}
