//! `Semaphore` and `BoundedSemaphore`: Python's counting semaphores, shared by processes.

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::futex;
use crate::handle::Handle;
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

/// One unit in the "out with a permit" half of [`SemShm::units`].
const OUT: u64 = 1 << 32;

#[repr(C)]
struct SemShm {
    /// Units free (low 32 bits) and units out with live permits (high 32 bits). Together
    /// they never exceed `bound`, which is at most [`Semaphore::MAX`], so neither half
    /// overflows into the other.
    units: AtomicU64,
    /// Bumped by every unit given back; waiters sleep on it.
    seq: AtomicU32,
    sleepers: AtomicU32,
    /// The most free and out units together may reach: [`Semaphore::MAX`] for a
    /// `Semaphore`, the initial value for a `BoundedSemaphore`.
    bound: u32,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: atomics and a `u32`; zero is a valid (if useless) state, and `new` sets the
// units and the bound before any handle exists.
unsafe impl Zeroed for SemShm {}

impl SharedState for SemShm {}

/// The counter both semaphore types share: the state in shared memory.
type RawSemaphore = SemShm;

/// A new semaphore's mapping; `value` is at most `bound`, at most [`Semaphore::MAX`].
fn map_semaphore(value: u32, bound: u32) -> Shm<SemShm> {
    Shm::new(|s: &mut SemShm| {
        *s.units.get_mut() = u64::from(value);
        s.bound = bound;
    })
}

/// `value` if it is at most [`Semaphore::MAX`], the error of a `new` otherwise.
fn checked_value(kind: &str, value: u32) -> Result<u32> {
    if value > Semaphore::MAX {
        return Err(Error::invalid(
            InvalidKind::Argument,
            format!(
                "{kind}({value}): the value is above {kind}::MAX ({})",
                Semaphore::MAX
            ),
        ));
    }
    Ok(value)
}

fn free(units: u64) -> u32 {
    units as u32
}

fn out(units: u64) -> u32 {
    (units >> 32) as u32
}

impl SemShm {
    fn s(&self) -> &SemShm {
        self
    }

    /// Move a unit from free to out (a permit's), if one is free.
    fn try_take(&self) -> bool {
        let u = &self.s().units;
        let mut cur = u.load(SeqCst);
        while free(cur) > 0 {
            // Free - 1, out + 1: the sum, at most the bound, is unchanged.
            match u.compare_exchange_weak(cur, cur - 1 + OUT, SeqCst, SeqCst) {
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
            // Count ourselves, then read the sequence, then look once more: a giver adds
            // its unit, bumps the sequence and looks at `sleepers` after, so either we see
            // its unit, or the kernel sees the sequence moved, or the giver sees us.
            s.sleepers.fetch_add(1, SeqCst);
            let seen = s.seq.load(SeqCst);
            if !self.try_take() {
                futex::wait(&s.seq, seen, deadline);
                s.sleepers.fetch_sub(1, SeqCst);
                continue;
            }
            s.sleepers.fetch_sub(1, SeqCst);
            return true;
        }
    }

    /// A permit of a unit taken, blocking while none is free.
    fn acquire(&self) -> SemaphorePermit<'_> {
        self.take(None);
        SemaphorePermit::new(self)
    }

    /// A permit of a unit free now, if one is.
    fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().then(|| SemaphorePermit::new(self))
    }

    /// A permit of a unit taken within `timeout`, if one frees in time.
    fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.take(Deadline::after(timeout).as_ref())
            .then(|| SemaphorePermit::new(self))
    }

    /// Units free now.
    fn value(&self) -> u32 {
        free(self.s().units.load(SeqCst))
    }

    /// Wake a waiter for a unit just made free.
    fn wake(&self) {
        let s = self.s();
        s.seq.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake(&s.seq, 1);
        }
    }

    /// A permit's unit back, out to free: one atomic step that keeps the sum, so it cannot
    /// pass the bound, and cannot fail.
    fn give_back(&self) {
        // Out - 1, free + 1. Out is at least 1 (this permit's unit), and free + out is at
        // most the bound, below 2^31: no borrow out of the high half, no carry into it.
        self.s().units.fetch_sub(OUT - 1, SeqCst);
        self.wake();
    }

    /// A forgotten permit's unit stays taken for good: no longer out with a permit.
    fn forget_one(&self) {
        self.s().units.fetch_sub(OUT, SeqCst);
    }

    /// A unit added without a permit (`release()`); an error, and nothing changed, when
    /// free and out units together are at the bound.
    fn give(&self, kind: &str) -> Result<()> {
        let s = self.s();
        let mut cur = s.units.load(SeqCst);
        loop {
            let total = u64::from(free(cur)) + u64::from(out(cur));
            if total >= u64::from(s.bound) {
                return Err(Error::invalid(
                    InvalidKind::OverReleased,
                    format!(
                        "{kind} released past its bound of {} units ({} free, {} out with \
                         permits, which give theirs back when dropped)",
                        s.bound,
                        free(cur),
                        out(cur)
                    ),
                ));
            }
            match s.units.compare_exchange_weak(cur, cur + 1, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.wake();
        Ok(())
    }
}

/// One unit of a semaphore, given back when dropped. Giving it back cannot fail: the unit
/// is counted as out until then, so no `release()` can take its room. A fork's copy of a
/// permit (one moved into a `Process::new` closure) gives nothing back in the child.
#[doc(alias = "release")]
#[must_use = "if unused the permit will immediately be released"]
pub struct SemaphorePermit<'a> {
    sem: &'a RawSemaphore,
    /// The fork epoch the unit was taken in (see `sys::atfork`).
    epoch: u64,
}

