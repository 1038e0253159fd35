//! `Occupancy`: how many processes are inside a section of code right now, and the most
//! that ever were at once.

use crate::error::{Error, InvalidKind, Result};
use crate::shm::{SharedState, Shm, Zeroed};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

#[repr(C)]
struct OccupancyShm {
    inside: AtomicU32,
    peak: AtomicU32,
    entries: AtomicU64,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: three atomics; zero is nobody inside, peak 0, no entries.
unsafe impl Zeroed for OccupancyShm {}

impl SharedState for OccupancyShm {}

/// `Occupancy`: how many processes are inside a section of code right now, and the most
/// that ever were at once.
///
/// Only with the cargo feature `instruments` (off by default; the examples turn it on).
/// Not a Python name: it is the tape measure examples and tests put around a critical
/// section to *show* what a `Lock` or a `Semaphore` guarantees (peak 1 under a lock, at most
/// `N` under `Semaphore(N)`). Python programs do it with a `Value` and its lock, in two
/// locked steps; this is lock-free (one `fetch_add` and one `fetch_max` on words in shared
/// memory), so measuring does not itself serialise the processes it measures.
///
/// A process that dies inside the section never leaves it. Whoever learns of the death (for
/// example through [`OwnerDied`](crate::OwnerDied) from the lock that guards the section)
/// takes it out with [`Occupancy::leave`].
///
/// A count of the processes inside a section, with its peak. Clones share it; create it
/// before forking.
///
/// ```
/// # use multiproc::{Occupancy, Process, Semaphore};
/// let (sem, occupancy) = (Semaphore::new(2).unwrap(), Occupancy::new());
/// let (s, o) = (sem.clone(), occupancy.clone());
/// let mut p = Process::spawn(move || {
///     let _permit = s.acquire();
///     let me = o.enter();
///     println!("{} of 2 slots in use", me.count());
/// })
/// .unwrap();
/// assert_eq!(p.join().unwrap(), 0);
/// assert_eq!((occupancy.entries(), occupancy.current()), (1, 0)); // came in once, left
/// assert!(occupancy.peak() <= 2);
/// ```
#[derive(Clone)]
pub struct Occupancy {
    shm: Arc<Shm<OccupancyShm>>,
}

/// One process inside an [`Occupancy`]; it leaves when this is dropped.
pub struct Occupant<'a> {
    occupancy: &'a Occupancy,
    count: u32,
}

impl Occupancy {
    /// Nobody inside yet, peak 0.
    pub fn new() -> Occupancy {
        Occupancy {
            shm: Arc::new(Shm::new(|_| {})),
        }
    }

    fn s(&self) -> &OccupancyShm {
        self.shm.get()
    }

    /// Count the caller in, raising the peak if needed; it is counted out when the
    /// returned [`Occupant`] is dropped.
    pub fn enter(&self) -> Occupant<'_> {
        let s = self.s();
        let count = s.inside.fetch_add(1, SeqCst) + 1;
        s.peak.fetch_max(count, SeqCst);
        s.entries.fetch_add(1, SeqCst);
        Occupant {
            occupancy: self,
            count,
        }
    }

    /// Count one process out without its [`Occupant`]: for a process that died inside.
    /// An error if nobody is inside.
    pub fn leave(&self) -> Result<()> {
        self.s()
            .inside
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| Error::invalid(InvalidKind::OverReleased, "nobody is inside to leave"))
    }

    /// How many are inside now.
    pub fn current(&self) -> u32 {
        self.s().inside.load(SeqCst)
    }

    /// The most that were ever inside at once.
    pub fn peak(&self) -> u32 {
        self.s().peak.load(SeqCst)
    }

    /// How many times anyone entered.
    pub fn entries(&self) -> u64 {
        self.s().entries.load(SeqCst)
    }
}

impl Occupant<'_> {
    /// How many were inside, this process included, right after it entered.
    pub fn count(&self) -> u32 {
        self.count
    }
}

impl Drop for Occupant<'_> {
    fn drop(&mut self) {
        // Entered, so the count is at least 1 unless `leave` was misused for a live one.
        let _ = self.occupancy.leave();
    }
}

impl Default for Occupancy {
    fn default() -> Self {
        Occupancy::new()
    }
}

impl fmt::Debug for Occupancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Occupancy")
            .field("current", &self.current())
            .field("peak", &self.peak())
            .field("entries", &self.entries())
            .finish()
    }
}

impl fmt::Debug for Occupant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Occupant")
            .field("count", &self.count)
            .finish()
    }
}
