//! `SharedSlice<T>`: read-only data every process reads as a plain `&[T]`, with no copy and
//! no atomics (Python: `multiprocessing.shared_memory.SharedMemory` wrapped in a NumPy array
//! that nobody writes any more, or a module global set before `Pool()` under the fork start
//! method).

use crate::handle::Handle;
use crate::plain::Plain;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// This process's record of the frozen data: the only thing the table holds for it.
struct Frozen<T> {
    data: Vec<T>,
}

/// Private memory has no memfd: a `SharedSlice` reaches forked children only (forkserver and
/// spawn children are refused it when the request is encoded).
impl<T> crate::handle::Travel for Frozen<T> {}

/// `SharedSlice<T>`: read-only data every process reads as a plain `&[T]`, with no copy and
/// no atomics (Python: `multiprocessing.shared_memory.SharedMemory` wrapped in a NumPy array
/// that nobody writes any more, or a module global set before `Pool()` under the fork start
/// method).
///
/// # How it is shared
///
/// The data is built once, in one process: from a `Vec` ([`SharedSlice::from_vec`], which
/// takes the vector's memory as it is), from an iterator (`collect`), or filled in place
/// ([`SharedSlice::build`], [`SharedSliceBuilder`]). [`SharedSliceBuilder::freeze`] consumes
/// the only `&mut` access there ever was; a [`SharedSlice`] has no method that writes, so
/// from then on the data is immutable in every process for as long as it lives.
///
/// Processes and pool workers forked after the freeze share its pages copy-on-write: the
/// kernel gives the child the very same physical pages, and since nobody writes them, no
/// page is ever copied. Handing the data to a process or a pool task costs what its handle
/// costs: 16 bytes of id, whatever the length. On the receiving side the handle is looked up
/// in that process's own table (see the `handle` module): the element type is checked
/// (a `SharedSlice<u64>` does not decode as a `SharedSlice<u32>`), and the length and the
/// address come from that process's own record, never from the message. Data frozen after
/// a worker was forked does not exist in that worker, and its handle is refused there.
///
/// # The fork route, without a handle
///
/// A pool task is a `fn`, which captures nothing. Data the parent built *before*
/// [`Pool::new`](crate::Pool::new) is already in every worker all the same, copy-on-write,
/// so a `static DATA: OnceLock<Vec<u64>>` set before the pool is readable in every task
/// with no handle at all (Python's fork start method does the same with module globals).
/// A `SharedSlice` adds what a global cannot: several datasets, chosen per task, passed
/// as arguments with a type check, and dropped when done.
///
/// # Why it is sound
///
/// Memory a process writes after the fork is that process's own (copy-on-write), so a
/// process forked while a builder is still being filled gets a private copy of the builder
/// and cannot reach anyone else's pages; and once frozen, no process holds any write access
/// at all. The memory is never `MAP_SHARED`, so no other process can write into what this
/// one reads. Results that workers *write* for others to read go in a
/// [`SharedBuffer`](crate::SharedBuffer) instead.
///
/// Writing after the freeze does not compile:
///
/// ```compile_fail,E0382
/// let mut builder = multiproc::SharedSlice::<u64>::builder(4);
/// builder[0] = 1;
/// let frozen = builder.freeze();
/// builder[1] = 2; // `builder` was moved into `freeze`
/// ```
///
/// ```compile_fail,E0594
/// let frozen = multiproc::SharedSlice::from_vec(vec![1u64, 2, 3]);
/// frozen[0] = 7; // a SharedSlice derefs to `&[u64]` only
/// ```
///
/// ```compile_fail,E0596
/// let frozen = multiproc::SharedSlice::from_vec(vec![1u64, 2, 3]);
/// let all: &mut [u64] = &mut *frozen.clone(); // no `DerefMut`
/// ```
///
/// Immutable `Plain` data shared by every process forked after it was frozen; derefs to
/// `&[T]`. Clones are cheap handles to the same data; serialising one (as a `Process`
/// message or a `Pool` task argument) sends its id only.
///
/// Python: a `shared_memory.SharedMemory` block viewed through a read-only NumPy array. It
/// differs in that it cannot be written at all once frozen (not even by its creator), it is
/// typed, its handle cannot be forged or decoded as another element type, and nothing is
/// named or left in `/dev/shm`.
///
/// ```no_run
/// use multiproc::{Pool, SharedSlice};
///
/// fn sum_range((data, from, to): (SharedSlice<u64>, usize, usize)) -> u64 {
///     data[from..to].iter().sum() // a plain slice: vectorised, no atomics, no copy
/// }
///
/// let data: SharedSlice<u64> = (0..1_000_000u64).collect();
/// let pool = Pool::new(2).unwrap();
/// let parts = [(data.clone(), 0, 500_000), (data.clone(), 500_000, 1_000_000)];
/// let total: u64 = pool.map(sum_range, parts).unwrap().iter().sum();
/// assert_eq!(total, data.iter().sum());
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedSlice<T: Plain> {
    data: Handle<Frozen<T>, SharedSlice<T>>,
}

