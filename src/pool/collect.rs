//! Collecting outcomes: the pool has no thread of its own, so whoever waits takes the
//! outcomes off the result queue and files them in the book (`jobs.rs`), one waiting
//! thread at a time while the others sleep until something is filed (leader/follower);
//! a served worker's log records are logged on the way, and a job with a handler (an
//! executor's future, a call's callbacks) is handed its result the moment it is filed.

use super::jobs::Jobs;
use super::task::Outcome;
use super::{POLL, Pool};
use crate::deadline::Deadline;
use crate::error::Result;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Given a settled job's chunks (or its failure) when it settles: see [`Pool::on_settled`].
pub(crate) type Handler = Box<dyn FnOnce(Result<Vec<Vec<u8>>>) + Send>;

/// What the pool's threads share under one lock: the pure bookkeeping, and whether one of
/// them is taking outcomes off the result queue now (the others wait for it on `filed`).
#[derive(Default)]
pub(super) struct Book {
    pub(super) jobs: Jobs,
    /// Threads waiting for the collector on `filed`.
    pub(super) waiting: usize,
    /// Outcomes (and wake-ups) filed so far: what `wait_any` waits to change.
    pub(super) filings: u64,
}

impl Book {
    pub(super) fn with_retries(retries: u32) -> Book {
        let mut book = Book::default();
        book.jobs.set_retries(retries);
        book
    }

    pub(super) fn file(&mut self, outcome: Outcome) {
        self.jobs.file(outcome);
        self.filings += 1;
    }
}

impl Pool {
    pub(super) fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    /// Wait until `check` finds what it looks for in the book (`Some`), or `deadline`
    /// passes (`None`). One waiting thread at a time collects: it sleeps on the result
    /// queue until `batch` outcomes are queued (the least that can settle what it waits
    /// for, so waking for each one would be wasted; one if other threads wait too) or one
    /// POLL passes, files what came and wakes the others; the others sleep on `filed`
    /// meanwhile. (A thread that starts waiting while the collector sleeps for a batch
    /// gets its outcome when that batch is in, or within one POLL.) On a quiet queue the
    /// collector checks that the server is still alive.
    pub(super) fn wait_for<T>(
        &self,
        deadline: Option<&Deadline>,
        mut check: impl FnMut(&mut Book) -> Option<T>,
        batch: impl Fn(&Book) -> usize,
    ) -> Option<T> {
        let mut book = self.book();
        loop {
            if let Some(found) = check(&mut book) {
                return Some(found);
            }
            let slice = match deadline {
                None => POLL,
                Some(d) if d.expired() => return None,
                Some(d) => d.remaining().min(POLL),
            };
            if self.collecting.load(SeqCst) {
                book.waiting += 1;
                book = self
                    .filed
                    .wait_timeout(book, slice)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                book.waiting -= 1;
                continue;
            }
            // With others waiting, whatever comes may be theirs: wake for each outcome.
            let want = if book.waiting > 0 {
                1
            } else {
                batch(&book).max(1) as u64
            };
            self.collecting.store(true, SeqCst);
            drop(book);
            let collector = Collector(self);
            let first = self.results.get_value_once::<Outcome>(want, Some(slice));
            let outcomes = self.log_records(first.into_iter().chain(self.queued()));
            // Log records alone are not news: a chatty worker must not hide a dead server.
            let idle = outcomes.is_empty();
            book = self.book();
            let before = book.filings;
            for outcome in outcomes {
                book.file(outcome);
            }
            if idle {
                self.check_server(&mut book);
            }
            // Only now may another waiter collect: had it begun before what came was filed,
            // it would sleep on the queue for an outcome already taken. Cleared under the
            // book's lock, so a waiter that found it set is waiting on `filed` by now.
            self.collecting.store(false, SeqCst);
            std::mem::forget(collector);
            let filed = book.filings != before;
            drop(book);
            self.filed.notify_all();
            if filed {
                self.resend();
                self.dispatch();
            }
            book = self.book();
        }
    }

