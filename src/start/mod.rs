//! Start methods: `fork`, `forkserver` and `spawn` (Python: `multiprocessing.get_context`).
//!
//! [`Process`](crate::Process) and [`Pool`](crate::Pool) fork the caller, which is only safe
//! while it runs one thread (see [`crate::process`]). Most real programs run threads (an
//! async runtime, a thread pool, a logger); for them a child is started another way:
//!
//! | method | how the child starts | what it shares with the caller | works with threads |
//! |---|---|---|---|
//! | [`StartMethod::Fork`] | `fork` of the caller | a copy of everything | no: [`Error::Threaded`] |
//! | [`StartMethod::ForkServer`] | `fork` of a server process, started once per process | only what is passed | yes |
//! | [`StartMethod::Spawn`] | the program re-executed (`/proc/self/exe`), by the server | only what is passed | yes |
//!
//! A child runs a `fn(A) -> R` with serde arguments and sends back a serde result:
//! [`StartMethod::start`] returns a [`Child`], whose [`Child::join`] gives the result.
//!
//! ```no_run
//! use multiproc::start::{self, StartMethod};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> multiproc::Result<()> {
//!     start::init(); // optional: shared objects created from here on can travel
//!     let mut child = StartMethod::Spawn.start(square, 7)?;
//!     assert_eq!(child.join()?, 49);
//!     Ok(())
//! }
//! ```
//!
//! # Served processes take their role before `main`; [`init`] is optional
//!
//! The start server and spawned children are this program re-executed (`/proc/self/exe`,
//! with `MULTIPROC_START` naming the role and a socket on descriptor 3). They take their
//! role in an ELF constructor of the crate (`.init_array`), which the C library runs before
//! `main`: they never reach `main`, so nothing `main` starts exists in them. That matters
//! for `#[tokio::main]`, whose runtime and its worker threads exist before `main`'s first
//! line: were the role taken in `main`, the server would be a copy of the program with a
//! runtime's threads, and would refuse to fork (it never forks beside a thread). In an
//! ordinary program the constructor reads one environment variable and returns; in a
//! secure-exec process it ignores the variable. So a `#[tokio::main] async fn main()` just
//! works:
//!
//! ```no_run
//! use multiproc::start::{self, StartMethod};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! #[tokio::main]
//! async fn main() -> multiproc::Result<()> {
//!     start::init(); // optional; safe beside the runtime's threads
//!     let mut child = StartMethod::ForkServer.start(square, 7)?;
//!     assert_eq!(child.join()?, 49);
//!     Ok(())
//! }
//! ```
//!
//! In the program, [`init`] only records that start methods are in use: shared objects
//! created from then on can travel (see below), and the soft limit on open files is raised.
//! That is process-wide and thread-safe, so it may be called anywhere, threads running or
//! not. The forkserver and spawn starts (and pools built with them) call it themselves on
//! first use; call it yourself, early, when shared objects created before the first start
//! are to be sent. A program that calls it first in `main`, as before, is unchanged.
//!
//! # Function identity
//!
//! A task names two functions: the user's `fn(A) -> R` and a *trampoline* monomorphised for
//! `A` and `R` that decodes the arguments, calls it and encodes the result. Neither travels
//! as an address: ASLR places the program elsewhere in every exec. Each travels as its
//! offset from an anchor (a static of this crate) in the same executable; the slide of a
//! position-independent executable moves both by the same amount, so the offset is the same
//! in every process running that executable file. Checked on both sides:
//! - the sender refuses a function outside the executable the anchor is in (`dladdr`: code
//!   of a shared library or `dlopen`ed later has another base);
//! - the request carries the executable's device and inode (of `/proc/self/exe`); the child
//!   refuses a request from another file. Children re-execute `/proc/self/exe`, which is
//!   the very file the caller runs even if its path was replaced since;
//! - the child checks that the resolved address lies in its executable, too.
//!
//! The request arrives only on a socket the child inherits from its creator, never from a
//! path, a port or the command line. A program that re-executes itself by hand with
//! `MULTIPROC_START` set and forges a request is outside what a library can protect (as is
//! writing to `/proc/self/mem`); see SOUNDNESS.md.
//!
//! # How shared objects travel
//!
//! A fork child inherits every mapping; a forkserver or spawn child inherits nothing. After
//! [`init`] (yours, or the one the first forkserver or spawn start makes), [`Value`](crate::Value), [`Array`](crate::Array), [`Lock`](crate::Lock),
//! [`RLock`](crate::RLock), [`Event`](crate::Event), [`Condition`](crate::Condition),
//! [`Semaphore`](crate::Semaphore), [`BoundedSemaphore`](crate::BoundedSemaphore),
//! [`Barrier`](crate::Barrier) and [`SharedBuffer`](crate::SharedBuffer) live in sealed
//! `memfd`s, and every [`Queue`](crate::Queue), [`SimpleQueue`](crate::SimpleQueue) and
//! [`JoinableQueue`](crate::JoinableQueue) has a memfd of its own (before [`init`], queues
//! share slabs of 256, which cannot be handed out one by one). When the arguments of a task are encoded, each such handle writes its 128-bit
//! id, the hash of its full type and the indices of its memfds (a `Condition` also writes
//! its `Lock`'s handle, so the child gets one `Lock` object for every condition on it); the
//! memfds go with the request as `SCM_RIGHTS` (Python passes its resources the same way).
//! The child maps each memfd after checking its kernel-held name (which records the state
//! type) and its sealed size, and registers it under the same id, so decoding keeps the
//! checks fork children get: an object decoded as another type is an error, and lengths
//! come from the memory, never from the message. Pipe ends ([`PipeSender`](crate::PipeSender),
//! [`PipeReceiver`](crate::PipeReceiver), [`Connection`](crate::Connection)) are their
//! sockets: they cross as those descriptors, checked to be Unix `SOCK_SEQPACKET` sockets,
//! and this process's copy closes when the argument is dropped. A `SharedSlice` (private
//! copy-on-write memory) cannot travel, nor a `Barrier` with an action (a closure of this
//! process), nor objects created before [`init`]: sending one is an error when the request
//! is encoded, naming the type and why.
//!
//! Since every live object now holds a descriptor, [`init`] raises the soft limit on open
//! files to the hard one (1,024 is a common soft limit; the hard one is often 500,000 or
//! more), as Go and the JVM do at start.
//!
//! # Pools
//!
//! [`PoolBuilder::start_method`](crate::pool::PoolBuilder::start_method) starts a pool's
//! server this way: the start server forks (or spawns) it, and it receives the pool's
//! private task and result queues and its worker slots as memfds in the request (they are
//! never registered, so no user message can name them). The server then forks the workers
//! itself, as a fork pool's server does, so dead-worker reports and replacements are the
//! same. Tasks name their functions by offset, as above. Shared objects reach the workers
//! of such a pool only through [`PoolBuilder::share`](crate::pool::PoolBuilder::share)
//! (Python: `initargs`): they are in the server's request, and every worker, a fork of the
//! server, has them.
//!
//! # Children die with their parent
//!
//! A fork child dies with the thread that started it (`PR_SET_PDEATHSIG`). A forkserver or
//! spawn child is a child of the server, with `PR_SET_PDEATHSIG` tied to the server's only
//! thread; the server ends when the control socket's last holder (its owner and the owner's
//! fork children, which die with it) is gone. So a killed program leaves no child behind,
//! whichever thread started it. [`shutdown`] ends the server at once (and kills the children
//! it still runs).

