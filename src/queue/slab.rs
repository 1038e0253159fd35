//! Where queues live: slabs of memfd slots, handed out and recycled here.
//!
//! A slab is one memfd holding the headers of 256 queues (mapped once per process), each
//! followed by a small inline log; after them, each queue owns a [`WINDOW`] of file offsets
//! (sparse: it costs nothing until written), which the log maps only when its messages do
//! not fit inline (see `buffer.rs`). A slab is never reused by a process once it has forked
//! (other processes may hold its queues); before that, a dropped queue's slot is recycled.
//!
//! A queue that must travel to a forkserver or spawn child (after `start::init`) gets an
//! *own* slab of one slot, sealed at its size, whose fd is sent; the receiver checks it
//! against the kernel ([`Slab::import`]), never against a message.

use super::buffer::Header;
use crate::error::Result;
use crate::sys::memfd;
use nix::sys::mman::{MapFlags, ProtFlags};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// File offsets reserved per queue: the most its unread messages may occupy.
pub(super) const WINDOW: u64 = 32 << 30;
/// Bytes of a slab slot: the header, then the inline log.
const SLOT: usize = 512;
/// Room for the header at the start of a slot.
pub(super) const HEADER_SPACE: usize = 128;
/// Capacity of the inline log; `capacity` above it means the log lives in the queue's range.
pub(super) const INLINE: u64 = (SLOT - HEADER_SPACE) as u64;
/// Queues per slab.
const SLAB_QUEUES: usize = 256;
/// Size of a slab's header area, where the data ranges start.
const HEADERS: u64 = (SLOT * SLAB_QUEUES) as u64;

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_SPACE);

/// The memfd name of a shared slab (256 queues that never leave this process's forks).
const SHARED_NAME: &str = "multiproc-queue";
/// The memfd name of a slab holding one queue, the only kind that travels.
pub(super) const OWN_NAME: &str = "multiproc-queue-own";
/// Size of an own slab's header area: one page, where its data range starts.
pub(super) const OWN_HEADERS: u64 = 4096;
const _: () = assert!(SLOT as u64 <= OWN_HEADERS);
/// An own slab's epoch: never the current one, so its slot is never recycled (another
/// process may hold the queue since its fd can be sent).
const NEVER_RECYCLED: u64 = u64::MAX;

/// The slab new queues come from, in this process.
static CURRENT: Mutex<Option<Arc<Slab>>> = Mutex::new(None);

/// Forks seen so far: a slab made in an earlier count may be shared with other
/// processes, so its slots are never recycled.
fn fork_count() -> u64 {
    crate::sys::atfork::forks()
}

/// One memfd: `queues` queue slots (`SLAB_QUEUES`, or one for a queue that can travel),
/// then each queue's data range.
pub(super) struct Slab {
    fd: OwnedFd,
    /// The slot area, `headers` bytes, mapped shared.
    base: NonNull<u8>,
    /// Bytes of the slot area (page-aligned: the first data range starts there).
    headers: u64,
    /// Slots in the slot area.
    queues: usize,
    epoch: u64,
    spare: Mutex<Spare>,
}

#[derive(Default)]
struct Spare {
    next: usize,
    free: Vec<usize>,
}

// SAFETY: the slot area is shared memory used only through atomics and robust mutexes.
unsafe impl Send for Slab {}
// SAFETY: as for Send: shared use goes through atomics and robust mutexes only.
unsafe impl Sync for Slab {}

impl Slab {
    /// A free slot for a new queue: in a slab of its own (`own`), or in this process's
    /// current shared slab (a new one when it is full or was made before a fork). The slot
    /// is the caller's alone, its header not yet initialised.
    pub(super) fn slot(own: bool) -> Result<(Arc<Slab>, usize)> {
        if own {
            return Ok((Arc::new(Slab::new_own()?), 0));
        }
        let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = fork_count();
        if let Some(found) = current
            .as_ref()
            .filter(|s| s.epoch == epoch)
            .and_then(|s| Some((s.clone(), s.take()?)))
        {
            return Ok(found);
        }
        let slab = Arc::new(Slab::new(epoch)?);
        let i = slab.take().expect("a new slab has free slots");
        *current = Some(slab.clone());
        Ok((slab, i))
    }

    /// A slab of `SLAB_QUEUES` queues, for queues that never leave this process and its
    /// forks.
    pub(super) fn new(epoch: u64) -> Result<Slab> {
        // Sparse: pages are allocated only when written.
        let fd = memfd::create(SHARED_NAME, HEADERS + SLAB_QUEUES as u64 * WINDOW)?;
        Slab::map(fd, HEADERS, SLAB_QUEUES, epoch)
    }

    /// A slab of one queue, sealed at its size, whose fd can be sent to another process
    /// (see [`Slab::import`]). Punching holes stays allowed: only the size is sealed.
    fn new_own() -> Result<Slab> {
        let fd = memfd::create_sealed(OWN_NAME, OWN_HEADERS + WINDOW)?;
        Slab::map(fd, OWN_HEADERS, 1, NEVER_RECYCLED)
    }

