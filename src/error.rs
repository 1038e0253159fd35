//! The one error type of the library.
//!
//! Python raises a different exception for each failure (`queue.Empty`, `queue.Full`,
//! `EOFError`, `BrokenBarrierError`, `ValueError`, ...). Here every fallible call returns
//! [`Result<T>`], and the variant says which of those situations it was, so `?` works
//! throughout an example and `match` still tells them apart.

use std::fmt;
use std::io;

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in a `multiproc` call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed (`fork`, `mmap`, `socketpair`, ...).
    Io(io::Error),
    /// A timed wait ran out: `join`, `lock_timeout`, `wait`, ... (Python: returns `False`/`None`
    /// or raises `TimeoutError`).
    #[doc(alias = "TimeoutError")]
    Timeout,
    /// `get` on an empty queue gave up: non-blocking, or its timeout passed (Python: `queue.Empty`).
    Empty,
    /// `put` on a full bounded queue gave up (Python: `queue.Full`).
    Full,
    /// The other side is gone: the peer of a `Pipe` end was closed, or a queue was closed
    /// (Python: `EOFError` / `BrokenPipeError` / `ValueError: Queue is closed`).
    #[doc(alias("EOFError", "BrokenPipeError"))]
    Closed,
    /// A message could not be encoded or decoded (Python: a pickling error).
    #[doc(alias = "PicklingError")]
    Codec(String),
    /// The call is not valid in the object's current state, e.g. releasing a semaphore past
    /// its bound, `task_done` called too often, `join` on a process never started
    /// (Python: `ValueError` / `AssertionError` / `RuntimeError`).
    #[doc(alias("ValueError", "RuntimeError", "AssertionError"))]
    Invalid(String),
    /// A barrier was aborted, reset or timed out while this process waited on it
    /// (Python: `threading.BrokenBarrierError`).
    #[doc(alias = "BrokenBarrierError")]
    BrokenBarrier,
    /// A task run by a pool worker panicked; the message is the panic's.
    TaskPanicked(String),
    /// A pool worker died (killed, aborted, crashed) while running this task, or before the
    /// task could complete (Python's `Pool` hangs here; `ProcessPoolExecutor` raises
    /// `BrokenProcessPool`).
    #[doc(alias = "BrokenProcessPool")]
    WorkerDied(String),
    /// `fork` was refused because other threads run in this process: one of them may hold
    /// a lock the child needs (the allocator's, stdout's, ...), which would stay locked
    /// for ever in the child. `threads` counts every thread, the caller's included.
    /// Join the other threads first, or start processes and pools before any thread
    /// (Python only warns here, since 3.12, and the child may deadlock), or start the child
    /// with [`StartMethod::ForkServer`](crate::StartMethod) or `Spawn`, which work with threads.
    Threaded {
        /// The number of threads this process ran when `fork` was refused.
        threads: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Empty => f.write_str("queue is empty"),
            Error::Full => f.write_str("queue is full"),
            Error::Closed => f.write_str("the other end is closed"),
            Error::Codec(m) => write!(f, "message encoding failed: {m}"),
            Error::Invalid(m) => f.write_str(m),
            Error::BrokenBarrier => f.write_str("barrier is broken"),
            Error::TaskPanicked(m) => write!(f, "task panicked: {m}"),
            Error::WorkerDied(m) => write!(f, "pool worker died: {m}"),
            Error::Threaded { threads } => write!(
                f,
                "cannot fork: {threads} threads are running in this process, and fork is only \
                 safe from a single thread (another thread may hold a lock the child needs, \
                 such as stdout's or the allocator's); join the other threads first, or create \
                 processes and pools before starting threads, or use a start method that works \
                 with threads: StartMethod::ForkServer or StartMethod::Spawn (see \
                 multiproc::start)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::Io(io::Error::from(e))
    }
}
