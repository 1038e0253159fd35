//! Checks for `multiproc::connection` (Listener, Client, Connection) that fork or run
//! `python3`, each in its own process group under harness::forked's timeout, which kills
//! whatever a check leaves running. The CPython interop checks skip, saying so, only where
//! no `python3` is installed.

use harness::checks;
use multiproc::connection::{Address, Client, Listener, NO_KEY, Options, wait};
use multiproc::{Error, InvalidKind, Pipe, Process, current_process};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        typed_and_raw_messages_cross_a_unix_path,
        abstract_names_and_tcp_v4_and_v6_connect,
        a_listener_without_address_is_private_and_cleans_up,
        an_existing_file_or_symlink_is_not_clobbered,
        tcp_without_a_key_is_refused_unless_trusted,
        a_wrong_missing_or_garbage_key_is_refused_and_the_next_client_served,
        a_silent_peer_does_not_stop_accept,
        a_huge_announced_length_is_refused_without_allocating,
        many_attempts_half_bad_leave_fds_flat,
        rust_client_talks_to_a_cpython_listener,
        cpython_client_talks_to_a_rust_listener,
        the_cpython_3_12_handshake_form_is_spoken_both_ways,
        fork_children_share_the_programs_authkey,
        wait_wakes_for_connections_listeners_and_sentinels_without_spinning,
    ])
}

/// A fresh directory for socket files, removed by the check's end.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "multiproc-conn-test-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh abstract Unix name: a listener moved into a child's closure must not live at a
/// path, since the parent's copy, dropped by `Process::spawn`, removes its socket file.
fn abstract_name(what: &str) -> String {
    format!("\0multiproc-test-{what}-{}", std::process::id())
}

/// A raw stream to an abstract name, for peers that do not speak the protocol.
fn raw_connect(address: &Address) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let Address::Abstract(name) = address else {
        panic!("{address:?}")
    };
    UnixStream::connect_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap())
        .unwrap()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A child that answers one client: echoes messages until the peer closes.
fn echo_child(mut listener: Listener) -> Process {
    Process::spawn(move || {
        let conn = listener.accept().unwrap();
        loop {
            match conn.recv_bytes() {
                Ok(m) => conn.send_bytes(&m).unwrap(),
                Err(Error::Closed) => break,
                Err(e) => panic!("echo: {e:?}"),
            }
        }
    })
    .unwrap()
}

fn typed_and_raw_messages_cross_a_unix_path() {
    let dir = scratch();
    let path = dir.join("s.sock");
    let mut listener = Listener::bind(&path, b"key").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert!(std::fs::metadata(&path).unwrap().file_type().is_socket());
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let mut child = Process::spawn(move || {
        let conn = Client::connect(&path, b"key").unwrap();
        conn.send(&(7u32, String::from("seven"))).unwrap();
        let reply: Vec<u64> = conn.recv().unwrap();
        assert_eq!(reply, [49]);
        conn.send_bytes(&vec![0xabu8; 3 << 20]).unwrap();
        conn.send_bytes(b"").unwrap();
    })
    .unwrap();
    let conn = listener.accept().unwrap();
    let (n, s): (u32, String) = conn.recv().unwrap();
    assert_eq!((n, s.as_str()), (7, "seven"));
    conn.send(&vec![u64::from(n * n)]).unwrap();
    assert!(conn.poll(Duration::from_secs(10)).unwrap());
    assert_eq!(conn.recv_bytes().unwrap(), vec![0xabu8; 3 << 20]);
    assert_eq!(conn.recv_bytes().unwrap(), b"");
    assert_eq!(child.join().unwrap(), 0);
    assert!(matches!(conn.recv_bytes(), Err(Error::Closed)));
    assert!(matches!(conn.recv::<u32>(), Err(Error::Closed)));
    assert!(!conn.poll(Duration::ZERO).unwrap() || conn.recv_bytes().is_err());
    drop(listener);
    assert!(
        !dir.join("s.sock").exists(),
        "the listener removes its socket"
    );
    std::fs::remove_dir(&dir).unwrap();
}

