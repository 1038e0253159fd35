//! A robust, process-shared pthread mutex: the one lock under every lock-based primitive.
//!
//! When a process dies holding it, the kernel (through glibc's robust list) marks it, and
//! the next `lock` returns `EOWNERDEAD`. We then call `pthread_mutex_consistent` at once, so
//! the mutex stays usable, and report "previous owner died" upwards. Ignoring `EOWNERDEAD`
//! would leave the mutex `ENOTRECOVERABLE` for ever, which is Python's deadlock.
//!
//! A blocked `lock` never sleeps for longer than [`RECHECK`] at a time: it waits with
//! `pthread_mutex_clocklock` and tries again. The reason is a wake-up that a death can lose.
//! glibc's unlock wakes one waiter, and that waiter, once it holds the mutex, keeps the
//! futex word's "waiters" bit set, so that its own unlock wakes the next one. If it is
//! killed after being woken but before taking the mutex, and meanwhile another thread takes
//! the free mutex without the bit (a plain 0 -> tid), every other waiter sleeps for ever on
//! a mutex that is free. (The kernel's robust-list walk at the death wakes a waiter only if
//! the word is 0 at that moment; likewise for a holder killed between clearing the word and
//! waking.) With the re-check, such a waiter looks at the mutex again within `RECHECK`.

use crate::deadline::Deadline;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::time::Duration;

/// The longest a blocked `lock` sleeps before looking at the mutex again: the delay a
/// wake-up lost to a death costs (see the module docs). Only waits that last longer than
/// this pay anything for it: one more futex call per `RECHECK`.
pub(crate) const RECHECK: Duration = Duration::from_millis(50);

// SAFETY: the declaration is glibc's own (`<pthread.h>`, glibc >= 2.30): the same argument
// and return types, the C calling convention; each call site says why its call is sound.
unsafe extern "C" {
    // The `libc` crate does not declare it yet. Like `pthread_mutex_timedlock` but on a
    // clock of our choice (CLOCK_MONOTONIC).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clockid: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

#[repr(C)]
pub(crate) struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be used concurrently.
unsafe impl Sync for RawMutex {}
// SAFETY: a process-shared mutex is not tied to the thread that created it (only a held one
// is, and holding is represented by `RawGuard`, which is not `Send`).
unsafe impl Send for RawMutex {}

// SAFETY: an all-zero `pthread_mutex_t` is glibc's `PTHREAD_MUTEX_INITIALIZER`, a valid
// (unlocked, process-private) mutex; every mutex in shared memory is re-initialised with
// `init` before any handle to it exists.
unsafe impl crate::shm::Zeroed for RawMutex {}

/// How an acquisition went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The previous owner released it.
    Clean,
    /// The previous owner died while holding it; it is ours now and already marked
    /// consistent, but what it protected may be half-updated.
    OwnerDied,
}

/// The calling thread already holds the mutex, so a blocking wait for it would never end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeldByThisThread;

/// What one pthread lock call came to.
enum Outcome {
    Acquired(Acquired),
    /// `EBUSY` (try) or `ETIMEDOUT` (timed): another thread holds it.
    Busy,
    /// `EDEADLK`: this thread holds it.
    HeldByThisThread,
}

impl RawMutex {
    /// Initialise a robust, process-shared, error-checking mutex in place. `&mut self`: the
    /// mutex is not in use yet (a fresh mapping that nobody else can reach; see
    /// `Shm::with_len`).
    pub(crate) fn init(&mut self) {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        let a = attr.as_mut_ptr();
        // SAFETY: `a` points to storage for an attribute object, initialised by the first
        // call before any other use and destroyed at the end; `self.0.get_mut()` is a
        // mutex nobody else uses (we have `&mut self`), so (re)initialising it is allowed.
        unsafe {
            assert_eq!(libc::pthread_mutexattr_init(a), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_settype(a, libc::PTHREAD_MUTEX_ERRORCHECK),
                0
            );
            assert_eq!(libc::pthread_mutex_init(self.0.get_mut(), a), 0);
            libc::pthread_mutexattr_destroy(a);
        }
    }

