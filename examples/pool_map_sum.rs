//! Pool map sum (seed 004, "Multiprocessing Pool (Map Reduce)"): `f(n)`, the sum of x² for
//! x below 10,000, over `range(10000)`, once with `Pool.map` and once in a serial loop, each
//! timed, then summed.
//!
//! Python original: `p = Pool(); result = p.map(func=f, iterable=range(10000)); p.close();
//! p.join()`, then `for x in range(10000): result.append(f(x))`.
//! Look for: both sums are 3332833350000000; the pool's time includes starting and joining
//! its workers, as the seed's does, and the speedup approaches the number of cores. The seed
//! took 22.8 s pooled and 95.7 s serial in CPython; here it is a matter of milliseconds.
//!
//! Run: `just run pool_map_sum` (or `cargo run --release --bin pool_map_sum`)

use clap::Parser;
use multiproc::Pool;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

/// The seed's `f(n)`: the sum of x² for x below 10,000 (the seed ignores `n`; so do we).
///
/// Every `x` passes through `black_box`, so each of the 10,000 steps really runs, as in the
/// seed. An opaque bound alone is not enough: LLVM recognises `sum += x * x` over a range
/// and replaces the loop with the closed form `(b-1)b(2b-1)/6`, which made a whole serial
/// run of the seed take 15 µs instead of tens of milliseconds. The pool and the serial loop
/// call this same function, so the speedup compares like with like.
fn f(_n: u64) -> u64 {
    let bound = black_box(10_000u64);
    let mut sum = 0u64;
    for x in 0..bound {
        let x = black_box(x);
        sum += x * x;
    }
    sum
}

/// Map f(n) = sum of x² for x < 10000 over range(N) with a Pool, then serially; compare.
#[derive(Parser)]
struct Args {
    /// Worker processes (the seed: `Pool()`, one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = workers)]
    workers: usize,
    /// How many calls of f: the input is range(N) (the seed: 10000); 0 to 10,000,000 (each
    /// call returns 333,283,335,000: the total of more would not fit in 64 bits).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
}

/// `--workers`: a whole number from 1 to 256 (clap's `value_parser!(usize)` has no range).
fn workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not in 1..=256")),
        Err(_) => Err(format!("'{s}' is not a whole number of processes")),
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    let inputs = || (0..args.n).map(black_box);

    let start = Instant::now();
    let pool = Pool::new(args.workers)?;
    let result = pool.map(f, inputs())?;
    pool.close()?;
    pool.join()?;
    let pooled: u64 = result.iter().sum();
    let pool_time = start.elapsed();
    println!("Pool result sum: pool_sum={pooled}");

    let start = Instant::now();
    let mut result = Vec::new();
    for x in inputs() {
        result.push(f(x));
    }
    let serial: u64 = result.iter().sum();
    let serial_time = start.elapsed();
    println!("Serial result sum: serial_sum={serial}");

    let (serial_s, pool_s) = (serial_time.as_secs_f64(), pool_time.as_secs_f64());
    println!(
        "Serial serial_seconds={serial_s:.4} and pooled pool_seconds={pool_s:.4} over \
         processes={} give speedup={:.3} (times faster)",
        args.workers,
        serial_s / pool_s.max(f64::MIN_POSITIVE),
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pool_map_sum: error: {e}");
            ExitCode::FAILURE
        }
    }
}
