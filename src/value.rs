//! `Value<T>`: Python's `multiprocessing.Value`, one `Plain` value in shared memory with its
//! own lock.

use crate::handle::Handle;
use crate::lock::{LockResult, TryLockResult};
use crate::locked::{Locked, LockedGuard};
use crate::plain::Plain;
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// The lock, then the value (`Locked` is `repr(C)`: a `RawMutex`, then the atomic).
#[repr(C)]
struct ValueShm<T: Plain> {
    value: Locked<T::Atomic>,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: a `Locked` is a `RawMutex`, which is `Zeroed`, and `T::Atomic`, one of std's
// integer atomics (`Plain` is sealed), for which zero bytes are the value 0.
unsafe impl<T: Plain> Zeroed for ValueShm<T> {}

impl<T: Plain> SharedState for ValueShm<T> {
    fn held_here(&self) -> bool {
        self.value.held_here()
    }
}

/// `Value<T>`: Python's `multiprocessing.Value`, one `Plain` value in shared memory with its
/// own lock.
///
/// Two ways in, as in Python:
/// - [`Value::lock`] gives a guard that derefs to the value: `*v.lock().unwrap() += 1` is
///   one atomic read-modify-write with respect to every other process that also locks
///   (Python: `with v.get_lock(): v.value += 1`).
/// - [`Value::load`] / [`Value::store`] skip the lock (Python: `v.value` read and write).
///   Each is atomic on its own, so `v.store(v.load() + 1)` in two processes loses updates,
///   which is the race the seed demonstrates, but it is defined behaviour, not a data race.
///
/// A `T` in shared memory, guarded by its own robust lock. Clones share it.
/// (Python: `multiprocessing.Value`; `.value` is [`load`](Value::load) /
/// [`store`](Value::store), `get_lock()` is [`lock`](Value::lock).)
///
/// ```
/// use multiproc::{Process, Value};
/// let counter = Value::new(0i64); // counter = Value('q', 0)
/// let c = counter.clone();
/// let mut p = Process::spawn(move || {
///     for _ in 0..100 {
///         *c.lock().unwrap() += 1; // with counter.get_lock(): counter.value += 1
///     }
/// })
/// .unwrap();
/// for _ in 0..100 {
///     *counter.lock().unwrap() += 1;
/// }
/// assert_eq!(p.join().unwrap(), 0); // p.join(); p.exitcode == 0
/// assert_eq!(counter.load(), 200); // counter.value == 200
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Value<T: Plain> {
    shm: Handle<Shm<ValueShm<T>>, Value<T>>,
}

impl<T: Plain> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            shm: self.shm.clone(),
        }
    }
}

/// Holds a [`Value`]'s lock and a working copy of the value; the copy is written back and
/// the lock released when the guard is dropped (Python: the body of
/// `with v.get_lock():`).
///
/// A guard copied into a forked child (a guard of a `'static` `Value` moved into a
/// `Process::new` closure) holds nothing there, since the lock is the parent's: reading it
/// gives the copy taken at lock time, writing through it (`DerefMut`) panics, and dropping
/// it writes nothing back and unlocks nothing.
#[doc(alias = "release")]
#[must_use = "if unused the Value will immediately unlock"]
pub struct ValueGuard<'a, T: Plain> {
    copy: T,
    /// Derefs to the value's atomic cell.
    cell: LockedGuard<'a, T::Atomic>,
}

impl<T: Plain> Value<T> {
    /// Python: `Value(typecode, initial)`.
    pub fn new(initial: T) -> Value<T> {
        let shm = Shm::new(|s: &mut ValueShm<T>| {
            s.value.init();
            T::store(s.value.unlocked(), initial);
        });
        Value {
            shm: Handle::new(shm),
        }
    }

    /// Read without the lock (Python: `v.value`).
    #[doc(alias = "value")]
    pub fn load(&self) -> T {
        T::load(self.shm.get().value.unlocked())
    }

    /// Write without the lock (Python: `v.value = x`).
    #[doc(alias = "value")]
    pub fn store(&self, value: T) {
        T::store(self.shm.get().value.unlocked(), value)
    }

    fn locked(&self) -> &Locked<T::Atomic> {
        &self.shm.get().value
    }

    /// Take the value's lock (Python: `with v.get_lock():`).
    #[doc(alias("get_lock", "acquire"))]
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        crate::lock::map_lock(self.locked().lock(), ValueGuard::new)
    }

    /// Take the lock only if free.
    #[doc(alias("get_lock", "acquire"))]
    pub fn try_lock(&self) -> TryLockResult<ValueGuard<'_, T>> {
        crate::lock::map_try(self.locked().try_lock(), ValueGuard::new)
    }

    /// Wait at most `timeout` for the lock.
    #[doc(alias("get_lock", "acquire"))]
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<ValueGuard<'_, T>> {
        crate::lock::map_try(self.locked().lock_timeout(timeout), ValueGuard::new)
    }
}

impl<'a, T: Plain> ValueGuard<'a, T> {
    fn new(cell: LockedGuard<'a, T::Atomic>) -> ValueGuard<'a, T> {
        ValueGuard {
            copy: T::load(&cell),
            cell,
        }
    }
}

impl<T: Plain> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.copy
    }
}

impl<T: Plain> DerefMut for ValueGuard<'_, T> {
    /// # Panics
    /// In a fork's copy of the guard (see [`ValueGuard`]): the write would land without
    /// the lock.
    fn deref_mut(&mut self) -> &mut T {
        self.cell.assert_held_here("writing through a ValueGuard");
        &mut self.copy
    }
}

impl<T: Plain> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        // Runs before the fields drop, so the write lands while the lock is still held. A
        // fork's copy holds no lock: it writes nothing back.
        if self.cell.held_here() {
            T::store(&self.cell, self.copy);
        }
    }
}

impl<T: Plain> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.load()).finish()
    }
}

impl<T: Plain> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&self.copy).finish()
    }
}
