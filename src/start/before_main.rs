//! The crate's ELF constructor: a start server or served child takes its role here, before
//! `main` and before anything `main` (or `#[tokio::main]`'s expansion) would start.
//!
//! Every program that links the crate runs [`adopt_before_main`] once, from `.init_array`,
//! after the C library and std's own constructors (std records `argv` in `.init_array.00099`,
//! which sorts first) and before `main`. In an ordinary program `MULTIPROC_START` is unset:
//! it reads one environment variable and returns. In a process the crate started as its
//! start server or a spawned child (`MULTIPROC_START=server` or `child`, not secure-exec,
//! with the socket on descriptor 3 from its parent: [`super::role`] and
//! [`super::child::adopt`] check all three) it never returns: it serves, or runs its task,
//! and exits with `_exit`.
//!
//! What the role code uses works before `main` on Linux: the environment, `getauxval`,
//! descriptors, Unix sockets and `SCM_RIGHTS`, `/proc`, `poll`, `fork`, `exec`, `prctl`,
//! signals, the allocator, std's mutexes and `OnceLock`s, stderr and stdout (std's stdout is
//! set up on first use), panics caught with `catch_unwind`. The one thing std's start-up
//! would have done before `main` that matters to it is done here: `SIGPIPE` is ignored, as
//! in every Rust `main` (the start server's `Command` reset it to the default for its exec),
//! so a write to a closed socket or pipe is an `EPIPE` error, not a death. Nothing unwinds
//! out of the constructor: a task's panic is caught and reported, and every path ends in
//! `_exit`.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the constructor ran in this process (then [`super::init`] has no role to take:
/// the constructor took it, or there was none).
static RAN: AtomicBool = AtomicBool::new(false);

/// Whether [`adopt_before_main`] ran in this process.
pub(super) fn ran() -> bool {
    RAN.load(Ordering::Relaxed)
}

/// Take the role the environment names, if any; otherwise return at once.
extern "C" fn adopt_before_main() {
    RAN.store(true, Ordering::Relaxed);
    let Some(what) = super::role() else {
        return;
    };
    // SAFETY: SIG_IGN installs no handler code; std's start-up does the same before `main`.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    super::enable();
    super::child::adopt(&what)
}

#[cfg(target_os = "linux")]
#[used]
// SAFETY: `.init_array` is the ELF array of constructors: the C library's start-up calls
// each entry once, before `main`, on the main thread. The entry is an `extern "C" fn` with
// no parameters (the extra arguments glibc passes are ignored by the C calling convention),
// which never unwinds: `adopt_before_main` returns at once without a role, and with one it
// ends in `_exit` after catching the task's panic. It uses only what works before `main`
// (see the module docs). `#[used]` keeps the entry in the executable.
#[unsafe(link_section = ".init_array")]
static ADOPT_BEFORE_MAIN: extern "C" fn() = adopt_before_main;
