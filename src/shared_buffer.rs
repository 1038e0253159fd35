//! `SharedBuffer<T>`: a results buffer in shared memory that processes fill in disjoint
//! ranges, the disjointness checked, not assumed; then frozen and read by everyone as a
//! plain `&[T]` (Python: a `multiprocessing.Array(lock=False)` or a `shared_memory` NumPy
//! array that workers write slices of, trusting each other not to overlap).

use crate::elements::Elements;
use crate::error::{Error, InvalidKind, Result};
use crate::handle::Handle;
use crate::plain::Plain;
use crate::raw_mutex::{Acquired, RawMutex};
use crate::shm::{SharedState, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// How many claims may be live at once in one buffer, over all processes.
pub(crate) const MAX_CLAIMS: usize = 64;

/// One claim: its range, and the mutex its claimant's thread holds while it lives.
#[repr(C)]
struct Slot {
    /// Held by the claiming thread for the claim's life; `EOWNERDEAD` says it died.
    held: RawMutex,
    /// Changed only under the header's `lock`.
    active: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
}

#[repr(C)]
struct BufferHeader {
    /// Guards `frozen` and every slot's `active`/`start`/`end`.
    lock: RawMutex,
    frozen: AtomicBool,
    abandoned: AtomicU64,
    slots: [Slot; MAX_CLAIMS],
}

// SAFETY: `RawMutex` is `Zeroed`; atomics of zero are valid; arrays of `Zeroed` are too.
// Nothing has drop glue.
unsafe impl Zeroed for BufferHeader {}

impl SharedState for BufferHeader {
    fn held_here(&self) -> bool {
        self.lock.held_in_this_process() || self.slots.iter().any(|s| s.held.held_in_this_process())
    }
}

/// This process's record of a buffer: the mapping, whose length (this process's own record,
/// or the sealed size of a received memfd) gives the element count (see `elements`). Only
/// the handle's id travels; the length is never taken from a message.
struct BufferShm<T: Plain> {
    shm: Elements<BufferState<T>, T>,
}

/// The header, typed by the elements only so that the type's name (which names a memfd, see
/// `Shm::import`) differs between `SharedBuffer<u8>` and `SharedBuffer<bool>`: a received
/// memfd is checked against its elements' type by the kernel-held name, never by a message.
#[repr(C)]
struct BufferState<T> {
    header: BufferHeader,
    _elements: std::marker::PhantomData<T>,
}

// SAFETY: a `BufferHeader`, which is `Zeroed`, and a zero-sized marker.
unsafe impl<T: Plain> Zeroed for BufferState<T> {}

impl<T: Plain> SharedState for BufferState<T> {
    fn held_here(&self) -> bool {
        self.header.held_here()
    }
}

impl<T: Plain> crate::handle::Travel for BufferShm<T> {
    fn export<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.export(s)
    }
    fn import<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::handle::Travel::import(d).map(|shm| BufferShm { shm })
    }
}

/// This process's fork epoch (see `sys::atfork`): a claim made before a fork belongs to
/// the parent, and the child's copy of its `RangeMut` must neither write nor release.
fn epoch() -> u64 {
    crate::sys::atfork::child_epoch()
}

