//! Who is at the other end of an inherited socket, and whether this process runs with
//! more privilege than the user who started it.
//!
//! A role chosen by the environment (`MULTIPROC_START`) is only honoured where the
//! environment belongs to the process's own user, and only on a socket whose peer is the
//! process that started this one: see `start::init`.

use std::io;
use std::os::fd::AsFd;

/// The process at the other end of a Unix socket, as the kernel recorded it when the
/// socket was connected or created (`SO_PEERCRED`): never what the peer says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The peer of the Unix socket `fd`; an error for a descriptor that is not one.
pub(crate) fn peer_of(fd: impl AsFd) -> io::Result<Peer> {
    let c = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(Peer {
        pid: c.pid() as u32,
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// Whether `peer` is this process's parent, running as this process's effective user and
/// group: the only peer a role selected by the environment may answer.
pub(crate) fn is_parent(peer: &Peer) -> bool {
    peer.pid == std::os::unix::process::parent_id() && is_same_user(peer)
}

/// Whether `peer` runs as this process's effective user and group.
pub(crate) fn is_same_user(peer: &Peer) -> bool {
    peer.uid == rustix::process::geteuid().as_raw()
        && peer.gid == rustix::process::getegid().as_raw()
}

/// Whether this is a secure-exec process (`AT_SECURE`: set-user-id or set-group-id, or
/// file capabilities): its environment was chosen by a less privileged user.
pub(crate) fn secure_exec() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave this process.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socketpair_peer_is_this_process_and_a_file_is_no_socket() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = peer_of(&a).unwrap();
        assert_eq!(p.pid, std::process::id());
        assert!(is_same_user(&p));
        assert!(!is_parent(&p), "this process is not its own parent");
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        assert!(peer_of(&f).is_err());
        assert!(!secure_exec(), "tests do not run set-user-id");
    }
}
