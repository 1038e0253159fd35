//! Whom the start methods trust, run by harness::forked: a user's serde bytes never shift
//! the crate's own fields of a request, a role chosen by the environment is ignored in a
//! secure-exec (setuid) process and answers only its own parent, the start server never
//! forks beside a thread, `shutdown` ends it while fork children live, and a Ctrl-C aimed
//! at it spares it (as CPython's fork server) but not the children it runs.
//!
//! `main` is also the program these checks re-execute: with `TRUST_PROBE` set it calls
//! `start::init()` and reports that `main` was reached; with `TRUST_THREAD_FIRST` set a
//! constructor that runs before the crate's (`.preinit_array`) starts a thread, so a start
//! server finds one running when it takes its role.

use harness::checks;
use multiproc::start::{self, StartMethod};
use multiproc::{Error, Event, InvalidKind, Pool, Process, Value};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::time::Duration;

const PROBE: &str = "TRUST_PROBE";
const THREAD_FIRST: &str = "TRUST_THREAD_FIRST";
const REACHED: &str = "main reached after init";

/// With `TRUST_THREAD_FIRST` set, start a thread before the crate's constructor takes this
/// process's role (a start server's): the only way left for a server to run threads. It
/// reads the environment from its `envp` argument: the C library sets `environ` up after
/// `.preinit_array` has run.
extern "C" fn thread_first(_argc: i32, _argv: *const *const u8, envp: *const *const u8) {
    let wanted = format!("{THREAD_FIRST}=");
    let mut set = false;
    let mut at = envp;
    // SAFETY: `envp` is the kernel's null-terminated array of NUL-terminated strings, which
    // the C library passes to `.preinit_array` entries and nothing changes while we read it.
    unsafe {
        while !at.is_null() && !(*at).is_null() {
            let var = std::ffi::CStr::from_ptr((*at).cast());
            set |= var.to_bytes().starts_with(wanted.as_bytes());
            at = at.add(1);
        }
    }
    if set {
        std::thread::spawn(|| {
            loop {
                std::thread::park();
            }
        });
    }
}

// SAFETY: `.preinit_array` entries of an executable are called once by the C library's
// start-up, with `argc`, `argv` and `envp`, before every `.init_array` entry (the crate's
// role-taking constructor among them) and before `main`. `thread_first` has the C
// signature of such an entry, never unwinds (spawn only panics when no thread can be made,
// and the panic would abort), and uses only the allocator and `pthread_create`.
#[used]
#[unsafe(link_section = ".preinit_array")]
static THREAD_FIRST_CONSTRUCTOR: extern "C" fn(i32, *const *const u8, *const *const u8) =
    thread_first;

fn main() -> std::process::ExitCode {
    start::init();
    if std::env::var_os(PROBE).is_some() {
        println!("{REACHED}");
        return std::process::ExitCode::SUCCESS;
    }
    harness::forked::run_then(
        checks![
            a_share_value_that_reads_less_than_it_wrote_is_refused_not_called,
            a_setuid_program_ignores_the_start_variable,
            an_inherited_socket_from_a_stranger_is_refused_unread,
            a_start_server_with_threads_refuses_to_fork_and_says_why,
            shutdown_ends_the_server_while_fork_children_live,
            ctrl_c_spares_the_server_and_reaches_its_children,
        ],
        start::shutdown,
    )
}

// ----- a user's bytes and the crate's own fields -----

/// A `share()` value whose `Serialize` writes a field its `Deserialize` skips: in a served
/// pool's request the skipped bytes used to be read as the crate's next field, the offset
/// of the workers' initializer, which the server then called.
#[derive(Clone, Serialize, Deserialize)]
struct Skips {
    seen: Value<u64>,
    #[serde(skip_deserializing)]
    skipped: u64,
}

fn read_seen(v: Value<u64>) -> u64 {
    v.load()
}

