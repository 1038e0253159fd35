//! `Locked<S>`: a robust mutex and the state it guards, side by side in shared memory (the
//! shape of lock_api's `Mutex<R, T>`), and the one place where locking it turns into a
//! guard and a [`LockResult`] / [`TryLockResult`].
//!
//! `Value`, `Array`, `Lock`, `RLock` and `Condition` lock through it: the blocking `lock`
//! (`WouldDeadlock` when this thread holds it already), `try_lock` (`WouldBlock`), the
//! timed `lock_until` / `lock_timeout` (`TimedOut`), and a dead holder reported as
//! [`OwnerDied`] with the lock held. A [`LockedGuard`] is built only by these, through the
//! unsafe [`LockedGuard::new`], so a guard always means "this thread took the lock".
//!
//! The state is `S` itself, not an `UnsafeCell`: shared-memory state is made of atomics
//! (or is empty), so a `&S` is all the guard hands out; what the lock adds is that a
//! holder's accesses are not interleaved with another holder's.

use crate::deadline::Deadline;
use crate::lock::{LockError, LockResult, OwnerDied, TryLockError, TryLockResult, lock_result};
use crate::raw_mutex::{Acquired, RawGuard, RawMutex};
use std::ops::Deref;
use std::time::Duration;

/// A robust process-shared mutex followed by the state it guards. `repr(C)`: the layout is
/// the mutex, then `S`, as in the shared-memory structs that hold one.
#[repr(C)]
pub(crate) struct Locked<S> {
    mutex: RawMutex,
    state: S,
}

/// How long [`Locked::acquire`] may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait<'a> {
    /// Only if free (held by this thread counts as busy).
    Try,
    /// Until the deadline (`None`: one too far to have, wait); held by this thread, the
    /// deadline is waited out (see [`RawMutex::lock_until`]).
    Until(Option<&'a Deadline>),
    /// Until acquired; refused when this thread holds it already.
    Forever,
}

impl<S> Locked<S> {
    /// Initialise the mutex in place (see [`RawMutex::init`]); the state is left as it is.
    pub(crate) fn init(&mut self) {
        self.mutex.init();
    }

    /// The state without the lock: for atomic words read or written on their own
    /// (`Value::load`), or by the thread that holds the lock without a guard (an `RLock`'s
    /// count, after [`Locked::held_by_current_thread`]).
    pub(crate) fn unlocked(&self) -> &S {
        &self.state
    }

    /// Whether a thread of this process holds the mutex: then the mapping it lives in must
    /// stay mapped (see `shm::SharedState::held_here`).
    pub(crate) fn held_here(&self) -> bool {
        self.mutex.held_in_this_process()
    }

    /// Whether the calling thread holds the mutex, read from the mutex itself.
    pub(crate) fn held_by_current_thread(&self) -> bool {
        self.mutex.held_by_current_thread()
    }

