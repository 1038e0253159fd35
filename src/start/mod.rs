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
//!     start::init(); // first thing in main: a started child runs its task here
//!     let mut child = StartMethod::Spawn.start(square, 7)?;
//!     assert_eq!(child.join()?, 49);
//!     Ok(())
//! }
//! ```
//!
//! # The program calls [`init`] first
//!
//! As with procspawn, `main` calls [`init`] before anything else. In the program itself it
//! only records that start methods are in use (shared objects created from then on can
//! travel, see below). In a process started with `spawn` it runs the task and exits; in the
//! server it serves requests and exits when its owner is gone. Neither returns into `main`.
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
//! [`init`], [`Value`](crate::Value), [`Array`](crate::Array), [`Lock`](crate::Lock),
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

pub(crate) mod identity;
mod server;
mod wire;

use identity::{exe_identity, offset_of, resolve};

use crate::codec::{decode, encode};
use crate::error::{Error, InvalidKind, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// since 3.14). Works from threaded programs; needs [`init`].
    ForkServer,
    /// Re-execute the program (Python: `"spawn"`). A fresh address space; slowest; works
    /// from threaded programs; needs [`init`].
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
            StartMethod::Fork => start_fork(f, arg),
            StartMethod::ForkServer | StartMethod::Spawn => start_served(self, f, arg),
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

/// Call first in `main`. In the program: from now on shared objects can travel to
/// forkserver and spawn children. In a child started with `spawn`: runs its task and exits.
/// In the start server: serves and exits when the program is gone.
pub fn init() {
    crate::shm::use_memfd();
    raise_fd_limit();
    INITIALISED.store(true, Ordering::Relaxed);
    let Some(what) = std::env::var_os(ENV) else {
        return;
    };
    if what != "child" && what != "server" {
        return;
    }
    // Take the socket off the inherited descriptor, close on exec from now on.
    // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor.
    let raw = unsafe { libc::fcntl(FD, libc::F_DUPFD_CLOEXEC, FD + 1) };
    if raw < 0 {
        eprintln!("multiproc: started as a {what:?} without its socket");
        // SAFETY: ends the process.
        unsafe { libc::_exit(1) }
    }
    // SAFETY: `FD` was inherited for us and is ours to close; `raw` is new and ours.
    let sock = unsafe {
        libc::close(FD);
        UnixStream::from(OwnedFd::from_raw_fd(raw))
    };
    if crate::process::ensure_single_threaded().is_ok() {
        // SAFETY: this is the process's only thread, so nothing reads the environment
        // concurrently. The variable must not reach programs this one runs.
        unsafe { std::env::remove_var(ENV) };
    }
    if what == "server" {
        server::main(sock)
    }
    child_main(sock)
}

/// From here on every live shared object holds a file descriptor (its memfd), so the soft
/// limit on open files (often 1,024) would cap them at about a thousand: raise it to the
/// hard limit (often 524,288 or more), as Go and the JVM do at start. Nothing else changes.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub(crate) fn require_init(method: StartMethod) -> Result<()> {
    if INITIALISED.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(Error::invalid(
            InvalidKind::NeedsInit,
            format!(
                "the {method} start method needs multiproc::start::init() called first in main"
            ),
        ))
    }
}

// ----- the task and its outcome -----

/// Decode the arguments (with the shared objects' descriptors), call the `fn` at `func`,
/// encode the result.
type Trampoline = fn(func: usize, args: &[u8], fds: Vec<OwnedFd>) -> Result<Vec<u8>>;

fn trampoline<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<Vec<u8>> {
    // SAFETY: `func` is the address of a `fn(A) -> R`: the request that names this
    // trampoline (for these `A`, `R`) was built by `start_served` from such a `fn`, in the
    // same executable file (checked), and offsets resolve to the same code in every process
    // running that file.
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let a: A = crate::handle::import(fds, || decode(args))?;
    encode(&f(a))
}

