//! The owner's book of calls: which tasks were submitted for which call, what came back,
//! and what a dead worker or a broken pool means for each. Pure data: nothing here forks,
//! waits or touches a queue, so it is unit-tested with plain `#[test]`s.
//!
//! Words: a *job* is one call (`map`, `apply_async`, one `imap`); it is cut into *chunks*,
//! each sent to the workers as one *task* with its own id. Chunks are numbered in input
//! order from 0; a streaming `imap` adds them as it reads its input.
//!
//! Exactly one outcome counts for each task, and the book decides which: the first filed.
//! A task's own outcome (done, panicked, timed out), a dead worker, a cancel: whichever
//! the book files first settles the chunk, and later ones for that task are discarded
//! (a `Done` that comes in after a cancel, say).

use super::task::Outcome;
use crate::error::{Error, InvalidKind, Result};
use std::collections::HashMap;

/// One chunk not handed over yet.
#[derive(Debug)]
enum Chunk {
    /// Sent as task `.0`, no outcome yet.
    Pending(u64),
    Done(Vec<u8>),
    Failed(Error),
}

#[derive(Debug, Default)]
struct Job {
    /// Chunks not handed over yet, by index: a streaming job keeps only its window here.
    chunks: HashMap<usize, Chunk>,
    /// Chunks added so far.
    added: usize,
    /// Whether any chunk failed (kept after the chunks are handed over).
    failed: bool,
    /// Whether the results were handed over as a whole (`take_all`).
    taken: bool,
    /// Whether the job was cancelled (`cancel`).
    cancelled: bool,
}

impl Job {
    fn pending(&self) -> usize {
        self.chunks
            .values()
            .filter(|c| matches!(c, Chunk::Pending(_)))
            .count()
    }
}

/// A task as it was sent, kept to send it again if its worker dies
/// ([`PoolBuilder::retries`](super::PoolBuilder::retries)).
#[derive(Debug, Clone)]
pub(crate) struct Resend {
    pub call: i64,
    pub func: i64,
    pub timeout: u64,
    pub args: Vec<u8>,
    /// Times it was sent again so far.
    pub attempts: u32,
}

/// Every call of one pool, and the pool's state as its owner knows it.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    next_task: u64,
    next_job: u64,
    jobs: HashMap<u64, Job>,
    /// Task id -> (job, chunk), for tasks with no outcome yet.
    tasks: HashMap<u64, (u64, usize)>,
    closed: bool,
    terminated: bool,
    broken: Option<String>,
    /// How many times a task whose worker died is sent again (`PoolBuilder::retries`).
    retries: u32,
    /// What it takes to send a task again, while it has no outcome (only with retries).
    resendable: HashMap<u64, Resend>,
    /// Tasks whose worker died, to be sent again (`take_resends`).
    resends: Vec<(u64, Resend)>,
    /// The jobs to log once they settle (`watch`), and the log.
    watched: std::collections::HashSet<u64>,
    newly_settled: Vec<u64>,
}

impl Jobs {
    // ----- who is told what settled -------------------------------------------------

    /// Log `job` once it settles (now, if it has), for [`Jobs::take_settled`]: a result
    /// with a handler (an executor's future, a callback) is handed to it as soon as it is
    /// filed.
    pub(crate) fn watch(&mut self, job: u64) {
        self.watched.insert(job);
        self.note(job);
    }

