//! The shared message buffer under every queue: a byte log in a memfd, mapped at the same
//! address in every process, with a robust mutex and futex words in a shared header.
//!
//! Why not a pipe, as Python uses: a pipe holds 64 KiB, so Python runs a feeder thread per
//! process to push items into it, and a process that has put more than the pipe holds
//! cannot exit until someone reads (the "joining processes that use queues" deadlock). Here
//! `put` copies the message into shared memory and returns: the buffer grows as needed (the
//! memfd is extended with `ftruncate`; every process already maps a 32 GiB window of it, so
//! nobody re-maps), and a process can exit the moment `put` returns.
//!
//! Layout of the log: frames `[u64 length][bytes, padded to 8]` between `head` and `tail`.
//! `get` takes the frame at `head`; when the log empties both go back to 0, and when the
//! free space is at the front the live frames are copied down (only when the copy cannot
//! overlap, so a process killed mid-copy destroys nothing).
//!
//! Robustness: the header's fields change only under the robust mutex, in an order that
//! leaves a recognisable state at every step. A process killed while holding the lock is
//! detected by the next one to lock it, which repairs the header ([`RawQueue::recover`]):
//! no item is lost or delivered twice because of a death inside the queue.

use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::futex;
use crate::raw_mutex::{Acquired, RawGuard, RawMutex};
use crate::shm::{SharedState, Shm, Zeroed};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Virtual address space reserved per queue: the most its unread messages may occupy.
const WINDOW: u64 = 32 << 30;
/// Bytes the memfd starts with, and returns to when the log empties after growing large.
const INITIAL: u64 = 64 << 10;
/// An empty buffer bigger than this gives its memory back (down to `INITIAL`); below it,
/// the pages stay, so a stream of large messages does not fault them in again each time.
const SHRINK_ABOVE: u64 = 64 << 20;
const FRAME_HEADER: u64 = 8;

fn frame_len(payload: usize) -> u64 {
    FRAME_HEADER + (payload as u64).next_multiple_of(8)
}

#[repr(C)]
struct Header {
    lock: RawMutex,
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
}

// SAFETY: a `RawMutex` (`Zeroed`), a `u64` and atomics; zero is an empty, open log, and
// `new` sets `capacity` and `maxsize` before any handle exists.
unsafe impl Zeroed for Header {}

impl SharedState for Header {
    fn held_here(&self) -> bool {
        self.lock.held_in_this_process()
    }
}

/// A many-producer, many-consumer queue of byte messages shared by forked processes.
pub(crate) struct RawQueue {
    header: Shm<Header>,
    memfd: OwnedFd,
    data: NonNull<u8>,
}

// SAFETY: all shared state is behind the robust mutex or atomic.
unsafe impl Send for RawQueue {}
// SAFETY: as for `Send`: every access through `&RawQueue` takes the lock or is atomic.
unsafe impl Sync for RawQueue {}

impl Drop for RawQueue {
    fn drop(&mut self) {
        // SAFETY: the window was mapped by `new` and is unmapped only here.
        let _ = unsafe { nix::sys::mman::munmap(self.data.cast(), WINDOW as usize) };
    }
}

impl RawQueue {
    /// `maxsize == 0` means unbounded.
    ///
    /// # Panics
    /// When the kernel refuses the memfd or the mapping (out of memory or file descriptors).
    pub(crate) fn new(maxsize: usize) -> RawQueue {
        let memfd = nix::sys::memfd::memfd_create(
            c"multiproc-queue",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )
        .unwrap_or_else(|e| panic!("cannot create a queue (memfd_create): {e}"));
        nix::unistd::ftruncate(&memfd, INITIAL as i64)
            .unwrap_or_else(|e| panic!("cannot size a queue's memfd: {e}"));
        // SAFETY: a fresh shared mapping of our own memfd. Bytes past the file's end are
        // never touched: `capacity` never exceeds the file size.
        let data = unsafe {
            nix::sys::mman::mmap(
                None,
                NonZeroUsize::new(WINDOW as usize).expect("non-zero"),
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED | nix::sys::mman::MapFlags::MAP_NORESERVE,
                memfd.as_fd(),
                0,
            )
        }
        .unwrap_or_else(|e| panic!("cannot map a queue's buffer: {e}"))
        .cast::<u8>();
        let header = Shm::new(|h: &mut Header| {
            h.lock.init();
            *h.capacity.get_mut() = INITIAL;
            h.maxsize = maxsize as u64;
        });
        RawQueue {
            header,
            memfd,
            data,
        }
    }

