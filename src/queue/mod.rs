//! `Queue<T>`: Python's `multiprocessing.Queue`, a FIFO shared by any number of producer
//! and consumer processes; plus [`SimpleQueue`] and [`JoinableQueue`].
//!
//! Differences from Python (see `src/queue/buffer.rs` for how it works):
//! - No feeder thread: `put` has copied the item into shared memory when it returns, so a
//!   process may exit, or be joined, with items still in the queue. Python deadlocks there.
//! - `qsize` and `empty` are exact at the moment of the call (Python: "approximate").
//! - `get_timeout` honours its timeout even while other processes are blocked reading the
//!   same queue, and reports [`Error::Empty`](crate::Error::Empty) when it passes.
//! - `close` is for everyone, not per process: later puts fail with `Error::Closed`, and
//!   gets drain what is left and then return `Error::Closed` instead of blocking, which is
//!   a sentinel that needs no agreed-upon value.
//! - Items are typed: any `Serialize + DeserializeOwned` type. Messages may be as large as
//!   memory allows (tested with 16 MiB), up to 32 GiB of unread data per queue. A queue
//!   takes address space only for what it holds, so a process can have 100,000 of them.
//! - A process killed in the middle of a `put` or `get` loses nothing: the next process to
//!   touch the queue repairs it.
//! - An item's `Serialize` and `Deserialize` are not trusted: a `put` whose `Serialize`
//!   writes other than it counted is an [`Error::Codec`](crate::Error::Codec) and puts
//!   nothing; a `get` whose bytes `Deserialize` does not read to the end is a `Codec` error;
//!   a `get` whose `Deserialize` panics removes the item, then the panic goes on to the
//!   caller (as Python's `get` raises an unpickling error and the item is gone).
//!
//! Create the queue before forking the processes that use it.

#[allow(unsafe_code)]
pub(crate) mod buffer;
mod frame;
mod joinable;
mod simple;
#[allow(unsafe_code)]
mod slab;

pub use joinable::JoinableQueue;
pub use simple::SimpleQueue;

use crate::error::Result;
use crate::handle::Handle;
use buffer::RawQueue;
use serde::Deserialize as De;
use serde::de::DeserializeOwned;
use serde::{Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::time::Duration;

/// A queue created after `start::init` has a memfd of its own, which travels to spawn and
/// forkserver children; one created before shares a slab with others and cannot travel.
impl crate::handle::Travel for RawQueue {
    fn export<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.memfd() {
            Some(fd) => crate::handle::SendFd(fd).serialize(s),
            None => Err(serde::ser::Error::custom(
                "it was created before multiproc::start::init() (only queues created after \
                 it have memory of their own that can be passed)",
            )),
        }
    }
    fn import<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let crate::handle::RecvFd(fd) = crate::handle::RecvFd::deserialize(d)?;
        RawQueue::import(fd).map_err(serde::de::Error::custom)
    }
}

/// A process-shared FIFO of `T`. Clones are handles to the same queue.
///
/// ```
/// use multiproc::{Process, Queue};
/// let q: Queue<u64> = Queue::new().unwrap(); // q = Queue()
/// let producer = q.clone();
/// let mut p = Process::spawn(move || {
///     for i in 0..3 {
///         producer.put(i).unwrap(); // q.put(i)
///     }
/// })
/// .unwrap();
/// // p.join() before reading: deadlocks in Python with big items, fine here.
/// assert_eq!(p.join().unwrap(), 0);
/// assert_eq!(q.qsize(), 3); // q.qsize(): exact
/// assert_eq!((0..3).map(|_| q.get().unwrap()).collect::<Vec<_>>(), [0, 1, 2]); // q.get()
/// assert!(q.empty()); // q.empty()
/// ```
#[derive(Serialize, De)]
#[serde(bound = "T: 'static")]
#[doc(alias("join_thread", "cancel_join_thread"))]
pub struct Queue<T> {
    /// Registered as the public type the queue was created as: a `Queue<T>`, or the
    /// `SimpleQueue<T>` / `JoinableQueue<T>` that wraps this one.
    raw: Handle<RawQueue, Queue<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            raw: self.raw.clone(),
        }
    }
}

impl<T: 'static> Queue<T> {
    /// A queue over `raw`, registered as the public type `K` (`SimpleQueue<T>`, ...).
    fn registered_as<K: 'static>(raw: RawQueue) -> Queue<T> {
        Queue {
            raw: Handle::<RawQueue, K>::new(raw).retag(),
        }
    }

    /// Serialise as the wrapping public type `K` the queue was registered as.
    fn serialize_as<K: 'static, S: Serializer>(
        &self,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.raw.retag::<K>().serialize(s)
    }

    /// Decode a queue registered as the public type `K`.
    fn deserialize_as<'de, K: 'static, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Queue<T>, D::Error> {
        Ok(Queue {
            raw: Handle::<RawQueue, K>::deserialize(d)?.retag(),
        })
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Queue<T> {
    /// An unbounded queue (Python: `Queue()`).
    /// `Err` when the kernel refuses the shared buffer (out of memory, address space or file
    /// descriptors); Python raises `OSError`.
    pub fn new() -> Result<Queue<T>> {
        Queue::with_maxsize(0)
    }

    /// A queue holding at most `maxsize` items; `0` means unbounded
    /// (Python: `Queue(maxsize)`).
    pub fn with_maxsize(maxsize: usize) -> Result<Queue<T>> {
        Ok(Queue {
            raw: Handle::new(RawQueue::new(maxsize)?),
        })
    }

    /// Add an item, blocking while a bounded queue is full (Python: `put(obj)`).
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.raw.put_value(item.borrow(), None)
    }

    /// Add an item, waiting at most `timeout` for room; `Error::Full` after that
    /// (Python: `put(obj, timeout=t)`).
    #[doc(alias = "put")]
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.raw.put_value(item.borrow(), Some(timeout))
    }

    /// Add an item only if there is room now (Python: `put_nowait(obj)`).
    pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<()> {
        self.put_timeout(item, Duration::ZERO)
    }

    /// Remove and return the oldest item, blocking while empty (Python: `get()`).
    /// `Error::Closed` once the queue is closed and drained.
    pub fn get(&self) -> Result<T> {
        self.raw.get_value(None)
    }

    /// As `get`, waiting at most `timeout`; `Error::Empty` after that
    /// (Python: `get(timeout=t)` raising `queue.Empty`).
    #[doc(alias = "get")]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.raw.get_value(Some(timeout))
    }

    /// An item if one is there now, else `Error::Empty` (Python: `get_nowait()`).
    pub fn get_nowait(&self) -> Result<T> {
        self.get_timeout(Duration::ZERO)
    }

    /// Number of items in the queue now (Python: `qsize()`).
    pub fn qsize(&self) -> usize {
        self.raw.len()
    }

    /// Python: `empty()`.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Python: `full()`; never true for an unbounded queue.
    pub fn full(&self) -> bool {
        let max = self.raw.maxsize();
        max != 0 && self.qsize() >= max
    }

    /// The bound given at creation, 0 for none.
    pub fn maxsize(&self) -> usize {
        self.raw.maxsize()
    }

    /// Close the queue for every process: puts fail, gets drain then fail with
    /// `Error::Closed` (Python's `close()` is per process; see the module docs).
    pub fn close(&self) {
        self.raw.close()
    }

    /// Whether some process has called [`close`](Self::close) (Python's `_closed`, but
    /// shared by every process).
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    pub(crate) fn raw(&self) -> &RawQueue {
        &self.raw
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.raw.len())
            .field("maxsize", &self.raw.maxsize())
            .finish()
    }
}
