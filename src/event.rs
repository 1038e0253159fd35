//! `Event`: Python's `multiprocessing.Event`, a flag processes can set, clear and wait for.

use crate::deadline::Deadline;
use crate::futex;
use crate::handle::Handle;
use crate::shm::{SharedState, Shm, Zeroed};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

#[repr(C)]
struct EventShm {
    flag: AtomicU32,
    generation: AtomicU32,
    sleepers: AtomicU32,
}

#[allow(unsafe_code)] // `Zeroed` is a promise about the type's bytes (see shm.rs), made once here
// SAFETY: three atomics; zero is an unset event with no sleepers.
unsafe impl Zeroed for EventShm {}

impl SharedState for EventShm {}

/// `Event`: Python's `multiprocessing.Event`, a flag processes can set, clear and wait for.
///
/// Built on two words in shared memory and a futex, with no lock at all, so a process that
/// dies at any point cannot leave it stuck. `set` bumps a generation counter as well as the
/// flag: a waiter that was asleep when the event was set returns `true` even if somebody
/// cleared it again before the waiter ran (Python behaves the same).
///
/// Difference from Python: `wait` takes no timeout and returns nothing; `wait_timeout`
/// returns whether the event was set. Python needs a `Manager().Event()` to hand an event to
/// `Pool` workers; this one can be passed as it is.
///
/// A process-shared flag with waiting. Clones share it; create it before forking.
/// (Python: `multiprocessing.Event`.)
///
/// ```
/// use multiproc::{Event, Process};
/// use std::time::Duration;
/// let event = Event::new(); // event = Event()
/// let e = event.clone();
/// let mut p = Process::spawn(move || e.set()).unwrap(); // Process(target=event.set).start()
/// event.wait(); // event.wait()
/// assert!(event.is_set()); // event.is_set()
/// assert_eq!(p.join().unwrap(), 0);
/// event.clear(); // event.clear()
/// assert!(!event.wait_timeout(Duration::from_millis(10))); // event.wait(0.01) == False
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Event {
    shm: Handle<Shm<EventShm>, Event>,
}

impl Event {
    /// A new, unset event (Python: `Event()`).
    pub fn new() -> Event {
        Event {
            shm: Handle::new(Shm::new(|_| {})),
        }
    }

    fn s(&self) -> &EventShm {
        self.shm.get()
    }

    /// Set the flag and wake every waiter (Python: `set()`).
    pub fn set(&self) {
        let s = self.s();
        s.flag.store(1, SeqCst);
        s.generation.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            futex::wake_all(&s.generation);
        }
    }

    /// Reset the flag (Python: `clear()`).
    pub fn clear(&self) {
        self.s().flag.store(0, SeqCst);
    }

    /// Python: `is_set()`.
    pub fn is_set(&self) -> bool {
        self.s().flag.load(SeqCst) != 0
    }

    /// Block until the event is set (Python: `wait()`).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Block at most `timeout`; whether the event was set (Python: `wait(timeout)`).
    #[doc(alias = "wait")]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout))
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> bool {
        let s = self.s();
        loop {
            let seen = s.generation.load(SeqCst);
            if self.is_set() {
                return true;
            }
            if deadline.as_ref().is_some_and(Deadline::expired) {
                return false;
            }
            // `set` bumps the generation before reading `sleepers`, and we count ourselves
            // before the kernel compares the generation: one of us always sees the other.
            s.sleepers.fetch_add(1, SeqCst);
            let woke = futex::wait(&s.generation, seen, deadline.as_ref());
            s.sleepers.fetch_sub(1, SeqCst);
            if s.generation.load(SeqCst) != seen {
                return true;
            }
            if woke == futex::Wake::TimedOut {
                return self.is_set();
            }
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
