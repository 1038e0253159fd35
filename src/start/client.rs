//! The owner's side: its start server (launched on first use), the requests it sends it,
//! and the starts of each method.

use super::identity::{exe_identity, offset_of};
use super::started::Child;
use super::task::{Outcome, Record, Request, Task, Trampoline, panic_message, refusal};
use super::task::{send_outcome, trampoline};
use super::{ENV, FD, StartMethod, ensure_init, wire};
use crate::codec::encode;
use crate::error::{Error, InvalidKind, Result};
use crate::popen::Popen;
use nix::unistd::Pid;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// This process's start server.
struct Server {
    owner: u32,
    control: UnixStream,
    process: std::process::Child,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// The owner's end of its server's control socket, for [`close_inherited_control`]: `-1`
/// when there is none.
static CONTROL_FD: AtomicI32 = AtomicI32::new(-1);

/// In a fork child of the owner, as it starts (`process::fork_child`): close the copy of
/// the owner's control socket, so that the server's life is the owner's alone and its
/// socket cannot be written by anyone else. The child's copy of `SERVER` is forgotten, not
/// dropped (see `request`), so the descriptor is never closed twice.
pub(crate) fn close_inherited_control() {
    let fd = CONTROL_FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: `fd` is this process's copy of the control socket, which nothing in it
        // uses again: its `Server` belongs to another process and is forgotten here.
        unsafe { libc::close(fd) };
    }
}

/// Forget a server this process inherited from the process it was forked from: it is not
/// ours to signal, wait for or close (its socket's copy was closed at the fork).
fn forget_inherited(server: Server) {
    std::mem::forget(server.control);
    std::mem::forget(server.process);
}

fn launch_server() -> Result<Server> {
    let (mine, theirs) = UnixStream::pair()?;
    let theirs_fd = theirs.as_raw_fd();
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .env(ENV, "server")
        .stdin(std::process::Stdio::null());
    // SAFETY: the closure runs between fork and exec and calls only dup2/fcntl, which are
    // async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let ok = if theirs_fd == FD {
                libc::fcntl(FD, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(theirs_fd, FD) == FD
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let process = command.spawn()?;
    drop(theirs);
    CONTROL_FD.store(mine.as_raw_fd(), Ordering::Relaxed);
    Ok(Server {
        owner: std::process::id(),
        control: mine,
        process,
    })
}

/// Ask the server (started on first use) for a child that runs what `record` names;
/// returns the task and status sockets.
fn request(spawn: bool, record: Record) -> Result<(UnixStream, UnixStream)> {
    let bytes = Request::Start { spawn, record }.to_bytes();
    let mut server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    for attempt in 0..2 {
        if server
            .as_ref()
            .is_none_or(|s| s.owner != std::process::id())
        {
            if let Some(old) = server.take() {
                forget_inherited(old);
            }
            *server = Some(launch_server()?);
        }
        let (task, task_child) = UnixStream::pair()?;
        let (status, status_server) = UnixStream::pair()?;
        let s = server.as_ref().expect("started above");
        match wire::send_with_fds(
            &s.control,
            &bytes,
            &[task_child.as_raw_fd(), status_server.as_raw_fd()],
        ) {
            Ok(()) => return Ok((task, status)),
            // The server died: start another once.
            Err(e) if attempt == 1 => return Err(e.into()),
            Err(_) => {
                if let Some(mut old) = server.take() {
                    let _ = old.process.kill();
                    let _ = old.process.wait();
                }
            }
        }
    }
    unreachable!("the loop returns")
}

/// End this process's start server now (children it still runs are killed), and wait for
/// it. The next forkserver or spawn start launches a new one. Call it before leaving `main`
/// when nothing may outlive the program by even a moment (the server otherwise ends as soon
/// as it notices the program is gone). Fork children of this process do not keep it alive.
pub fn shutdown() {
    let server = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut s) = server {
        if s.owner == std::process::id() {
            // Ask it to end; if it is gone already, the send fails and the wait returns.
            let _ = wire::send_all(&s.control, &Request::Quit.to_bytes());
            let _ = s.process.wait();
            CONTROL_FD.store(-1, Ordering::Relaxed);
            drop(s.control);
        } else {
            forget_inherited(s);
        }
    }
}

/// Start a child of the start server running `f(arg)`; for a pool's server, `init` is the
/// offset of the workers' initializer, recorded as the only one its setup may name.
pub(crate) fn start_served<A, R>(
    method: StartMethod,
    f: fn(A) -> R,
    arg: A,
    init: Option<i64>,
) -> Result<Child<R>>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned,
{
    ensure_init();
    let record = Record {
        owner: std::process::id(),
        call: offset_of(trampoline::<A, R> as Trampoline as usize)?,
        func: offset_of(f as usize)?,
        init,
    };
    let (args, fds) = crate::handle::export(|| encode(&arg));
    let kind = match method {
        StartMethod::Spawn => "SpawnProcess",
        _ => "ForkServerProcess",
    };
    let me = crate::process::current_process();
    let task = encode(&Task {
        name: crate::process::next_child(kind).0,
        parent: (me.name().to_string(), me.pid()),
        exe: exe_identity()?,
        call: record.call,
        func: record.func,
        args: args?,
    })?;
    let (task_sock, status) = request(method == StartMethod::Spawn, record)?;
    let mut pid = [0u8; 4];
    let mut pidfd = Vec::new();
    if !wire::recv_with_fds(&status, &mut pid, &mut pidfd)? {
        return Err(Error::invalid(
            InvalidKind::StartFailed,
            "the start server ended",
        ));
    }
    let pid = i32::from_le_bytes(pid);
    let Some(pidfd) = pidfd.pop().filter(|_| pid > 0) else {
        return Err(Error::invalid(InvalidKind::StartFailed, refusal(pid)));
    };
    // `arg` (and so every object whose memfd is in `fds`) is alive until after this.
    let sent = wire::send_frame(&task_sock, &task, &fds);
    drop(arg);
    let mut child = Child {
        method,
        task: task_sock,
        popen: Popen::served(Pid::from_raw(pid), status, pidfd, method),
        joined: false,
        _r: PhantomData,
    };
    if let Err(e) = sent {
        let _ = child.popen.kill();
        let _ = child.popen.wait();
        return Err(e.into());
    }
    Ok(child)
}

pub(super) fn start_fork<A, R>(f: fn(A) -> R, arg: A) -> Result<Child<R>>
where
    A: 'static,
    R: Serialize + 'static,
{
    crate::process::ensure_single_threaded()?;
    let (task, task_child) = UnixStream::pair()?;
    let body = move || {
        let outcome = match catch_unwind(AssertUnwindSafe(|| encode(&f(arg)))) {
            Ok(Ok(bytes)) => Outcome::Done(bytes),
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(payload) => {
                let message = panic_message(&*payload);
                std::mem::forget(payload);
                Outcome::Panicked(message)
            }
        };
        let code = i32::from(!matches!(outcome, Outcome::Done(_)));
        send_outcome(&task_child, &outcome);
        code
    };
    let (name, identity) = crate::process::next_child("ForkProcess");
    // SAFETY: this thread is the process's only one (checked just above), and only a
    // thread of this process could start another.
    let pid =
        unsafe { crate::process::fork_child(&name, &identity, crate::process::target(body)) }?;
    Ok(Child {
        method: StartMethod::Fork,
        task,
        popen: Popen::forked(pid),
        joined: false,
        _r: PhantomData,
    })
}
