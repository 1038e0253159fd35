//! The pool's server and its workers.
//!
//! `Pool::new` forks one server process while the caller is still single-threaded, and the
//! server forks the workers. Only the server ever forks again (to replace a worker that
//! died, retired after `maxtasksperchild`, or whose initializer failed), so the pool's
//! owner may start threads afterwards without making any later fork unsafe: the server
//! never has more than one thread.
//!
//! The server sleeps in `sigtimedwait` for SIGCHLD, SIGUSR1 or SIGTERM, until the nearest
//! deadline of a running task if there is one. On SIGCHLD it reaps its workers; a worker
//! that ended without being told to stop is replaced, and if it died in the middle of a
//! task, the server reports that task on the result queue (Python's `Pool` hangs there for
//! ever). On SIGTERM (`Pool::terminate`) it kills and reaps every worker, then exits. When
//! every worker has been told to stop (`Pool::close`), it exits.
//!
//! Time limits and cancels are enforced here, because only the server may signal a worker:
//! it is the server's unreaped child, so its pid cannot have been reused. A worker that
//! starts a task with a time limit records the deadline in its [`Slot`] and sends the
//! server SIGUSR1, so a sleep computed before it is cut short; the owner cancels a running
//! task by writing its id in the slot's `cancel` word and sending SIGUSR1 too. Each time
//! it wakes, the server reads the slots: a worker still running a task past its deadline,
//! or the task named in its `cancel` word, is SIGKILLed; once reaped, it is replaced and
//! the task reported `TimedOut` or `Cancelled` (instead of `WorkerDied`).
//!
//! Where processes start: [`start`] forks the server, or [`start_served`] asks the start
//! server for it (`forkserver`, `spawn`: the pool's queues and slots travel as memfds in
//! the request, see `ServedSetup`); [`Server::spawn`] forks each worker. These are the
//! only places a pool starts a process. Either way the server is a single-threaded
//! process (a fork of a single-threaded owner, or of the single-threaded start server),
//! so its forks are always safe.

use super::task::{Outcome, TaskMsg, Trampoline};
use crate::codec::decode;
use crate::deadline::{nanos_after, now_nanos};
use crate::error::{Error, InvalidKind, Result};
use crate::framed::Framed;
use crate::handle::Passed;
use crate::popen::Popen;
use crate::process::{Process, fork_child};
use crate::queue::buffer::RawQueue;
use crate::shm::{SharedState, Shm, Zeroed};
use crate::start::identity::address;
use crate::start::{Child, StartMethod};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

pub(crate) const MAX_WORKERS: usize = 1024;

const EMPTY: u32 = 0;
const RUNNING: u32 = 1;
/// Took a stop message: not to be replaced.
const STOPPED: u32 = 2;
/// Finished its `maxtasksperchild` tasks: to be replaced.
const RETIRED: u32 = 3;
/// Its initializer panicked: the pool is broken.
const INIT_FAILED: u32 = 4;

/// What the server and the owner know about one worker position.
#[repr(C)]
pub(crate) struct Slot {
    pub pid: AtomicU32,
    /// The task being run, 0 when idle.
    pub task: AtomicU64,
    pub state: AtomicU32,
    /// When `task` must be done: absolute `CLOCK_MONOTONIC` nanoseconds, 0 for no limit.
    /// Written by the worker after `task` and cleared before it, so a reader that sees the
    /// same `task` before and after reading it has that task's deadline.
    pub deadline: AtomicU64,
    /// A task the owner wants stopped (its id; 0: none): the server kills the worker if
    /// `task` is still that id, then clears it.
    pub cancel: AtomicU64,
}

/// How many cancelled tasks the workers remember to skip ([`Slots::skip`]).
pub(crate) const SKIPPED: usize = 128;

#[repr(C)]
pub(crate) struct Slots {
    pub slots: [Slot; MAX_WORKERS],
    /// The ids of the last [`SKIPPED`] tasks cancelled by the owner (a ring it writes; 0:
    /// none). A worker that takes one of them skips it. The owner writes the ids *before*
    /// it reads the slots' `task` words, a worker writes `task` *before* it reads this
    /// (all `SeqCst`): so for each cancelled task, either its worker skips it or the owner
    /// sees it running and has it killed.
    pub skip: [AtomicU64; SKIPPED],
}

