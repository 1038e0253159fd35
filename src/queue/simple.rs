//! `SimpleQueue<T>`: Python's `multiprocessing.SimpleQueue`, an unbounded queue with only
//! `put`, `get`, `empty` and `close`.
//!
//! Python has it because its `Queue` needs a feeder thread and `SimpleQueue` does not. Ours
//! never needs one, so this is the same machinery as [`Queue`] with the smaller interface.

use super::Queue;
use crate::error::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;

use serde::Deserialize as De;

/// An unbounded process-shared FIFO with the minimal interface. Clones share it.
#[derive(Serialize, De)]
#[serde(bound = "")]
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Python: `SimpleQueue()`; `Err` as for [`Queue::new`].
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::new()?,
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
