//! `Pipe`: Python's `multiprocessing.Pipe`, two connected ends for messages between two
//! processes, on ipc-channel (a `SOCK_SEQPACKET` socketpair per direction on Linux).
//!
//! Differences from Python:
//! - `send`/`recv` are generic over any serde type (Python pickles); `send_bytes` /
//!   `recv_bytes` move raw bytes. Message boundaries are kept either way, and messages of
//!   any size are fragmented and reassembled by ipc-channel.
//! - A one-way pipe gives two different types, [`PipeReceiver`] and [`PipeSender`], so
//!   sending on the receiving end does not compile.
//! - `recv` when every copy of the other end is closed is `Err(Error::Closed)` (Python:
//!   `EOFError`). Each process holding a copy of the sending end keeps it open: move the end
//!   into the child's closure (the parent's copy is then dropped by `Process::start`), or
//!   drop it explicitly.
//! - An end belongs to one process at a time: reading one end from two processes at once is
//!   not supported (use a `Queue` for many readers).

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use ipc_channel::ipc::{IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use std::cell::RefCell;
use std::time::Duration;

/// Constructors for connected pairs (Python: `Pipe(duplex=True|False)`).
pub struct Pipe;

impl Pipe {
    /// Two connected duplex ends (Python: `a, b = Pipe()`).
    ///
    /// # Panics
    /// When the process is out of file descriptors.
    #[allow(clippy::new_ret_no_self)]
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
    pub fn one_way() -> (PipeReceiver, PipeSender) {
        let (tx, rx) = ipc_channel::ipc::channel::<ByteBuf>()
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

/// The sending end of a one-way pipe.
pub struct PipeSender {
    tx: IpcSender<ByteBuf>,
}

/// The receiving end of a one-way pipe.
pub struct PipeReceiver {
    rx: IpcReceiver<ByteBuf>,
    /// A message `poll` has already taken off the socket.
    peeked: RefCell<Option<Vec<u8>>>,
}

/// One end of a duplex pipe: sends to, and receives from, the other end.
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
        self.send_bytes(&encode(value)?)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.tx.send(ByteBuf::from(bytes)).map_err(send_error)
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
        if let Some(bytes) = self.peeked.borrow_mut().take() {
            return Ok(bytes);
        }
        self.rx.recv().map(ByteBuf::into_vec).map_err(recv_error)
    }

    /// Whether a message is ready, waiting at most `timeout` for one (Python:
    /// `conn.poll(timeout)`). A closed peer counts as ready: the next `recv` reports it.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        if self.peeked.borrow().is_some() {
            return Ok(true);
        }
        match self.rx.try_recv_timeout(timeout) {
            Ok(buf) => {
                *self.peeked.borrow_mut() = Some(buf.into_vec());
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
