//! The calling surface: `apply`, `map`, `starmap`, `imap` and their forms, written once.
//!
//! `pool.map(f, xs)` and `pool.chunksize(3).map(f, xs)` are the same call with different
//! options. Each call is defined once, in `calling_surface!`, and that one definition is
//! instantiated for [`Pool`] (each call's defaults) and for [`Chunked`] (the options set
//! on it). The work itself is in the `start_*` functions below.

use super::Pool;
use super::result::{AsyncResult, ImapIter, Pull};
use super::task::{self, Trampoline};
use crate::codec::encode;
use crate::error::{Error, InvalidKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// The calls that take many items, once for `Pool` and once for `Chunked`. `$recv` is the
/// receiver (`&'p Self` with `'p` declared on each method, or `&Self` when the impl
/// declares `'p`); every result borrows the pool for `'p`.
macro_rules! calling_surface {
    ([$($lt:lifetime)?] $recv:ty, map_example: $map_example:literal, imap_example: $imap_example:literal) => {
        /// `f` over every item, results in input order (Python: `map`).
        ///
        /// Which functions can be sent: `f` travels to the workers as an address in the
        /// program image, so it must be code that was present when the pool was built: a
        /// `fn` item or a closure that captures nothing (a capturing closure does not
        /// coerce to `fn`). Not code loaded later with `dlopen`: the workers, forked
        /// earlier, do not have it mapped. The same holds for every call that takes a `fn`.
        #[doc = $map_example]
        pub fn map<$($lt,)? A, R>(
            self: $recv,
            f: fn(A) -> R,
            items: impl IntoIterator<Item = A>,
        ) -> Result<Vec<R>>
        where
            A: Serialize + DeserializeOwned,
            R: Serialize + DeserializeOwned,
        {
            self.map_async(f, items)?.get()
        }

        /// Start a `map` (Python: `map_async`).
        pub fn map_async<$($lt,)? A, R>(
            self: $recv,
            f: fn(A) -> R,
            items: impl IntoIterator<Item = A>,
        ) -> Result<AsyncResult<'p, Vec<R>>>
        where
            A: Serialize + DeserializeOwned,
            R: Serialize + DeserializeOwned,
        {
            let (pool, options) = self.target();
            pool.start_map(task::map_call::<A, R>, f as usize, items, options)
        }

        /// `f(a, b)` for every pair, results in input order (Python: `starmap`, which
        /// unpacks tuples of any length; here two arguments, or take a tuple as `a`).
        pub fn starmap<$($lt,)? A, B, R>(
            self: $recv,
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

        /// Start a `starmap` (Python: `starmap_async`).
        pub fn starmap_async<$($lt,)? A, B, R>(
            self: $recv,
            f: fn(A, B) -> R,
            items: impl IntoIterator<Item = (A, B)>,
        ) -> Result<AsyncResult<'p, Vec<R>>>
        where
            A: Serialize + DeserializeOwned,
            B: Serialize + DeserializeOwned,
            R: Serialize + DeserializeOwned,
        {
            let (pool, options) = self.target();
            pool.start_map(task::starmap_call::<A, B, R>, f as usize, items, options)
        }

        /// Results of `f` over the items as an iterator, in input order (Python: `imap`;
        /// chunksize 1 unless set).
        ///
        /// Streaming, unlike Python's: the input is read lazily, a chunk at a time, and
        /// at most [`in_flight`](Pool::in_flight) chunks are sent and not yet handed
        /// over, so an input of any length (endless too) runs in bounded memory and
        /// results arrive while it is still being read. The first chunks are sent before
        /// this returns. If the input iterator panics, the iterator yields the results
        /// of the items read before it, then one `Error::TaskPanicked` naming the input,
        /// then ends. A chunk that fails (a task panicked, its worker died) yields its
        /// error once, and the results of the later chunks follow.
        #[doc = $imap_example]
        pub fn imap<$($lt,)? A, R, I>(self: $recv, f: fn(A) -> R, items: I) -> Result<ImapIter<'p, R>>
        where
            A: Serialize + DeserializeOwned + 'p,
            R: Serialize + DeserializeOwned,
            I: IntoIterator<Item = A>,
            I::IntoIter: 'p,
        {
            let (pool, options) = self.target();
            pool.start_imap(f, items, options, true)
        }

        /// As `imap`, yielding results as their chunks complete (Python:
        /// `imap_unordered`): every result exactly once, in no promised order.
        pub fn imap_unordered<$($lt,)? A, R, I>(
            self: $recv,
            f: fn(A) -> R,
            items: I,
        ) -> Result<ImapIter<'p, R>>
        where
            A: Serialize + DeserializeOwned + 'p,
            R: Serialize + DeserializeOwned,
            I: IntoIterator<Item = A>,
            I::IntoIter: 'p,
        {
            let (pool, options) = self.target();
            pool.start_imap(f, items, options, false)
        }
    };
}

/// Python's default `map` chunksize: `ceil(n / (4 * processes))`, at least 1.
pub fn default_chunksize(items: usize, processes: usize) -> usize {
    items.div_ceil(4 * processes.max(1)).max(1)
}

/// The chunks an `imap` keeps in flight by default, per worker: enough that every worker
/// has one to run and one queued while the owner reads results.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// Options of one call; `None` is the call's default.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    chunksize: Option<usize>,
    in_flight: Option<usize>,
    /// The time limit of each task of the call.
    timeout: Option<Duration>,
}

/// A view of a pool that submits with given options: `pool.chunksize(3).map(f, xs)`,
/// `pool.in_flight(8).imap(f, xs)`, `pool.timeout(d).apply_async(f, x)`. It has every
/// call `Pool` has (`apply` and `apply_async` use only the time limit: one item is one
/// task, with no chunk to size).
#[derive(Clone, Copy, Debug)]
pub struct Chunked<'p> {
    pool: &'p Pool,
    options: Options,
}

