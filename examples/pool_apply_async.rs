//! Pool apply_async (seed 001, "Process Pools"): `apply_async` of `mandelbrot` on each of
//! the 15 seed points, `ready()` on the first three right away and again after a short
//! pause, then `get()` on every result.
//!
//! Python original: `with Pool(processes=8) as pool: results = [pool.apply_async(mandelbrot,
//! (c,)) for c in points]`, `[r.ready() for r in results[:3]]`, `sleep(0.1)`,
//! `[r.get() for r in results]`.
//! Look for: the results [49, 23, 47, 43, 18, 39, 59, 69, 60, 23, 47, 43, 18, 39, 57], in
//! submission order whatever order the workers finished in. `ready()` never blocks: right
//! after submitting it is usually false, after the pause usually true (either can differ on
//! a busy machine; after `get()` it is always true). With `--slow` a 16th task is held until
//! a `get` with a timeout has given up on it: the timeout is an error, the task carries on,
//! and a later `get` returns its result.
//!
//! Run: `just run pool_apply_async` (or `cargo run --release --bin pool_apply_async`)

use clap::Parser;
use kit::cli::comma_list;
use kit::workloads::{Complex, SEED_POINTS, mandelbrot};
use multiproc::{Error, Event, Pool};
use std::process::ExitCode;
use std::time::Duration;

/// apply_async mandelbrot on the seed's 15 points, check ready(), then get() them all.
#[derive(Parser)]
struct Args {
    /// Worker processes (the seed: `Pool(processes=8)`); 1 to 256.
    #[arg(long, default_value_t = 8, value_parser = kit::cli::processes)]
    workers: usize,
    /// How long to pause between the two `ready()` checks, in seconds (the seed: `sleep(0.1)`).
    /// At most a day (86400 s).
    #[arg(long, default_value = "0.1", value_parser = kit::cli::seconds)]
    seconds: Duration,
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

/// A task that cannot finish before `release` is set, then computes as the others do.
fn held_orbits((z0, release): (Complex, Event)) -> u32 {
    release.wait();
    orbits(z0)
}

fn run(args: Args) -> multiproc::Result<()> {
    // Shared objects are created before the pool, so they can be passed to its tasks.
    let release = Event::new();
    let pool = Pool::new(args.workers)?;
    let results = SEED_POINTS
        .iter()
        .map(|&c| pool.apply_async(orbits, c))
        .collect::<multiproc::Result<Vec<_>>>()?;
    println!(
        "Submitted {} tasks to {} workers",
        results.len(),
        args.workers
    );

    // ready() never blocks: it looks, and answers.
    let first3 = || -> Vec<bool> { results[..3].iter().map(|r| r.ready()).collect() };
    println!("Ready? {:?}", first3());
    println!("Sleeping...");
    std::thread::sleep(args.seconds); // the seed's sleep(0.1): time passes, nothing waits on it
    println!("Ready? {:?}", first3());

    let values = results
        .iter()
        .map(|r| r.get())
        .collect::<multiproc::Result<Vec<u32>>>()?;
    println!("Results: {values:?}");
    println!("results={}", comma_list(&values));
    println!("ready_after_get={}", comma_list(first3()));
    let successful = results.iter().map(|r| r.successful() == Some(true));
    println!("successful={}", comma_list(successful));

    if args.slow {
        let point = SEED_POINTS[0];
        let held = pool.apply_async(held_orbits, (point, release.clone()))?;
        match held.get_timeout(args.get_timeout) {
            Err(Error::Timeout) => {
                println!(
                    "get(timeout={:?}) on the held task: timed out",
                    args.get_timeout
                );
                println!("slow_get_timeout=timed out");
            }
            other => println!("slow_get_timeout=unexpected: {other:?}"),
        }
        println!("slow_ready_after_timeout={}", held.ready());
        release.set();
        let value = held.get()?;
        println!("Released it; get() now returns {value}");
        println!("slow_result={value}");
    }
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
