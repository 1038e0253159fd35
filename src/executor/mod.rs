//! `ProcessPoolExecutor`: Python's `concurrent.futures.ProcessPoolExecutor`, a pool of
//! worker processes shared by any number of threads and async tasks, whose [`Future`]s can
//! be waited for, `.await`ed, cancelled, timed out and given callbacks.
//!
//! ```
//! use multiproc::executor::{ProcessPoolExecutor, as_completed};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let executor = ProcessPoolExecutor::new(2)?;
//! let future = executor.submit(square, 7)?; // executor.submit(square, 7)
//! assert_eq!(future.result()?, 49); // future.result()
//! let squares: Vec<u64> = executor.map(square, 0..5)?.collect::<Result<_, _>>()?;
//! assert_eq!(squares, [0, 1, 4, 9, 16]); // list(executor.map(square, range(5)))
//! let futures: Vec<_> = (0..4).map(|x| executor.submit(square, x)).collect::<Result<_, _>>()?;
//! let mut total = 0;
//! for done in as_completed(futures) {
//!     total += done.result()?; // in the order they finish
//! }
//! assert_eq!(total, 0 + 1 + 4 + 9);
//! executor.shutdown(true, false)?; // executor.shutdown(wait=True)
//! # Ok::<(), multiproc::Error>(())
//! ```
//!
//! It is a [`Pool`] underneath (the same server, workers, start methods and
//! dead-worker reports; build one with [`PoolBuilder::build_executor`](crate::PoolBuilder::build_executor)),
//! behind a handle that is `Send + Sync + Clone`: clones share the one pool, and the last
//! one to go terminates it (unfinished futures resolve [`Error::Closed`](crate::Error::Closed)).
//!
//! # Threads
//! In a program that never awaits a future nor adds a callback, the executor starts no
//! thread: results are collected by whoever waits for them ([`Future::result`],
//! [`as_completed`], [`wait`]), so a single-threaded program can still fork
//! [`Process`](crate::Process)es and pools after creating one. The first `.await` that
//! finds its result not in yet, or the first [`Future::add_done_callback`] on a future not
//! done, starts one thread in this process, the executor's *collector*: it sleeps on the
//! result queue, hands each result to its future, wakes the task awaiting it and runs the
//! callbacks. It ends with the executor. (A `fork` pool's workers are forked by the pool's
//! server, never by this process, so the thread never stands beside a fork.)
//!
//! # Memory
//! Each outstanding future costs about 0.6 KiB in this process (its slot, its handler, its
//! entry in the pool's book, its task's bytes on the queue): 100,000 futures submitted and
//! not yet run measured 59 MiB. A future whose result is handed over keeps only its slot.
//!
//! # Differences from Python
//! - Tasks are `fn(A) -> R` with serde arguments and results, as for [`Pool`].
//! - A dead worker fails only the task it ran ([`Error::WorkerDied`](crate::Error::WorkerDied), signal named); the
//!   worker is replaced and the executor goes on. Python's breaks for good
//!   (`BrokenProcessPool`).
//! - [`Future::cancel`] stops a running task (its worker is killed and replaced); Python's
//!   cannot. [`ProcessPoolExecutor::timeout`] limits each task's run time and stops a task
//!   past it ([`Error::TimedOut`](crate::Error::TimedOut)); Python's timeouts only end the *wait*.
//! - A result is handed over once (`result` or `.await`); Python's futures keep it.
//! - `map` is lazy and bounded, as [`Pool::imap`](crate::Pool::imap): it reads its input as
//!   results are taken, never the whole of it at once.

mod future;
mod wait;

pub use future::Future;
pub use wait::{AsCompleted, NextCompleted, ReturnWhen, Waited, as_completed, wait};