// SAFETY: atomics only; zero is an empty slot with no pid and no task, and a ring of
// no cancelled task.
unsafe impl Zeroed for Slots {}

impl SharedState for Slots {}

/// Everything a worker needs; inherited through `fork`.
pub(crate) struct WorkerSetup {
    pub tasks: Arc<RawQueue>,
    pub results: Arc<RawQueue>,
    pub slots: Arc<Shm<Slots>>,
    pub initializer: Option<Box<dyn Fn()>>,
    pub max_tasks: u64,
    /// Replace a worker whose resident memory after a task is above this many bytes
    /// (0: never).
    pub max_memory: u64,
    /// Set by the server once the first workers are forked.
    pub started: crate::event::Event,
    /// The workers' names, before their number: Python's `ForkPoolWorker`,
    /// `ForkServerPoolWorker`, `SpawnPoolWorker`.
    pub worker_name: String,
}

/// How long the owner waits for the server's start signal before checking it is alive.
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The pool's server process: a fork of the owner, or a child of the start server
/// (`forkserver`, `spawn`: see [`crate::start`]).
pub(crate) enum ServerProcess {
    /// Forked by the owner: only its core is kept (the `Process` handle's closure is gone
    /// with the fork, and what is left is `Send`).
    Forked(Popen),
    Served(Child<i32>),
}

impl ServerProcess {
    /// The server process, however it was started. Only the pool's owner may wait for or
    /// signal it: a fork of the owner holds a copy of the pool.
    fn popen(&mut self) -> Result<&mut Popen> {
        let popen = match self {
            ServerProcess::Forked(p) => p,
            ServerProcess::Served(c) => c.popen(),
        };
        popen.owner_only()?;
        Ok(popen)
    }

    pub(crate) fn terminate(&mut self) -> Result<()> {
        self.popen()?.terminate()
    }

    pub(crate) fn kill(&mut self) -> Result<()> {
        self.popen()?.kill()
    }

    /// Wake the server to read the slots again (SIGUSR1, which it waits for): a `cancel`
    /// word was written.
    pub(crate) fn wake(&mut self) -> Result<()> {
        self.popen()?.signal(Signal::SIGUSR1)
    }

    pub(crate) fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>> {
        self.popen()?.wait_timeout(timeout)
    }

    pub(crate) fn join(&mut self) -> Result<i32> {
        loop {
            if let Some(code) = self.join_timeout(Duration::from_secs(3600))? {
                return Ok(code);
            }
        }
    }

    /// The exit code if the server has ended, without waiting.
    /// An error means the server cannot be waited for any more (a served pool whose start
    /// server died, taking the pool's server with it): it has ended as far as the pool is
    /// concerned, with -1 for an exit code.
    pub(crate) fn exitcode(&mut self) -> Option<i32> {
        self.join_timeout(Duration::ZERO).unwrap_or(Some(-1))
    }
}

impl Drop for ServerProcess {
    /// A forked server still running when its handle goes (a pool that failed to start,
    /// say; a pool's own drop terminates it first) is killed and reaped by its owner, as
    /// `Process`'s drop would. A served one's `Child` does the same on its own.
    fn drop(&mut self) {
        if let ServerProcess::Forked(p) = self
            && p.is_owner()
            && p.code().is_none()
        {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// What a forkserver or spawn pool's server receives: the private queues and slots travel
/// as their memfds ([`Passed`]), the start event as a travelling handle.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize",
    deserialize = "T: serde::de::DeserializeOwned"
))]
struct ServedSetup<T> {
    /// The objects of [`PoolBuilder::share`](super::PoolBuilder::share): decoded (and so
    /// registered) in the server before it forks the workers, kept alive while it runs.
    shared: Framed<T>,
    /// The offset of the `fn(T)` of [`PoolBuilder::initializer_with`](super::PoolBuilder::initializer_with),
    /// run with a clone of `shared` in every worker.
    init: Option<i64>,
    tasks: Passed<Arc<RawQueue>>,
    results: Passed<Arc<RawQueue>>,
    slots: Passed<Arc<Shm<Slots>>>,
    started: crate::event::Event,
    max_tasks: u64,
    max_memory: u64,
    workers: usize,
    worker_name: String,
    /// The owner's `log::max_level()` when it built the pool: the workers forward records
    /// up to it, and format none above it.
    max_level: log::LevelFilter,
}