    /// The own slab another process sent (see [`Slab::new_own`]). Checked against what the
    /// kernel holds, never against a message: the memfd's name is the one only `new_own`
    /// gives, its size is sealed at an own slab's size. Such a slab's only slot was
    /// initialised by its creator before its fd could be sent.
    pub(super) fn import(fd: OwnedFd) -> std::io::Result<Slab> {
        let len = memfd::check(&fd, OWN_NAME, memfd::SIZE_SEALS)?;
        if len != OWN_HEADERS + WINDOW {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the received queue has the wrong size",
            ));
        }
        Slab::map(fd, OWN_HEADERS, 1, NEVER_RECYCLED).map_err(std::io::Error::other)
    }

    /// Map the slot area of `fd`.
    fn map(fd: OwnedFd, headers: u64, queues: usize, epoch: u64) -> Result<Slab> {
        // SAFETY: a fresh shared mapping of a memfd whose size covers the slot area (ours,
        // or checked by `import`).
        let base = unsafe {
            nix::sys::mman::mmap(
                None,
                NonZeroUsize::new(headers as usize).expect("non-zero"),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )
        }?
        .cast::<u8>();
        Ok(Slab {
            fd,
            base,
            headers,
            queues,
            epoch,
            spare: Mutex::new(Spare::default()),
        })
    }

    fn take(&self) -> Option<usize> {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = spare.free.pop() {
            return Some(i);
        }
        (spare.next < self.queues).then(|| {
            spare.next += 1;
            spare.next - 1
        })
    }

    /// Whether slot `index` may be used again: no fork since the slab was made, so no other
    /// process has its queue (an own slab is never recycled). Then its data range is given
    /// back (`capacity` bytes) and the slot joins the free list.
    pub(super) fn recycle(&self, index: usize, capacity: u64) {
        if self.epoch == fork_count() {
            self.punch(self.data_offset(index), capacity);
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            spare.free.push(index);
        }
    }

    /// Slot `i`'s header. Callers hold an index from `slot` or `import`, in bounds.
    pub(super) fn header(&self, i: usize) -> *mut Header {
        debug_assert!(i < self.queues);
        // SAFETY: `i < self.queues`, so the slot is inside the mapping.
        unsafe { self.base.as_ptr().add(i * SLOT).cast() }
    }

    /// Slot `i`'s inline log, `INLINE` bytes.
    pub(super) fn inline(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.queues);
        // SAFETY: as in `header`; the inline log is the rest of the slot.
        unsafe { self.base.as_ptr().add(i * SLOT + HEADER_SPACE) }
    }

    /// Where slot `i`'s data range starts in the file.
    pub(super) fn data_offset(&self, i: usize) -> u64 {
        self.headers + i as u64 * WINDOW
    }

    /// The slab's memfd, to map a data range.
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The memfd of an own slab (the only kind that travels), else `None`.
    pub(super) fn own_fd(&self) -> Option<BorrowedFd<'_>> {
        (self.queues == 1).then(|| self.fd.as_fd())
    }

    /// Give the file's pages in `[offset, offset + len)` back.
    pub(super) fn punch(&self, offset: u64, len: u64) {
        let how = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
        // Only memory is at stake: a range that cannot be punched stays allocated.
        let _ = rustix::fs::fallocate(&self.fd, how, offset, len);
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // A mutex a thread of this process still holds must stay mapped (it is on that
        // thread's robust list): then leak the mapping.
        // SAFETY: each slot's header was initialised before any queue used it; zeroed
        // (never used) slots hold a zero word, which reads as "free".
        let held =
            (0..self.queues).any(|i| unsafe { (*self.header(i)).lock.held_in_this_process() });
        if !held {
            // SAFETY: mapped by `new`, unmapped only here; no queue of this slab is left.
            let _ = unsafe { nix::sys::mman::munmap(self.base.cast(), self.headers as usize) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_refuses_memory_that_is_not_an_own_slab() {
        // Another object's memory, named for its own type.
        let other = crate::shm::memfd_for::<crate::raw_mutex::RawMutex>(4096);
        assert!(Slab::import(other).is_err());
        // A shared slab (256 queues): the index would have to come from a message.
        let shared = Slab::new(0).unwrap();
        assert!(Slab::import(shared.fd.try_clone().unwrap()).is_err());
        // The right name but not sealed, or the wrong size.
        let forged = memfd::create(OWN_NAME, OWN_HEADERS + WINDOW).unwrap();
        assert!(
            Slab::import(forged.try_clone().unwrap()).is_err(),
            "unsealed"
        );
        rustix::fs::ftruncate(&forged, 4096).unwrap();
        memfd::seal(&forged, memfd::SIZE_SEALS).unwrap();
        assert!(Slab::import(forged).is_err(), "too small");
    }

    #[test]
    fn a_shared_slab_has_no_fd_to_send_and_an_own_slab_has() {
        assert!(Slab::slot(false).unwrap().0.own_fd().is_none());
        assert!(Slab::slot(true).unwrap().0.own_fd().is_some());
    }
}