impl<'a> SemaphorePermit<'a> {
    /// The permit of a unit just taken from `sem`.
    fn new(sem: &'a RawSemaphore) -> SemaphorePermit<'a> {
        SemaphorePermit {
            sem,
            epoch: crate::sys::atfork::child_epoch(),
        }
    }

    /// Whether this is the permit of the process that took the unit, not a fork's copy.
    fn taken_here(&self) -> bool {
        self.epoch == crate::sys::atfork::child_epoch()
    }

    /// Keep the unit taken for good (a `release()` later, possibly elsewhere, may add one
    /// back).
    pub fn forget(self) {
        if self.taken_here() {
            self.sem.forget_one();
        }
        std::mem::forget(self)
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.taken_here() {
            self.sem.give_back();
        }
    }
}

/// `Semaphore` and `BoundedSemaphore`: Python's counting semaphores, shared by processes.
///
/// A counter in shared memory taken with compare-and-swap, and a sequence word slept on with
/// a futex: no lock, so no process can die holding one. As in Python the semaphore is not
/// owned: any process may release it, and a unit held by a process that dies is not given
/// back.
///
/// The counter is one 64-bit word holding two counts that change together: the units free
/// and the units out with live permits. A [`SemaphorePermit`] gives back only the unit it
/// took, moving it from "out" to "free" in one atomic step that cannot exceed the bound (the
/// bound counts both), so a permit's release cannot fail. A release without a permit
/// (`release()`) adds a unit, and is an error when free and out units together would pass
/// the bound: [`Semaphore::MAX`] for a `Semaphore`, the initial value for a
/// `BoundedSemaphore`. A permit copied into a forked child (a permit of a `'static`
/// semaphore moved into a `Process::new` closure) gives nothing back there: the unit is the
/// parent's, and the parent's copy returns it.
///
/// Differences from Python:
/// - `acquire` returns a [`SemaphorePermit`] that releases on drop (Python: `with sem:`);
///   `permit.forget()` keeps the unit taken for good, and `release()` exists for Python's
///   free-standing style.
/// - `BoundedSemaphore::release` past the initial value is `Error::Invalid` (Python:
///   `ValueError`), and so is `Semaphore::release` past [`Semaphore::MAX`] (Python's limit
///   is the platform's `SEM_VALUE_MAX`, the same `i32::MAX` on Linux). Units out with live
///   permits count: while a permit is out, a `release()` that would leave no room for its
///   unit is refused, so a dead process's permit keeps its unit for ever (as in Python) and,
///   in a `BoundedSemaphore`, a `release()` cannot stand in for it.
///
/// Python's `multiprocessing.Semaphore(value)`. Clones share it; create it before forking.
///
/// ```
/// use multiproc::{Process, Semaphore, join_all};
/// let sem = Semaphore::new(2).unwrap(); // sem = Semaphore(2)
/// let mut ps: Vec<Process> = (0..4)
///     .map(|_| {
///         let sem = sem.clone();
///         Process::spawn(move || {
///             let _permit = sem.acquire(); // with sem:
///             // at most two processes are here at once (the semaphore_slots example
///             // measures it)
///         })
///         .unwrap()
///     })
///     .collect();
/// join_all(&mut ps).unwrap();
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
/// let sem = BoundedSemaphore::new(1).unwrap(); // sem = BoundedSemaphore(1)
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

impl Semaphore {
    /// The largest value a semaphore holds: `i32::MAX`, as POSIX semaphores on Linux
    /// (`SEM_VALUE_MAX`). `new` above it is an error, and so is a `release()` past it.
    pub const MAX: u32 = i32::MAX as u32;

    const NAME: &'static str = "Semaphore";

    /// Python: `Semaphore(value)`. An error, [`InvalidKind::Argument`], above
    /// [`Semaphore::MAX`].
    pub fn new(value: u32) -> Result<Semaphore> {
        let value = checked_value(Self::NAME, value)?;
        Ok(Semaphore {
            raw: Handle::new(map_semaphore(value, Semaphore::MAX)),
        })
    }

    /// Take a unit, blocking while none is free (Python: `acquire()` / `with sem:`).
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.raw.acquire()
    }

