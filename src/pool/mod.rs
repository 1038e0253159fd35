//! `Pool`: Python's `multiprocessing.Pool`, a fixed set of worker processes that run
//! functions on your data: `map`, `starmap`, `imap`, `imap_unordered`, `apply` and their
//! `_async` forms.
//!
//! How it works: creating the pool forks a small server process, which forks the workers
//! (see `src/pool/server.rs`). Tasks travel on a shared [`Queue`](crate::Queue)-style buffer as a
//! function address plus serialised arguments (see `src/pool/task.rs`); outcomes come back on
//! another. There is no thread in the owner: results are collected by whoever waits for
//! them.
//!
//! Differences from Python:
//! - A task is a `fn` (or a closure that captures nothing) with serde arguments and result.
//!   Shared objects created *before* the pool (`Event`, `Value`, `Queue`, ...) can be
//!   passed as arguments; Python needs a `Manager` for that.
//! - `chunksize` is set with [`Pool::chunksize`]: `pool.chunksize(3).map(f, xs)`. Defaults
//!   are Python's: `ceil(len / (4 * processes))` for `map`/`starmap`, 1 for `imap`.
//! - A task that panics gives its caller `Error::TaskPanicked` with the panic's message and
//!   location; the worker survives and the pool stays usable.
//! - A worker that dies (killed, aborted, crashed) is reported by the server at once, and
//!   the waiting caller sees it within about 100 ms: the task it was running fails with
//!   `Error::WorkerDied`, and with it the call that task
//!   belongs to (a whole `map`, say). Other calls are unaffected: the server starts a
//!   replacement worker, and the pool stays usable. Tasks still queued are run by the
//!   remaining and replacement workers. Python's `Pool` hangs for ever here;
//!   `ProcessPoolExecutor` breaks the whole executor (`BrokenProcessPool`).
//! - If the server itself dies, every pending task fails within about 100 ms and the pool
//!   refuses new work.
//! - Dropping a pool terminates it, as leaving Python's `with Pool() as p:` block does;
//!   `close()` then `join()` lets queued work finish first.
//! - The pool belongs to the process that created it and is not shared between threads
//!   (it is neither `Send` nor `Sync`).

mod result;
mod server;
mod task;

pub use result::{AsyncResult, ImapIter};

use crate::codec::encode;
use crate::error::{Error, Result};
use crate::process::Process;
use crate::queue::buffer::RawQueue;
use crate::shm::Shm;
use result::{Chunk, Job, assemble_all, assemble_one};
use serde::Serialize;
use serde::de::DeserializeOwned;
use server::{MAX_WORKERS, Slots, WorkerSetup};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use task::{Outcome, TaskRef, Trampoline};

use crate::deadline::Deadline;

/// How long one wait on the result queue lasts before the owner checks the server is alive.
const POLL: Duration = Duration::from_millis(100);

/// Builds a [`Pool`] (Python: `Pool(processes, initializer, initargs, maxtasksperchild)`).
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Box<dyn Fn()>>,
    max_tasks: u64,
}

impl PoolBuilder {
    /// Number of workers; default: [`cpu::default_pool_size`](crate::cpu::default_pool_size),
    /// the CPUs this process may use (Python: `os.cpu_count()`, which ignores affinity).
    /// Zero is an error at `build`.
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// Run `init` once in every worker when it starts, replacements included (Python:
    /// `initializer`, `initargs`: capture the arguments). It runs in the worker, so it may
    /// capture anything. If it panics the pool is broken: pending and later calls fail.
    pub fn initializer(mut self, init: impl Fn() + 'static) -> PoolBuilder {
        self.initializer = Some(Box::new(init));
        self
    }

    /// Replace each worker after it has run `n` tasks (Python: `maxtasksperchild`);
    /// 0 means never.
    pub fn maxtasksperchild(mut self, n: u64) -> PoolBuilder {
        self.max_tasks = n;
        self
    }

