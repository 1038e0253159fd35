//! `Elements<H, T>`: a shared mapping that holds a header `H` and then a run of `T`'s
//! atomics; the core [`Array`](crate::Array) and [`SharedBuffer`](crate::SharedBuffer)
//! share (the offset of the elements, their number, and the one unsafe step from the
//! mapping to a `&[T::Atomic]`).
//!
//! The number of elements is this process's own record of the mapping's length (the length
//! it mapped, or the sealed size of a received memfd), never a count read from shared
//! memory or taken from a message. The header type names the memfd (see `Shm::import`),
//! so each user's header is generic over `T`: memory of `u8`s is never imported as `bool`s.

use crate::plain::Plain;
use crate::shm::{SharedState, Shm};
use std::marker::PhantomData;

/// A header `H`, then `len` atomics of `T` from [`Elements::data_offset`] on.
pub(crate) struct Elements<H: SharedState, T: Plain> {
    shm: Shm<H>,
    _elements: PhantomData<fn() -> T>,
}

impl<H: SharedState, T: Plain> Elements<H, T> {
    /// Where the elements start: after the header, aligned for `T::Atomic`.
    fn data_offset() -> usize {
        std::mem::size_of::<H>().next_multiple_of(std::mem::align_of::<T::Atomic>())
    }

    /// A mapping of `len` zeroed elements after a header that `init` sets up.
    ///
    /// # Panics
    /// When the size overflows (`"{what} too large"`), or the kernel refuses the memory.
    pub(crate) fn new(len: usize, what: &str, init: impl FnOnce(&mut H)) -> Elements<H, T> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T::Atomic>())
            .and_then(|b| b.checked_add(Self::data_offset()))
            .unwrap_or_else(|| panic!("{what} too large"));
        Elements {
            shm: Shm::with_len(bytes, init),
            _elements: PhantomData,
        }
    }

    /// Number of elements, from this process's own record of the mapping's length.
    pub(crate) fn len(&self) -> usize {
        self.shm.len().saturating_sub(Self::data_offset()) / std::mem::size_of::<T::Atomic>()
    }

    /// The header at the start of the mapping.
    pub(crate) fn header(&self) -> &H {
        self.shm.get()
    }

    /// Every element's atomic cell.
    pub(crate) fn cells(&self) -> &[T::Atomic] {
        let base = self.shm.byte_ptr(Self::data_offset()).cast::<T::Atomic>();
        // SAFETY: the mapping holds `len()` atomics of `T` from `data_offset` on: `new`
        // sized it so, and a received memfd is at least as long as its sealed size, from
        // which `len()` is computed (this process's own record, never a message). They are
        // aligned for `T::Atomic` (page-aligned mapping, aligned offset), zero-filled or
        // stored through atomics (valid values), and mapped as long as `self` lives.
        // Atomics may be shared between threads and processes.
        unsafe { std::slice::from_raw_parts(base, self.len()) }
    }
}

impl<H: SharedState, T: Plain> crate::handle::Travel for Elements<H, T> {
    fn export<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.export(s)
    }
    fn import<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::handle::Travel::import(d).map(|shm| Elements {
            shm,
            _elements: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::Zeroed;
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

    #[repr(C)]
    struct Header(AtomicU8);
    // SAFETY: an atomic, 0 for zero bytes.
    unsafe impl Zeroed for Header {}
    impl SharedState for Header {}

    #[test]
    fn the_elements_follow_the_header_aligned_and_zeroed() {
        let e = Elements::<Header, u64>::new(5, "test", |h| h.0.store(7, Relaxed));
        assert_eq!(e.len(), 5);
        assert_eq!(e.header().0.load(Relaxed), 7);
        let cells = e.cells();
        assert_eq!(cells.as_ptr() as usize % std::mem::align_of::<u64>(), 0);
        assert!(cells.iter().all(|c| c.load(Relaxed) == 0));
        cells[4].store(9, Relaxed);
        assert_eq!(e.cells()[4].load(Relaxed), 9);
        assert_eq!(Elements::<Header, u64>::new(0, "test", |_| {}).len(), 0);
    }
}
