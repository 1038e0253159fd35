//! `RLock`: Python's `multiprocessing.RLock`, a re-entrant lock shared by processes.
//!
//! The thread that holds it may take it again; it is released when it has been released
//! as many times as it was taken. Only the holder can release it: releasing an `RLock`
//! you do not hold, or more times than you took it, is `Error::Invalid` (Python:
//! `RuntimeError`/`AssertionError`). Built on the same robust mutex as [`Lock`](crate::Lock):
//! when the holding process dies, the next acquirer gets it with an [`OwnerDied`] report,
//! and the dead holder's recursion count is discarded.
//!
//! Both styles work: a guard (`let _g = rlock.lock()`) released on drop, or Python's
//! explicit `acquire()` / `release()` pair.

use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::lock::{LockResult, OwnerDied, TryLockError, TryLockResult};
use crate::raw_mutex::{Acquired, RawMutex};
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

#[repr(C)]
struct RLockShm {
    mutex: RawMutex,
    /// Kernel thread id of the holder (unique across processes), 0 when free.
    owner: AtomicU32,
    count: AtomicU32,
}

// SAFETY: a `RawMutex` is `Zeroed`; zero atomics are 0 (free, no owner).
unsafe impl Zeroed for RLockShm {}

impl SharedState for RLockShm {
    fn held_here(&self) -> bool {
        self.mutex.held_in_this_process()
    }
}

/// A re-entrant, process-shared, robust lock. Clones share it; create it before forking.
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    shm: Handle<Shm<RLockShm>, RLock>,
}

/// One level of an [`RLock`] held; dropping it releases that level.
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    _not_send: PhantomData<*const ()>,
}

fn thread_id() -> u32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() as u32 }
}

impl RLock {
    /// A new, unlocked re-entrant lock (Python: `RLock()`).
    pub fn new() -> RLock {
        RLock {
            shm: Handle::new(Shm::new(|s: &mut RLockShm| s.mutex.init())),
        }
    }

    fn s(&self) -> &RLockShm {
        self.shm.get()
    }

    /// Take one level, waiting until `deadline` (`None`: for ever) if another thread holds
    /// it. `None` when the deadline passed (or, for `try`, the lock was busy).
    fn take(&self, deadline: Option<&Deadline>, try_only: bool) -> Option<Acquired> {
        let s = self.s();
        let me = thread_id();
        if s.owner.load(Relaxed) == me {
            s.count.fetch_add(1, Relaxed);
            return Some(Acquired::Clean);
        }
        let how = if try_only {
            s.mutex.try_lock()?
        } else {
            s.mutex.lock_until(deadline)?
        };
        s.owner.store(me, Relaxed);
        s.count.store(1, Relaxed);
        Some(how)
    }

    fn guard(&self) -> RLockGuard<'_> {
        RLockGuard {
            rlock: self,
            _not_send: PhantomData,
        }
    }

    /// Take the lock (again, if this thread holds it already), released when the guard is
    /// dropped (Python: `with rlock:`).
    pub fn lock(&self) -> LockResult<RLockGuard<'_>> {
        let how = self.take(None, false).expect("blocking acquire");
        crate::lock::lock_result(how, self.guard())
    }

    /// Take it only if free or already ours.
    pub fn try_lock(&self) -> TryLockResult<RLockGuard<'_>> {
        match self.take(None, true) {
            None => Err(TryLockError::WouldBlock),
            Some(Acquired::Clean) => Ok(self.guard()),
            Some(Acquired::OwnerDied) => Err(TryLockError::OwnerDied(OwnerDied::new(self.guard()))),
        }
    }

    /// Wait at most `timeout` for it.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<RLockGuard<'_>> {
        match self.take(Some(&Deadline::after(timeout)), false) {
            None => Err(TryLockError::TimedOut),
            Some(Acquired::Clean) => Ok(self.guard()),
            Some(Acquired::OwnerDied) => Err(TryLockError::OwnerDied(OwnerDied::new(self.guard()))),
        }
    }

    /// Python's `acquire()`: take one level without a guard; pair it with [`RLock::release`].
    /// `Err(OwnerDied)` still means the lock is now held.
    pub fn acquire(&self) -> LockResult<()> {
        match self.take(None, false).expect("blocking acquire") {
            Acquired::Clean => Ok(()),
            Acquired::OwnerDied => Err(OwnerDied::new(())),
        }
    }

    /// Python's `release()`: give back one level. An error if this thread does not hold
    /// the lock (never taken, already fully released, or held by someone else).
    pub fn release(&self) -> Result<()> {
        let s = self.s();
        if s.owner.load(Relaxed) != thread_id() || s.count.load(Relaxed) == 0 {
            return Err(Error::Invalid(
                "cannot release an RLock this thread does not hold".into(),
            ));
        }
        if s.count.fetch_sub(1, Relaxed) == 1 {
            s.owner.store(0, Relaxed);
            // SAFETY: this thread holds the mutex (it is the recorded owner).
            unsafe { s.mutex.unlock() };
        }
        Ok(())
    }

    /// How many times this thread holds the lock (0 if it does not).
    pub fn held_count(&self) -> u32 {
        let s = self.s();
        if s.owner.load(Relaxed) == thread_id() {
            s.count.load(Relaxed)
        } else {
            0
        }
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // A guard is one level this thread holds, so this cannot fail.
        let _ = self.rlock.release();
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