/// The body of a forkserver or spawn pool's server: a fresh single-threaded process.
fn served_main<T: Clone + 'static>(s: ServedSetup<T>) -> i32 {
    crate::process::rename(&s.worker_name.replace("Worker", "Server"), None);
    // Only the initializer the owner's request recorded (never an offset from a user's
    // bytes: `shared` is a blob of its own, decoded to its exact length).
    if s.init != crate::start::child::recorded_init() {
        return 1;
    }
    let shared = s.shared.0;
    let initializer = match s.init.map(crate::start::identity::resolve) {
        None => None,
        // Not in this executable: refuse to call it.
        Some(None) => return 1,
        Some(Some(addr)) => {
            // SAFETY: the address of a `fn(T)` for this very `T`: `PoolBuilder` stored the
            // offset of the `init: fn(T)` it was given beside an argument of type `T`, and
            // this server was started by `start_served::<T>` with `served_main::<T>`; the
            // offset is the one the owner's request recorded (checked above), and resolves
            // inside this executable, the same file as the owner's (the start request checks
            // its device and inode).
            let init: fn(T) = unsafe { std::mem::transmute::<usize, fn(T)>(addr) };
            let arg = shared.clone();
            Some(Box::new(move || init(arg.clone())) as Box<dyn Fn()>)
        }
    };
    forward_logs(&s.results.0, s.max_level);
    let setup = WorkerSetup {
        tasks: s.tasks.0,
        results: s.results.0,
        slots: s.slots.0,
        initializer,
        max_tasks: s.max_tasks,
        max_memory: s.max_memory,
        started: s.started,
        worker_name: s.worker_name,
    };
    let code = serve(setup, s.workers);
    drop(shared);
    code
}

/// Unless this re-executed image already has a logger, make the workers' records (they
/// inherit this) travel to the owner on the result queue, up to the owner's `level`: it
/// logs them through its own logger (`Pool::take`). A fork pool's workers need none of
/// this: they inherit the owner's logger itself.
fn forward_logs(results: &Arc<RawQueue>, level: log::LevelFilter) {
    let results = results.clone();
    crate::logging::forward(
        level,
        Box::new(move |level, target, message| {
            let me = crate::process::current_process();
            let outcome = Outcome::Log {
                level,
                target: target.into(),
                message: message.into(),
                worker: crate::logging::clip_name(me.name()).into(),
                pid: me.pid(),
            };
            let _ = results.put_value(&outcome, None);
        }),
    );
}

/// Start a pool's processes with `method` (not `Fork`): the start server starts the pool's
/// server, which forks `workers` workers; returns once they run.
pub(crate) fn start_served<T>(
    method: StartMethod,
    setup: WorkerSetup,
    workers: usize,
    shared: T,
    init: Option<usize>,
) -> Result<ServerProcess>
where
    T: Serialize + serde::de::DeserializeOwned + Clone + 'static,
{
    debug_assert!(setup.initializer.is_none(), "refused by PoolBuilder::build");
    let init = init.map(crate::start::identity::offset_of).transpose()?;
    let started = setup.started.clone();
    let served = ServedSetup {
        shared: Framed(shared),
        init,
        tasks: Passed(setup.tasks),
        results: Passed(setup.results),
        slots: Passed(setup.slots),
        started: setup.started,
        max_tasks: setup.max_tasks,
        max_memory: setup.max_memory,
        workers,
        worker_name: setup.worker_name,
        max_level: log::max_level(),
    };
    let child = crate::start::start_served(method, served_main::<T>, served, init)?;
    wait_started(ServerProcess::Served(child), &started)
}

