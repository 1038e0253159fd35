//! `Pipe`: Python's `multiprocessing.Pipe`, two connected ends for messages between two
//! processes, each direction a Unix `SOCK_SEQPACKET` socketpair (one datagram per message).

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::handle::{RecvFd, SendFd};
use crate::sys::fdpass;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::{IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// Messages up to this size go through the socket; larger ones as a sealed memfd.
const INLINE_MAX: usize = 64 << 10;
/// First byte of a datagram: the message follows inline.
const INLINE: u8 = 0;
/// First byte of a datagram: the message is the memfd attached.
const SHARED: u8 = 1;

/// A sealed memfd holding `bytes` (close on exec), for a message too big to go inline.
fn memfd_with(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    use crate::sys::memfd;
    let fd = memfd::create("multiproc:pipe", 0)?;
    std::fs::File::from(fd.try_clone()?).write_all(bytes)?;
    memfd::seal(&fd, memfd::SIZE_SEALS | rustix::fs::SealFlags::WRITE)?;
    Ok(fd)
}

/// Whether `fd` is what a pipe end is: a Unix `SOCK_SEQPACKET` socket (checked with the
/// kernel, whatever a message claims).
fn is_pipe_socket(fd: &OwnedFd) -> bool {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let Ok(stat) = nix::sys::stat::fstat(fd) else {
        return false;
    };
    stat.st_mode & libc::S_IFMT == libc::S_IFSOCK
        && sockopt::socket_type(fd).ok() == Some(SocketType::SEQPACKET)
        && sockopt::socket_domain(fd).ok() == Some(AddressFamily::UNIX)
}

/// `Pipe`: Python's `multiprocessing.Pipe`, two connected ends for messages between two
/// processes, each direction a Unix `SOCK_SEQPACKET` socketpair (one datagram per message).
///
/// Differences from Python:
/// - `send`/`recv` are generic over any serde type (Python pickles); `send_bytes` /
///   `recv_bytes` move raw bytes. Message boundaries are kept either way. A message over
///   64 KiB travels as a sealed memfd whose descriptor crosses the socket, instead of being
///   streamed through it in fragments.
/// - A one-way pipe gives two different types, [`PipeReceiver`] and [`PipeSender`], so
///   sending on the receiving end does not compile.
/// - `recv` when every copy of the other end is closed is `Err(Error::Closed)` (Python:
///   `EOFError`). Each process holding a copy of the sending end keeps it open: move the end
///   into the child's closure (the parent's copy is then dropped by `Process::start`), or
///   drop it explicitly.
/// - An end belongs to one process at a time: reading one end from two processes at once is
///   not supported (use a `Queue` for many readers).
/// - An end is its socket: passed to a `spawn` or `forkserver` child in the argument of
///   [`StartMethod::start`](crate::start::StartMethod::start), it crosses as that
///   descriptor (`SCM_RIGHTS`, as Python passes a `Connection`), and the child takes it
///   only if it is a Unix `SOCK_SEQPACKET` socket sent as that very end type. Serialising an
///   end anywhere else (into a queue, through a pipe) is an error.
///
/// Constructors for connected pairs (Python: `Pipe(duplex=True|False)`).
///
/// ```
/// use multiproc::{Error, Pipe, Process};
/// let (parent_end, child_end) = Pipe::new(); // parent_conn, child_conn = Pipe()
/// let mut p = Process::spawn(move || {
///     let n: u32 = child_end.recv().unwrap(); // n = child_conn.recv()
///     child_end.send(&format!("{n} squared is {}", n * n)).unwrap(); // child_conn.send(...)
/// })
/// .unwrap();
/// parent_end.send(&7u32).unwrap(); // parent_conn.send(7)
/// let reply: String = parent_end.recv().unwrap(); // parent_conn.recv()
/// assert_eq!(reply, "7 squared is 49");
/// assert_eq!(p.join().unwrap(), 0);
/// // Every copy of the other end is closed now: EOFError in Python.
/// assert!(matches!(parent_end.recv::<String>(), Err(Error::Closed)));
/// ```
#[derive(Debug)]
pub struct Pipe;

impl Pipe {
    /// Two connected duplex ends (Python: `a, b = Pipe()`).
    ///
    /// # Panics
    /// When the process is out of file descriptors.
    #[allow(clippy::new_ret_no_self)]
    #[doc(alias = "duplex")]
    pub fn new() -> (Connection, Connection) {
        let (rx_a, tx_b) = Pipe::one_way();
        let (rx_b, tx_a) = Pipe::one_way();
        (
            Connection { tx: tx_a, rx: rx_a },
            Connection { tx: tx_b, rx: rx_b },
        )
    }

    /// A receive-only and a send-only end (Python: `r, w = Pipe(duplex=False)`).
    ///
    /// # Panics
    /// When the process is out of file descriptors.
    #[doc(alias = "duplex")]
    pub fn one_way() -> (PipeReceiver, PipeSender) {
        let (rx, tx) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap_or_else(|e| panic!("cannot create a pipe: {e}"));
        (PipeReceiver { fd: rx }, PipeSender { fd: tx })
    }
}

/// The sending end of a one-way pipe (Python: the second `Connection` of
/// `Pipe(duplex=False)`, whose `recv` would fail; here it has none). It can be passed to a
/// `spawn` or `forkserver` child as (part of) the argument of
/// [`StartMethod::start`](crate::start::StartMethod::start); this process's copy closes
/// when the argument is dropped, after the child got its own.
#[derive(Debug)]
pub struct PipeSender {
    fd: OwnedFd,
}

/// The receiving end of a one-way pipe (Python: the first `Connection` of
/// `Pipe(duplex=False)`; here it has no `send`). Passed to served children as
/// [`PipeSender`] is.
#[derive(Debug)]
pub struct PipeReceiver {
    fd: OwnedFd,
}

/// One end of a duplex pipe: sends to, and receives from, the other end (Python:
/// `multiprocessing.connection.Connection`; dropping it closes this process's copy, as
/// Python's `close()` does). Passed to served children as [`PipeSender`] is.
#[derive(Debug)]
pub struct Connection {
    tx: PipeSender,
    rx: PipeReceiver,
}

fn send_error(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPIPE | libc::ECONNRESET) => Error::Closed,
        _ => Error::Io(e),
    }
}

