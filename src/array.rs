//! `Array<T>`: Python's `multiprocessing.Array`, a fixed-length run of `Plain` values in
//! shared memory with one lock for the whole array.

use crate::elements::Elements;
use crate::handle::Handle;
use crate::lock::{LockResult, TryLockResult, map_lock, map_try};
use crate::locked::{Locked, LockedGuard};
use crate::plain::Plain;
use crate::shm::{SharedState, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The lock before the elements. Generic over the element type only so that the type's name
/// (which names a memfd, see `Shm::import`) differs between `Array<u8>` and `Array<bool>`: a
/// received memfd is then checked against its elements' type by the kernel-held name, not
/// by anything in a message.
/// The lock guards no state of its own here (`Locked<()>`: just the `RawMutex`); the
/// elements follow the header.
#[repr(C)]
struct ArrayHeader<T> {
    lock: Locked<()>,
    _elements: std::marker::PhantomData<T>,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: a `Locked<()>`, which is a `RawMutex` (`Zeroed`) and `()`, and a zero-sized
// marker.
unsafe impl<T: Plain> Zeroed for ArrayHeader<T> {}

impl<T: Plain> SharedState for ArrayHeader<T> {
    fn held_here(&self) -> bool {
        self.lock.held_here()
    }
}

/// This process's record of an array: the mapping, whose length (this process's own
/// record, or the sealed size of a received memfd) gives the number of elements (see
/// `elements`). Only the handle's id travels; a receiver finds this record in its own
/// table, so the length is never taken from a message.
struct ArrayShm<T: Plain> {
    shm: Elements<ArrayHeader<T>, T>,
}

impl<T: Plain> crate::handle::Travel for ArrayShm<T> {
    fn export<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.export(s)
    }
    fn import<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::handle::Travel::import(d).map(|shm| ArrayShm { shm })
    }
}

/// `Array<T>`: Python's `multiprocessing.Array`, a fixed-length run of `Plain` values in
/// shared memory with one lock for the whole array.
///
/// As with [`Value`](crate::Value): [`Array::lock`] gives a guard for consistent
/// multi-element work (Python: `with arr.get_lock():`), while [`Array::load`],
/// [`Array::store`] and [`Array::to_vec`] skip the lock (Python: `arr[i]`, `arr[i] = x`,
/// `arr[:]`): each element access is atomic, a whole-array read is not a snapshot.
///
/// `len` values of `T` in shared memory behind one robust lock. Clones share it.
/// (Python: `multiprocessing.Array`; `arr[i]` is [`load`](Array::load) /
/// [`store`](Array::store), `arr[:]` is [`to_vec`](Array::to_vec), `get_lock()` is
/// [`lock`](Array::lock).)
///
/// ```
/// use multiproc::{Array, Process};
/// let arr = Array::<i32>::from_slice(&[2, 3, 5]); // arr = Array('i', [2, 3, 5])
/// let a = arr.clone();
/// let mut p = Process::spawn(move || {
///     let mut g = a.lock().unwrap(); // with arr.get_lock():
///     for i in 0..g.len() {
///         g.update(i, |x| x * x); //     arr[i] = arr[i] ** 2
///     }
/// })
/// .unwrap();
/// assert_eq!(p.join().unwrap(), 0);
/// assert_eq!(arr.to_vec(), [4, 9, 25]); // arr[:] == [4, 9, 25]
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Array<T: Plain> {
    shm: Handle<ArrayShm<T>, Array<T>>,
}

impl<T: Plain> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            shm: self.shm.clone(),
        }
    }
}

impl<T: Plain> Array<T> {
    /// `len` zeroes (Python: `Array('i', 3)`).
    pub fn new(len: usize) -> Array<T> {
        let shm = Elements::new(len, "Array", |h: &mut ArrayHeader<T>| h.lock.init());
        Array {
            shm: Handle::new(ArrayShm { shm }),
        }
    }

    /// A copy of `values` (Python: `Array('i', [1, 2, 3])`).
    pub fn from_slice(values: &[T]) -> Array<T> {
        let a = Array::new(values.len());
        for (i, v) in values.iter().enumerate() {
            a.store(i, *v);
        }
        a
    }

