//! The start server: a single-threaded process, the program re-executed with
//! `MULTIPROC_START=server`, that forks (`forkserver`) or forks and re-executes (`spawn`)
//! children on request, and reports each child's pid, pidfd and exit code.
//!
//! Protocol, on the control socket (the owner's end is the only one outside the server, and
//! the role's adoption checked that its peer is this process's parent): fixed-size [`Request`]s. A start
//! carries the [`Record`] of what the child may call, with two descriptors attached: the
//! child's end of its task socket (the child reads its task there and writes its result)
//! and the server's end of its status socket. On the status socket the server writes the
//! child's pid (`i32`; `0` if the fork failed, `-threads` if the server runs other threads
//! and so must not fork) with its pidfd attached, and, once the child has been reaped, its
//! exit code (`i32`, `-N` for signal `N`), then closes it. `Quit` kills the children still
//! running, reports them, and ends the server.
//!
//! Signals: the server ignores SIGINT (as CPython's fork server does: a Ctrl-C reaches the
//! whole foreground process group, and the owner decides what it means); its children get
//! the default action back before they run anything. SIGTERM and SIGKILL end it, and its
//! children with it.
//!
//! Lifetime: the server ends on `Quit` ([`super::shutdown`]), or when the control socket
//! reaches end of stream, that is when its owner has closed it or died (the owner's fork
//! children close their copies as they start); its children die with it
//! (`PR_SET_PDEATHSIG`, tied to the server's only thread).

use super::child;
use super::task::{Record, Request};
use super::wire;
use crate::error::Error;
use crate::process::{ensure_single_threaded, fork_child, target};
use nix::sys::signal::{SigHandler, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

struct Running {
    pid: Pid,
    pidfd: OwnedFd,
    status: UnixStream,
}

/// The server's main loop; never returns.
pub(super) fn main(control: UnixStream) -> ! {
    // SAFETY: SIG_IGN installs no handler code; the server has one thread.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGINT, SigHandler::SigIgn) };
    // `child::adopt` checked that the control socket's peer is our parent: the owner.
    let owner = std::os::unix::process::parent_id();
    let mut running: Vec<Running> = Vec::new();
    loop {
        let fds: Vec<_> = std::iter::once(control.as_fd())
            .chain(running.iter().map(|r| r.pidfd.as_fd()))
            .collect();
        // An error of poll itself (no memory for its table): look again.
        let ready = crate::sys::poll::any_readable(&fds).unwrap_or_default();
        // Reap the children that ended, and report their codes.
        for i in ready.iter().filter(|&&i| i > 0).rev() {
            let r = running.swap_remove(i - 1);
            report_end(r);
        }
        if !ready.contains(&0) {
            continue;
        }
        let mut bytes = [0u8; Request::LEN];
        let mut fds = Vec::new();
        match wire::recv_with_fds(&control, &mut bytes, &mut fds) {
            Ok(true) => match Request::from_bytes(&bytes) {
                Some(Request::Start { spawn, record }) if fds.len() == 2 => {
                    let status = UnixStream::from(fds.pop().expect("two fds"));
                    let task = fds.pop().expect("two fds");
                    let record = Record { owner, ..record };
                    if let Some(r) = start(&control, spawn, record, task, status) {
                        running.push(r);
                    }
                }
                Some(Request::Quit) => quit(running),
                _ => {} // a malformed request: ignore it
            },
            // The owner is gone: end, and the children with us.
            Ok(false) | Err(_) => quit(running),
        }
    }
}

/// Reap `r` and report its exit code.
fn report_end(r: Running) {
    let code = crate::sys::child::wait_code(r.pid).unwrap_or(-1);
    let _ = wire::send_all(&r.status, &code.to_le_bytes());
}

/// Kill and reap every child still running, report each, and end the server.
fn quit(running: Vec<Running>) -> ! {
    for r in &running {
        let _ = rustix::process::pidfd_send_signal(&r.pidfd, rustix::process::Signal::KILL);
    }
    for r in running {
        report_end(r);
    }
    crate::sys::child::exit_now(0)
}

/// Start one child running what `record` names, with `task` as its task socket; tell
/// `status` its pid.
fn start(
    control: &UnixStream,
    spawn: bool,
    record: Record,
    task: OwnedFd,
    status: UnixStream,
) -> Option<Running> {
    let refuse = |pid: i32| {
        let _ = wire::send_all(&status, &pid.to_le_bytes());
        None
    };
    // No fork beside a thread: a server in which a thread started before it took its role
    // (a constructor of the program that ran before the crate's) answers every request with
    // why.
    match ensure_single_threaded() {
        Ok(()) => {}
        Err(Error::Threaded { threads }) => {
            return refuse(-(i32::try_from(threads).unwrap_or(i32::MAX)));
        }
        Err(_) => return refuse(0),
    }
    // A spawned child gets its record and its task socket from us, on a socket whose
    // peer is us, its parent; a forked one has them in memory.
    let (launch, relay) = if spawn {
        match UnixStream::pair() {
            Ok((ours, theirs)) => (Launch::Spawn(theirs), Some((ours, task))),
            Err(_) => return refuse(0),
        }
    } else {
        (Launch::Fork(task), None)
    };
    let (control_fd, status_fd) = (control.as_raw_fd(), status.as_raw_fd());
    let ours_fd = relay.as_ref().map(|(ours, _)| ours.as_raw_fd());
    // Dropped in the server once forked: its copies of the child's descriptors close.
    let body = target(move || {
        // SAFETY: closing descriptors this child inherited and will not use; the server
        // keeps its own copies.
        unsafe {
            libc::close(control_fd);
            libc::close(status_fd);
            if let Some(fd) = ours_fd {
                libc::close(fd);
            }
        }
        // SAFETY: SIG_DFL installs no handler code; the child has one thread.
        let _ = unsafe { nix::sys::signal::signal(Signal::SIGINT, SigHandler::SigDfl) };
        match launch {
            Launch::Fork(task) => child::run(UnixStream::from(task), record),
            Launch::Spawn(from_server) => child::exec_spawn(from_server.as_fd()),
        }
    });
    let name = if spawn {
        "SpawnProcess"
    } else {
        "ForkServerProcess"
    };
    // SAFETY: this process runs one thread (checked just above), and only a thread of it
    // could start another.
    let pid = match unsafe { fork_child(name, &[], body) } {
        Ok(pid) => pid,
        Err(_) => return refuse(0),
    };
    if let Some((ours, task)) = relay {
        // The spawned child reads this after its exec, on its descriptor 3.
        let _ = wire::send_with_fds(&ours, &record.to_bytes(), &[task.as_raw_fd()]);
    }
    let pidfd = match crate::sys::child::pidfd_open(pid) {
        Some(fd) => fd,
        None => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return refuse(0);
        }
    };
    let _ = wire::send_with_fds(&status, &pid.as_raw().to_le_bytes(), &[pidfd.as_raw_fd()]);
    Some(Running { pid, pidfd, status })
}

/// How a child starts: a fork that runs its task socket, or a spawn that re-executes with
/// the socket its server sends the rest on.
enum Launch {
    Fork(OwnedFd),
    Spawn(UnixStream),
}