    /// Take a unit if one is free now (Python: `acquire(block=False)`).
    #[doc(alias = "acquire")]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.raw.try_acquire()
    }

    /// Wait at most `timeout` for a unit (Python: `acquire(timeout=t)`).
    #[doc(alias = "acquire")]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.raw.acquire_timeout(timeout)
    }

    /// Units free now (Python: `get_value()`).
    #[doc(alias = "get_value")]
    pub fn value(&self) -> u32 {
        self.raw.value()
    }

    /// Give a unit back without a permit (Python: `release()`): a unit taken by a
    /// forgotten permit, or a new one. An error, [`InvalidKind::OverReleased`], and
    /// nothing changed, when it would pass the bound ([`Semaphore::MAX`] for a
    /// `Semaphore`, the initial value for a `BoundedSemaphore`), counting the units out
    /// with live permits, which give theirs back when dropped.
    pub fn release(&self) -> Result<()> {
        self.raw.give(Self::NAME)
    }
}

impl BoundedSemaphore {
    /// The largest value, and so bound, a bounded semaphore takes: [`Semaphore::MAX`].
    pub const MAX: u32 = Semaphore::MAX;

    const NAME: &'static str = "BoundedSemaphore";

    /// Python: `BoundedSemaphore(value)`; `value` is also the bound. An error,
    /// [`InvalidKind::Argument`], above [`BoundedSemaphore::MAX`].
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        let value = checked_value(Self::NAME, value)?;
        Ok(BoundedSemaphore {
            raw: Handle::new(map_semaphore(value, value)),
        })
    }

    /// As [`Semaphore::acquire`] (Python: `acquire()` / `with sem:`).
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.raw.acquire()
    }

    /// As [`Semaphore::try_acquire`] (Python: `acquire(block=False)`).
    #[doc(alias = "acquire")]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.raw.try_acquire()
    }

    /// As [`Semaphore::acquire_timeout`] (Python: `acquire(timeout=t)`).
    #[doc(alias = "acquire")]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.raw.acquire_timeout(timeout)
    }

    /// As [`Semaphore::value`] (Python: `get_value()`).
    #[doc(alias = "get_value")]
    pub fn value(&self) -> u32 {
        self.raw.value()
    }

    /// Give a unit back without a permit (Python: `release()`); an error,
    /// [`InvalidKind::OverReleased`], and nothing changed, past the initial value (see
    /// [`Semaphore::release`]).
    pub fn release(&self) -> Result<()> {
        self.raw.give(Self::NAME)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn over_released(r: Result<()>) -> bool {
        r.is_err_and(|e| e.invalid_kind() == Some(InvalidKind::OverReleased))
    }

    /// `Semaphore::new(u32::MAX).release()` panicked (the unbounded semaphore's bound was
    /// `u32::MAX`, and an `expect` said it could not be reached). Now the bound is
    /// `Semaphore::MAX`: above it `new` is an error, and a release past it is one.
    #[test]
    fn release_past_the_bound_is_an_error_not_a_panic() {
        for value in [Semaphore::MAX + 1, u32::MAX] {
            let e = Semaphore::new(value).expect_err("above MAX");
            assert_eq!(e.invalid_kind(), Some(InvalidKind::Argument));
            let e = BoundedSemaphore::new(value).expect_err("above MAX");
            assert_eq!(e.invalid_kind(), Some(InvalidKind::Argument));
        }
        let s = Semaphore::new(Semaphore::MAX).unwrap();
        assert!(over_released(s.release()), "one past MAX");
        assert_eq!(s.value(), Semaphore::MAX, "nothing changed");
        let s = Semaphore::new(Semaphore::MAX - 1).unwrap();
        s.release().unwrap();
        assert_eq!(s.value(), Semaphore::MAX, "up to MAX");
        let b = BoundedSemaphore::new(BoundedSemaphore::MAX).unwrap();
        assert!(over_released(b.release()));
    }

    /// A permit's drop gave its unit back with a fallible `give` whose error was ignored: a
    /// `release()` while the permit was out took its room, and the drop lost the unit. Now a
    /// unit out with a permit counts against the bound until the permit gives it back.
    #[test]
    fn a_permit_returns_its_unit() {
        let s = BoundedSemaphore::new(1).unwrap();
        let p = s.acquire();
        assert!(
            over_released(s.release()),
            "a release while the permit is out must be refused: the permit returns the unit"
        );
        drop(p);
        assert_eq!(s.value(), 1);
        let s = Semaphore::new(Semaphore::MAX).unwrap();
        let p = s.acquire();
        assert_eq!(s.value(), Semaphore::MAX - 1);
        assert!(
            over_released(s.release()),
            "no room: the permit's unit is out"
        );
        drop(p);
        assert_eq!(s.value(), Semaphore::MAX, "the permit gave its unit back");
        // A forgotten permit's unit is gone for good: a release may stand in for it.
        s.acquire().forget();
        assert_eq!(s.value(), Semaphore::MAX - 1);
        s.release().unwrap();
        assert_eq!(s.value(), Semaphore::MAX);
        // Timed and non-blocking permits are permits too.
        let p = s.try_acquire().unwrap();
        let q = s.acquire_timeout(Duration::ZERO).unwrap();
        assert!(over_released(s.release()));
        drop((p, q));
        assert_eq!(s.value(), Semaphore::MAX);
    }
}
