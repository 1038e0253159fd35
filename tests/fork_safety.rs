//! Fork safety, checked in forked processes (harness::forked): a child never returns into
//! its parent's code, and `fork` is refused while other threads run.

use harness::checks;
use harness::forked::Check;
use multiproc::{Error, Event, Pool, Process};
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

/// Given to this target's own binary: run only the runner self-test's inner check.
const SELFTEST: &str = "--selftest-payload-panics-on-drop";
/// Printed by runner code that ran in a process other than the runner's.
const RAN_TWICE: &str = "RUNNER CODE RAN IN A CHECK'S PROCESS";

fn main() -> ExitCode {
    if std::env::args().any(|a| a == SELFTEST) {
        let _after = RunnerOnly(std::process::id());
        return harness::forked::run(checks![a_check_whose_payload_panics_on_drop]);
    }
    let mut all = checks![
        a_child_whose_panic_payload_panics_on_drop_never_returns_into_the_parent,
        the_runner_reports_a_check_whose_payload_panics_on_drop_as_failed_and_runs_once,
        starting_a_process_with_another_thread_running_is_an_error,
        creating_a_pool_with_another_thread_running_is_an_error,
    ];
    // Fails by timing out if `spawn` blocks on the stdout lock another thread holds.
    all.push(Check {
        name: "a_thread_holding_stdout_cannot_make_spawn_hang",
        run: a_thread_holding_stdout_cannot_make_spawn_hang,
        timeout: Duration::from_secs(20),
    });
    harness::forked::run(all)
}

/// A panic payload whose `Drop` panics too.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the panic payload's Drop panics");
    }
}

/// Runner code (a destructor in the runner's `main`) that reports when it runs in any
/// process but the runner's.
struct RunnerOnly(u32);

impl Drop for RunnerOnly {
    fn drop(&mut self) {
        if std::process::id() != self.0 {
            println!("{RAN_TWICE}");
        }
    }
}

/// Sets its event when dropped in any process but the one that made it.
struct ParentOnly {
    pid: u32,
    ran_elsewhere: Event,
}

impl Drop for ParentOnly {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            self.ran_elsewhere.set();
        }
    }
}

fn a_child_whose_panic_payload_panics_on_drop_never_returns_into_the_parent() {
    let parent = std::process::id();
    let ran_in_child = Event::new();
    let _guard = ParentOnly {
        pid: parent,
        ran_elsewhere: ran_in_child.clone(),
    };
    let mut p = Process::new(|| -> () { std::panic::panic_any(PanicsOnDrop) });
    // A parent that survives panics (a server loop, a test runner) catches them around
    // `start`; a child unwinding out of `start` would then run on in the parent's code.
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| p.start()));
    if std::process::id() != parent {
        ran_in_child.set();
    }
    started.expect("start does not panic").unwrap();
    assert_eq!(p.join().unwrap(), 1, "a panicking child exits with 1");
    assert!(
        !ran_in_child.is_set(),
        "the child ran the parent's code after start"
    );
}

/// The runner self-test's inner check.
fn a_check_whose_payload_panics_on_drop() {
    std::panic::panic_any(PanicsOnDrop);
}

fn the_runner_reports_a_check_whose_payload_panics_on_drop_as_failed_and_runs_once() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .arg(SELFTEST)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the runner reports failure: {stdout}"
    );
    assert!(
        stdout.contains("check a_check_whose_payload_panics_on_drop ... FAILED"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("forked checks:").count(), 1, "{stdout}");
    assert!(!stdout.contains(RAN_TWICE), "{stdout}");
}

/// Panics unless `e` is `Error::Threaded` for 2 threads, with a message naming the count
/// and what to do.
fn assert_two_threads(e: Error) {
    let message = e.to_string();
    assert!(
        matches!(e, Error::Threaded { threads: 2 }),
        "expected Threaded {{ threads: 2 }}: {e:?}"
    );
    assert!(message.contains("2 threads"), "{message}");
    assert!(message.contains("join the other threads"), "{message}");
}

/// A thread that blocks until the returned sender is dropped or sent to.
fn blocked_thread() -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    (tx, t)
}

fn starting_a_process_with_another_thread_running_is_an_error() {
    let (tx, t) = blocked_thread();
    let mut p = Process::new(|| 7);
    assert_two_threads(p.start().unwrap_err());
    assert_eq!(p.pid(), None, "nothing was forked");
    assert_two_threads(Process::spawn(|| ()).unwrap_err());
    drop(tx);
    t.join().unwrap();
    // The same process can start now, with its closure intact.
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 7);
}

fn double(x: u64) -> u64 {
    2 * x
}

fn creating_a_pool_with_another_thread_running_is_an_error() {
    let (tx, t) = blocked_thread();
    assert_two_threads(Pool::new(2).unwrap_err());
    assert_two_threads(Pool::builder().processes(1).build().unwrap_err());
    drop(tx);
    t.join().unwrap();
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(double, 0..4).unwrap(), [0, 2, 4, 6]);
}

fn a_thread_holding_stdout_cannot_make_spawn_hang() {
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _stdout = std::io::stdout().lock();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    assert_two_threads(Process::spawn(|| ()).unwrap_err());
    drop(release_tx);
    t.join().unwrap();
    let mut p = Process::spawn(|| ()).unwrap();
    assert_eq!(p.join().unwrap(), 0);
}
