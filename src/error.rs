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
///
/// `Debug` shows the `Display` text first, then the variant (`the pool is closed
/// (Invalid/PoolClosed)`), so a `main` returning `Result<(), Box<dyn Error>>` prints a
/// message a user can read.
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
    /// The call is not valid with these arguments or in the object's current state, e.g.
    /// releasing a semaphore past its bound, `task_done` called too often, `join` on a
    /// process never started (Python: `ValueError` / `AssertionError` / `RuntimeError`).
    /// Match on `kind` ([`InvalidKind`]); `message` is for people.
    #[doc(alias("ValueError", "RuntimeError", "AssertionError"))]
    Invalid {
        /// Which rule the call broke.
        kind: InvalidKind,
        /// What happened, in words.
        message: String,
    },
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
    /// A pool task ran past the time limit its call gave it
    /// ([`Pool::timeout`](crate::Pool::timeout)): the pool's server killed the worker running
    /// it (and started a replacement), so the task really stopped. Not [`Error::Timeout`],
    /// which is a *wait* that ran out while the work goes on. Python's nearest twin,
    /// `concurrent.futures.TimeoutError` from `Future.result(timeout)`, times out the wait
    /// only (so do loky's and joblib's timeouts): the task keeps running there.
    TimedOut,
    /// The call was cancelled ([`AsyncResult::cancel`](crate::pool::AsyncResult::cancel))
    /// before its result came (Python: `concurrent.futures.CancelledError`). A task that was
    /// running was stopped: its worker was killed and replaced.
    #[doc(alias = "CancelledError")]
    Cancelled,
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
    /// A connection's authentication handshake failed: the peer of a
    /// [`Listener`](crate::connection::Listener) or [`Client`](crate::connection::Client)
    /// proved no key, a different key, or spoke something else than the handshake, or fell
    /// silent past the handshake timeout (Python:
    /// `multiprocessing.AuthenticationError`). Nothing the peer sent was decoded as a
    /// message. The text says what went wrong, never the key.
    #[doc(alias = "AuthenticationError")]
    Authentication(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Error::Io(e) => return write!(f, "{self} (Io/{:?})", e.kind()),
            Error::Invalid { kind, .. } => return write!(f, "{self} (Invalid/{kind:?})"),
            Error::Timeout => "Timeout",
            Error::Empty => "Empty",
            Error::Full => "Full",
            Error::Closed => "Closed",
            Error::Codec(_) => "Codec",
            Error::BrokenBarrier => "BrokenBarrier",
            Error::TaskPanicked(_) => "TaskPanicked",
            Error::WorkerDied(_) => "WorkerDied",
            Error::TimedOut => "TimedOut",
            Error::Cancelled => "Cancelled",
            Error::Threaded { .. } => "Threaded",
            Error::Authentication(_) => "Authentication",
        };
        write!(f, "{self} ({variant})")
    }
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
            Error::Invalid { message, .. } => f.write_str(message),
            Error::BrokenBarrier => f.write_str("barrier is broken"),
            Error::TaskPanicked(m) => write!(f, "task panicked: {m}"),
            Error::WorkerDied(m) => write!(f, "pool worker died: {m}"),
            Error::TimedOut => {
                f.write_str("the task ran past its time limit: its worker was killed and replaced")
            }
            Error::Cancelled => f.write_str("the call was cancelled"),
            Error::Authentication(m) => write!(f, "authentication failed: {m}"),
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

/// Which rule an [`Error::Invalid`] call broke (Python raises `ValueError`,
/// `RuntimeError` or `AssertionError` for all of these, told apart only by their text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidKind {
    /// An argument out of range: zero processes, a chunksize of 0, a range outside a
    /// buffer, an unknown start-method name (Python: `ValueError`).
    Argument,
    /// A two-way setting given both ways, or one a start method cannot honour: an
    /// `initializer` and an `initializer_with`; an initializer closure for a served pool.
    Conflict,
    /// Started already: a `Process` started twice (Python: `AssertionError: cannot start a
    /// process twice`).
    AlreadyStarted,
    /// Not started yet: `join` or `kill` before `start`.
    NotStarted,
    /// Taken already: a result handed over, a child joined (Python: results can be read
    /// again; here they move out once).
    AlreadyTaken,
    /// Only the process that created the object may do this (a fork's copy of a `Pool` or
    /// a `start::Child`; Python: `AssertionError: can only join a child process`).
    NotOwner,
    /// The pool was closed or terminated: no new work (Python: `ValueError: Pool not
    /// running`).
    PoolClosed,
    /// `join` on a pool that was neither closed nor terminated (Python: `ValueError`).
    PoolOpen,
    /// Released more often than acquired: an `RLock` this thread does not hold, a
    /// `BoundedSemaphore` past its bound or a `Semaphore` past `Semaphore::MAX` (counting
    /// the units out with live permits), `task_done` too often, leaving an `Occupancy`
    /// nobody is in, a count that would overflow.
    OverReleased,
    /// A `SharedBuffer` range already claimed by a live process or thread, or a buffer
    /// frozen while a claim is live.
    Claimed,
    /// A `SharedBuffer` frozen already: it takes no more claims.
    Frozen,
    /// A fixed limit reached: a queue's window, the claims of a `SharedBuffer`, the
    /// workers of a pool.
    Limit,
    /// No longer returned: the forkserver and spawn start methods call
    /// [`start::init`](crate::start::init) themselves. Kept so that matches on it compile.
    NeedsInit,
    /// Code that cannot be named to another process: a function outside the program's
    /// executable, or a start request from another executable or naming code outside it.
    NotInExecutable,
    /// A process the call needed could not be started or ended before it was ready: the
    /// start server, a pool's server.
    StartFailed,
    /// A child process exited with a non-zero code ([`join_all`](crate::join_all)).
    ChildFailed,
    /// Another logger was installed in this process first.
    LoggerInstalled,
    /// A [`SharedMemory`](crate::SharedMemory) name that cannot be a segment's: empty,
    /// with a `/` or a NUL in it, `.` or `..`, or longer than
    /// [`SharedMemory::MAX_NAME_LEN`](crate::SharedMemory::MAX_NAME_LEN) bytes (Python:
    /// `ValueError` or `OSError`).
    Name,
    /// A named segment this process will not map: smaller than the caller needs, empty, not
    /// owned by this user, or with a mode other than `0600` (planted or opened up by
    /// someone else).
    Segment,
}

impl Error {
    /// An [`Error::Invalid`] of `kind`.
    pub(crate) fn invalid(kind: InvalidKind, message: impl Into<String>) -> Error {
        Error::Invalid {
            kind,
            message: message.into(),
        }
    }

    /// The kind of an [`Error::Invalid`], `None` for every other variant.
    pub fn invalid_kind(&self) -> Option<InvalidKind> {
        match self {
            Error::Invalid { kind, .. } => Some(*kind),
            _ => None,
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

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`), for the
/// errors that report a panic: written once for the pool, the executor and the start
/// methods.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

/// Run a callback of the user's (a future's done callback, a call's `callback` or
/// `error_callback`): a panic in it is reported on stderr and goes no further, so it
/// breaks neither the thread that runs it nor the other callbacks (Python logs it and goes
/// on, too).
pub(crate) fn run_callback(callback: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback)) {
        let message = panic_message(payload.as_ref());
        eprintln!("multiproc: a callback panicked: {message}");
    }
}