impl Pool {
    /// Submit with this chunksize (Python: the `chunksize` argument): `chunksize(3)`, or
    /// `chunksize(None)` for each call's default, as Python's `chunksize=None` (handy when
    /// the size is an option: `pool.chunksize(args.chunksize).map(f, xs)`). Defaults are
    /// Python's: [`default_chunksize`] for `map`/`starmap`, 1 for `imap`. Zero makes the
    /// call fail with `Error::Invalid`.
    pub fn chunksize(&self, size: impl Into<Option<usize>>) -> Chunked<'_> {
        Chunked {
            pool: self,
            options: Options::default(),
        }
        .chunksize(size)
    }

    /// Let an `imap` have at most `chunks` chunks in flight: sent and not yet handed to
    /// the caller (no Python equivalent: Python's `imap` reads its whole input at once).
    /// Default: 4 per worker. The input is read only as far as this allows, so memory stays
    /// bounded by `chunks × chunksize` items whatever the input's length. Zero makes the
    /// call fail with `Error::Invalid`. Other calls ignore it.
    pub fn in_flight(&self, chunks: usize) -> Chunked<'_> {
        self.chunksize(None).in_flight(chunks)
    }

    /// Limit how long each task of the call may run (no Python equivalent): each chunk of
    /// a `map` (so `chunksize` items together), each `apply`. The clock starts when a
    /// worker takes the task, not when it is queued. A task past its limit is stopped: the
    /// pool's server kills the worker running it and starts a replacement, and the task's
    /// call fails with [`Error::TimedOut`] (an `imap` yields that error in the chunk's
    /// place and goes on); other calls and tasks are unaffected and the pool stays usable.
    /// Python's `AsyncResult.get(timeout)`, `concurrent.futures`' `result(timeout)` and
    /// loky/joblib's `timeout` bound only the *wait*, leaving the task running: here that is
    /// [`AsyncResult::get_timeout`]. A limit is checked to the scheduler's precision, so
    /// allow tens of milliseconds on a loaded machine; `Duration::ZERO` is the shortest
    /// limit, not none (`timeout(None)` is none, the default).
    ///
    /// A task that completes just as it is killed keeps its result; the worker's next task,
    /// if it had taken one in that instant, fails with `Error::WorkerDied`.
    ///
    /// ```
    /// use multiproc::{Error, Pool};
    /// use std::time::Duration;
    /// fn settle(x: u64) -> u64 {
    ///     if x == 3 {
    ///         loop { std::hint::spin_loop() } // never returns
    ///     }
    ///     x
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// let limited = pool.timeout(Duration::from_millis(200)).chunksize(1);
    /// assert!(matches!(limited.map(settle, 0..5), Err(Error::TimedOut)));
    /// assert_eq!(pool.map(settle, 0..3)?, [0, 1, 2], "the pool goes on");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[doc(alias = "TimeoutError")]
    pub fn timeout(&self, limit: impl Into<Option<Duration>>) -> Chunked<'_> {
        self.chunksize(None).timeout(limit)
    }

    fn target(&self) -> (&Pool, Options) {
        (self, Options::default())
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

    /// Start `f(arg)` in a worker (Python: `apply_async`); the handle collects the result.
    ///
    /// ```
    /// use multiproc::Pool;
    /// fn double(x: u32) -> u32 { 2 * x }
    ///
    /// let pool = Pool::new(2)?;
    /// let pending = [pool.apply_async(double, 20)?, pool.apply_async(double, 21)?];
    /// let answers: Vec<u32> = pending.iter().map(|r| r.get()).collect::<Result<_, _>>()?;
    /// assert_eq!(answers, [40, 42]);
    /// assert_eq!(pending[0].successful(), Some(true));
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.start_apply(f, arg, Options::default())
    }

    calling_surface!(
        ['p] &'p Self,
        map_example: "
```
use multiproc::Pool;
fn square(x: u64) -> u64 { x * x }

let pool = Pool::new(2)?;
assert_eq!(pool.map(square, 1..=4)?, [1, 4, 9, 16]);
// A closure that captures nothing is a `fn` too.
assert_eq!(pool.map(|s: String| s.len(), [\"a\".to_string(), \"bcd\".into()])?, [1, 3]);
# Ok::<(), multiproc::Error>(())
```",
        imap_example: "
```
use multiproc::Pool;
fn square(x: u64) -> u64 { x * x }

let pool = Pool::new(2)?;
// An endless input: read only as far as the results taken need (plus the chunks in
// flight), so this ends.
let first: Vec<u64> = pool.imap(square, 0..)?.take(5).collect::<Result<_, _>>()?;
assert_eq!(first, [0, 1, 4, 9, 16]);
# Ok::<(), multiproc::Error>(())
```"
    );
}

