//! A child process by pid and pidfd: open its pidfd, signal it through the pidfd (never a
//! reused pid), wait for it and decode its exit code (`-N` for signal `N`, as Python's
//! `exitcode`).

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// A pidfd for `pid`: readable once the process has exited. `None` where the kernel lacks
/// `pidfd_open` or the process is gone.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw())?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// Send `signal` through `pidfd`; a process that has already exited is not an error.
pub(crate) fn pidfd_signal(pidfd: impl AsFd, signal: i32) -> io::Result<()> {
    let signal = rustix::process::Signal::from_named_raw(signal)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    match rustix::process::pidfd_send_signal(pidfd, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// End this process now, as `_exit(2)`: no atexit handlers, no destructors, no flush of
/// Rust's buffered stdout. What a forked child must do on every path out, so that nothing
/// of its parent's state (buffers, temporary files, handlers) runs twice.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` ends the process at once; no Rust state is used after it, and it is
    // async-signal-safe, so it is fine in a child forked from any state.
    unsafe { libc::_exit(code) }
}

/// The exit code a wait status means, `None` for a stop or a continue.
pub(crate) fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(-(signal as i32)),
        _ => None,
    }
}

/// Wait for the child `pid` to end (or, with `WNOHANG`, look): its exit code, `None` if it
/// still runs.
pub(crate) fn wait(pid: Pid, flags: Option<WaitPidFlag>) -> io::Result<Option<i32>> {
    loop {
        match waitpid(pid, flags) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(Some(code));
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Block until the child `pid` ends; its exit code.
pub(crate) fn wait_code(pid: Pid) -> io::Result<i32> {
    loop {
        if let Some(code) = wait(pid, None)? {
            return Ok(code);
        }
    }
}
