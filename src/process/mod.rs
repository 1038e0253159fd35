//! `Process`: Python's `multiprocessing.Process`, a closure run in a forked child.
//!
//! The child is a `fork` of the caller: it starts with a copy of the caller's memory, so the
//! closure can use anything it captured, and every shared primitive created *before*
//! `start` is shared with it. Python's `fork` start method behaves the same way.
//!
//! Differences from Python:
//! - The target is a Rust closure; its return value gives the exit code (`()` is 0, an
//!   `i32` is itself, `Err(e)` prints `e` and is 1). A panic prints its message on stderr
//!   and gives exit code 1, like an uncaught exception.
//! - Exit codes follow Python: the code returned, or `-N` when killed by signal `N`
//!   (`terminate` gives -15, `kill` -9).
//! - A child dies with its parent (`PR_SET_PDEATHSIG`), so a killed parent leaves no
//!   orphans. The signal is tied to the *thread* that called `start`: start processes from
//!   a thread that outlives them (normally the main thread).
//! - Dropping a started handle that was not joined waits for the child, like a non-daemon
//!   process at Python's exit, so no zombie is left. A daemon handle (`daemon(true)`), or any
//!   handle dropped while a panic unwinds, terminates the child instead.
//! - The child leaves with `_exit` after flushing stdout, on every path: destructors of the
//!   parent's state copied into it do not run twice, and it never returns into the
//!   parent's code (not even when a panic payload's own `Drop` panics).
//!
//! The rule `fork` imposes: the child of a multi-threaded program gets only the thread that
//! forked, and every lock another thread held at that moment (the allocator's, stdout's,
//! any `Mutex`) stays locked in the child for ever. So [`Process::start`] and
//! [`Process::spawn`] (and [`Pool::new`](crate::Pool::new)) refuse to fork while other
//! threads run, with [`Error::Threaded`]: join the threads first, or start processes and
//! pools before any thread. Python only warns here (since 3.12) and its child may deadlock.
//! [`Process::start_unchecked`] is the `unsafe` way for a caller who can prove the
//! precondition. The `forkserver` and `spawn` start methods ([`crate::start`]) work with threads.

#[allow(unsafe_code)]
mod fork;
mod identity;

pub(crate) use fork::{Target, ensure_single_threaded, fork_child, target};
pub use identity::{ProcessInfo, current_process, exit, parent_process};
pub(crate) use identity::{next_child, rename};

use crate::error::{Error, InvalidKind, Result};
use crate::popen::Popen;
use std::time::Duration;

/// What a child's closure may return; it becomes the exit code (Python: `sys.exit(x)`).
///
/// A closure that never returns (it loops for ever, or ends in [`exit`]) needs its return
/// type spelled out, `move || -> () { ... }`: Rust would otherwise infer `!`, which cannot
/// implement a trait on stable Rust.
pub trait ChildOutcome {
    /// The exit code this return value stands for: `()` is 0, an `i32` is itself, `Ok(t)` is
    /// `t`'s and `Err` is 1.
    fn into_exit_code(self) -> i32;
}

impl ChildOutcome for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

impl ChildOutcome for i32 {
    fn into_exit_code(self) -> i32 {
        self
    }
}

impl<T: ChildOutcome, E: std::fmt::Display> ChildOutcome for std::result::Result<T, E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(t) => t.into_exit_code(),
            Err(e) => {
                eprintln!("Process {}: error: {e}", current_process().name());
                1
            }
        }
    }
}

/// A closure to run in a child process (Python: `multiprocessing.Process`).
///
/// ```
/// use multiproc::{Process, current_process};
/// let mut p = Process::new(|| println!("hello from {}", current_process().name()))
///     .name("greeter"); // p = Process(target=f, name="greeter")
/// p.start().unwrap(); // p.start()
/// assert_eq!(p.join().unwrap(), 0); // p.join(); p.exitcode == 0
/// assert!(!p.is_alive()); // p.is_alive() == False
/// ```
pub struct Process {
    name: String,
    identity: Vec<u32>,
    daemon: bool,
    target: Option<Target>,
    /// The child once started.
    child: Option<Popen>,
}

