//! Start methods from a `#[tokio::main]` program: its runtime's worker threads exist before
//! `main`'s first line, and the start server and spawned children are this very binary
//! re-executed, so they would build a runtime of their own before any code of `main` runs.
//! The crate adopts those roles before `main` (an ELF constructor), so none of that matters:
//! forkserver and spawn children, and a forkserver pool, work from inside the runtime, with
//! `start::init()` called late (from inside the runtime) or not at all, and the start server
//! stays single-threaded.
//!
//! `main` is both the test and the program it checks. Run by cargo (no `START_TOKIO_CHECK`),
//! it runs itself once per variant with `START_TOKIO_CHECK` set, each in a process group of
//! its own with a timeout (harness::run: the group is killed when it fires, and a process
//! left in the group fails the test).

use multiproc::start::{self, StartMethod};
use multiproc::{Error, Pool};
use std::process::ExitCode;
use std::time::Duration;

/// Set in the checked program: `init` (call `start::init()` first, inside the runtime) or
/// `none` (never call it).
const CHECK: &str = "START_TOKIO_CHECK";

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::var(CHECK) {
        Ok(variant) => checked(variant == "init").await,
        Err(_) => drive(),
    }
}

/// The test: run the checked program in both variants, each under a timeout.
fn drive() -> ExitCode {
    let exe = std::env::current_exe().expect("current_exe");
    let exe = exe.to_str().expect("a utf-8 path");
    println!("\nrunning 2 checks");
    for variant in ["init", "none"] {
        let run = harness::Example::new("start_tokio", exe)
            .env(CHECK, variant)
            .timeout(Duration::from_secs(120))
            .spawn()
            // The start server ends once it sees its owner gone (`shutdown` ends it first).
            .finish(Duration::from_secs(10));
        run.expect_success();
        let out = run.stdout();
        for line in [
            "forkserver=49",
            "spawn=49",
            "pool_ok=true",
            "server_threads=1",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{variant}: no line {line:?}\n{out}"
            );
        }
        println!("check tokio_main_{variant} ... ok");
    }
    println!("\nstart_tokio: 2 passed; 0 failed");
    ExitCode::SUCCESS
}

fn square(x: u64) -> u64 {
    x * x
}

/// The pid of the process that started this one: for a served child, its start server.
fn parent(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

/// Threads of process `pid`.
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc/<pid>/task")
        .count()
}

/// The checked program, inside the runtime; fails with a message on stderr.
async fn checked(call_init: bool) -> ExitCode {
    if call_init {
        // The explicit form, now with the runtime's threads running.
        start::init();
    }
    let mine = threads_of(std::process::id());
    assert!(mine > 1, "the runtime runs threads here ({mine})");
    // Fork is still refused beside the runtime's threads.
    assert!(matches!(
        StartMethod::Fork.start(square, 2),
        Err(Error::Threaded { .. })
    ));
    let forkserver = StartMethod::ForkServer
        .start(square, 7)
        .and_then(|mut c| c.join());
    println!("forkserver={}", show(forkserver));
    // A spawn child from a worker thread of the runtime.
    let spawn = tokio::task::spawn_blocking(|| StartMethod::Spawn.start(square, 7)?.join())
        .await
        .expect("the blocking task");
    println!("spawn={}", show(spawn));
    // The pool is built and used on a worker thread too (a Pool is not Send: it stays there).
    let pool_ok = tokio::task::spawn_blocking(|| -> multiproc::Result<bool> {
        let pool = Pool::builder()
            .processes(2)
            .start_method(StartMethod::ForkServer)
            .build()?;
        let squares = pool.map(square, 0..8u64)?;
        pool.close()?;
        pool.join()?;
        Ok(squares == [0, 1, 4, 9, 16, 25, 36, 49])
    })
    .await
    .expect("the blocking task");
    println!("pool_ok={}", show(pool_ok));
    // The start server: the parent of a served child. Its only thread serves.
    let server = StartMethod::ForkServer
        .start(parent, ())
        .and_then(|mut c| c.join());
    match server {
        Ok(pid) => {
            assert_ne!(pid, std::process::id());
            println!("server_threads={}", threads_of(pid));
        }
        Err(e) => println!("server_threads=error: {e}"),
    }
    start::shutdown();
    ExitCode::SUCCESS
}

fn show<T: std::fmt::Display>(r: multiproc::Result<T>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("error: {e}"),
    }
}
