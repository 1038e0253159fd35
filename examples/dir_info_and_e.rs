//! Directory info and e (seed 000/002, the talk's demo, `python -m multiprocessing_talk`):
//! one process walks a directory, counting files and bytes and hashing every file's
//! contents with SHA-256, while another computes e until told to stop, and the main process
//! prints a status line every interval. When the walk is done, main stops the e process and
//! prints both results.
//!
//! Python original: the talk's `DirInfo` and `CalculateE` `Process` classes, run on the
//! Python installation's directory, with status messages printed while both work; and its
//! `Pool` version, `pool.apply_async(calculate_e, (exit_event,))`, which needs a
//! `SyncManager().Event()` in Python. `--variant pool` runs that version: the Event and the
//! progress counters are created before the pool and passed to the tasks as they are.
//! Look for: status lines while the two processes run (files and bytes so far, rising),
//! then the totals, the hash, and e. The totals equal any other walk of the same tree, and
//! the hash is the same every run: files are hashed in sorted path order, the contents of
//! regular files only (symbolic links are not followed). The default directory is this
//! Rust toolchain's libraries (`$(rustc --print sysroot)/lib`, half a gigabyte in a few
//! seconds); the talk walked all of Python's installation, as
//! `dir_info_and_e $(rustc --print sysroot)` walks all of Rust's (about half a minute). A directory
//! walked faster than the e process starts gives e = 0: the seed's `calculate_e` looks at
//! the exit event before its first term.
//!
//! Run: `just run dir_info_and_e` (or `cargo run --release --features walk --bin dir_info_and_e`)

use clap::{Parser, ValueEnum};
use kit::dir_walk::{DirInfo, WalkProgress, dir_info, toolchain_dir};
use kit::workloads::calculate_e;
use multiproc::{Error, Event, Pool, Process, Queue};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Walk and hash a directory in one process while another computes e; print status lines.
#[derive(Parser)]
struct Args {
    /// Directory to walk (default: this Rust toolchain's libraries,
    /// `$(rustc --print sysroot)/lib`; the talk walked the whole installation, as
    /// `$(rustc --print sysroot)` does here).
    #[arg(value_parser = directory)]
    dir: Option<PathBuf>,
    /// Seconds between status lines; 0.01 to 86400 (a day).
    #[arg(long, default_value = "1", value_parser = interval)]
    interval: Duration,
    /// Two `Process`es (the talk's demo) or two tasks on a `Pool` (the talk's Pool slide).
    #[arg(long, value_enum, default_value_t = Variant::Process)]
    variant: Variant,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Variant {
    Process,
    Pool,
}

fn directory(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.is_dir() {
        Ok(p)
    } else {
        Err(format!("'{s}' is not a directory"))
    }
}

fn interval(s: &str) -> Result<Duration, String> {
    let d = kit::cli::seconds(s)?;
    if d < Duration::from_millis(10) {
        return Err(format!("'{s}' is shorter than 0.01 s"));
    }
    Ok(d)
}

/// The status line main prints every interval while both work.
fn status(progress: &WalkProgress, started: Instant, e_running: bool) {
    println!(
        "status: {:5.1} s  {} files, {:.1} MB hashed so far; e still running: {e_running}",
        started.elapsed().as_secs_f64(),
        progress.files.load(),
        progress.bytes.load() as f64 / 1e6,
    );
}

/// The talk's Process variant: a `DirInfo` process and a `CalculateE` process; this process
/// prints a status line every interval until the walk's result arrives.
fn with_processes(dir: &Path, interval: Duration) -> multiproc::Result<(DirInfo, f64)> {
    let progress = WalkProgress::new();
    let dir_result: Queue<DirInfo> = Queue::new()?;
    let e_result: Queue<f64> = Queue::new()?;
    let exit_event = Event::new();

    let (d, q, p) = (dir.to_path_buf(), dir_result.clone(), progress.clone());
    let walker = Process::new(move || q.put(dir_info(&d, &p))).name("dir_info");
    let (ev, q) = (exit_event.clone(), e_result.clone());
    let e_process = Process::new(move || q.put(calculate_e(&ev))).name("calculate_e");
    let mut processes = [walker, e_process];
    multiproc::start_all(&mut processes)?;

    let started = Instant::now();
    let info = loop {
        match dir_result.get_timeout(interval) {
            Ok(info) => break info,
            Err(Error::Empty) => {
                status(&progress, started, processes[1].is_alive());
                if !processes[0].is_alive() && dir_result.empty() {
                    exit_event.set();
                    multiproc::join_all(&mut processes)?; // names the failed process
                    return Err(multiproc::Error::Io(std::io::Error::other(
                        "dir_info ended without a result",
                    )));
                }
            }
            Err(e) => return Err(e),
        }
    };
    exit_event.set(); // the walk is done: tell calculate_e to stop
    let e = e_result.get()?;
    multiproc::join_all(&mut processes)?;
    Ok((info, e))
}

/// Pool task: the walk.
fn dir_info_task((dir, progress): (PathBuf, WalkProgress)) -> DirInfo {
    dir_info(&dir, &progress)
}

/// Pool task: e until the event is set.
fn e_task(exit_event: Event) -> f64 {
    calculate_e(&exit_event)
}

/// The talk's Pool variant: both jobs as `apply_async` tasks on a pool of two; the Event and
/// the progress counters are made before the pool, so they can be task arguments.
fn with_pool(dir: &Path, interval: Duration) -> multiproc::Result<(DirInfo, f64)> {
    let progress = WalkProgress::new();
    let exit_event = Event::new();
    let pool = Pool::new(2)?;
    let e_result = pool.apply_async(e_task, exit_event.clone())?;
    let dir_result = pool.apply_async(dir_info_task, (dir.to_path_buf(), progress.clone()))?;
    let started = Instant::now();
    let info = loop {
        match dir_result.get_timeout(interval) {
            Ok(info) => break info,
            Err(Error::Timeout) => status(&progress, started, !e_result.ready()),
            Err(e) => {
                exit_event.set();
                return Err(e);
            }
        }
    };
    exit_event.set(); // the walk is done: tell calculate_e to stop
    let e = e_result.get()?;
    drop((e_result, dir_result));
    pool.close()?;
    pool.join()?;
    Ok((info, e))
}

fn run(args: Args) -> multiproc::Result<()> {
    let dir = (args.dir.clone()).unwrap_or_else(|| toolchain_dir().join("lib"));
    let dir = if dir.is_dir() { dir } else { toolchain_dir() };
    let variant = match args.variant {
        Variant::Process => "process",
        Variant::Pool => "pool",
    };
    println!(
        "Walking dir={} while computing e with variant={variant}",
        dir.display()
    );
    let started = Instant::now();
    let (info, e) = match args.variant {
        Variant::Process => with_processes(&dir, args.interval)?,
        Variant::Pool => with_pool(&dir, args.interval)?,
    };
    println!(
        "Found files={} with bytes={} and sha256={} with unreadable={} entries in {:.2} s",
        info.files,
        info.bytes,
        info.sha256,
        info.unreadable,
        started.elapsed().as_secs_f64()
    );
    println!("calculate_e gave e={e}");
    if e == 0.0 {
        println!(
            "(the walk ended before the e process began: calculate_e, as the seed's, looks at \
             the exit event before its first term)"
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