impl Process {
    /// A process that will run `target` once started. Its default name follows Python:
    /// `Process-1`, `Process-2`, ... in the main process, `Process-1:1`, ... in a child.
    #[doc(alias = "target")]
    #[must_use = "a process runs nothing until `.start()`"]
    pub fn new<F, R>(target: F) -> Process
    where
        F: FnOnce() -> R + 'static,
        R: ChildOutcome,
    {
        let (name, identity) = next_child("Process");
        Process {
            name,
            identity,
            daemon: false,
            target: Some(self::target(move || target().into_exit_code())),
            child: None,
        }
    }

    /// Create and start in one step. An error, [`Error::Threaded`], if other threads run
    /// (see [`Process::start`]).
    #[doc(alias = "start")]
    pub fn spawn<F, R>(target: F) -> Result<Process>
    where
        F: FnOnce() -> R + 'static,
        R: ChildOutcome,
    {
        let mut p = Process::new(target);
        p.start()?;
        Ok(p)
    }

    /// Set the name (Python: `Process(name=...)`). The child also gets it as its OS-visible
    /// name (`/proc/<pid>/comm`, `ps`), cut to the kernel's 15 bytes.
    #[must_use = "a process runs nothing until `.start()`"]
    pub fn name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// A daemon is terminated, not waited for, when its handle is dropped
    /// (Python: `daemon=True`, terminated at exit).
    #[must_use = "a process runs nothing until `.start()`"]
    pub fn daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// The process's name (Python: `.name`).
    #[doc(alias = "name")]
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// The child's pid once started (Python: `.pid`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid().as_raw() as u32)
    }

    /// Fork the child and run the target in it (Python: `.start()`). The closure, and
    /// everything it captured, is dropped in the parent once the child exists: a `Pipe` end
    /// moved into it is closed here, as it should be.
    ///
    /// `fork` is only safe from a single-threaded program, so this fails with
    /// [`Error::Threaded`] (the closure kept, nothing forked) while other threads run: join
    /// them first, or start processes before starting threads. The check is one system
    /// call (`unshare(CLONE_VM)`, which succeeds only in a single-threaded process); where
    /// that is refused, it counts the entries of `/proc/self/task`, and is an `Error::Io` if
    /// it cannot read them.
    #[allow(unsafe_code)] // calls the unchecked fork entry point after its check
    pub fn start(&mut self) -> Result<()> {
        if self.target.is_none() {
            return Err(Error::invalid(
                InvalidKind::AlreadyStarted,
                "cannot start a process twice",
            ));
        }
        ensure_single_threaded()?;
        // SAFETY: this thread is the process's only one (checked just above), and only a
        // thread of this process could start another.
        unsafe { self.start_unchecked() }
    }

    /// [`Process::start`] without the check that this is the only thread.
    ///
    /// # Safety
    ///
    /// After `fork` the child runs only the thread that forked; a lock any other thread held
    /// at that moment stays locked in the child for ever. The caller must guarantee that
    /// no other thread of this process holds, or is taking, at the moment of the fork, any
    /// lock the child will take: the allocator's, stdout's and stderr's, the environment's,
    /// the panic hook's, this crate's process bookkeeping, and every lock the closure and
    /// the code it calls take. That is certain when no other thread runs (for example
    /// threads that exist but are known to be blocked outside any such lock); with threads
    /// that allocate or print, it is in general impossible to prove: use `start`.
    #[allow(unsafe_code)] // the unchecked fork entry point: its contract is the caller's
    pub unsafe fn start_unchecked(&mut self) -> Result<()> {
        let target = self.target.take().ok_or_else(|| {
            Error::invalid(InvalidKind::AlreadyStarted, "cannot start a process twice")
        })?;
        // SAFETY: the caller's promise above is `fork_child`'s precondition.
        let child = unsafe { fork_child(&self.name, &self.identity, target) }?;
        self.child = Some(Popen::forked(child));
        Ok(())
    }

    /// The started child's core, taken out of the handle (which then owns nothing), for
    /// a holder that needs no more of it: `None` if not started.
    pub(crate) fn into_popen(mut self) -> Option<Popen> {
        self.child.take()
    }

    /// The started child, or the error of a process not started yet.
    pub(crate) fn started(&mut self) -> Result<&mut Popen> {
        self.child.as_mut().ok_or_else(|| {
            Error::invalid(InvalidKind::NotStarted, "the process has not been started")
        })
    }

    /// A descriptor that becomes readable when the child ends (Python: `.sentinel`), to
    /// wait on beside connections and pipes with
    /// [`connection::wait`](crate::connection::wait): a pidfd of the child (its own
    /// descriptor, closed when dropped). It does not reap the child: `join` still gives
    /// the exit code. For a child already joined, it is readable at once. An error before
    /// `start`, in a process other than the one that started the child, or on a kernel
    /// without `pidfd_open` (Linux 5.3).
    pub fn sentinel(&self) -> Result<std::os::fd::OwnedFd> {
        self.child
            .as_ref()
            .ok_or_else(|| {
                Error::invalid(InvalidKind::NotStarted, "the process has not been started")
            })?
            .sentinel()
    }

    /// Wait for the child to end and return its exit code (Python: `.join()` then
    /// `.exitcode`).
    pub fn join(&mut self) -> Result<i32> {
        self.started()?.wait()
    }

    /// Wait at most `timeout`; `Ok(None)` if the child is still running then (Python:
    /// `.join(timeout)`, after which the child may still be alive).
    #[doc(alias = "join")]
    ///
    /// Any `timeout` is valid: one too long to end (`Duration::MAX`) waits as
    /// [`join`](Process::join) does.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>> {
        self.started()?.wait_timeout(timeout)
    }

    /// `None` while running, then the exit code (Python: `.exitcode`).
    pub fn exitcode(&mut self) -> Option<i32> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Started and not yet ended (Python: `.is_alive()`).
    pub fn is_alive(&mut self) -> bool {
        self.child.is_some() && self.exitcode().is_none()
    }

    /// Send SIGTERM (Python: `.terminate()`); exit code -15 unless the child handles it.
    pub fn terminate(&mut self) -> Result<()> {
        self.started()?.terminate()
    }

    /// Send SIGKILL (Python: `.kill()`); exit code -9.
    pub fn kill(&mut self) -> Result<()> {
        self.started()?.kill()
    }
}

