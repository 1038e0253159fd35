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
//!
//! After [`crate::start::init`] the memory is a sealed `memfd` instead (its fd kept, close
//! on exec), so that it can be handed to `spawn` and `forkserver` children over a Unix
//! socket (see [`crate::start`]). The memfd's kernel-held name records the state type, and
//! a receiver maps it only if that name and its size fit the type it expects.

use std::num::NonZeroUsize;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`crate::start::init`]: new mappings are memfds that can travel.
static MEMFD: AtomicBool = AtomicBool::new(false);

/// Back every later mapping of this process (and of its forks) with a memfd.
pub(crate) fn use_memfd() {
    MEMFD.store(true, Ordering::Relaxed);
}

/// The memfd name that records the state type `S`: FNV-1a of its type name.
fn memfd_name<S>() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::any::type_name::<S>().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("multiproc:{h:016x}")
}

/// Whether [`use_memfd`] was called: shared objects created now can travel.
pub(crate) fn memfd_enabled() -> bool {
    MEMFD.load(Ordering::Relaxed)
}

/// A type for which all-zero bytes are a valid value.
///
/// # Safety
/// Every field, recursively, must accept all-zero bytes (integers, atomics, `bool`,
/// `UnsafeCell`s of those, arrays of such types), and the type must have no `Drop` glue that
/// matters: the mapping is unmapped without running destructors.
// SAFETY: declaring the trait promises nothing; each `unsafe impl` says why its type keeps
// the contract above.
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
    /// The memfd behind the mapping, when it can travel (see the module docs).
    fd: Option<OwnedFd>,
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
        let fd = MEMFD
            .load(Ordering::Relaxed)
            .then(|| crate::sys::memfd::create_sealed(&memfd_name::<S>(), len as u64))
            .transpose()
            .unwrap_or_else(|e| panic!("memfd of {len} bytes of shared memory failed: {e}"));
        let ptr = match &fd {
            Some(fd) => map_fd(fd, len),
            // SAFETY: a fresh anonymous mapping aliases nothing, so asking for one cannot
            // disturb any other memory.
            None => unsafe {
                nix::sys::mman::mmap_anonymous(
                    None,
                    NonZeroUsize::new(len).expect("len >= 1"),
                    nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                    nix::sys::mman::MapFlags::MAP_SHARED,
                )
            },
        }
        .unwrap_or_else(|e| panic!("mmap of {len} bytes of shared memory failed: {e}"));
        let mut ptr = ptr.cast::<S>();
        // SAFETY: the mapping is page-aligned (so aligned for `S`, checked above), at least
        // `size_of::<S>()` bytes, zero-filled by the kernel (a valid `S`: `S: Zeroed`), and
        // nobody else can reach it yet (no other handle exists, no fork has happened since),
        // so this is the only reference to it.
        init(unsafe { ptr.as_mut() });
        Shm { ptr, len, fd }
    }

    /// The memfd behind this mapping, if it has one (created after `start::init`).
    pub(crate) fn memfd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    /// Map a memfd received from another process. Checked against what the kernel holds,
    /// never against a message: its name must be the one `with_len` gives an `S` (so it
    /// holds an initialised `S`: it was created and initialised by `with_len` in another
    /// process before its fd could be sent), its size is sealed and at least an `S`.
    pub(crate) fn import(fd: OwnedFd) -> std::io::Result<Shm<S>> {
        let size =
            crate::sys::memfd::check(&fd, &memfd_name::<S>(), crate::sys::memfd::SIZE_SEALS)?;
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        if len < std::mem::size_of::<S>().max(1) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the received memory is too small for its type",
            ));
        }
        let ptr = map_fd(&fd, len)?.cast::<S>();
        Ok(Shm {
            ptr,
            len,
            fd: Some(fd),
        })
    }

    /// Bytes mapped (this process's own record).
    pub(crate) fn len(&self) -> usize {
        self.len
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

/// Map `len` bytes of `fd`, shared, read-write.
fn map_fd(fd: &OwnedFd, len: usize) -> nix::Result<NonNull<std::ffi::c_void>> {
    // SAFETY: a fresh mapping of a file: it aliases no memory of this process. Whether an
    // access through it can fault is its users' concern: `Shm`'s memfds are sealed at no
    // less than `len`; a named segment is not (see `FdMapping::cells`).
    unsafe {
        nix::sys::mman::mmap(
            None,
            NonZeroUsize::new(len).expect("len >= 1"),
            nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
            nix::sys::mman::MapFlags::MAP_SHARED,
            fd,
            0,
        )
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

/// A sealed memfd of `len` zero bytes named as `with_len` names an `S`'s: what another
/// process would send for an `S`, for tests of `import` (zero bytes are a valid `S`).
#[cfg(test)]
pub(crate) fn memfd_for<S: Zeroed>(len: usize) -> OwnedFd {
    crate::sys::memfd::create_sealed(&memfd_name::<S>(), len as u64).expect("memfd_create")
}

/// A shared read-write mapping of the first `len` bytes of a file this process opened (a
/// named segment, see [`crate::SharedMemory`]), viewed as atomics only.
///
/// Unlike a [`Shm`], nothing in it is a Rust value the crate initialised: another program
/// may write any bytes into it at any time. So it hands out only atomic cells of types for
/// which every bit pattern is a value ([`FdMapping::cells`]), never a reference to a
/// structure, and it is bounds-checked against `len`, this process's own record of the
/// size it found when it mapped the file.
pub(crate) struct FdMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is reached only as shared slices of atomics, which may be used from
// any thread; it is not tied to the thread that created it.
unsafe impl Send for FdMapping {}
// SAFETY: as for `Send`: all access is through `&[T::Atomic]`.
unsafe impl Sync for FdMapping {}

impl FdMapping {
    /// Map `len` (> 0) bytes of `fd` from offset 0, shared, read-write.
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> std::io::Result<FdMapping> {
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "cannot map 0 bytes",
            ));
        }
        let ptr = map_fd(fd, len)?.cast::<u8>();
        Ok(FdMapping { ptr, len })
    }

    /// Bytes mapped (this process's own record).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The whole mapping as cells of `T` (as many whole ones as fit in `len` bytes).
    ///
    /// `T` is a type for which every bit pattern is valid ([`crate::plain::AnyBits`]):
    /// another process may have written anything. Another process that shrinks the file
    /// under the mapping makes an access past the new end raise SIGBUS (this process dies;
    /// no other memory of it is read or written): see SOUNDNESS.md.
    pub(crate) fn cells<T: crate::plain::AnyBits>(&self) -> &[T::Atomic] {
        const { assert!(std::mem::align_of::<T::Atomic>() <= 4096) };
        let n = self.len / std::mem::size_of::<T::Atomic>();
        // SAFETY: `ptr` starts a live mapping of `len` bytes (unmapped only in `drop`; the
        // slice borrows `self`), page-aligned so aligned for `T::Atomic` (checked above);
        // `n` cells fit in `len` bytes. Every bit pattern is a valid `T::Atomic` (`T:
        // AnyBits`), so whatever another process wrote is a value; atomics may be shared
        // with other threads and processes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<T::Atomic>(), n) }
    }
}

impl Drop for FdMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made in `new` that nobody else unmaps;
        // every slice handed out borrows `self`, so none outlives this.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}
