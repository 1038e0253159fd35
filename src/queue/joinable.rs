//! `JoinableQueue<T>`: Python's `multiprocessing.JoinableQueue`, a [`Queue`] that also
//! counts unfinished items: every `put` adds one, every `task_done` removes one, and `join`
//! waits for the count to reach zero.
//!
//! Difference from Python: `task_done` called more often than items were put returns
//! `Error::Invalid` (Python raises `ValueError`), and `join_timeout` exists.

use super::Queue;
use super::buffer::RawQueue;
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::Deref;
use std::time::Duration;

/// A [`Queue`] with `task_done` and `join`. Derefs to the queue for `put`, `get`, ...
///
/// It can be sent to another process as a `JoinableQueue<T>` only: decoding it as a
/// `Queue<T>` is an error, and so is sending the `Queue<T>` it derefs to (send the
/// `JoinableQueue`).
///
/// ```
/// use multiproc::{JoinableQueue, Process};
/// let q: JoinableQueue<i32> = JoinableQueue::new().unwrap(); // q = JoinableQueue()
/// for i in 1..=3 {
///     q.put(i).unwrap(); // q.put(i)
/// }
/// let worker = q.clone();
/// let mut p = Process::spawn(move || -> multiproc::Result<i32> {
///     let mut sum = 0;
///     for _ in 0..3 {
///         sum += worker.get()?; // item = q.get()
///         worker.task_done()?; // q.task_done()
///     }
///     Ok(sum) // the exit code
/// })
/// .unwrap();
/// q.join().unwrap(); // q.join(): every item put has been marked done
/// assert_eq!(q.unfinished(), 0);
/// assert_eq!(p.join().unwrap(), 1 + 2 + 3);
/// assert!(q.task_done().is_err()); // one task_done too many: ValueError
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T: 'static> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.queue.serialize_as::<JoinableQueue<T>, S>(s)
    }
}

impl<'de, T: 'static> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(JoinableQueue {
            queue: Queue::deserialize_as::<JoinableQueue<T>, D>(d)?,
        })
    }
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Serialize + DeserializeOwned + 'static> JoinableQueue<T> {
    /// Python: `JoinableQueue()`; `Err` as for [`Queue::new`].
    pub fn new() -> Result<JoinableQueue<T>> {
        JoinableQueue::with_maxsize(0)
    }

    /// Python: `JoinableQueue(maxsize)`.
    pub fn with_maxsize(maxsize: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::registered_as::<JoinableQueue<T>>(RawQueue::new(maxsize)?),
        })
    }

    /// Mark one item taken with `get` as fully processed (Python: `task_done()`).
    pub fn task_done(&self) -> Result<()> {
        self.queue.raw().task_done()
    }

    /// Block until every item ever put has been marked done (Python: `join()`).
    pub fn join(&self) -> Result<()> {
        self.queue.raw().join(None)
    }

    /// As `join`, for at most `timeout`; `Error::Timeout` if items are still unfinished.
    #[doc(alias = "join")]
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.queue.raw().join(Some(timeout))
    }

    /// Items put and not yet marked done.
    #[doc(alias = "unfinished_tasks")]
    pub fn unfinished(&self) -> usize {
        self.queue.raw().unfinished()
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.queue).finish()
    }
}