#[derive(Serialize, Deserialize)]
struct Task {
    /// The child's name (Python's `SpawnProcess-1`, ...), and its parent's name and pid.
    name: String,
    parent: (String, u32),
    exe: (u64, u64),
    call: i64,
    func: i64,
    #[serde(with = "serde_bytes")]
    args: Vec<u8>,
}

/// What a child sends back before it exits.
#[derive(Serialize, Deserialize)]
enum Outcome {
    Done(#[serde(with = "serde_bytes")] Vec<u8>),
    Panicked(String),
    Failed(String),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string panic payload)".into())
}

fn send_outcome(sock: &UnixStream, outcome: &Outcome) {
    if let Ok(bytes) = encode(outcome) {
        let _ = wire::send_frame(sock, &bytes, &[]);
    }
}

/// A forkserver or spawn child: read the task, run it, send the outcome, exit.
fn child_main(sock: UnixStream) -> ! {
    let code = match run_task(&sock) {
        Ok(Outcome::Done(bytes)) => {
            send_outcome(&sock, &Outcome::Done(bytes));
            0
        }
        Ok(other) => {
            send_outcome(&sock, &other);
            1
        }
        Err(e) => {
            send_outcome(&sock, &Outcome::Failed(e.to_string()));
            1
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: ends the child; nothing of it outlives this.
    unsafe { libc::_exit(code) }
}

fn run_task(sock: &UnixStream) -> Result<Outcome> {
    let (bytes, fds) = wire::recv_frame(sock)?.ok_or(Error::Closed)?;
    let task: Task = decode(&bytes)?;
    if task.exe != exe_identity()? {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "the request comes from another executable file",
        ));
    }
    let (Some(call), Some(func)) = (resolve(task.call), resolve(task.func)) else {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "the request names code outside this executable",
        ));
    };
    crate::process::rename(&task.name, Some(task.parent));
    // SAFETY: `call` is the address of a `Trampoline`: `start_served` took its offset from
    // one, in the same executable file (checked above).
    let call: Trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(call) };
    match catch_unwind(AssertUnwindSafe(|| call(func, &task.args, fds))) {
        Ok(Ok(bytes)) => Ok(Outcome::Done(bytes)),
        Ok(Err(e)) => Ok(Outcome::Failed(e.to_string())),
        Err(payload) => {
            let message = panic_message(&*payload);
            // Its `Drop` is user code and may panic again: leak it, the process ends now.
            std::mem::forget(payload);
            Ok(Outcome::Panicked(message))
        }
    }
}

/// Replace this (forked, single-threaded) process by the program, with `task` as its
/// socket on fd 3. Exits on failure.
fn exec_child(task: BorrowedFd<'_>) -> ! {
    // SAFETY: dup2 onto a fixed slot; the copy on `FD` is inherited by the exec (dup2
    // clears close-on-exec), and `task` itself is closed by it.
    let ok = unsafe {
        if task.as_raw_fd() == FD {
            libc::fcntl(FD, libc::F_SETFD, 0) == 0
        } else {
            libc::dup2(task.as_raw_fd(), FD) == FD
        }
    };
    if ok {
        let e = std::process::Command::new("/proc/self/exe")
            .env(ENV, "child")
            .exec();
        eprintln!("multiproc: cannot re-execute the program for spawn: {e}");
    }
    // SAFETY: ends the process.
    unsafe { libc::_exit(1) }
}

// ----- the caller's side -----

