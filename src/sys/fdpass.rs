//! Bytes with file descriptors attached, over Unix sockets (`sendmsg`/`recvmsg` with
//! `SCM_RIGHTS`): the one place the crate passes descriptors, for the start methods' stream
//! sockets and the pipes' datagrams alike.
//!
//! Every send uses `MSG_NOSIGNAL` (a peer that died is an error, never a `SIGPIPE`); every
//! receive uses `MSG_CMSG_CLOEXEC` (a received descriptor never leaks into an `exec`) and
//! takes ownership of each descriptor the kernel installed, so none leaks even when the
//! caller refuses the message.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The kernel's limit on descriptors in one message (`SCM_MAX_FD`).
pub(crate) const MAX_FDS: usize = 253;

/// One `sendmsg` of `iov` with `fds` attached to its first byte; how many bytes the socket
/// took. Interrupted sends are retried; more than [`MAX_FDS`] descriptors is an error.
pub(crate) fn send(sock: BorrowedFd<'_>, iov: &[IoSlice<'_>], fds: &[RawFd]) -> io::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    if fds.len() > MAX_FDS {
        return Err(io::Error::other(format!(
            "at most {MAX_FDS} descriptors travel in one message, not {}",
            fds.len()
        )));
    }
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// What one [`recv`] got.
pub(crate) struct Received {
    /// Bytes received, `head` and `tail` together; 0 is the end of a stream (or an empty
    /// datagram).
    pub(crate) bytes: usize,
    /// The descriptors that came with them, owned.
    pub(crate) fds: Vec<OwnedFd>,
    /// The message was longer than the room given, or carried more descriptors than
    /// `max_fds` (the kernel dropped the rest: a datagram's tail, or descriptors).
    pub(crate) truncated: bool,
}

/// One `recvmsg` into `head`, then into up to `tail_room` bytes of `tail`'s spare capacity
/// (never zero-filled: `tail` grows by what the kernel wrote, and only by that), with room
/// for `max_fds` descriptors (at most [`MAX_FDS`]). Interrupted receives are retried.
pub(crate) fn recv(
    sock: BorrowedFd<'_>,
    head: &mut [u8],
    tail: &mut Vec<u8>,
    tail_room: usize,
    max_fds: usize,
) -> io::Result<Received> {
    assert!(
        max_fds <= MAX_FDS,
        "at most {MAX_FDS} descriptors per message"
    );
    tail.try_reserve(tail_room).map_err(io::Error::other)?;
    let tail_len = tail.len();
    // u64s: aligned for `cmsghdr`; room for one SCM_RIGHTS of MAX_FDS descriptors.
    let mut control = [0u64; 130];
    // SAFETY: CMSG_SPACE only computes a size.
    let room = unsafe { libc::CMSG_SPACE((max_fds * size_of::<RawFd>()) as u32) } as usize;
    assert!(room <= size_of_val(&control));
    let mut iov = [
        libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            // SAFETY: `tail_len` is within the allocation (it is the vector's length).
            iov_base: unsafe { tail.as_mut_ptr().add(tail_len) }.cast(),
            iov_len: tail_room,
        },
    ];
    // SAFETY: `msghdr` is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    if max_fds > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = room as _;
    }
    let n = loop {
        // SAFETY: every pointer in `msg` is to a live buffer of the length given with it
        // (`head` whole; `tail`'s spare capacity, at least `tail_room` after the reserve;
        // `control`, at least `room`). The kernel writes only there.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel wrote `n` bytes: `head` first, the rest (at most `tail_room`)
    // into `tail`'s spare capacity right after its length.
    unsafe { tail.set_len(tail_len + n.saturating_sub(head.len())) };
    let mut fds = Vec::new();
    // SAFETY: walking the control buffer the kernel filled, with the libc macros, within
    // `msg_controllen`; each SCM_RIGHTS payload is an array of descriptors it installed in
    // this process for us, each taken into an `OwnedFd` exactly once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let count =
                    ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    Ok(Received {
        bytes: n,
        fds,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::{UnixDatagram, UnixStream};

    #[test]
    fn bytes_and_descriptors_arrive_together_and_owned() {
        let (a, b) = UnixStream::pair().unwrap();
        let memfd = crate::sys::memfd::create("multiproc-fdpass", 16).unwrap();
        let sent = send(
            a.as_fd(),
            &[IoSlice::new(b"ab"), IoSlice::new(b"cd")],
            &[memfd.as_raw_fd()],
        )
        .unwrap();
        assert_eq!(sent, 4);
        let (mut head, mut tail) = ([0u8; 1], Vec::new());
        let got = recv(b.as_fd(), &mut head, &mut tail, 8, 4).unwrap();
        assert_eq!((got.bytes, &head, tail.as_slice()), (4, b"a", &b"bcd"[..]));
        assert_eq!(got.fds.len(), 1);
        assert!(!got.truncated);
        assert_ne!(
            got.fds[0].as_raw_fd(),
            memfd.as_raw_fd(),
            "a new descriptor"
        );
    }

    #[test]
    fn more_descriptors_than_room_or_a_longer_datagram_is_truncated() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let fds: Vec<OwnedFd> = (0..3)
            .map(|_| crate::sys::memfd::create("multiproc-fdpass", 0).unwrap())
            .collect();
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        send(a.as_fd(), &[IoSlice::new(b"x")], &raw).unwrap();
        let (mut head, mut tail) = ([0u8; 1], Vec::new());
        let got = recv(b.as_fd(), &mut head, &mut tail, 0, 1).unwrap();
        // (The room rounds up to a whole control word: two fit where one was asked for.)
        assert!(got.truncated && got.fds.len() < 3, "descriptors cut");
        send(a.as_fd(), &[IoSlice::new(b"longer")], &[]).unwrap();
        let got = recv(b.as_fd(), &mut head, &mut tail, 2, 0).unwrap();
        assert!(got.truncated, "datagram cut");
        assert_eq!(tail, b"on", "only what fitted");
    }

    #[test]
    fn too_many_descriptors_are_refused_before_sending() {
        let (a, _b) = UnixStream::pair().unwrap();
        let fds = vec![a.as_raw_fd(); MAX_FDS + 1];
        assert!(send(a.as_fd(), &[IoSlice::new(b"x")], &fds).is_err());
    }
}
