//! A test runner for library checks that fork.
//!
//! The cargo test harness is multi-threaded, and forking a multi-threaded process is unsafe,
//! so library tests that start processes live in `harness = false` test targets whose
//! `main` calls [`run`]. Each check runs in a forked child that leads a process group of
//! its own; the runner waits with a timeout, kills the whole group when it fires, and fails
//! a check that leaves any process of its group behind.
//!
//! What a check and its processes write to stdout and stderr is captured, as cargo's test
//! harness captures a `#[test]`'s output, and printed only when the check fails: the
//! deliberate panics of a passing check (a child that panics to test exit codes) stay
//! quiet, a failing check shows everything, its backtraces included. `--nocapture` (or
//! `RUST_TEST_NOCAPTURE=1`, as for cargo's harness) lets the output through as it comes.

use crate::group;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Time a check may take unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One named check: a function that panics on failure.
pub struct Check {
    pub name: &'static str,
    pub run: fn(),
    pub timeout: Duration,
}

/// `Check { name, run, timeout: DEFAULT_TIMEOUT }` for each `name` listed:
/// `checks![queue_is_fifo, lock_excludes]`.
#[macro_export]
macro_rules! checks {
    ($($f:ident),* $(,)?) => {
        vec![$($crate::forked::Check {
            name: stringify!($f),
            run: $f,
            timeout: $crate::forked::DEFAULT_TIMEOUT,
        }),*]
    };
}

enum Outcome {
    Passed,
    Failed(String),
}

/// Run the checks whose names contain any non-flag command-line argument (all when none
/// is given), each in its own forked process group. Call from a single-threaded `main`.
pub fn run(checks: Vec<Check>) -> ExitCode {
    run_then(checks, || {})
}

/// [`run`], with `after` run in each check's process once the check has passed: to end
/// what a check's process started and does not end by itself before the runner looks for
/// leftovers (a start server, say, which otherwise ends only once it notices its owner is
/// gone, a moment after the check's process exits).
pub fn run_then(checks: Vec<Check>, after: fn()) -> ExitCode {
    group::become_subreaper();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<&Check> = checks
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    let capture = !std::env::args().any(|a| a == "--nocapture")
        && std::env::var_os("RUST_TEST_NOCAPTURE").is_none_or(|v| v == "0");
    println!("\nrunning {} forked checks", chosen.len());
    let mut failed = Vec::new();
    for check in &chosen {
        let started = Instant::now();
        let output = if capture { Capture::new() } else { None };
        let outcome = run_one(check, after, output.as_ref());
        match &outcome {
            Outcome::Passed => println!("check {} ... ok ({:.2?})", check.name, started.elapsed()),
            Outcome::Failed(why) => {
                println!("check {} ... FAILED: {why}", check.name);
                if let Some(output) = &output {
                    println!(
                        "---- {} output ----\n{}---- end of {} output ----",
                        check.name,
                        output.contents(),
                        check.name
                    );
                }
                failed.push(check.name);
            }
        }
    }
    println!(
        "\nforked checks: {} passed; {} failed{}",
        chosen.len() - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ends a check's process with `_exit(101)` if anything unwinds out of it, so the check's
/// process never runs the runner's code (the next checks, the summary).
struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        // SAFETY: ends this (check) process at once.
        unsafe { libc::_exit(101) }
    }
}

/// An anonymous file (memfd) that a check's stdout and stderr point to, read back if the
/// check fails.
struct Capture(std::fs::File);

impl Capture {
    /// A new empty capture file; `None` if the kernel offers no memfd (then nothing is
    /// captured).
    fn new() -> Option<Capture> {
        use std::os::fd::FromRawFd;
        // SAFETY: a NUL-terminated name and valid flags; the fd returned is ours alone.
        let fd = unsafe { libc::memfd_create(c"forked-check-output".as_ptr(), libc::MFD_CLOEXEC) };
        // SAFETY: a fresh fd that nothing else owns.
        (fd >= 0).then(|| Capture(unsafe { std::fs::File::from_raw_fd(fd) }))
    }

