//! `Lock`: Python's `multiprocessing.Lock`, as a robust process-shared mutex with a guard.
//!
//! Differences from Python:
//! - Acquire returns a guard and the lock is released when the guard is dropped (Python's
//!   `with lock:`); there is no free-standing `release`, so a lock cannot be released by a
//!   process that does not hold it (Python allows that: its Lock is a semaphore).
//! - When a process dies holding the lock, Python deadlocks every other process. Here the
//!   next acquirer gets the lock together with the news, as [`OwnerDied`], and decides
//!   whether the data the lock protected is still consistent.
//! - Acquiring twice from the same thread panics instead of deadlocking (use `RLock`).
//!
//! Create it before forking the processes that share it.

use crate::deadline::Deadline;
use crate::handle::Handle;
use crate::raw_mutex::{Acquired, RawGuard, RawMutex};
use crate::shm::{SharedState, Shm};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The previous holder died while holding the lock. The lock is held by the caller now and
/// fully usable; [`OwnerDied::into_inner`] gives the guard. Modelled on std's `PoisonError`.
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    pub(crate) fn new(guard: G) -> Self {
        OwnerDied { guard }
    }

    /// The guard: the lock is held.
    pub fn into_inner(self) -> G {
        self.guard
    }

    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous holder of the lock died while holding it")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

/// Result of a blocking acquire: `Err` only when the previous holder died (the lock is
/// held either way).
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// Why a non-blocking or timed acquire did not simply succeed.
pub enum TryLockError<G> {
    /// `try_lock`: somebody else holds it.
    WouldBlock,
    /// `lock_timeout`: still held by somebody else when the timeout passed.
    TimedOut,
    /// Acquired, but the previous holder died holding it.
    OwnerDied(OwnerDied<G>),
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::TimedOut => f.write_str("TimedOut"),
            TryLockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by someone else"),
            TryLockError::TimedOut => f.write_str("timed out waiting for the lock"),
            TryLockError::OwnerDied(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

/// Result of `try_lock` / `lock_timeout`.
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

/// Turn an acquisition outcome and a guard into a [`LockResult`].
pub(crate) fn lock_result<G>(how: Acquired, guard: G) -> LockResult<G> {
    match how {
        Acquired::Clean => Ok(guard),
        Acquired::OwnerDied => Err(OwnerDied::new(guard)),
    }
}

/// Acquire `mutex` within `timeout` (`Some(ZERO)` = try once, `None` = block) and wrap the
/// guard with `wrap`. The shared path of every `try_lock`/`lock_timeout` in the crate.
pub(crate) fn timed_acquire<'a, G>(
    mutex: &'a RawMutex,
    timeout: Option<Duration>,
    wrap: impl FnOnce(RawGuard<'a>) -> G,
) -> TryLockResult<G> {
    let how = match timeout {
        Some(t) if t.is_zero() => mutex.try_lock().ok_or(TryLockError::WouldBlock)?,
        t => mutex
            .lock_until(Deadline::from_timeout(t).as_ref())
            .ok_or(TryLockError::TimedOut)?,
    };
    lock_result(how, wrap(RawGuard::new(mutex))).map_err(TryLockError::OwnerDied)
}

/// Python's `multiprocessing.Lock`: mutual exclusion between processes.
///
/// Cloning gives another handle to the same lock. Create it before `fork`; a clone moved
/// into a child's closure refers to the same lock in shared memory.
///
/// ```no_run
/// # use multiproc::{Lock, Process};
/// let lock = Lock::new();
/// let l = lock.clone();
/// let mut p = Process::new(move || {
///     let _held = l.lock().unwrap();
///     println!("only one process prints here at a time");
/// });
/// p.start().unwrap();
/// p.join().unwrap();
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    shm: Handle<Shm<RawMutex>, Lock>,
}

impl SharedState for RawMutex {
    fn held_here(&self) -> bool {
        self.held_in_this_process()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock.
pub struct LockGuard<'a> {
    _raw: RawGuard<'a>,
}

impl Lock {
    /// A new, unlocked lock in shared memory.
    pub fn new() -> Lock {
        Lock {
            shm: Handle::new(Shm::new(RawMutex::init)),
        }
    }

    /// Block until the lock is ours (Python: `lock.acquire()` / `with lock:`).
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        let (raw, how) = self.shm.get().guard();
        lock_result(how, LockGuard { _raw: raw })
    }

    /// Take the lock only if it is free (Python: `acquire(block=False)`).
    pub fn try_lock(&self) -> TryLockResult<LockGuard<'_>> {
        self.lock_timeout(Duration::ZERO)
    }

    /// Wait at most `timeout` for the lock (Python: `acquire(timeout=t)`).
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<LockGuard<'_>> {
        timed_acquire(self.shm.get(), Some(timeout), |raw| LockGuard { _raw: raw })
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        self.shm.get()
    }

    /// Whether both handles are the same lock.
    pub fn same_as(&self, other: &Lock) -> bool {
        self.shm.ptr_eq(&other.shm)
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock")
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