    /// Unlock a mutex that this thread holds without a guard (one it [`std::mem::forget`]s:
    /// an `RLock`'s levels hold its mutex, not a guard).
    ///
    /// # Safety
    /// The calling thread holds the mutex, and no live guard of this process will unlock
    /// it.
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.mutex.unlock() }
    }

    /// Acquire per `wait`; `None` when refused (busy for `Try`, the deadline passed for
    /// `Until`, held by this thread already for `Forever`).
    pub(crate) fn acquire(&self, wait: Wait<'_>) -> Option<(LockedGuard<'_, S>, Acquired)> {
        let how = match wait {
            Wait::Try => self.mutex.try_lock()?,
            Wait::Until(deadline) => self.mutex.lock_until(deadline)?,
            Wait::Forever => self.mutex.lock().ok()?,
        };
        // SAFETY: the mutex call above returned an acquisition: this thread has just
        // taken the mutex, and the guard made here is the only thing that will unlock it.
        Some((unsafe { LockedGuard::new(self) }, how))
    }

    /// Block until acquired (Python: `acquire()`). `Err(WouldDeadlock)` if this thread
    /// holds it already (Python would hang for ever), `Err(OwnerDied)` with the lock held
    /// if the previous holder died holding it.
    pub(crate) fn lock(&self) -> LockResult<LockedGuard<'_, S>> {
        match self.acquire(Wait::Forever) {
            Some((guard, how)) => lock_result(how, guard),
            None => Err(LockError::WouldDeadlock),
        }
    }

    /// Acquire only if free (Python: `acquire(False)`): `Err(WouldBlock)` when held,
    /// by this thread too.
    pub(crate) fn try_lock(&self) -> TryLockResult<LockedGuard<'_, S>> {
        try_result(self.acquire(Wait::Try), TryLockError::WouldBlock)
    }

    /// Wait until `deadline` at most (`None`: no deadline, wait): `Err(TimedOut)` when it
    /// passed first. Held by this thread, nobody can free it in time: the deadline is
    /// waited out.
    pub(crate) fn lock_until(
        &self,
        deadline: Option<&Deadline>,
    ) -> TryLockResult<LockedGuard<'_, S>> {
        try_result(self.acquire(Wait::Until(deadline)), TryLockError::TimedOut)
    }

    /// Wait at most `timeout` (Python: `acquire(timeout=t)`); `ZERO` is [`Locked::try_lock`]
    /// (`WouldBlock`), any other is [`Locked::lock_until`] its deadline (`TimedOut`).
    pub(crate) fn lock_timeout(&self, timeout: Duration) -> TryLockResult<LockedGuard<'_, S>> {
        if timeout.is_zero() {
            self.try_lock()
        } else {
            self.lock_until(Deadline::after(timeout).as_ref())
        }
    }

    /// Take the lock again after this thread released it and ran no code of a caller's
    /// since (a `Condition` wait), so it cannot hold it: never refused.
    ///
    /// # Panics
    /// If this thread holds it after all (a bug of the caller's).
    pub(crate) fn relock(&self) -> (LockedGuard<'_, S>, Acquired) {
        self.acquire(Wait::Forever)
            .expect("lock re-taken by the thread that holds it")
    }
}

impl Locked<()> {
    /// A bare mutex seen as a `Locked<()>`: for a `Lock`, whose shared memory holds just a
    /// `RawMutex` (its type names the memfd, so it stays a `RawMutex`).
    pub(crate) fn bare(mutex: &RawMutex) -> &Locked<()> {
        const {
            assert!(std::mem::size_of::<Locked<()>>() == std::mem::size_of::<RawMutex>());
            assert!(std::mem::align_of::<Locked<()>>() == std::mem::align_of::<RawMutex>());
        };
        // SAFETY: `Locked<()>` is `repr(C)`: its `mutex` is at offset 0 and `()` is
        // zero-sized, and size and alignment equal `RawMutex`'s (checked above), so the
        // bytes of a `RawMutex` are a valid `Locked<()>`, borrowed for the same lifetime.
        unsafe { &*std::ptr::from_ref(mutex).cast::<Locked<()>>() }
    }
}

/// A timed or non-blocking acquisition as a [`TryLockResult`]; `refused`: what `None`
/// means.
fn try_result<G>(acquired: Option<(G, Acquired)>, refused: TryLockError<G>) -> TryLockResult<G> {
    match acquired {
        None => Err(refused),
        Some((guard, Acquired::Clean)) => Ok(guard),
        Some((guard, Acquired::OwnerDied)) => Err(TryLockError::OwnerDied(OwnerDied::new(guard))),
    }
}

/// Holds a [`Locked`]'s mutex and derefs to its state; dropping it unlocks (in the process
/// that locked: a fork's copy unlocks nothing, see [`RawGuard`]). Not `Send`.
pub(crate) struct LockedGuard<'a, S> {
    raw: RawGuard<'a>,
    state: &'a S,
}

