//! `Pool`: Python's `multiprocessing.Pool`, a fixed set of worker processes that run
//! functions on your data: `map`, `starmap`, `imap`, `imap_unordered`, `apply` and their
//! `_async` forms.
//!
//! How it works: creating the pool starts a small server process, which forks the workers
//! (`server.rs`). With the default start method the server is a fork of the caller; with
//! [`PoolBuilder::start_method`] `ForkServer` or `Spawn` it is a child of the start server
//! (see [`crate::start`]), which receives the pool's private queues as memfds, so a pool
//! can be built from a program that runs threads. Tasks travel on a shared [`Queue`](crate::Queue)-style buffer as a
//! function address plus serialised arguments (`task.rs`); outcomes come back on another.
//! There is no thread in the owner: results are collected by whoever waits for them
//! (`result.rs`; one waiting thread at a time, the others sleep until it files what they
//! wait for), and filed in the pool's book of calls (`jobs.rs`, pure data). Every call
//! is written once, for `Pool` and for the [`Chunked`] view that carries options
//! (`calls.rs`).
//!
//! Differences from Python:
//! - A task is a `fn` (or a closure that captures nothing) with serde arguments and result.
//!   Shared objects created *before* a fork pool (`Event`, `Value`, `Queue`, ...) can be
//!   passed as arguments; Python needs a `Manager` for that. A forkserver or spawn pool's
//!   workers have the objects given to [`PoolBuilder::share`] (Python: `initargs`).
//! - `chunksize` is set with [`Pool::chunksize`]: `pool.chunksize(3).map(f, xs)`. Defaults
//!   are Python's: `ceil(len / (4 * processes))` for `map`/`starmap`, 1 for `imap`.
//! - `imap` and `imap_unordered` stream: they read the input lazily, keeping at most
//!   [`Pool::in_flight`] chunks sent and not yet handed over, so an input of any length,
//!   endless ones included, runs in bounded memory. Python's feeder thread reads the whole
//!   input as fast as it can.
//! - A task that panics gives its caller `Error::TaskPanicked` with the panic's message and
//!   location; the worker survives and the pool stays usable.
//! - A worker that dies (killed, aborted, crashed) is reported by the server at once, and
//!   the waiting caller sees it within about 100 ms: the task it was running fails with
//!   `Error::WorkerDied`, and with it the call that task
//!   belongs to (a whole `map`, say). Other calls are unaffected: the server starts a
//!   replacement worker, and the pool stays usable. Tasks still queued are run by the
//!   remaining and replacement workers. Python's `Pool` hangs for ever here;
//!   `ProcessPoolExecutor` breaks the whole executor (`BrokenProcessPool`).
//! - A call can limit how long each of its tasks runs: `pool.timeout(d).map(f, xs)`
//!   ([`Pool::timeout`]). A task (a chunk) past its limit is *stopped*: the server kills its
//!   worker and starts a replacement, and the call fails with `Error::TimedOut`; other calls
//!   and the pool go on. [`AsyncResult::cancel`] stops a running task the same way
//!   (`Error::Cancelled`), and a worker skips a cancelled task it takes from the queue.
//!   Python's `Pool`, `concurrent.futures`, loky and joblib time out only the *wait* for a
//!   result, and `Future.cancel` cannot stop a running task.
//! - If the server itself dies, every pending task fails within about 100 ms and the pool
//!   refuses new work.
//! - A task's `log::info!` (any record of the [`log`] crate) reaches the logger the owner
//!   installed (`env_logger`, [`LogConfig`](crate::logging::LogConfig), ...). A fork pool's
//!   workers inherit that logger and write through it themselves. A forkserver or spawn
//!   pool's workers, which run a re-executed image with no logger, send each record to the
//!   owner on the result queue (unless the program installed a logger before
//!   [`start::init`](crate::start::init), which its workers then use), and the owner logs it
//!   with its level and target and the worker's name and pid as the key-values
//!   [`logging::WORKER`](crate::logging::WORKER) (`ForkServerPoolWorker-3`) and
//!   [`logging::WORKER_PID`](crate::logging::WORKER_PID); a `LogConfig` writes it as the
//!   worker's own line. Levels above the owner's `log::max_level()` when the pool was built
//!   are never formatted in the workers, and a message longer than 64 KiB arrives cut, with
//!   a marker. The owner has no thread: records are logged by whoever waits on the pool (a
//!   call's `get`, `map`, `wait_any`, ...), so those sent while nobody waits are logged at
//!   the next wait, and [`Pool::join`] and dropping the pool log the ones left. Python's
//!   twin is `multiprocessing.get_logger()` / `log_to_stderr()`, a logger each process
//!   writes to stderr itself; CPython's spawn and forkserver workers lose the parent's
//!   `logging` configuration too, and nothing carries their records back.
//! - Dropping a pool terminates it, as leaving Python's `with Pool() as p:` block does;
//!   `close()` then `join()` lets queued work finish first.
//! - The pool belongs to the process that created it. Its threads may share it
//!   (`Pool` is `Send + Sync`: put it in an `Arc`): still no thread of the pool's own. One
//!   waiting thread at a time takes outcomes off the result queue and files them; the
//!   others sleep on a condition variable until something they wait for is filed, so a
//!   result is handed to its waiter as soon as it comes, whoever collected it.

