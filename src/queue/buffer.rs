//! The shared message buffer under every queue: a byte log in a memfd, mapped at the same
//! address in every process, with a robust mutex and futex words in a shared header.
//!
//! Why not a pipe, as Python uses: a pipe holds 64 KiB, so Python runs a feeder thread per
//! process to push items into it, and a process that has put more than the pipe holds
//! cannot exit until someone reads (the "joining processes that use queues" deadlock). Here
//! `put` copies the message into shared memory and returns, and a process can exit the
//! moment `put` returns.
//!
//! Where the bytes live: queues are carved out of slabs. A slab is one memfd holding the
//! headers of 256 queues (mapped once per process), each followed by a small inline log;
//! after them, each queue owns a 32 GiB range of file offsets (sparse: it costs nothing until
//! written). A queue whose unread messages fit inline maps nothing more. When they do not,
//! the log moves to the queue's range, mapped only as large as `capacity`: every process
//! compares its own view with the shared `capacity` each time it takes the lock and remaps
//! (`mmap`/`mremap`) before touching data, so a queue needs address space for what it holds,
//! not a fixed window, and 100,000 queues fit in one process. A slab is never reused by a
//! process once it has forked (other processes may hold its queues); before that, a dropped
//! queue's slot is recycled.
//!
//! Layout of the log: frames `[u64 length][bytes, padded to 8]` between `head` and `tail`
//! (see `frame.rs`: every sum on a length is checked, since lengths come from a user's
//! `Serialize`).
//! `get` takes the frame at `head`; when the log empties both go back to 0, and when the
//! free space is at the front the live frames are copied down (only when the copy cannot
//! overlap, so a process killed mid-copy destroys nothing).
//!
//! Robustness: the header's fields change only under the robust mutex, in an order that
//! leaves a recognisable state at every step. A process killed while holding the lock is
//! detected by the next one to lock it, which repairs the header ([`RawQueue::recover`]):
//! no item is lost or delivered twice because of a death inside the queue.

use super::frame;
use super::slab::{HEADER_SPACE, INLINE, Slab, WINDOW};
use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::futex;
use crate::raw_mutex::{Acquired, RawGuard, RawMutex};
use nix::sys::mman::{MapFlags, ProtFlags};
use std::cell::UnsafeCell;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The smallest log held in a queue's range.
const RANGE_MIN: u64 = 64 << 10;
/// An empty log bigger than this gives its memory and address space back (the log returns
/// inline); below it, the pages stay, so a stream of large messages does not fault them in
/// again each time.
const SHRINK_ABOVE: u64 = 64 << 20;

/// This process's mapping of a queue's data range (when its log is not inline).
struct View {
    ptr: *mut u8,
    len: usize,
}

/// A queue's shared state, at the start of its slot (see `slab.rs`).
#[repr(C)]
pub(super) struct Header {
    pub(super) lock: RawMutex,
    // Changed only under `lock`; atomics so that `len` can read without it and futexes can
    // sleep on the sequence words.
    head: AtomicU64,
    tail: AtomicU64,
    capacity: AtomicU64,
    count: AtomicU64,
    maxsize: u64,
    closed: AtomicU32,
    /// Bumped by every put (and close): getters sleep on it.
    put_seq: AtomicU32,
    /// Bumped by every get (and close): putters to a full queue sleep on it.
    get_seq: AtomicU32,
    getters: AtomicU32,
    putters: AtomicU32,
    /// A sleeping getter wants waking only once this many messages are queued (0: at the
    /// first). Set only by a queue's single reader: see `get_value_once`.
    wake_at: AtomicU64,
    /// Items put and not yet marked done (`JoinableQueue`); `join` sleeps on it.
    unfinished: AtomicU32,
    /// A process died holding the lock and the header is not repaired yet.
    needs_repair: AtomicU32,
}

/// A many-producer, many-consumer queue of byte messages shared by forked processes.
pub(crate) struct RawQueue {
    slab: Arc<Slab>,
    index: usize,
    /// Changed and read only with the queue's lock held, which serialises the threads of
    /// this process too.
    view: UnsafeCell<View>,
}

