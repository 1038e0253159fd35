//! `Listener` and `Client`: Python's `multiprocessing.connection`, connections between
//! processes that did not start each other, over a Unix socket (a path or an abstract
//! name) or TCP, authenticated with a shared key by CPython's own handshake, and
//! speaking CPython's framing, so a Rust process and a Python one can talk.
//!
//! ```
//! use multiproc::connection::{Client, Listener};
//! // listener = Listener(authkey=b"secret"): a fresh private Unix socket path.
//! let mut listener = Listener::new(b"secret").unwrap();
//! let address = listener.address().clone();
//! let t = std::thread::spawn(move || {
//!     let conn = Client::connect(&address, b"secret").unwrap(); // Client(address, authkey=...)
//!     conn.send(&(6u32, "times seven")).unwrap(); // conn.send(obj)
//!     conn.recv::<u32>().unwrap() // conn.recv()
//! });
//! let conn = listener.accept().unwrap(); // conn = listener.accept()
//! let (n, _what): (u32, String) = conn.recv().unwrap();
//! conn.send(&(n * 7)).unwrap();
//! assert_eq!(t.join().unwrap(), 42);
//! ```
//!
//! | Python | here |
//! | --- | --- |
//! | `Listener(address, authkey=key)` | [`Listener::bind`]`(address, key)` ([`Listener::bind_with`] for [`Options`]) |
//! | `Listener(authkey=key)` (no address) | [`Listener::new`]`(key)`: a fresh socket in a private directory |
//! | `listener.accept()` | [`Listener::accept`], [`Listener::accept_timeout`] |
//! | `listener.address` | [`Listener::address`] |
//! | `Client(address, authkey=key)` | [`Client::connect`]`(address, key)` |
//! | `conn.send(obj)` / `conn.recv()` | [`Connection::send`] / [`Connection::recv`] (serde, never pickle) |
//! | `conn.send_bytes(b)` / `conn.recv_bytes()` | [`Connection::send_bytes`] / [`Connection::recv_bytes`] (the same bytes on the wire as CPython's) |
//! | `conn.poll(timeout)` | [`Connection::poll`] |
//! | `conn.close()`, `listener.close()` | drop, or `close()` |
//! | `wait(object_list, timeout)` | [`wait`]`(&objects, timeout)`: the indices of the ready ones |
//! | `process.sentinel` | [`Process::sentinel`](crate::Process::sentinel) (a pidfd) |
//! | `AuthenticationError` | [`Error::Authentication`] |
//! | `EOFError` | [`Error::Closed`] |
//!
//! # How it differs from Python
//!
//! - **Typed messages use serde** (the crate's codec), never pickle: receiving a message
//!   cannot run code, where CPython's `recv` unpickles whatever an authenticated peer sent.
//!   `send_bytes`/`recv_bytes` carry raw bytes and are what a CPython peer reads and writes.
//! - **`accept` goes on past a bad client.** A peer that proves no key, the wrong key, sends
//!   garbage or stays silent past the handshake timeout ([`Options::handshake_timeout`], 5 s
//!   by default) is dropped and counted ([`Listener::refused`]), and `accept` keeps serving
//!   others; handshakes run side by side (one `poll` over all of them), so a silent peer
//!   cannot hold up the next client. CPython's `accept` raises `AuthenticationError` and
//!   blocks on a silent peer for ever. The client that is refused gets
//!   [`Error::Authentication`].
//! - **A TCP listener needs a key** unless [`Options::trusted_network`] says otherwise
//!   (CPython accepts any connection when `authkey` is `None`).
//! - **A maximum message size** ([`Options::max_message_size`], 1 GiB by default,
//!   [`Connection::set_max_message_size`]): a longer announced message is refused from its
//!   header, before anything is allocated, and the connection is closed (CPython:
//!   `recv_bytes(maxlength)` per call). Handshake frames are limited to 256 bytes, as in
//!   CPython.
//! - **The key is any bytes you pass** (`b"secret"`, a `Vec<u8>`, a `&str`, or [`NO_KEY`]).
//!   A per-program random key, [`current_process().authkey()`](crate::ProcessInfo::authkey),
//!   is there to pass, as in CPython (32 bytes from `getrandom`, made before the first fork
//!   so every fork child, pool workers too, holds the same; children of the `forkserver`
//!   and `spawn` start methods have a key of their own, not yet their parent's: pass it in
//!   their argument). As in CPython, `Listener` and `Client` never use it unasked.
//! - Unix socket files are created with mode 0600; [`Listener::new`]'s in a directory of
//!   mode 0700 of their own. An existing file or symlink at the path is never followed or
//!   replaced (binding fails with "address in use"). The listener removes its socket file
//!   when dropped, in the process that bound it only, and only if the file is still its
//!   socket. So a listener at a path that is moved into a fork child's closure
//!   ([`Process::spawn`](crate::Process::spawn)) loses its file when the parent's copy is
//!   dropped: keep such a listener in the process that bound it, bind it in the child, or
//!   use an abstract name (no file).
//! - This `Connection` is a sibling of the [`Pipe`](crate::Pipe)'s
//!   [`Connection`](crate::Connection), with the same methods: a pipe keeps message
//!   boundaries in `SOCK_SEQPACKET` datagrams and passes large messages as memfds, which a
//!   stream socket to another machine or to CPython cannot.
//!
//! # Authentication
//!
//! CPython's challenge–response (see `Lib/multiprocessing/connection.py`): each side sends
//! the other a random challenge and checks the HMAC of it with the key, so both prove they
//! hold the key without sending it. This side challenges with `{sha256}` and 40 random
//! bytes, as CPython 3.12 and later do, and answers:
//! - a `{sha256}` (or `{sha384}`, `{md5}`) challenge with that digest, prefixed (3.12+);
//! - a legacy 20-byte challenge with a raw HMAC-MD5 (CPython 3.11 and earlier).
//!
//! It accepts the answers CPython 3.12 accepts: a prefixed digest, or a raw 16-byte
//! HMAC-MD5 from a 3.11 peer (HMAC-MD5 still needs the key to forge). Answers are compared
//! in constant time (the `hmac` crate). So a Rust `Client` talks to a CPython 3.11 or 3.12+
//! `Listener`, and a CPython `Client` of either to a Rust `Listener`.
//!
//! # Framing
//!
//! CPython's: each message is a 4-byte big-endian length and the bytes; a message of more
//! than `i32::MAX` bytes announces `-1` and then an 8-byte length.

