//! `Condition`: Python's `multiprocessing.Condition`, a lock plus a queue of waiting
//! processes that others can wake.

use crate::deadline::Deadline;
use crate::futex;
use crate::handle::{Handle, Imported, Payload};
use crate::lock::{Lock, LockResult, OwnerDied, TryLockResult, lock_result, map_lock, map_try};
use crate::locked::LockedGuard;
use crate::raw_mutex::{Acquired, RawMutex};
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

const SLOTS: usize = 256;
const FREE: u32 = 0;
const WAITING: u32 = 1;
const NOTIFIED: u32 = 2;
/// How often a sleeping waiter looks for a notification whose waiter died before taking it.
const POLL: Duration = Duration::from_millis(100);

#[repr(C)]
struct Slot {
    /// Held by the waiting process while it sleeps: "owner died" means the waiter did.
    alive: RawMutex,
    state: AtomicU32,
    ticket: AtomicU64,
}

#[repr(C)]
struct Waiters {
    next_ticket: AtomicU64,
    /// Bumped whenever a slot becomes free; waiters that found every slot taken sleep on it.
    freed: AtomicU32,
    /// How many waiters sleep on `freed`.
    overflow: AtomicU32,
    slots: [Slot; SLOTS],
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: atomics (zero: free slots, ticket 0) and `RawMutex`es, which are `Zeroed`.
unsafe impl Zeroed for Waiters {}

impl SharedState for Waiters {
    fn held_here(&self) -> bool {
        self.slots.iter().any(|s| s.alive.held_in_this_process())
    }
}

/// `Condition`: Python's `multiprocessing.Condition`, a lock plus a queue of waiting
/// processes that others can wake.
///
/// How it is built: the lock is a robust [`Lock`]; each waiter takes a slot in shared
/// memory, holds that slot's own robust mutex while it sleeps on the slot's futex, and
/// gets a ticket so `notify(n)` wakes the `n` oldest waiters, exactly `n` when there are
/// that many. A waiter killed in its sleep leaves its slot mutex marked "owner died" by the
/// kernel, so `notify` recognises the dead waiter, frees its slot and wakes a live one
/// instead. A waiter keeps holding that mutex after it is notified, until it has taken the
/// lock again and left `wait`; if it dies in between, the notification is passed to the
/// oldest live waiter: by the next `notify` or new waiter, or else by a sleeping waiter,
/// which looks for such orphaned notifications every 100 ms. So a dead process never
/// swallows a notification, and its slot is always reclaimed. A process killed while
/// holding the lock is reported to the next holder as [`OwnerDied`], as with `Lock`.
///
/// Differences from Python:
/// - `wait`, `notify` and `notify_all` are methods of the guard, so they cannot be called
///   without holding the lock (Python raises `RuntimeError`).
/// - `wait_timeout` returns whether it was notified; a waiter notified just as its timeout
///   passed counts as notified (Python can lose that notification).
/// - The default lock is a `Lock`, not an `RLock`; [`Condition::with_lock`] shares an
///   existing `Lock` between several conditions.
/// - 256 processes can be registered as waiters of one condition at a time. A 257th
///   `wait` sleeps until a slot frees and then returns as a spurious wake-up (`wait_timeout`
///   reports `false`), which a caller that re-checks its predicate, as it must, handles.
///
/// A condition variable shared by processes. Clones share it; create it before forking, or
/// pass it to a `spawn` or `forkserver` child (see [`crate::start`]).
/// (Python: `multiprocessing.Condition`; `wait`, `notify` and `notify_all` are methods of
/// the [`ConditionGuard`] that [`lock`](Condition::lock) returns.)
///
/// ```
/// use multiproc::{Condition, Process, Value};
/// let cond = Condition::new(); // cond = Condition()
/// let ready = Value::new(false); // ready = Value('b', False)
/// let (c, r) = (cond.clone(), ready.clone());
/// let mut p = Process::spawn(move || {
///     let g = c.lock().unwrap(); // with cond:
///     r.store(true); //     ready.value = True
///     g.notify_all(); //     cond.notify_all()
/// })
/// .unwrap();
/// let mut g = cond.lock().unwrap(); // with cond:
/// assert!(g.wait_for(|| ready.load(), None).unwrap()); //     cond.wait_for(lambda: ready.value)
/// drop(g);
/// assert_eq!(p.join().unwrap(), 0);
/// ```
#[derive(Clone)]
pub struct Condition {
    /// The same lock as `waiters.lock`, at hand.
    lock: Lock,
    waiters: Handle<ConditionShared, Condition>,
}

/// What one registered condition is: its waiters' slots and the lock that guards them,
/// so a message (only the id travels) cannot pair one condition's slots with another lock.
struct ConditionShared {
    lock: Lock,
    waiters: Shm<Waiters>,
}

/// To a spawn or forkserver child a condition travels as its lock (a handle of its own, so
/// the child gets the same `Lock` object, with the same id, as any other condition or
/// argument built on it) and its waiters' memfd.
impl crate::handle::Travel for ConditionShared {
    fn export<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.lock, Payload(&self.waiters)).serialize(s)
    }
    fn import<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (lock, Imported(waiters)) = <(Lock, Imported<Shm<Waiters>>)>::deserialize(d)?;
        Ok(ConditionShared { lock, waiters })
    }
}