impl<'a, S> LockedGuard<'a, S> {
    /// Wrap `locked`, whose mutex this thread has just acquired.
    ///
    /// # Safety
    /// The lock is held by this thread, and nothing but this guard will unlock it (see
    /// [`RawGuard::new`]).
    unsafe fn new(locked: &'a Locked<S>) -> LockedGuard<'a, S> {
        LockedGuard {
            // SAFETY: the caller's contract is `RawGuard::new`'s.
            raw: unsafe { RawGuard::new(&locked.mutex) },
            state: &locked.state,
        }
    }

    /// Whether this guard is the one of the process that locked, not a fork's copy.
    pub(crate) fn held_here(&self) -> bool {
        self.raw.held_here()
    }

    /// Panic in a fork's copy of the guard, before `what` writes or waits through it.
    pub(crate) fn assert_held_here(&self, what: &str) {
        self.raw.assert_held_here(what);
    }
}

impl<S> Deref for LockedGuard<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{SharedState, Shm, Zeroed};
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    #[repr(C)]
    struct Counter(Locked<AtomicU32>);
    // SAFETY: a `RawMutex`, which is `Zeroed`, and an atomic, 0 for zero bytes.
    unsafe impl Zeroed for Counter {}
    impl SharedState for Counter {
        fn held_here(&self) -> bool {
            self.0.held_here()
        }
    }

    fn counter() -> Shm<Counter> {
        Shm::new(|c: &mut Counter| c.0.init())
    }

    #[test]
    fn a_guard_holds_the_lock_until_dropped() {
        let shm = counter();
        let l = &shm.get().0;
        assert!(!l.held_here());
        let g = l.lock().unwrap();
        g.fetch_add(1, Relaxed);
        assert!(l.held_here() && l.held_by_current_thread());
        assert!(shm.held_here(), "a held mutex keeps the mapping");
        assert!(matches!(l.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(matches!(
            l.lock_timeout(Duration::from_millis(10)),
            Err(TryLockError::TimedOut)
        ));
        assert!(matches!(l.lock(), Err(LockError::WouldDeadlock)));
        drop(g);
        assert!(!l.held_here());
        let g = l.try_lock().unwrap();
        assert_eq!(g.load(Relaxed), 1);
        drop(g);
        assert_eq!(
            l.lock_timeout(Duration::from_secs(1))
                .unwrap()
                .load(Relaxed),
            1
        );
        let (g, how) = l.relock();
        assert_eq!(how, Acquired::Clean);
        assert!(g.held_here());
    }

    #[test]
    fn another_thread_waits_for_the_guard() {
        let shm = counter();
        let l = &shm.get().0;
        let g = l.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!l.held_by_current_thread(), "held by the other thread");
                assert!(l.held_here(), "but by this process");
                assert!(matches!(l.try_lock(), Err(TryLockError::WouldBlock)));
            })
            .join()
            .unwrap();
        });
        drop(g);
    }

    /// The shared-memory structs that now hold a `Locked` had the mutex and the state as
    /// two fields of their own: the bytes are where they were.
    #[test]
    fn a_locked_is_laid_out_as_a_mutex_then_its_state() {
        #[repr(C)]
        struct Before<S> {
            mutex: RawMutex,
            state: S,
        }
        fn same<S>() {
            assert_eq!(
                std::mem::size_of::<Locked<S>>(),
                std::mem::size_of::<Before<S>>()
            );
            assert_eq!(
                std::mem::align_of::<Locked<S>>(),
                std::mem::align_of::<Before<S>>()
            );
            assert_eq!(
                std::mem::offset_of!(Locked<S>, state),
                std::mem::offset_of!(Before<S>, state)
            );
        }
        same::<AtomicU32>();
        same::<std::sync::atomic::AtomicU64>();
        same::<std::sync::atomic::AtomicU8>();
        same::<()>();
        assert_eq!(std::mem::offset_of!(Locked<u8>, mutex), 0);
    }

    #[test]
    fn a_bare_mutex_locks_as_a_locked_unit() {
        let shm = Shm::new(RawMutex::init);
        let l = Locked::bare(shm.get());
        let g = l.lock().unwrap();
        assert!(shm.get().held_by_current_thread());
        assert!(matches!(l.try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        assert_eq!(shm.get().holder_tid(), 0);
    }
}