/// `SharedBuffer<T>`: a results buffer in shared memory that processes fill in disjoint
/// ranges, the disjointness checked, not assumed; then frozen and read by everyone as a
/// plain `&[T]` (Python: a `multiprocessing.Array(lock=False)` or a `shared_memory` NumPy
/// array that workers write slices of, trusting each other not to overlap).
///
/// # Claims
///
/// A writer first [`claim`](SharedBuffer::claim)s a range. The claims live in the buffer's
/// shared header, so every process sees them: a claim that overlaps a live claim of any
/// process (or of another thread, or of the same thread) is an error, and of two processes
/// racing for overlapping ranges exactly one succeeds. The claim is a [`RangeMut`] guard;
/// dropping it ends the claim.
///
/// Each claim slot holds a robust process-shared mutex, locked by the claiming thread for
/// as long as the claim lives. So a claimant that dies (killed, crashed, `_exit`) is known
/// for certain, by the kernel, not guessed from a pid: the next process that meets the
/// claim (an overlapping `claim`, or `freeze`) takes the slot back, counts it in
/// [`abandoned`](SharedBuffer::abandoned), and the range becomes claimable again, to be
/// redone. What the dead process wrote stays there (each element is some value it or an
/// earlier writer stored, never torn bits of a `bool`); a pool that lost that worker reports
/// the task's [`Error::WorkerDied`], so the caller knows which
/// range to redo.
///
/// # Freezing
///
/// [`freeze`](SharedBuffer::freeze) succeeds once no live claim remains, and is final: from
/// then on `claim` is refused in every process, and `freeze` in any process gives the data
/// as a plain `&[T]`, vectorisable, with no atomics. Before that, [`load`](SharedBuffer::load)
/// and [`to_vec`](SharedBuffer::to_vec) read element by element (atomically, like `Array`).
///
/// # Why it is sound
///
/// While writers may exist, elements are written and read only through atomics (relaxed
/// loads and stores, which are plain moves on x86-64 and AArch64), never through a `&mut`:
/// a `&mut [T]` into shared memory would be duplicated by `fork`. A [`RangeMut`] checks on
/// every write that it is still in the process and thread that claimed it (a per-process
/// fork counter, bumped in every child by `pthread_atfork`, and the guard is not `Send`),
/// so a copy of a claim inherited by a forked child cannot write. After `freeze`, no claim
/// exists and none can be made, so nothing writes any more and a plain `&[T]` is sound; the
/// writers' last stores happen-before it through the header's mutex.
///
/// `len` `Plain` values in shared memory, written by claimants of disjoint ranges, then
/// frozen and read as `&[T]`. Clones are handles to the same buffer; it travels to
/// processes and pool tasks as an unforgeable, typed handle (as [`Array`](crate::Array)).
///
/// Python: a `multiprocessing.Array('d', n, lock=False)` (or a `shared_memory` block) that
/// pool workers fill slice by slice. It differs in that overlapping writers are an error
/// instead of a silent race, a dead writer is detected, and the finished data reads as a
/// plain slice.
///
/// ```no_run
/// use multiproc::{Pool, SharedBuffer};
///
/// fn fill_rows((canvas, from, to): (SharedBuffer<u32>, usize, usize)) -> Result<(), String> {
///     // An error if any live claim, in any process, overlaps.
///     let mut rows = canvas.claim(from..to).map_err(|e| e.to_string())?;
///     rows.fill_with(|i| (i * i) as u32);     // i is the buffer's index
///     Ok(())
/// }
///
/// let canvas = SharedBuffer::<u32>::new(1000);
/// let pool = Pool::new(2).unwrap();
/// let tasks = (0..1000).step_by(100).map(|r| (canvas.clone(), r, r + 100));
/// for done in pool.map(fill_rows, tasks).unwrap() {
///     done.unwrap();
/// }
/// let pixels: &[u32] = canvas.freeze().unwrap();
/// assert_eq!(pixels[999], 999 * 999);
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedBuffer<T: Plain> {
    shm: Handle<BufferShm<T>, SharedBuffer<T>>,
}

impl<T: Plain> Clone for SharedBuffer<T> {
    fn clone(&self) -> Self {
        SharedBuffer {
            shm: self.shm.clone(),
        }
    }
}

/// Whether two ranges share an element (an empty range shares none).
fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    !a.is_empty() && !b.is_empty() && a.start < b.end && b.start < a.end
}

impl<T: Plain> SharedBuffer<T> {
    /// How many claims may be live at once in one buffer, over all processes.
    pub const MAX_CLAIMS: usize = MAX_CLAIMS;

