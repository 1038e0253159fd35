//! Results on the owner's side: jobs, `AsyncResult`, and the `imap` iterators.
//!
//! There is no result-handler thread (Python has one): whoever waits for a result drains
//! the result queue and files every outcome under its job. Keeping the owner
//! single-threaded is what lets it go on forking `Process`es after creating a pool.

use super::Pool;
use crate::codec::decode;
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

/// One submitted chunk of a job.
pub(crate) enum Chunk {
    Pending,
    Done(Vec<u8>),
    Failed(Error),
    /// Handed out by an iterator.
    Taken,
}

/// A submitted call: its chunks, in input order.
pub(crate) struct Job {
    pub chunks: Vec<Chunk>,
    /// Set once the results were handed over: whether the call succeeded.
    pub taken: Option<bool>,
    /// The tasks submitted for it, to forget them with it.
    pub task_ids: Vec<u64>,
}

impl Job {
    /// All chunks done, or one failed (a job fails as a whole, as in Python).
    pub(crate) fn settled(&self) -> bool {
        self.taken.is_some()
            || self.chunks.iter().any(|c| matches!(c, Chunk::Failed(_)))
            || self.chunks.iter().all(|c| !matches!(c, Chunk::Pending))
    }

    pub(crate) fn failed(&self) -> bool {
        self.taken == Some(false) || self.chunks.iter().any(|c| matches!(c, Chunk::Failed(_)))
    }
}

/// Python's `AsyncResult` / `MapResult`: the handle `apply_async`, `map_async` and
/// `starmap_async` return. It borrows the pool: results are collected by waiting on it.
///
/// Differences from Python: `get` and `get_timeout` hand the value over once (a second call
/// is `Error::Invalid`); `get_timeout` that times out leaves the task running, and a later
/// `get` still returns its result; `successful` is `None` while not ready instead of
/// raising. Dropping the handle discards the result when it arrives.
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
    pub fn ready(&self) -> bool {
        self.pool.collect(Some(Duration::ZERO));
        self.pool.job_settled(self.job)
    }

    /// Block until ready (Python: `wait()`).
    pub fn wait(&self) {
        self.pool.wait_for_job(self.job, None);
    }

    /// Block at most `timeout`; whether it is ready (Python: `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.pool
            .wait_for_job(self.job, Some(Deadline::after(timeout)))
    }

    /// `None` until ready, then whether the call succeeded (Python: `successful()`).
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        self.pool.with_job(self.job, |j| !j.failed())
    }

    /// Block for the result (Python: `get()`): the value, or the task's error (a panic's
    /// message, a dead worker, a terminated pool).
    pub fn get(&self) -> Result<T> {
        self.wait();
        self.take()
    }

    /// Wait at most `timeout`; `Error::Timeout` if the result is not there yet, in which case
    /// the task carries on and a later `get` can still collect it (Python: `get(timeout)`).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if !self.wait_timeout(timeout) {
            return Err(Error::Timeout);
        }
        self.take()
    }

    fn take(&self) -> Result<T> {
        let parts = self.pool.take_job(self.job)?;
        (self.assemble)(parts)
    }
}

impl<T> Drop for AsyncResult<'_, T> {
    fn drop(&mut self) {
        self.pool.forget_job(self.job);
    }
}

/// Decode the single chunk of an `apply`.
pub(crate) fn assemble_one<R: DeserializeOwned>(parts: Vec<Vec<u8>>) -> Result<R> {
    let bytes = parts.into_iter().next().expect("an apply has one chunk");
    decode(&bytes)
}

/// Decode and concatenate the chunks of a `map`, in input order.
pub(crate) fn assemble_all<R: DeserializeOwned>(parts: Vec<Vec<u8>>) -> Result<Vec<R>> {
    let mut out = Vec::new();
    for bytes in parts {
        out.extend(decode::<Vec<R>>(&bytes)?);
    }
    Ok(out)
}

/// The iterator `imap` and `imap_unordered` return (Python: `IMapIterator`). Each item is
/// the result for one input, or the error of the chunk it belonged to (reported once, for
/// the whole chunk). Ordered: in input order. Unordered: chunk by chunk as they complete.
pub struct ImapIter<'p, R> {
    pool: &'p Pool,
    job: u64,
    ordered: bool,
    next_chunk: usize,
    chunks: usize,
    taken: usize,
    buffer: VecDeque<R>,
}

impl<'p, R: DeserializeOwned> ImapIter<'p, R> {
    pub(crate) fn new(pool: &'p Pool, job: u64, chunks: usize, ordered: bool) -> Self {
        ImapIter {
            pool,
            job,
            ordered,
            next_chunk: 0,
            chunks,
            taken: 0,
            buffer: VecDeque::new(),
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
            if self.taken == self.chunks {
                return None;
            }
            let want = self.ordered.then_some(self.next_chunk);
            let chunk = match self.pool.take_chunk(self.job, want) {
                Ok(c) => c,
                Err(e) => {
                    // The pool cannot deliver any more of this job.
                    self.taken = self.chunks;
                    return Some(Err(e));
                }
            };
            self.taken += 1;
            self.next_chunk += 1;
            match chunk {
                Ok(bytes) => match decode::<Vec<R>>(&bytes) {
                    Ok(items) => self.buffer.extend(items),
                    Err(e) => return Some(Err(e)),
                },
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<R> Drop for ImapIter<'_, R> {
    fn drop(&mut self) {
        self.pool.forget_job(self.job);
    }
}
