//! Pool apply_async (seed 001, "Process Pools"): `apply_async` of `mandelbrot` on each of
//! the 15 seed points, `ready()` on the first three right away and again after a short
//! pause, then `get()` on every result.
//!
//! Python original: `with Pool(processes=8) as pool: results = [pool.apply_async(mandelbrot,
//! (c,)) for c in points]`, `[r.ready() for r in results[:3]]`, `sleep(0.1)`,
//! `[r.get() for r in results]`.
//! Look for: `ready()` never blocks: it says false right after submitting and true after
//! the pause. The seed's tasks take microseconds, so its workers usually finish before the
//! parent's next line and both checks say true; here each task first waits for a `go`
//! event that the parent sets only after the first check, so the first check is false on
//! every run (`--ungated` submits the seed's plain tasks). Then the results
//! [49, 23, 47, 43, 18, 39, 59, 69, 60, 23, 47, 43, 18, 39, 57], in submission order
//! whatever order the workers finished in. With `--slow` a 16th task is held until a `get`
//! with a timeout has given up on it: the timeout is an error, the task carries on, and a
//! later `get` returns its result.
//!
//! Run: `just run pool_apply_async` (or `cargo run --release --bin pool_apply_async`)

use clap::Parser;
use kit::cli::comma_list;
use kit::workloads::{Complex, SEED_POINTS, mandelbrot};
use multiproc::{Error, Event, Pool};
use std::process::ExitCode;
use std::time::Duration;

/// apply_async mandelbrot on the seed's 15 points, check ready(), then get() them all.
/// The seed's values are the defaults, except that the tasks wait for a go event
/// (`--ungated`: the seed's plain tasks).
#[derive(Parser)]
struct Args {
    /// Worker processes (the seed: `Pool(processes=8)`); 1 to 256.
    #[arg(long, default_value_t = 8, value_parser = kit::cli::processes)]
    workers: usize,
    /// How long to pause between the two `ready()` checks, in seconds (the seed: `sleep(0.1)`).
    /// At most a day (86400 s).
    #[arg(long, default_value = "0.1", value_parser = kit::cli::seconds)]
    seconds: Duration,
    /// Submit the seed's plain tasks, which do not wait for the go event: the first
    /// `ready()` then usually already says true.
    #[arg(long)]
    ungated: bool,
    /// Also submit a task that is held until `get` with a timeout has given up on it.
    #[arg(long)]
    slow: bool,
    /// How long that `get` waits, in seconds (with `--slow`).
    /// At most a day (86400 s).
    #[arg(long, default_value = "0.2", requires = "slow", value_parser = kit::cli::seconds)]
    get_timeout: Duration,
}

/// The seed's `mandelbrot(z0)` with its default of 255 orbits.
fn orbits(z0: Complex) -> u32 {
    mandelbrot(z0, 255)
}

/// A task that cannot finish before `go` is set, then computes as the seed's does.
fn gated_orbits((z0, go): (Complex, Event)) -> u32 {
    go.wait();
    orbits(z0)
}

fn run(args: Args) -> multiproc::Result<()> {
    // Shared objects are created before the pool, so they can be passed to its tasks.
    let go = Event::new();
    let release = Event::new();
    let pool = Pool::new(args.workers)?;
    let results = SEED_POINTS
        .iter()
        .map(|&c| {
            if args.ungated {
                pool.apply_async(orbits, c)
            } else {
                pool.apply_async(gated_orbits, (c, go.clone()))
            }
        })
        .collect::<multiproc::Result<Vec<_>>>()?;
    let gate = if args.ungated {
        "they start at once, as in the seed"
    } else {
        "each first waits for the go event"
    };
    println!(
        "Submitted {} tasks to workers={} and {gate}.",
        results.len(),
        args.workers
    );

    // ready() never blocks: it looks, and answers.
    let first3 = || comma_list(results[..3].iter().map(|r| r.ready()));
    println!(
        "ready() on the first three right away: ready_before={}",
        first3()
    );
    go.set();
    let set = if args.ungated { "" } else { "Set go, then " };
    println!("{set}sleep {:?}...", args.seconds);
    std::thread::sleep(args.seconds); // the seed's sleep(0.1): time passes, nothing waits on it
    println!("ready() after the pause: ready_after={}", first3());
    if results[..3].iter().any(|r| !r.ready()) {
        // A loaded machine may not have run them yet; wait() is the call that blocks.
        results[..3].iter().for_each(|r| r.wait());
        println!("Not all done yet; after wait(): ready_after={}", first3());
    }

    let values = results
        .iter()
        .map(|r| r.get())
        .collect::<multiproc::Result<Vec<u32>>>()?;
    println!(
        "get() on each, in submission order: results={}",
        comma_list(&values)
    );
    let successful = results.iter().map(|r| r.successful() == Some(true));
    println!(
        "After get() the first three are ready_after_get={} and all are successful={}",
        first3(),
        comma_list(successful)
    );

    if args.slow {
        let point = SEED_POINTS[0];
        let held = pool.apply_async(gated_orbits, (point, release.clone()))?;
        let outcome = match held.get_timeout(args.get_timeout) {
            Err(Error::Timeout) => "timed_out".to_string(),
            other => format!("unexpected:{other:?}").replace(char::is_whitespace, "_"),
        };
        println!(
            "get(timeout={:?}) on a held task: slow_get_timeout={outcome} and the task \
             carries on: slow_ready_after_timeout={}",
            args.get_timeout,
            held.ready()
        );
        release.set();
        println!("Released it; get() now returns slow_result={}", held.get()?);
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
