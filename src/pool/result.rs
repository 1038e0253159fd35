//! Results on the owner's side: `AsyncResult`, and the streaming `imap` iterator.
//!
//! There is no result-handler thread (Python has one): whoever waits for a result drains
//! the result queue and files every outcome in the pool's book (`jobs.rs`). Keeping the
//! owner single-threaded is what lets it go on forking `Process`es after creating a pool.
//! For the same reason there is no feeder thread: an `imap` reads its input when its
//! iterator is advanced, as far as its bound on chunks in flight allows.

use super::Pool;
use super::task::Trampoline;
use crate::codec::decode;
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

/// Python's `AsyncResult` / `MapResult`: the handle `apply_async`, `map_async` and
/// `starmap_async` return. It borrows the pool: results are collected by waiting on it.
///
/// Differences from Python: `get` and `get_timeout` hand the value over once (a second call
/// is `Error::Invalid`); `get_timeout` that times out leaves the task running, and a later
/// `get` still returns its result; `successful` is `None` while not ready instead of
/// raising. Dropping the handle discards the result when it arrives. [`AsyncResult::cancel`]
/// (which Python's `AsyncResult` lacks) stops the call's running tasks; a call with a time
/// limit ([`Pool::timeout`]) fails with `Error::TimedOut` when a task passes it.
#[doc(alias = "ApplyResult")]
#[doc(alias = "MapResult")]
pub struct AsyncResult<'p, T> {
    pool: &'p Pool,
    job: u64,
    assemble: fn(Vec<Vec<u8>>) -> Result<T>,
    _t: PhantomData<fn() -> T>,
}

impl<'p, T> AsyncResult<'p, T> {
    pub(crate) fn new(pool: &'p Pool, job: u64, assemble: fn(Vec<Vec<u8>>) -> Result<T>) -> Self {
        AsyncResult {
            pool,
            job,
            assemble,
            _t: PhantomData,
        }
    }

    /// Whether the call has finished, successfully or not (Python: `ready()`).
    #[doc(alias = "AsyncResult.ready")]
    pub fn ready(&self) -> bool {
        self.pool.poll_now();
        self.pool.book().jobs.settled(self.job)
    }

    /// Block until ready (Python: `wait()`).
    pub fn wait(&self) {
        self.pool.wait_for_job(self.job, None);
    }

    /// Block at most `timeout`; whether it is ready (Python: `wait(timeout)`, which returns
    /// `None` either way).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.pool.wait_for_job(self.job, Deadline::after(timeout))
    }

    /// `None` until ready, then whether the call succeeded (Python: `successful()`, which
    /// raises `ValueError` while not ready).
    #[doc(alias = "AsyncResult.successful")]
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        self.pool.book().jobs.succeeded(self.job)
    }

    /// Block for the result (Python: `get()`): the value, or the task's error (a panic's
    /// message, a dead worker, a terminated pool), where Python re-raises the exception.
    #[doc(alias = "AsyncResult.get")]
    pub fn get(&self) -> Result<T> {
        self.wait();
        self.take()
    }

    /// Wait at most `timeout`; `Error::Timeout` if the result is not there yet, in which case
    /// the task carries on and a later `get` can still collect it (Python: `get(timeout)`,
    /// which raises `multiprocessing.TimeoutError`).
    #[doc(alias = "get")]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if !self.wait_timeout(timeout) {
            return Err(Error::Timeout);
        }
        self.take()
    }

    /// Cancel the call (Python: `concurrent.futures.Future.cancel()`; `multiprocessing`'s
    /// `AsyncResult` has none); whether it was cancelled. False if its
    /// result is in already (done or failed: it stays, and `get` returns it) or was
    /// handed over. Once it returns true the call is settled: `get` returns
    /// `Error::Cancelled`, and whatever the task returns later is discarded; exactly one of
    /// the result and the cancel wins.
    ///
    /// Unlike Python's, which cannot stop a task that runs (it returns `False` then), this
    /// stops it: the pool's server kills the worker running it and starts a replacement;
    /// other calls are unaffected and the pool stays usable. A task still queued, not yet
    /// taken by a worker, is skipped by the worker that takes it. Workers remember the last
    /// 128 tasks cancelled that way: an older one (a `map_async` of more chunks, say) may
    /// still run, and its result is discarded. For a `map_async`, every task of the call
    /// not yet done is cancelled.
    #[doc(alias = "Future.cancel")]
    pub fn cancel(&self) -> bool {
        self.pool.cancel_job(self.job)
    }

    /// Whether [`AsyncResult::cancel`] cancelled the call (Python: `Future.cancelled()`).
    #[doc(alias = "Future.cancelled")]
    pub fn cancelled(&self) -> bool {
        self.pool.book().jobs.cancelled(self.job)
    }

    /// Hand the result to `callback`, or its failure to `error_callback`, the moment it
    /// comes in (Python: the `callback` and `error_callback` arguments of `apply_async`,
    /// `map_async` and `starmap_async`), instead of to [`get`](AsyncResult::get). They run
    /// on the thread that files the result: one of your threads waiting on the pool (any
    /// call's `get`, `map`, [`Pool::wait_any`], and [`Pool::join`], which files what is
    /// left), where Python runs them on its result-handler thread, since this pool has no
    /// thread of its own. A callback that panics is reported on stderr and breaks nothing.
    #[doc(alias("callback", "error_callback"))]
    pub fn on_done<C, E>(self, callback: C, error_callback: E)
    where
        T: 'static,
        C: FnOnce(T) + Send + 'static,
        E: FnOnce(Error) + Send + 'static,
    {
        let (pool, job, assemble) = (self.pool, self.job, self.assemble);
        // The handler takes the job over: it must not be forgotten as a dropped handle's.
        std::mem::forget(self);
        pool.on_settled(
            job,
            Box::new(move |parts| {
                let decoded = crate::codec::guarded(|| parts.and_then(assemble));
                crate::error::run_callback(move || match decoded {
                    Ok(value) => callback(value),
                    Err(e) => error_callback(e),
                });
            }),
        );
    }

    fn take(&self) -> Result<T> {
        let parts = self.pool.book().jobs.take_all(self.job)?;
        (self.assemble)(parts)
    }
}

