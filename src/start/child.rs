//! The child's side of a forkserver or spawn start: a fork of the start server runs
//! [`run`]; a spawned process, re-executed by one, reaches [`spawned`] from `init`.
//!
//! A child answers only its own owner, and calls only what the crate recorded: its task
//! socket's peer (`SO_PEERCRED`, recorded by the kernel) must be the process named in its
//! [`Record`], and the task must name exactly the recorded functions.

use super::identity::{exe_identity, resolve};
use super::task::{Outcome, Record, Trampoline, panic_message, send_outcome};
use super::{FD, wire};
use crate::codec::decode;
use crate::error::{Error, InvalidKind, Result};
use crate::sys::peer::{is_same_user, peer_of};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

/// What this process, a served child, was recorded to run.
static RECORDED: OnceLock<Record> = OnceLock::new();

/// The initializer's offset recorded for this child (a pool's server), if any: the only
/// one its setup may name.
pub(crate) fn recorded_init() -> Option<i64> {
    RECORDED.get().and_then(|r| r.init)
}

/// End this process, saying why on stderr.
fn refuse(why: &str) -> ! {
    eprintln!("multiproc: {why}");
    // SAFETY: ends the process; nothing of it outlives this.
    unsafe { libc::_exit(2) }
}

/// A forkserver child (or a spawned one, once it has its record): check the task socket's
/// peer, read the task, run it, send the outcome, exit.
pub(super) fn run(sock: UnixStream, record: Record) -> ! {
    match peer_of(&sock) {
        Ok(p) if p.pid == record.owner && is_same_user(&p) => {}
        Ok(p) => refuse(&format!(
            "refused a task socket whose peer is pid {} (uid {}), not the process that asked \
             for this child (pid {})",
            p.pid, p.uid, record.owner
        )),
        Err(e) => refuse(&format!("refused a task socket: {e}")),
    }
    let code = match run_task(&sock, record) {
        Ok(Outcome::Done(bytes)) => {
            send_outcome(&sock, &Outcome::Done(bytes));
            0
        }
        Ok(other) => {
            send_outcome(&sock, &other);
            1
        }
        Err(e) => {
            send_outcome(&sock, &Outcome::Failed(e.to_string()));
            1
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: ends the child; nothing of it outlives this.
    unsafe { libc::_exit(code) }
}

fn run_task(sock: &UnixStream, record: Record) -> Result<Outcome> {
    let (bytes, fds) = wire::recv_frame(sock)?.ok_or(Error::Closed)?;
    let task: super::task::Task = decode(&bytes)?;
    if task.exe != exe_identity()? {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "the request comes from another executable file",
        ));
    }
    if (task.call, task.func) != (record.call, record.func) {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "the task names functions its request did not record",
        ));
    }
    let (Some(call), Some(func)) = (resolve(task.call), resolve(task.func)) else {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "the request names code outside this executable",
        ));
    };
    let _ = RECORDED.set(record);
    crate::process::rename(&task.name, Some(task.parent));
    // SAFETY: `call` is the address of a `Trampoline`: the owner's `start_served` recorded
    // its offset from one (`Record`, which the task matches), in the same executable file
    // (checked above).
    let call: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(call) };
    match catch_unwind(AssertUnwindSafe(|| call(func, &task.args, fds))) {
        Ok(Ok(bytes)) => Ok(Outcome::Done(bytes)),
        Ok(Err(e)) => Ok(Outcome::Failed(e.to_string())),
        Err(payload) => {
            let message = panic_message(&*payload);
            // Its `Drop` is user code and may panic again: leak it, the process ends now.
            std::mem::forget(payload);
            Ok(Outcome::Panicked(message))
        }
    }
}

/// Replace this (forked, single-threaded) process by the program, with `from_server` (the
/// socket its server sends the record and the task socket on) as descriptor 3. Exits on
/// failure.
pub(super) fn exec_spawn(from_server: BorrowedFd<'_>) -> ! {
    // SAFETY: dup2 onto a fixed slot; the copy on `FD` is inherited by the exec (dup2
    // clears close-on-exec), and `from_server` itself is closed by it.
    let ok = unsafe {
        if from_server.as_raw_fd() == FD {
            libc::fcntl(FD, libc::F_SETFD, 0) == 0
        } else {
            libc::dup2(from_server.as_raw_fd(), FD) == FD
        }
    };
    if ok {
        let e = std::process::Command::new("/proc/self/exe")
            .env(super::ENV, "child")
            .exec();
        eprintln!("multiproc: cannot re-execute the program for spawn: {e}");
    }
    // SAFETY: ends the process.
    unsafe { libc::_exit(1) }
}

/// A spawned child, from `init`: its server (the peer of `from_server`, checked by `init`)
/// sends the record with the task socket attached.
pub(super) fn spawned(from_server: UnixStream) -> ! {
    let mut bytes = [0u8; Record::LEN];
    let mut fds = Vec::new();
    match wire::recv_with_fds(&from_server, &mut bytes, &mut fds) {
        Ok(true) if fds.len() == 1 => {}
        _ => refuse("a spawned child did not get its record from its start server"),
    }
    let Some(record) = Record::from_bytes(&bytes) else {
        refuse("a spawned child got a malformed record from its start server")
    };
    drop(from_server);
    run(UnixStream::from(fds.pop().expect("one fd")), record)
}