mod auth;
mod frame;

use crate::deadline::Deadline;
use crate::error::{Error, InvalidKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::IoSlice;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a [`Listener`] listens and a [`Client`] connects (Python: the `address` argument,
/// a path string, a `'\0'`-led abstract name or a `(host, port)` tuple). It can be sent in
/// a message (serde), e.g. to tell a child where to connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Address {
    /// A Unix socket at this path in the file system.
    Unix(PathBuf),
    /// A Linux abstract Unix socket name (no file; Python: a string starting with `'\0'`).
    Abstract(Vec<u8>),
    /// A TCP address, IPv4 or IPv6.
    Tcp(SocketAddr),
}

impl Address {
    /// Read an address as Python writes one: `"\0name"` is an abstract Unix name;
    /// `"host:port"` (`"127.0.0.1:6000"`, `"[::1]:6000"`, `"localhost:6000"`, resolved now)
    /// is TCP; anything else, and anything with a `/`, is a Unix socket path.
    pub fn parse(s: &str) -> Result<Address> {
        if s.is_empty() {
            return Err(Error::invalid(InvalidKind::Argument, "an empty address"));
        }
        if let Some(name) = s.strip_prefix('\0') {
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if !s.contains('/') {
            if let Ok(sa) = s.parse::<SocketAddr>() {
                return Ok(Address::Tcp(sa));
            }
            if let Some((host, port)) = s.rsplit_once(':')
                && !host.is_empty()
                && let Ok(port) = port.parse::<u16>()
            {
                let sa = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
                    Error::invalid(InvalidKind::Argument, format!("{host} has no address"))
                })?;
                return Ok(Address::Tcp(sa));
            }
        }
        Ok(Address::Unix(PathBuf::from(s)))
    }

    fn is_tcp(&self) -> bool {
        matches!(self, Address::Tcp(_))
    }
}