/// This process's start server.
struct Server {
    owner: u32,
    control: UnixStream,
    process: std::process::Child,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

fn launch_server() -> Result<Server> {
    let (mine, theirs) = UnixStream::pair()?;
    let theirs_fd = theirs.as_raw_fd();
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .env(ENV, "server")
        .stdin(std::process::Stdio::null());
    // SAFETY: the closure runs between fork and exec and calls only dup2/fcntl, which are
    // async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let ok = if theirs_fd == FD {
                libc::fcntl(FD, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(theirs_fd, FD) == FD
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let process = command.spawn()?;
    drop(theirs);
    Ok(Server {
        owner: std::process::id(),
        control: mine,
        process,
    })
}

/// Ask the server (started on first use) for a child; returns the task and status sockets.
fn request(method: StartMethod) -> Result<(UnixStream, UnixStream)> {
    let byte = if method == StartMethod::Spawn {
        b's'
    } else {
        b'f'
    };
    let mut server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    for attempt in 0..2 {
        if server
            .as_ref()
            .is_none_or(|s| s.owner != std::process::id())
        {
            // A server inherited from the process we were forked from is not ours: close
            // our copy of its socket (forget the handle: the process is not our child).
            if let Some(old) = server.take() {
                std::mem::forget(old.process);
            }
            *server = Some(launch_server()?);
        }
        let (task, task_child) = UnixStream::pair()?;
        let (status, status_server) = UnixStream::pair()?;
        let s = server.as_ref().expect("started above");
        match wire::send_with_fds(
            &s.control,
            &[byte],
            &[task_child.as_raw_fd(), status_server.as_raw_fd()],
        ) {
            Ok(()) => return Ok((task, status)),
            // The server died: start another once.
            Err(e) if attempt == 1 => return Err(e.into()),
            Err(_) => {
                if let Some(mut old) = server.take() {
                    let _ = old.process.kill();
                    let _ = old.process.wait();
                }
            }
        }
    }
    unreachable!("the loop returns")
}

/// End this process's start server now (children it still runs are killed), and wait for
/// it. The next forkserver or spawn start launches a new one. Call it before leaving `main`
/// when nothing may outlive the program by even a moment (the server otherwise ends as soon
/// as it notices the program is gone).
pub fn shutdown() {
    let server = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut s) = server {
        if s.owner == std::process::id() {
            drop(s.control);
            let _ = s.process.wait();
        } else {
            std::mem::forget(s.process);
        }
    }
}

pub(crate) fn start_served<A, R>(method: StartMethod, f: fn(A) -> R, arg: A) -> Result<Child<R>>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned,
{
    require_init(method)?;
    let call = offset_of(trampoline::<A, R> as Trampoline as usize)?;
    let func = offset_of(f as usize)?;
    let (args, fds) = crate::handle::export(|| encode(&arg));
    let kind = match method {
        StartMethod::Spawn => "SpawnProcess",
        _ => "ForkServerProcess",
    };
    let me = crate::process::current_process();
    let task = encode(&Task {
        name: crate::process::next_child(kind).0,
        parent: (me.name().to_string(), me.pid()),
        exe: exe_identity()?,
        call,
        func,
        args: args?,
    })?;
    let (task_sock, status) = request(method)?;
    let mut pid = [0u8; 4];
    let mut pidfd = Vec::new();
    if !wire::recv_with_fds(&status, &mut pid, &mut pidfd)? {
        return Err(Error::invalid(
            InvalidKind::StartFailed,
            "the start server ended",
        ));
    }
    let pid = i32::from_le_bytes(pid);
    let Some(pidfd) = pidfd.pop().filter(|_| pid > 0) else {
        return Err(Error::Io(std::io::Error::other(
            "the start server could not fork",
        )));
    };
    // `arg` (and so every object whose memfd is in `fds`) is alive until after this.
    let sent = wire::send_frame(&task_sock, &task, &fds);
    drop(arg);
    let mut child = Child {
        owner: std::process::id(),
        method,
        pid: pid as u32,
        task: task_sock,
        exit: Exit::Served { status, pidfd },
        code: None,
        _r: PhantomData,
    };
    if let Err(e) = sent {
        let _ = child.kill();
        let _ = child.wait_code();
        return Err(e.into());
    }
    Ok(child)
}

fn start_fork<A, R>(f: fn(A) -> R, arg: A) -> Result<Child<R>>
where
    A: 'static,
    R: Serialize + 'static,
{
    crate::process::ensure_single_threaded()?;
    let (task, task_child) = UnixStream::pair()?;
    let body = move || {
        let outcome = match catch_unwind(AssertUnwindSafe(|| encode(&f(arg)))) {
            Ok(Ok(bytes)) => Outcome::Done(bytes),
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(payload) => {
                let message = panic_message(&*payload);
                std::mem::forget(payload);
                Outcome::Panicked(message)
            }
        };
        let code = i32::from(!matches!(outcome, Outcome::Done(_)));
        send_outcome(&task_child, &outcome);
        code
    };
    let (name, identity) = crate::process::next_child("ForkProcess");
    // SAFETY: this thread is the process's only one (checked just above), and only a
    // thread of this process could start another.
    let pid =
        unsafe { crate::process::fork_child(&name, &identity, crate::process::target(body)) }?;
    Ok(Child {
        owner: std::process::id(),
        method: StartMethod::Fork,
        pid: pid.as_raw() as u32,
        task,
        exit: Exit::Wait(pid),
        code: None,
        _r: PhantomData,
    })
}

enum Exit {
    /// Our own child: `waitpid`.
    Wait(nix::unistd::Pid),
    /// The server's child: its exit code comes on `status`; `pidfd` signals it.
    Served { status: UnixStream, pidfd: OwnedFd },
}

/// A started child and the result it will send (Python: a `Process` of a context, plus the
/// result a `Pool`'s `apply_async` would give). Dropping it unjoined, in the process that started it, kills the child.
pub struct Child<R> {
    /// The process that started it: the only one that may signal, join or reap it.
    owner: u32,
    method: StartMethod,
    pid: u32,
    task: UnixStream,
    exit: Exit,
    code: Option<i32>,
    _r: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Child<R> {
    /// Wait for the child's result and its end (Python: `join()` and the result). Errors:
    /// [`Error::TaskPanicked`] if the function panicked, [`Error::WorkerDied`] if the child
    /// died (killed, crashed) before sending a result, [`Error::Codec`] if the child could
    /// not decode its arguments (a shared object refused, say) or refused the request (another
    /// executable file, code outside it), or if the result could not be decoded.
    pub fn join(&mut self) -> Result<R> {
        self.owner_only()?;
        if self.code.is_some() {
            return Err(Error::invalid(
                InvalidKind::AlreadyTaken,
                "this child was joined already",
            ));
        }
        let outcome = match wire::recv_frame(&self.task) {
            Ok(Some((bytes, _))) => Some(decode::<Outcome>(&bytes)),
            Ok(None) | Err(_) => None,
        };
        let code = self.wait_code()?;
        match outcome {
            Some(Ok(Outcome::Done(bytes))) => decode(&bytes),
            Some(Ok(Outcome::Panicked(m))) => Err(Error::TaskPanicked(m)),
            Some(Ok(Outcome::Failed(m))) => Err(Error::Codec(m)),
            Some(Err(e)) => Err(e),
            None => Err(Error::WorkerDied(format!(
                "the {} child {} ended with exit code {code} before sending a result",
                self.method, self.pid
            ))),
        }
    }
}

impl<R> Child<R> {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How it was started.
    pub fn method(&self) -> StartMethod {
        self.method
    }