mod builder;
mod calls;
mod collect;
mod jobs;
mod result;
#[allow(unsafe_code)]
mod server;
#[allow(unsafe_code)]
mod task;

pub use builder::PoolBuilder;
pub use calls::{Chunked, default_chunksize};
pub use result::{AsyncResult, ImapIter};

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::queue::buffer::RawQueue;
use crate::shm::Shm;
use crate::start::StartMethod;
use crate::start::identity::offset_unchecked;
pub(crate) use collect::lock;
use collect::{Book, Handler};
use server::{ServerProcess, Slots};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use task::{Outcome, TaskRef, Trampoline};

/// How long one wait on the result queue lasts before the owner checks the server is alive.
const POLL: Duration = Duration::from_millis(100);

/// A pool of worker processes (Python: `multiprocessing.Pool`). See the module docs for
/// how it works and how it differs from Python's.
///
/// Python names: `Pool(processes)` is [`Pool::new`] (keyword arguments:
/// [`Pool::builder`]); `apply`, `apply_async`, `map`, `map_async`, `starmap`,
/// `starmap_async`, `imap`, `imap_unordered`, `close`, `terminate` and `join` keep their
/// names; the `chunksize` argument is [`Pool::chunksize`]; `with Pool() as p:` is a scope
/// (dropping the pool terminates it). Python's results are exceptions or values; here
/// every call returns a [`Result`].
///
/// ```
/// use multiproc::Pool;
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(square, 0..5)?, [0, 1, 4, 9, 16]);
/// assert_eq!(pool.chunksize(2).map(|x: u64| x + 1, 0..3)?, [1, 2, 3]);
/// pool.close()?;
/// pool.join()?;
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct Pool {
    processes: usize,
    method: StartMethod,
    /// The objects of [`PoolBuilder::share`], kept alive for the pool's life.
    _shared: Option<Box<dyn std::any::Any + Send + Sync>>,
    /// Functions already checked to lie in the executable (served pools only).
    checked: Mutex<Vec<usize>>,
    tasks: Arc<RawQueue>,
    results: Arc<RawQueue>,
    slots: Arc<Shm<Slots>>,
    /// Where the next cancelled task's id goes in the ring `Slots::skip`.
    skip_next: AtomicUsize,
    server: Mutex<ServerProcess>,
    /// Every call and what came back for it, and who is collecting.
    book: Mutex<Book>,
    /// Signalled whenever something is filed in the book, and when its collector leaves.
    filed: Condvar,
    /// Whether one of the waiting threads is taking outcomes off the result queue now (set
    /// and cleared under the book's lock; see `collect.rs`).
    collecting: AtomicBool,
    /// What to do with a job's result the moment it settles (an executor's future, a
    /// call's callbacks), by job.
    handlers: Mutex<HashMap<u64, Handler>>,
    owner: u32,
}

impl Pool {
    /// A pool of `processes` workers (Python: `Pool(processes)`; Python's `None`, the CPU
    /// count, is [`Pool::builder`] without `processes`). Like [`PoolBuilder::build`], an
    /// error while other threads run.
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// All the options (Python's keyword arguments).
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Number of workers.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// How the pool's server was started ([`PoolBuilder::start_method`]).
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Wait until an outcome of any call comes in (a result, a failure, a dead worker) or
    /// a [`PoolWaker`] of this pool wakes it, at most `timeout` (`None`: no limit); whether
    /// anything came. Then [`AsyncResult::ready`] says which results are in. For an owner
    /// that serves another source too (requests from other threads, which call
    /// [`PoolWaker::wake`] after each): it sleeps until either needs it, never polling.
    /// Python has no counterpart (`concurrent.futures.wait(..., FIRST_COMPLETED)` comes
    /// closest). A wake-up given while nobody waits is kept: the next `wait_any` returns at
    /// once.
    pub fn wait_any(&self, timeout: Option<Duration>) -> bool {
        if self.owner_only().is_err() {
            return false;
        }
        let deadline = Deadline::from_timeout(timeout);
        let start = self.book().filings;
        self.wait_for(
            deadline.as_ref(),
            |b| (b.filings != start).then_some(()),
            |_| 1,
        )
        .is_some()
    }