    /// Every outcome queued now, without waiting.
    fn queued(&self) -> impl Iterator<Item = Outcome> + '_ {
        std::iter::from_fn(|| self.results.get_value(Some(Duration::ZERO)).ok())
    }

    /// The outcomes to file: a served worker's log records among `outcomes` are logged
    /// through the owner's logger here (they are no book-keeping, and no news for
    /// `wait_any`).
    fn log_records(&self, outcomes: impl IntoIterator<Item = Outcome>) -> Vec<Outcome> {
        outcomes
            .into_iter()
            .filter_map(|outcome| match outcome {
                Outcome::Log {
                    level,
                    target,
                    message,
                    worker,
                    pid,
                } => {
                    crate::logging::emit(level, &target, &message, &worker, pid);
                    None
                }
                other => Some(other),
            })
            .collect()
    }

    /// File every outcome already queued (whoever else is collecting).
    pub(super) fn drain(&self) {
        let outcomes = self.log_records(self.queued());
        if outcomes.is_empty() {
            return;
        }
        let mut book = self.book();
        for outcome in outcomes {
            book.file(outcome);
        }
        drop(book);
        self.filed.notify_all();
        self.resend();
        self.dispatch();
    }

    /// File what is queued and, unless another thread is collecting (and so watching the
    /// server), check that the server lives: a look at the book without waiting.
    pub(crate) fn poll_now(&self) {
        self.drain();
        let mut book = self.book();
        if !self.collecting.load(SeqCst) {
            let before = book.filings;
            self.check_server(&mut book);
            if book.filings != before {
                drop(book);
                self.filed.notify_all();
                self.dispatch();
            }
        }
    }

    /// If the server has ended although we did not terminate it, nothing pending can
    /// complete: collect what did, fail the rest, refuse new work.
    fn check_server(&self, book: &mut Book) {
        if book.jobs.pending_tasks() == 0 {
            return;
        }
        let Some(code) = self.server().exitcode() else {
            return;
        };
        for outcome in self.log_records(self.queued()) {
            book.file(outcome);
        }
        if book.jobs.pending_tasks() == 0 {
            return;
        }
        let reason = format!("the pool's server process ended (exit code {code})");
        book.jobs.break_pool(reason);
        book.filings += 1;
    }

    /// Give `job`'s result to `handler` the moment it settles (now, if it has): on the
    /// thread that files it, whichever of the pool's waiting threads that is. The handler
    /// runs with no lock of the pool held; it must not panic (those given here catch the
    /// panics of the user's code they run).
    pub(crate) fn on_settled(&self, job: u64, handler: Handler) {
        lock(&self.handlers).insert(job, handler);
        self.book().jobs.watch(job);
        self.dispatch();
    }

    /// The jobs that have a handler still waiting for their result.
    pub(crate) fn handled_jobs(&self) -> Vec<u64> {
        lock(&self.handlers).keys().copied().collect()
    }

    /// Hand every watched job that settled to its handler.
    pub(super) fn dispatch(&self) {
        loop {
            let settled = self.book().jobs.take_settled();
            if settled.is_empty() {
                return;
            }
            for job in settled {
                let Some(handler) = lock(&self.handlers).remove(&job) else {
                    continue;
                };
                handler(self.take_job(job));
            }
        }
    }

    /// Hand over a settled job's chunks (or its failure) and drop it from the book.
    pub(crate) fn take_job(&self, job: u64) -> Result<Vec<Vec<u8>>> {
        let mut book = self.book();
        let parts = book.jobs.take_all(job);
        book.jobs.forget(job);
        parts
    }
}

/// Lock `m`, ignoring poison: the state under these locks (the pool's book, an executor's
/// future slots) is changed only in single calls that leave it whole, so a thread that
/// panicked holding one left it consistent. Written once for the pool and the executor.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The collecting thread's mark, taken off if it unwinds while collecting (a logger of the
/// user's that panics, say), so another waiter collects. Lock-free: it may run while the
/// unwinding thread holds the book's lock.
struct Collector<'a>(&'a Pool);

impl Drop for Collector<'_> {
    fn drop(&mut self) {
        self.0.collecting.store(false, SeqCst);
        self.0.filed.notify_all();
    }
}
