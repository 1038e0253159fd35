//! Pool benchmark (seed 003's repository, `pool_benchmark_simple.py`): `work_function(a, b)
//! = sqrt(sqrt(a) / sqrt(b))` over a = 1..N and b = N..1, timed serially and with
//! `Pool(P).starmap`, for several trials, as elements per second.
//!
//! Python original: `pool_benchmark_simple.py N P --trials 10`: `run_serial_benchmark(N)`
//! when P is 1, else `run_parallel_benchmark(N, P)` (`pool.starmap(work_function,
//! zip(range(1, N+1), range(N, 0, -1)))`, the pool's start-up not timed), then the average
//! and the worst case.
//! Look for: the pool's results equal the serial ones, bit for bit. Here every trial runs
//! both, so each line compares the two. Three square roots cost a few nanoseconds, less
//! than sending the two numbers to a worker and the result back: the serial loop wins by
//! far, in Rust as in Python (where the seed's pool won only because the interpreter is so
//! slow per element).
//!
//! Run: `just run pool_benchmark` (or `cargo run --release --bin pool_benchmark`)

use clap::Parser;
use kit::timing::timed;
use multiproc::Pool;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

/// Time work_function over N elements serially and with a pool of P, for several trials.
#[derive(Parser)]
struct Args {
    /// Number of work elements (the seed requires it); 1 to 10,000,000 (two result lists
    /// of 80 MB each, and the pool's copies).
    #[arg(value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    n: u64,
    /// Number of processes in the pool; default: one per CPU (the seed requires it, and
    /// runs only the serial loop when P is 1); 1 to 256.
    #[arg(value_name = "P", default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    p: usize,
    /// Run multiple trials (the seed: 10); 1 to 1000.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    trials: u64,
}

/// The seed's `work_function(a, b)`: `np.sqrt(np.sqrt(a) / np.sqrt(b))`.
fn work_function(a: u64, b: u64) -> f64 {
    ((a as f64).sqrt() / (b as f64).sqrt()).sqrt()
}

/// The seed's inputs: `zip(range(1, N+1), range(N, 0, -1))`.
fn inputs(n: u64) -> impl Iterator<Item = (u64, u64)> {
    (1..=n).zip((1..=n).rev()).map(black_box)
}

fn run_serial_benchmark(n: u64) -> (Vec<f64>, Duration) {
    timed(|| inputs(n).map(|(a, b)| work_function(a, b)).collect())
}

fn run_parallel_benchmark(n: u64, p: usize) -> multiproc::Result<(Vec<f64>, Duration)> {
    let pool = Pool::new(p)?;
    let (result, elapsed) = timed(|| pool.starmap(work_function, inputs(n)));
    Ok((result?, elapsed))
}

fn show(what: &str, n: u64, elapsed: Duration) {
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "\t{what:<8} {:.6} seconds, {rate:.0} elements/second",
        elapsed.as_secs_f64()
    );
}

fn summary(what: &str, key: &str, n: u64, times: &[Duration]) -> Duration {
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let worst = times.iter().max().copied().unwrap_or_default();
    println!(
        "{what}: {:.6} seconds on average or {key}_elements_per_second={:.0} and {:.6} in the \
         worst case or {:.0} elements/second",
        mean.as_secs_f64(),
        n as f64 / mean.as_secs_f64(),
        worst.as_secs_f64(),
        n as f64 / worst.as_secs_f64()
    );
    mean
}

fn run(args: Args) -> multiproc::Result<()> {
    let (mut serial_times, mut pool_times) = (Vec::new(), Vec::new());
    let mut all_equal = true;
    let mut checksums = (0.0, 0.0);
    for trial in 0..args.trials {
        println!("Trial {}", trial + 1);
        let (serial, serial_time) = run_serial_benchmark(args.n);
        show("serial", args.n, serial_time);
        let (pooled, pool_time) = run_parallel_benchmark(args.n, args.p)?;
        show(&format!("pool({})", args.p), args.n, pool_time);
        all_equal &= serial == pooled;
        checksums = (serial.iter().sum(), pooled.iter().sum());
        serial_times.push(serial_time);
        pool_times.push(pool_time);
    }
    let serial_mean = summary("Serial", "serial", args.n, &serial_times);
    let pool_mean = summary(&format!("Pool({})", args.p), "pool", args.n, &pool_times);
    println!(
        "Pool results equal the serial results in every trial? results_equal={all_equal} \
         with serial_checksum={:?} and pool_checksum={:?}",
        checksums.0, checksums.1
    );
    kit::timing::report(serial_mean, pool_mean, args.p);
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