/// What can be an [`Address`]: a `&str` (read by [`Address::parse`]), a path, a
/// `SocketAddr`, an `Address`.
pub trait ToAddress {
    /// This as an [`Address`].
    fn to_address(&self) -> Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address> {
        Ok(self.clone())
    }
}
impl ToAddress for str {
    fn to_address(&self) -> Result<Address> {
        Address::parse(self)
    }
}
impl ToAddress for String {
    fn to_address(&self) -> Result<Address> {
        Address::parse(self)
    }
}
impl ToAddress for Path {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.to_path_buf()))
    }
}
impl ToAddress for PathBuf {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Unix(self.clone()))
    }
}
impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address> {
        Ok(Address::Tcp(*self))
    }
}
impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address> {
        (**self).to_address()
    }
}

/// A connection's key (Python: `authkey`): bytes both sides must hold, or none at all
/// ([`NO_KEY`]: no handshake, as Python's `authkey=None`). Made from `b"..."`, `&[u8]`,
/// `Vec<u8>` or `&str`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthKey(Option<Vec<u8>>);

/// No key: no authentication (Python: `authkey=None`).
pub const NO_KEY: AuthKey = AuthKey(None);

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        match &self.0 {
            Some(k) => write!(f, "AuthKey({} bytes)", k.len()),
            None => f.write_str("NO_KEY"),
        }
    }
}

impl<const N: usize> From<&[u8; N]> for AuthKey {
    fn from(k: &[u8; N]) -> Self {
        AuthKey(Some(k.to_vec()))
    }
}
impl From<&[u8]> for AuthKey {
    fn from(k: &[u8]) -> Self {
        AuthKey(Some(k.to_vec()))
    }
}
impl From<Vec<u8>> for AuthKey {
    fn from(k: Vec<u8>) -> Self {
        AuthKey(Some(k))
    }
}
impl From<&Vec<u8>> for AuthKey {
    fn from(k: &Vec<u8>) -> Self {
        AuthKey(Some(k.clone()))
    }
}
impl From<&str> for AuthKey {
    fn from(k: &str) -> Self {
        AuthKey(Some(k.as_bytes().to_vec()))
    }
}
impl From<Option<&[u8]>> for AuthKey {
    fn from(k: Option<&[u8]>) -> Self {
        AuthKey(k.map(<[u8]>::to_vec))
    }
}
impl From<&AuthKey> for AuthKey {
    fn from(k: &AuthKey) -> Self {
        k.clone()
    }
}

/// The default [`Options::max_message_size`]: 1 GiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;
/// The default [`Options::handshake_timeout`]: 5 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`Listener`] or [`Client`] beyond its address and key (not in Python).
#[derive(Clone, Debug)]
pub struct Options {
    handshake_timeout: Duration,
    max_message_size: usize,
    trusted_network: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            trusted_network: false,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// How long a peer has to complete the handshake (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]); past it the listener drops the peer, and the
    /// client's `connect` is an [`Error::Authentication`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Options {
        self.handshake_timeout = timeout;
        self
    }

    /// The longest message a connection receives (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]): a longer announced one is refused from its header,
    /// before anything is allocated.
    pub fn max_message_size(mut self, bytes: usize) -> Options {
        self.max_message_size = bytes;
        self
    }

    /// Allow a TCP [`Listener`] without a key: anyone who can reach the port can then send
    /// it messages. For a network where every host is trusted only.
    pub fn trusted_network(mut self, trusted: bool) -> Options {
        self.trusted_network = trusted;
        self
    }
}

/// This program's random key (see [`ProcessInfo::authkey`](crate::ProcessInfo::authkey)):
/// made on first use, and by the crate before every fork, so fork children share it.
pub(crate) fn process_authkey() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        let mut filled = 0;
        while filled < k.len() {
            match rustix::rand::getrandom(&mut k[filled..], rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => panic!("getrandom failed: {e}"),
            }
        }
        k
    })
}