    fn h(&self) -> &Header {
        self.header.get()
    }

    fn at(&self, offset: u64) -> *mut u8 {
        // SAFETY: callers stay below `capacity` <= WINDOW.
        unsafe { self.data.as_ptr().add(offset as usize) }
    }

    /// Take the lock, repairing the header if its last holder died.
    fn lock(&self) -> RawGuard<'_> {
        let (guard, how) = self.h().lock.guard();
        if how == Acquired::OwnerDied {
            self.recover();
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
    /// (no intermediate copy). If `write` fails, nothing is published. `timeout`: `None`
    /// blocks while full, `Some(ZERO)` never blocks.
    pub(crate) fn put_with(
        &self,
        len: usize,
        timeout: Option<Duration>,
        write: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
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
        let need = frame_len(len);
        self.make_room(need)?;
        let tail = h.tail.load(Relaxed);
        // SAFETY: `make_room` guaranteed `tail + need <= capacity`; we hold the lock, and
        // nobody reads past `tail`.
        unsafe {
            self.at(tail).cast::<u64>().write(len as u64);
            write(std::slice::from_raw_parts_mut(
                self.at(tail + FRAME_HEADER),
                len,
            ))?;
        }
        // The frame is complete before it becomes visible through `tail`.
        h.tail.store(tail + need, Relaxed);
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

    /// Make `tail + need <= capacity`, compacting or growing the log. Lock held.
    fn make_room(&self, need: u64) -> Result<()> {
        let h = self.h();
        let (head, tail, cap) = (
            h.head.load(Relaxed),
            h.tail.load(Relaxed),
            h.capacity.load(Relaxed),
        );
        if tail + need <= cap {
            return Ok(());
        }
        let live = tail - head;
        if head > live && live + need <= cap {
            // Non-overlapping copy to the front; `tail` first, so a death between the two
            // stores leaves `head > tail`, which `recover` reads as "copy done".
            // SAFETY: both ranges are inside the log and disjoint (`head > live`).
            unsafe { std::ptr::copy_nonoverlapping(self.at(head), self.at(0), live as usize) };
            h.tail.store(live, Relaxed);
            h.head.store(0, Relaxed);
            return Ok(());
        }
        let new_cap = (tail + need).next_power_of_two().max(cap * 2);
        if new_cap > WINDOW {
            return Err(Error::Invalid(format!(
                "queue full: {} bytes of unread messages plus {need} more exceed its {} GiB window",
                live,
                WINDOW >> 30
            )));
        }
        // Grow the file first: `capacity` never exceeds the file's size.
        nix::unistd::ftruncate(&self.memfd, new_cap as i64)?;
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
        let head = h.head.load(Relaxed);
        // SAFETY: `count > 0`, so a complete frame starts at `head`; we hold the lock.
        let bytes = unsafe {
            let len = self.at(head).cast::<u64>().read() as usize;
            std::slice::from_raw_parts(self.at(head + FRAME_HEADER), len)
        };
        let len = bytes.len();
        let msg = read(bytes);
        h.head.store(head + frame_len(len), Relaxed);
        if h.count.fetch_sub(1, Relaxed) == 1 {
            // Empty: back to the start (`tail` first, see `make_room`), and give memory
            // back after a burst of large messages.
            h.tail.store(0, Relaxed);
            h.head.store(0, Relaxed);
            if h.capacity.load(Relaxed) > SHRINK_ABOVE {
                h.capacity.store(INITIAL, Relaxed);
                let _ = nix::unistd::ftruncate(&self.memfd, INITIAL as i64);
            }
        }
        h.get_seq.fetch_add(1, Relaxed);
        let wake = h.putters.load(Relaxed) > 0;
        drop(guard);
        if wake {
            futex::wake(&h.get_seq, 1);
        }
        Ok(msg)
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
        while pos + FRAME_HEADER <= tail {
            // SAFETY: inside the log, lock held.
            let len = unsafe { self.at(pos).cast::<u64>().read() };
            let next = pos.saturating_add(frame_len(len.min(WINDOW) as usize));
            if next > tail {
                break;
            }
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
            return Err(Error::Invalid(
                "task_done() called more times than there were items put".into(),
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