    /// The exit code once joined (`-N` for signal `N`), else `None` (Python: `.exitcode`).
    pub fn exitcode(&self) -> Option<i32> {
        self.code
    }

    /// Send SIGKILL (Python: `.kill()`); a no-op once joined. Signals through the pidfd for
    /// a served child, so a reused pid is never hit.
    pub fn kill(&mut self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Send SIGTERM (Python: `.terminate()`); a no-op once joined.
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// An error in any process but the one that started the child (a fork of it holds a
    /// copy of this handle; Python: "can only join a child process").
    fn owner_only(&self) -> Result<()> {
        if std::process::id() == self.owner {
            Ok(())
        } else {
            Err(Error::invalid(
                InvalidKind::NotOwner,
                "only the process that started a child can join or signal it",
            ))
        }
    }

    fn signal(&mut self, signal: i32) -> Result<()> {
        self.owner_only()?;
        if self.code.is_some() {
            return Ok(());
        }
        match &self.exit {
            Exit::Wait(pid) => {
                let signal = nix::sys::signal::Signal::try_from(signal)?;
                match nix::sys::signal::kill(*pid, signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Exit::Served { pidfd, .. } => {
                // SAFETY: a plain syscall on a pidfd we own; no siginfo, no flags.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        pidfd.as_fd().as_raw_fd(),
                        signal,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                let e = std::io::Error::last_os_error();
                if r == 0 || e.raw_os_error() == Some(libc::ESRCH) {
                    Ok(())
                } else {
                    Err(e.into())
                }
            }
        }
    }

    /// Wait up to `timeout` for the child to end, without reading its result; its exit
    /// code, or `None` if it still runs (Python: `join(timeout)` then `.exitcode`).
    pub fn join_timeout(&mut self, timeout: std::time::Duration) -> Result<Option<i32>> {
        self.owner_only()?;
        if self.code.is_some() {
            return Ok(self.code);
        }
        let ready = match &self.exit {
            Exit::Wait(pid) => {
                use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
                let deadline = crate::deadline::Deadline::after(timeout);
                // A fork child is ours to wait for: poll its pidfd, then reap it.
                // SAFETY: a plain syscall; on success it returns a new fd we own.
                let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
                if raw >= 0 {
                    // SAFETY: pidfd_open returned a new descriptor nothing else owns.
                    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
                    poll_readable(pidfd.as_fd(), &deadline)
                } else {
                    matches!(
                        waitpid(*pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT)),
                        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
                    )
                }
            }
            Exit::Served { status, .. } => {
                poll_readable(status.as_fd(), &crate::deadline::Deadline::after(timeout))
            }
        };
        if ready {
            self.wait_code().map(Some)
        } else {
            Ok(None)
        }
    }

    fn wait_code(&mut self) -> Result<i32> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let code = match &self.exit {
            Exit::Wait(pid) => loop {
                use nix::sys::wait::{WaitStatus, waitpid};
                match waitpid(*pid, None) {
                    Ok(WaitStatus::Exited(_, c)) => break c,
                    Ok(WaitStatus::Signaled(_, s, _)) => break -(s as i32),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Exit::Served { status, .. } => {
                let mut code = [0u8; 4];
                let mut none = Vec::new();
                if !wire::recv_with_fds(status, &mut code, &mut none)? {
                    return Err(Error::WorkerDied(format!(
                        "the start server ended while the {} child {} ran",
                        self.method, self.pid
                    )));
                }
                i32::from_le_bytes(code)
            }
        };
        self.code = Some(code);
        Ok(code)
    }
}

/// Whether `fd` becomes readable (or hung up) before `deadline`.
fn poll_readable(fd: BorrowedFd<'_>, deadline: &crate::deadline::Deadline) -> bool {
    // An error of poll itself (no memory for its table) reads as "not yet".
    crate::sys::poll::readable(fd, Some(deadline)).unwrap_or(false)
}

impl<R> Drop for Child<R> {
    fn drop(&mut self) {
        // A fork of the owner holds a copy: dropping it there leaves the child alone.
        if self.code.is_none() && std::process::id() == self.owner {
            let _ = self.kill();
            let _ = self.wait_code();
        }
    }
}

impl<R> std::fmt::Debug for Child<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("method", &self.method)
            .field("pid", &self.pid)
            .field("exitcode", &self.code)
            .finish()
    }
}
