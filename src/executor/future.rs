//! [`Future`]: the handle [`ProcessPoolExecutor::submit`](super::ProcessPoolExecutor::submit)
//! returns, and the slot its result is handed to.
//!
//! A result travels from the pool's book of calls into the future's slot as soon as any
//! thread files it (the executor's collector thread, or a thread of yours waiting in
//! `result`, `as_completed` or `wait`): the slot decodes it, wakes the task awaiting it,
//! tells the `as_completed`/`wait` listening, and runs the done callbacks.

use super::Inner;
use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use serde::de::DeserializeOwned;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A done callback: given the result (or, if it was taken already, that error).
type Callback<R> = Box<dyn FnOnce(&Result<R>) + Send>;

/// One future's result and who is waiting for it.
pub(super) struct Slot<R> {
    state: Mutex<State<R>>,
    settled: Condvar,
}

struct State<R> {
    /// `Some` from the moment the result is in until it is taken.
    result: Option<Result<R>>,
    done: bool,
    cancelled: bool,
    /// The task awaiting the future (the last one to poll it).
    waker: Option<Waker>,
    callbacks: Vec<Callback<R>>,
    /// `as_completed` and `wait` listening: told once, when the result is in.
    listeners: Vec<Box<dyn FnOnce() + Send>>,
}