    /// Number of elements (Python: `len(arr)`).
    #[doc(alias = "__len__")]
    pub fn len(&self) -> usize {
        self.shm.shm.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cell(&self, i: usize) -> &T::Atomic {
        let cells = self.shm.shm.cells();
        let len = cells.len();
        assert!(i < len, "index {i} out of range for Array of length {len}");
        &cells[i]
    }

    /// Element `i` without the lock (Python: `arr[i]`). Panics when out of range.
    #[doc(alias = "__getitem__")]
    pub fn load(&self, i: usize) -> T {
        T::load(self.cell(i))
    }

    /// Set element `i` without the lock (Python: `arr[i] = x`). Panics when out of range.
    #[doc(alias = "__setitem__")]
    pub fn store(&self, i: usize, value: T) {
        T::store(self.cell(i), value)
    }

    /// Every element, read one by one without the lock (Python: `arr[:]`).
    #[doc(alias("get_obj", "__getitem__"))]
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len()).map(|i| self.load(i)).collect()
    }

    fn locked(&self) -> &Locked<()> {
        &self.shm.shm.header().lock
    }

    fn guard<'a>(&'a self, held: LockedGuard<'a, ()>) -> ArrayGuard<'a, T> {
        ArrayGuard { array: self, held }
    }

    /// Take the array's lock (Python: `with arr.get_lock():`).
    #[doc(alias("get_lock", "acquire"))]
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        map_lock(self.locked().lock(), |g| self.guard(g))
    }

    /// Take the lock only if free.
    #[doc(alias("get_lock", "acquire"))]
    pub fn try_lock(&self) -> TryLockResult<ArrayGuard<'_, T>> {
        map_try(self.locked().try_lock(), |g| self.guard(g))
    }

    /// Wait at most `timeout` for the lock.
    #[doc(alias("get_lock", "acquire"))]
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<ArrayGuard<'_, T>> {
        map_try(self.locked().lock_timeout(timeout), |g| self.guard(g))
    }
}

/// Holds an [`Array`]'s lock; element access through it is consistent with every other
/// process that also locks. Dropping it releases the lock (Python: the body of
/// `with arr.get_lock():`).
///
/// A guard copied into a forked child (a guard of a `'static` `Array` moved into a
/// `Process::new` closure) holds nothing there, since the lock is the parent's: its
/// writing methods (`set`, `update`, `copy_from_slice`) panic, and dropping it unlocks
/// nothing.
#[doc(alias = "release")]
#[must_use = "if unused the Array will immediately unlock"]
pub struct ArrayGuard<'a, T: Plain> {
    array: &'a Array<T>,
    held: LockedGuard<'a, ()>,
}

impl<T: Plain> ArrayGuard<'_, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// Element `i`. Panics when out of range.
    pub fn get(&self, i: usize) -> T {
        self.array.load(i)
    }

    /// Set element `i`. Panics when out of range, and in a fork's copy of the guard.
    pub fn set(&mut self, i: usize, value: T) {
        self.held.assert_held_here("writing through an ArrayGuard");
        self.array.store(i, value)
    }

    /// Replace element `i` by `f(element)` and return the new value. Panics as `set`.
    pub fn update(&mut self, i: usize, f: impl FnOnce(T) -> T) -> T {
        let v = f(self.get(i));
        self.set(i, v);
        v
    }

    /// A consistent snapshot of the whole array.
    pub fn to_vec(&self) -> Vec<T> {
        self.array.to_vec()
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Overwrite the array with `values`, which must have the same length. Panics as `set`.
    pub fn copy_from_slice(&mut self, values: &[T]) {
        self.held.assert_held_here("writing through an ArrayGuard");
        assert_eq!(values.len(), self.len(), "length mismatch");
        for (i, v) in values.iter().enumerate() {
            self.set(i, *v);
        }
    }
}

impl<T: Plain> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.to_vec()).finish()
    }
}

impl<T: Plain> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&self.to_vec()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A received memfd is checked against the element type by its kernel-held name, so a
    /// request that claims `Array<bool>` for the memory of an `Array<u8>` (whose bytes may
    /// be 2, an invalid `bool`) is refused, whatever the message says.
    #[test]
    fn a_memfd_of_one_element_type_is_not_imported_as_another() {
        let fd = crate::shm::memfd_for::<ArrayHeader<u8>>(4096);
        assert!(crate::handle::import_fd::<ArrayShm<bool>>(fd).is_err());
        let fd = crate::shm::memfd_for::<ArrayHeader<u8>>(4096);
        assert!(crate::handle::import_fd::<ArrayShm<i8>>(fd).is_err());
        let fd = crate::shm::memfd_for::<ArrayHeader<u8>>(4096);
        assert!(crate::handle::import_fd::<ArrayShm<u8>>(fd).is_ok());
    }
}