#[allow(unsafe_code)] // an ELF constructor (`.init_array`) and SIG_IGN
mod before_main;
#[allow(unsafe_code)]
pub(crate) mod child;
#[allow(unsafe_code)]
mod client;
pub(crate) mod identity;
#[allow(unsafe_code)]
mod server;
mod started;
#[allow(unsafe_code)]
mod task;
pub(crate) mod wire;

pub use client::shutdown;
pub(crate) use client::{close_inherited_control, start_served};
pub use started::Child;

use crate::error::{Error, InvalidKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The environment variable that tells [`init`] what this process is.
const ENV: &str = "MULTIPROC_START";
/// The descriptor a re-executed process finds its socket on.
const FD: i32 = 3;

/// How a child process is started (Python: the `method` of `get_context(method)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// Fork the caller (Python: `"fork"`). Cheapest; the child sees a copy of everything.
    /// Refused with [`Error::Threaded`] while other threads run.
    Fork,
    /// Fork a single-threaded server process (Python: `"forkserver"`, its default on Linux
    /// since 3.14). Works from threaded programs.
    ForkServer,
    /// Re-execute the program (Python: `"spawn"`). A fresh address space; slowest; works
    /// from threaded programs.
    Spawn,
}

impl StartMethod {
    /// Every method, in Python's order of cost.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::ForkServer,
        StartMethod::Spawn,
    ];

    /// Python's name for the method: `"fork"`, `"forkserver"`, `"spawn"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::ForkServer => "forkserver",
            StartMethod::Spawn => "spawn",
        }
    }

    /// Start a child running `f(arg)` (Python: `ctx.Process(target=f, args=(arg,)).start()`).
    /// `f` is a `fn` item or a non-capturing closure of this program; `arg` and the result
    /// are serde types, and may hold the shared objects that travel (see the module docs).
    pub fn start<A, R>(self, f: fn(A) -> R, arg: A) -> Result<Child<R>>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        match self {
            StartMethod::Fork => client::start_fork(f, arg),
            StartMethod::ForkServer | StartMethod::Spawn => start_served(self, f, arg, None),
        }
    }
}