// SAFETY: all shared state is behind the robust mutex or atomic; `view` is only touched with
// that mutex held.
unsafe impl Send for RawQueue {}
// SAFETY: as for Send: `view` is only read or changed with the queue's mutex held.
unsafe impl Sync for RawQueue {}

impl Drop for RawQueue {
    fn drop(&mut self) {
        let view = self.view.get_mut();
        if let Some(ptr) = NonNull::new(view.ptr) {
            // SAFETY: the view was mapped by `sync_view` and is unmapped only there and here.
            let _ = unsafe { nix::sys::mman::munmap(ptr.cast(), view.len) };
        }
        // Unless a thread of ours still holds its mutex, the slot may be recycled (when no
        // other process can have it: see `Slab::recycle`).
        if !self.h().lock.held_in_this_process() {
            self.slab
                .recycle(self.index, self.h().capacity.load(Relaxed));
        }
    }
}

impl RawQueue {
    /// `maxsize == 0` means unbounded. `Err` when the kernel refuses the memfd or its
    /// mapping (out of memory, address space or file descriptors).
    ///
    /// After [`crate::start::init`] every queue gets a slab of its own, whose fd can travel
    /// to forkserver and spawn children; before it, queues share slabs of 256.
    pub(crate) fn new(maxsize: usize) -> Result<RawQueue> {
        let own = crate::shm::memfd_enabled();
        RawQueue::create(maxsize, own)
    }

    /// A queue in a slab of its own (`own`), or in this process's current shared slab.
    fn create(maxsize: usize, own: bool) -> Result<RawQueue> {
        let (slab, index) = Slab::slot(own)?;
        // SAFETY: the slot was just taken from the slab: see `in_slot`.
        Ok(unsafe { RawQueue::in_slot(slab, index, maxsize) })
    }

    /// A new, empty queue in slot `index` of `slab`.
    ///
    /// # Safety
    /// `index` is a slot of `slab` (from `Slab::slot`), and the slot is ours alone: fresh, or recycled by a queue of
    /// this process that no other process knows (see `Drop`) and no thread holds.
    unsafe fn in_slot(slab: Arc<Slab>, index: usize, maxsize: usize) -> RawQueue {
        let h = slab.header(index);
        // SAFETY: the slot is ours alone (the caller's promise).
        unsafe {
            std::ptr::write_bytes(h.cast::<u8>(), 0, HEADER_SPACE);
            (*h).lock.init();
            (*h).capacity.store(INLINE, Relaxed);
            (*h).maxsize = maxsize as u64;
        }
        RawQueue {
            slab,
            index,
            view: UnsafeCell::new(View {
                ptr: std::ptr::null_mut(),
                len: 0,
            }),
        }
    }

    /// The queue whose own slab another process sent, checked against the kernel by
    /// [`Slab::import`].
    pub(crate) fn import(fd: OwnedFd) -> std::io::Result<RawQueue> {
        let slab = Slab::import(fd)?;
        Ok(RawQueue {
            slab: Arc::new(slab),
            index: 0,
            view: UnsafeCell::new(View {
                ptr: std::ptr::null_mut(),
                len: 0,
            }),
        })
    }

