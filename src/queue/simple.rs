//! `SimpleQueue<T>`: Python's `multiprocessing.SimpleQueue`, an unbounded queue with only
//! `put`, `get`, `empty` and `close`.
//!
//! Python has it because its `Queue` needs a feeder thread and `SimpleQueue` does not. Ours
//! never needs one, so this is the same machinery as [`Queue`] with the smaller interface.

use super::Queue;
use super::buffer::RawQueue;
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;

/// An unbounded process-shared FIFO with the minimal interface. Clones share it.
///
/// It can be sent to another process (through a `Pipe`, a `Queue`, a pool task) as a
/// `SimpleQueue<T>` only: decoding it as a `Queue<T>` or with another `T` is an error.
///
/// ```
/// use multiproc::{Process, SimpleQueue};
/// let q: SimpleQueue<String> = SimpleQueue::new().unwrap(); // q = SimpleQueue()
/// let tx = q.clone();
/// let mut p = Process::spawn(move || tx.put("done".to_string())).unwrap(); // q.put("done")
/// assert_eq!(q.get().unwrap(), "done"); // q.get()
/// assert_eq!(p.join().unwrap(), 0);
/// assert!(q.empty()); // q.empty()
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T: 'static> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.queue.serialize_as::<SimpleQueue<T>, S>(s)
    }
}

impl<'de, T: 'static> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(SimpleQueue {
            queue: Queue::deserialize_as::<SimpleQueue<T>, D>(d)?,
        })
    }
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Serialize + DeserializeOwned + 'static> SimpleQueue<T> {
    /// Python: `SimpleQueue()`; `Err` as for [`Queue::new`].
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::registered_as::<SimpleQueue<T>>(RawQueue::new(0)?),
        })
    }

    /// Python: `put(obj)`; never blocks.
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.queue.put(item)
    }

    /// Python: `get()`; blocks until an item arrives (or the queue is closed and drained).
    pub fn get(&self) -> Result<T> {
        self.queue.get()
    }

    /// Python: `empty()`.
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Python: `close()`, for every process (see [`Queue::close`]).
    pub fn close(&self) {
        self.queue.close()
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.queue).finish()
    }
}
