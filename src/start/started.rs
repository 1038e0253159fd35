//! A started child ([`Child`]): its result, its exit code, and signals to it, from the
//! process that started it only.

use super::task::Outcome;
use super::{StartMethod, wire};
use crate::codec::decode;
use crate::error::{Error, InvalidKind, Result};
use crate::popen::Popen;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::os::unix::net::UnixStream;

/// A started child and the result it will send (Python: a `Process` of a context, plus the
/// result a `Pool`'s `apply_async` would give). Dropping it unjoined, in the process that started it, kills the child.
pub struct Child<R> {
    pub(super) method: StartMethod,
    pub(super) task: UnixStream,
    /// The process: only the one that started it may signal, join or reap it.
    pub(super) popen: Popen,
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
        self.popen.owner_only()?;
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
        let code = self.popen.wait()?;
        match outcome {
            Some(Ok(Outcome::Done(bytes))) => decode(&bytes),
            Some(Ok(Outcome::Panicked(m))) => Err(Error::TaskPanicked(m)),
            Some(Ok(Outcome::Failed(m))) => Err(Error::Codec(m)),
            Some(Err(e)) => Err(e),
            None => Err(Error::WorkerDied(format!(
                "the {} child {} ended with exit code {code} before sending a result",
                self.method,
                self.pid()
            ))),
        }
    }
}

impl<R> Child<R> {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.popen.pid().as_raw() as u32
    }

    /// How it was started.
    pub fn method(&self) -> StartMethod {
        self.method
    }

    /// A descriptor that is readable once the child has ended (Python: `Process.sentinel`),
    /// to wait on beside connections and pipes with
    /// [`connection::wait`](crate::connection::wait): a pidfd of the child, which the start
    /// server sent. It does not collect the result: `join` still does. For a child already
    /// joined, it is readable at once. An error in a process other than the one that
    /// started the child.
    pub fn sentinel(&self) -> Result<std::os::fd::OwnedFd> {
        self.popen.sentinel()
    }

    /// The exit code once joined (`-N` for signal `N`), else `None` (Python: `.exitcode`).
    pub fn exitcode(&self) -> Option<i32> {
        self.popen.code()
    }

    /// Send SIGKILL (Python: `.kill()`); a no-op once joined. Signals through the pidfd for
    /// a served child, so a reused pid is never hit.
    pub fn kill(&mut self) -> Result<()> {
        self.popen.owner_only()?;
        self.popen.kill()
    }

    /// Send SIGTERM (Python: `.terminate()`); a no-op once joined.
    pub fn terminate(&mut self) -> Result<()> {
        self.popen.owner_only()?;
        self.popen.terminate()
    }

    /// Wait up to `timeout` for the child to end, without reading its result; its exit
    /// code, or `None` if it still runs (Python: `join(timeout)` then `.exitcode`).
    pub fn join_timeout(&mut self, timeout: std::time::Duration) -> Result<Option<i32>> {
        self.popen.owner_only()?;
        self.popen.wait_timeout(timeout)
    }

    /// The process, for the pool's server (which checks the owner itself).
    pub(crate) fn popen(&mut self) -> &mut Popen {
        &mut self.popen
    }
}

impl<R> Drop for Child<R> {
    fn drop(&mut self) {
        // A fork of the owner holds a copy: dropping it there leaves the child alone.
        if self.popen.code().is_none() && self.popen.is_owner() {
            let _ = self.popen.kill();
            let _ = self.popen.wait();
        }
    }
}

impl<R> std::fmt::Debug for Child<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("method", &self.method)
            .field("pid", &self.pid())
            .field("exitcode", &self.popen.code())
            .finish()
    }
}