impl ConditionShared {
    fn get(&self) -> &Waiters {
        self.waiters.get()
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.waiters.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let waiters = Handle::<ConditionShared, Condition>::deserialize(d)?;
        Ok(Condition {
            lock: waiters.lock.clone(),
            waiters,
        })
    }
}

/// Holds the condition's lock; waits and notifies go through it. A guard copied into a
/// forked child (a guard of a `'static` `Condition` moved into a `Process::new` closure)
/// holds nothing there, since the lock is the parent's: waiting or notifying through it
/// panics, and dropping it unlocks nothing.
#[doc(alias = "release")]
#[must_use = "if unused the Condition's lock will immediately unlock"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    raw: Option<LockedGuard<'a, ()>>,
}

impl Condition {
    /// A condition with a lock of its own (Python: `Condition()`).
    pub fn new() -> Condition {
        Condition::with_lock(&Lock::new())
    }

    /// A condition over an existing lock, which other conditions may share
    /// (Python: `Condition(lock)`).
    pub fn with_lock(lock: &Lock) -> Condition {
        let waiters = Shm::new(|w: &mut Waiters| {
            for slot in &mut w.slots {
                slot.alive.init();
            }
        });
        Condition {
            lock: lock.clone(),
            waiters: Handle::new(ConditionShared {
                lock: lock.clone(),
                waiters,
            }),
        }
    }

    /// The lock underneath, e.g. to build another condition on it.
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    fn guard<'a>(&'a self, raw: LockedGuard<'a, ()>) -> ConditionGuard<'a> {
        ConditionGuard {
            cond: self,
            raw: Some(raw),
        }
    }

    /// Take the lock (Python: `with cond:` / `cond.acquire()`).
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockResult<ConditionGuard<'_>> {
        map_lock(self.lock.locked().lock(), |g| self.guard(g))
    }

    /// Take the lock only if it is free.
    #[doc(alias = "acquire")]
    pub fn try_lock(&self) -> TryLockResult<ConditionGuard<'_>> {
        map_try(self.lock.locked().try_lock(), |g| self.guard(g))
    }

    /// Wait at most `timeout` for the lock.
    #[doc(alias = "acquire")]
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<ConditionGuard<'_>> {
        map_try(self.lock.locked().lock_timeout(timeout), |g| self.guard(g))
    }

    fn slots(&self) -> &[Slot; SLOTS] {
        &self.waiters.get().slots
    }
}