fn a_share_value_that_reads_less_than_it_wrote_is_refused_not_called() {
    let seen = Value::new(7u64);
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        // Tag 1 (`Some`) then seven bytes of an offset: read as `init: Some(..)` before.
        let lying = Skips {
            seen: seen.clone(),
            skipped: 1 | (0x40 << 8),
        };
        match Pool::builder()
            .processes(1)
            .start_method(method)
            .share(lying)
            .build()
        {
            Err(Error::Codec(m)) => assert!(m.contains("does not read back"), "{m}"),
            Err(other) => panic!("{method}: {other:?}"),
            Ok(pool) => {
                // Whatever it decoded, no worker may have jumped into the executable.
                let r = pool.apply(read_seen, seen.clone());
                panic!("{method}: a lying share() built a pool; a task gave {r:?}")
            }
        }
        // An honest value still works, on the same server.
        let pool = Pool::builder()
            .processes(1)
            .start_method(method)
            .share(seen.clone())
            .build()
            .unwrap();
        assert_eq!(pool.apply(read_seen, seen.clone()).unwrap(), 7, "{method}");
    }
}

// ----- a role selected by the environment -----

/// A copy of this test binary, set-user-id to `nobody`: run by root, it is a secure-exec
/// process (`AT_SECURE`), as a setuid tool run by an unprivileged user is.
fn setuid_copy() -> Option<std::path::PathBuf> {
    // SAFETY: a plain getter.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("multiproc-setuid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("probe");
    std::fs::copy("/proc/self/exe", &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    Some(copy)
}

/// Run `program` as a start role with `fd3` on descriptor 3; its output and exit code.
fn run_as_role(program: &std::path::Path, role: &str, fd3: &UnixStream) -> (String, String, i32) {
    let fd = fd3.as_raw_fd();
    let mut command = std::process::Command::new(program);
    command
        .env("MULTIPROC_START", role)
        .env(PROBE, "1")
        .stdin(std::process::Stdio::null());
    // SAFETY: only dup2, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) == 3 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    let out = command.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn a_setuid_program_ignores_the_start_variable() {
    let Some(copy) = setuid_copy() else {
        println!("SKIPPED: needs root to make a set-user-id copy of the test binary");
        return;
    };
    for role in ["child", "server"] {
        let (mine, theirs) = UnixStream::pair().unwrap();
        // A forged request waits on the socket, as an attacker would leave it.
        mine.set_nonblocking(true).unwrap();
        let _ = (&mine).write_all(&[0xAB; 64]);
        let (stdout, stderr, code) = run_as_role(&copy, role, &theirs);
        drop(theirs);
        assert!(
            stdout.contains(REACHED) && code == 0,
            "{role}: a setuid program took its role from the environment: code {code}, \
             stdout {stdout:?}, stderr {stderr:?}"
        );
        // Nothing read the forged bytes, nothing answered.
        let mut back = Vec::new();
        mine.set_nonblocking(true).unwrap();
        let _ = (&mine).read_to_end(&mut back);
        assert!(back.is_empty(), "{role}: the setuid program answered");
    }
    std::fs::remove_dir_all(copy.parent().unwrap()).unwrap();
}

fn an_inherited_socket_from_a_stranger_is_refused_unread() {
    // The stranger: another process, whose end of the socket is the peer of descriptor 3
    // (as a socket-activation manager's or a client's would be).
    let dir = std::env::temp_dir().join(format!("multiproc-stranger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let ready = Event::new();
    let mut stranger = Process::new({
        let path = path.clone();
        let ready = ready.clone();
        move || {
            let s = UnixStream::connect(&path).unwrap();
            // A request-shaped frame: a length, then bytes.
            let _ = (&s).write_all(&16u64.to_le_bytes());
            let _ = (&s).write_all(&[7u8; 16]);
            ready.wait();
            let mut back = Vec::new();
            let _ = (&s).read_to_end(&mut back);
            assert!(back.is_empty(), "the stranger got an answer: {back:?}");
        }
    });
    stranger.start().unwrap();
    let (fd3, _) = listener.accept().unwrap();
    for role in ["child", "server"] {
        let (stdout, stderr, code) =
            run_as_role(std::path::Path::new("/proc/self/exe"), role, &fd3);
        assert_ne!(
            code, 0,
            "{role}: accepted a stranger's socket: {stdout:?} {stderr:?}"
        );
        assert!(
            stderr.contains("refused") && stderr.contains("not from the process that started"),
            "{role}: {stderr:?}"
        );
        assert!(!stdout.contains(REACHED), "{role}: went on into main");
    }
    ready.set();
    drop(fd3);
    assert_eq!(stranger.join().unwrap(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- no fork beside a thread -----

fn square(x: u64) -> u64 {
    x * x
}

fn a_start_server_with_threads_refuses_to_fork_and_says_why() {
    // SAFETY: this check's process has one thread; nothing reads the environment at once.
    unsafe { std::env::set_var(THREAD_FIRST, "1") };
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        match method.start(square, 3) {
            Err(e @ Error::Invalid { .. }) => {
                assert_eq!(e.invalid_kind(), Some(InvalidKind::StartFailed), "{e}");
                let m = e.to_string();
                assert!(
                    m.contains("threads") && m.contains("init()"),
                    "{method}: the error does not say why: {m}"
                );
            }
            Err(other) => panic!("{method}: {other:?}"),
            Ok(mut c) => panic!(
                "{method}: a server with two threads forked a child (result {:?})",
                c.join()
            ),
        }
    }
    start::shutdown();
    // SAFETY: as above.
    unsafe { std::env::remove_var(THREAD_FIRST) };
    // A server started without the thread serves again.
    assert_eq!(
        StartMethod::ForkServer
            .start(square, 4)
            .unwrap()
            .join()
            .unwrap(),
        16
    );
}

// ----- the server's lifetime -----

fn server_pid(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

fn shutdown_ends_the_server_while_fork_children_live() {
    // The server first, then a fork child, which inherits the owner's descriptors.
    let server = StartMethod::ForkServer
        .start(server_pid, ())
        .unwrap()
        .join()
        .unwrap();
    let release = Event::new();
    let mut forked = Process::new({
        let release = release.clone();
        move || release.wait()
    });
    forked.start().unwrap();
    assert!(harness::forked::process_exists(server));
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        start::shutdown();
        let _ = done.send(());
    });
    let ended = returned.recv_timeout(Duration::from_secs(20)).is_ok();
    release.set();
    assert_eq!(forked.join().unwrap(), 0);
    assert!(ended, "shutdown() did not return while a fork child lived");
    assert!(
        !harness::forked::process_exists(server),
        "the server outlived shutdown()"
    );
}

// ----- signals -----

/// The set of ignored signals of process `pid` (`SigIgn` in its status).
fn ignored(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("SigIgn:")).unwrap();
    u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).unwrap()
}

const SIGINT_BIT: u64 = 1 << (libc::SIGINT - 1);

fn child_ignores_sigint(_: ()) -> bool {
    ignored("self") & SIGINT_BIT != 0
}

fn wait_then_square((go, x): (Event, u64)) -> u64 {
    go.wait();
    x * x
}

fn ready_then_wait((ready, go): (Event, Event)) -> u64 {
    ready.set();
    go.wait();
    1
}

fn ctrl_c_spares_the_server_and_reaches_its_children() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let server = method.start(server_pid, ()).unwrap().join().unwrap();
        assert_ne!(
            ignored(&server.to_string()) & SIGINT_BIT,
            0,
            "{method}: the server does not ignore SIGINT"
        );
        assert!(
            !method
                .start(child_ignores_sigint, ())
                .unwrap()
                .join()
                .unwrap(),
            "{method}: a child inherited the server's SIG_IGN"
        );
        let go = Event::new();
        let mut running = method.start(wait_then_square, (go.clone(), 5)).unwrap();
        // SAFETY: a plain kill(2).
        assert_eq!(unsafe { libc::kill(server as i32, libc::SIGINT) }, 0);
        assert_eq!(
            method.start(square, 6).unwrap().join().unwrap(),
            36,
            "{method}"
        );
        go.set();
        assert_eq!(running.join().unwrap(), 25, "{method}");
        // A Ctrl-C reaches the children with its default action (sent once the child
        // runs its function: the default is restored before that).
        let ready = Event::new();
        let mut victim = method
            .start(ready_then_wait, (ready.clone(), Event::new()))
            .unwrap();
        ready.wait();
        // SAFETY: a plain kill(2).
        assert_eq!(unsafe { libc::kill(victim.pid() as i32, libc::SIGINT) }, 0);
        assert!(
            matches!(victim.join(), Err(Error::WorkerDied(_))),
            "{method}"
        );
        assert_eq!(victim.exitcode(), Some(-libc::SIGINT), "{method}");
    }
    start::shutdown();
}