impl PipeSender {
    /// Send one value (Python: `conn.send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_bytes(&encode(value)?)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > INLINE_MAX {
            let fd = memfd_with(bytes)?;
            return self.send_datagram(&[SHARED], &[fd.as_raw_fd()]);
        }
        self.send_datagram_parts(&[INLINE], bytes)
    }

    fn send_datagram(&self, bytes: &[u8], fds: &[RawFd]) -> Result<()> {
        fdpass::send(self.fd.as_fd(), &[IoSlice::new(bytes)], fds)
            .map(drop)
            .map_err(send_error)
    }

    fn send_datagram_parts(&self, tag: &[u8], bytes: &[u8]) -> Result<()> {
        let iov = [IoSlice::new(tag), IoSlice::new(bytes)];
        fdpass::send(self.fd.as_fd(), &iov, &[])
            .map(drop)
            .map_err(send_error)
    }
}

impl PipeReceiver {
    /// Block for the next message and decode it as `T` (Python: `conn.recv()`).
    /// `Err(Error::Closed)` once the other end is closed and nothing is left.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.recv_bytes()?)
    }

    /// Block for the next message as raw bytes (Python: `conn.recv_bytes()`).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        let (tag, mut buf, n, truncated, mut fds) = self.recv_datagram()?;
        if n == 0 {
            // Every datagram has its tag byte: zero bytes is the end of the stream.
            return Err(Error::Closed);
        }
        let bad = |why: &str| Error::Codec(format!("a malformed pipe message: {why}"));
        if truncated {
            return Err(bad("longer than a pipe message can be"));
        }
        match (tag, fds.len()) {
            (INLINE, 0) => {
                // Give back what the message did not use (in place: a shrinking realloc).
                buf.shrink_to_fit();
                Ok(buf)
            }
            (SHARED, 1) if n == 1 => {
                let file = std::fs::File::from(fds.pop().expect("one fd"));
                let meta = file.metadata()?;
                if !meta.file_type().is_file() {
                    return Err(bad("its memory is not a file"));
                }
                let len = meta.len() as usize;
                let mut bytes = Vec::new();
                bytes
                    .try_reserve_exact(len)
                    .map_err(|e| Error::Io(std::io::Error::other(e)))?;
                bytes.resize(len, 0);
                file.read_exact_at(&mut bytes, 0)?;
                Ok(bytes)
            }
            _ => Err(bad("unknown kind")),
        }
    }

    /// Receive one datagram: its tag byte, the bytes after it (in a buffer that was never
    /// zero-filled: only what the kernel wrote is part of it), its length with the tag,
    /// whether it was truncated, and the descriptors that came with it. Filling 64 KiB of
    /// zeros per message cost more than the message itself.
    #[allow(clippy::type_complexity)]
    fn recv_datagram(&self) -> Result<(u8, Vec<u8>, usize, bool, Vec<OwnedFd>)> {
        let mut tag = [0u8];
        let mut buf: Vec<u8> = Vec::new();
        let got = match fdpass::recv(self.fd.as_fd(), &mut tag, &mut buf, INLINE_MAX, 4) {
            Ok(got) => got,
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Err(Error::Closed),
            Err(e) => return Err(Error::Io(e)),
        };
        Ok((tag[0], buf, got.bytes, got.truncated, got.fds))
    }

    /// Whether a message is ready, waiting at most `timeout` for one (Python:
    /// `conn.poll(timeout)`). A closed peer counts as ready: the next `recv` reports it.
    ///
    /// Any `timeout` is valid: one too long to end (`Duration::MAX`) waits for a message.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        use std::os::fd::AsFd;
        let deadline = crate::deadline::Deadline::after(timeout);
        Ok(crate::sys::poll::readable(
            self.fd.as_fd(),
            deadline.as_ref(),
        )?)
    }
}