/// Wait for the server's start signal; an error if it ended first.
fn wait_started(mut server: ServerProcess, started: &crate::event::Event) -> Result<ServerProcess> {
    while !started.wait_timeout(POLL) {
        if let Some(code) = server.exitcode() {
            // A served server that refused its setup (a shared object, a share() value
            // that does not decode to its own length) says why.
            if let ServerProcess::Served(c) = &mut server
                && let Err(e) = c.join()
            {
                return Err(e);
            }
            return Err(Error::invalid(
                InvalidKind::StartFailed,
                format!(
                    "the pool's server process exited (code {code}) before starting its workers"
                ),
            ));
        }
    }
    if let Some(code) = server.join_timeout(Duration::ZERO)? {
        return Err(Error::invalid(
            InvalidKind::StartFailed,
            format!("the pool's server could not start its workers (exit code {code})"),
        ));
    }
    Ok(server)
}

/// Start a pool's processes: fork the server, which forks `workers` workers, and return
/// once they run (Python's `Pool()` returns with its workers started).
///
/// # Safety
///
/// As [`Process::start_unchecked`]: no other thread may hold, or be taking, a lock the
/// server or the workers will take at the moment of the fork.
pub(crate) unsafe fn start(setup: WorkerSetup, workers: usize) -> Result<ServerProcess> {
    let started = setup.started.clone();
    let mut server = Process::new(move || serve(setup, workers)).name("ForkPoolServer");
    // SAFETY: `start`'s caller guarantees the precondition.
    unsafe { server.start_unchecked() }?;
    let popen = server.into_popen().expect("started just above");
    wait_started(ServerProcess::Forked(popen), &started)
}

/// The server process's body. Returns its exit code.
fn serve(setup: WorkerSetup, workers: usize) -> i32 {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGTERM);
    // A worker that starts a timed task, or the owner that cancels one.
    signals.add(Signal::SIGUSR1);
    if signals.thread_block().is_err() {
        return 1;
    }
    let mut server = Server {
        setup,
        running: HashMap::new(),
        killed: HashMap::new(),
        started: 0,
        pid: nix::unistd::getpid(),
    };
    for slot in 0..workers {
        if !server.spawn(slot) {
            server.setup.started.set();
            server.kill_all();
            return 1;
        }
    }
    server.setup.started.set();
    loop {
        server.reap();
        if server.running.is_empty() {
            return 0;
        }
        let next = server.enforce();
        let got = match next {
            None => signals.wait().ok(),
            Some(at) => wait_until(&signals, at),
        };
        if got == Some(Signal::SIGTERM) {
            server.kill_all();
            return 0;
        }
    }
}

