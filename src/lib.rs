//! # multiproc: Python's `multiprocessing`, done right in Rust
//!
//! Real OS processes (`fork`), real shared memory, real sockets, with Python's vocabulary:
//!
//! | Python (`multiprocessing`) | here | how it differs |
//! |---|---|---|
//! | `Process(target=f, name=n)` | [`Process::new`]`(f).name(n)` | closure target; exit code from its return value; dies with its parent |
//! | `current_process()`, `parent_process()` | [`current_process`], [`parent_process`] | |
//! | `Value('d', 0.0)` | [`Value<f64>`](Value) | guard-based locked access; `load`/`store` unlocked but atomic |
//! | `Array('i', 3)` | [`Array<i32>`](Array) | as `Value` |
//! | `Lock()` | [`Lock`] | robust: a dead holder is reported, not a deadlock; guard releases |
//! | `RLock()` | [`RLock`] | re-entrant and robust; guards or `acquire`/`release`; releasing what you do not hold is an error |
//! | `Condition(lock)` | [`Condition`] | `wait`/`notify` on the guard; `notify(n)` wakes exactly `n`; a dead waiter never swallows a notify |
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | [`Semaphore`], [`BoundedSemaphore`] | lock-free; permits release on drop; over-release of a bounded one is an error |
//! | `Barrier(n, action, timeout)` | [`Barrier`] | `wait` returns the arrival index; timeout, `abort`, `reset` and the broken state as in Python |
//! | `Event()` | [`Event`] | lock-free; shareable with pool workers without a Manager |
//! | (a `Value` counter and its peak, by hand) | [`Occupancy`] | processes inside a section now and at most; lock-free, for showing what a lock or semaphore guarantees |
//! | `Pipe()`, `Pipe(duplex=False)` | [`Pipe::new`], [`Pipe::one_way`] | typed (serde) and raw bytes; one-way ends are distinct types |
//! | `Pool(processes)` | [`Pool`] | a task is a `fn` plus serde arguments; a dead worker is an error, not a hang; dropping terminates |
//! | `shared_memory.SharedMemory` + a NumPy view nobody writes | [`SharedSlice<T>`](SharedSlice) | frozen after building: every process reads a plain `&[T]`, no copy, no atomics; typed handle |
//! | `Array(lock=False)` filled slice by slice by workers | [`SharedBuffer<T>`](SharedBuffer) | writers claim disjoint ranges (overlap is an error, a dead claimant is detected); frozen, it reads as `&[T]` |
//! | `Queue()`, `SimpleQueue()`, `JoinableQueue()` | [`Queue`], [`SimpleQueue`], [`JoinableQueue`] | no feeder thread, no join deadlock, exact `qsize`, shared `close` |
//! | `cpu_count()`, `os.process_cpu_count()` | [`cpu::cpu_count`], [`cpu::available_cpu_count`] | plus [`cpu::physical_cpu_count`] |
//! | `logging` configured per process (balsa's `config_as_dict` / `balsa_clone`) | [`logging::LogConfig`], `apply()` | on the `log` crate; records tagged with process name and pid, whole lines in one shared file |
//!
//! Errors are one enum, [`Error`]; Python's exceptions map onto its variants.
//!
//! The rule every type shares: **create shared objects before starting the processes that
//! use them**, and start processes from a single-threaded program (see [`process`]).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod array;
pub mod barrier;
mod codec;
pub mod condition;
pub mod cpu;
mod deadline;
pub mod error;
pub mod event;
mod futex;
mod handle;
pub mod lock;
pub mod logging;
pub mod occupancy;
pub mod pipe;
pub mod plain;
pub mod pool;
pub mod process;
pub mod queue;
mod raw_mutex;
pub mod rlock;
pub mod semaphore;
pub mod shared_buffer;
pub mod shared_slice;
mod shm;
pub mod value;

pub use array::{Array, ArrayGuard};
pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{Error, Result};
pub use event::Event;
pub use lock::{Lock, LockError, LockGuard, LockResult, OwnerDied, TryLockError, TryLockResult};
pub use occupancy::{Occupancy, Occupant};
pub use pipe::{Connection, Pipe, PipeReceiver, PipeSender};
pub use plain::Plain;
pub use pool::{AsyncResult, ImapIter, Pool, PoolBuilder};
pub use process::{
    ChildOutcome, Process, ProcessInfo, current_process, exit, fresh_rng, join_all, parent_process,
    start_all,
};
pub use queue::{JoinableQueue, Queue, SimpleQueue};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};
pub use shared_buffer::{RangeMut, SharedBuffer};
pub use shared_slice::{SharedSlice, SharedSliceBuilder};
pub use value::{Value, ValueGuard};
