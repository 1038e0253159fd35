//! `RLock`: Python's `multiprocessing.RLock`, a re-entrant lock shared by processes.

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::handle::Handle;
use crate::lock::{LockError, LockResult, OwnerDied, TryLockError, TryLockResult};
use crate::locked::{Locked, Wait};
use crate::raw_mutex::Acquired;
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

/// The mutex, then the count (`Locked` is `repr(C)`).
///
/// The mutex is held (by one thread of one process) exactly while the RLock is. Who holds
/// it is read from the mutex itself ([`Locked::held_by_current_thread`]), never from a
/// record of ours: a recorded thread id outlives a holder that dies, and the id is reused.
///
/// The count is the levels held; meaningful only to the thread holding the mutex, the only
/// one that touches it (the mutex orders one holder's writes before the next holder's
/// reads). It is read and written without a guard ([`Locked::unlocked`]): the levels,
/// not a guard, say how long the mutex stays held.
#[repr(C)]
struct RLockShm {
    count: Locked<AtomicU32>,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: a `Locked` is a `RawMutex`, which is `Zeroed`, and an atomic: zero is 0 (free,
// no owner).
unsafe impl Zeroed for RLockShm {}

impl SharedState for RLockShm {
    fn held_here(&self) -> bool {
        self.count.held_here()
    }
}

/// `RLock`: Python's `multiprocessing.RLock`, a re-entrant lock shared by processes.
///
/// The thread that holds it may take it again; it is released when it has been released
/// as many times as it was taken. Only the holder can release it: releasing an `RLock`
/// you do not hold, or more times than you took it, is `Error::Invalid` (Python:
/// `RuntimeError`/`AssertionError`). Built on the same robust mutex as [`Lock`](crate::Lock):
/// when the holding process dies, the next acquirer gets it with an [`OwnerDied`] report,
/// and the dead holder's recursion count is discarded.
///
/// Whether this thread holds it is read from the mutex (whose owner word the kernel clears
/// when the holder dies), never from a recorded thread id, which a later process can reuse.
///
/// Both styles work: a guard (`let _g = rlock.lock()`) released on drop, or Python's
/// explicit `acquire()` / `release()` pair.
///
/// A re-entrant, process-shared, robust lock. Clones share it; create it before forking.
/// (Python: `multiprocessing.RLock`.)
///
/// ```
/// use multiproc::{Process, RLock};
/// let rlock = RLock::new(); // rlock = RLock()
/// let r = rlock.clone();
/// let mut p = Process::spawn(move || {
///     r.acquire().unwrap(); // rlock.acquire()
///     r.acquire().unwrap(); // rlock.acquire(): again, without deadlock
///     assert_eq!(r.held_count(), 2);
///     r.release().unwrap(); // rlock.release()
///     r.release().unwrap(); // rlock.release()
///     assert!(r.release().is_err()); // one too many: RuntimeError
/// })
/// .unwrap();
/// assert_eq!(p.join().unwrap(), 0);
/// let _outer = rlock.lock().unwrap(); // with rlock:
/// let _inner = rlock.lock().unwrap(); //     with rlock:
/// assert_eq!(rlock.held_count(), 2);
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    shm: Handle<Shm<RLockShm>, RLock>,
}

/// One level of an [`RLock`] held; dropping it releases that level. A guard copied into a
/// forked child (a guard of a `'static` `RLock` moved into a `Process::new` closure) holds
/// nothing there: dropping it releases nothing.
#[doc(alias = "release")]
#[must_use = "if unused the RLock will immediately release"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    /// The fork epoch the level was taken in (see `sys::atfork`).
    epoch: u64,
    _not_send: PhantomData<*const ()>,
}

impl RLock {
    /// A new, unlocked re-entrant lock (Python: `RLock()`).
    pub fn new() -> RLock {
        RLock {
            shm: Handle::new(Shm::new(|s: &mut RLockShm| s.count.init())),
        }
    }

    fn locked(&self) -> &Locked<AtomicU32> {
        &self.shm.get().count
    }

    /// The level count, which only the thread that holds the mutex may touch.
    fn count(&self) -> &AtomicU32 {
        self.locked().unlocked()
    }

