//! Parallel reduction (seed 003, "Example: Parallel Reduction using Pool.map"): cut the data
//! into one chunk per process, sum each chunk in a worker with `imap(sum, chunks,
//! chunksize=1)`, then sum the partial sums; compared with `sum(data)` in one process.
//!
//! Python original: `chunk_size = int(ceil(len(data)/processes))`,
//! `chunked_work = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]`,
//! `partial_sum_data = pool.imap(sum, chunked_work, chunksize=1)`,
//! `sum_data = sum(partial_sum_data)`.
//! Look for: the parallel sum equals the serial one, n(n-1)/2 for data 0..n, for any number
//! of processes; `imap` yields the partial sums in chunk order. There are at most as many
//! chunks as processes, fewer when n is small (10 items for 7 processes: 5 chunks of 2), and
//! none for empty data (the sum is 0). The timing (pool start-up excluded) shows what the
//! seed's slide does not: every number is copied to a worker to be added once, which costs
//! more than the addition, so one process wins. A reduction pays off when each item is
//! expensive to compute, as in `pool_map_sum`.
//!
//! Run: `just run parallel_reduction` (or `cargo run --release --bin parallel_reduction`)

use clap::Parser;
use kit::cli::comma_list;
use kit::timing::timed;
use kit::workloads::{chunk_list, sum_list};
use multiproc::Pool;
use std::hint::black_box;
use std::process::ExitCode;

/// Sum 0..N as chunked partial sums with Pool.imap(chunksize=1), and serially; compare.
#[derive(Parser)]
struct Args {
    /// How many numbers: the data is 0..N; 0 to 10,000,000 (80 MB, copied into chunks and to the workers).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
    /// Worker processes, and chunks (the seed: `Pool(processes)`; default: one per CPU);
    /// 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
}

fn run(args: Args) -> multiproc::Result<()> {
    let data: Vec<u64> = (0..args.n).collect();
    let pool = Pool::new(args.workers)?;

    let (partial_sums, pool_time) = timed(|| -> multiproc::Result<Vec<u64>> {
        let chunked_work = chunk_list(black_box(&data), args.workers);
        pool.chunksize(1)
            .imap(sum_list, chunked_work)?
            .collect::<multiproc::Result<Vec<u64>>>()
    });
    let partial_sums = partial_sums?;
    let sum_data: u64 = partial_sums.iter().sum();
    println!(
        "Partial sums of {} chunks: {partial_sums:?}",
        partial_sums.len()
    );
    println!("Parallel sum: {sum_data}");
    println!("partial_sums={}", comma_list(&partial_sums));
    println!("sum={sum_data}");

    let (serial, serial_time) = timed(|| black_box(&data).iter().sum::<u64>());
    println!("Serial sum:   {serial}");
    println!("serial_sum={serial}");
    kit::timing::report(serial_time, pool_time, args.workers);
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
