//! `Barrier`: Python's `multiprocessing.Barrier`, a meeting point for a fixed number of
//! processes, reusable pass after pass.

use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::futex;
use crate::handle::{Handle, Imported, Payload};
use crate::raw_mutex::{Acquired, RawGuard, RawMutex};
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[repr(C)]
struct BarrierShm {
    lock: RawMutex,
    parties: u32,
    /// Arrived in the current pass.
    count: AtomicU32,
    /// Completed passes.
    generation: AtomicU32,
    /// Bumped by every abort, reset and break: a waiter whose epoch changed has failed.
    epoch: AtomicU32,
    broken: AtomicU32,
    /// Bumped on every change waiters care about; they sleep on it.
    seq: AtomicU32,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: a `RawMutex` (`Zeroed`), a `u32` and atomics; `new` sets `parties` before any
// handle exists, and zero atomics are a fresh, unbroken barrier.
unsafe impl Zeroed for BarrierShm {}

impl SharedState for BarrierShm {
    fn held_here(&self) -> bool {
        self.lock.held_in_this_process()
    }
}

type Action = Arc<dyn Fn() + Send + Sync>;

struct BarrierInner {
    shm: Shm<BarrierShm>,
    action: OnceLock<Action>,
    timeout: OnceLock<Duration>,
}

/// To a spawn or forkserver child a barrier travels as its memfd and its default timeout.
/// Its action is a closure of this process: a barrier with one cannot travel.
impl crate::handle::Travel for BarrierInner {
    fn export<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.action.get().is_some() {
            return Err(serde::ser::Error::custom(
                "its action is a closure of this process (only a Barrier without an action \
                 travels)",
            ));
        }
        (Payload(&self.shm), self.timeout.get()).serialize(s)
    }
    fn import<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (Imported(shm), timeout) =
            <(Imported<Shm<BarrierShm>>, Option<Duration>)>::deserialize(d)?;
        let inner = BarrierInner {
            shm,
            action: OnceLock::new(),
            timeout: OnceLock::new(),
        };
        if let Some(t) = timeout {
            let _ = inner.timeout.set(t);
        }
        Ok(inner)
    }
}

/// `Barrier`: Python's `multiprocessing.Barrier`, a meeting point for a fixed number of
/// processes, reusable pass after pass.
///
/// `pthread_barrier` has no timeout, no abort and no broken state, so this is a generation
/// counter under a robust mutex with a futex to sleep on. Each pass, waiters get distinct
/// indices `0..parties` in arrival order (exactly one gets 0), the optional action runs
/// once in the last process to arrive, then everyone is released together.
///
/// Breaking, as in Python: `abort()`, a `wait` that times out, or an action that panics
/// breaks the barrier (before anything else can unwind: the panic's payload is leaked, not
/// dropped, so a payload whose drop panics too cannot leave the barrier half passed); every process waiting on it, or arriving later, gets
/// `Error::BrokenBarrier` (the one whose timeout passed gets `Error::Timeout`) instead of
/// hanging, until `reset()`. A process that dies while holding the barrier's internal lock
/// also breaks it. A process that dies while waiting does not; a timeout is the guard
/// against that, as in Python.
///
/// The action is a closure kept in every handle (the processes are forks of the one that
/// built the barrier, so each has its copy), not a picklable callable. So a barrier with
/// an action cannot be passed to a `spawn` or `forkserver` child; one without can, with
/// its default timeout (see [`crate::start`]).
///
/// A reusable barrier for `parties` processes. Clones share it; create it before forking, or
/// pass it (without an action) to a `spawn` or `forkserver` child.
/// (Python: `multiprocessing.Barrier`.)
///
/// ```
/// use multiproc::{Barrier, Process};
/// let barrier = Barrier::new(3); // barrier = Barrier(3)
/// let mut ps: Vec<Process> = (0..2)
///     .map(|_| {
///         let b = barrier.clone();
///         Process::spawn(move || b.wait().unwrap() as i32).unwrap() // exit code: barrier.wait()
///     })
///     .collect();
/// let mut indices = vec![barrier.wait().unwrap() as i32]; // i = barrier.wait()
/// indices.extend(ps.iter_mut().map(|p| p.join().unwrap()));
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]); // one arrival index per party
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Barrier {
    inner: Handle<BarrierInner, Barrier>,
}

impl Barrier {
    /// A barrier for `parties` processes (Python: `Barrier(parties)`).
    ///
    /// # Panics
    /// If `parties` is 0.
    pub fn new(parties: u32) -> Barrier {
        assert!(parties > 0, "a Barrier needs at least one party");
        Barrier {
            inner: Handle::new(BarrierInner {
                shm: Shm::new(|s: &mut BarrierShm| {
                    s.lock.init();
                    s.parties = parties;
                }),
                action: OnceLock::new(),
                timeout: OnceLock::new(),
            }),
        }
    }

    /// Run `action` once per pass, in the last process to arrive, before anyone is
    /// released (Python: `Barrier(parties, action=f)`). Set it before forking.
    ///
    /// # Panics
    /// If the barrier already has an action.
    #[doc(alias = "action")]
    pub fn with_action(self, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        if self.inner.action.set(Arc::new(action)).is_err() {
            panic!("the barrier already has an action");
        }
        self
    }

