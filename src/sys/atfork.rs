//! Counting forks: what a process needs to know about the forks since an object was made.
//!
//! One `pthread_atfork` registration for the crate (registered on first use, checked):
//! - [`forks`] counts every fork in the parent *and* the child: an object made in an
//!   earlier count may be shared with another process (a queue slab is then never
//!   recycled);
//! - [`child_epoch`] counts only the forks that made this process: something that belongs
//!   to the process that created it (a claim, a held lock's guard) compares the epoch it
//!   was made in with the current one, and in a fork's copy of it, they differ.
//!
//! Forks that bypass `fork(3)` (a raw `clone` system call) run no atfork handler; nothing
//! in this crate forks that way, and `posix_spawn` and `vfork` run `exec` at once.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

static FORKS: AtomicU64 = AtomicU64::new(0);
static CHILD_EPOCH: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_parent() {
    FORKS.fetch_add(1, SeqCst);
}

extern "C" fn in_child() {
    FORKS.fetch_add(1, SeqCst);
    CHILD_EPOCH.fetch_add(1, SeqCst);
}

fn watch() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: both handlers only add to atomics, which is async-signal-safe, as a
        // handler run in the child of a multi-threaded fork must be.
        let rc = unsafe { libc::pthread_atfork(None, Some(in_parent), Some(in_child)) };
        assert_eq!(rc, 0, "pthread_atfork failed (out of memory)");
    });
}

/// Forks seen by this process, as parent or as child, since the counting began (on the
/// first call of either function).
pub(crate) fn forks() -> u64 {
    watch();
    FORKS.load(SeqCst)
}

/// The forks that made this process, counted since the counting began: the same value in
/// a process until it is a fork's child, where it is one more than in its parent.
pub(crate) fn child_epoch() -> u64 {
    watch();
    CHILD_EPOCH.load(SeqCst)
}
