//! Start methods (Python docs, "Contexts and start methods"): a program that already runs
//! threads starts the same task with `fork`, `forkserver` and `spawn`, and times each.
//!
//! Python original: `multiprocessing.get_context(method).Process(target=f).start()`; since
//! 3.14 Python's default on Linux is `forkserver`, because forking a program that runs
//! threads can deadlock the child.
//! Look for: `fork` refused (`ok=false`, the error names the alternatives) because two
//! threads run, one of them holding a `std::sync::Mutex` in a loop: its child could inherit
//! that mutex locked for ever. `forkserver` and `spawn` give the task's result (`ok=true`).
//! The first `forkserver` or `spawn` start also launches the start server (`first_ms`);
//! later starts cost `best_ms`: a fork of the server, or a fork and a re-execution.
//! `main` calls `multiproc::start::init()` first: the server and spawned children are this
//! very program, re-executed, and `init` is where they take over.
//!
//! Run: `just run start_methods` (or `cargo run --release --bin start_methods`)

use clap::Parser;
use multiproc::start::{self, StartMethod};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Start the same task with each start method while two threads run, and time start+join.
#[derive(Parser)]
struct Args {
    /// The task sums 1..=n in the child (0 to 1,000,000,000).
    #[arg(long, default_value_t = 1_000_000, value_parser = kit::cli::usize_in(0..=1_000_000_000))]
    n: usize,
    /// Starts per method; the best is reported beside the first (1 to 1,000).
    #[arg(long, default_value_t = 5, value_parser = kit::cli::usize_in(1..=1000))]
    repeat: usize,
}

/// The task: the same `fn` for every method (a `fn` item: its identity survives re-exec).
fn sum_to(n: u64) -> u64 {
    (1..=std::hint::black_box(n)).sum()
}

/// One method: `repeat` starts and joins; the result and the first and best times, or the
/// error of the first start.
fn try_method(
    method: StartMethod,
    n: u64,
    repeat: usize,
) -> (multiproc::Result<u64>, Duration, Duration) {
    let mut first = None;
    let mut best = Duration::MAX;
    let mut last = Err(multiproc::Error::Io(std::io::Error::other("not run")));
    for _ in 0..repeat {
        let t = Instant::now();
        last = method.start(sum_to, n).and_then(|mut child| child.join());
        let took = t.elapsed();
        first.get_or_insert(took);
        best = best.min(took);
        if last.is_err() {
            break;
        }
    }
    (last, first.unwrap_or_default(), best)
}

fn run(args: Args) -> multiproc::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(0u64));
    // Thread 1 holds a std Mutex most of the time: a fork at the wrong moment would give
    // the child this mutex locked, with nobody left to unlock it.
    let holder = {
        let (stop, shared) = (stop.clone(), shared.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
                *g += 1;
                std::hint::black_box(&mut *g);
            }
        })
    };
    // Thread 2 prints now and then (holding stdout's lock while it does).
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut tick = 0;
            while !stop.load(Ordering::Relaxed) {
                tick += 1;
                if tick % 200 == 0 {
                    println!("printer thread: still here (tick {tick})");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let n = args.n as u64;
    let expected = n * (n + 1) / 2;
    let mut failed = Vec::new();
    for method in StartMethod::ALL {
        let (result, first, best) = try_method(method, n, args.repeat);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match result {
            Ok(v) => {
                println!(
                    "method={method} ok=true result={v} first_ms={:.3} best_ms={:.3} starts={}",
                    ms(first),
                    ms(best),
                    args.repeat
                );
                if v != expected {
                    failed.push(format!("{method} returned {v}, not {expected}"));
                }
            }
            Err(e) => {
                println!(
                    "method={method} ok=false first_ms={:.3} error={e}",
                    ms(first)
                );
                if method != StartMethod::Fork {
                    failed.push(format!("{method}: {e}"));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = holder.join();
    let _ = printer.join();
    // End the start server now, so nothing outlives the program even for a moment.
    start::shutdown();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(multiproc::Error::Io(std::io::Error::other(
            failed.join("; "),
        )))
    }
}

fn main() -> ExitCode {
    // First thing: in the start server and in spawned children, this never returns.
    start::init();
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