    /// `len` zeroes, unclaimed, not frozen.
    ///
    /// # Panics
    /// When the kernel refuses the memory, as `Vec` does.
    pub fn new(len: usize) -> SharedBuffer<T> {
        const {
            assert!(std::mem::size_of::<T>() == std::mem::size_of::<T::Atomic>());
            assert!(std::mem::align_of::<T>() <= std::mem::align_of::<T::Atomic>());
        }
        let shm = Elements::new(len, "SharedBuffer", |s: &mut BufferState<T>| {
            let h = &mut s.header;
            h.lock.init();
            for slot in &mut h.slots {
                slot.held.init();
            }
        });
        SharedBuffer {
            shm: Handle::new(BufferShm { shm }),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shm.shm.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn header(&self) -> &BufferHeader {
        &self.shm.shm.header().header
    }

    fn cells(&self) -> &[T::Atomic] {
        self.shm.shm.cells()
    }

    /// Element `i`, read atomically; at any time. Panics when out of range.
    pub fn load(&self, i: usize) -> T {
        T::load(&self.cells()[i])
    }

    /// Every element, read one by one (not a snapshot while claims are live).
    pub fn to_vec(&self) -> Vec<T> {
        self.cells().iter().map(T::load).collect()
    }

    /// Claim `range` for writing. An error (`Error::Invalid`) when it is out of bounds, when
    /// it overlaps a live claim of any process or thread (this one's included), when the
    /// buffer is frozen, or when [`SharedBuffer::MAX_CLAIMS`] claims are live. A claim whose holder died
    /// is taken back on the way (see [`abandoned`](SharedBuffer::abandoned)).
    pub fn claim(&self, range: Range<usize>) -> Result<RangeMut<'_, T>> {
        if range.start > range.end || range.end > self.len() {
            return Err(Error::invalid(
                InvalidKind::Argument,
                format!(
                    "cannot claim {range:?} of a SharedBuffer of length {}",
                    self.len()
                ),
            ));
        }
        // The epoch must count every fork from now on, whatever way this process got the
        // buffer (created here, inherited, or received by a process started otherwise).
        let h = self.header();
        // Every path below leaves the header consistent even if we die half-way, so a
        // previous holder's death needs no repair (see `reap`).
        let (_guard, _) = h.lock.guard();
        if h.frozen.load(Relaxed) {
            return Err(Error::invalid(
                InvalidKind::Frozen,
                "this SharedBuffer is frozen: it cannot be claimed any more",
            ));
        }
        for slot in &h.slots {
            if !slot.active.load(Relaxed) {
                continue;
            }
            let theirs = slot.start.load(Relaxed)..slot.end.load(Relaxed);
            if overlaps(&range, &theirs) && !reap(h, slot) {
                return Err(Error::invalid(
                    InvalidKind::Claimed,
                    format!(
                        "cannot claim {range:?}: it overlaps {theirs:?}, claimed by a live \
                     process or thread"
                    ),
                ));
            }
        }
        for (index, slot) in h.slots.iter().enumerate() {
            if slot.active.load(Relaxed) {
                continue;
            }
            // An inactive slot's mutex is free, or was left held by a claimant that died
            // half-way through `claim` or `drop`: both give it to us.
            if slot.held.try_lock().is_none() {
                continue;
            }
            slot.start.store(range.start, Relaxed);
            slot.end.store(range.end, Relaxed);
            slot.active.store(true, Relaxed);
            return Ok(RangeMut {
                buffer: self,
                slot: index,
                range,
                epoch: epoch(),
                _not_send: PhantomData,
            });
        }
        Err(Error::invalid(
            InvalidKind::Limit,
            format!(
                "cannot claim {range:?}: {MAX_CLAIMS} claims are live, the most a SharedBuffer holds"
            ),
        ))
    }

    /// Freeze, once no claim is live, and read the data as a plain slice. Final: afterwards
    /// every `claim`, in every process, is refused, and `freeze` returns the slice at once.
    /// An error (`Error::Invalid`) while some process or thread still holds a claim.
    pub fn freeze(&self) -> Result<&[T]> {
        let h = self.header();
        {
            let (_guard, _) = h.lock.guard();
            if !h.frozen.load(Relaxed) {
                for slot in &h.slots {
                    if slot.active.load(Relaxed) && !reap(h, slot) {
                        return Err(Error::invalid(
                            InvalidKind::Claimed,
                            format!(
                                "cannot freeze: {:?} is still claimed by a live process or thread",
                                slot.start.load(Relaxed)..slot.end.load(Relaxed)
                            ),
                        ));
                    }
                }
                h.frozen.store(true, Relaxed);
            }
        }
        let cells = self.cells();
        // Why the frozen cells can be read as plain `T`s: every claimant's stores
        // happen-before this point. A live one released its slot under the header lock
        // before anyone could see the slot free; a dead one's stores were complete when it
        // died, and the kernel's update of its mutex's futex word, which `reap`'s `try_lock`
        // read with acquire ordering, came after them.
        // SAFETY: frozen (seen under the header lock): no claim is live in any process and
        // none can be made, so nothing writes these elements for as long as the mapping
        // (`self`) lives, and their last stores happen-before this read (above). `T` and
        // `T::Atomic` have one size (checked in `new`), `T::Atomic` is at least as aligned,
        // and every value stored was a valid `T` (zero, or a `T` written by `RangeMut`).
        Ok(unsafe { std::slice::from_raw_parts(cells.as_ptr().cast::<T>(), cells.len()) })
    }

    /// Whether the buffer is frozen.
    pub fn is_frozen(&self) -> bool {
        let h = self.header();
        let (_guard, _) = h.lock.guard();
        h.frozen.load(Relaxed)
    }

    /// How many claims were taken back from claimants that died holding them, over the
    /// buffer's life, in every process. Their ranges hold whatever was written before the
    /// death; claim them again to redo them.
    pub fn abandoned(&self) -> u64 {
        self.header().abandoned.load(Relaxed)
    }

    /// How many claims are live now, of live claimants (those of dead ones are taken back).
    pub fn live_claims(&self) -> usize {
        let h = self.header();
        let (_guard, _) = h.lock.guard();
        h.slots
            .iter()
            .filter(|s| s.active.load(Relaxed) && !reap(h, s))
            .count()
    }
}

/// With the header locked and `slot` active: take the claim back if its holder died. True
/// when the slot is free now; false when a live thread (maybe this one) holds it.
fn reap(h: &BufferHeader, slot: &Slot) -> bool {
    match slot.held.try_lock() {
        // Busy, or this very thread holds it: a live claim.
        None => false,
        Some(how) => {
            if how == Acquired::OwnerDied {
                h.abandoned.fetch_add(1, Relaxed);
            }
            // `Clean` cannot happen while the header is consistent (an active slot's
            // mutex is held); free the slot either way.
            slot.active.store(false, Relaxed);
            // SAFETY: `try_lock` just gave this thread the mutex.
            unsafe { slot.held.unlock() };
            true
        }
    }
}

/// A live claim on a range of a [`SharedBuffer`]: the right to write those elements, alone
/// among all processes. Dropping it ends the claim. Not `Send`: the claim is held by the
/// claiming thread (its robust mutex), and a copy of the guard inherited by a forked child
/// refuses to write (it panics).
///
/// Indices are the buffer's, not relative to the range.
#[must_use = "if unused the claimed range will immediately be released"]
pub struct RangeMut<'a, T: Plain> {
    buffer: &'a SharedBuffer<T>,
    slot: usize,
    range: Range<usize>,
    epoch: u64,
    _not_send: PhantomData<*const ()>,
}