    /// Take one level: at once if this thread holds it already, else per `how`. `None`
    /// when busy (`Try`) or the deadline passed (`Until`).
    fn take(&self, how: Wait<'_>) -> Option<Acquired> {
        let locked = self.locked();
        if locked.held_by_current_thread() {
            // Only this thread changes `count` while it holds the mutex. At 2^32 - 1 levels
            // (guards leaked in a loop) one more would wrap to "not held": refuse, as std's
            // `ReentrantLock` does.
            let levels = self.count().load(Relaxed);
            assert!(levels < u32::MAX, "RLock held 2^32 - 1 times by one thread");
            self.count().store(levels + 1, Relaxed);
            return Some(Acquired::Clean);
        }
        // Not held by this thread, and only this thread could change that: the pthread
        // calls below cannot meet EDEADLK.
        let (count, acquired) = locked.acquire(how)?;
        // A dead holder's levels died with it.
        count.store(1, Relaxed);
        // The mutex stays held past the guard: by the level just counted, which `release`
        // gives back (unlocking at the last one).
        std::mem::forget(count);
        Some(acquired)
    }

    fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            rlock: self,
            epoch: crate::sys::atfork::child_epoch(),
            _not_send: PhantomData,
        }
    }

    /// Take the lock (again, if this thread holds it already), released when the guard is
    /// dropped (Python: `with rlock:`).
    /// Never `Err(WouldDeadlock)`: re-entry is what an `RLock` is for.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        match self.take(Wait::Forever) {
            Some(how) => crate::lock::lock_result(how, self.guard()),
            None => Err(LockError::WouldDeadlock),
        }
    }

    /// Take it only if free or already ours.
    #[doc(alias = "acquire")]
    pub fn try_lock(&self) -> TryLockResult<RLockGuard<'_>> {
        match self.take(Wait::Try) {
            None => Err(TryLockError::WouldBlock),
            Some(Acquired::Clean) => Ok(self.guard()),
            Some(Acquired::OwnerDied) => Err(TryLockError::OwnerDied(OwnerDied::new(self.guard()))),
        }
    }

    /// Wait at most `timeout` for it.
    #[doc(alias = "acquire")]
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<RLockGuard<'_>> {
        let deadline = Deadline::after(timeout);
        // No deadline (too long to have one): wait.
        match self.take(Wait::Until(deadline.as_ref())) {
            None => Err(TryLockError::TimedOut),
            Some(Acquired::Clean) => Ok(self.guard()),
            Some(Acquired::OwnerDied) => Err(TryLockError::OwnerDied(OwnerDied::new(self.guard()))),
        }
    }

    /// Python's `acquire()`: take one level without a guard; pair it with [`RLock::release`].
    /// `Err(OwnerDied)` still means the lock is now held.
    /// Never `Err(WouldDeadlock)`.
    pub fn acquire(&self) -> LockResult<()> {
        match self.take(Wait::Forever) {
            Some(how) => crate::lock::lock_result(how, ()),
            None => Err(LockError::WouldDeadlock),
        }
    }

    /// Python's `release()`: give back one level. An error if this thread does not hold
    /// the lock (never taken, already fully released, or held by someone else).
    #[allow(unsafe_code)] // the last level unlocks the mutex no guard holds
    pub fn release(&self) -> Result<()> {
        let locked = self.locked();
        // `count` is ours to read only once the mutex says this thread holds it.
        let levels = if locked.held_by_current_thread() {
            self.count().load(Relaxed)
        } else {
            0
        };
        if levels == 0 {
            return Err(Error::invalid(
                InvalidKind::OverReleased,
                "cannot release an RLock this thread does not hold",
            ));
        }
        self.count().store(levels - 1, Relaxed);
        if levels == 1 {
            // SAFETY: the mutex itself says this thread holds it, and no guard does (`take`
            // forgot its guard: the levels hold the mutex).
            unsafe { locked.unlock() };
        }
        Ok(())
    }

    /// How many times this thread holds the lock (0 if it does not).
    pub fn held_count(&self) -> u32 {
        if self.locked().held_by_current_thread() {
            self.count().load(Relaxed)
        } else {
            0
        }
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // A guard is one level this thread holds, so this cannot fail; a fork's copy holds
        // no level (the parent's thread does), and releases nothing.
        if self.epoch == crate::sys::atfork::child_epoch() {
            let _ = self.rlock.release();
        }
    }
}

impl Default for RLock {
    fn default() -> Self {
        RLock::new()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLock")
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("held_count", &self.rlock.held_count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_level_past_u32_max_is_refused_not_wrapped() {
        let r = RLock::new();
        let guard = r.lock().unwrap();
        // As if the lock had been taken 2^32 - 1 times with the guards leaked.
        r.count().store(u32::MAX, Relaxed);
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.acquire()));
        assert!(again.is_err(), "one more level must not wrap to 0");
        assert_eq!(r.held_count(), u32::MAX, "still held, count unchanged");
        r.count().store(1, Relaxed);
        drop(guard);
        assert_eq!(r.held_count(), 0);
    }
}