impl<T: Plain> SharedSlice<T> {
    /// A builder for `len` zeroes, to fill in place and then [`freeze`](SharedSliceBuilder::freeze).
    pub fn builder(len: usize) -> SharedSliceBuilder<T> {
        SharedSliceBuilder {
            data: vec![T::default(); len],
        }
    }

    /// Freeze `data` as it is: its memory becomes the shared data, no element is copied.
    pub fn from_vec(data: Vec<T>) -> SharedSlice<T> {
        SharedSliceBuilder { data }.freeze()
    }

    /// `len` elements, filled in place by `fill` (given them zeroed), then frozen.
    pub fn build(len: usize, fill: impl FnOnce(&mut [T])) -> SharedSlice<T> {
        let mut builder = SharedSlice::builder(len);
        fill(&mut builder);
        builder.freeze()
    }

    /// `len` elements, element `i` being `f(i)`.
    pub fn from_fn(len: usize, f: impl FnMut(usize) -> T) -> SharedSlice<T> {
        SharedSlice::from_vec((0..len).map(f).collect())
    }

    /// The data, as a plain slice (also what `Deref` gives).
    pub fn as_slice(&self) -> &[T] {
        &self.data.data
    }

    /// Whether both are handles to the same data.
    pub fn ptr_eq(&self, other: &SharedSlice<T>) -> bool {
        self.data.ptr_eq(&other.data)
    }
}

impl<T: Plain> Deref for SharedSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Plain> AsRef<[T]> for SharedSlice<T> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Plain> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        SharedSlice {
            data: self.data.clone(),
        }
    }
}

impl<T: Plain> From<Vec<T>> for SharedSlice<T> {
    fn from(data: Vec<T>) -> Self {
        SharedSlice::from_vec(data)
    }
}

impl<T: Plain> From<&[T]> for SharedSlice<T> {
    fn from(data: &[T]) -> Self {
        SharedSlice::from_vec(data.to_vec())
    }
}

impl<T: Plain> FromIterator<T> for SharedSlice<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        SharedSlice::from_vec(items.into_iter().collect())
    }
}

impl<T: Plain> fmt::Debug for SharedSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSlice")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The data of a future [`SharedSlice`] while it is being filled: the only writable view of
/// it there ever is. [`freeze`](SharedSliceBuilder::freeze) consumes it.
///
/// It is ordinary process memory: a process forked while a builder exists gets its own
/// copy of it (copy-on-write), so neither sees the other's writes, and only a slice frozen
/// *before* a process was forked can be handed to that process.
#[must_use = "nothing is shared until `.freeze()`"]
pub struct SharedSliceBuilder<T: Plain> {
    data: Vec<T>,
}

impl<T: Plain> SharedSliceBuilder<T> {
    /// Freeze: from now on nobody can write the data. Registers it so its handle can be
    /// sent to processes forked from now on.
    pub fn freeze(self) -> SharedSlice<T> {
        SharedSlice {
            data: Handle::new(Frozen { data: self.data }),
        }
    }
}

impl<T: Plain> Deref for SharedSliceBuilder<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data
    }
}

impl<T: Plain> DerefMut for SharedSliceBuilder<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

impl<T: Plain> fmt::Debug for SharedSliceBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSliceBuilder")
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}