impl Connection {
    /// Send one value to the other end (Python: `conn.send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.tx.send(value)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.tx.send_bytes(bytes)
    }

    /// Receive the next value (Python: `conn.recv()`).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        self.rx.recv()
    }

    /// Receive the next message as raw bytes (Python: `conn.recv_bytes()`).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.rx.recv_bytes()
    }

    /// Whether a message is ready within `timeout` (Python: `conn.poll(timeout)`).
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        self.rx.poll(timeout)
    }

    /// Split into the two halves, e.g. to give them to different owners.
    pub fn split(self) -> (PipeReceiver, PipeSender) {
        (self.rx, self.tx)
    }
}

/// The receiving socket: readable when a message or the end of the stream is there (for
/// [`connection::wait`](crate::connection::wait)).
impl AsFd for PipeReceiver {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The receiving socket of this end (see [`PipeReceiver`]'s).
impl AsFd for Connection {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

// ----- passing ends to spawn and forkserver children -----

/// A pipe end in a start request: the hash of its type, then its socket as a descriptor
/// (see `crate::handle`). Anywhere else serialising an end is an error: a fork child
/// inherits it instead.
fn export_end<Ser: Serializer, E>(
    end: &OwnedFd,
    s: Ser,
) -> std::result::Result<Ser::Ok, Ser::Error> {
    if !crate::handle::exporting() {
        return Err(serde::ser::Error::custom(format!(
            "a {} can only be sent as an argument of StartMethod::start to a spawn or \
             forkserver child (a fork child inherits it; it cannot go through a pipe or queue)",
            std::any::type_name::<E>()
        )));
    }
    (crate::handle::type_hash::<E>(), SendFd(end.as_fd())).serialize(s)
}

/// Read what `export_end` wrote: the type's hash must be `E`'s and the descriptor a Unix
/// `SOCK_SEQPACKET` socket.
fn import_end<'de, D: Deserializer<'de>, E>(d: D) -> std::result::Result<OwnedFd, D::Error> {
    use serde::de::Error as _;
    let not_e = || {
        D::Error::custom(format!(
            "the object sent is not a {}",
            std::any::type_name::<E>()
        ))
    };
    if !crate::handle::importing() {
        return Err(not_e());
    }
    let (hash, RecvFd(fd)) = <(u64, RecvFd)>::deserialize(d)?;
    if hash != crate::handle::type_hash::<E>() {
        return Err(not_e());
    }
    if !is_pipe_socket(&fd) {
        return Err(D::Error::custom(
            "the descriptor sent for a pipe end is not a Unix SOCK_SEQPACKET socket",
        ));
    }
    Ok(fd)
}

impl Serialize for PipeSender {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        export_end::<S, PipeSender>(&self.fd, s)
    }
}

impl<'de> Deserialize<'de> for PipeSender {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        import_end::<D, PipeSender>(d).map(|fd| PipeSender { fd })
    }
}

impl Serialize for PipeReceiver {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        export_end::<S, PipeReceiver>(&self.fd, s)
    }
}