    fn outcome(&self, rc: libc::c_int) -> Outcome {
        match rc {
            0 => Outcome::Acquired(Acquired::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex now.
                unsafe { libc::pthread_mutex_consistent(self.0.get()) };
                Outcome::Acquired(Acquired::OwnerDied)
            }
            libc::EBUSY | libc::ETIMEDOUT => Outcome::Busy,
            // An error-checking mutex refuses to wait for the thread that holds it. Only
            // this thread can make that so, so it is a fact, not a race.
            libc::EDEADLK => Outcome::HeldByThisThread,
            rc => panic!(
                "pthread mutex failed: {}",
                std::io::Error::from_raw_os_error(rc)
            ),
        }
    }

    /// Block until acquired; `Err` when this thread holds it already (waiting would be for
    /// ever).
    pub(crate) fn lock(&self) -> Result<Acquired, HeldByThisThread> {
        // Free: taken without reading the clock.
        // SAFETY: initialised by `init`, lives in a mapping that outlives `self`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.0.get()) };
        let mut outcome = self.outcome(rc);
        loop {
            match outcome {
                Outcome::Acquired(how) => return Ok(how),
                Outcome::HeldByThisThread => return Err(HeldByThisThread),
                // Never one unbounded sleep: a wake-up meant for us may be lost for good
                // (module docs).
                Outcome::Busy => outcome = self.clocklock(&Deadline::step(RECHECK)),
            }
        }
    }

    /// One `pthread_mutex_clocklock` until `until`.
    fn clocklock(&self, until: &Deadline) -> Outcome {
        let abstime = until.as_libc_timespec();
        // SAFETY: as in `lock`; the timespec outlives the call.
        let rc = unsafe { pthread_mutex_clocklock(self.0.get(), libc::CLOCK_MONOTONIC, &abstime) };
        self.outcome(rc)
    }

    /// Acquire only if free. Held by this very thread counts as busy, as in Python's
    /// `acquire(False)` on a `Lock` it holds.
    pub(crate) fn try_lock(&self) -> Option<Acquired> {
        // SAFETY: as in `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.0.get()) };
        match self.outcome(rc) {
            Outcome::Acquired(how) => Some(how),
            Outcome::Busy | Outcome::HeldByThisThread => None,
        }
    }

    /// Acquire, blocking at most until `deadline` (`None`: a timeout too long to have one,
    /// see `deadline::HORIZON`). When this thread holds it already, nobody can release it
    /// before the deadline: wait the deadline out and report a timeout, as Python's
    /// `acquire(timeout=t)` does (with no deadline, that wait does not end, as in Python).
    pub(crate) fn lock_until(&self, deadline: Option<&Deadline>) -> Option<Acquired> {
        loop {
            // In steps of at most RECHECK, as `lock` (module docs).
            let step = Deadline::step(deadline.map_or(RECHECK, |d| d.remaining().min(RECHECK)));
            match self.clocklock(&step) {
                Outcome::Acquired(how) => return Some(how),
                Outcome::Busy if deadline.is_some_and(Deadline::expired) => return None,
                Outcome::Busy => {}
                Outcome::HeldByThisThread => match deadline {
                    Some(d) => {
                        d.sleep_until();
                        return None;
                    }
                    None => loop {
                        std::thread::sleep(crate::deadline::HORIZON);
                    },
                },
            }
        }
    }

