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
use kit::workloads::sum_of_squares;
use multiproc::Pool;
use std::hint::black_box;
use std::process::ExitCode;

/// Map f(n) = sum of x² for x < 10000 over range(N) with a Pool, then serially; compare.
#[derive(Parser)]
struct Args {
    /// Worker processes (the seed: `Pool()`, one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
    /// How many calls of f: the input is range(N) (the seed: 10000); 0 to 10,000,000 (each
    /// call returns 333,283,335,000: the total of more would not fit in 64 bits).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
}

fn run(args: Args) -> multiproc::Result<()> {
    let inputs = || (0..args.n).map(black_box);

    let (pooled, pool_time) = kit::timing::timed(|| -> multiproc::Result<u64> {
        let pool = Pool::new(args.workers)?;
        let result = pool.map(sum_of_squares, inputs())?;
        pool.close()?;
        pool.join()?;
        Ok(result.iter().sum())
    });
    let pooled = pooled?;
    println!("Pool result sum: pool_sum={pooled}");

    let (serial, serial_time) = kit::timing::timed(|| {
        let mut result = Vec::new();
        for x in inputs() {
            result.push(sum_of_squares(x));
        }
        result.iter().sum::<u64>()
    });
    println!("Serial result sum: serial_sum={serial}");

    kit::timing::report(serial_time, pool_time, args.workers);
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
