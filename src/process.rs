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

use crate::error::{Error, InvalidKind, Result};
use crate::popen::Popen;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid, fork, getppid};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
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

/// Who this process is: name, identity (for default names), parent.
struct Me {
    name: String,
    identity: Vec<u32>,
    counter: u32,
    parent: Option<ProcessInfo>,
}

static ME: Mutex<Option<Me>> = Mutex::new(None);

fn with_me<R>(f: impl FnOnce(&mut Me) -> R) -> R {
    let mut guard = ME.lock().unwrap_or_else(|e| e.into_inner());
    let me = guard.get_or_insert_with(|| Me {
        name: "MainProcess".to_string(),
        identity: Vec::new(),
        counter: 0,
        parent: None,
    });
    f(me)
}

/// A process's name and pid (Python: the object `current_process()` and
/// `parent_process()` return).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    name: String,
    pid: u32,
}

impl ProcessInfo {
    /// Python: `.name` (`"MainProcess"` in the main process).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Python: `.pid`.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// The next child's default name and identity, Python's way: `<kind>-1`, `<kind>-2`, ...
/// in the main process, `<kind>-1:1`, ... in a child.
pub(crate) fn next_child(kind: &str) -> (String, Vec<u32>) {
    let identity = with_me(|me| {
        me.counter += 1;
        let mut id = me.identity.clone();
        id.push(me.counter);
        id
    });
    let digits: Vec<String> = identity.iter().map(u32::to_string).collect();
    (format!("{kind}-{}", digits.join(":")), identity)
}

/// Rename this process (a forkserver or spawn child, a served pool's server): what
/// [`current_process`] says, and the OS's name for it; `parent`: who asked for it.
pub(crate) fn rename(name: &str, parent: Option<(String, u32)>) {
    with_me(|me| {
        me.name = name.to_string();
        if let Some((name, pid)) = parent {
            me.parent = Some(ProcessInfo { name, pid });
        }
    });
    if let Some(os_name) = os_name(name) {
        let _ = nix::sys::prctl::set_name(&os_name);
    }
}

/// The calling process (Python: `multiprocessing.current_process()`).
///
/// ```
/// use multiproc::{Process, current_process, parent_process};
/// assert_eq!(current_process().name(), "MainProcess"); // current_process().name
/// assert!(parent_process().is_none()); // parent_process() is None
/// let me = std::process::id(); // os.getpid()
/// let mut p = Process::new(move || {
///     assert_eq!(current_process().name(), "child");
///     assert_eq!(parent_process().unwrap().pid(), me); // parent_process().pid
/// })
/// .name("child");
/// p.start().unwrap();
/// assert_eq!(p.join().unwrap(), 0); // the child's asserts held
/// ```
pub fn current_process() -> ProcessInfo {
    ProcessInfo {
        name: with_me(|me| me.name.clone()),
        pid: std::process::id(),
    }
}

/// The process that started this one, `None` in the main process
/// (Python: `multiprocessing.parent_process()`).
pub fn parent_process() -> Option<ProcessInfo> {
    with_me(|me| me.parent.clone())
}

/// Leave the current process with `code` (Python: `sys.exit(code)`). In a child started by
/// [`Process`], stdout is flushed and the process ends at once; in the main process this is
/// `std::process::exit`.
///
/// ```
/// use multiproc::{Process, exit};
/// let mut p = Process::spawn(|| -> () { exit(3) }).unwrap(); // def f(): sys.exit(3)
/// assert_eq!(p.join().unwrap(), 3); // p.exitcode == 3
/// ```
#[doc(alias("sys.exit", "_exit"))]
pub fn exit(code: i32) -> ! {
    if parent_process().is_some() {
        let _ = std::io::stdout().flush();
        // SAFETY: ends this process; no Rust state outlives it.
        unsafe { libc::_exit(code) }
    }
    std::process::exit(code)
}

/// A child's body, run once. The parent drops it (and what it captured) after `fork`; the
/// child runs it from a bitwise copy and never touches the box again (see `fork_child`), so
/// running it writes nothing to the heap pages the child shares with the parent.
pub(crate) struct Target(Box<dyn Body>);

trait Body {
    /// Run the body from a bitwise copy of it.
    ///
    /// # Safety
    ///
    /// At most once, and the caller never uses nor drops `self` afterwards (the original
    /// and the copy would both own what the body captured).
    unsafe fn run_copy(&self) -> i32;
}

struct Once<F>(F);

impl<F: FnOnce() -> i32> Body for Once<F> {
    unsafe fn run_copy(&self) -> i32 {
        // SAFETY: the caller runs this at most once and never uses or drops `self` again,
        // so the copy is the only owner of the body from here on.
        let f = unsafe { std::ptr::read(&self.0) };
        f()
    }
}

/// Box a one-shot body as a [`Target`].
pub(crate) fn target(f: impl FnOnce() -> i32 + 'static) -> Target {
    Target(Box::new(Once(f)))
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
    pub unsafe fn start_unchecked(&mut self) -> Result<()> {
        let target = self.target.take().ok_or_else(|| {
            Error::invalid(InvalidKind::AlreadyStarted, "cannot start a process twice")
        })?;
        // SAFETY: the caller's promise above is `fork_child`'s precondition.
        let child = unsafe { fork_child(&self.name, &self.identity, target) }?;
        self.child = Some(Popen::forked(child));
        Ok(())
    }

    /// The started child, or the error of a process not started yet.
    pub(crate) fn started(&mut self) -> Result<&mut Popen> {
        self.child.as_mut().ok_or_else(|| {
            Error::invalid(InvalidKind::NotStarted, "the process has not been started")
        })
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

/// The number of threads of this process: the entries of `/proc/self/task`, read with
/// `getdents64` into a stack buffer (no allocation).
fn thread_count() -> std::io::Result<usize> {
    use rustix::fs::{Mode, OFlags, RawDir};
    let dir = rustix::fs::open(
        "/proc/self/task",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(&dir, &mut buf);
    let mut count = 0;
    while let Some(entry) = entries.next() {
        // Thread ids are digits; skip "." and "..".
        if !entry?.file_name().to_bytes().starts_with(b".") {
            count += 1;
        }
    }
    Ok(count)
}

/// `Ok` when this thread is the process's only one, else [`Error::Threaded`].
pub(crate) fn ensure_single_threaded() -> Result<()> {
    // unshare(CLONE_VM) succeeds, and then changes nothing, exactly when no other thread or
    // process shares this address space (unshare(2)): fork's precondition, checked by the
    // kernel in one system call, under a microsecond. It fails with EINVAL otherwise, and
    // EPERM where a seccomp filter forbids unshare: then count the threads, which is slower
    // (about 5 µs) but names their number in the error.
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_VM).is_ok() {
        return Ok(());
    }
    let mut looks = 0;
    loop {
        let threads = thread_count().map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!(
                    "cannot count this process's threads in /proc/self/task ({e}), and fork is \
                     only safe from a single thread"
                ),
            ))
        })?;
        if threads <= 1 {
            return Ok(());
        }
        // `join` returns once the kernel has cleared the thread's id, a moment before the
        // thread leaves the task list; by then it runs no more code. Look again a few
        // times (about 30 ms in all) before refusing, so a thread just joined is not
        // counted.
        if looks == 8 {
            return Err(Error::Threaded { threads });
        }
        if looks < 3 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1 << (looks - 3)));
        }
        looks += 1;
    }
}