impl<R> Slot<R> {
    pub(super) fn new() -> Slot<R> {
        Slot {
            state: Mutex::new(State {
                result: None,
                done: false,
                cancelled: false,
                waker: None,
                callbacks: Vec::new(),
                listeners: Vec::new(),
            }),
            settled: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<R>> {
        crate::pool::lock(&self.state)
    }

    /// Call `listener` once the result is in: now, if it is.
    pub(super) fn listen(&self, listener: Box<dyn FnOnce() + Send>) {
        let mut state = self.state();
        if state.done {
            drop(state);
            listener();
        } else {
            state.listeners.push(listener);
        }
    }

    /// Whether the result is in and is an error (`None`: not in, or taken).
    pub(super) fn failed(&self) -> Option<bool> {
        self.state().result.as_ref().map(Result::is_err)
    }
}

impl<R: DeserializeOwned + Send> Slot<R> {
    /// The job's chunks (or its failure), from the pool the moment the job settles.
    pub(super) fn settle(&self, parts: Result<Vec<Vec<u8>>>) {
        let cancelled = matches!(parts, Err(Error::Cancelled));
        let result = crate::codec::guarded(|| {
            let bytes = parts?.pop().unwrap_or_default();
            crate::codec::decode::<R>(&bytes)
        });
        let mut state = self.state();
        if state.done {
            return;
        }
        state.done = true;
        state.cancelled = cancelled;
        let callbacks = std::mem::take(&mut state.callbacks);
        let listeners = std::mem::take(&mut state.listeners);
        let waker = state.waker.take();
        if callbacks.is_empty() {
            state.result = Some(result);
            drop(state);
        } else {
            drop(state);
            run_callbacks(callbacks, &result);
            self.state().result = Some(result);
        }
        self.settled.notify_all();
        for listener in listeners {
            listener();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Run each callback on `result` (a panicking one is reported and the others run).
fn run_callbacks<R>(callbacks: Vec<Callback<R>>, result: &Result<R>) {
    for callback in callbacks {
        crate::error::run_callback(|| callback(result));
    }
}

/// The result of one submitted task (Python: `concurrent.futures.Future`). `Send + Sync`;
/// `.await` it in async code, or wait with [`Future::result`] in threads.
///
/// Differences from Python: the result is handed over once ([`Future::result`] and
/// `.await` give the value; a second call is [`InvalidKind::AlreadyTaken`]); [`Future::cancel`]
/// stops a task that is already running (its worker is killed and replaced), where Python's
/// cannot; a dropped future does not cancel its task (its result is discarded when it
/// comes).
#[must_use = "a future does nothing unless waited for; dropping it discards the result"]
pub struct Future<R> {
    pub(super) inner: Arc<Inner>,
    pub(super) job: u64,
    pub(super) slot: Arc<Slot<R>>,
}

impl<R: DeserializeOwned + Send + 'static> Future<R> {
    /// Wait for the task and take its result (Python: `result()`).
    pub fn result(&self) -> Result<R> {
        self.result_until(None)
    }

    /// Wait at most `timeout` (Python: `result(timeout)`): `Error::Timeout` if it is not in
    /// then (the task goes on, and a later call can still take the result).
    pub fn result_timeout(&self, timeout: Duration) -> Result<R> {
        self.result_until(Deadline::after(timeout))
    }

    fn result_until(&self, deadline: Option<Deadline>) -> Result<R> {
        loop {
            {
                let mut state = self.slot.state();
                if state.done {
                    return take(&mut state);
                }
            }
            if !self.inner.pool.wait_for_job(self.job, deadline) {
                return Err(Error::Timeout);
            }
            // Another thread may be handing the result over right now: give it a moment.
            let state = self.slot.state();
            if !state.done {
                let _unused = self
                    .slot
                    .settled
                    .wait_timeout(state, Duration::from_millis(10))
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// A number that tells this future from every other of its executor (Python keys a
    /// dict by the future itself, `{executor.submit(f, x): x ...}`; key a map by this).
    pub fn id(&self) -> u64 {
        self.job
    }

    /// Whether the result is in (Python: `done()`): a value, a failure or a cancel.
    pub fn done(&self) -> bool {
        if !self.slot.state().done {
            self.inner.look();
        }
        self.slot.state().done
    }

    /// Whether a worker is running the task now (Python: `running()`).
    pub fn running(&self) -> bool {
        !self.done() && self.inner.pool.running(self.job)
    }

    /// Cancel the task unless its result is in (Python: `cancel()`); whether it was
    /// cancelled. A queued task is removed; a running one is stopped: its worker is killed
    /// and replaced. The future then resolves [`Error::Cancelled`]. False, and nothing
    /// changed, once the result is in: exactly one of the two wins.
    pub fn cancel(&self) -> bool {
        self.inner.pool.cancel_job(self.job)
    }

    /// Whether the task was cancelled (Python: `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.done() && self.slot.state().cancelled
    }

    /// Call `callback` with the result once it is in (Python: `add_done_callback`); at once,
    /// on this thread, if it is in already. It runs on the thread that hands the result
    /// over: the executor's collector thread, which this starts (see the
    /// [module docs](super)), or a thread of yours waiting for results. A callback that
    /// panics is reported on stderr and breaks nothing. It is given the result by
    /// reference (or, if it was taken already, that error).
    pub fn add_done_callback(&self, callback: impl FnOnce(&Result<R>) + Send + 'static) {
        let mut state = self.slot.state();
        if !state.done {
            state.callbacks.push(Box::new(callback));
            drop(state);
            self.inner.start_collector();
            return;
        }
        let taken;
        let result = match &state.result {
            Some(result) => result,
            None => {
                taken = Err(Error::invalid(
                    InvalidKind::AlreadyTaken,
                    "the result was already taken",
                ));
                &taken
            }
        };
        run_callbacks(vec![Box::new(callback)], result);
    }
}

/// Take the result out of a done slot, once.
fn take<R>(state: &mut State<R>) -> Result<R> {
    state.result.take().unwrap_or_else(|| {
        Err(Error::invalid(
            InvalidKind::AlreadyTaken,
            "the result was already taken",
        ))
    })
}

impl<R: DeserializeOwned + Send + 'static> std::future::Future for Future<R> {
    type Output = Result<R>;

    /// Ready once the result is in. While it is not, the task sleeps (no polling): the
    /// executor's collector thread, started by the first such wait, wakes it.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R>> {
        let this = self.get_mut();
        if !this.slot.state().done {
            this.inner.look();
        }
        let mut state = this.slot.state();
        if state.done {
            return Poll::Ready(take(&mut state));
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        drop(state);
        this.inner.start_collector();
        Poll::Pending
    }
}

impl<R> std::fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.slot.state();
        f.debug_struct("Future")
            .field("job", &self.job)
            .field("done", &state.done)
            .field("cancelled", &state.cancelled)
            .finish_non_exhaustive()
    }
}