impl ConditionGuard<'_> {
    /// Panic in a fork's copy of the guard: it does not hold the lock it would release or
    /// notify under.
    fn assert_held_here(&self, what: &str) {
        if let Some(raw) = &self.raw {
            raw.assert_held_here(what);
        }
    }

    /// Release the lock, sleep until notified, take the lock again (Python: `wait()`).
    /// `Err(OwnerDied)`: another process died holding the lock meanwhile; it is held again
    /// either way. As in Python, re-check the predicate after waking (or use `wait_for`):
    /// a wake-up may be spurious (see the module docs). The waits never return
    /// `WouldDeadlock`: the guard proves this thread held the lock.
    pub fn wait(&mut self) -> LockResult<()> {
        self.wait_until(None).map(|_| ()).map_err(|e| e.map(|_| ()))
    }

    /// As `wait`, for at most `timeout`; `Ok(true)` if notified, `Ok(false)` if the timeout
    /// passed first (Python: `wait(timeout)`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&mut self, timeout: Duration) -> LockResult<bool> {
        self.wait_until(Deadline::after(timeout))
    }

    /// Wait until `predicate()` holds, checked with the lock held, for at most `timeout`
    /// (`None`: for ever); the predicate's last value (Python: `wait_for`).
    pub fn wait_for(
        &mut self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> LockResult<bool> {
        let deadline = Deadline::from_timeout(timeout);
        let mut owner_died = false;
        loop {
            if predicate() {
                return if owner_died {
                    Err(OwnerDied::new(true).into())
                } else {
                    Ok(true)
                };
            }
            if deadline.as_ref().is_some_and(Deadline::expired) {
                return if owner_died {
                    Err(OwnerDied::new(false).into())
                } else {
                    Ok(false)
                };
            }
            if let Err(e) = self.wait_until(deadline) {
                owner_died |= e.is_owner_died();
            }
        }
    }

    #[allow(unsafe_code)] // unlocks the waiter slot mutex it locked in `register`
    fn wait_until(&mut self, deadline: Option<Deadline>) -> LockResult<bool> {
        self.assert_held_here("waiting through a ConditionGuard");
        let cond = self.cond;
        let w = cond.waiters.get();
        let Some(slot) = self.register() else {
            // Every slot holds a live waiter: sleep (unregistered) until one frees, then
            // return as a spurious wake-up; callers re-check their predicate anyway.
            let seen = w.freed.load(SeqCst);
            w.overflow.fetch_add(1, SeqCst);
            drop(self.raw.take());
            futex::wait(&w.freed, seen, deadline.as_ref());
            let (raw, how) = cond.lock.locked().relock();
            self.raw = Some(raw);
            w.overflow.fetch_sub(1, SeqCst);
            return lock_result(how, false);
        };
        let s = &w.slots[slot];
        // Release the condition's lock and sleep on our slot, looking every `POLL` for a
        // notification whose waiter died before taking it (see `pass_on_orphans`).
        drop(self.raw.take());
        let mut owner_died = false;
        while s.state.load(SeqCst) == WAITING {
            if deadline.as_ref().is_some_and(Deadline::expired) {
                break;
            }
            let slice = match &deadline {
                Some(d) if d.remaining() <= POLL => None,
                _ => Some(Deadline::step(POLL)),
            };
            futex::wait(&s.state, WAITING, slice.as_ref().or(deadline.as_ref()));
            if s.state.load(SeqCst) == WAITING && cond.has_orphan() {
                let (raw, how) = cond.lock.locked().relock();
                owner_died |= how == Acquired::OwnerDied;
                cond.pass_on_orphans();
                drop(raw);
            }
        }
        // This thread released the lock above and ran no code of the caller's since, so it
        // cannot hold it: the re-take never meets `WouldDeadlock`.
        let (raw, how) = cond.lock.locked().relock();
        self.raw = Some(raw);
        let notified = s.state.load(SeqCst) == NOTIFIED;
        s.state.store(FREE, SeqCst);
        // SAFETY: this thread locked the slot's mutex in `register`.
        unsafe { s.alive.unlock() };
        cond.slot_freed();
        let how = if owner_died { Acquired::OwnerDied } else { how };
        lock_result(how, notified)
    }

    /// Claim a free slot as a waiter (lock held), reclaiming the slots of dead waiters
    /// first if none is free. `None`: every slot holds a live waiter.
    fn register(&self) -> Option<usize> {
        let cond = self.cond;
        // Notifications orphaned by dead waiters go to those already waiting, not to us.
        if cond.has_orphan() {
            cond.pass_on_orphans();
        }
        let slots = cond.slots();
        let free = slots
            .iter()
            .position(|s| s.state.load(SeqCst) == FREE)
            .or_else(|| {
                cond.reap_dead();
                slots.iter().position(|s| s.state.load(SeqCst) == FREE)
            })?;
        let s = &slots[free];
        // A previous waiter in this slot may have died holding `alive`: either way it is ours.
        let _ = s.alive.lock();
        s.ticket
            .store(cond.waiters.get().next_ticket.fetch_add(1, SeqCst), SeqCst);
        s.state.store(WAITING, SeqCst);
        Some(free)
    }

    /// Wake up to `n` waiters, oldest first; how many were woken (Python: `notify(n)`).
    pub fn notify(&self, n: usize) -> usize {
        self.assert_held_here("notifying through a ConditionGuard");
        self.cond.wake(n)
    }

    /// Wake every waiter (Python: `notify_all()`).
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }
}

