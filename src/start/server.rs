//! The start server: a single-threaded process, the program re-executed with
//! `MULTIPROC_START=server`, that forks (`forkserver`) or forks and re-executes (`spawn`)
//! children on request, and reports each child's pid, pidfd and exit code.
//!
//! Protocol, on the control socket (the owner's end is the only one outside the server):
//! one byte, `f` (fork) or `s` (spawn), with two descriptors attached: the child's end of
//! its task socket (the child reads its task there and writes its result) and the server's
//! end of its status socket. On the status socket the server writes the child's pid (`i32`,
//! 0 if the fork failed) with its pidfd attached, and, once the child has been reaped, its
//! exit code (`i32`, `-N` for signal `N`), then closes it.
//!
//! Lifetime: the server ends when the control socket reaches end of stream, that is when
//! its owner (and every fork of the owner) has closed it or died; its children die with it
//! (`PR_SET_PDEATHSIG`, tied to the server's only thread).

use super::wire;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

struct Running {
    pid: Pid,
    pidfd: OwnedFd,
    status: UnixStream,
}

/// The server's main loop; never returns.
pub(super) fn main(control: UnixStream) -> ! {
    let mut running: Vec<Running> = Vec::new();
    loop {
        let mut pfds: Vec<libc::pollfd> = std::iter::once(control.as_raw_fd())
            .chain(running.iter().map(|r| r.pidfd.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue; // EINTR
        }
        // Reap the children that ended, and report their codes.
        let ended: Vec<usize> = (1..pfds.len())
            .filter(|&i| pfds[i].revents != 0)
            .map(|i| i - 1)
            .collect();
        for i in ended.into_iter().rev() {
            let r = running.swap_remove(i);
            let code = loop {
                match waitpid(r.pid, None) {
                    Ok(WaitStatus::Exited(_, c)) => break c,
                    Ok(WaitStatus::Signaled(_, s, _)) => break -(s as i32),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break -1,
                }
            };
            let _ = wire::send_all(&r.status, &code.to_le_bytes());
        }
        if pfds[0].revents != 0 {
            let mut method = [0u8; 1];
            let mut fds = Vec::new();
            match wire::recv_with_fds(&control, &mut method, &mut fds) {
                Ok(true) if fds.len() == 2 => {
                    let status = UnixStream::from(fds.pop().expect("two fds"));
                    let task = fds.pop().expect("two fds");
                    if let Some(r) = start(&control, method[0], task, status) {
                        running.push(r);
                    }
                }
                Ok(true) => {} // a malformed request: ignore it
                // The owner is gone: end, and the children with us.
                Ok(false) | Err(_) => {
                    // SAFETY: ends this process.
                    unsafe { libc::_exit(0) }
                }
            }
        }
    }
}

/// Fork one child for `method` with `task` as its task socket; tell `status` its pid.
fn start(control: &UnixStream, method: u8, task: OwnedFd, status: UnixStream) -> Option<Running> {
    let server = std::process::id();
    // SAFETY: the server is single-threaded (it is a fresh exec of the program that only
    // ran `init`, which starts no thread), so the child may use any function.
    match unsafe { fork() } {
        Err(_) => {
            let _ = wire::send_all(&status, &0i32.to_le_bytes());
            None
        }
        Ok(ForkResult::Child) => {
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if nix::unistd::getppid().as_raw() as u32 != server {
                // SAFETY: ends the process.
                unsafe { libc::_exit(1) }
            }
            // SAFETY: closing descriptors this child owns and will not use.
            unsafe {
                libc::close(control.as_raw_fd());
                libc::close(status.as_raw_fd());
            }
            if method == b's' {
                super::exec_child(task.as_fd());
            }
            super::child_main(UnixStream::from(task))
        }
        Ok(ForkResult::Parent { child }) => {
            drop(task);
            // SAFETY: a plain syscall; on success it returns a new fd we own.
            let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
            if raw < 0 {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                let _ = wire::send_all(&status, &0i32.to_le_bytes());
                return None;
            }
            // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
            let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
            let _ =
                wire::send_with_fds(&status, &child.as_raw().to_le_bytes(), &[pidfd.as_raw_fd()]);
            Some(Running {
                pid: child,
                pidfd,
                status,
            })
        }
    }
}
