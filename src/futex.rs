//! Process-shared futex waits and wakes on a 32-bit word in shared memory.
//!
//! Every blocking primitive here (Event, Semaphore, Barrier, Condition, Queue) sleeps on a
//! futex rather than a `pthread_cond_t`: a process killed while waiting simply disappears
//! from the kernel's wait queue, so it can never absorb a wake-up meant for a live process,
//! and a word in shared memory needs no destruction.
//!
//! The calls are rustix's safe wrappers of `futex(2)`. No `FUTEX_PRIVATE_FLAG`
//! (`Flags::PRIVATE`): the word lives in a MAP_SHARED mapping used by several processes.

use crate::deadline::Deadline;
use rustix::io::Errno;
use rustix::thread::futex::{self, Flags};
use std::num::NonZeroU32;
use std::sync::atomic::AtomicU32;

/// Why [`wait`] returned. Callers always re-check their condition: a futex may also wake
/// spuriously.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, interrupted, or the word no longer held `expected`.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Sleep while `*word == expected`, until woken or `deadline` (absolute, CLOCK_MONOTONIC).
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<&Deadline>) -> Wake {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (plain FUTEX_WAIT a
    // relative one).
    let all = NonZeroU32::MAX; // FUTEX_BITSET_MATCH_ANY
    match futex::wait_bitset(
        word,
        Flags::empty(),
        expected,
        deadline.map(Deadline::as_timespec),
        all,
    ) {
        Err(Errno::TIMEDOUT) => Wake::TimedOut,
        _ => Wake::Woken,
    }
}

/// Wake up to `n` processes sleeping on `word`.
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, Flags::empty(), n.min(i32::MAX as u32));
}

/// Wake every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    wake(word, i32::MAX as u32)
}
