//! `Pipe`: Python's `multiprocessing.Pipe`, two connected ends for messages between two
//! processes, on ipc-channel (a `SOCK_SEQPACKET` socketpair per direction on Linux).
//!
//! Differences from Python:
//! - `send`/`recv` are generic over any serde type (Python pickles); `send_bytes` /
//!   `recv_bytes` move raw bytes. Message boundaries are kept either way. A message over
//!   64 KiB travels as a shared-memory region whose file descriptor crosses the socket,
//!   instead of being streamed through it in fragments.
//! - A one-way pipe gives two different types, [`PipeReceiver`] and [`PipeSender`], so
//!   sending on the receiving end does not compile.
//! - `recv` when every copy of the other end is closed is `Err(Error::Closed)` (Python:
//!   `EOFError`). Each process holding a copy of the sending end keeps it open: move the end
//!   into the child's closure (the parent's copy is then dropped by `Process::start`), or
//!   drop it explicitly.
//! - An end belongs to one process at a time: reading one end from two processes at once is
//!   not supported (use a `Queue` for many readers).

use crate::codec::{decode, encode, encode_into, encoded_len};
use crate::error::{Error, Result};
use ipc_channel::ipc::{IpcReceiver, IpcSender, IpcSharedMemory};
use ipc_channel::{IpcError, TryRecvError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Messages up to this size go through the socket; larger ones as shared memory.
const INLINE_MAX: usize = 64 << 10;

/// One message on the wire.
#[derive(Serialize, Deserialize)]
enum Frame {
    Inline(ByteBuf),
    Shared(IpcSharedMemory),
}

impl Frame {
    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Inline(b) => b,
            Frame::Shared(m) => m,
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Frame::Inline(b) => b.into_vec(),
            Frame::Shared(m) => m.to_vec(),
        }
    }
}
use std::cell::RefCell;
use std::time::Duration;

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
        let (tx, rx) = ipc_channel::ipc::channel::<Frame>()
            .unwrap_or_else(|e| panic!("cannot create a pipe: {e}"));
        (
            PipeReceiver {
                rx,
                peeked: RefCell::new(None),
            },
            PipeSender { tx },
        )
    }
}

/// The sending end of a one-way pipe (Python: the second `Connection` of
/// `Pipe(duplex=False)`, whose `recv` would fail; here it has none).
pub struct PipeSender {
    tx: IpcSender<Frame>,
}

/// The receiving end of a one-way pipe (Python: the first `Connection` of
/// `Pipe(duplex=False)`; here it has no `send`).
pub struct PipeReceiver {
    rx: IpcReceiver<Frame>,
    /// A message `poll` has already taken off the socket.
    peeked: RefCell<Option<Frame>>,
}

/// One end of a duplex pipe: sends to, and receives from, the other end (Python:
/// `multiprocessing.connection.Connection`; dropping it closes this process's copy, as
/// Python's `close()` does).
pub struct Connection {
    tx: PipeSender,
    rx: PipeReceiver,
}

fn send_error(e: IpcError) -> Error {
    match e {
        IpcError::Disconnected => Error::Closed,
        IpcError::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Error::Closed,
        IpcError::Io(io) => Error::Io(io),
        IpcError::SerializationError(e) => Error::Codec(e.to_string()),
    }
}

fn recv_error(e: IpcError) -> Error {
    match e {
        IpcError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => Error::Closed,
        e => send_error(e),
    }
}

impl PipeSender {
    /// Send one value (Python: `conn.send(obj)`).
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let len = encoded_len(value)?;
        let frame = if len <= INLINE_MAX {
            Frame::Inline(ByteBuf::from(encode(value)?))
        } else {
            let mut shm = IpcSharedMemory::from_byte(0, len);
            // SAFETY: the region is ours alone until it is sent.
            encode_into(value, unsafe { shm.deref_mut() })?;
            Frame::Shared(shm)
        };
        self.tx.send(frame).map_err(send_error)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        let frame = if bytes.len() <= INLINE_MAX {
            Frame::Inline(ByteBuf::from(bytes))
        } else {
            Frame::Shared(IpcSharedMemory::from_bytes(bytes))
        };
        self.tx.send(frame).map_err(send_error)
    }
}

impl PipeReceiver {
    /// Block for the next message and decode it as `T` (Python: `conn.recv()`).
    /// `Err(Error::Closed)` once the other end is closed and nothing is left.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T> {
        decode(self.recv_frame()?.bytes())
    }

    /// Block for the next message as raw bytes (Python: `conn.recv_bytes()`).
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.recv_frame()?.into_vec())
    }

    fn recv_frame(&self) -> Result<Frame> {
        if let Some(frame) = self.peeked.borrow_mut().take() {
            return Ok(frame);
        }
        self.rx.recv().map_err(recv_error)
    }

    /// Whether a message is ready, waiting at most `timeout` for one (Python:
    /// `conn.poll(timeout)`). A closed peer counts as ready: the next `recv` reports it.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        if self.peeked.borrow().is_some() {
            return Ok(true);
        }
        match self.rx.try_recv_timeout(timeout) {
            Ok(frame) => {
                *self.peeked.borrow_mut() = Some(frame);
                Ok(true)
            }
            Err(TryRecvError::Empty) => Ok(false),
            Err(TryRecvError::IpcError(IpcError::Disconnected)) => Ok(true),
            Err(TryRecvError::IpcError(e)) => Err(recv_error(e)),
        }
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
