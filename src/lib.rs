//! # multiproc: Python's `multiprocessing`, done right in Rust
//!
//! Real OS processes (`fork`), real shared memory, real sockets, with Python's vocabulary.
//! Each primitive's page opens with a short example that runs, the Python line beside the
//! Rust, and rustdoc's search finds Python's names where ours differ (`get_lock`, `value`,
//! `acquire`, `release`, `get_value`, `EOFError`, ...).
//!
//! ## From Python to Rust
//!
//! (This table is also the README's; both come from `src/python.md`.)
//!
#![doc = include_str!("python.md")]
//!
//! Why forking needs a single-threaded program: see [`process`]; the start methods that work
//! in threaded programs: see [`start`]. Errors are one
//! enum, [`Error`]; Python's exceptions map onto its variants.

#![deny(missing_docs)]
// `unsafe` lives in named places only: the platform layer (`sys`), the mappings (`shm`: the
// crate's own and a named segment's), the
// robust mutex (`raw_mutex`) and the state it guards (`locked`), the element core
// (`elements`, `shared_buffer`), the queue log (`queue::buffer`, `queue::slab`), the
// functions that travel (`pool::task`, `start::task`), and the places that fork or
// re-execute (`process::fork`, `pool::server`, `start::{child, client, server}`); each is
// allowed where it is declared. Elsewhere it is an error, but for the `unsafe impl Zeroed`
// of each shared state (a promise about its bytes) and the unchecked fork entry points
// (`Process::start_unchecked`, `PoolBuilder::build_unchecked`) and the raw unlocks of
// `Condition` and `RLock`, each allowed on its item.
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

mod array;
mod barrier;
mod codec;
mod condition;
pub mod connection;
pub mod cpu;
mod deadline;
#[allow(unsafe_code)]
mod elements;
pub mod error;
mod event;
pub mod executor;
mod framed;
mod futex;
mod handle;
mod lock;
#[allow(unsafe_code)]
mod locked;
pub mod logging;
#[cfg(feature = "instruments")]
mod occupancy;
mod pipe;
mod plain;
pub mod pool;
mod popen;
pub mod process;
pub mod queue;
#[allow(unsafe_code)]
mod raw_mutex;
mod rlock;
mod semaphore;
#[allow(unsafe_code)]
mod shared_buffer;
mod shared_memory;
mod shared_slice;
#[allow(unsafe_code)]
mod shm;
pub mod start;
#[allow(unsafe_code)]
mod sys;
mod value;

pub use array::{Array, ArrayGuard};
pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{Error, InvalidKind, Result};
pub use event::Event;
pub use executor::ProcessPoolExecutor;
pub use lock::{Lock, LockError, LockGuard, LockResult, OwnerDied, TryLockError, TryLockResult};
#[cfg(feature = "instruments")]
pub use occupancy::{Occupancy, Occupant};
pub use pipe::{Connection, Pipe, PipeReceiver, PipeSender};
pub use plain::{AnyBits, Plain};
pub use pool::{AsyncResult, ImapIter, Pool, PoolBuilder};
pub use process::{
    ChildOutcome, Process, ProcessInfo, current_process, exit, join_all, parent_process, start_all,
};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};
pub use shared_buffer::{RangeMut, SharedBuffer};
pub use shared_memory::{SharedMemory, SharedMemoryView};
pub use shared_slice::{SharedSlice, SharedSliceBuilder};
pub use start::StartMethod;
pub use value::{Value, ValueGuard};

/// The README's Rust code, compiled by `cargo test --doc` (and its runnable block run), so
/// what a reader copies from it builds.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