impl<T: Plain> RangeMut<'_, T> {
    /// The claimed range.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Panic unless this is the process that claimed: a guard copied into a forked child
    /// must never write (its parent may still be writing, or reading a frozen view).
    fn check_process(&self) {
        assert!(
            epoch() == self.epoch,
            "a SharedBuffer claim cannot be used in a process forked while it was held"
        );
    }

    fn cell(&self, i: usize) -> &T::Atomic {
        assert!(
            self.range.contains(&i),
            "index {i} is outside the claimed range {:?}",
            self.range
        );
        &self.buffer.cells()[i]
    }

    /// Element `i` (of the buffer; it must be in the claimed range).
    pub fn get(&self, i: usize) -> T {
        T::load(self.cell(i))
    }

    /// Set element `i` (of the buffer; it must be in the claimed range).
    pub fn set(&mut self, i: usize, value: T) {
        self.check_process();
        T::store(self.cell(i), value);
    }

    /// Set every element `i` of the range to `f(i)`, in order.
    pub fn fill_with(&mut self, mut f: impl FnMut(usize) -> T) {
        let cells = &self.buffer.cells()[self.range.clone()];
        for (i, cell) in self.range.clone().zip(cells) {
            let v = f(i);
            // `f` is the caller's code, which could fork: check after each call.
            self.check_process();
            T::store(cell, v);
        }
    }

    /// Copy `values` into the range, which must have the same length.
    pub fn copy_from_slice(&mut self, values: &[T]) {
        assert_eq!(values.len(), self.range.len(), "length mismatch");
        self.check_process();
        let cells = &self.buffer.cells()[self.range.clone()];
        for (cell, v) in cells.iter().zip(values) {
            T::store(cell, *v);
        }
    }
}

impl<T: Plain> Drop for RangeMut<'_, T> {
    fn drop(&mut self) {
        if epoch() != self.epoch {
            // A forked child's copy: the claim is its parent's thread's, not ours.
            return;
        }
        let h = self.buffer.header();
        let slot = &h.slots[self.slot];
        let (_guard, _) = h.lock.guard();
        slot.active.store(false, Relaxed);
        debug_assert!(slot.held.held_by_current_thread());
        // SAFETY: this thread holds the slot's mutex since `claim` (the guard is not `Send`,
        // and this is the claiming process); the unlock orders our stores before any later
        // claimant's or freezer's lock.
        unsafe { slot.held.unlock() };
    }
}

impl<T: Plain> fmt::Debug for SharedBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T: Plain> fmt::Debug for RangeMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeMut")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod element_type_tests {
    use super::*;

    /// As for `Array`: the memfd's name carries the element type, so `SharedBuffer<u8>`
    /// memory is never imported as `SharedBuffer<bool>`.
    #[test]
    fn a_memfd_of_one_element_type_is_not_imported_as_another() {
        let fd = crate::shm::memfd_for::<BufferState<u8>>(8192);
        assert!(crate::handle::import_fd::<BufferShm<bool>>(fd).is_err());
        let fd = crate::shm::memfd_for::<BufferState<u8>>(8192);
        assert!(crate::handle::import_fd::<BufferShm<u8>>(fd).is_ok());
    }
}
