//! Anonymous `MAP_SHARED` mappings: the memory every shared primitive lives in.
//!
//! A mapping created before `fork` appears at the same address in the parent and in every
//! child, and writes through it are seen by all of them. Nothing is named, so nothing is
//! left in `/dev/shm` when a process dies; the memory is freed when the last process that
//! maps it unmaps it or exits.
//!
//! What may live in one is declared by two traits on the state type:
//! - [`Zeroed`] (`unsafe`): all-zero bytes are a valid value, so a fresh mapping (which the
//!   kernel zero-fills) already holds one, and initialisation is safe code on `&mut S`.
//! - [`SharedState`]: [`SharedState::held_here`] says whether a thread of this process
//!   holds a robust mutex inside it. Then the mapping is never unmapped by this process,
//!   because the mutex is on that thread's robust list, which glibc and the kernel walk
//!   later (on the thread's next robust lock, and at its exit). Leaking a guard leaks the
//!   mapping; it never leaves a dangling robust-list entry.

use std::num::NonZeroUsize;
use std::ops::Deref;
use std::ptr::NonNull;

/// A type for which all-zero bytes are a valid value.
///
/// # Safety
/// Every field, recursively, must accept all-zero bytes (integers, atomics, `bool`,
/// `UnsafeCell`s of those, arrays of such types), and the type must have no `Drop` glue that
/// matters: the mapping is unmapped without running destructors.
pub(crate) unsafe trait Zeroed: Sized {}

/// State that lives at the start of a shared mapping.
pub(crate) trait SharedState: Zeroed + Send + Sync + 'static {
    /// Whether a thread of this process holds a robust mutex inside the state: then the
    /// mapping must stay mapped in this process (see the module docs).
    fn held_here(&self) -> bool {
        false
    }
}

/// One anonymous shared mapping holding an `S` at its start and, for arrays, more zeroed
/// bytes after it. Dropping it unmaps it in this process only, unless a thread of this
/// process holds a mutex inside it (then the mapping is leaked).
pub(crate) struct Shm<S: SharedState> {
    ptr: NonNull<S>,
    /// Bytes mapped: this process's own record, never read from shared memory.
    len: usize,
}

// SAFETY: `Shm` hands out only `&S` (plus raw pointers into the mapping, whose users give
// their own arguments), and `S: Send + Sync` (required by `SharedState`) says `&S` may be
// used from any thread. The mapping itself is not tied to the thread that created it.
unsafe impl<S: SharedState> Send for Shm<S> {}
// SAFETY: as for `Send`: shared access is access through `&S`, and `S: Sync`.
unsafe impl<S: SharedState> Sync for Shm<S> {}

impl<S: SharedState> Shm<S> {
    /// Map `len` zeroed bytes (at least `size_of::<S>()`) and let `init` set up the `S` at
    /// their start.
    ///
    /// # Panics
    /// When the kernel refuses the mapping (out of memory), as `Vec` does on allocation
    /// failure.
    pub(crate) fn with_len(len: usize, init: impl FnOnce(&mut S)) -> Shm<S> {
        const { assert!(std::mem::align_of::<S>() <= 4096) };
        let len = len.max(std::mem::size_of::<S>()).max(1);
        // SAFETY: a fresh anonymous mapping aliases nothing, so asking for one cannot
        // disturb any other memory.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                NonZeroUsize::new(len).expect("len >= 1"),
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }
        .unwrap_or_else(|e| panic!("mmap of {len} bytes of shared memory failed: {e}"));
        let mut ptr = ptr.cast::<S>();
        // SAFETY: the mapping is page-aligned (so aligned for `S`, checked above), at least
        // `size_of::<S>()` bytes, zero-filled by the kernel (a valid `S`: `S: Zeroed`), and
        // nobody else can reach it yet (no other handle exists, no fork has happened since),
        // so this is the only reference to it.
        init(unsafe { ptr.as_mut() });
        Shm { ptr, len }
    }

    /// A mapping just big enough for an `S`.
    pub(crate) fn new(init: impl FnOnce(&mut S)) -> Shm<S> {
        Shm::with_len(std::mem::size_of::<S>(), init)
    }

    /// The state at the start of the mapping.
    pub(crate) fn get(&self) -> &S {
        self
    }

    /// Address of byte `offset` of the mapping.
    ///
    /// # Panics
    /// If `offset` is past the end of the mapping.
    pub(crate) fn byte_ptr(&self, offset: usize) -> *mut u8 {
        assert!(
            offset <= self.len,
            "offset {offset} past a {}-byte mapping",
            self.len
        );
        self.ptr.as_ptr().cast::<u8>().wrapping_add(offset)
    }
}

impl<S: SharedState> Deref for Shm<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: initialised in `with_len`, mapped until `drop` (or for ever); only shared
        // references are handed out after initialisation.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S: SharedState> Drop for Shm<S> {
    fn drop(&mut self) {
        if self.held_here() {
            // A thread of this process holds a robust mutex in here (a guard was leaked):
            // unmapping would leave that thread's robust list pointing at nothing. Keep it.
            return;
        }
        // Only this process's view goes away; the others keep theirs. Nothing is
        // destroyed in place: another process may still be using the object.
        // SAFETY: `ptr`/`len` describe a mapping we created and nobody else unmaps; this
        // `Shm` is the last user in this process (references into it borrow from it).
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}
