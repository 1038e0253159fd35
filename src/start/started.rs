//! A started child ([`Child`]): its result, its exit code, and signals to it, from the
//! process that started it only.

use super::task::Outcome;
use super::{StartMethod, wire};
use crate::codec::decode;
use crate::error::{Error, InvalidKind, Result};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

pub(super) enum Exit {
    /// Our own child: `waitpid`.
    Wait(nix::unistd::Pid),
    /// The server's child: its exit code comes on `status`; `pidfd` signals it.
    Served { status: UnixStream, pidfd: OwnedFd },
}

/// A started child and the result it will send (Python: a `Process` of a context, plus the
/// result a `Pool`'s `apply_async` would give). Dropping it unjoined, in the process that started it, kills the child.
pub struct Child<R> {
    /// The process that started it: the only one that may signal, join or reap it.
    pub(super) owner: u32,
    pub(super) method: StartMethod,
    pub(super) pid: u32,
    pub(super) task: UnixStream,
    pub(super) exit: Exit,
    pub(super) code: Option<i32>,
    /// Whether `join` took the result (a `join_timeout` that saw the end leaves it).
    pub(super) joined: bool,
    pub(super) _r: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Child<R> {
    /// Wait for the child's result and its end (Python: `join()` and the result). Errors:
    /// [`Error::TaskPanicked`] if the function panicked, [`Error::WorkerDied`] if the child
    /// died (killed, crashed) before sending a result, [`Error::Codec`] if the child could
    /// not decode its arguments (a shared object refused, say) or refused the request (another
    /// executable file, code outside it), or if the result could not be decoded.
    pub fn join(&mut self) -> Result<R> {
        self.owner_only()?;
        if self.joined {
            return Err(Error::invalid(
                InvalidKind::AlreadyTaken,
                "this child was joined already",
            ));
        }
        self.joined = true;
        let outcome = match wire::recv_frame(&self.task) {
            Ok(Some((bytes, _))) => Some(decode::<Outcome>(&bytes)),
            Ok(None) | Err(_) => None,
        };
        let code = self.wait_code()?;
        match outcome {
            Some(Ok(Outcome::Done(bytes))) => decode(&bytes),
            Some(Ok(Outcome::Panicked(m))) => Err(Error::TaskPanicked(m)),
            Some(Ok(Outcome::Failed(m))) => Err(Error::Codec(m)),
            Some(Err(e)) => Err(e),
            None => Err(Error::WorkerDied(format!(
                "the {} child {} ended with exit code {code} before sending a result",
                self.method, self.pid
            ))),
        }
    }
}

impl<R> Child<R> {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it was started.
    pub fn method(&self) -> StartMethod {
        self.method
    }

    /// The exit code once joined (`-N` for signal `N`), else `None` (Python: `.exitcode`).
    pub fn exitcode(&self) -> Option<i32> {
        self.code
    }

    /// Send SIGKILL (Python: `.kill()`); a no-op once joined. Signals through the pidfd for
    /// a served child, so a reused pid is never hit.
    pub fn kill(&mut self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Send SIGTERM (Python: `.terminate()`); a no-op once joined.
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// An error in any process but the one that started the child (a fork of it holds a
    /// copy of this handle; Python: "can only join a child process").
    fn owner_only(&self) -> Result<()> {
        if std::process::id() == self.owner {
            Ok(())
        } else {
            Err(Error::invalid(
                InvalidKind::NotOwner,
                "only the process that started a child can join or signal it",
            ))
        }
    }

    fn signal(&mut self, signal: i32) -> Result<()> {
        self.owner_only()?;
        if self.code.is_some() {
            return Ok(());
        }
        match &self.exit {
            Exit::Wait(pid) => {
                let signal = nix::sys::signal::Signal::try_from(signal)?;
                match nix::sys::signal::kill(*pid, signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Exit::Served { pidfd, .. } => Ok(crate::sys::child::pidfd_signal(pidfd, signal)?),
        }
    }

    /// Wait up to `timeout` for the child to end, without reading its result; its exit
    /// code, or `None` if it still runs (Python: `join(timeout)` then `.exitcode`).
    pub fn join_timeout(&mut self, timeout: std::time::Duration) -> Result<Option<i32>> {
        self.owner_only()?;
        if self.code.is_some() {
            return Ok(self.code);
        }
        let ready = match &self.exit {
            Exit::Wait(pid) => {
                use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
                let deadline = crate::deadline::Deadline::after(timeout);
                let deadline = deadline.as_ref();
                // A fork child is ours to wait for: poll its pidfd, then reap it.
                match crate::sys::child::pidfd_open(*pid) {
                    Some(pidfd) => poll_readable(pidfd.as_fd(), deadline),
                    None => matches!(
                        waitpid(*pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT)),
                        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
                    ),
                }
            }
            Exit::Served { status, .. } => poll_readable(
                status.as_fd(),
                crate::deadline::Deadline::after(timeout).as_ref(),
            ),
        };
        if ready {
            self.wait_code().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(super) fn wait_code(&mut self) -> Result<i32> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let code = match &self.exit {
            Exit::Wait(pid) => crate::sys::child::wait_code(*pid)?,
            Exit::Served { status, .. } => {
                let mut code = [0u8; 4];
                let mut none = Vec::new();
                if !wire::recv_with_fds(status, &mut code, &mut none)? {
                    return Err(Error::WorkerDied(format!(
                        "the start server ended while the {} child {} ran",
                        self.method, self.pid
                    )));
                }
                i32::from_le_bytes(code)
            }
        };
        self.code = Some(code);
        Ok(code)
    }
}

/// Whether `fd` becomes readable (or hung up) before `deadline` (`None`: no limit).
fn poll_readable(fd: BorrowedFd<'_>, deadline: Option<&crate::deadline::Deadline>) -> bool {
    // An error of poll itself (no memory for its table) reads as "not yet".
    crate::sys::poll::readable(fd, deadline).unwrap_or(false)
}

impl<R> Drop for Child<R> {
    fn drop(&mut self) {
        // A fork of the owner holds a copy: dropping it there leaves the child alone.
        if self.code.is_none() && std::process::id() == self.owner {
            let _ = self.kill();
            let _ = self.wait_code();
        }
    }
}

impl<R> std::fmt::Debug for Child<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("method", &self.method)
            .field("pid", &self.pid)
            .field("exitcode", &self.code)
            .finish()
    }
}
