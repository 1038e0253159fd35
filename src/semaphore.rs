//! `Semaphore` and `BoundedSemaphore`: Python's counting semaphores, shared by processes.
//!
//! A counter in shared memory taken with compare-and-swap and slept on with a futex: no
//! lock, so no process can die holding one. As in Python the semaphore is not owned: any
//! process may release it, and a unit held by a process that dies is not given back.
//!
//! Differences from Python:
//! - `acquire` returns a [`SemaphorePermit`] that releases on drop (Python: `with sem:`);
//!   `permit.forget()` keeps the unit taken, and `release()` exists for Python's
//!   free-standing style.
//! - `BoundedSemaphore::release` past the initial value is `Error::Invalid` (Python:
//!   `ValueError`).

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::futex;
use crate::handle::Handle;
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

#[repr(C)]
struct SemShm {
    value: AtomicU32,
    sleepers: AtomicU32,
    /// The most `value` may reach; `u32::MAX` for an unbounded semaphore.
    bound: u32,
}

// SAFETY: two atomics and a `u32`; zero is a valid (if useless) state, and `new` sets the
// value and the bound before any handle exists.
unsafe impl Zeroed for SemShm {}

impl SharedState for SemShm {}

/// The counter both semaphore types share: the state in shared memory.
type RawSemaphore = SemShm;

/// A new semaphore's mapping.
fn map_semaphore(value: u32, bound: u32) -> Shm<SemShm> {
    Shm::new(|s: &mut SemShm| {
        *s.value.get_mut() = value;
        s.bound = bound;
    })
}

impl SemShm {
    fn s(&self) -> &SemShm {
        self
    }

    fn try_take(&self) -> bool {
        let v = &self.s().value;
        let mut cur = v.load(SeqCst);
        while cur > 0 {
            match v.compare_exchange_weak(cur, cur - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
        false
    }

    /// Take one unit, waiting until `deadline` (`None`: for ever); false when it passed.
    fn take(&self, deadline: Option<&Deadline>) -> bool {
        let s = self.s();
        loop {
            if self.try_take() {
                return true;
            }
            if deadline.is_some_and(Deadline::expired) {
                return false;
            }
            // Count ourselves before the kernel re-checks that the value is still 0;
            // `give` adds first and looks at `sleepers` after, so one sees the other.
            s.sleepers.fetch_add(1, SeqCst);
            futex::wait(&s.value, 0, deadline);
            s.sleepers.fetch_sub(1, SeqCst);
        }
    }

    fn give(&self) -> Result<()> {
        let s = self.s();
        let mut cur = s.value.load(SeqCst);
        loop {
            if cur >= s.bound {
                return Err(Error::invalid(
                    InvalidKind::OverReleased,
                    format!(
                        "BoundedSemaphore released too many times (its bound is {})",
                        s.bound
                    ),
                ));
            }
            let next = cur + 1;
            match s.value.compare_exchange_weak(cur, next, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.value, 1);
        }
        Ok(())
    }
}

/// One unit of a semaphore, given back when dropped.
#[doc(alias = "release")]
pub struct SemaphorePermit<'a> {
    sem: &'a RawSemaphore,
}

impl SemaphorePermit<'_> {
    /// Keep the unit taken (release it later with `release()`, possibly elsewhere).
    pub fn forget(self) {
        std::mem::forget(self)
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        // A permit is a unit taken, so giving it back cannot exceed the bound.
        let _ = self.sem.give();
    }
}

/// Python's `multiprocessing.Semaphore(value)`. Clones share it; create it before forking.
///
/// ```
/// use multiproc::{Occupancy, Process, Semaphore, join_all};
/// let sem = Semaphore::new(2); // sem = Semaphore(2)
/// let inside = Occupancy::new();
/// let mut ps: Vec<Process> = (0..4)
///     .map(|_| {
///         let (sem, inside) = (sem.clone(), inside.clone());
///         Process::spawn(move || {
///             let _permit = sem.acquire(); // with sem:
///             let _me = inside.enter();
///         })
///         .unwrap()
///     })
///     .collect();
/// join_all(&mut ps).unwrap();
/// assert_eq!(inside.entries(), 4);
/// assert!(inside.peak() <= 2); // never more than two inside at once
/// assert_eq!(sem.value(), 2); // sem.get_value() == 2: every permit given back
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Semaphore {
    raw: Handle<Shm<SemShm>, Semaphore>,
}

/// Python's `multiprocessing.BoundedSemaphore(value)`: releasing beyond the initial value
/// is an error. Clones share it; create it before forking.
///
/// ```
/// use multiproc::{BoundedSemaphore, Process};
/// let sem = BoundedSemaphore::new(1); // sem = BoundedSemaphore(1)
/// let s = sem.clone();
/// let mut p = Process::spawn(move || s.acquire().forget()).unwrap(); // sem.acquire(), no release
/// assert_eq!(p.join().unwrap(), 0);
/// assert_eq!(sem.value(), 0); // the child kept the unit
/// assert!(sem.try_acquire().is_none()); // sem.acquire(False) == False
/// sem.release().unwrap(); // any process may release: sem.release()
/// assert!(sem.release().is_err()); // past the bound: ValueError
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct BoundedSemaphore {
    raw: Handle<Shm<SemShm>, BoundedSemaphore>,
}

macro_rules! semaphore_api {
    () => {
        /// Take a unit, blocking while none is free (Python: `acquire()` / `with sem:`).
        pub fn acquire(&self) -> SemaphorePermit<'_> {
            self.raw.take(None);
            SemaphorePermit { sem: &self.raw }
        }

        /// Take a unit if one is free now (Python: `acquire(block=False)`).
        #[doc(alias = "acquire")]
        pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
            self.raw
                .try_take()
                .then(|| SemaphorePermit { sem: &self.raw })
        }

        /// Wait at most `timeout` for a unit (Python: `acquire(timeout=t)`).
        #[doc(alias = "acquire")]
        pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
            self.raw
                .take(Deadline::after(timeout).as_ref())
                .then(|| SemaphorePermit { sem: &self.raw })
        }

        /// Units free now (Python: `get_value()`).
        #[doc(alias = "get_value")]
        pub fn value(&self) -> u32 {
            self.raw.s().value.load(SeqCst)
        }
    };
}

impl Semaphore {
    /// Python: `Semaphore(value)`.
    pub fn new(value: u32) -> Semaphore {
        Semaphore {
            raw: Handle::new(map_semaphore(value, u32::MAX)),
        }
    }

    semaphore_api!();

    /// Give a unit back without a permit (Python: `release()`).
    pub fn release(&self) {
        self.raw
            .give()
            .expect("an unbounded semaphore has no bound to exceed");
    }
}

impl BoundedSemaphore {
    /// Python: `BoundedSemaphore(value)`; `value` is also the bound.
    pub fn new(value: u32) -> BoundedSemaphore {
        BoundedSemaphore {
            raw: Handle::new(map_semaphore(value, value)),
        }
    }

    semaphore_api!();

    /// Give a unit back without a permit (Python: `release()`); an error if that would
    /// raise the value above the initial one.
    pub fn release(&self) -> Result<()> {
        self.raw.give()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