    /// The watched jobs that settled since the last call, each once.
    pub(crate) fn take_settled(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.newly_settled)
    }

    fn note(&mut self, job: u64) {
        if self.watched.contains(&job) && self.settled(job) {
            self.watched.remove(&job);
            self.newly_settled.push(job);
        }
    }

    // ----- the pool's state ---------------------------------------------------------

    /// Why no new call may start now, if one may not.
    pub(crate) fn refusal(&self) -> Option<Error> {
        if let Some(reason) = &self.broken {
            return Some(Error::WorkerDied(format!("the pool is broken: {reason}")));
        }
        if self.closed || self.terminated {
            return Some(Error::invalid(
                InvalidKind::PoolClosed,
                "the pool is closed",
            ));
        }
        None
    }

    /// Mark closed; whether it was open.
    pub(crate) fn close(&mut self) -> bool {
        !std::mem::replace(&mut self.closed, true) && !self.terminated
    }

    /// Mark terminated (and closed); whether it was not terminated yet.
    pub(crate) fn terminate(&mut self) -> bool {
        self.closed = true;
        !std::mem::replace(&mut self.terminated, true)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// Nothing can run any more: fail every pending chunk with `WorkerDied(reason)` and
    /// refuse new calls.
    pub(crate) fn break_pool(&mut self, reason: String) {
        let error = format!("the pool is broken: {reason}");
        self.broken = Some(reason);
        self.fail_pending(|| Error::WorkerDied(error.clone()));
    }

    /// Tasks sent whose outcome has not come back.
    pub(crate) fn pending_tasks(&self) -> usize {
        self.tasks.len()
    }

    // ----- submitting ---------------------------------------------------------------

    /// Send a task whose worker died again, up to `n` times (0: never, the default).
    pub(crate) fn set_retries(&mut self, n: u32) {
        self.retries = n;
    }

    /// Whether sent tasks are kept to be sent again (`keep`).
    pub(crate) fn retrying(&self) -> bool {
        self.retries > 0
    }

    /// Keep task `id` as it was sent, in case its worker dies.
    pub(crate) fn keep(&mut self, id: u64, task: Resend) {
        if self.tasks.contains_key(&id) {
            self.resendable.insert(id, task);
        }
    }

    /// The tasks to send again, with their ids (the same as before).
    pub(crate) fn take_resends(&mut self) -> Vec<(u64, Resend)> {
        std::mem::take(&mut self.resends)
    }

    /// A new job with no chunks yet.
    pub(crate) fn begin(&mut self) -> u64 {
        self.next_job += 1;
        self.jobs.insert(self.next_job, Job::default());
        self.next_job
    }

    /// Add the next chunk to `job`: the id of the task that carries it.
    pub(crate) fn add_chunk(&mut self, job: u64) -> u64 {
        self.next_task += 1;
        let id = self.next_task;
        if let Some(j) = self.jobs.get_mut(&job) {
            let i = j.added;
            j.added += 1;
            j.chunks.insert(i, Chunk::Pending(id));
            self.tasks.insert(id, (job, i));
        }
        id
    }

    /// The chunk carried by task `id` could not be sent: it fails with `error`.
    pub(crate) fn unsent(&mut self, id: u64, error: Error) {
        self.settle(id, Err(error));
    }

    /// The tasks of `job` with no outcome yet.
    pub(crate) fn pending_ids(&self, job: u64) -> Vec<u64> {
        self.jobs.get(&job).map_or_else(Vec::new, |j| {
            j.chunks
                .values()
                .filter_map(|c| match c {
                    Chunk::Pending(id) => Some(*id),
                    _ => None,
                })
                .collect()
        })
    }

    // ----- outcomes -----------------------------------------------------------------

    /// File one message from the result queue.
    pub(crate) fn file(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done { id, value } => self.settle(id, Ok(value)),
            Outcome::Panicked { id, message } => self.settle(id, Err(Error::TaskPanicked(message))),
            Outcome::Codec { id, message } => self.settle(id, Err(Error::Codec(message))),
            Outcome::WorkerDied { id, what } => self.worker_died(id, what),
            Outcome::TimedOut { id } => self.settle(id, Err(Error::TimedOut)),
            Outcome::Cancelled { id } => self.settle(id, Err(Error::Cancelled)),
            Outcome::Broken { reason } => self.break_pool(reason),
            // Logged by the pool as it takes them (`Pool::take`), not book-keeping.
            Outcome::Wake | Outcome::Log { .. } => {}
        }
    }

    /// Task `id`'s worker died: send it again if it has retries left, else fail it (a task
    /// that killed every worker it ran on is poison).
    fn worker_died(&mut self, id: u64, what: String) {
        if let Some(mut task) = self.resendable.remove(&id) {
            if task.attempts < self.retries && self.tasks.contains_key(&id) {
                task.attempts += 1;
                self.resends.push((id, task));
                return;
            }
            let runs = task.attempts + 1;
            let what = format!(
                "{what}; it was run {runs} times and killed a worker each time (a poison task)"
            );
            return self.settle(id, Err(Error::WorkerDied(what)));
        }
        self.settle(id, Err(Error::WorkerDied(what)));
    }

    /// The first outcome of a task counts; a later one (a task reported dead, then run
    /// elsewhere) or one of a forgotten job is ignored.
    fn settle(&mut self, id: u64, outcome: Result<Vec<u8>>) {
        self.resendable.remove(&id);
        let Some((job, i)) = self.tasks.remove(&id) else {
            return;
        };
        if let Some(j) = self.jobs.get_mut(&job)
            && let Some(chunk) = j.chunks.get_mut(&i)
        {
            *chunk = match outcome {
                Ok(bytes) => Chunk::Done(bytes),
                Err(e) => {
                    j.failed = true;
                    Chunk::Failed(e)
                }
            };
        }
        self.note(job);
    }

    /// Fail every chunk still waiting for its outcome.
    pub(crate) fn fail_pending(&mut self, error: impl Fn() -> Error) {
        let tasks: Vec<(u64, usize)> = self.tasks.drain().map(|(_, at)| at).collect();
        self.resendable.clear();
        self.resends.clear();
        for (job, i) in tasks {
            if let Some(j) = self.jobs.get_mut(&job)
                && let Some(chunk) = j.chunks.get_mut(&i)
            {
                *chunk = Chunk::Failed(error());
                j.failed = true;
            }
            self.note(job);
        }
    }

    // ----- cancelling ---------------------------------------------------------------

    /// Cancel `job` unless it is settled (every chunk filed, one failed, or handed over) or
    /// not in the book: its chunks still waiting fail with `Error::Cancelled`, and whatever
    /// comes back for them later is discarded. The ids of those tasks (for the server to
    /// stop those that run), or `None` if the job could not be cancelled: its result
    /// stands.
    pub(crate) fn cancel(&mut self, job: u64) -> Option<Vec<u64>> {
        if self.settled(job) {
            return None;
        }
        let j = self.jobs.get_mut(&job)?;
        let mut ids = Vec::new();
        for chunk in j.chunks.values_mut() {
            if let Chunk::Pending(id) = *chunk {
                self.tasks.remove(&id);
                self.resendable.remove(&id);
                ids.push(id);
                *chunk = Chunk::Failed(Error::Cancelled);
            }
        }
        j.failed = true;
        j.cancelled = true;
        self.note(job);
        Some(ids)
    }

    /// Whether `job` was cancelled.
    pub(crate) fn cancelled(&self, job: u64) -> bool {
        self.jobs.get(&job).is_some_and(|j| j.cancelled)
    }

    // ----- a whole job (apply, map) -------------------------------------------------

    /// All chunks done, or one failed (a job fails as a whole, as in Python), or handed
    /// over; also true for a job not in the book.
    pub(crate) fn settled(&self, job: u64) -> bool {
        self.jobs
            .get(&job)
            .is_none_or(|j| j.taken || j.failed || j.pending() == 0)
    }

    /// Whether a settled job succeeded.
    pub(crate) fn succeeded(&self, job: u64) -> Option<bool> {
        self.jobs.get(&job).map(|j| !j.failed)
    }

    /// Chunks of `job` still waiting for their outcome.
    pub(crate) fn missing(&self, job: u64) -> usize {
        self.jobs.get(&job).map_or(0, Job::pending)
    }

    /// Hand over a settled job's chunks in order, or its first failure in input order.
    /// Once only: the job then keeps only whether it succeeded.
    pub(crate) fn take_all(&mut self, job: u64) -> Result<Vec<Vec<u8>>> {
        let j = self
            .jobs
            .get_mut(&job)
            .filter(|j| !j.taken)
            .ok_or_else(|| {
                Error::invalid(InvalidKind::AlreadyTaken, "the result was already taken")
            })?;
        j.taken = true;
        let mut chunks = std::mem::take(&mut j.chunks);
        let mut parts = Vec::with_capacity(j.added);
        let mut first_error = None;
        for i in 0..j.added {
            match chunks.remove(&i) {
                Some(Chunk::Done(bytes)) => parts.push(bytes),
                Some(Chunk::Failed(e)) => {
                    first_error.get_or_insert(e);
                }
                Some(Chunk::Pending(id)) => {
                    self.tasks.remove(&id);
                    self.resendable.remove(&id);
                }
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(parts),
        }
    }

    // ----- chunk by chunk (imap) ----------------------------------------------------

    /// Hand over chunk `want` of `job` if it has an outcome (`None`: any chunk that has),
    /// with its index. `Ok(None)`: not yet. `Err`: the job is not in the book.
    #[allow(clippy::type_complexity)]
    pub(crate) fn take_chunk(
        &mut self,
        job: u64,
        want: Option<usize>,
    ) -> Result<Option<(usize, Result<Vec<u8>>)>> {
        let j = self.jobs.get_mut(&job).ok_or_else(|| {
            Error::invalid(InvalidKind::AlreadyTaken, "the results were already taken")
        })?;
        let ready = |c: &Chunk| !matches!(c, Chunk::Pending(_));
        let found = match want {
            Some(i) => j.chunks.get(&i).is_some_and(ready).then_some(i),
            None => j.chunks.iter().find(|(_, c)| ready(c)).map(|(&i, _)| i),
        };
        Ok(found.map(|i| {
            let outcome = match j.chunks.remove(&i) {
                Some(Chunk::Done(bytes)) => Ok(bytes),
                Some(Chunk::Failed(e)) => Err(e),
                _ => unreachable!("checked ready"),
            };
            (i, outcome)
        }))
    }

    /// Chunks of `job` added and not handed over: what its results hold in memory or
    /// in the queues at most.
    pub(crate) fn in_flight(&self, job: u64) -> usize {
        self.jobs.get(&job).map_or(0, |j| j.chunks.len())
    }

    /// Drop a job nobody will collect; its late outcomes are ignored.
    pub(crate) fn forget(&mut self, job: u64) {
        if let Some(j) = self.jobs.remove(&job) {
            for chunk in j.chunks.into_values() {
                if let Chunk::Pending(id) = chunk {
                    self.tasks.remove(&id);
                    self.resendable.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(id: u64, byte: u8) -> Outcome {
        Outcome::Done {
            id,
            value: vec![byte],
        }
    }

    fn died(id: u64) -> Outcome {
        Outcome::WorkerDied {
            id,
            what: "worker pid 1 was killed by SIGKILL".into(),
        }
    }

    /// A job of `n` chunks; their task ids.
    fn job_of(book: &mut Jobs, n: usize) -> (u64, Vec<u64>) {
        let job = book.begin();
        let ids = (0..n).map(|_| book.add_chunk(job)).collect();
        (job, ids)
    }

    #[test]
    fn chunks_come_back_in_input_order_whatever_order_they_finish_in() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 3);
        book.file(done(ids[2], 2));
        book.file(done(ids[0], 0));
        assert!(!book.settled(job));
        assert_eq!(book.missing(job), 1);
        book.file(done(ids[1], 1));
        assert!(book.settled(job));
        assert_eq!(book.succeeded(job), Some(true));
        assert_eq!(book.take_all(job).unwrap(), [[0], [1], [2]]);
        assert!(
            matches!(book.take_all(job), Err(Error::Invalid { .. })),
            "handed over once"
        );
        assert_eq!(book.succeeded(job), Some(true), "the outcome stays");
        assert_eq!(book.pending_tasks(), 0);
    }

    #[test]
    fn one_failed_chunk_settles_and_fails_the_whole_job() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 3);
        book.file(Outcome::Panicked {
            id: ids[1],
            message: "boom".into(),
        });
        assert!(book.settled(job), "settled with chunks still pending");
        assert_eq!(book.succeeded(job), Some(false));
        assert!(matches!(book.take_all(job), Err(Error::TaskPanicked(m)) if m == "boom"));
        assert_eq!(book.pending_tasks(), 0, "its pending tasks are forgotten");
        book.file(done(ids[0], 0)); // late: ignored
        assert_eq!(book.succeeded(job), Some(false));
    }

    #[test]
    fn a_dead_worker_fails_only_its_own_task_and_the_first_outcome_counts() {
        let mut book = Jobs::default();
        let (a, a_ids) = job_of(&mut book, 2);
        let (b, b_ids) = job_of(&mut book, 1);
        book.file(died(a_ids[1]));
        book.file(done(a_ids[1], 9)); // the same task reported again: ignored
        book.file(done(a_ids[0], 0));
        book.file(done(b_ids[0], 7));
        assert!(matches!(book.take_all(a), Err(Error::WorkerDied(w)) if w.contains("SIGKILL")));
        assert_eq!(book.take_all(b).unwrap(), [[7]], "other calls unaffected");
        assert!(book.refusal().is_none(), "the pool stays usable");
    }

    #[test]
    fn a_broken_pool_fails_everything_pending_and_refuses_new_calls() {
        let mut book = Jobs::default();
        let (a, a_ids) = job_of(&mut book, 2);
        book.file(done(a_ids[0], 0));
        book.file(Outcome::Broken {
            reason: "a worker's initializer failed".into(),
        });
        assert!(book.settled(a));
        assert!(matches!(book.take_all(a), Err(Error::WorkerDied(w)) if w.contains("initializer")));
        assert!(matches!(book.refusal(), Some(Error::WorkerDied(_))));
        assert_eq!(book.pending_tasks(), 0);
    }

    #[test]
    fn close_and_terminate_refuse_new_calls_and_report_the_first_time() {
        let mut book = Jobs::default();
        assert!(book.close());
        assert!(!book.close());
        assert!(matches!(book.refusal(), Some(Error::Invalid { .. })));
        assert!(book.terminate());
        assert!(!book.terminate());
        assert!(book.is_closed() && book.is_terminated());
        let mut other = Jobs::default();
        assert!(other.terminate());
        assert!(!other.close(), "a terminated pool needs no closing");
    }

    #[test]
    fn chunks_are_handed_over_one_by_one_in_order_or_as_they_come() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 3);
        book.file(done(ids[1], 1));
        assert!(
            book.take_chunk(job, Some(0)).unwrap().is_none(),
            "0 not back"
        );
        let (i, got) = book.take_chunk(job, None).unwrap().unwrap();
        assert_eq!((i, got.unwrap()), (1, vec![1]));
        assert_eq!(book.in_flight(job), 2);
        book.file(died(ids[0]));
        let (i, got) = book.take_chunk(job, Some(0)).unwrap().unwrap();
        assert_eq!(i, 0);
        assert!(matches!(got, Err(Error::WorkerDied(_))));
        // A streaming job goes on adding chunks after some were handed over.
        let late = book.add_chunk(job);
        assert_eq!(book.in_flight(job), 2);
        book.file(done(late, 3));
        book.file(done(ids[2], 2));
        assert_eq!(book.take_chunk(job, Some(2)).unwrap().unwrap().0, 2);
        assert_eq!(book.take_chunk(job, Some(3)).unwrap().unwrap().0, 3);
        assert_eq!(book.in_flight(job), 0);
        book.forget(job);
        assert!(matches!(
            book.take_chunk(job, None),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn a_forgotten_job_drops_its_tasks_and_ignores_late_outcomes() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 2);
        book.forget(job);
        assert_eq!(book.pending_tasks(), 0);
        book.file(done(ids[0], 0));
        assert!(book.settled(job), "a job not in the book is settled");
        assert_eq!(book.succeeded(job), None);
    }

    #[test]
    fn terminate_fails_what_is_pending_with_the_given_error() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 2);
        book.file(done(ids[0], 0));
        book.terminate();
        book.fail_pending(|| Error::Closed);
        assert!(matches!(book.take_all(job), Err(Error::Closed)));
    }

    #[test]
    fn a_timed_out_or_cancelled_task_fails_only_its_own_call() {
        let mut book = Jobs::default();
        let (a, a_ids) = job_of(&mut book, 2);
        let (b, b_ids) = job_of(&mut book, 1);
        let (c, c_ids) = job_of(&mut book, 1);
        book.file(done(a_ids[0], 0));
        book.file(Outcome::TimedOut { id: a_ids[1] });
        book.file(done(a_ids[1], 1)); // late, after the kill was filed: discarded
        book.file(Outcome::Cancelled { id: c_ids[0] });
        book.file(done(b_ids[0], 7));
        assert!(matches!(book.take_all(a), Err(Error::TimedOut)));
        assert!(matches!(book.take_all(c), Err(Error::Cancelled)));
        assert_eq!(book.take_all(b).unwrap(), [[7]], "other calls unaffected");
        assert!(book.refusal().is_none(), "the pool stays usable");
        assert_eq!(book.pending_tasks(), 0);
    }

    #[test]
    fn a_cancel_wins_over_a_later_result_and_names_the_tasks_to_stop() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 3);
        book.file(done(ids[0], 0));
        let mut stop = book.cancel(job).expect("not settled: cancellable");
        stop.sort_unstable();
        assert_eq!(stop, [ids[1], ids[2]], "only the tasks still waiting");
        assert!(book.cancelled(job));
        assert!(book.settled(job));
        assert_eq!(book.succeeded(job), Some(false));
        assert_eq!(book.pending_tasks(), 0);
        book.file(done(ids[1], 1)); // it ran anyway: discarded
        book.file(Outcome::Cancelled { id: ids[2] }); // the server's report: discarded
        assert!(book.cancel(job).is_none(), "once");
        assert!(matches!(book.take_all(job), Err(Error::Cancelled)));
        assert!(book.cancelled(job));
    }

    #[test]
    fn a_result_filed_first_wins_over_a_cancel() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 1);
        book.file(done(ids[0], 5));
        assert!(book.cancel(job).is_none(), "the result is filed: too late");
        assert!(!book.cancelled(job));
        assert_eq!(book.take_all(job).unwrap(), [[5]], "the result stays");
        assert!(book.cancel(job).is_none(), "handed over: too late");
        let (failed, ids) = job_of(&mut book, 2);
        book.file(died(ids[0]));
        assert!(book.cancel(failed).is_none(), "a failed job is settled");
        assert!(book.cancel(999).is_none(), "not in the book");
        assert!(!book.cancelled(999));
    }

    #[test]
    fn a_watched_job_is_logged_once_when_it_settles() {
        let mut book = Jobs::default();
        let (a, ids_a) = job_of(&mut book, 2);
        let (b, ids_b) = job_of(&mut book, 1);
        let (c, _) = job_of(&mut book, 1);
        let (unwatched, ids_u) = job_of(&mut book, 1);
        for job in [a, b, c] {
            book.watch(job);
        }
        book.file(done(ids_a[0], 1));
        assert!(book.take_settled().is_empty(), "half of a is not settled");
        book.file(done(ids_a[1], 2));
        book.file(died(ids_b[0]));
        book.file(done(ids_u[0], 3));
        assert_eq!(book.take_settled(), [a, b], "{unwatched} is not watched");
        assert!(book.cancel(c).is_some());
        assert_eq!(book.take_settled(), [c]);
        let (d, _) = job_of(&mut book, 3);
        book.watch(d);
        book.fail_pending(|| Error::Closed);
        assert_eq!(book.take_settled(), [d], "once, though three chunks failed");
        let (e, ids_e) = job_of(&mut book, 1);
        book.file(done(ids_e[0], 4));
        book.watch(e);
        assert_eq!(
            book.take_settled(),
            [e],
            "watched after it settled: logged at once"
        );
    }

    #[test]
    fn a_dead_workers_task_is_sent_again_up_to_its_retries_then_is_poison() {
        let mut book = Jobs::default();
        book.set_retries(2);
        let (job, ids) = job_of(&mut book, 1);
        let task = Resend {
            call: 1,
            func: 2,
            timeout: 0,
            args: vec![7],
            attempts: 0,
        };
        book.keep(ids[0], task);
        for attempt in 1..=2 {
            book.file(died(ids[0]));
            let again = book.take_resends();
            assert_eq!(again.len(), 1, "sent again");
            assert_eq!((again[0].0, again[0].1.attempts), (ids[0], attempt));
            assert!(!book.settled(job));
            book.keep(ids[0], again[0].1.clone());
        }
        book.file(died(ids[0]));
        assert!(book.take_resends().is_empty());
        match book.take_all(job) {
            Err(Error::WorkerDied(what)) => assert!(what.contains("run 3 times"), "{what}"),
            other => panic!("{other:?}"),
        }
        // A task that succeeds on a retry settles with its value.
        let (job, ids) = job_of(&mut book, 1);
        book.keep(
            ids[0],
            Resend {
                call: 1,
                func: 2,
                timeout: 0,
                args: vec![],
                attempts: 0,
            },
        );
        book.file(died(ids[0]));
        assert_eq!(book.take_resends().len(), 1);
        book.file(done(ids[0], 9));
        assert_eq!(book.take_all(job).unwrap(), [vec![9]]);
    }

    #[test]
    fn an_unsent_chunk_fails_its_job() {
        let mut book = Jobs::default();
        let (job, ids) = job_of(&mut book, 1);
        book.unsent(ids[0], Error::Closed);
        assert!(book.settled(job));
        assert_eq!(book.succeeded(job), Some(false));
    }
}