    /// The timeout `wait` uses (Python: `Barrier(parties, timeout=t)`). Set it before
    /// forking.
    ///
    /// # Panics
    /// If the barrier already has a timeout.
    #[doc(alias = "timeout")]
    pub fn with_timeout(self, timeout: Duration) -> Barrier {
        if self.inner.timeout.set(timeout).is_err() {
            panic!("the barrier already has a timeout");
        }
        self
    }

    fn s(&self) -> &BarrierShm {
        self.inner.shm.get()
    }

    /// Python: `parties`.
    pub fn parties(&self) -> u32 {
        self.s().parties
    }

    /// Processes waiting in the current pass (Python: `n_waiting`).
    pub fn n_waiting(&self) -> u32 {
        self.s().count.load(SeqCst)
    }

    /// Python: `broken`.
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.s().broken.load(SeqCst) != 0
    }

    fn lock(&self) -> (RawGuard<'_>, bool) {
        let (g, how) = self.s().lock.guard();
        (g, how == Acquired::OwnerDied)
    }

    /// Mark broken, fail every waiter of this pass. Lock held.
    fn break_locked(&self) {
        let s = self.s();
        s.broken.store(1, SeqCst);
        s.count.store(0, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        s.seq.fetch_add(1, SeqCst);
        futex::wake_all(&s.seq);
    }

    /// Wait for all parties (with the barrier's default timeout, if any); this process's
    /// arrival index, `0..parties` (Python: `wait()`).
    pub fn wait(&self) -> Result<u32> {
        self.wait_until(Deadline::from_timeout(self.inner.timeout.get().copied()))
    }

    /// As `wait`, giving up after `timeout`, which breaks the barrier for everyone
    /// (Python: `wait(timeout)`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        self.wait_until(Deadline::after(timeout))
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> Result<u32> {
        let s = self.s();
        let (mut guard, died) = self.lock();
        if died {
            self.break_locked();
        }
        if s.broken.load(SeqCst) != 0 {
            return Err(Error::BrokenBarrier);
        }
        let index = s.count.fetch_add(1, SeqCst);
        if index + 1 == s.parties {
            if let Some(action) = self.inner.action.get()
                && let Err(payload) = catch_unwind(AssertUnwindSafe(|| action()))
            {
                // Broken first, while nothing else can unwind; then the payload is leaked,
                // not dropped, since its own drop may panic (as `process/fork.rs` does): the
                // barrier is broken for every party and `wait` returns, whatever it holds.
                self.break_locked();
                std::mem::forget(payload);
                return Err(Error::BrokenBarrier);
            }
            s.count.store(0, SeqCst);
            s.generation.fetch_add(1, SeqCst);
            s.seq.fetch_add(1, SeqCst);
            drop(guard);
            futex::wake_all(&s.seq);
            return Ok(index);
        }
        let (generation, epoch) = (s.generation.load(SeqCst), s.epoch.load(SeqCst));
        loop {
            let seen = s.seq.load(SeqCst);
            drop(guard);
            futex::wait(&s.seq, seen, deadline.as_ref());
            let died;
            (guard, died) = self.lock();
            if died {
                self.break_locked();
            }
            if s.generation.load(SeqCst) != generation {
                return Ok(index);
            }
            if s.epoch.load(SeqCst) != epoch || s.broken.load(SeqCst) != 0 {
                return Err(Error::BrokenBarrier);
            }
            if deadline.as_ref().is_some_and(Deadline::expired) {
                self.break_locked();
                return Err(Error::Timeout);
            }
        }
    }

    /// Break the barrier: current and future waiters get `Error::BrokenBarrier` until
    /// `reset` (Python: `abort()`).
    pub fn abort(&self) {
        let (_guard, _) = self.lock();
        self.break_locked();
    }

    /// Back to a fresh, unbroken barrier; processes waiting now get
    /// `Error::BrokenBarrier` (Python: `reset()`).
    pub fn reset(&self) {
        let s = self.s();
        let (_guard, _) = self.lock();
        s.broken.store(0, SeqCst);
        s.count.store(0, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        s.seq.fetch_add(1, SeqCst);
        futex::wake_all(&s.seq);
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic payload whose own drop panics.
    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("the payload's drop panics too");
        }
    }

    /// The action's panic breaks the barrier before anything else can unwind: dropping its
    /// payload (which panics here) must neither leave the barrier half passed nor let a
    /// panic out of `wait`. Both parties get `BrokenBarrier`; before the fix the other one
    /// waited its whole timeout (it would have waited for ever without one).
    #[test]
    fn an_action_whose_panic_payload_panics_on_drop_breaks_the_barrier() {
        let barrier = Barrier::new(2).with_action(|| std::panic::panic_any(PanicsOnDrop));
        let wait = |b: &Barrier| {
            catch_unwind(AssertUnwindSafe(|| b.wait_timeout(Duration::from_secs(60))))
                .map_err(|_| "wait panicked")
        };
        let other = barrier.clone();
        let thread = std::thread::spawn(move || wait(&other).map(|r| r.map_err(|e| e.to_string())));
        let here = wait(&barrier).map(|r| r.map_err(|e| e.to_string()));
        let there = thread.join().expect("the thread's own panic is caught");
        let broken = Err(Error::BrokenBarrier.to_string());
        assert_eq!(here, Ok(broken.clone()), "this party");
        assert_eq!(there, Ok(broken), "the other party");
        assert!(barrier.is_broken());
        barrier.reset();
        assert!(!barrier.is_broken());
    }
}
