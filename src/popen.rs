//! `Popen`: one started child process, whoever launched it (CPython's `popen_fork` and
//! `popen_forkserver`, which differ only in how they launch): its pid, the process that
//! started it, and how its end is learnt. Waiting, signalling and exit codes (`-N` for
//! signal `N`, as Python's `exitcode`) are written here once, for [`Process`](crate::Process),
//! [`start::Child`](crate::start::Child) and the pool's server.
//!
//! A forked child is ours: `waitpid` reaps it, and a bounded wait polls its pidfd (opened on
//! the first bounded wait, then kept until it is reaped). A served child is the start
//! server's: its exit code comes on the status socket, and it is signalled through its pidfd,
//! never by a pid that may have been reused.
//!
//! `Popen` checks no ownership by itself: [`Popen::owner_only`] is for the callers whose
//! operations only the starting process may do. Nor does it act when dropped: its holders'
//! `Drop` decide whether to wait or kill.

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use crate::start::StartMethod;
use crate::sys::child;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A started child process (see the module's documentation).
pub(crate) struct Popen {
    pid: Pid,
    /// The pid of the process that started it: the only one that may wait for it.
    owner: u32,
    exit: Exit,
    /// The exit code, once known.
    code: Option<i32>,
}

enum Exit {
    /// A child of this process: `waitpid`.
    Forked {
        /// Opened on the first bounded wait (so a start stays as cheap as a bare fork),
        /// then cached; `None` before, after the reap, or where the kernel has no pidfd.
        pidfd: Option<OwnedFd>,
    },
    /// A child of the start server: its exit code comes on `status`; `pidfd` signals it.
    Served {
        status: UnixStream,
        pidfd: Option<OwnedFd>,
        method: StartMethod,
    },
}

impl Popen {
    /// A child this process forked.
    pub(crate) fn forked(pid: Pid) -> Popen {
        Popen {
            pid,
            owner: std::process::id(),
            exit: Exit::Forked { pidfd: None },
            code: None,
        }
    }

    /// A child the start server started with `method`: its exit code will come on `status`,
    /// and `pidfd` (sent by the server) signals it.
    pub(crate) fn served(
        pid: Pid,
        status: UnixStream,
        pidfd: OwnedFd,
        method: StartMethod,
    ) -> Popen {
        Popen {
            pid,
            owner: std::process::id(),
            exit: Exit::Served {
                status,
                pidfd: Some(pidfd),
                method,
            },
            code: None,
        }
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// The exit code, once a wait has seen the end (`-N` for signal `N`).
    pub(crate) fn code(&self) -> Option<i32> {
        self.code
    }

    /// Whether the calling process is the one that started the child (a fork of it holds a
    /// copy of the handle).
    pub(crate) fn is_owner(&self) -> bool {
        std::process::id() == self.owner
    }

    /// An error in any process but the one that started the child (Python: "can only join a
    /// child process").
    pub(crate) fn owner_only(&self) -> Result<()> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(Error::invalid(
                InvalidKind::NotOwner,
                "only the process that started a child can join or signal it",
            ))
        }
    }

    /// A new descriptor that is readable once the child has ended (Python: `sentinel`): a
    /// pidfd of it, or, for a child already reaped (whose pid may be another process's
    /// now), one that is readable at once. For the process that started the child only.
    pub(crate) fn sentinel(&self) -> Result<OwnedFd> {
        self.owner_only()?;
        let unavailable = || {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "no pidfd for the child (a kernel without pidfd_open?)",
            ))
        };
        if self.code.is_some() {
            let ready = rustix::event::eventfd(1, rustix::event::EventfdFlags::CLOEXEC)
                .map_err(std::io::Error::from)?;
            return Ok(ready);
        }
        match &self.exit {
            Exit::Forked { pidfd: Some(fd) }
            | Exit::Served {
                pidfd: Some(fd), ..
            } => Ok(fd.try_clone()?),
            // Not reaped yet, so the pid is still this child's.
            Exit::Forked { pidfd: None } => {
                crate::sys::child::pidfd_open(self.pid).ok_or_else(unavailable)
            }
            Exit::Served { pidfd: None, .. } => Err(unavailable()),
        }
    }

    /// Keep `code`; the pidfd is of no more use.
    fn record(&mut self, code: i32) -> i32 {
        self.code = Some(code);
        match &mut self.exit {
            Exit::Forked { pidfd } | Exit::Served { pidfd, .. } => *pidfd = None,
        }
        code
    }

    /// The exit code if the child has ended, without waiting; `None` while it runs.
    pub(crate) fn try_wait(&mut self) -> Result<Option<i32>> {
        if let Some(code) = self.code {
            return Ok(Some(code));
        }
        match &self.exit {
            Exit::Forked { .. } => match child::wait(self.pid, Some(WaitPidFlag::WNOHANG))? {
                Some(code) => Ok(Some(self.record(code))),
                None => Ok(None),
            },
            Exit::Served { .. } => self.wait_timeout(Duration::ZERO),
        }
    }

    /// Block until the child ends; its exit code. A served child whose start server ended
    /// first (taking the child with it) is [`Error::WorkerDied`].
    pub(crate) fn wait(&mut self) -> Result<i32> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let code = match &self.exit {
            Exit::Forked { .. } => child::wait_code(self.pid)?,
            Exit::Served { status, method, .. } => {
                let mut code = [0u8; 4];
                let mut none = Vec::new();
                if !crate::start::wire::recv_with_fds(status, &mut code, &mut none)? {
                    return Err(Error::WorkerDied(format!(
                        "the start server ended while the {method} child {} ran",
                        self.pid
                    )));
                }
                i32::from_le_bytes(code)
            }
        };
        Ok(self.record(code))
    }

    /// Wait at most `timeout` for the child to end: its exit code, or `None` if it still
    /// runs then. Any `timeout` is valid: one too long to end (`Duration::MAX`) waits as
    /// [`wait`](Popen::wait) does.
    pub(crate) fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<i32>> {
        if let Some(code) = self.code {
            return Ok(Some(code));
        }
        // `None`: no deadline, the timeout is too long to end.
        let deadline = Deadline::after(timeout);
        if let Exit::Served { status, .. } = &self.exit {
            // The status socket is readable once the code has come (or hung up once the
            // start server is gone). An error of poll itself (no memory for its table)
            // reads as "not yet".
            let ready =
                crate::sys::poll::readable(status.as_fd(), deadline.as_ref()).unwrap_or(false);
            return if ready {
                self.wait().map(Some)
            } else {
                Ok(None)
            };
        }
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(code) = self.try_wait()? {
                return Ok(Some(code));
            }
            if deadline.as_ref().is_some_and(Deadline::expired) {
                return Ok(None);
            }
            let pid = self.pid;
            let Exit::Forked { pidfd } = &mut self.exit else {
                unreachable!("a served child returned above")
            };
            if pidfd.is_none() {
                *pidfd = child::pidfd_open(pid);
            }
            match pidfd {
                // Readable once the child has exited.
                Some(fd) => {
                    crate::sys::poll::readable(fd.as_fd(), deadline.as_ref())?;
                }
                // Kernels without pidfd (< 5.3): poll the exit status.
                None => {
                    let left = deadline.as_ref().map_or(nap, Deadline::remaining);
                    std::thread::sleep(nap.min(left));
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Send `signal`; a no-op once the exit code is known (the pid may belong to someone
    /// else then) or if the child has exited already. A served child is signalled through
    /// its pidfd, so a reused pid is never hit.
    pub(crate) fn signal(&mut self, signal: Signal) -> Result<()> {
        if self.code.is_some() {
            return Ok(());
        }
        match &self.exit {
            // Unreaped, the child (or its zombie) still holds the pid: it cannot be reused.
            Exit::Forked { .. } => match nix::sys::signal::kill(self.pid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(e) => Err(e.into()),
            },
            Exit::Served { pidfd, .. } => match pidfd {
                Some(fd) => Ok(child::pidfd_signal(fd, signal as i32)?),
                None => Ok(()),
            },
        }
    }

    /// Send SIGKILL (Python: `.kill()`); exit code -9.
    pub(crate) fn kill(&mut self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }

    /// Send SIGTERM (Python: `.terminate()`); exit code -15 unless the child handles it.
    pub(crate) fn terminate(&mut self) -> Result<()> {
        self.signal(Signal::SIGTERM)
    }
}

impl std::fmt::Debug for Popen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Popen")
            .field("pid", &self.pid)
            .field("owner", &self.owner)
            .field("code", &self.code)
            .finish()
    }
}