// ----- the connection -----

/// A connected socket between two processes (Python:
/// `multiprocessing.connection.Connection`), given by [`Listener::accept`] and
/// [`Client::connect`]. Its methods are the pipe [`Connection`](crate::Connection)'s.
#[derive(Debug)]
pub struct Connection {
    fd: OwnedFd,
    max: usize,
}

fn send_error(e: rustix::io::Errno) -> Error {
    match e {
        rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET => Error::Closed,
        e => Error::Io(e.into()),
    }
}

/// Write all of `parts` to the socket `fd` (no `SIGPIPE`: a closed peer is `Closed`).
fn send_all(fd: BorrowedFd<'_>, parts: &mut [IoSlice<'_>]) -> Result<()> {
    let mut parts = parts;
    while !parts.is_empty() {
        let n = match rustix::net::sendmsg(
            fd,
            parts,
            &mut rustix::net::SendAncillaryBuffer::default(),
            rustix::net::SendFlags::NOSIGNAL,
        ) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(send_error(e)),
        };
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Send `payload` as one frame.
fn send_frame(fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    let (header, hlen) = frame::encode_header(payload.len());
    send_all(
        fd,
        &mut [IoSlice::new(&header[..hlen]), IoSlice::new(payload)],
    )
}

/// `read(2)` on `fd`, after waiting for it until `deadline` (`TimedOut` past it); a reset
/// connection reads as its end.
fn read_some(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    deadline: Option<&Deadline>,
) -> std::io::Result<usize> {
    loop {
        if deadline.is_some() && !crate::sys::poll::readable(fd, deadline)? {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::CONNRESET) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}

impl Connection {
    fn new(fd: OwnedFd, max: usize) -> Connection {
        Connection { fd, max }
    }

    /// Send one value (Python: `conn.send(obj)`), encoded by the crate's serde codec.
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_bytes(&crate::codec::encode(value)?)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`): the frame a CPython
    /// peer's `recv_bytes` reads.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        send_frame(self.fd.as_fd(), bytes)
    }

    /// Block for the next message and decode it as `T` (Python: `conn.recv()`).
    /// `Err(Error::Closed)` once the peer closed the connection.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        crate::codec::decode(&self.recv_bytes()?)
    }

    /// Block for the next message as raw bytes (Python: `conn.recv_bytes()`).
    /// `Err(Error::Closed)` once the peer closed the connection; a message announced
    /// longer than [`max_message_size`](Self::max_message_size) is refused before
    /// anything is allocated for it, and closes the connection (its stream cannot be
    /// trusted after that, as in CPython).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        let fd = self.fd.as_fd();
        let r = frame::read_frame(|buf| read_some(fd, buf, None), self.max);
        if let Err(e) = &r
            && !matches!(e, Error::Closed | Error::Io(_))
        {
            let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
        }
        r
    }

    /// Whether a message (or the peer's end) is ready within `timeout` (Python:
    /// `conn.poll(timeout)`). Any timeout is valid: `Duration::MAX` waits for ever.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        let deadline = Deadline::after(timeout);
        Ok(crate::sys::poll::readable(
            self.fd.as_fd(),
            deadline.as_ref(),
        )?)
    }

    /// The longest message [`recv_bytes`](Self::recv_bytes) takes.
    pub fn max_message_size(&self) -> usize {
        self.max
    }

    /// Set the longest message [`recv_bytes`](Self::recv_bytes) takes.
    pub fn set_max_message_size(&mut self, bytes: usize) {
        self.max = bytes;
    }

    /// Close the connection (Python: `conn.close()`; dropping it does the same).
    pub fn close(self) {}
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

// ----- wait -----

/// Block until at least one of `objects` is ready, or `timeout` passes (`None`: no limit);
/// the indices of the ready ones, in order, none if the time ran out (Python:
/// `multiprocessing.connection.wait(object_list, timeout)`, which returns the objects).
///
/// Ready means: a [`Connection`], a pipe [`Connection`](crate::Connection) or
/// [`PipeReceiver`](crate::PipeReceiver) has a message or its peer closed (the next `recv`
/// does not block, or reports [`Error::Closed`]); a [`Listener`] has a client waiting (with
/// a key, `accept` then runs its handshake, and may go on waiting for another if that one
/// fails); a [`Process::sentinel`](crate::Process::sentinel) has ended. Anything else with a
/// descriptor (`AsFd`) can be waited on for reading too. One `poll` for all of them: the
/// process sleeps until one is ready, never spinning.
///
/// ```
/// use multiproc::connection::wait;
/// use multiproc::{Pipe, Process};
/// use std::os::fd::AsFd;
/// use std::time::Duration;
/// let (a, b) = Pipe::new();
/// let (quiet, _other) = Pipe::new();
/// let mut p = Process::spawn(move || b.send(&"hi").unwrap()).unwrap();
/// let sentinel = p.sentinel().unwrap();
/// let objects: [&dyn AsFd; 3] = [&quiet, &a, &sentinel];
/// let ready = wait(&objects, Some(Duration::from_secs(10))).unwrap();
/// assert!(ready.contains(&1) || ready.contains(&2));
/// assert!(!ready.contains(&0));
/// assert_eq!(a.recv::<String>().unwrap(), "hi");
/// assert_eq!(p.join().unwrap(), 0);
/// assert_eq!(wait(&objects[2..], Some(Duration::ZERO)).unwrap(), [0]);
/// ```
pub fn wait(objects: &[&dyn AsFd], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let deadline = timeout.and_then(Deadline::after);
    let fds: Vec<BorrowedFd<'_>> = objects.iter().map(|o| o.as_fd()).collect();
    Ok(crate::sys::poll::any_readable_until(
        &fds,
        deadline.as_ref(),
    )?)
}

// ----- the client -----

/// Python's `multiprocessing.connection.Client`: connect to a [`Listener`] (this crate's
/// or CPython's).
#[derive(Debug)]
pub struct Client;

/// Map what went wrong in a handshake to the error its caller sees.
fn handshake_error(e: Error) -> Error {
    match e {
        Error::Authentication(_) => e,
        Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Authentication(
            "the peer did not complete the handshake in time (does it expect a key?)".into(),
        ),
        Error::Closed => Error::Authentication(
            "the peer closed the connection during the handshake (a different key?)".into(),
        ),
        Error::Io(io) => Error::Io(io),
        other => Error::Authentication(format!("the peer broke the handshake: {other}")),
    }
}

impl Client {
    /// Connect to `address` and authenticate with `authkey` (Python:
    /// `Client(address, authkey=authkey)`); [`NO_KEY`] for a listener without one.
    pub fn connect(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Connection> {
        Client::connect_with(address, authkey, &Options::default())
    }

    /// [`connect`](Self::connect) with [`Options`].
    pub fn connect_with(
        address: impl ToAddress,
        authkey: impl Into<AuthKey>,
        options: &Options,
    ) -> Result<Connection> {
        let fd: OwnedFd = match address.to_address()? {
            Address::Unix(path) => UnixStream::connect(path)?.into(),
            Address::Abstract(name) => UnixStream::connect_addr(
                &std::os::unix::net::SocketAddr::from_abstract_name(name)?,
            )?
            .into(),
            Address::Tcp(sa) => {
                let s = TcpStream::connect(sa)?;
                s.set_nodelay(true)?;
                s.into()
            }
        };
        if let AuthKey(Some(key)) = authkey.into() {
            Client::handshake(fd.as_fd(), &key, options).map_err(handshake_error)?;
        }
        Ok(Connection::new(fd, options.max_message_size))
    }

    fn handshake(fd: BorrowedFd<'_>, key: &[u8], options: &Options) -> Result<()> {
        let deadline = Deadline::after(options.handshake_timeout);
        let mut h = auth::Handshake::client(key);
        loop {
            let f =
                frame::read_frame(|buf| read_some(fd, buf, deadline.as_ref()), auth::MAX_FRAME)?;
            match h.on_frame(&f) {
                Ok(p) => {
                    for out in &p.send {
                        send_frame(fd, out)?;
                    }
                    if p.done {
                        return Ok(());
                    }
                }
                Err(r) => {
                    if let Some(out) = r.send {
                        let _ = send_frame(fd, &out);
                    }
                    return Err(r.error);
                }
            }
        }
    }
}

// ----- the listener -----

/// A handshake in progress on an accepted socket.
#[derive(Debug)]
struct Pending {
    fd: OwnedFd,
    handshake: auth::Handshake,
    buf: Vec<u8>,
    deadline: Deadline,
}

/// The socket file a listener removes when dropped.
#[derive(Debug)]
struct Cleanup {
    path: PathBuf,
    dev: u64,
    ino: u64,
    pid: u32,
    dir: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            return; // a fork's copy: the file is the parent's
        }
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Python's `multiprocessing.connection.Listener`: a bound socket that accepts
/// authenticated [`Connection`]s (see the [module docs](self)).
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    address: Address,
    key: Option<Vec<u8>>,
    options: Options,
    pending: Vec<Pending>,
    refused: u64,
    _cleanup: Option<Cleanup>,
}

/// 16 random hex digits, for private file names.
fn random_name() -> Result<String> {
    let mut b = [0u8; 8];
    let mut filled = 0;
    while filled < b.len() {
        filled += rustix::rand::getrandom(&mut b[filled..], rustix::rand::GetRandomFlags::empty())
            .map_err(std::io::Error::from)?;
    }
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn cleanup_for(path: &Path, dir: Option<PathBuf>) -> Result<Cleanup> {
    let m = std::fs::symlink_metadata(path)?;
    Ok(Cleanup {
        path: path.to_path_buf(),
        dev: m.dev(),
        ino: m.ino(),
        pid: std::process::id(),
        dir,
    })
}

/// Bind a Unix socket at `path` with mode 0600, never following or replacing what is
/// there: bound in a fresh private directory beside it, then renamed into place with
/// `RENAME_NOREPLACE`.
fn bind_unix_path(path: &Path) -> Result<UnixListener> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = parent.join(format!(".multiproc-bind-{}", random_name()?));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let tmp = dir.join("s");
    let bound = (|| -> Result<UnixListener> {
        let l = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &tmp,
            rustix::fs::CWD,
            path,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(l),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                // A file system without RENAME_NOREPLACE: bind in place (bind never
                // follows or replaces an existing file either), then restrict the mode.
                drop(l);
                let l = UnixListener::bind(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                Ok(l)
            }
            Err(rustix::io::Errno::EXIST) => Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} exists already: address in use", path.display()),
            ))),
            Err(e) => Err(Error::Io(e.into())),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&dir);
    bound
}