    /// Fork the server and the workers. `fork` is only safe from a single-threaded
    /// program: while other threads run this fails with
    /// [`Error::Threaded`] and forks nothing. Create pools before
    /// starting threads (or join them first); once built, the pool's owner may start
    /// threads, since later forks (replacement workers) happen in the single-threaded
    /// server.
    pub fn build(self) -> Result<Pool> {
        crate::process::ensure_single_threaded()?;
        // SAFETY: this thread is the process's only one (checked just above).
        unsafe { self.build_unchecked() }
    }

    /// [`PoolBuilder::build`] without the check that this is the only thread.
    ///
    /// # Safety
    ///
    /// The same as [`Process::start_unchecked`]'s: no other thread may hold, or be
    /// taking, a lock the pool's server or workers will take (the allocator's, stdout's,
    /// the initializer's, ...) at the moment of the fork.
    pub unsafe fn build_unchecked(self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(crate::cpu::default_pool_size);
        if processes == 0 {
            return Err(Error::Invalid("a pool needs at least one process".into()));
        }
        if processes > MAX_WORKERS {
            return Err(Error::Invalid(format!(
                "a pool has at most {MAX_WORKERS} processes"
            )));
        }
        // Private: plain `Arc`s, never registered, so they have no serde form and no id a
        // message could name.
        let tasks = Arc::new(RawQueue::new(0)?);
        let results = Arc::new(RawQueue::new(0)?);
        let slots = Arc::new(Shm::<Slots>::new(|_| {}));
        let started = crate::event::Event::new();
        let setup = WorkerSetup {
            tasks: tasks.clone(),
            results: results.clone(),
            slots: slots.clone(),
            initializer: self.initializer,
            max_tasks: self.max_tasks,
            started: started.clone(),
        };
        let mut server =
            Process::new(move || server::serve(setup, processes)).name("ForkPoolServer");
        // SAFETY: `build_unchecked`'s caller guarantees the precondition.
        unsafe { server.start_unchecked() }?;
        // Python's Pool() returns with its workers started; so does this.
        while !started.wait_timeout(POLL) {
            if let Some(code) = server.exitcode() {
                return Err(Error::Invalid(format!(
                    "the pool's server process exited (code {code}) before starting its workers"
                )));
            }
        }
        if let Some(code) = server.join_timeout(Duration::ZERO)? {
            return Err(Error::Invalid(format!(
                "the pool's server could not start its workers (exit code {code})"
            )));
        }
        Ok(Pool {
            processes,
            tasks,
            results,
            slots,
            server: RefCell::new(server),
            state: RefCell::new(State::default()),
            owner: std::process::id(),
        })
    }
}

#[derive(Default)]
struct State {
    next_task: u64,
    next_job: u64,
    jobs: HashMap<u64, Job>,
    /// Task id -> (job, chunk index), for tasks not settled yet.
    tasks: HashMap<u64, (u64, usize)>,
    closed: bool,
    terminated: bool,
    broken: Option<String>,
}

/// A pool of worker processes (Python: `multiprocessing.Pool`). See the module docs.
///
/// ```no_run
/// use multiproc::Pool;
/// fn square(x: u64) -> u64 { x * x }
/// let pool = Pool::new(2).unwrap();
/// assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
/// assert_eq!(pool.chunksize(2).map(|x: u64| x + 1, 0..3).unwrap(), [1, 2, 3]);
/// ```
pub struct Pool {
    processes: usize,
    tasks: Arc<RawQueue>,
    results: Arc<RawQueue>,
    slots: Arc<Shm<Slots>>,
    server: RefCell<Process>,
    state: RefCell<State>,
    owner: u32,
}

/// Python's default `map` chunksize: `ceil(n / (4 * processes))`, at least 1.
pub fn default_chunksize(items: usize, processes: usize) -> usize {
    items.div_ceil(4 * processes.max(1)).max(1)
}

