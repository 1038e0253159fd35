//! Process-shared futex waits and wakes on a 32-bit word in shared memory.
//!
//! Every blocking primitive here (Event, Semaphore, Barrier, Condition, Queue) sleeps on a
//! futex rather than a `pthread_cond_t`: a process killed while waiting simply disappears
//! from the kernel's wait queue, so it can never absorb a wake-up meant for a live process,
//! and a word in shared memory needs no destruction.

use crate::deadline::Deadline;
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
    let ts = deadline.map_or(std::ptr::null(), |d| {
        d.as_timespec() as *const libc::timespec
    });
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. No FUTEX_PRIVATE_FLAG:
    // the word lives in a MAP_SHARED mapping used by several processes.
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Wake::TimedOut
    } else {
        Wake::Woken
    }
}

/// Wake up to `n` processes sleeping on `word`.
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: as in `wait`.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// Wake every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    wake(word, i32::MAX as u32)
}
