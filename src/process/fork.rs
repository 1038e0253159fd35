//! The fork bootstrap: a child's body ([`Target`]), the single-thread check
//! ([`ensure_single_threaded`]) and [`fork_child`], which forks and runs the body under the
//! child's setup until `_exit`.

use super::identity::{ME, Me, current_process, parent_process};
use crate::error::{Error, Result};
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid, fork, getppid};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

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
        // Ends this (child) process at once, running nothing of the parent's.
        crate::sys::child::exit_now(1)
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
/// (see [`Process::start_unchecked`](super::Process::start_unchecked)); certain when the caller is the only thread.
pub(crate) unsafe fn fork_child(name: &str, identity: &[u32], target: Target) -> Result<Pid> {
    // A start server or served child (and their forks) never forks beside a thread, whatever
    // its caller promised: the program was re-executed up to `start::init`, and whatever
    // threads it had started by then run here too.
    if crate::start::is_served() {
        ensure_single_threaded()?;
    }
    install_panic_banner();
    // The program's key exists before any fork, so every fork child inherits it.
    crate::connection::process_authkey();
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
                crate::sys::child::exit_now(1)
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
            // End the child without running the parent's destructors or atexit
            // handlers (nor freeing the target).
            crate::sys::child::exit_now(code)
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
pub(super) fn os_name(name: &str) -> Option<std::ffi::CString> {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let short: String = name[..end].chars().filter(|&c| c != '\0').collect();
    std::ffi::CString::new(short).ok()
}
