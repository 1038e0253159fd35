//! Anonymous `MAP_SHARED` mappings: the memory every shared primitive lives in.
//!
//! A mapping created before `fork` appears at the same address in the parent and in every
//! child, and writes through it are seen by all of them. Nothing is named, so nothing is
//! left in `/dev/shm` when a process dies; the memory is freed when the last process that
//! maps it unmaps it or exits.

use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

/// One anonymous shared mapping holding a `T` at its start (and, for arrays, more bytes
/// after it). Dropping it unmaps it in this process only.
pub(crate) struct Region<T> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

// SAFETY: the region is plain memory; `T` decides what may be done with it concurrently.
unsafe impl<T: Sync> Send for Region<T> {}
unsafe impl<T: Sync> Sync for Region<T> {}

impl<T> Region<T> {
    /// Map `len` zeroed bytes (at least `size_of::<T>()`) and let `init` initialise the `T`
    /// in place. Zeroed memory is a valid state for every atomic used here.
    ///
    /// # Panics
    /// When the kernel refuses the mapping (out of memory), as `Vec` does on allocation
    /// failure.
    pub(crate) fn with_len(len: usize, init: impl FnOnce(*mut T)) -> Region<T> {
        let len = len.max(std::mem::size_of::<T>()).max(1);
        assert!(std::mem::align_of::<T>() <= 4096);
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                NonZeroUsize::new(len).expect("len >= 1"),
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }
        .unwrap_or_else(|e| panic!("mmap of {len} bytes of shared memory failed: {e}"));
        let ptr = ptr.cast::<T>();
        init(ptr.as_ptr());
        Region {
            ptr,
            len,
            _owns: PhantomData,
        }
    }

    /// A mapping just big enough for a `T`.
    pub(crate) fn new(init: impl FnOnce(*mut T)) -> Region<T> {
        Region::with_len(std::mem::size_of::<T>(), init)
    }

    pub(crate) fn get(&self) -> &T {
        // SAFETY: initialised in `with_len`, mapped until drop.
        unsafe { self.ptr.as_ref() }
    }

    /// Address of byte `offset` of the mapping.
    pub(crate) fn byte_ptr(&self, offset: usize) -> *mut u8 {
        assert!(offset <= self.len);
        // SAFETY: within the mapping.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(offset) }
    }
}

impl<T> Drop for Region<T> {
    fn drop(&mut self) {
        // Only this process's view goes away; the others keep theirs. Nothing is
        // destroyed in place: another process may still be using the object.
        // SAFETY: `ptr`/`len` describe a mapping we created and nobody else unmaps.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}