/// A view of a pool that submits with a given chunksize: `pool.chunksize(3).map(f, xs)`.
pub struct Chunked<'p> {
    pool: &'p Pool,
    /// `None`: each call's Python default.
    size: Option<usize>,
}

impl Pool {
    /// A pool of `processes` workers (Python: `Pool(processes)`). Like
    /// [`PoolBuilder::build`], an error while other threads run.
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

    /// The workers' pids now (a worker replaced since has a new pid).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.slots.get().slots[..self.processes]
            .iter()
            .map(|s| s.pid.load(SeqCst))
            .filter(|&p| p != 0)
            .collect()
    }

    /// Submit with this chunksize (Python: the `chunksize` argument): `chunksize(3)`, or
    /// `chunksize(None)` for each call's default, as Python's `chunksize=None` (handy when
    /// the size is an option: `pool.chunksize(args.chunksize).map(f, xs)`).
    pub fn chunksize(&self, size: impl Into<Option<usize>>) -> Chunked<'_> {
        Chunked {
            pool: self,
            size: size.into(),
        }
    }

    // ----- submitting ---------------------------------------------------------------

    fn usable(&self) -> Result<()> {
        if std::process::id() != self.owner {
            return Err(Error::Invalid(
                "a Pool can only be used by the process that created it".into(),
            ));
        }
        let st = self.state.borrow();
        if let Some(reason) = &st.broken {
            return Err(Error::WorkerDied(format!("the pool is broken: {reason}")));
        }
        if st.closed || st.terminated {
            return Err(Error::Invalid("the pool is closed".into()));
        }
        Ok(())
    }

    /// Queue one task per chunk; the job's id.
    fn submit(&self, call: Trampoline, func: usize, chunks: Vec<Vec<u8>>) -> Result<u64> {
        self.usable()?;
        let mut st = self.state.borrow_mut();
        st.next_job += 1;
        let job = st.next_job;
        st.jobs.insert(
            job,
            Job {
                chunks: (0..chunks.len()).map(|_| Chunk::Pending).collect(),
                taken: None,
                task_ids: Vec::with_capacity(chunks.len()),
            },
        );
        for (i, args) in chunks.into_iter().enumerate() {
            st.next_task += 1;
            let id = st.next_task;
            st.tasks.insert(id, (job, i));
            st.jobs
                .get_mut(&job)
                .expect("just inserted")
                .task_ids
                .push(id);
            let msg = TaskRef {
                id,
                call: call as usize,
                func,
                args: &args,
            };
            self.tasks.put_value(&msg, None)?;
        }
        Ok(job)
    }

    fn chunks<A: Serialize>(items: Vec<A>, size: usize) -> Result<Vec<Vec<u8>>> {
        if size == 0 {
            return Err(Error::Invalid("chunksize must be at least 1".into()));
        }
        items.chunks(size).map(encode).collect()
    }

    fn map_job<A, R>(&self, f: fn(A) -> R, items: Vec<A>, size: Option<usize>) -> Result<u64>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let size = size.unwrap_or_else(|| default_chunksize(items.len(), self.processes));
        let call: Trampoline = task::map_call::<A, R>;
        self.submit(call, f as usize, Self::chunks(items, size)?)
    }

    fn starmap_job<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: Vec<(A, B)>,
        size: Option<usize>,
    ) -> Result<u64>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let size = size.unwrap_or_else(|| default_chunksize(items.len(), self.processes));
        let call: Trampoline = task::starmap_call::<A, B, R>;
        self.submit(call, f as usize, Self::chunks(items, size)?)
    }

    fn imap_job<A, R>(
        &self,
        f: fn(A) -> R,
        items: Vec<A>,
        size: usize,
        ordered: bool,
    ) -> Result<ImapIter<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let chunks = Self::chunks(items, size)?;
        let n = chunks.len();
        let call: Trampoline = task::map_call::<A, R>;
        let job = self.submit(call, f as usize, chunks)?;
        Ok(ImapIter::new(self, job, n, ordered))
    }

    /// Call `f(arg)` in a worker and wait for the result (Python: `apply(f, (arg,))`).
    /// For several arguments, take a tuple.
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Start `f(arg)` in a worker (Python: `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call: Trampoline = task::apply_call::<A, R>;
        let job = self.submit(call, f as usize, vec![encode(&arg)?])?;
        Ok(AsyncResult::new(self, job, assemble_one::<R>))
    }

    /// `f` over every item, results in input order (Python: `map`).
    ///
    /// Which functions can be sent: `f` travels to the workers as an address in the
    /// program image, so it must be code that was present when the pool was built: a `fn`
    /// item or a closure that captures nothing (a capturing closure does not coerce to
    /// `fn`). Not code loaded later with `dlopen`: the workers, forked earlier, do not have
    /// it mapped. The same holds for every call that takes a `fn` (`apply`, `starmap`,
    /// `imap`, ...).
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Result<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).map(f, items)
    }

    /// Start a `map` (Python: `map_async`).
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<'_, Vec<R>>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).map_async(f, items)
    }

    /// `f(a, b)` for every pair, results in input order (Python: `starmap`).
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).starmap(f, items)
    }

    /// Start a `starmap` (Python: `starmap_async`).
    pub fn starmap_async<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<AsyncResult<'_, Vec<R>>>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).starmap_async(f, items)
    }

    /// Results of `f` over the items as an iterator, in input order (Python: `imap`;
    /// chunksize 1 unless set).
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ImapIter<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).imap(f, items)
    }

    /// As `imap`, yielding results as they complete (Python: `imap_unordered`).
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ImapIter<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunksize(None).imap_unordered(f, items)
    }

    // ----- lifecycle ----------------------------------------------------------------

    fn owner_only(&self) -> Result<()> {
        if std::process::id() != self.owner {
            return Err(Error::Invalid(
                "a Pool can only be used by the process that created it".into(),
            ));
        }
        Ok(())
    }

    /// No more tasks; the workers finish what is queued, then exit (Python: `close()`).
    pub fn close(&self) -> Result<()> {
        self.owner_only()?;
        let mut st = self.state.borrow_mut();
        if st.closed || st.terminated {
            return Ok(());
        }
        st.closed = true;
        for _ in 0..self.processes {
            self.tasks.put_value(&TaskRef::stop(), None)?;
        }
        Ok(())
    }

    /// Stop every worker now; calls not finished fail with `Error::Closed`
    /// (Python: `terminate()`, whose unfinished results never arrive).
    pub fn terminate(&self) -> Result<()> {
        self.owner_only()?;
        {
            let mut st = self.state.borrow_mut();
            if st.terminated {
                return Ok(());
            }
            st.terminated = true;
            st.closed = true;
        }
        let mut server = self.server.borrow_mut();
        server.terminate()?;
        if server.join_timeout(Duration::from_secs(5))?.is_none() {
            server.kill()?;
            server.join()?;
        }
        drop(server);
        self.fail_pending(|| Error::Closed);
        Ok(())
    }

    /// Wait for the workers to exit; `close` or `terminate` first (Python: `join()`).
    pub fn join(&self) -> Result<()> {
        self.owner_only()?;
        if !self.state.borrow().closed {
            return Err(Error::Invalid(
                "close() or terminate() the pool before join()".into(),
            ));
        }
        self.server.borrow_mut().join()?;
        Ok(())
    }

    // ----- collecting results -------------------------------------------------------

    /// Move outcomes from the result queue into their jobs: wait up to `wait` for one
    /// (`None`: one POLL), then take whatever else is there. On a quiet queue, check that
    /// the server is still alive.
    pub(crate) fn collect(&self, wait: Option<Duration>) {
        self.collect_batch(1, wait)
    }

    /// As `collect`, but sleep until `batch` outcomes are queued (or `wait` passes): the
    /// owner is the result queue's only reader, and a job missing `batch` chunks cannot
    /// finish before that many outcomes arrive, so waking for each one would be wasted.
    fn collect_batch(&self, batch: u64, wait: Option<Duration>) {
        match self
            .results
            .get_value_once::<Outcome>(batch, Some(wait.unwrap_or(POLL)))
        {
            Ok(outcome) => {
                self.file(outcome);
                while let Ok(outcome) = self.results.get_value(Some(Duration::ZERO)) {
                    self.file(outcome);
                }
            }
            Err(Error::Empty) => self.check_server(),
            Err(_) => {}
        }
    }

    fn file(&self, outcome: Outcome) {
        match outcome {
            Outcome::Done { id, value } => self.settle(id, Chunk::Done(value)),
            Outcome::Panicked { id, message } => {
                self.settle(id, Chunk::Failed(Error::TaskPanicked(message)))
            }
            Outcome::Codec { id, message } => self.settle(id, Chunk::Failed(Error::Codec(message))),
            Outcome::WorkerDied { id, what } => {
                self.settle(id, Chunk::Failed(Error::WorkerDied(what)))
            }
            Outcome::Broken { reason } => {
                self.state.borrow_mut().broken = Some(reason.clone());
                self.fail_pending(|| Error::WorkerDied(format!("the pool is broken: {reason}")));
            }
        }
    }

    fn settle(&self, id: u64, chunk: Chunk) {
        let mut st = self.state.borrow_mut();
        let Some((job, i)) = st.tasks.remove(&id) else {
            return; // settled already (e.g. reported dead, then run elsewhere) or forgotten
        };
        if let Some(j) = st.jobs.get_mut(&job)
            && matches!(j.chunks[i], Chunk::Pending)
        {
            j.chunks[i] = chunk;
        }
    }

    fn fail_pending(&self, error: impl Fn() -> Error) {
        let mut st = self.state.borrow_mut();
        let pending: Vec<(u64, usize)> = st.tasks.drain().map(|(_, v)| v).collect();
        for (job, i) in pending {
            if let Some(j) = st.jobs.get_mut(&job)
                && matches!(j.chunks[i], Chunk::Pending)
            {
                j.chunks[i] = Chunk::Failed(error());
            }
        }
    }

    /// If the server has ended although we did not terminate it, nothing pending can
    /// complete: collect what did, fail the rest, refuse new work.
    fn check_server(&self) {
        if self.state.borrow().tasks.is_empty() {
            return;
        }
        let Some(code) = self.server.borrow_mut().exitcode() else {
            return;
        };
        while let Ok(outcome) = self.results.get_value(Some(Duration::ZERO)) {
            self.file(outcome);
        }
        if self.state.borrow().tasks.is_empty() {
            return;
        }
        let reason = format!("the pool's server process ended (exit code {code})");
        self.state.borrow_mut().broken = Some(reason.clone());
        self.fail_pending(|| Error::WorkerDied(reason.clone()));
    }

    pub(crate) fn job_settled(&self, job: u64) -> bool {
        self.state.borrow().jobs.get(&job).is_none_or(Job::settled)
    }

    pub(crate) fn with_job<T>(&self, job: u64, f: impl FnOnce(&Job) -> T) -> Option<T> {
        self.state.borrow().jobs.get(&job).map(f)
    }

    /// Wait until `job` is settled or `deadline` passes; whether it is settled.
    pub(crate) fn wait_for_job(&self, job: u64, deadline: Option<Deadline>) -> bool {
        loop {
            if self.job_settled(job) {
                return true;
            }
            let slice = match &deadline {
                None => POLL,
                Some(d) if d.expired() => return false,
                Some(d) => d.remaining().min(POLL),
            };
            let missing = self.with_job(job, |j| {
                j.chunks
                    .iter()
                    .filter(|c| matches!(c, Chunk::Pending))
                    .count()
            });
            self.collect_batch(missing.unwrap_or(1) as u64, Some(slice));
        }
    }

    /// Hand over a settled job's results, or its first error. Only the outcome (success
    /// or not) stays behind.
    pub(crate) fn take_job(&self, job: u64) -> Result<Vec<Vec<u8>>> {
        let mut st = self.state.borrow_mut();
        let State { jobs, tasks, .. } = &mut *st;
        let j = jobs
            .get_mut(&job)
            .ok_or_else(|| Error::Invalid("the result was already taken".into()))?;
        if j.taken.is_some() {
            return Err(Error::Invalid("the result was already taken".into()));
        }
        for id in &j.task_ids {
            tasks.remove(id);
        }
        let failed = j.failed();
        j.taken = Some(!failed);
        let chunks = std::mem::take(&mut j.chunks);
        let mut parts = Vec::with_capacity(chunks.len());
        let mut first_error = None;
        for chunk in chunks {
            match chunk {
                Chunk::Done(bytes) => parts.push(bytes),
                Chunk::Failed(e) => {
                    first_error.get_or_insert(e);
                }
                Chunk::Pending | Chunk::Taken => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(parts),
        }
    }

    /// Wait for chunk `want` (or, with `None`, any finished chunk) of `job` and hand it
    /// over: outer error if the job is gone, inner result the chunk's.
    pub(crate) fn take_chunk(&self, job: u64, want: Option<usize>) -> Result<Result<Vec<u8>>> {
        loop {
            {
                let mut st = self.state.borrow_mut();
                let j = st
                    .jobs
                    .get_mut(&job)
                    .ok_or_else(|| Error::Invalid("the results were already taken".into()))?;
                let ready = |c: &Chunk| matches!(c, Chunk::Done(_) | Chunk::Failed(_));
                let found = match want {
                    Some(i) => ready(&j.chunks[i]).then_some(i),
                    None => j.chunks.iter().position(ready),
                };
                if let Some(i) = found {
                    return Ok(match std::mem::replace(&mut j.chunks[i], Chunk::Taken) {
                        Chunk::Done(bytes) => Ok(bytes),
                        Chunk::Failed(e) => Err(e),
                        _ => unreachable!("checked ready"),
                    });
                }
            }
            self.collect(None);
        }
    }

    /// Drop a job nobody will collect; its late outcomes are ignored.
    pub(crate) fn forget_job(&self, job: u64) {
        let mut st = self.state.borrow_mut();
        if let Some(j) = st.jobs.remove(&job) {
            for id in j.task_ids {
                st.tasks.remove(&id);
            }
        }
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
        let st = self.state.borrow();
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .field("pending_tasks", &st.tasks.len())
            .field("closed", &st.closed)
            .field("terminated", &st.terminated)
            .finish()
    }
}

impl<'p> Chunked<'p> {
    /// `Pool::map` with this chunksize.
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Result<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.map_async(f, items)?.get()
    }

    /// `Pool::map_async` with this chunksize.
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<'p, Vec<R>>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let job = self
            .pool
            .map_job(f, items.into_iter().collect(), self.size)?;
        Ok(AsyncResult::new(self.pool, job, assemble_all::<R>))
    }

    /// `Pool::starmap` with this chunksize.
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.starmap_async(f, items)?.get()
    }

    /// `Pool::starmap_async` with this chunksize.
    pub fn starmap_async<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<AsyncResult<'p, Vec<R>>>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let job = self
            .pool
            .starmap_job(f, items.into_iter().collect(), self.size)?;
        Ok(AsyncResult::new(self.pool, job, assemble_all::<R>))
    }

    /// `Pool::imap` with this chunksize.
    pub fn imap<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ImapIter<'p, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.pool
            .imap_job(f, items.into_iter().collect(), self.size.unwrap_or(1), true)
    }

    /// `Pool::imap_unordered` with this chunksize.
    pub fn imap_unordered<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ImapIter<'p, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.pool.imap_job(
            f,
            items.into_iter().collect(),
            self.size.unwrap_or(1),
            false,
        )
    }
}
