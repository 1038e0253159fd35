//! The child's side of a forkserver or spawn start: a fork of the start server runs
//! [`run`]; a spawned process, re-executed by one, reaches [`spawned`] from the crate's
//! constructor (`before_main`), before `main`.
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
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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
    crate::sys::child::exit_now(2)
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
    crate::sys::child::exit_now(code)
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
    crate::sys::child::exit_now(1)
}
/// Take the role `what` (`"child"` or `"server"`, from the environment of a process that
/// is not secure-exec) given on the inherited descriptor 3, or refuse it: only a socket
/// whose peer is this process's parent is accepted.
pub(super) fn adopt(what: &std::ffi::OsStr) -> ! {
    // SAFETY: descriptor 3 is only looked at here, while it is open (checked by the
    // getsockopt inside, which fails on a closed one).
    let inherited = unsafe { BorrowedFd::borrow_raw(FD) };
    match peer_of(inherited) {
        Ok(p) if crate::sys::peer::is_parent(&p) => {}
        other => {
            let who = match other {
                Ok(p) => format!("its peer is pid {} (uid {})", p.pid, p.uid),
                Err(e) => format!("{e}"),
            };
            eprintln!(
                "multiproc: refused the socket on descriptor 3 (MULTIPROC_START={what:?}): it \
                 is not from the process that started this one ({who})"
            );
            crate::sys::child::exit_now(2)
        }
    }
    // Take the socket off the inherited descriptor, close on exec from now on.
    let sock = match rustix::io::fcntl_dupfd_cloexec(inherited, FD + 1) {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => {
            eprintln!("multiproc: started as a {what:?} without its socket");
            crate::sys::child::exit_now(1)
        }
    };
    // SAFETY: `FD` was inherited for us and is ours to close; its copy is `sock` now.
    drop(unsafe { OwnedFd::from_raw_fd(FD) });
    super::ROLE.store(super::SERVED, std::sync::atomic::Ordering::Relaxed);
    if crate::process::ensure_single_threaded().is_ok() {
        // SAFETY: this is the process's only thread, so nothing reads the environment
        // concurrently. The variable must not reach programs this one runs.
        unsafe { std::env::remove_var(super::ENV) };
    }
    if what == "server" {
        super::server::main(sock)
    }
    spawned(sock)
}

/// A spawned child, from `adopt`: its server (the peer of `from_server`, checked there)
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
