//! `Lock`: Python's `multiprocessing.Lock`, as a robust process-shared mutex with a guard.

use crate::handle::Handle;
use crate::locked::{Locked, LockedGuard};
use crate::raw_mutex::{Acquired, RawMutex};
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

    /// The guard, borrowed.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, mutably borrowed.
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

/// Why a blocking acquire did not simply succeed (Python raises nothing and returns
/// `True`; a dead holder is invisible there and a second `acquire()` by the holder hangs).
pub enum LockError<G> {
    /// Acquired, but the previous holder died holding it: the lock is held, see
    /// [`OwnerDied`].
    OwnerDied(OwnerDied<G>),
    /// Not acquired: the calling thread holds the lock already, so waiting would never end.
    /// A `Lock` is not re-entrant; an [`RLock`](crate::RLock) is.
    WouldDeadlock,
}

impl<G> LockError<G> {
    /// The guard if the lock is held (the previous holder died), `None` for
    /// [`LockError::WouldDeadlock`].
    pub fn into_guard(self) -> Option<G> {
        match self {
            LockError::OwnerDied(e) => Some(e.into_inner()),
            LockError::WouldDeadlock => None,
        }
    }

    /// Whether the lock is held and its previous holder died.
    pub fn is_owner_died(&self) -> bool {
        matches!(self, LockError::OwnerDied(_))
    }

    /// Change the guard inside, keeping the variant.
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> LockError<H> {
        match self {
            LockError::OwnerDied(e) => LockError::OwnerDied(OwnerDied::new(f(e.into_inner()))),
            LockError::WouldDeadlock => LockError::WouldDeadlock,
        }
    }
}

impl<G> From<OwnerDied<G>> for LockError<G> {
    fn from(e: OwnerDied<G>) -> Self {
        LockError::OwnerDied(e)
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::WouldDeadlock => f.write_str("WouldDeadlock"),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(e) => fmt::Display::fmt(e, f),
            LockError::WouldDeadlock => f.write_str(
                "this thread already holds the lock: Lock is not re-entrant (use RLock)",
            ),
        }
    }
}

impl<G> std::error::Error for LockError<G> {}

/// Result of a blocking acquire: `Ok` with the guard, or a [`LockError`]: the previous
/// holder died (the lock is held) or this thread holds it already (it is not).
pub type LockResult<G> = Result<G, LockError<G>>;

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
        Acquired::OwnerDied => Err(LockError::OwnerDied(OwnerDied::new(guard))),
    }
}

/// A [`LockResult`] with its guard changed by `f`, in either variant that holds one: how
/// a public guard is made from a [`LockedGuard`](crate::locked::LockedGuard).
pub(crate) fn map_lock<G, H>(r: LockResult<G>, f: impl FnOnce(G) -> H) -> LockResult<H> {
    match r {
        Ok(g) => Ok(f(g)),
        Err(e) => Err(e.map(f)),
    }
}

/// As [`map_lock`], for a [`TryLockResult`].
pub(crate) fn map_try<G, H>(r: TryLockResult<G>, f: impl FnOnce(G) -> H) -> TryLockResult<H> {
    match r {
        Ok(g) => Ok(f(g)),
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
        Err(TryLockError::TimedOut) => Err(TryLockError::TimedOut),
        Err(TryLockError::OwnerDied(e)) => {
            Err(TryLockError::OwnerDied(OwnerDied::new(f(e.into_inner()))))
        }
    }
}

/// `Lock`: Python's `multiprocessing.Lock`, as a robust process-shared mutex with a guard.
///
/// Differences from Python:
/// - Acquire returns a guard and the lock is released when the guard is dropped (Python's
///   `with lock:`); there is no free-standing `release`, so a lock cannot be released by a
///   process that does not hold it (Python allows that: its Lock is a semaphore).
/// - When a process dies holding the lock, Python deadlocks every other process. Here the
///   next acquirer gets the lock together with the news, as [`OwnerDied`], and decides
///   whether the data the lock protected is still consistent.
/// - Acquiring twice from the same thread does not deadlock: the blocking `lock` returns
///   [`LockError::WouldDeadlock`], `try_lock` returns `WouldBlock` and `lock_timeout` times
///   out, as Python's `acquire(False)` / `acquire(timeout=t)` return `False` (use `RLock`
///   to re-enter).
///
/// Create it before forking the processes that share it.
///
/// Python's `multiprocessing.Lock`: mutual exclusion between processes.
///
/// Cloning gives another handle to the same lock. Create it before `fork`; a clone moved
/// into a child's closure refers to the same lock in shared memory.
///
/// ```
/// use multiproc::{Lock, Process, Value, join_all};
/// let lock = Lock::new(); // lock = Lock()
/// let total = Value::new(0u32);
/// let mut ps: Vec<Process> = (0..2)
///     .map(|_| {
///         let (lock, total) = (lock.clone(), total.clone());
///         Process::spawn(move || {
///             for _ in 0..1000 {
///                 let _held = lock.lock().unwrap(); // with lock:
///                 total.store(total.load() + 1); //     total.value += 1
///             } // released when `_held` is dropped
///         })
///         .unwrap()
///     })
///     .collect();
/// join_all(&mut ps).unwrap(); // for p in ps: p.join()
/// assert_eq!(total.load(), 2000); // no update lost
/// let held = lock.lock().unwrap();
/// assert!(lock.try_lock().is_err()); // lock.acquire(False) == False
/// drop(held); // lock.release()
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    shm: Handle<Shm<RawMutex>, Lock>,
}

impl SharedState for RawMutex {
    fn held_here(&self) -> bool {
        Locked::bare(self).held_here()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock. A guard copied into a forked child (a
/// guard of a `'static` `Lock` moved into a `Process::new` closure) holds nothing there:
/// dropping it unlocks nothing.
#[doc(alias = "release")]
#[must_use = "if unused the Lock will immediately unlock"]
pub struct LockGuard<'a> {
    _held: LockedGuard<'a, ()>,
}

impl Lock {
    /// A new, unlocked lock in shared memory.
    pub fn new() -> Lock {
        Lock {
            shm: Handle::new(Shm::new(RawMutex::init)),
        }
    }

    /// Block until the lock is ours (Python: `lock.acquire()` / `with lock:`).
    /// `Err(WouldDeadlock)` if this thread holds it already (Python would hang for ever).
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<LockGuard<'_>> {
        map_lock(self.locked().lock(), |g| LockGuard { _held: g })
    }

    /// Take the lock only if it is free (Python: `acquire(block=False)`). Held by this
    /// thread is not free: `Err(WouldBlock)`.
    #[doc(alias = "acquire")]
    pub fn try_lock(&self) -> TryLockResult<LockGuard<'_>> {
        map_try(self.locked().try_lock(), |g| LockGuard { _held: g })
    }

    /// Wait at most `timeout` for the lock (Python: `acquire(timeout=t)`). Held by this
    /// thread, nobody can free it in time: `Err(TimedOut)` once `timeout` has passed.
    #[doc(alias = "acquire")]
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<LockGuard<'_>> {
        map_try(self.locked().lock_timeout(timeout), |g| LockGuard {
            _held: g,
        })
    }

    /// The lock's mutex, as a `Locked` with no state (its shared memory is a bare
    /// `RawMutex`, see [`Locked::bare`]).
    pub(crate) fn locked(&self) -> &Locked<()> {
        Locked::bare(self.shm.get())
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