    /// A handle that wakes this pool's owner from [`Pool::wait_any`], from any thread
    /// (`Send + Sync`, cloneable).
    pub fn waker(&self) -> PoolWaker {
        PoolWaker {
            results: self.results.clone(),
        }
    }

    /// The workers' pids now (a worker replaced since has a new pid).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.slots.get().slots[..self.processes]
            .iter()
            .map(|s| s.pid.load(SeqCst))
            .filter(|&p| p != 0)
            .collect()
    }

    // ----- lifecycle ----------------------------------------------------------------

    fn owner_only(&self) -> Result<()> {
        if std::process::id() != self.owner {
            return Err(Error::invalid(
                InvalidKind::NotOwner,
                "a Pool can only be used by the process that created it",
            ));
        }
        Ok(())
    }

    /// No more tasks; the workers finish what is queued, then exit (Python: `close()`).
    /// Calls made after it fail with `Error::Invalid`; an `imap` still reading its input
    /// stops reading it and ends with that error after the results of what it sent.
    #[doc(alias = "Pool.close")]
    pub fn close(&self) -> Result<()> {
        self.owner_only()?;
        if !self.book().jobs.close() {
            return Ok(());
        }
        for _ in 0..self.processes {
            self.tasks.put_value(&TaskRef::stop(), None)?;
        }
        Ok(())
    }

    /// Stop every worker now; calls not finished fail with `Error::Closed`
    /// (Python: `terminate()`, whose unfinished results never arrive).
    #[doc(alias = "Pool.terminate")]
    pub fn terminate(&self) -> Result<()> {
        self.owner_only()?;
        if !self.book().jobs.terminate() {
            return Ok(());
        }
        let mut server = self.server();
        server.terminate()?;
        if server.join_timeout(Duration::from_secs(5))?.is_none() {
            server.kill()?;
            server.join()?;
        }
        drop(server);
        self.book().jobs.fail_pending(|| Error::Closed);
        self.filed.notify_all();
        self.dispatch();
        // Log the records the workers sent before they were stopped; with nothing pending
        // any more, the other outcomes filed are discarded.
        self.drain();
        Ok(())
    }

    /// Wait for the workers to exit; `close` or `terminate` first (Python: `join()`;
    /// joining an open pool is `Error::Invalid` where Python raises `ValueError`).
    #[doc(alias = "Pool.join")]
    pub fn join(&self) -> Result<()> {
        self.owner_only()?;
        if !self.book().jobs.is_closed() {
            return Err(Error::invalid(
                InvalidKind::PoolOpen,
                "close() or terminate() the pool before join()",
            ));
        }
        self.server().join()?;
        // The workers have ended: log the records they sent that nobody waited for.
        self.drain();
        Ok(())
    }

    // ----- what results.rs and calls.rs use -----------------------------------------

    /// An error unless a new call may start: this is the owner, and the pool is open and
    /// not broken.
    fn usable(&self) -> Result<()> {
        self.owner_only()?;
        match self.book().jobs.refusal() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Add the next chunk of `job` and queue it as a task. If the queue refuses it, the
    /// chunk fails with the queue's error and this returns false.
    /// `timeout` limits how long the task may run (`None`: no limit).
    fn send_chunk(
        &self,
        job: u64,
        call: Trampoline,
        func: usize,
        args: &[u8],
        timeout: Option<Duration>,
    ) -> bool {
        let id = self.book().jobs.add_chunk(job);
        if let Err(e) = self
            .check_function(call as usize)
            .and(self.check_function(func))
        {
            self.book().jobs.unsent(id, e);
            return false;
        }
        let msg = TaskRef {
            id,
            call: offset_unchecked(call as usize),
            func: offset_unchecked(func),
            timeout: limit_nanos(timeout),
            args,
        };
        {
            let mut book = self.book();
            if book.jobs.retrying() {
                let task = jobs::Resend {
                    call: msg.call,
                    func: msg.func,
                    timeout: msg.timeout,
                    args: args.to_vec(),
                    attempts: 0,
                };
                book.jobs.keep(id, task);
            }
        }
        match self.tasks.put_value(&msg, None) {
            Ok(()) => true,
            Err(e) => {
                self.book().jobs.unsent(id, e);
                false
            }
        }
    }

    /// Send again the tasks whose workers died and that have retries left, under their
    /// own ids (a replacement worker, or another, takes them).
    fn resend(&self) {
        let again = self.book().jobs.take_resends();
        for (id, task) in again {
            let msg = TaskRef {
                id,
                call: task.call,
                func: task.func,
                timeout: task.timeout,
                args: &task.args,
            };
            let sent = self.tasks.put_value(&msg, None);
            let mut book = self.book();
            match sent {
                Ok(()) => book.jobs.keep(id, task),
                Err(e) => book.jobs.unsent(id, e),
            }
        }
    }

    /// A served pool's workers run a re-executed image: a function reaches them as its
    /// offset in the executable, so it must lie in it (not in a shared library). Checked
    /// once per function.
    fn check_function(&self, addr: usize) -> Result<()> {
        if self.method == StartMethod::Fork || lock(&self.checked).contains(&addr) {
            return Ok(());
        }
        crate::start::identity::offset_of(addr)?;
        lock(&self.checked).push(addr);
        Ok(())
    }

    fn server(&self) -> MutexGuard<'_, ServerProcess> {
        lock(&self.server)
    }

    /// Cancel `job` unless its result is filed (outcomes already queued are filed first,
    /// so a result that came in wins); whether it was cancelled. Its tasks that run now are
    /// stopped: their slots' `cancel` words name them and the server is woken to kill
    /// their workers. A task still queued is skipped by the worker that takes it, if it is
    /// among the last `SKIPPED` cancelled; an older one may still run, and what it returns
    /// is discarded.
    pub(crate) fn cancel_job(&self, job: u64) -> bool {
        if self.owner_only().is_err() {
            return false;
        }
        self.drain();
        let mut book = self.book();
        let Some(ids) = book.jobs.cancel(job) else {
            return false;
        };
        book.filings += 1;
        let terminated = book.jobs.is_terminated();
        let shared = self.slots.get();
        // First the ids for the workers to skip, then the running tasks (see `Slots::skip`).
        for &id in &ids {
            let at = self.skip_next.fetch_add(1, SeqCst);
            shared.skip[at % server::SKIPPED].store(id, SeqCst);
        }
        drop(book);
        self.filed.notify_all();
        self.dispatch();
        let mut running = false;
        for slot in &shared.slots[..self.processes] {
            let task = slot.task.load(SeqCst);
            if task != 0 && ids.contains(&task) {
                slot.cancel.store(task, SeqCst);
                running = true;
            }
        }
        if running && !terminated {
            // A server that has ended has no worker left running the task.
            let _ = self.server().wake();
        }
        true
    }

    /// Wait until `job` is settled or `deadline` passes; whether it is settled.
    pub(crate) fn wait_for_job(&self, job: u64, deadline: Option<Deadline>) -> bool {
        self.wait_for(
            deadline.as_ref(),
            |b| b.jobs.settled(job).then_some(()),
            |b| b.jobs.missing(job),
        )
        .is_some()
    }

    // ----- what the executor uses ---------------------------------------------------

    /// Whether a worker is running a task of `job` now.
    pub(crate) fn running(&self, job: u64) -> bool {
        let ids = self.book().jobs.pending_ids(job);
        !ids.is_empty()
            && self.slots.get().slots[..self.processes]
                .iter()
                .any(|s| ids.contains(&s.task.load(SeqCst)))
    }

    /// Wait for chunk `want` of `job` (`None`: any chunk) and hand it over with its index:
    /// outer error if the job is gone, inner result the chunk's.
    #[allow(clippy::type_complexity)]
    fn wait_for_chunk(&self, job: u64, want: Option<usize>) -> Result<(usize, Result<Vec<u8>>)> {
        self.wait_for(None, |b| b.jobs.take_chunk(job, want).transpose(), |_| 1)
            .expect("no deadline")
    }
}