/// Start every process, in order (Python: `for p in processes: p.start()`).
pub fn start_all(processes: &mut [Process]) -> Result<()> {
    processes.iter_mut().try_for_each(Process::start)
}

/// Join every process, in order, then report the first that did not exit with 0, by name
/// (Python: `for p in processes: p.join()`, then a look at each `exitcode`). All are joined
/// even when one failed, so none is left running.
///
/// ```
/// use multiproc::{Process, join_all, start_all};
/// let mut ps: Vec<Process> = (0..3)
///     .map(|i| Process::new(move || i).name(format!("worker-{i}"))) // exit code i
///     .collect();
/// start_all(&mut ps).unwrap(); // for p in ps: p.start()
/// let err = join_all(&mut ps).unwrap_err(); // for p in ps: p.join()
/// assert!(err.to_string().contains("worker-1")); // names the first that failed
/// assert!(ps.iter_mut().all(|p| !p.is_alive())); // every one was joined
/// ```
pub fn join_all(processes: &mut [Process]) -> Result<()> {
    let mut failure = None;
    for p in processes.iter_mut() {
        let code = p.join()?;
        if code != 0 && failure.is_none() {
            failure = Some(format!("{} exited with {code}", p.get_name()));
        }
    }
    failure.map_or(Ok(()), |f| Err(Error::invalid(InvalidKind::ChildFailed, f)))
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.as_ref().is_none_or(|c| c.code().is_some()) {
            return;
        }
        if self.daemon || std::thread::panicking() {
            let _ = self.terminate();
            if let Ok(Some(_)) = self.join_timeout(Duration::from_secs(1)) {
                return;
            }
            let _ = self.kill();
        }
        let _ = self.join();
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exitcode", &self.child.as_ref().and_then(Popen::code))
            .finish()
    }
}