fn abstract_names_and_tcp_v4_and_v6_connect() {
    let name = format!("\0multiproc-test-{}", std::process::id());
    for address in [name.as_str(), "127.0.0.1:0", "[::1]:0"] {
        let listener = match Listener::bind(address, b"k") {
            Ok(l) => l,
            Err(e) if address.starts_with('[') => {
                println!("skipping IPv6: {e}");
                continue;
            }
            Err(e) => panic!("{address}: {e:?}"),
        };
        let bound = listener.address().clone();
        match (&bound, address) {
            (Address::Abstract(n), _) => assert_eq!(n, &name.as_bytes()[1..]),
            (Address::Tcp(sa), _) => assert_ne!(sa.port(), 0),
            other => panic!("{other:?}"),
        }
        let mut child = echo_child(listener);
        let conn = Client::connect(&bound, b"k").unwrap();
        for m in [&b"hello"[..], &[0u8; 70000][..], b""] {
            conn.send_bytes(m).unwrap();
            assert_eq!(conn.recv_bytes().unwrap(), m, "{address}");
        }
        drop(conn);
        assert_eq!(child.join().unwrap(), 0, "{address}");
    }
}

fn a_listener_without_address_is_private_and_cleans_up() {
    let listener = Listener::new(b"k").unwrap();
    let Address::Unix(path) = listener.address().clone() else {
        panic!("{:?}", listener.address())
    };
    let dir = path.parent().unwrap().to_path_buf();
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&path), 0o600);
    let second = Listener::new(b"k").unwrap();
    assert_ne!(
        second.address(),
        listener.address(),
        "each gets a fresh path"
    );
    let mut child = Process::spawn({
        let path = path.clone();
        move || {
            Client::connect(&path, b"k").unwrap().send(&1u8).unwrap();
        }
    })
    .unwrap();
    let mut listener = listener;
    assert_eq!(listener.accept().unwrap().recv::<u8>().unwrap(), 1);
    assert_eq!(child.join().unwrap(), 0);
    drop(listener);
    assert!(!path.exists(), "the socket file is removed");
    assert!(!dir.exists(), "the private directory is removed");
    drop(second);
}

fn an_existing_file_or_symlink_is_not_clobbered() {
    let dir = scratch();
    let file = dir.join("file");
    std::fs::write(&file, b"precious").unwrap();
    let err = Listener::bind(&file, b"k").unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::AddrInUse),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    let target = dir.join("target");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(Listener::bind(&link, b"k").is_err());
    assert!(!target.exists(), "the symlink was followed");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tcp_without_a_key_is_refused_unless_trusted() {
    let err = Listener::bind("127.0.0.1:0", NO_KEY).unwrap_err();
    assert_eq!(err.invalid_kind(), Some(InvalidKind::Argument), "{err:?}");
    let listener =
        Listener::bind_with("127.0.0.1:0", NO_KEY, &Options::new().trusted_network(true)).unwrap();
    let address = listener.address().clone();
    let mut child = echo_child(listener);
    let conn = Client::connect(&address, NO_KEY).unwrap();
    conn.send(&"no key, trusted").unwrap();
    assert_eq!(conn.recv::<String>().unwrap(), "no key, trusted");
    drop(conn);
    assert_eq!(child.join().unwrap(), 0);
}

/// A listener child that accepts `n` good clients, then reports its refusals.
fn counting_listener(mut listener: Listener, n: usize) -> Process {
    Process::spawn(move || {
        for i in 0..n {
            let conn = listener.accept().unwrap();
            conn.send(&(i as u64, listener.refused())).unwrap();
        }
    })
    .unwrap()
}