    /// Point this process's stdout and stderr at the file (in the check's process).
    fn redirect(&self) {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
        unsafe {
            libc::dup2(self.0.as_raw_fd(), libc::STDOUT_FILENO);
            libc::dup2(self.0.as_raw_fd(), libc::STDERR_FILENO);
        }
    }

    /// Everything written so far, lossily decoded, ending with a newline unless empty.
    fn contents(&self) -> String {
        use std::os::unix::fs::FileExt;
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.0.read_at(&mut buf, all.len() as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        let mut text = String::from_utf8_lossy(&all).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

fn run_one(check: &Check, after: fn(), output: Option<&Capture>) -> Outcome {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: called from the single-threaded main of a harness=false test; the child only
    // runs the check and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Outcome::Failed(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // We are the child: nothing may unwind out of this frame into the runner's code.
        let _exit_on_unwind = ExitOnUnwind;
        // SAFETY: a plain syscall; lead a new process group.
        unsafe { libc::setpgid(0, 0) };
        if let Some(output) = output {
            output.redirect();
        }
        let ok = match std::panic::catch_unwind(|| {
            (check.run)();
            after();
        }) {
            Ok(()) => true,
            Err(payload) => {
                // Its `Drop` may panic again: leak it, the process ends now anyway.
                std::mem::forget(payload);
                false
            }
        };
        let _ = std::io::stdout().flush();
        // SAFETY: ends the child without running the runner's cleanup.
        unsafe { libc::_exit(if ok { 0 } else { 101 }) };
    }
    // Also from this side, so the group exists before we could signal it.
    // SAFETY: a plain syscall on our own child's pid; no memory is passed.
    unsafe { libc::setpgid(pid, pid) };
    let deadline = Instant::now() + check.timeout;
    let status = loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Orphans of the check (a grandchild whose parent the check killed on purpose) were
    // reparented to us: reap those that have exited, then only the living count as left.
    group::reap(pid);
    let leftovers = group::members(pid);
    if !leftovers.is_empty() || status.is_none() {
        let uncleared = group::kill_and_reap(pid, Duration::from_secs(5));
        if status.is_none() {
            let mut s = 0;
            // SAFETY: reaping our own (killed) child into a local status word.
            unsafe { libc::waitpid(pid, &mut s, 0) };
            return Outcome::Failed(format!(
                "timed out after {:?}; killed its process group{}",
                check.timeout,
                if uncleared.is_empty() {
                    String::new()
                } else {
                    format!(" (could not clear {uncleared:?})")
                }
            ));
        }
        let list: Vec<String> = leftovers.iter().map(ToString::to_string).collect();
        return Outcome::Failed(format!("left processes behind: {}", list.join(", ")));
    }
    let status = status.expect("exited");
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Outcome::Passed
    } else if libc::WIFSIGNALED(status) {
        Outcome::Failed(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        Outcome::Failed(format!("exit status {}", libc::WEXITSTATUS(status)))
    }
}

/// For a check that kills a process on purpose and must show that everything that process
/// started died with it: from now on this (check) process adopts every orphan of its
/// descendants (`PR_SET_CHILD_SUBREAPER`), so [`reap_every_descendant`] can wait for them.
pub fn adopt_orphans() {
    // SAFETY: a plain prctl on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER failed");
}

/// Reap children until none is left: with [`adopt_orphans`], returns only once every
/// descendant has ended (blocks while any lives; the check's timeout bounds it). No sleep:
/// each `waitpid` returns when a child ends.
pub fn reap_every_descendant() {
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child of this process.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ECHILD) => return,
                Some(libc::EINTR) => continue,
                _ => panic!("waitpid: {e}"),
            }
        }
    }
}

/// Whether a process with this pid exists (a zombie counts: reap first).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