/// Ends the child with `_exit(1)` if anything unwinds out of its bootstrap, so nothing can
/// return into the parent's code.
struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        // SAFETY: ends this (child) process at once, running nothing of the parent's.
        unsafe { libc::_exit(1) }
    }
}

/// Fork a child that runs `target` under the child bootstrap (dies with its parent, OS
/// name, identity, panic banner, stdout flushed, `_exit` with the target's code). The
/// parent gets the pid; its copy of `target` is dropped.
///
/// Everything the child needs is prepared here, before `fork`: in the child, every write
/// to a page it shares with the parent costs a copy-on-write fault, so the child neither
/// allocates nor frees on its way to the target.
///
/// The child ends with `_exit` on every path: the target's panic is caught and its payload
/// leaked (dropping it runs user code, which may panic again), and a guard `_exit`s if
/// anything else unwinds. A panic inside the panic hook aborts, which ends the child too.
///
/// # Safety
///
/// No other thread of this process may hold, or be taking, a lock the child will need
/// (see [`Process::start_unchecked`]); certain when the caller is the only thread.
pub(crate) unsafe fn fork_child(name: &str, identity: &[u32], target: Target) -> Result<Pid> {
    // A start server or served child (and their forks) never forks beside a thread, whatever
    // its caller promised: the program was re-executed up to `start::init`, and whatever
    // threads it had started by then run here too.
    if crate::start::is_served() {
        ensure_single_threaded()?;
    }
    install_panic_banner();
    let me = Me {
        name: name.to_string(),
        identity: identity.to_vec(),
        counter: 0,
        parent: Some(current_process()),
    };
    let parent_pid = std::process::id();
    let os_name = os_name(name);
    // Anything buffered now would be written twice, once by each process.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the child only runs the bootstrap below, which never returns; the caller
    // guarantees no other thread holds a lock the child needs.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // Never dropped here: the body runs from a copy (`Target::run_copy`).
            let target = std::mem::ManuallyDrop::new(target);
            // Nothing unwinds past this frame into the parent's code.
            let _exit_on_unwind = ExitOnUnwind;
            // Die with the parent; if it is already gone, do not run at all.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if getppid().as_raw() as u32 != parent_pid {
                // SAFETY: ends the process.
                unsafe { libc::_exit(1) }
            }
            if let Some(os_name) = &os_name {
                let _ = nix::sys::prctl::set_name(os_name);
            }
            // The start server's life is its owner's, not its forks'.
            crate::start::close_inherited_control();
            {
                let mut guard = ME.lock().unwrap_or_else(|e| e.into_inner());
                // The parent's identity stays allocated: freeing it would only dirty pages.
                std::mem::forget(guard.replace(me));
            }
            // SAFETY: run once; `target` is in a `ManuallyDrop` and not used again.
            let code = match catch_unwind(AssertUnwindSafe(|| unsafe { target.0.run_copy() })) {
                Ok(code) => code,
                Err(payload) => {
                    // Its `Drop` is user code and may panic again: leak it, as the process
                    // ends now anyway.
                    std::mem::forget(payload);
                    1
                }
            };
            let _ = std::io::stdout().flush();
            // SAFETY: ends the child without running the parent's destructors or atexit
            // handlers (nor freeing the target).
            unsafe { libc::_exit(code) }
        }
    }
}

/// Python prints "Process <name>:" above a child's traceback; print the same above a
/// child's panic. Installed once, in the parent, so children need not touch the hook.
fn install_panic_banner() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if parent_process().is_some() {
                let me = current_process();
                eprintln!("Process {} (pid {}):", me.name(), me.pid());
            }
            previous(info);
        }));
    });
}

/// The OS-visible form of a name: the kernel keeps 15 bytes of it.
fn os_name(name: &str) -> Option<std::ffi::CString> {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let short: String = name[..end].chars().filter(|&c| c != '\0').collect();
    std::ffi::CString::new(short).ok()
}
