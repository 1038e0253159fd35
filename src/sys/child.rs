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
    // SAFETY: a plain syscall on a pidfd the caller holds; no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd.as_fd()),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    let e = io::Error::last_os_error();
    if r == 0 || e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
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