/// A task's time limit as `TaskRef::timeout` carries it: nanoseconds, 0 for none. A limit
/// past the horizon of deadlines is none; a zero limit is the shortest one, 1 ns.
fn limit_nanos(timeout: Option<Duration>) -> u64 {
    match timeout {
        Some(d) if d <= crate::deadline::HORIZON => u64::try_from(d.as_nanos()).unwrap_or(0).max(1),
        _ => 0,
    }
}

/// Wakes a pool's owner from [`Pool::wait_any`] ([`Pool::waker`]). It holds the pool's
/// result queue: a wake-up is one empty message on it, kept until the owner takes it.
#[derive(Clone)]
pub struct PoolWaker {
    results: Arc<RawQueue>,
}

impl PoolWaker {
    /// Wake the owner's current or next [`Pool::wait_any`].
    pub fn wake(&self) -> Result<()> {
        self.results.put_value(&Outcome::Wake, None)
    }
}

impl fmt::Debug for PoolWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolWaker").finish_non_exhaustive()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Forked children carry a copy of the pool; only its owner stops it.
        if std::process::id() == self.owner {
            let _ = self.terminate();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let book = self.book();
        let jobs = &book.jobs;
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("pending_tasks", &jobs.pending_tasks())
            .field("closed", &jobs.is_closed())
            .field("terminated", &jobs.is_terminated())
            .finish()
    }
}