fn a_wrong_missing_or_garbage_key_is_refused_and_the_next_client_served() {
    let opts = Options::new().handshake_timeout(Duration::from_millis(500));
    let listener = Listener::bind_with(abstract_name("wrong").as_str(), b"right", &opts).unwrap();
    let address = listener.address().clone();
    let mut child = counting_listener(listener, 2);
    let short = Options::new().handshake_timeout(Duration::from_secs(5));
    // Wrong key: the client is told.
    let err = Client::connect_with(&address, b"wrong", &short).unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    let conn = Client::connect(&address, b"right").unwrap();
    assert_eq!(conn.recv::<(u64, u64)>().unwrap(), (0, 1));
    // No key: the client sends nothing and the listener times it out; garbage is refused.
    let silent = Client::connect(&address, NO_KEY).unwrap();
    let mut garbage = raw_connect(&address);
    garbage
        .write_all(&[0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o'])
        .unwrap();
    let mut tail = Vec::new();
    garbage.read_to_end(&mut tail).unwrap();
    assert!(tail.ends_with(b"#FAILURE#"), "{tail:?}");
    // An answer announcing 2^31-1 bytes (over the handshake's 256): dropped unread.
    let mut huge = raw_connect(&address);
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff]).unwrap();
    let mut tail = Vec::new();
    huge.read_to_end(&mut tail).unwrap();
    assert!(
        tail.starts_with(&[0, 0, 0, 59]) && tail.len() == 63,
        "{tail:?}"
    );
    let conn = Client::connect(&address, b"right").unwrap();
    let (i, refused) = conn.recv::<(u64, u64)>().unwrap();
    assert_eq!(i, 1);
    assert!(refused >= 3, "{refused}");
    assert_eq!(child.join().unwrap(), 0);
    drop(silent);
    // A client with a key against a listener without one: no challenge comes, and the
    // client gives up after its handshake timeout.
    let open = Listener::bind(abstract_name("open").as_str(), NO_KEY).unwrap();
    let quick = Options::new().handshake_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = Client::connect_with(open.address(), b"key", &quick).unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn a_silent_peer_does_not_stop_accept() {
    let opts = Options::new().handshake_timeout(Duration::from_secs(30));
    let listener = Listener::bind_with(abstract_name("silent").as_str(), b"k", &opts).unwrap();
    let address = listener.address().clone();
    let mut child = counting_listener(listener, 1);
    // Three peers that connect and say nothing, with a 30 s handshake timeout: the good
    // client behind them is served at once, not after them.
    let silent: Vec<UnixStream> = (0..3).map(|_| raw_connect(&address)).collect();
    let started = Instant::now();
    let conn = Client::connect(&address, b"k").unwrap();
    assert_eq!(conn.recv::<(u64, u64)>().unwrap(), (0, 0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(child.join().unwrap(), 0);
    drop(silent);
}

fn a_huge_announced_length_is_refused_without_allocating() {
    let listener = Listener::bind(abstract_name("huge").as_str(), NO_KEY).unwrap();
    let address = listener.address().clone();
    let mut child = Process::spawn(move || {
        let mut listener = listener;
        let conn = listener.accept().unwrap();
        // 2^62 bytes announced in the long form: refused from the header (an allocation
        // of that size would abort the process), and the connection is closed.
        let err = conn.recv_bytes().unwrap_err();
        assert_eq!(err.invalid_kind(), Some(InvalidKind::Limit), "{err:?}");
        assert!(conn.recv_bytes().is_err());
        let mut conn = listener.accept().unwrap();
        conn.set_max_message_size(100);
        let err = conn.recv_bytes().unwrap_err();
        assert_eq!(err.invalid_kind(), Some(InvalidKind::Limit), "{err:?}");
    })
    .unwrap();
    let mut s = raw_connect(&address);
    let mut h = (-1i32).to_be_bytes().to_vec();
    h.extend_from_slice(&(1u64 << 62).to_be_bytes());
    s.write_all(&h).unwrap();
    let mut s2 = raw_connect(&address);
    s2.write_all(&101u32.to_be_bytes()).unwrap();
    assert_eq!(child.join().unwrap(), 0);
}

fn many_attempts_half_bad_leave_fds_flat() {
    let before = fds();
    let opts = Options::new().handshake_timeout(Duration::from_secs(5));
    let listener = Listener::bind_with(abstract_name("many").as_str(), b"k", &opts).unwrap();
    let address = listener.address().clone();
    const GOOD: usize = 500;
    let mut child = counting_listener(listener, GOOD);
    for i in 0..GOOD {
        let bad = Client::connect_with(&address, b"bad", &opts).unwrap_err();
        assert!(matches!(bad, Error::Authentication(_)), "{i}: {bad:?}");
        let conn = Client::connect(&address, b"k").unwrap();
        let (n, refused) = conn.recv::<(u64, u64)>().unwrap();
        assert_eq!((n, refused), (i as u64, i as u64 + 1));
    }
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(fds(), before);
}

// ----- CPython -----

/// Whether `python3` runs here; says so when it does not.
fn python3() -> bool {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => {
            println!("using {}", String::from_utf8_lossy(&o.stdout).trim());
            true
        }
        _ => {
            println!("SKIPPED: no python3 on PATH: the CPython interop check did not run");
            false
        }
    }
}

/// A `python3 -c` child, killed and reaped when dropped.
struct Python(Child);

impl Python {
    fn run(script: &str, args: &[&str]) -> (Python, BufReader<std::process::ChildStdout>) {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        (Python(child), out)
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "python3 did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn line(out: &mut impl BufRead) -> String {
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    println!("python3 printed: {}", l.trim_end());
    l.trim_end().to_string()
}

const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
with Listener(("127.0.0.1", 0), authkey=b"interop key") as l:
    print("port", l.address[1], flush=True)
    with l.accept() as c:
        m = c.recv_bytes()
        c.send_bytes(m[::-1] + b" from python")
        c.send_bytes(bytes(range(256)) * 1000)
        print("got", c.recv_bytes().decode(), flush=True)
"#;

fn rust_client_talks_to_a_cpython_listener() {
    if !python3() {
        return;
    }
    let (py, mut out) = Python::run(PY_LISTENER, &[]);
    let l = line(&mut out);
    let port: u16 = l.strip_prefix("port ").unwrap().parse().unwrap();
    let conn = Client::connect(format!("127.0.0.1:{port}").as_str(), b"interop key").unwrap();
    conn.send_bytes(b"olleh").unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"hello from python");
    let big: Vec<u8> = (0..=255u8).cycle().take(256_000).collect();
    assert_eq!(conn.recv_bytes().unwrap(), big);
    conn.send_bytes(b"done from rust").unwrap();
    assert_eq!(line(&mut out), "got done from rust");
    assert!(py.wait().success());
    // The wrong key against CPython: refused on both sides.
    let (py, mut out) = Python::run(PY_REFUSING_LISTENER, &[]);
    let port: u16 = line(&mut out)
        .strip_prefix("port ")
        .unwrap()
        .parse()
        .unwrap();
    let err = Client::connect(format!("127.0.0.1:{port}").as_str(), b"wrong").unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert_eq!(line(&mut out), "refused AuthenticationError");
    assert!(py.wait().success());
}

const PY_REFUSING_LISTENER: &str = r#"
from multiprocessing.connection import Listener
with Listener(("127.0.0.1", 0), authkey=b"interop key") as l:
    print("port", l.address[1], flush=True)
    try:
        l.accept()
    except Exception as e:
        print("refused", type(e).__name__, flush=True)
"#;

const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
try:
    Client(sys.argv[1], authkey=b"wrong")
except Exception as e:
    print("wrong key:", type(e).__name__, flush=True)
with Client(sys.argv[1], authkey=b"interop key") as c:
    c.send_bytes(b"from python")
    m = c.recv_bytes()
    print("got", len(m), m[:12].decode(), flush=True)
    c.send_bytes(m[::-1])
"#;

fn cpython_client_talks_to_a_rust_listener() {
    if !python3() {
        return;
    }
    let dir = scratch();
    let path = dir.join("rust.sock");
    let mut listener = Listener::bind(&path, b"interop key").unwrap();
    let (py, mut out) = Python::run(PY_CLIENT, &[path.to_str().unwrap()]);
    let conn = listener.accept_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(listener.refused(), 1, "the wrong key was refused first");
    assert_eq!(line(&mut out), "wrong key: AuthenticationError");
    assert_eq!(conn.recv_bytes().unwrap(), b"from python");
    let mut m = b"from rust: ".to_vec();
    m.extend(std::iter::repeat_n(b'z', 100_000));
    conn.send_bytes(&m).unwrap();
    assert_eq!(line(&mut out), "got 100011 from rust: z");
    let back = conn.recv_bytes().unwrap();
    m.reverse();
    assert_eq!(back, m);
    assert!(py.wait().success());
    assert!(matches!(conn.recv_bytes(), Err(Error::Closed)));
    drop(listener);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fork_children_share_the_programs_authkey() {
    let key = current_process().authkey();
    assert_eq!(key.len(), 32);
    assert_ne!(key, [0u8; 32]);
    let (mine, theirs) = Pipe::new();
    let mut child = Process::spawn(move || {
        theirs.send(&current_process().authkey()).unwrap();
        // The default key authenticates the child to its parent.
        let conn = Client::connect(
            theirs.recv::<Address>().unwrap(),
            current_process().authkey(),
        );
        conn.unwrap().send(&"hello with the program's key").unwrap();
    })
    .unwrap();
    assert_eq!(mine.recv::<Vec<u8>>().unwrap(), key);
    let mut listener = Listener::new(current_process().authkey()).unwrap();
    mine.send(listener.address()).unwrap();
    let conn = listener.accept_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(
        conn.recv::<String>().unwrap(),
        "hello with the program's key"
    );
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(listener.refused(), 0);
}

/// CPython 3.12's handshake, for a CPython that speaks only 3.11's (this machine's):
/// `{sha256}` challenges and prefixed answers, installed over the module's functions, which
/// `Listener.accept` and `Client` call. Written from the protocol's description; on 3.12+ it
/// is what the module does already (strictly: only the sha256 form is accepted here).
const PY_MODERN: &str = r##"
import hmac, os, sys
import multiprocessing.connection as mc
from multiprocessing import AuthenticationError

def deliver(conn, key):
    msg = b"{sha256}" + os.urandom(40)
    conn.send_bytes(b"#CHALLENGE#" + msg)
    got = conn.recv_bytes(256)
    want = b"{sha256}" + hmac.new(key, msg, "sha256").digest()
    if not hmac.compare_digest(got, want):
        conn.send_bytes(b"#FAILURE#")
        raise AuthenticationError("digest received was wrong")
    conn.send_bytes(b"#WELCOME#")

def answer(conn, key):
    m = conn.recv_bytes(256)
    if not m.startswith(b"#CHALLENGE#{sha256}"):
        raise AuthenticationError("not a 3.12 challenge: %r" % m[:20])
    m = m[len(b"#CHALLENGE#"):]
    conn.send_bytes(b"{sha256}" + hmac.new(key, m, "sha256").digest())
    if conn.recv_bytes(256) != b"#WELCOME#":
        raise AuthenticationError("digest sent was rejected")

mc.deliver_challenge, mc.answer_challenge = deliver, answer
if sys.argv[1] == "listen":
    with mc.Listener(("127.0.0.1", 0), authkey=b"modern") as l:
        print("port", l.address[1], flush=True)
        with l.accept() as c:
            c.send_bytes(c.recv_bytes() + b" back, sha256")
else:
    host, port = sys.argv[2].rsplit(":", 1)
    with mc.Client((host, int(port)), authkey=b"modern") as c:
        c.send_bytes(b"python 3.12 form")
        print("got", c.recv_bytes().decode(), flush=True)
"##;

fn the_cpython_3_12_handshake_form_is_spoken_both_ways() {
    if !python3() {
        return;
    }
    let (py, mut out) = Python::run(PY_MODERN, &["listen"]);
    let port: u16 = line(&mut out)
        .strip_prefix("port ")
        .unwrap()
        .parse()
        .unwrap();
    let conn = Client::connect(format!("127.0.0.1:{port}").as_str(), b"modern").unwrap();
    conn.send_bytes(b"rust").unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"rust back, sha256");
    assert!(py.wait().success());
    let mut listener = Listener::bind("127.0.0.1:0", b"modern").unwrap();
    let Address::Tcp(sa) = listener.address().clone() else {
        panic!()
    };
    let (py, mut out) = Python::run(PY_MODERN, &["connect", &sa.to_string()]);
    let conn = listener.accept_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"python 3.12 form");
    conn.send_bytes(b"rust listener, sha256").unwrap();
    assert_eq!(line(&mut out), "got rust listener, sha256");
    assert!(py.wait().success());
}

/// CPU time this process used so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

fn wait_wakes_for_connections_listeners_and_sentinels_without_spinning() {
    use std::os::fd::AsFd;
    let mut listener = Listener::bind(abstract_name("wait").as_str(), b"k").unwrap();
    let address = listener.address().clone();
    let (pipe_here, pipe_there) = Pipe::new();
    // A child that, 300 ms apart: sends on the pipe, connects to the listener, sends on
    // that connection, then ends.
    let mut child = Process::spawn(move || {
        let pause = || std::thread::sleep(Duration::from_millis(300));
        pause();
        pipe_there.send(&1u8).unwrap();
        pause();
        let conn = Client::connect(&address, b"k").unwrap();
        pause();
        conn.send(&2u8).unwrap();
        pause();
    })
    .unwrap();
    let sentinel = child.sentinel().unwrap();
    let forever = Some(Duration::from_secs(20));
    {
        let objects: [&dyn AsFd; 3] = [&pipe_here, &listener, &sentinel];
        assert_eq!(
            wait(&objects, Some(Duration::ZERO)).unwrap(),
            Vec::<usize>::new()
        );
        let (cpu, started) = (cpu_time(), Instant::now());
        assert_eq!(wait(&objects, forever).unwrap(), [0], "the pipe first");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(
            cpu_time() - cpu < Duration::from_millis(100),
            "wait spun: {:?}",
            cpu_time() - cpu
        );
    }
    assert_eq!(pipe_here.recv::<u8>().unwrap(), 1);
    {
        let objects: [&dyn AsFd; 3] = [&pipe_here, &listener, &sentinel];
        assert_eq!(wait(&objects, forever).unwrap(), [1], "then the listener");
    }
    let conn = listener.accept().unwrap();
    {
        let objects: [&dyn AsFd; 3] = [&pipe_here, &conn, &sentinel];
        assert_eq!(wait(&objects, forever).unwrap(), [1], "then the connection");
        assert_eq!(conn.recv::<u8>().unwrap(), 2);
        // The child ends: its sentinel, and its ends of the pipe and connection, close.
        let ready = wait(&objects[2..], forever).unwrap();
        assert_eq!(ready, [0], "then the sentinel");
        let ready = wait(&objects, forever).unwrap();
        assert_eq!(ready, [0, 1, 2], "closed peers count as ready");
    }
    assert!(matches!(conn.recv::<u8>(), Err(Error::Closed)));
    assert_eq!(child.join().unwrap(), 0);
    // A joined child's sentinel is ready at once.
    let joined = child.sentinel().unwrap();
    assert_eq!(wait(&[&joined], Some(Duration::ZERO)).unwrap(), [0]);
    let not_started = Process::new(|| ());
    assert_eq!(
        not_started.sentinel().unwrap_err().invalid_kind(),
        Some(InvalidKind::NotStarted)
    );
}