impl Listener {
    /// Listen at `address` (a path, `"\0name"`, `"host:port"`, an [`Address`]) for clients
    /// holding `authkey` (Python: `Listener(address, authkey=authkey)`); [`NO_KEY`] for no
    /// authentication, refused for TCP unless [`Options::trusted_network`].
    pub fn bind(address: impl ToAddress, authkey: impl Into<AuthKey>) -> Result<Listener> {
        Listener::bind_with(address, authkey, &Options::default())
    }

    /// [`bind`](Self::bind) with [`Options`].
    pub fn bind_with(
        address: impl ToAddress,
        authkey: impl Into<AuthKey>,
        options: &Options,
    ) -> Result<Listener> {
        let address = address.to_address()?;
        let AuthKey(key) = authkey.into();
        if address.is_tcp() && key.is_none() && !options.trusted_network {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "a TCP listener without an authkey accepts anyone who can reach its port: \
                 give it a key, or say the network is trusted (Options::trusted_network)",
            ));
        }
        let (fd, address, cleanup): (OwnedFd, Address, Option<Cleanup>) = match address {
            Address::Unix(path) => {
                let l = bind_unix_path(&path)?;
                l.set_nonblocking(true)?;
                let c = cleanup_for(&path, None)?;
                (l.into(), Address::Unix(path), Some(c))
            }
            Address::Abstract(name) => {
                let l = UnixListener::bind_addr(
                    &std::os::unix::net::SocketAddr::from_abstract_name(&name)?,
                )?;
                l.set_nonblocking(true)?;
                (l.into(), Address::Abstract(name), None)
            }
            Address::Tcp(sa) => {
                let l = TcpListener::bind(sa)?;
                l.set_nonblocking(true)?;
                let local = l.local_addr()?;
                (l.into(), Address::Tcp(local), None)
            }
        };
        Ok(Listener {
            fd,
            address,
            key,
            options: options.clone(),
            pending: Vec::new(),
            refused: 0,
            _cleanup: cleanup,
        })
    }

    /// Listen on a fresh Unix socket in a new directory only this user can enter, under
    /// the temporary directory (Python: `Listener()` with no address, which picks one the
    /// same way). [`address`](Self::address) says where.
    pub fn new(authkey: impl Into<AuthKey>) -> Result<Listener> {
        Listener::new_with(authkey, &Options::default())
    }

    /// [`new`](Self::new) with [`Options`].
    pub fn new_with(authkey: impl Into<AuthKey>, options: &Options) -> Result<Listener> {
        let dir = std::env::temp_dir().join(format!("multiproc-{}", random_name()?));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let path = dir.join(format!("listener-{}", random_name()?));
        match Listener::bind_with(&path, authkey, options) {
            Ok(mut l) => {
                if let Some(c) = &mut l._cleanup {
                    c.dir = Some(dir);
                }
                Ok(l)
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// Where this listener listens (Python: `listener.address`); for TCP with port 0, the
    /// port the system chose.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// How many peers were dropped so far for failing the handshake: a wrong or missing
    /// key, garbage, silence past the handshake timeout.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Block until a client connects and authenticates (Python: `listener.accept()`).
    /// Clients that fail the handshake are dropped and counted ([`refused`](Self::refused));
    /// `accept` goes on with the others.
    pub fn accept(&mut self) -> Result<Connection> {
        self.accept_until(None)
    }

    /// [`accept`](Self::accept), giving up with [`Error::Timeout`] after `timeout`.
    pub fn accept_timeout(&mut self, timeout: Duration) -> Result<Connection> {
        self.accept_until(Deadline::after(timeout))
    }

    fn accept_until(&mut self, deadline: Option<Deadline>) -> Result<Connection> {
        loop {
            let before = self.pending.len();
            self.pending.retain(|p| !p.deadline.expired());
            self.refused += (before - self.pending.len()) as u64;
            let ready = {
                let mut wake = deadline.as_ref();
                for p in &self.pending {
                    if wake.is_none_or(|w| p.deadline.remaining() < w.remaining()) {
                        wake = Some(&p.deadline);
                    }
                }
                let fds: Vec<BorrowedFd<'_>> = std::iter::once(self.fd.as_fd())
                    .chain(self.pending.iter().map(|p| p.fd.as_fd()))
                    .collect();
                crate::sys::poll::any_readable_until(&fds, wake)?
            };
            if ready.is_empty() && deadline.as_ref().is_some_and(Deadline::expired) {
                return Err(Error::Timeout);
            }
            for &i in ready.iter().rev() {
                if i == 0 {
                    continue;
                }
                match self.advance(i - 1) {
                    Ok(None) => {}
                    Ok(Some(conn)) => return Ok(conn),
                    Err(_) => self.refused += 1,
                }
            }
            if ready.first() == Some(&0)
                && let Some(conn) = self.take_new()?
            {
                return Ok(conn);
            }
        }
    }

    /// Accept the connections waiting: with no key, the first is the connection; with a
    /// key, each starts its handshake.
    fn take_new(&mut self) -> Result<Option<Connection>> {
        for _ in 0..64 {
            let fd = match rustix::net::accept_with(
                &self.fd,
                rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            ) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => continue,
                Err(e) => return Err(Error::Io(e.into())),
            };
            if self.address.is_tcp() {
                let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
            }
            let Some(key) = &self.key else {
                rustix::io::ioctl_fionbio(&fd, false).map_err(std::io::Error::from)?;
                return Ok(Some(Connection::new(fd, self.options.max_message_size)));
            };
            let (handshake, challenge) = auth::Handshake::listener(key)?;
            if send_frame(fd.as_fd(), &challenge).is_err() {
                self.refused += 1;
                continue;
            }
            self.pending.push(Pending {
                fd,
                handshake,
                buf: Vec::new(),
                deadline: Deadline::step(self.options.handshake_timeout),
            });
        }
        Ok(None)
    }

    /// Read what pending handshake `i` has for us, exactly up to the end of each frame (so
    /// nothing after the handshake is taken from the connection), and act on whole frames.
    /// `Ok(Some)` once it authenticated; an error drops it.
    fn advance(&mut self, i: usize) -> Result<Option<Connection>> {
        let result = (|| -> Result<Option<()>> {
            let p = &mut self.pending[i];
            loop {
                let want = frame::wanted(&p.buf, auth::MAX_FRAME)
                    .map_err(|e| Error::Authentication(format!("a bad handshake frame: {e}")))?;
                if want == 0 {
                    let f = frame::payload(&p.buf, auth::MAX_FRAME)?
                        .expect("a whole frame")
                        .to_vec();
                    p.buf.clear();
                    match p.handshake.on_frame(&f) {
                        Ok(progress) => {
                            for out in &progress.send {
                                send_frame(p.fd.as_fd(), out)?;
                            }
                            if progress.done {
                                return Ok(Some(()));
                            }
                        }
                        Err(r) => {
                            if let Some(out) = r.send {
                                let _ = send_frame(p.fd.as_fd(), &out);
                            }
                            return Err(r.error);
                        }
                    }
                    continue;
                }
                let old = p.buf.len();
                p.buf.resize(old + want, 0);
                match rustix::io::read(&p.fd, &mut p.buf[old..]) {
                    Ok(0) | Err(rustix::io::Errno::CONNRESET) => {
                        return Err(Error::Authentication(
                            "the peer closed the connection during the handshake".into(),
                        ));
                    }
                    Ok(n) => p.buf.truncate(old + n),
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                        p.buf.truncate(old);
                        return Ok(None);
                    }
                    Err(e) => return Err(Error::Io(e.into())),
                }
            }
        })();
        match result {
            Ok(None) => Ok(None),
            Ok(Some(())) => {
                let p = self.pending.swap_remove(i);
                rustix::io::ioctl_fionbio(&p.fd, false).map_err(std::io::Error::from)?;
                Ok(Some(Connection::new(p.fd, self.options.max_message_size)))
            }
            Err(e) => {
                self.pending.swap_remove(i);
                Err(e)
            }
        }
    }

    /// Stop listening (Python: `listener.close()`; dropping it does the same).
    pub fn close(self) {}
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_python_writes_them() {
        assert_eq!(
            Address::parse("/tmp/x.sock").unwrap(),
            Address::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Address::parse("\0name").unwrap(),
            Address::Abstract(b"name".to_vec())
        );
        assert_eq!(
            Address::parse("127.0.0.1:6000").unwrap(),
            Address::Tcp("127.0.0.1:6000".parse().unwrap())
        );
        assert_eq!(
            Address::parse("[::1]:6000").unwrap(),
            Address::Tcp("[::1]:6000".parse().unwrap())
        );
        assert!(matches!(
            Address::parse("localhost:6000").unwrap(),
            Address::Tcp(sa) if sa.port() == 6000 && sa.ip().is_loopback()
        ));
        assert_eq!(
            Address::parse("relative.sock").unwrap(),
            Address::Unix("relative.sock".into())
        );
        assert!(Address::parse("").is_err());
        assert_eq!(
            format!("{:?}", AuthKey::from(b"secret")),
            "AuthKey(6 bytes)"
        );
    }
}