    /// The memfd of the queue's own slab, if it has one (created after `start::init`).
    pub(crate) fn memfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.slab.own_fd()
    }

    fn h(&self) -> &Header {
        // SAFETY: initialised in `new`, mapped while the slab lives.
        unsafe { &*self.slab.header(self.index) }
    }

    /// Where byte `offset` of the log is. Lock held, view synced (`ready`).
    fn at(&self, offset: u64) -> *mut u8 {
        if self.h().capacity.load(Relaxed) <= INLINE {
            // SAFETY: callers stay below `capacity`, inside the slot.
            unsafe { self.slab.inline(self.index).add(offset as usize) }
        } else {
            // SAFETY: callers stay below `capacity`, the view's length.
            unsafe { (*self.view.get()).ptr.add(offset as usize) }
        }
    }

    /// Map this process's view of the data range at `len` bytes (0: unmapped). Lock held.
    fn map_view(&self, len: u64) -> Result<()> {
        // SAFETY: the lock is held, so no other thread of this process uses the view, and
        // no slice into it is alive (callers remap before taking any).
        let view = unsafe { &mut *self.view.get() };
        let len = len as usize;
        if view.len == len {
            return Ok(());
        }
        let old = NonNull::new(view.ptr);
        let new = match (old, NonZeroUsize::new(len)) {
            (Some(p), None) => {
                // SAFETY: our own mapping.
                unsafe { nix::sys::mman::munmap(p.cast(), view.len) }?;
                None
            }
            (None, Some(n)) => Some(
                // SAFETY: a fresh shared mapping of our range of the slab's file (which is
                // sized to hold every range).
                unsafe {
                    nix::sys::mman::mmap(
                        None,
                        n,
                        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                        MapFlags::MAP_SHARED,
                        self.slab.fd(),
                        self.slab.data_offset(self.index) as i64,
                    )
                }?,
            ),
            // SAFETY: our own mapping, resized within our range of the file; it may move,
            // and nothing points into it now.
            (Some(p), Some(_)) => Some(unsafe {
                nix::sys::mman::mremap(
                    p.cast(),
                    view.len,
                    len,
                    nix::sys::mman::MRemapFlags::MREMAP_MAYMOVE,
                    None,
                )
            }?),
            (None, None) => None,
        };
        view.ptr = new.map_or(std::ptr::null_mut(), |p| p.as_ptr().cast());
        view.len = len;
        Ok(())
    }

    /// Make this process's view match the shared capacity. Lock held.
    fn sync_view(&self) -> Result<()> {
        let cap = self.h().capacity.load(Relaxed);
        self.map_view(if cap > INLINE { cap } else { 0 })
    }

    /// Ready to touch the log: view synced and any pending repair done. Lock held.
    fn ready(&self) -> Result<()> {
        self.sync_view()?;
        if self.h().needs_repair.load(Relaxed) != 0 {
            self.recover();
            self.h().needs_repair.store(0, Relaxed);
        }
        Ok(())
    }

    /// Take the lock; if its last holder died, the header is repaired (now, or by the next
    /// `ready` if this process cannot map the log).
    fn lock(&self) -> RawGuard<'_> {
        let h = self.h();
        let (guard, how) = h.lock.guard();
        if how == Acquired::OwnerDied {
            h.needs_repair.store(1, Relaxed);
            let _ = self.ready();
        }
        guard
    }

    /// Release the lock, sleep on `seq` until it changes or `deadline`, re-take the lock.
    fn sleep_on<'a>(
        &'a self,
        guard: RawGuard<'a>,
        seq: &AtomicU32,
        sleepers: &AtomicU32,
        deadline: Option<&Deadline>,
    ) -> RawGuard<'a> {
        let seen = seq.load(Relaxed);
        sleepers.fetch_add(1, Relaxed);
        drop(guard);
        futex::wait(seq, seen, deadline);
        let guard = self.lock();
        sleepers.fetch_sub(1, Relaxed);
        guard
    }

    /// Put one message of `len` bytes that `write` produces straight into the shared buffer
    /// (no intermediate copy). If `write` fails or panics, nothing is published. A `len`
    /// no queue can hold is refused before anything is locked or written. `timeout`: `None`
    /// blocks while full, `Some(ZERO)` never blocks.
    pub(crate) fn put_with(
        &self,
        len: usize,
        timeout: Option<Duration>,
        write: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let need = frame::len(len, WINDOW)?;
        let h = self.h();
        let deadline = Deadline::from_timeout(timeout);
        let mut guard = self.lock();
        loop {
            if h.closed.load(Relaxed) != 0 {
                return Err(Error::Closed);
            }
            if h.maxsize == 0 || h.count.load(Relaxed) < h.maxsize {
                break;
            }
            if deadline.as_ref().is_some_and(Deadline::expired) {
                return Err(Error::Full);
            }
            guard = self.sleep_on(guard, &h.get_seq, &h.putters, deadline.as_ref());
        }
        self.ready()?;
        self.make_room(need)?;
        let tail = h.tail.load(Relaxed);
        // Checked again here, whatever `make_room` did: the frame ends inside the log.
        let end = frame::fits(tail, need, h.capacity.load(Relaxed))
            .ok_or_else(|| Self::beyond_window(tail, need))?;
        // SAFETY: `tail + need <= capacity` (just checked; `need >= HEADER + len`), and
        // `ready`/`make_room` mapped `capacity` bytes; we hold the lock, and nobody reads
        // past `tail`. The slice is the `len` bytes after the header, so `write` (safe
        // code) can touch nothing else.
        unsafe {
            self.at(tail).cast::<u64>().write(len as u64);
            write(std::slice::from_raw_parts_mut(
                self.at(tail + frame::HEADER),
                len,
            ))?;
        }
        // The frame is complete before it becomes visible through `tail`.
        h.tail.store(end, Relaxed);
        h.count.fetch_add(1, Relaxed);
        h.unfinished.fetch_add(1, Relaxed);
        h.put_seq.fetch_add(1, Relaxed);
        let wake = h.getters.load(Relaxed) > 0 && h.count.load(Relaxed) >= h.wake_at.load(Relaxed);
        drop(guard);
        if wake {
            futex::wake(&h.put_seq, 1);
        }
        Ok(())
    }

    /// The error for a frame of `need` bytes that does not fit in the window after `live`.
    fn beyond_window(live: u64, need: u64) -> Error {
        Error::invalid(
            InvalidKind::Limit,
            format!(
                "queue full: {live} bytes of unread messages plus {need} more exceed its {} GiB \
                 window",
                WINDOW >> 30
            ),
        )
    }

    /// Make `tail + need <= capacity`, compacting or growing the log. Lock held.
    fn make_room(&self, need: u64) -> Result<()> {
        let h = self.h();
        let (head, tail, cap) = (
            h.head.load(Relaxed),
            h.tail.load(Relaxed),
            h.capacity.load(Relaxed),
        );
        let end = tail
            .checked_add(need)
            .ok_or_else(|| Self::beyond_window(tail, need))?;
        if end <= cap {
            return Ok(());
        }
        // `head <= tail` under the lock once `ready` has repaired the header.
        let live = tail
            .checked_sub(head)
            .ok_or_else(|| Self::beyond_window(tail, need))?;
        if head > live && frame::fits(live, need, cap).is_some() {
            // Non-overlapping copy to the front; `tail` first, so a death between the two
            // stores leaves `head > tail`, which `recover` reads as "copy done".
            // SAFETY: both ranges are inside the log and disjoint (`head > live`).
            unsafe { std::ptr::copy_nonoverlapping(self.at(head), self.at(0), live as usize) };
            h.tail.store(live, Relaxed);
            h.head.store(0, Relaxed);
            return Ok(());
        }
        // `cap <= WINDOW`, so doubling it cannot overflow; the sum and its power of two can.
        let new_cap = end
            .checked_next_power_of_two()
            .map(|c| c.max(cap.saturating_mul(2)).max(RANGE_MIN))
            .filter(|&c| c <= WINDOW)
            .ok_or_else(|| Self::beyond_window(live, need))?;
        // Map the larger view first: if that fails, nothing has changed.
        self.map_view(new_cap)?;
        if cap <= INLINE {
            // The log moves out of the slot: copy it whole (offsets stay valid), then switch
            // with the one store of `capacity`. A death before that store leaves the inline
            // log in use; after it, the copy is complete.
            // SAFETY: `tail <= INLINE` bytes of the slot, into the fresh view of `new_cap`
            // bytes that nobody reads while `capacity` says inline.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.slab.inline(self.index),
                    (*self.view.get()).ptr,
                    tail as usize,
                )
            };
        }
        h.capacity.store(new_cap, Relaxed);
        Ok(())
    }

    /// Encode `value` straight into the buffer as one message: one copy, however large.
    pub(crate) fn put_value<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let len = crate::codec::encoded_len(value)?;
        self.put_with(len, timeout, |buf| crate::codec::encode_into(value, buf))
    }

    /// Take one message and decode it straight out of the buffer, under the lock.
    pub(crate) fn get_value<T: serde::de::DeserializeOwned>(
        &self,
        timeout: Option<Duration>,
    ) -> Result<T> {
        self.get_with(timeout, crate::codec::decode)?
    }

    /// Take one message (`timeout`: `None` blocks while empty, `Some(ZERO)` never blocks),
    /// handing its bytes to `read` while the lock is still held and the
    /// message is still in the log: if this process dies inside `read`, the message stays
    /// queued. Pool workers use it to record which task they took in the same step.
    pub(crate) fn get_with<R>(
        &self,
        timeout: Option<Duration>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        self.get_with_batch(1, timeout, read)
    }

    /// As `get_value`, but sleep until `batch` messages are queued (or the timeout passes,
    /// or the queue closes), then take one. For a queue with a single reader that knows it
    /// needs at least `batch` more messages: each put no longer wakes it, which on a small
    /// machine is a cross-CPU wake-up saved per message. With several readers, use 1.
    pub(crate) fn get_value_once<T: serde::de::DeserializeOwned>(
        &self,
        batch: u64,
        timeout: Option<Duration>,
    ) -> Result<T> {
        self.get_with_batch(batch, timeout, crate::codec::decode)?
    }

    fn get_with_batch<R>(
        &self,
        batch: u64,
        timeout: Option<Duration>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        let h = self.h();
        let deadline = Deadline::from_timeout(timeout);
        let mut guard = self.lock();
        loop {
            let count = h.count.load(Relaxed);
            if count >= batch.max(1) {
                break;
            }
            let expired = deadline.as_ref().is_some_and(Deadline::expired);
            if count > 0 && (expired || h.closed.load(Relaxed) != 0) {
                break; // fewer than hoped for, but something: take it
            }
            if h.closed.load(Relaxed) != 0 {
                return Err(Error::Closed);
            }
            if expired {
                return Err(Error::Empty);
            }
            h.wake_at.store(batch, Relaxed);
            guard = self.sleep_on(guard, &h.put_seq, &h.getters, deadline.as_ref());
            h.wake_at.store(0, Relaxed);
        }
        self.ready()?;
        let head = h.head.load(Relaxed);
        // SAFETY: `count > 0`, so a complete frame starts at `head`, below `tail`; we hold
        // the lock.
        let len = unsafe { self.at(head).cast::<u64>().read() };
        // Written by `put_with`, so inside the log; checked all the same, since the slice
        // below is made from it.
        let end = frame::end_of(head, len, h.tail.load(Relaxed))
            .filter(|_| usize::try_from(len).is_ok())
            .ok_or_else(|| {
                Error::Codec(format!(
                    "the frame at {head} of a queue's log claims {len} bytes, past the log's end"
                ))
            })?;
        // SAFETY: `head + HEADER + len <= end <= tail <= capacity` (just checked), the
        // frame is complete, and we hold the lock.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.at(head + frame::HEADER), len as usize) };
        // A panicking `Deserialize` (untrusted code) must not leave its frame at the head,
        // where every later get would panic on it again: consume it, then let the panic
        // go on to the caller.
        let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(bytes)));
        h.head.store(end, Relaxed);
        if h.count.fetch_sub(1, Relaxed) == 1 {
            // Empty: back to the start (`tail` first, see `make_room`), and give memory
            // back after a burst of large messages.
            h.tail.store(0, Relaxed);
            h.head.store(0, Relaxed);
            let cap = h.capacity.load(Relaxed);
            if cap > SHRINK_ABOVE {
                h.capacity.store(INLINE, Relaxed);
                self.slab.punch(self.slab.data_offset(self.index), cap);
                let _ = self.map_view(0);
            }
        }
        h.get_seq.fetch_add(1, Relaxed);
        let wake = h.putters.load(Relaxed) > 0;
        drop(guard);
        if wake {
            futex::wake(&h.get_seq, 1);
        }
        match msg {
            Ok(msg) => Ok(msg),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Repair the header after a process died holding the lock (lock held).
    fn recover(&self) {
        let h = self.h();
        let mut head = h.head.load(Relaxed);
        let mut tail = h.tail.load(Relaxed);
        let cap = h.capacity.load(Relaxed);
        if head > tail {
            // Died between the two stores of a reset or compaction: the copy was complete.
            head = 0;
        }
        tail = tail.min(cap);
        // Recount the complete frames; anything after the last one was never published.
        let (mut pos, mut count) = (head, 0u64);
        while frame::fits(pos, frame::HEADER, tail).is_some() {
            // SAFETY: `pos + HEADER <= tail <= capacity`: inside the log, lock held.
            let len = unsafe { self.at(pos).cast::<u64>().read() };
            let Some(next) = frame::end_of(pos, len, tail) else {
                break;
            };
            pos = next;
            count += 1;
        }
        h.head.store(head, Relaxed);
        h.tail.store(pos, Relaxed);
        h.count.store(count, Relaxed);
        h.put_seq.fetch_add(1, Relaxed);
        h.get_seq.fetch_add(1, Relaxed);
        futex::wake_all(&h.put_seq);
        futex::wake_all(&h.get_seq);
    }

    /// Messages in the queue now.
    pub(crate) fn len(&self) -> usize {
        self.h().count.load(Relaxed) as usize
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.h().maxsize as usize
    }

    /// No more puts from anyone; gets drain what is left, then report `Closed`.
    pub(crate) fn close(&self) {
        let h = self.h();
        let guard = self.lock();
        h.closed.store(1, Relaxed);
        h.put_seq.fetch_add(1, Relaxed);
        h.get_seq.fetch_add(1, Relaxed);
        drop(guard);
        futex::wake_all(&h.put_seq);
        futex::wake_all(&h.get_seq);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.h().closed.load(Relaxed) != 0
    }

    /// One item fully processed (`JoinableQueue.task_done`).
    pub(crate) fn task_done(&self) -> Result<()> {
        let h = self.h();
        let guard = self.lock();
        let left = h.unfinished.load(Relaxed);
        if left == 0 {
            return Err(Error::invalid(
                InvalidKind::OverReleased,
                "task_done() called more times than there were items put",
            ));
        }
        h.unfinished.store(left - 1, Relaxed);
        drop(guard);
        if left == 1 {
            futex::wake_all(&h.unfinished);
        }
        Ok(())
    }

    /// Wait until every item put has been marked done (`JoinableQueue.join`).
    pub(crate) fn join(&self, timeout: Option<Duration>) -> Result<()> {
        let h = self.h();
        let deadline = Deadline::from_timeout(timeout);
        loop {
            let left = h.unfinished.load(Relaxed);
            if left == 0 {
                return Ok(());
            }
            if futex::wait(&h.unfinished, left, deadline.as_ref()) == futex::Wake::TimedOut
                && h.unfinished.load(Relaxed) != 0
            {
                return Err(Error::Timeout);
            }
        }
    }

    /// Items put and not yet marked done.
    pub(crate) fn unfinished(&self) -> usize {
        self.h().unfinished.load(Relaxed) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::liars::{CountsOtherThanItWrites, PanicsOn13, WritesMoreThanItReads};
    use std::time::Duration;

    /// Two queues side by side in a slab of their own: whatever is done to the first, the
    /// second (its header right after the first's inline log) must come out intact.
    fn neighbours() -> (RawQueue, RawQueue) {
        let slab = Arc::new(Slab::new(crate::sys::atfork::forks()).unwrap());
        // SAFETY: slots 0 and 1 of a fresh slab, taken by nobody else.
        unsafe {
            (
                RawQueue::in_slot(slab.clone(), 0, 0),
                RawQueue::in_slot(slab, 1, 0),
            )
        }
    }

    fn intact(next: &RawQueue, big: &[u8]) {
        assert_eq!(next.len(), 2);
        assert_eq!(next.get_value::<u64>(None).unwrap(), 7);
        assert!(next.get_value::<Vec<u8>>(None).unwrap() == big);
    }

    #[test]
    fn a_length_beyond_any_queue_is_refused_before_anything_is_written() {
        let (q, next) = neighbours();
        let big = vec![5u8; 100_000];
        next.put_value(&7u64, None).unwrap();
        next.put_value(&big, None).unwrap();
        q.put_value(&1u64, None).unwrap();
        for len in [
            usize::MAX,
            usize::MAX - 7,
            usize::MAX - 15,
            (1 << 63) + 1,
            1 << 63,
            (1 << 62) + 1,
            WINDOW as usize,
        ] {
            let r = q.put_with(len, Some(Duration::ZERO), |_| {
                panic!("nothing may be written for a frame of {len} bytes")
            });
            assert_eq!(
                r.as_ref().err().and_then(Error::invalid_kind),
                Some(InvalidKind::Limit),
                "a frame of {len} bytes: {r:?}"
            );
        }
        // The same after the log has moved to the queue's range.
        q.put_value(&big, None).unwrap();
        let r = q.put_with(usize::MAX - 7, None, |_| panic!("nothing may be written"));
        assert_eq!(
            r.err().and_then(|e| e.invalid_kind()),
            Some(InvalidKind::Limit)
        );
        assert_eq!(q.len(), 2);
        assert_eq!(q.get_value::<u64>(None).unwrap(), 1);
        assert!(q.get_value::<Vec<u8>>(None).unwrap() == big);
        intact(&next, &big);
    }

    #[test]
    fn a_serialize_writing_other_than_it_counted_is_a_codec_error() {
        let (q, next) = neighbours();
        let big = vec![5u8; 100_000];
        next.put_value(&7u64, None).unwrap();
        next.put_value(&big, None).unwrap();
        // Inline, past the inline log, and once the log is in the queue's range.
        for (counted, written) in [
            (64, 8),
            (8, 64),
            (0, 1),
            (1, 0),
            (300, 1000),
            (1000, 300),
            (100, 100_000),
            (100_000, 100),
            (200_000, 199_999),
        ] {
            let r = q.put_value(&CountsOtherThanItWrites::new(counted, written), None);
            assert!(
                matches!(r, Err(Error::Codec(_))),
                "counted {counted} bytes, wrote {written}: {r:?}"
            );
            assert_eq!(q.len(), 0, "nothing published");
        }
        // An honest one is a frame of exactly what it wrote.
        for n in [0, 5, 1000, 100_000] {
            q.put_value(&CountsOtherThanItWrites::new(n, n), None)
                .unwrap();
            let back = q.get_with(None, <[u8]>::to_vec).unwrap();
            assert!(back == (0..n).map(|i| i as u8).collect::<Vec<_>>());
        }
        intact(&next, &big);
    }

    #[test]
    fn a_frame_holding_more_than_its_deserialize_reads_is_a_codec_error() {
        let q = RawQueue::create(0, false).unwrap();
        q.put_value(&WritesMoreThanItReads { a: 1, b: 2 }, None)
            .unwrap();
        q.put_value(&3u32, None).unwrap();
        let r = q.get_value::<WritesMoreThanItReads>(None);
        assert!(matches!(r, Err(Error::Codec(_))), "{r:?}");
        assert_eq!(q.len(), 1, "the refused frame is consumed");
        assert_eq!(q.get_value::<u32>(None).unwrap(), 3);
    }

    #[test]
    fn a_panicking_deserialize_consumes_its_item() {
        let q = RawQueue::create(0, false).unwrap();
        for n in [1, 13, 2, 3] {
            q.put_value(&PanicsOn13(n), None).unwrap();
        }
        assert_eq!(q.get_value::<PanicsOn13>(None).unwrap(), PanicsOn13(1));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            q.get_value::<PanicsOn13>(Some(Duration::ZERO))
        }));
        let payload = panicked.expect_err("the user's panic reaches the caller");
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(message.contains("13 does not decode"), "{message:?}");
        assert_eq!(q.len(), 2, "13 is consumed");
        // The lock was released: puts and gets go on.
        q.put_value(&PanicsOn13(4), None).unwrap();
        for n in [2, 3, 4] {
            let got = q.get_value::<PanicsOn13>(Some(Duration::ZERO)).unwrap();
            assert_eq!(got, PanicsOn13(n));
        }
        assert_eq!(q.len(), 0);
    }

    fn own_fd(q: &RawQueue) -> OwnedFd {
        q.memfd()
            .expect("an own queue")
            .try_clone_to_owned()
            .unwrap()
    }

    #[test]
    fn an_imported_own_queue_is_the_same_queue() {
        let q = RawQueue::create(0, true).unwrap();
        let there = RawQueue::import(own_fd(&q)).unwrap();
        // Past the inline log, so both sides map the data range.
        let big = vec![7u8; 100_000];
        q.put_value(&big, None).unwrap();
        q.put_value(&1u32, None).unwrap();
        assert_eq!(there.get_value::<Vec<u8>>(None).unwrap(), big);
        assert_eq!(there.get_value::<u32>(None).unwrap(), 1);
        assert!(
            q.get_value::<u32>(Some(Duration::ZERO)).is_err(),
            "taken once"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// Whatever a Serialize counts and writes, inline or in the queue's range: the item
        /// goes in whole or not at all, the queue's own items and its neighbour's are
        /// intact, and the queue works on.
        #[test]
        fn lying_sizes_never_write_outside_the_frame(
            before in proptest::collection::vec(0usize..70_000, 0..4),
            counted in 0usize..140_000,
            written in 0usize..140_000,
        ) {
            let (q, next) = neighbours();
            let big = vec![5u8; 100_000];
            next.put_value(&7u64, None).unwrap();
            next.put_value(&big, None).unwrap();
            for &n in &before {
                q.put_value(&vec![n as u8; n], None).unwrap();
            }
            let r = q.put_value(&CountsOtherThanItWrites::new(counted, written), None);
            proptest::prop_assert_eq!(r.is_ok(), counted == written, "{:?}", r);
            if let Err(e) = &r {
                proptest::prop_assert!(matches!(e, Error::Codec(_)), "{:?}", e);
            }
            q.put_value(&u64::MAX, None).unwrap();
            for &n in &before {
                proptest::prop_assert!(q.get_value::<Vec<u8>>(None).unwrap() == vec![n as u8; n]);
            }
            if r.is_ok() {
                let back = q.get_with(None, <[u8]>::to_vec).unwrap();
                proptest::prop_assert!(back.iter().enumerate().all(|(i, &b)| b == i as u8));
                proptest::prop_assert_eq!(back.len(), written);
            }
            proptest::prop_assert_eq!(q.get_value::<u64>(None).unwrap(), u64::MAX);
            proptest::prop_assert_eq!(q.len(), 0);
            intact(&next, &big);
        }

        /// Frames of random, truncated or oversized bytes: each get is a value or an error
        /// and consumes its frame; never a crash.
        #[test]
        fn bad_frames_decode_to_an_error_or_a_value_and_are_consumed(
            value in proptest::prelude::any::<(u16, String, Vec<u32>)>(),
            cut in proptest::prelude::any::<usize>(),
            extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..16),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            type T = (u16, String, Vec<u32>);
            let q = RawQueue::create(0, false).unwrap();
            let put = |bytes: &[u8]| {
                q.put_with(bytes.len(), None, |buf| {
                    buf.copy_from_slice(bytes);
                    Ok(())
                })
                .unwrap()
            };
            let bytes = crate::codec::encode(&value).unwrap();
            let mut long = bytes.clone();
            long.extend_from_slice(&extra);
            put(&bytes[..cut % bytes.len()]);
            put(&long);
            put(&noise);
            put(&bytes);
            proptest::prop_assert!(q.get_value::<T>(None).is_err(), "truncated");
            proptest::prop_assert!(q.get_value::<T>(None).is_err(), "oversized");
            let _ = q.get_value::<T>(None);
            proptest::prop_assert_eq!(q.get_value::<T>(None).unwrap(), value);
            proptest::prop_assert_eq!(q.len(), 0);
        }

        /// Any sequence with 13s among it: every item but the 13s comes out, in order; each
        /// 13 panics once, in the get that takes it.
        #[test]
        fn panicking_items_are_consumed_in_order(
            items in proptest::collection::vec(proptest::sample::select(vec![1u64, 2, 13, 1 << 40]), 0..20),
        ) {
            let q = RawQueue::create(0, false).unwrap();
            for &n in &items {
                q.put_value(&PanicsOn13(n), None).unwrap();
            }
            for &n in &items {
                let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    q.get_value::<PanicsOn13>(Some(Duration::ZERO))
                }));
                match got {
                    Ok(v) => proptest::prop_assert_eq!(v.unwrap(), PanicsOn13(n)),
                    Err(_) => proptest::prop_assert_eq!(n, 13),
                }
            }
            proptest::prop_assert_eq!(q.len(), 0);
        }
    }
}
