//! [`PoolBuilder`]: a pool's options (Python's `Pool` keyword arguments), the type erasure
//! of the objects a pool shares with its workers, and the one place a pool starts: forking
//! its server, or asking the start server for it.

use super::Pool;
use super::collect::Book;
use super::server::{self, MAX_WORKERS, ServerProcess, Slots, WorkerSetup};
use crate::error::{Error, InvalidKind, Result};
use crate::queue::buffer::RawQueue;
use crate::shm::Shm;
use crate::start::StartMethod;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex};

/// Builds a [`Pool`] (Python: `Pool(processes, initializer, initargs, maxtasksperchild)`).
#[derive(Default)]
#[must_use = "a builder makes no pool until `.build()`"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Box<dyn Fn()>>,
    max_tasks: u64,
    max_memory: u64,
    retries: u32,
    method: Option<StartMethod>,
    shared: Option<Shared>,
}

/// The objects of [`PoolBuilder::share`] or the argument of
/// [`PoolBuilder::initializer_with`]: kept alive by the pool, and the way a served pool's
/// server is started with them (and with the initializer, the address of a `fn(T)`).
struct Shared {
    keep: Box<dyn std::any::Any + Send + Sync>,
    init: Option<usize>,
    /// `init` with its argument, for a fork pool (whose workers share the owner's image).
    fork_init: Option<Box<dyn Fn()>>,
    #[allow(clippy::type_complexity)]
    start: fn(
        &dyn std::any::Any,
        Option<usize>,
        StartMethod,
        WorkerSetup,
        usize,
    ) -> Result<ServerProcess>,
}