impl<'p> Chunked<'p> {
    /// The same view with this chunksize (see [`Pool::chunksize`]).
    pub fn chunksize(mut self, size: impl Into<Option<usize>>) -> Chunked<'p> {
        self.options.chunksize = size.into();
        self
    }

    /// The same view with this bound on an `imap`'s chunks in flight (see
    /// [`Pool::in_flight`]).
    pub fn in_flight(mut self, chunks: usize) -> Chunked<'p> {
        self.options.in_flight = Some(chunks);
        self
    }

    /// The same view with this time limit on each task (see [`Pool::timeout`]).
    pub fn timeout(mut self, limit: impl Into<Option<Duration>>) -> Chunked<'p> {
        self.options.timeout = limit.into();
        self
    }

    fn target(&self) -> (&'p Pool, Options) {
        (self.pool, self.options)
    }

    /// [`Pool::apply`] with this view's time limit.
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f, arg)?.get()
    }

    /// [`Pool::apply_async`] with this view's time limit.
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<'p, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.pool.start_apply(f, arg, self.options)
    }

    calling_surface!([] &Self, map_example: "", imap_example: "");
}

impl Pool {
    /// Send every chunk of a job now; its id. Encoding happens first, so a value that
    /// cannot be encoded fails the call before any task is sent.
    fn start_job(
        &self,
        call: Trampoline,
        func: usize,
        chunks: Vec<Vec<u8>>,
        options: Options,
    ) -> Result<u64> {
        self.usable()?;
        let job = self.book().jobs.begin();
        for args in &chunks {
            if !self.send_chunk(job, call, func, args, options.timeout) {
                break; // the job has failed; its handle reports why
            }
        }
        Ok(job)
    }

