//! Waiting on many futures at once: [`as_completed`] (an iterator, and an async one) and
//! [`wait`] (Python: `concurrent.futures.as_completed` and `wait`).
//!
//! Each future tells the waiting side when its result is in (a listener on its slot), so a
//! wait over a hundred thousand futures does no work per future per result. The waiting
//! thread collects results itself (no thread is started); the async form is woken by the
//! executor's collector thread, which its first wait starts.

use super::future::Future;
use super::{Inner, POLL, lock};
use crate::deadline::Deadline;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The futures whose result came in, in the order it came, and the async waiter to wake.
#[derive(Default)]
struct Arrivals {
    order: VecDeque<usize>,
    waker: Option<Waker>,
}

/// The futures of [`as_completed`], handed back as their results come in.
#[must_use = "an iterator does nothing unless advanced"]
pub struct AsCompleted<R> {
    /// Not handed back yet, by input position.
    pending: BTreeMap<usize, Future<R>>,
    arrivals: Arc<Mutex<Arrivals>>,
    /// The executors the futures belong to (usually one).
    executors: Vec<Arc<Inner>>,
    total: usize,
}

/// Hand back `futures` as each one's result comes in, whatever their order (Python:
/// `as_completed(fs)`): a blocking [`Iterator`], and an async one
/// ([`AsCompleted::next_completed`]). Each future handed back is done: its
/// [`Future::result`] returns at once. [`AsCompleted::completed`] and
/// [`AsCompleted::total`] say how far it is.
pub fn as_completed<R: DeserializeOwned + Send + 'static>(
    futures: impl IntoIterator<Item = Future<R>>,
) -> AsCompleted<R> {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let mut pending = BTreeMap::new();
    let mut executors: Vec<Arc<Inner>> = Vec::new();
    for (i, future) in futures.into_iter().enumerate() {
        if !executors.iter().any(|e| Arc::ptr_eq(e, &future.inner)) {
            executors.push(future.inner.clone());
        }
        let to = arrivals.clone();
        future.slot.listen(Box::new(move || {
            let mut arrivals = lock(&to);
            arrivals.order.push_back(i);
            if let Some(waker) = arrivals.waker.take() {
                waker.wake();
            }
        }));
        pending.insert(i, future);
    }
    let total = pending.len();
    AsCompleted {
        pending,
        arrivals,
        executors,
        total,
    }
}

impl<R> AsCompleted<R> {
    /// How many futures it was given.
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many it has handed back.
    pub fn completed(&self) -> usize {
        self.total - self.pending.len()
    }

    /// The next future whose result is in, if one is.
    fn arrived(&mut self) -> Option<Future<R>> {
        loop {
            let i = lock(&self.arrivals).order.pop_front()?;
            if let Some(future) = self.pending.remove(&i) {
                return Some(future);
            }
        }
    }

    /// Collect for at most `timeout` on each executor, handing results to their futures.
    fn collect_for(&self, timeout: Duration) {
        for executor in &self.executors {
            executor.collect_for(timeout);
        }
    }

    /// The next future whose result is in, as a future to `.await` (`None` once all are
    /// handed back): an async iterator.
    pub fn next_completed(&mut self) -> NextCompleted<'_, R> {
        NextCompleted { of: self }
    }
}

impl<R> Iterator for AsCompleted<R> {
    type Item = Future<R>;

    fn next(&mut self) -> Option<Future<R>> {
        loop {
            if let Some(future) = self.arrived() {
                return Some(future);
            }
            if self.pending.is_empty() {
                return None;
            }
            self.collect_for(POLL);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

/// [`AsCompleted::next_completed`]: ready with the next future whose result is in.
#[must_use = "a future does nothing unless awaited"]
pub struct NextCompleted<'a, R> {
    of: &'a mut AsCompleted<R>,
}

impl<R> std::future::Future for NextCompleted<'_, R> {
    type Output = Option<Future<R>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Future<R>>> {
        let of = &mut *self.get_mut().of;
        if let Some(future) = of.arrived() {
            return Poll::Ready(Some(future));
        }
        if of.pending.is_empty() {
            return Poll::Ready(None);
        }
        // The waker first, then a look: a result that comes in between wakes it.
        lock(&of.arrivals).waker = Some(cx.waker().clone());
        for executor in &of.executors {
            executor.look();
        }
        if let Some(future) = of.arrived() {
            return Poll::Ready(Some(future));
        }
        for executor in &of.executors {
            executor.start_collector();
        }
        Poll::Pending
    }
}

/// When [`wait`] returns (Python: `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as one future is done.
    FirstCompleted,
    /// As soon as one future fails (an error, a cancel), or all are done.
    FirstException,
    /// When all are done.
    AllCompleted,
}

/// What [`wait`] returns: the futures done and not done, each in input order (Python: the
/// named tuple `(done, not_done)` of sets).
#[derive(Debug)]
pub struct Waited<R> {
    /// Done: their results are in.
    pub done: Vec<Future<R>>,
    /// Not done when `wait` returned.
    pub not_done: Vec<Future<R>>,
}

/// Wait until `return_when` holds for `futures`, or `timeout` passes (`None`: no limit);
/// the futures split into done and not done (Python: `wait(fs, timeout, return_when)`).
/// The calling thread collects results while it waits.
pub fn wait<R: DeserializeOwned + Send + 'static>(
    futures: impl IntoIterator<Item = Future<R>>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> Waited<R> {
    let deadline = Deadline::from_timeout(timeout);
    let mut waiting = as_completed(futures);
    let mut done: BTreeMap<usize, Future<R>> = BTreeMap::new();
    loop {
        while let Some(i) = lock(&waiting.arrivals).order.pop_front() {
            if let Some(future) = waiting.pending.remove(&i) {
                done.insert(i, future);
            }
        }
        let met = match return_when {
            ReturnWhen::FirstCompleted => !done.is_empty(),
            ReturnWhen::FirstException => done.values().any(|f| f.slot.failed() == Some(true)),
            ReturnWhen::AllCompleted => false,
        };
        if met || waiting.pending.is_empty() {
            break;
        }
        let slice = match &deadline {
            None => POLL,
            Some(d) if d.expired() => break,
            Some(d) => d.remaining().min(POLL),
        };
        waiting.collect_for(slice);
    }
    Waited {
        done: done.into_values().collect(),
        not_done: std::mem::take(&mut waiting.pending).into_values().collect(),
    }
}

impl<R> std::fmt::Debug for AsCompleted<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("total", &self.total)
            .field("completed", &self.completed())
            .finish()
    }
}

impl<R> std::fmt::Debug for NextCompleted<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextCompleted").finish_non_exhaustive()
    }
}