impl Shared {
    fn new<T>(objects: T, init: Option<fn(T)>) -> Shared
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        fn start<T>(
            keep: &dyn std::any::Any,
            init: Option<usize>,
            method: StartMethod,
            setup: WorkerSetup,
            workers: usize,
        ) -> Result<ServerProcess>
        where
            T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
        {
            let objects = keep.downcast_ref::<T>().expect("stored as a T").clone();
            server::start_served(method, setup, workers, objects, init)
        }
        let fork_init = init.map(|f| {
            let arg = objects.clone();
            Box::new(move || f(arg.clone())) as Box<dyn Fn()>
        });
        Shared {
            keep: Box::new(objects),
            init: init.map(|f| f as usize),
            fork_init,
            start: start::<T>,
        }
    }
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
    /// A fork pool only: a closure cannot reach a forkserver or spawn pool's workers (use
    /// [`PoolBuilder::initializer_with`], which works with every start method).
    #[doc(alias = "initargs")]
    pub fn initializer(mut self, init: impl Fn() + 'static) -> PoolBuilder {
        self.initializer = Some(Box::new(init));
        self
    }

    /// Replace each worker after it has run `n` tasks (Python: `maxtasksperchild`);
    /// 0 means never (Python: `None`).
    pub fn maxtasksperchild(mut self, n: u64) -> PoolBuilder {
        self.max_tasks = n;
        self
    }

    /// Send a task whose worker died (killed, crashed, aborted) again, to another worker,
    /// up to `n` times; a task that kills `n + 1` workers fails with `Error::WorkerDied`
    /// saying it is a poison task. 0 (the default) fails it at the first death. Python's
    /// `Pool` has none (Celery's `acks_late` with redelivery comes closest). The task's
    /// argument bytes are kept until it has an outcome.
    pub fn retries(mut self, n: u32) -> PoolBuilder {
        self.retries = n;
        self
    }

    /// Replace a worker whose resident memory after a task is above `bytes` (Celery's
    /// `worker_max_memory_per_child`; Python's `Pool` has none): a task that leaks or
    /// fragments memory costs one fresh worker, not the machine. 0 means never. Resident
    /// memory counts the pages a fork pool's worker still shares with the owner it was
    /// forked from, so set the limit above the owner's own resident size.
    pub fn max_memory_per_child(mut self, bytes: u64) -> PoolBuilder {
        self.max_memory = bytes;
        self
    }

    /// Shared objects (`Event`, `Value`, `Lock`, ... or a tuple or struct of them) that
    /// tasks may receive as arguments (Python: the `initargs` through which a `Lock`
    /// reaches a pool's workers). A fork pool's workers already have every object created
    /// before the pool; a forkserver or spawn pool's workers have only these, sent with the
    /// server's start request (see [`crate::start`] for what can travel). The pool keeps
    /// them alive.
    ///
    /// ```
    /// use multiproc::{Event, Pool};
    /// fn wait_for(go: Event) -> bool {
    ///     go.wait();
    ///     true
    /// }
    /// let go = Event::new();
    /// let pool = Pool::builder().processes(1).share(go.clone()).build()?;
    /// let pending = pool.apply_async(wait_for, go.clone())?;
    /// go.set();
    /// assert!(pending.get()?);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[doc(alias = "initargs")]
    pub fn share<T>(mut self, objects: T) -> PoolBuilder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.shared = Some(Shared::new(objects, None));
        self
    }

    /// Run `init(arg)` once in every worker when it starts, replacements included (Python:
    /// `initializer` and `initargs`), with any start method: `init` is a `fn` (it travels by
    /// offset, as tasks do) and `arg` is serde data, shared objects included, which tasks
    /// may then receive too, as with [`PoolBuilder::share`] (this replaces it: give one
    /// tuple). Each worker gets a clone of `arg`. If `init` panics the pool is broken.
    ///
    /// ```
    /// use multiproc::{Pool, Value};
    /// fn count_me(started: Value<u32>) {
    ///     *started.lock().unwrap() += 1;
    /// }
    /// let started = Value::new(0u32);
    /// let pool = Pool::builder().processes(2).initializer_with(count_me, started.clone()).build()?;
    /// pool.close()?;
    /// pool.join()?;
    /// assert_eq!(started.load(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[doc(alias("initializer", "initargs"))]
    pub fn initializer_with<T>(mut self, init: fn(T), arg: T) -> PoolBuilder
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.shared = Some(Shared::new(arg, Some(init)));
        self
    }

    /// How the pool's server process starts (Python: `get_context(method).Pool()`); the
    /// server forks the workers. Default [`StartMethod::Fork`].
    ///
    /// With [`StartMethod::ForkServer`] or [`StartMethod::Spawn`] the pool can be built
    /// from a program that runs threads (an async runtime, say), after
    /// [`start::init`](crate::start::init) at the top of `main`. Its workers share nothing
    /// with the owner but the pool's own queues, so, as in Python, the shared objects its
    /// tasks may receive are those handed over at build time with [`PoolBuilder::share`]
    /// (Python's `initargs`; any other is an error naming the object), and its initializer
    /// is a `fn` with an argument ([`PoolBuilder::initializer_with`]; a closure is refused).
    /// Everything else is the same: calls, results, dead-worker reports and replacements.
    ///
    /// ```no_run
    /// use multiproc::Pool;
    /// use multiproc::start::{self, StartMethod};
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// fn main() -> multiproc::Result<()> {
    ///     start::init();
    ///     let _logger = std::thread::spawn(|| {}); // a thread: fork would be refused
    ///     let pool = Pool::builder().processes(2).start_method(StartMethod::ForkServer).build()?;
    ///     assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);
    ///     Ok(())
    /// }
    /// ```
    #[doc(alias = "get_context")]
    pub fn start_method(mut self, method: StartMethod) -> PoolBuilder {
        self.method = Some(method);
        self
    }

    /// Start the server and the workers. With the `fork` start method (the default) this
    /// is only safe from a single-threaded program: while other threads run it fails with
    /// [`Error::Threaded`] and forks nothing. Create pools before starting threads (or
    /// join them first), or choose [`PoolBuilder::start_method`] `ForkServer` or `Spawn`.
    /// Once built, the pool's owner may start threads, since later forks (replacement
    /// workers) happen in the single-threaded server.
    #[allow(unsafe_code)] // calls the unchecked fork entry point after its check
    pub fn build(self) -> Result<Pool> {
        if self.method.unwrap_or(StartMethod::Fork) == StartMethod::Fork {
            crate::process::ensure_single_threaded()?;
        }
        // SAFETY: with `fork`, this thread is the process's only one (checked just above);
        // the other methods do not fork this process.
        unsafe { self.build_unchecked() }
    }

    /// [`PoolBuilder::build`] without the check that this is the only thread.
    ///
    /// # Safety
    ///
    /// The same as [`Process::start_unchecked`](crate::Process::start_unchecked)'s: no other thread may hold, or be
    /// taking, a lock the pool's server or workers will take (the allocator's, stdout's,
    /// the initializer's, ...) at the moment of the fork.
    #[allow(unsafe_code)] // the unchecked fork entry point: its contract is the caller's
    pub unsafe fn build_unchecked(mut self) -> Result<Pool> {
        let processes = self.processes.unwrap_or_else(crate::cpu::default_pool_size);
        if processes == 0 {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "a pool needs at least one process",
            ));
        }
        if processes > MAX_WORKERS {
            return Err(Error::invalid(
                InvalidKind::Limit,
                format!("a pool has at most {MAX_WORKERS} processes"),
            ));
        }
        let method = self.method.unwrap_or(StartMethod::Fork);
        if method != StartMethod::Fork {
            crate::start::ensure_init();
        }
        let fork_init = self.shared.as_mut().and_then(|s| s.fork_init.take());
        if self.initializer.is_some() && fork_init.is_some() {
            return Err(Error::invalid(
                InvalidKind::Conflict,
                "a pool has one initializer: initializer or initializer_with, not both",
            ));
        }
        if method != StartMethod::Fork && self.initializer.is_some() {
            return Err(Error::invalid(
                InvalidKind::Conflict,
                format!(
                    "a {method} pool cannot run an initializer closure: its workers do not share \
                 the owner's memory (use initializer_with, whose fn and argument travel)"
                ),
            ));
        }
        // Private: plain `Arc`s, never registered, so they have no serde form and no id a
        // message could name. (A served pool's server gets them as memfds: `Passed`.)
        let tasks = Arc::new(RawQueue::new(0)?);
        let results = Arc::new(RawQueue::new(0)?);
        let slots = Arc::new(Shm::<Slots>::new(|_| {}));
        let setup = WorkerSetup {
            tasks: tasks.clone(),
            results: results.clone(),
            slots: slots.clone(),
            initializer: match method {
                StartMethod::Fork => self.initializer.or(fork_init),
                // The server builds it from `Shared::init` (see `server::served_main`).
                _ => None,
            },
            max_tasks: self.max_tasks,
            max_memory: self.max_memory,
            started: crate::event::Event::new(),
            worker_name: match method {
                StartMethod::Fork => "ForkPoolWorker",
                StartMethod::ForkServer => "ForkServerPoolWorker",
                StartMethod::Spawn => "SpawnPoolWorker",
            }
            .to_string(),
        };
        let server = match method {
            // SAFETY: `build_unchecked`'s caller guarantees the precondition.
            StartMethod::Fork => unsafe { server::start(setup, processes) }?,
            served => match &self.shared {
                Some(shared) => {
                    (shared.start)(&*shared.keep, shared.init, served, setup, processes)?
                }
                None => server::start_served(served, setup, processes, (), None)?,
            },
        };
        Ok(Pool {
            processes,
            method,
            _shared: self.shared.map(|s| s.keep),
            checked: Mutex::new(Vec::new()),
            tasks,
            results,
            slots,
            skip_next: AtomicUsize::new(0),
            server: Mutex::new(server),
            book: Mutex::new(Book::with_retries(self.retries)),
            filed: Condvar::new(),
            collecting: AtomicBool::new(false),
            handlers: Mutex::default(),
            owner: std::process::id(),
        })
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("maxtasksperchild", &self.max_tasks)
            .field("max_memory_per_child", &self.max_memory)
            .field("retries", &self.retries)
            .field("start_method", &self.method)
            .field("shared", &self.shared.is_some())
            .finish()
    }
}
