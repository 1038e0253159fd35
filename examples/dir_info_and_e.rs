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
//! Rust toolchain's (`rustc --print sysroot`), as the talk used Python's own. A directory
//! walked faster than the e process starts gives e = 0: the seed's `calculate_e` looks at
//! the exit event before its first term.
//!
//! Run: `just run dir_info_and_e` (or `cargo run --release --bin dir_info_and_e`)

use clap::Parser;
use clap::ValueEnum;
use kit::workloads::calculate_e;
use multiproc::{Error, Event, Pool, Process, Queue, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Walk and hash a directory in one process while another computes e; print status lines.
#[derive(Parser)]
struct Args {
    /// Directory to walk (default: this Rust toolchain's sysroot, `rustc --print sysroot`).
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

/// A directory that exists wherever Rust is installed: the toolchain's sysroot, or else
/// the directory holding the running program.
fn default_dir() -> PathBuf {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_dir());
    sysroot.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
    })
}

/// What the walk found.
#[derive(Serialize, Deserialize, Debug)]
struct DirInfo {
    files: u64,
    bytes: u64,
    sha256: String,
    /// Entries that could not be read (permissions, vanished while walking).
    unreadable: u64,
}

/// Counters the walker updates as it goes, for the status line. Shared memory, so they can
/// also travel to a pool worker as a task argument.
#[derive(Clone, Serialize, Deserialize)]
struct Progress {
    files: Value<u64>,
    bytes: Value<u64>,
}

/// Count, size and hash every regular file under `dir`, in sorted path order.
fn dir_info(dir: &Path, progress: &Progress) -> DirInfo {
    let mut hasher = Sha256::new();
    let (mut files, mut bytes, mut unreadable) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 1 << 16];
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        let entry = match entry {
            Ok(e) => e,
            Err(_) => {
                unreadable += 1;
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(entry.path()) else {
            unreadable += 1;
            continue;
        };
        let mut size = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    size += n as u64;
                    progress.bytes.store(bytes + size);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    unreadable += 1;
                    break;
                }
            }
        }
        files += 1;
        bytes += size;
        progress.files.store(files);
        progress.bytes.store(bytes);
    }
    DirInfo {
        files,
        bytes,
        sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        unreadable,
    }
}

/// What a variant hands back to `run`.
struct Outcome {
    info: DirInfo,
    e: f64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            files: Value::new(0),
            bytes: Value::new(0),
        }
    }

    /// The status line main prints every interval.
    fn status(&self, started: Instant, e_running: bool) {
        println!(
            "status: {:5.1} s  {} files, {:.1} MB hashed so far; e still running: {}",
            started.elapsed().as_secs_f64(),
            self.files.load(),
            self.bytes.load() as f64 / 1e6,
            e_running
        );
    }
}

/// The talk's Process variant: a `DirInfo` process and a `CalculateE` process; this process
/// prints a status line every interval until the walk's result arrives.
fn with_processes(dir: &Path, interval: Duration) -> multiproc::Result<Outcome> {
    let progress = Progress::new();
    let dir_result: Queue<DirInfo> = Queue::new()?;
    let e_result: Queue<f64> = Queue::new()?;
    let exit_event = Event::new();

    let (d, q, p) = (dir.to_path_buf(), dir_result.clone(), progress.clone());
    let mut walker = Process::new(move || q.put(dir_info(&d, &p))).name("dir_info");
    let (ev, q) = (exit_event.clone(), e_result.clone());
    let mut e_process = Process::new(move || q.put(calculate_e(&ev))).name("calculate_e");
    walker.start()?;
    e_process.start()?;

    let started = Instant::now();
    let info = loop {
        match dir_result.get_timeout(interval) {
            Ok(info) => break info,
            Err(Error::Empty) => {
                progress.status(started, e_process.is_alive());
                if !walker.is_alive() && dir_result.empty() {
                    exit_event.set();
                    return Err(Error::Invalid(format!(
                        "the dir_info process ended without a result (exit code {:?})",
                        walker.exitcode()
                    )));
                }
            }
            Err(e) => return Err(e),
        }
    };
    exit_event.set(); // the walk is done: tell calculate_e to stop
    let e = e_result.get()?;
    multiproc::join_all(&mut [walker, e_process])?;
    Ok(Outcome { info, e })
}

/// Pool task: the walk.
fn dir_info_task((dir, progress): (PathBuf, Progress)) -> DirInfo {
    dir_info(&dir, &progress)
}

/// Pool task: e until the event is set.
fn e_task(exit_event: Event) -> f64 {
    calculate_e(&exit_event)
}

/// The talk's Pool variant: both jobs as `apply_async` tasks on a pool of two; the Event and
/// the progress counters are made before the pool, so they can be task arguments.
fn with_pool(dir: &Path, interval: Duration) -> multiproc::Result<Outcome> {
    let progress = Progress::new();
    let exit_event = Event::new();
    let pool = Pool::new(2)?;
    let e_result = pool.apply_async(e_task, exit_event.clone())?;
    let dir_result = pool.apply_async(dir_info_task, (dir.to_path_buf(), progress.clone()))?;
    let started = Instant::now();
    let info = loop {
        match dir_result.get_timeout(interval) {
            Ok(info) => break info,
            Err(Error::Timeout) => progress.status(started, !e_result.ready()),
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
    Ok(Outcome { info, e })
}

fn run(args: Args) -> multiproc::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    println!("Walking {} while computing e", dir.display());
    let started = Instant::now();
    let Outcome { info, e } = match args.variant {
        Variant::Process => with_processes(&dir, args.interval)?,
        Variant::Pool => with_pool(&dir, args.interval)?,
    };
    println!(
        "{}: {} files, {} bytes, sha256 {} ({} unreadable) in {:.2} s",
        dir.display(),
        info.files,
        info.bytes,
        info.sha256,
        info.unreadable,
        started.elapsed().as_secs_f64()
    );
    println!("e = {e}");
    if e == 0.0 {
        println!(
            "(the walk ended before the e process began: calculate_e, as the seed's, looks at \
             the exit event before its first term)"
        );
    }
    println!(
        "variant={}",
        match args.variant {
            Variant::Process => "process",
            Variant::Pool => "pool",
        }
    );
    println!("dir={}", dir.display());
    println!("files={}", info.files);
    println!("bytes={}", info.bytes);
    println!("sha256={}", info.sha256);
    println!("unreadable={}", info.unreadable);
    println!("e={e}");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