use crate::error::Result;
use crate::pool::{Chunked, ImapIter, Pool, PoolBuilder, lock};
use crate::start::StartMethod;
use future::Slot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the collector sleeps on a quiet result queue before it looks again (at the
/// pool's server, and whether the executor is ending).
const POLL: Duration = Duration::from_millis(100);

/// A process pool behind a `Send + Sync + Clone` handle, with futures (Python:
/// `concurrent.futures.ProcessPoolExecutor`). See the [module docs](self).
#[derive(Clone)]
pub struct ProcessPoolExecutor {
    handle: Arc<Owner>,
}

/// The handles' share: when the last handle goes, the executor ends.
struct Owner {
    inner: Arc<Inner>,
}

/// What the handles, the futures and the collector thread share.
pub(crate) struct Inner {
    pool: Pool,
    collector: Mutex<Option<JoinHandle<()>>>,
    ending: AtomicBool,
}

impl PoolBuilder {
    /// Build the pool as a [`ProcessPoolExecutor`] (Python: `ProcessPoolExecutor(
    /// max_workers, mp_context, initializer, initargs, max_tasks_per_child)`: the same
    /// options as [`PoolBuilder::build`], and the same errors).
    pub fn build_executor(self) -> Result<ProcessPoolExecutor> {
        ProcessPoolExecutor::from_pool(self.build()?)
    }
}

impl ProcessPoolExecutor {
    /// An executor of `max_workers` worker processes, forked from this one (Python:
    /// `ProcessPoolExecutor(max_workers)`); an error while other threads run, as for
    /// [`Pool::new`]. From a threaded program (an async runtime, say) build it with
    /// another start method: `Pool::builder().start_method(StartMethod::ForkServer)
    /// .build_executor()`.
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor> {
        Pool::builder().processes(max_workers).build_executor()
    }

    /// All the options ([`PoolBuilder`]; finish with
    /// [`build_executor`](PoolBuilder::build_executor)).
    pub fn builder() -> PoolBuilder {
        Pool::builder()
    }

    fn from_pool(pool: Pool) -> Result<ProcessPoolExecutor> {
        let inner = Arc::new(Inner {
            pool,
            collector: Mutex::new(None),
            ending: AtomicBool::new(false),
        });
        Ok(ProcessPoolExecutor {
            handle: Arc::new(Owner { inner }),
        })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Run `f(arg)` in a worker (Python: `submit(fn, arg)`): the future of its result.
    /// An error if the executor is shut down, or `arg` cannot be encoded.
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.inner().submit(f, &arg, None)
    }

    /// Submit with a limit on each task's run time (no Python equivalent: Python's
    /// timeouts end only the wait): a task still running at its limit is stopped (its
    /// worker killed and replaced) and resolves [`Error::TimedOut`](crate::Error::TimedOut); every other task goes
    /// on. `executor.timeout(d).submit(f, x)`, `executor.timeout(d).map(f, xs)`.
    pub fn timeout(&self, limit: Duration) -> Limited<'_> {
        Limited {
            executor: self,
            limit,
        }
    }

    /// `f` over `items`, results in input order (Python: `map(fn, iterable)`), lazy and
    /// bounded as [`Pool::imap`]: the input is read as results are taken.
    pub fn map<'e, A, R, I>(&'e self, f: fn(A) -> R, items: I) -> Result<ImapIter<'e, R>>
    where
        A: Serialize + DeserializeOwned + 'e,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A, IntoIter: 'e>,
    {
        self.inner().pool.imap(f, items)
    }

    /// The pool's other calls (`chunksize(n).map`, `imap_unordered`, `starmap`, ...), on
    /// the same workers.
    pub fn pool(&self) -> &Pool {
        &self.inner().pool
    }

    /// Number of workers.
    pub fn processes(&self) -> usize {
        self.inner().pool.processes()
    }

    /// How the workers' server was started.
    pub fn start_method(&self) -> StartMethod {
        self.inner().pool.start_method()
    }

    /// Take no more tasks (Python: `shutdown(wait, cancel_futures)`). With `cancel_futures`,
    /// every future whose task has not started is cancelled. With `wait`, return once
    /// every other future has its result and the workers have exited; without, at once
    /// (the futures still resolve). Submitting afterwards is an error
    /// ([`InvalidKind::PoolClosed`](crate::InvalidKind::PoolClosed)).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<()> {
        let inner = self.inner();
        inner.pool.close()?;
        if cancel_futures {
            for job in inner.pool.handled_jobs() {
                if !inner.pool.running(job) {
                    inner.pool.cancel_job(job);
                }
            }
        }
        if wait {
            for job in inner.pool.handled_jobs() {
                inner.pool.wait_for_job(job, None);
            }
            inner.pool.join()?;
        }
        Ok(())
    }
}