impl<T> Drop for AsyncResult<'_, T> {
    fn drop(&mut self) {
        self.pool.book().jobs.forget(self.job);
    }
}

/// One read from an `imap`'s input: an encoded chunk.
pub(crate) enum Pull {
    /// A full chunk; more may follow.
    More(Vec<u8>),
    /// The input ended: its last chunk if it had one, then its error if it failed.
    Last(Option<Vec<u8>>, Option<Error>),
}

/// The iterator `imap` and `imap_unordered` return (Python: `IMapIterator`). Each item is
/// the result for one input, or the error of the chunk it belonged to (reported once, for
/// the whole chunk). Ordered: in input order. Unordered: chunk by chunk as they complete.
/// Python's `next(timeout)` has no counterpart; Python raises the first error and stops,
/// this yields it and goes on with the next chunk.
///
/// It reads its input as it goes: each step sends chunks until the bound on chunks in
/// flight is reached (see [`Pool::in_flight`]), then waits for the next result. Dropping
/// it stops reading; chunks already sent still run, and their results are discarded.
#[doc(alias = "IMapIterator")]
#[doc(alias = "IMapUnorderedIterator")]
pub struct ImapIter<'p, R> {
    pool: &'p Pool,
    job: u64,
    /// The trampoline and the user's `fn`, as for every task.
    call: (Trampoline, usize),
    /// Each task's time limit.
    timeout: Option<Duration>,
    /// The input, until it ended (or the pool refused more).
    input: Option<Box<dyn FnMut() -> Pull + 'p>>,
    /// The input's error, reported after the results of every chunk sent.
    failure: Option<Error>,
    bound: usize,
    ordered: bool,
    /// Ordered: the index of the next chunk to hand over.
    next_chunk: usize,
    buffer: VecDeque<R>,
}

impl<'p, R: DeserializeOwned> ImapIter<'p, R> {
    pub(crate) fn new(
        pool: &'p Pool,
        job: u64,
        call: (Trampoline, usize),
        timeout: Option<Duration>,
        input: Box<dyn FnMut() -> Pull + 'p>,
        bound: usize,
        ordered: bool,
    ) -> Self {
        let mut it = ImapIter {
            pool,
            job,
            call,
            timeout,
            input: Some(input),
            failure: None,
            bound,
            ordered,
            next_chunk: 0,
            buffer: VecDeque::new(),
        };
        it.fill();
        it
    }

    /// Read and send chunks until `bound` are in flight or the input ends.
    fn fill(&mut self) {
        while self.pool.book().jobs.in_flight(self.job) < self.bound {
            let Some(input) = self.input.as_mut() else {
                return;
            };
            let chunk = match input() {
                Pull::More(bytes) => Some(bytes),
                Pull::Last(bytes, failure) => {
                    self.input = None;
                    self.failure = failure;
                    bytes
                }
            };
            let Some(bytes) = chunk else { continue };
            if let Err(e) = self.pool.usable() {
                // Closed, terminated or broken meanwhile: what was sent still arrives.
                self.input = None;
                self.failure = Some(e);
                return;
            }
            let (call, func) = self.call;
            if !self
                .pool
                .send_chunk(self.job, call, func, &bytes, self.timeout)
            {
                self.input = None; // that chunk carries the queue's error
            }
        }
    }
}

impl<R: DeserializeOwned> Iterator for ImapIter<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        loop {
            if let Some(r) = self.buffer.pop_front() {
                return Some(Ok(r));
            }
            self.fill();
            if self.pool.book().jobs.in_flight(self.job) == 0 {
                // The input has ended and every chunk sent was handed over.
                return self.failure.take().map(Err);
            }
            let want = self.ordered.then_some(self.next_chunk);
            let (i, chunk) = match self.pool.wait_for_chunk(self.job, want) {
                Ok(c) => c,
                Err(e) => {
                    // The job left the book: nothing more can come.
                    self.input = None;
                    return Some(Err(e));
                }
            };
            if self.ordered {
                self.next_chunk = i + 1;
            }
            match chunk.and_then(|bytes| decode::<Vec<R>>(&bytes)) {
                Ok(items) => self.buffer.extend(items),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<R> Drop for ImapIter<'_, R> {
    fn drop(&mut self) {
        self.pool.book().jobs.forget(self.job);
    }
}

impl<T> std::fmt::Debug for AsyncResult<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for ImapIter<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapIter")
            .field("job", &self.job)
            .field("ordered", &self.ordered)
            .field("in_flight_bound", &self.bound)
            .finish_non_exhaustive()
    }
}