/// Wait for one of `signals` until `at` (monotonic nanoseconds); the signal, `None` when
/// the time came first (or the wait was interrupted: the caller looks again either way).
fn wait_until(signals: &SigSet, at: u64) -> Option<Signal> {
    let left = at.saturating_sub(now_nanos());
    let timeout = libc::timespec {
        tv_sec: (left / 1_000_000_000) as libc::time_t,
        tv_nsec: (left % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `signals` is a valid, initialised signal set (nix's `SigSet` wraps a
    // `sigset_t`), a null `siginfo_t` pointer is allowed (no information wanted), and
    // `timeout` is a valid relative timespec that outlives the call; the signals are
    // blocked in this thread (`serve`), as `sigtimedwait` requires.
    let got = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &timeout) };
    Signal::try_from(got).ok()
}

/// Why the server killed a worker: what it reports for the task it killed it for.
#[derive(Clone, Copy, Debug)]
enum Kill {
    TimedOut,
    Cancelled,
}

struct Server {
    setup: WorkerSetup,
    running: HashMap<Pid, usize>,
    /// Workers killed for a task (timed out or cancelled) and not reaped yet: the task and
    /// why.
    killed: HashMap<Pid, (u64, Kill)>,
    started: u64,
    /// This server's pid: the workers signal it when they start a timed task.
    pid: Pid,
}

impl Server {
    fn slot(&self, i: usize) -> &Slot {
        &self.setup.slots.get().slots[i]
    }

    /// Fork a worker for slot `i` (at start, and to replace one). False if the fork failed
    /// and the pool is now broken.
    fn spawn(&mut self, i: usize) -> bool {
        self.started += 1;
        let name = format!("{}-{}", self.setup.worker_name, self.started);
        let slot = self.slot(i);
        slot.task.store(0, SeqCst);
        slot.deadline.store(0, SeqCst);
        slot.cancel.store(0, SeqCst);
        slot.state.store(EMPTY, SeqCst);
        let setup: *const WorkerSetup = &self.setup;
        let server = self.pid;
        // SAFETY: (of the pointer) the worker is a fork of this process; `self.setup` is in
        // its copy of memory for as long as it runs, since it never returns from the body.
        let body = crate::process::target(move || work(unsafe { &*setup }, i, server));
        // SAFETY: the server is a fork of the pool's owner, so it began with one thread,
        // and it never starts another (the initializer runs in the workers, not here): it
        // is the only thread of its process whenever it forks.
        match unsafe { fork_child(&name, &[], body) } {
            Ok(pid) => {
                slot.pid.store(pid.as_raw() as u32, SeqCst);
                self.running.insert(pid, i);
                true
            }
            Err(e) => {
                self.report(Outcome::Broken {
                    reason: format!("cannot start a worker: {e}"),
                });
                false
            }
        }
    }

    fn report(&self, outcome: Outcome) {
        let _ = self.setup.results.put_value(&outcome, None);
    }

    /// Reap every worker that has ended; report and replace as needed.
    fn reap(&mut self) {
        loop {
            let (pid, how) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, format!("exited with code {code}")),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, format!("was killed by {sig}")),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let Some(i) = self.running.remove(&pid) else {
                continue;
            };
            let killed = self.killed.remove(&pid);
            let slot = self.slot(i);
            let task = slot.task.swap(0, SeqCst);
            match slot.state.load(SeqCst) {
                STOPPED => continue,
                INIT_FAILED => {
                    self.report(Outcome::Broken {
                        reason: format!("a worker's initializer failed (the worker {how})"),
                    });
                    continue;
                }
                _ => {}
            }
            // Replace first: whoever learns of the death finds the replacement in place.
            self.spawn(i);
            match killed {
                Some((id, Kill::TimedOut)) if id == task => self.report(Outcome::TimedOut { id }),
                Some((id, Kill::Cancelled)) if id == task => self.report(Outcome::Cancelled { id }),
                // Killed for a task it finished (whose result was sent) just as it started
                // this one, or not killed by us at all.
                _ if task != 0 => self.report(Outcome::WorkerDied {
                    id: task,
                    what: format!("worker pid {pid} {how} while running the task"),
                }),
                _ => {}
            }
        }
    }

    /// Kill every worker whose task is past its deadline, or is the one its slot's
    /// `cancel` word names; the nearest deadline of the tasks left running (monotonic
    /// nanoseconds), if any has one.
    fn enforce(&mut self) -> Option<u64> {
        let now = now_nanos();
        let mut next: Option<u64> = None;
        let mut kills = Vec::new();
        for (&pid, &i) in &self.running {
            if self.killed.contains_key(&pid) {
                continue; // killed already, not reaped yet
            }
            let slot = self.slot(i);
            let task = slot.task.load(SeqCst);
            let cancel = slot.cancel.swap(0, SeqCst);
            let deadline = slot.deadline.load(SeqCst);
            // Still the same task after reading the words: they were about that task.
            if task == 0 || slot.task.load(SeqCst) != task {
                continue;
            }
            if cancel == task {
                kills.push((pid, task, Kill::Cancelled));
            } else if deadline != 0 && deadline <= now {
                kills.push((pid, task, Kill::TimedOut));
            } else if deadline != 0 {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        for (pid, task, why) in kills {
            // The worker is our unreaped child: its pid is still its own.
            if nix::sys::signal::kill(pid, Signal::SIGKILL).is_ok() {
                self.killed.insert(pid, (task, why));
            }
        }
        next
    }

    fn kill_all(&mut self) {
        for pid in self.running.keys() {
            let _ = nix::sys::signal::kill(*pid, Signal::SIGKILL);
        }
        for pid in std::mem::take(&mut self.running).into_keys() {
            let _ = waitpid(pid, None);
        }
        self.killed.clear();
    }
}

thread_local! {
    /// The message of the last panic in this worker, captured by its panic hook.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A worker's life: initialise, then take tasks until told to stop or retired.
fn work(setup: &WorkerSetup, i: usize, server: Pid) -> i32 {
    // The server blocks SIGCHLD/SIGTERM for `sigwait`; a worker must be killable.
    let _ = SigSet::empty().thread_set_mask();
    // A task's panic goes back to the caller as an error, not to this worker's stderr.
    std::panic::set_hook(Box::new(|info| {
        let msg = crate::error::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = format!("{msg}{at}"));
    }));
    let slot = &setup.slots.get().slots[i];
    if let Some(init) = &setup.initializer
        && let Err(payload) = catch_unwind(AssertUnwindSafe(init))
    {
        // Leaked, never dropped: a payload's own `Drop` may panic too (the hook above has
        // its message).
        std::mem::forget(payload);
        slot.state.store(INIT_FAILED, SeqCst);
        eprintln!(
            "pool worker initializer panicked: {}",
            LAST_PANIC.with(|p| p.borrow().clone())
        );
        return 1;
    }
    slot.state.store(RUNNING, SeqCst);
    let mut done = 0u64;
    loop {
        let too_big = || {
            setup.max_memory != 0
                && crate::sys::info::rss_bytes().is_some_and(|rss| rss > setup.max_memory)
        };
        if (setup.max_tasks != 0 && done >= setup.max_tasks) || (done > 0 && too_big()) {
            slot.state.store(RETIRED, SeqCst);
            return 0;
        }
        // Record the task in our slot while it is still in the queue: if we die, the
        // server knows which task to report.
        let taken = setup.tasks.get_with(None, |bytes| {
            let msg: Option<TaskMsg> = decode(bytes).ok();
            if let Some(m) = &msg {
                slot.task.store(m.id, SeqCst);
            }
            msg
        });
        let msg = match taken {
            Ok(Some(msg)) => msg,
            _ => return 1,
        };
        if msg.id == 0 {
            slot.state.store(STOPPED, SeqCst);
            return 0;
        }
        // Cancelled while queued: skip it (its call has settled already; nothing to report).
        if setup
            .slots
            .get()
            .skip
            .iter()
            .any(|s| s.load(SeqCst) == msg.id)
        {
            slot.task.store(0, SeqCst);
            continue;
        }
        // A time limit: record the deadline (after the task, see `Slot::deadline`) and wake
        // the server, whose sleep may have been computed before it, so it is never missed.
        // Only while the server is our parent: then the pid is still the server's.
        if msg.timeout != 0
            && let Some(at) = nanos_after(msg.timeout)
        {
            slot.deadline.store(at.max(1), SeqCst);
            if nix::unistd::getppid() == server {
                let _ = nix::sys::signal::kill(server, Signal::SIGUSR1);
            }
        }
        let (call, func) = (address(msg.call), address(msg.func));
        // SAFETY: `msg.call` is the offset of a `Trampoline` of this executable file:
        // `Pool::send_chunk` took it from one (checked to lie in the executable for a
        // forkserver or spawn pool, whose server runs the same file: the start request
        // checks its device and inode), and only the pool's processes can write the task
        // queue (it is private: never registered, so no message can name it).
        let call: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(call) };
        let outcome = match catch_unwind(AssertUnwindSafe(|| call(func, &msg.args))) {
            Ok(Ok(value)) => Outcome::Done { id: msg.id, value },
            Ok(Err(message)) => Outcome::Codec {
                id: msg.id,
                message,
            },
            Err(payload) => {
                // Leaked, never dropped: a payload whose `Drop` panics would end the worker
                // and turn the task's panic into a dead worker (the hook has its message).
                std::mem::forget(payload);
                Outcome::Panicked {
                    id: msg.id,
                    message: LAST_PANIC.with(|p| p.borrow().clone()),
                }
            }
        };
        slot.deadline.store(0, SeqCst);
        if setup.results.put_value(&outcome, None).is_err() {
            return 1;
        }
        slot.task.store(0, SeqCst);
        done += 1;
    }
}