impl Condition {
    /// Wake up to `n` waiters of this condition while holding its lock through another
    /// condition built on the same lock (Python: `not_empty.notify()` inside
    /// `with not_full:`). Panics if `held` is a guard of a different lock.
    pub fn notify(&self, held: &ConditionGuard<'_>, n: usize) -> usize {
        assert!(
            self.lock.same_as(&held.cond.lock),
            "notify needs this condition's lock held, not another lock"
        );
        held.assert_held_here("notifying through a ConditionGuard");
        self.wake(n)
    }

    /// As [`Condition::notify`], for every waiter.
    pub fn notify_all(&self, held: &ConditionGuard<'_>) -> usize {
        self.notify(held, usize::MAX)
    }

    /// Wake up to `n` waiters, oldest first, skipping (and freeing) the slots of dead ones;
    /// notifications whose waiters died before taking them are passed on first, on top of
    /// the `n`. The lock is held.
    fn wake(&self, n: usize) -> usize {
        self.pass_on_orphans();
        self.wake_oldest(n)
    }

    fn wake_oldest(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let slots = self.slots();
        let mut waiting: Vec<(u64, usize)> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state.load(SeqCst) == WAITING)
            .map(|(i, s)| (s.ticket.load(SeqCst), i))
            .collect();
        waiting.sort_unstable();
        let mut woken = 0;
        for (_, i) in waiting {
            if woken == n {
                break;
            }
            let s = &slots[i];
            if self.reap_if_dead(s) {
                continue;
            }
            s.state.store(NOTIFIED, SeqCst);
            futex::wake(&s.state, 1);
            woken += 1;
        }
        woken
    }

    /// Whether some notified waiter died before taking its notification. A hint, read
    /// without the lock: a notified slot's `alive` mutex is held by its waiter until the
    /// waiter has re-taken the lock and freed the slot, so a free `alive` (holder id 0:
    /// released, or its holder died) under a `NOTIFIED` state means a dead waiter.
    fn has_orphan(&self) -> bool {
        self.slots()
            .iter()
            .any(|s| s.state.load(SeqCst) == NOTIFIED && s.alive.holder_tid() == 0)
    }

    /// Free the slots of notified waiters that died before taking their notification, and
    /// give each such notification to the oldest live waiter instead (lock held). With no
    /// live waiter left, the notification goes nowhere, as a `notify` with nobody waiting.
    fn pass_on_orphans(&self) {
        let mut orphans = 0;
        for s in self.slots() {
            if s.state.load(SeqCst) == NOTIFIED && self.reap_if_dead(s) {
                orphans += 1;
            }
        }
        self.wake_oldest(orphans);
    }

    /// Free every dead waiter's slot (lock held), passing on the notifications of those
    /// that were notified.
    fn reap_dead(&self) {
        for s in self.slots() {
            if s.state.load(SeqCst) == WAITING {
                self.reap_if_dead(s);
            }
        }
        self.pass_on_orphans();
    }

    /// If the waiter in `s` (waiting or notified) is dead, its `alive` mutex is free or
    /// marked "owner died": free the slot and say so. Lock held.
    #[allow(unsafe_code)] // unlocks a dead waiter slot mutex it just took
    fn reap_if_dead(&self, s: &Slot) -> bool {
        if s.state.load(SeqCst) == FREE || s.alive.holder_tid() != 0 {
            // Free, or held by a live thread (possibly this one: never try_lock it then).
            return false;
        }
        match s.alive.try_lock() {
            None => false, // taken meanwhile: alive
            Some(Acquired::OwnerDied) | Some(Acquired::Clean) => {
                // SAFETY: we just acquired it.
                unsafe { s.alive.unlock() };
                s.state.store(FREE, SeqCst);
                self.slot_freed();
                true
            }
        }
    }

    /// A slot became free: wake the waiters that found the table full (lock held).
    fn slot_freed(&self) {
        let w = self.waiters.get();
        w.freed.fetch_add(1, SeqCst);
        if w.overflow.load(SeqCst) > 0 {
            futex::wake_all(&w.freed);
        }
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condition")
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionGuard")
    }
}