    /// One task of `f(arg)` with this time limit, for the executor: its job id.
    pub(crate) fn submit_job<A, R>(
        &self,
        f: fn(A) -> R,
        arg: &A,
        timeout: Option<Duration>,
    ) -> Result<u64>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call: Trampoline = task::apply_call::<A, R>;
        let options = Options {
            timeout,
            ..Options::default()
        };
        self.start_job(call, f as usize, vec![encode(arg)?], options)
    }

    /// `apply_async`: one item, one task.
    fn start_apply<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        options: Options,
    ) -> Result<AsyncResult<'_, R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let call: Trampoline = task::apply_call::<A, R>;
        let job = self.start_job(call, f as usize, vec![encode(&arg)?], options)?;
        Ok(AsyncResult::new(self, job, |mut parts| {
            crate::codec::decode(&parts.pop().expect("an apply has one chunk"))
        }))
    }

    /// `map` and `starmap`: the items in chunks of the chunksize (default: Python's).
    fn start_map<T: Serialize, R: DeserializeOwned>(
        &self,
        call: Trampoline,
        func: usize,
        items: impl IntoIterator<Item = T>,
        options: Options,
    ) -> Result<AsyncResult<'_, Vec<R>>> {
        let items: Vec<T> = items.into_iter().collect();
        let size = options
            .chunksize
            .unwrap_or_else(|| default_chunksize(items.len(), self.processes));
        if size == 0 {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "chunksize must be at least 1",
            ));
        }
        let chunks = items.chunks(size).map(encode).collect::<Result<_>>()?;
        let job = self.start_job(call, func, chunks, options)?;
        Ok(AsyncResult::new(self, job, |parts| {
            let mut out = Vec::new();
            for bytes in parts {
                out.extend(crate::codec::decode::<Vec<R>>(&bytes)?);
            }
            Ok(out)
        }))
    }

    /// `imap` and `imap_unordered`: an iterator that reads `items` as it goes.
    fn start_imap<'p, A, R>(
        &'p self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A, IntoIter: 'p>,
        options: Options,
        ordered: bool,
    ) -> Result<ImapIter<'p, R>>
    where
        A: Serialize + DeserializeOwned + 'p,
        R: Serialize + DeserializeOwned,
    {
        let size = options.chunksize.unwrap_or(1);
        let bound = options
            .in_flight
            .unwrap_or(IN_FLIGHT_PER_WORKER * self.processes);
        if size == 0 {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "chunksize must be at least 1",
            ));
        }
        if bound == 0 {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "in_flight must be at least 1",
            ));
        }
        self.usable()?;
        let job = self.book().jobs.begin();
        let call: Trampoline = task::map_call::<A, R>;
        let input = reader(items.into_iter(), size);
        Ok(ImapIter::new(
            self,
            job,
            (call, f as usize),
            options.timeout,
            input,
            bound,
            ordered,
        ))
    }
}

/// Reads `items` `size` at a time and encodes each chunk. A panic of the input iterator
/// ends the input: the items read before it still form a last chunk, and the panic becomes
/// the input's error. The iterator is not called again after it ended or panicked.
fn reader<'p, A: Serialize + 'p>(
    mut items: impl Iterator<Item = A> + 'p,
    size: usize,
) -> Box<dyn FnMut() -> Pull + 'p> {
    let mut ended = false;
    Box::new(move || {
        if ended {
            return Pull::Last(None, None);
        }
        let mut chunk = Vec::with_capacity(size.min(1 << 12));
        let read = catch_unwind(AssertUnwindSafe(|| {
            while chunk.len() < size {
                match items.next() {
                    Some(item) => chunk.push(item),
                    None => return false,
                }
            }
            true
        }));
        let (more, failure) = match read {
            Ok(more) => (more, None),
            Err(payload) => {
                let message = crate::error::panic_message(payload.as_ref());
                let error = format!("the input iterator of imap panicked: {message}");
                (false, Some(Error::TaskPanicked(error)))
            }
        };
        ended = !more;
        let encoded = match encode(&chunk) {
            Ok(bytes) => bytes,
            Err(e) => {
                ended = true;
                return Pull::Last(None, Some(e));
            }
        };
        match (more, chunk.is_empty()) {
            (true, _) => Pull::More(encoded),
            (false, true) => Pull::Last(None, failure),
            (false, false) => Pull::Last(Some(encoded), failure),
        }
    })
}