impl<'de> Deserialize<'de> for PipeReceiver {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        import_end::<D, PipeReceiver>(d).map(|fd| PipeReceiver { fd })
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (crate::handle::type_hash::<Connection>(), &self.tx, &self.rx).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (hash, tx, rx) = <(u64, PipeSender, PipeReceiver)>::deserialize(d)?;
        if hash != crate::handle::type_hash::<Connection>() {
            return Err(serde::de::Error::custom(
                "the object sent is not a multiproc::pipe::Connection",
            ));
        }
        Ok(Connection { tx, rx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a forged request could attach for a pipe end: only a Unix `SOCK_SEQPACKET`
    /// socket is taken, whatever the type hash says.
    #[test]
    fn only_a_seqpacket_unix_socket_is_imported_as_a_pipe_end() {
        let import = |fd: OwnedFd| {
            let bytes = encode(&(crate::handle::type_hash::<PipeSender>(), 0u32)).expect("encodes");
            crate::handle::import(vec![fd], || decode::<PipeSender>(&bytes)).map(drop)
        };
        let (stream, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(import(stream.into()).is_err());
        let memfd = memfd_with(b"not a socket").unwrap();
        assert!(import(memfd).is_err());
        let (_r, w) = Pipe::one_way();
        assert!(import(w.fd).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(128))]

        /// Any datagram a peer writes on the socket (any tag, any bytes, a memfd or a
        /// socket attached or not) is a message, an error or the end: never a panic, and a
        /// typed `recv` of random bytes is an error or a value.
        #[test]
        fn any_datagram_is_a_message_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            attach in 0u8..3,
        ) {
            let (r, w) = Pipe::one_way();
            let memfd = memfd_with(b"shared bytes").unwrap();
            let (sock, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let fds: Vec<std::os::fd::RawFd> = match attach {
                0 => vec![],
                1 => vec![memfd.as_raw_fd()],
                _ => vec![sock.as_raw_fd()],
            };
            let iov = [std::io::IoSlice::new(&bytes)];
            fdpass::send(w.fd.as_fd(), &iov, &fds).unwrap();
            let _ = r.recv_bytes();
            fdpass::send(w.fd.as_fd(), &iov, &[]).unwrap();
            let _ = r.recv::<(u64, String, Vec<u32>)>();
        }
    }
}