impl Inner {
    fn submit<A, R>(
        self: &Arc<Self>,
        f: fn(A) -> R,
        arg: &A,
        limit: Option<Duration>,
    ) -> Result<Future<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let slot = Arc::new(Slot::<R>::new());
        let job = self.pool.submit_job(f, arg, limit)?;
        // Its result goes to the slot as soon as any thread files it (at once, if that
        // happened already).
        let to = slot.clone();
        self.pool
            .on_settled(job, Box::new(move |parts| to.settle(parts)));
        Ok(Future {
            inner: self.clone(),
            job,
            slot,
        })
    }

    /// File what is queued and hand it over, without waiting.
    fn look(&self) {
        self.pool.poll_now();
    }

    /// Wait at most `timeout` for something to be filed, then hand it over.
    fn collect_for(&self, timeout: Duration) {
        self.pool.wait_any(Some(timeout));
    }

    /// Start the collector thread unless it runs (or the executor is ending).
    fn start_collector(self: &Arc<Self>) {
        let mut collector = lock(&self.collector);
        if collector.is_some() || self.ending.load(SeqCst) {
            return;
        }
        let inner = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("multiproc-executor".into())
            .spawn(move || {
                while !inner.ending.load(SeqCst) {
                    inner.collect_for(POLL);
                }
            });
        match spawned {
            Ok(handle) => *collector = Some(handle),
            // No thread to be had: awaiting tasks are then woken only by threads that
            // wait; say so once rather than fail the await.
            Err(e) => eprintln!("multiproc: the executor cannot start its collector thread: {e}"),
        }
    }
}

impl Drop for Owner {
    /// The last handle: terminate the pool (unfinished futures resolve `Error::Closed`),
    /// hand that to the futures, and end the collector thread.
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.ending.store(true, SeqCst);
        let _ = inner.pool.terminate();
        let _ = inner.pool.waker().wake();
        let collector = lock(&inner.collector).take();
        if let Some(handle) = collector
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

/// [`ProcessPoolExecutor::timeout`]: submits with a limit on each task's run time.
#[derive(Clone, Copy)]
pub struct Limited<'e> {
    executor: &'e ProcessPoolExecutor,
    limit: Duration,
}

impl<'e> Limited<'e> {
    /// [`ProcessPoolExecutor::submit`], the task limited.
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.executor.inner().submit(f, &arg, Some(self.limit))
    }

    /// [`ProcessPoolExecutor::map`], each task limited: a task past it gives
    /// `Err(Error::TimedOut)` in its place, and the rest go on.
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<ImapIter<'e, R>>
    where
        A: Serialize + DeserializeOwned + 'e,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A, IntoIter: 'e>,
    {
        self.pool().imap(f, items)
    }

    fn pool(&self) -> Chunked<'e> {
        self.executor.inner().pool.timeout(self.limit)
    }
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner();
        f.debug_struct("ProcessPoolExecutor")
            .field("pool", &inner.pool)
            .field("futures_pending", &inner.pool.handled_jobs().len())
            .field("collector", &lock(&inner.collector).is_some())
            .finish()
    }
}

impl std::fmt::Debug for Limited<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("limit", &self.limit)
            .finish()
    }
}