impl std::fmt::Display for StartMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StartMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<StartMethod> {
        StartMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    InvalidKind::Argument,
                    format!("unknown start method {s:?}: fork, forkserver or spawn"),
                )
            })
    }
}

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// What this process is: the program (`OWNER`), or a start server or served child, which
/// the environment selected (`SERVED`; inherited by their forks).
static ROLE: AtomicU8 = AtomicU8::new(OWNER);
const OWNER: u8 = 0;
const SERVED: u8 = 1;

/// Whether this process is (a fork of) a start server or a served child, where nothing may
/// fork beside a thread, whatever a caller promises.
pub(crate) fn is_served() -> bool {
    ROLE.load(Ordering::Relaxed) == SERVED
}

/// Make shared objects created from now on able to travel to forkserver and spawn children
/// (Python has no such call; procspawn's `init` is its model). Optional: the forkserver and
/// spawn start methods, and pools built with them, call it themselves on first use. Call it
/// yourself, anywhere, as early as you like, when shared objects created before the first
/// start are to be sent: only objects created after it can travel (sending an earlier one is
/// an error, naming why). Safe with threads running, so in a `#[tokio::main] async fn main()`
/// it may be the first line of the async body.
///
/// It backs every later shared object with a memfd, and raises the soft limit on open files
/// to the hard one. It never runs a start server's or a spawned child's code: those roles are
/// taken before `main`, by the crate's ELF constructor (see the module docs), so `init` always
/// returns. (Where that constructor did not run, `init` takes the role as it used to, and
/// then does not return: a program that calls it first in `main` works either way.)
///
/// The role comes from the environment (`MULTIPROC_START`) and a socket on descriptor 3,
/// and is trusted only where both belong to whoever started this process:
/// - in a secure-exec process (set-user-id, set-group-id, file capabilities: `AT_SECURE`)
///   the variable is ignored and the process runs `main`, as the program;
/// - the socket's peer (`SO_PEERCRED`, recorded by the kernel) must be this process's
///   parent, with its effective user and group; otherwise the process says so on stderr
///   and exits with code 2, before reading a byte of it.
pub fn init() {
    enable();
    if !before_main::ran()
        && let Some(what) = role()
    {
        child::adopt(&what)
    }
}

/// The owner's part of [`init`]: memfd-backed shared objects from now on, the fd limit
/// raised. Process-wide and thread-safe (an atomic store and `setrlimit`).
fn enable() {
    crate::shm::use_memfd();
    raise_fd_limit();
    INITIALISED.store(true, Ordering::Relaxed);
}

/// The role (`"child"` or `"server"`) the environment gives this process, if it is to be
/// taken: never in a secure-exec process, whose environment a less privileged user chose.
fn role() -> Option<std::ffi::OsString> {
    let what = std::env::var_os(ENV)?;
    if crate::sys::peer::secure_exec() || (what != "child" && what != "server") {
        return None;
    }
    Some(what)
}

/// From here on every live shared object holds a file descriptor (its memfd), so the soft
/// limit on open files (often 1,024) would cap them at about a thousand: raise it to the
/// hard limit (often 524,288 or more), as Go and the JVM do at start. Nothing else changes.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(max) = limit.maximum
        && limit.current.is_some_and(|cur| cur < max)
    {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                ..limit
            },
        );
    }
}

/// Called by the forkserver and spawn starts (and pools built with them): [`init`]'s owner
/// part, once.
pub(crate) fn ensure_init() {
    if !INITIALISED.load(Ordering::Relaxed) {
        enable();
    }
}