    /// # Safety
    /// The calling thread holds the mutex.
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: caller holds it.
        let rc = unsafe { libc::pthread_mutex_unlock(self.0.get()) };
        debug_assert_eq!(rc, 0, "unlock of a mutex this thread does not hold");
    }

    /// Kernel thread id of the thread holding the mutex, 0 when it is free or its holder
    /// died (the kernel clears the id and sets `FUTEX_OWNER_DIED` then).
    ///
    /// A robust mutex's first word is its futex word, and the kernel's robust-futex ABI
    /// (`set_robust_list(2)`) requires it to hold the owner's thread id in its low 30 bits:
    /// that is how the kernel finds the mutexes a dying thread held. glibc keeps that word
    /// first in `pthread_mutex_t` on every Linux target.
    pub(crate) fn holder_tid(&self) -> u32 {
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        // SAFETY: the pointer is to the mutex's first 4 bytes, aligned (a pthread_mutex_t is
        // at least 4-aligned), inside memory that lives as long as `self`. glibc and the
        // kernel only ever change that word with atomic instructions, so an atomic load of
        // it races with nothing.
        let word = unsafe { &*self.0.get().cast::<std::sync::atomic::AtomicU32>() };
        word.load(std::sync::atomic::Ordering::Acquire) & FUTEX_TID_MASK
    }

    /// Whether the calling thread holds the mutex. Proven by the mutex itself, not by a
    /// record of ours that could outlive its holder.
    pub(crate) fn held_by_current_thread(&self) -> bool {
        let tid = self.holder_tid();
        tid != 0 && tid == current_tid()
    }

    /// Whether some thread of this process holds the mutex: then the memory it lives in
    /// must stay mapped, because the mutex is on that thread's robust list, which the
    /// kernel and glibc walk when the thread exits or locks another robust mutex.
    #[allow(dead_code)] // for the handle refactor's unmap check; nothing calls it yet
    pub(crate) fn held_in_this_process(&self) -> bool {
        let tid = self.holder_tid();
        if tid == 0 {
            return false;
        }
        // SAFETY: tgkill with signal 0 sends nothing; it only checks that thread `tid`
        // belongs to thread group `getpid()`. Thread ids are unique among live threads.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::c_int, 0) == 0 }
    }

    /// Acquire and wrap in a guard that unlocks on drop; `Err` when this thread holds it
    /// already. For locks that user code can take.
    pub(crate) fn acquire(&self) -> Result<(RawGuard<'_>, Acquired), HeldByThisThread> {
        let how = self.lock()?;
        // SAFETY: `lock` returned `Ok`: this thread has just acquired the mutex.
        Ok((unsafe { RawGuard::new(self) }, how))
    }

    /// As [`RawMutex::acquire`], for a crate-internal mutex that no code of a caller's can
    /// run under (a queue's or barrier's own lock), so this thread cannot hold it already.
    pub(crate) fn guard(&self) -> (RawGuard<'_>, Acquired) {
        self.acquire()
            .expect("internal lock re-entered by the thread that holds it")
    }
}

/// The calling thread's kernel thread id.
pub(crate) fn current_tid() -> u32 {
    // gettid cannot fail and has no preconditions.
    nix::unistd::gettid().as_raw() as u32
}

/// Holds a [`RawMutex`] until dropped. Not `Send`: a pthread mutex must be unlocked by the
/// thread that locked it.
///
/// A fork copies the guard too (a guard of a `'static` object moved into a `Process::new`
/// closure): the copy in the child holds nothing, since the mutex is held by the parent's
/// thread. The guard records the fork epoch it was made in (see `sys::atfork`), so the
/// copy knows: its drop unlocks nothing, and the guards built on it refuse to write
/// ([`RawGuard::assert_held_here`]).
pub(crate) struct RawGuard<'a> {
    mutex: &'a RawMutex,
    /// `sys::atfork::child_epoch()` when the mutex was locked.
    epoch: u64,
    _not_send: PhantomData<*const ()>,
}

impl<'a> RawGuard<'a> {
    /// Wrap a mutex the current thread has just acquired.
    ///
    /// # Safety
    /// The lock is held by this thread, and nothing else will unlock it: the guard's drop
    /// unlocks it (in the process that made the guard), which is undefined behaviour for a
    /// pthread mutex this thread does not hold, and the guards built on it write through
    /// it as if the lock were held.
    pub(crate) unsafe fn new(mutex: &'a RawMutex) -> RawGuard<'a> {
        RawGuard {
            mutex,
            epoch: crate::sys::atfork::child_epoch(),
            _not_send: PhantomData,
        }
    }

    /// Whether this guard is the one of the process that locked, not a fork's copy (which
    /// holds nothing: the lock is the parent's).
    pub(crate) fn held_here(&self) -> bool {
        self.epoch == crate::sys::atfork::child_epoch()
    }

    /// Panic, before anything is written or waited for, in a fork's copy of the guard: a
    /// write through it would land without the lock, inside the parent's critical section.
    /// `what` names the guard and the refused operation.
    pub(crate) fn assert_held_here(&self, what: &str) {
        assert!(
            self.held_here(),
            "{what} refused: this guard was copied into a forked child, and the lock is held \
             by the process that took it, not by this one (take the lock in the child instead)"
        );
    }
}

impl Drop for RawGuard<'_> {
    fn drop(&mut self) {
        if self.held_here() {
            // SAFETY: a guard exists only while its thread holds the mutex, and this is
            // that thread's guard (not a fork's copy: its epoch is this process's).
            unsafe { self.mutex.unlock() }
        }
    }
}
