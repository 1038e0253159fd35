//! Waiting for a descriptor: one `poll` loop for every wait on a socket, a pipe end or a
//! pidfd, with absolute deadlines on `CLOCK_MONOTONIC` (see `deadline.rs`).

use crate::deadline::Deadline;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use std::io;
use std::os::fd::BorrowedFd;

/// Block until `fd` is readable (or hung up, or in error) or `deadline` passes (`None`:
/// no limit); whether it became ready. Interrupted waits go on for what is left, and a wait
/// never ends before its deadline.
pub(crate) fn readable(fd: BorrowedFd<'_>, deadline: Option<&Deadline>) -> io::Result<bool> {
    Ok(!any_readable_until(&[fd], deadline)?.is_empty())
}

/// Block until at least one of `fds` is readable (or hung up, or in error) or `deadline`
/// passes (`None`: no limit); the indices of the ready ones, none once the deadline
/// passed. Interrupted waits go on for what is left, and a wait never ends before its
/// deadline.
pub(crate) fn any_readable_until(
    fds: &[BorrowedFd<'_>],
    deadline: Option<&Deadline>,
) -> io::Result<Vec<usize>> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|&fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
        .collect();
    loop {
        let left = deadline.map(|d| d.remaining());
        let timeout = left.map(|l| rustix::event::Timespec {
            tv_sec: l.as_secs().min(i64::MAX as u64 / 2) as i64,
            tv_nsec: l.subsec_nanos().into(),
        });
        match rustix::event::poll(&mut polled, timeout.as_ref()) {
            Ok(0) if deadline.is_some_and(Deadline::expired) => return Ok(Vec::new()),
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => return Ok(ready(&polled)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The indices of the descriptors `poll` reported.
fn ready(polled: &[PollFd<'_>]) -> Vec<usize> {
    polled
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.revents().is_empty())
        .map(|(i, _)| i)
        .collect()
}

/// Block until at least one of `fds` is readable (or hung up, or in error); the indices of
/// the ready ones. An interrupted wait returns none (the caller loops).
pub(crate) fn any_readable(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<usize>> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|&fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
        .collect();
    match rustix::event::poll(&mut polled, None) {
        Ok(_) => Ok(ready(&polled)),
        Err(Errno::INTR) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
