//! Parallel reduction (seed 003, "Example: Parallel Reduction using Pool.map"): cut the data
//! into one chunk per process, sum each chunk in a worker with `imap(sum, chunks,
//! chunksize=1)`, then sum the partial sums; compared with `sum(data)` in one process. Then
//! the same reduction without copying anything: the data frozen once in a [`SharedSlice`],
//! each task handed the slice's handle and its index range, reading it as a plain `&[u64]`;
//! and the fork route, a global set before `Pool::new`, which every worker already has.
//!
//! Python original: `chunk_size = int(ceil(len(data)/processes))`,
//! `chunked_work = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]`,
//! `partial_sum_data = pool.imap(sum, chunked_work, chunksize=1)`,
//! `sum_data = sum(partial_sum_data)`. The zero-copy way is what a Python user does with
//! `multiprocessing.shared_memory.SharedMemory` and a NumPy view per task.
//! Look for: every parallel sum equals the serial one, n(n-1)/2 for data 0..n, for any
//! number of processes; `imap` yields the partial sums in chunk order, the same for the
//! copied chunks and the shared ranges. There are at most as many chunks as processes,
//! fewer when n is small (10 items for 7 processes: 5 chunks of 2), and none for empty data
//! (the sum is 0). The timings (pool start-up excluded) show the lesson: copying every
//! number to a worker to add it once costs more than the addition, so one process wins the
//! seed's way; handing out a 16-byte handle instead costs nothing, and the workers sum at
//! memory speed, as threads would.
//!
//! Run: `just run parallel_reduction` (or `cargo run --release --bin parallel_reduction`)

use clap::Parser;
use kit::cli::comma_list;
use kit::timing::{speedup, timed};
use kit::workloads::{chunk_list, sum_list};
use multiproc::{Pool, SharedSlice};
use std::hint::black_box;
use std::ops::Range;
use std::process::ExitCode;
use std::sync::OnceLock;

/// Sum 0..N as chunked partial sums with Pool.imap(chunksize=1): chunks copied (the seed),
/// ranges of one SharedSlice (zero-copy), ranges of a global (fork); and serially.
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

/// The zero-copy task: the handle and a range travel, the numbers stay where they are.
fn sum_shared_range((data, range): (SharedSlice<u64>, Range<usize>)) -> u64 {
    data[range].iter().sum()
}

/// The fork route: a plain global, set before `Pool::new`, so every worker already has it
/// (copy-on-write); a task needs no handle, only its range.
static DATA: OnceLock<Vec<u64>> = OnceLock::new();

fn sum_global_range(range: Range<usize>) -> u64 {
    let data = DATA.get().expect("DATA is set before the pool is created");
    data[range].iter().sum()
}

/// The ranges `chunk_list` cuts: `ceil(len / k)` items each, at most `k` of them.
fn chunk_ranges(len: usize, k: usize) -> Vec<Range<usize>> {
    let size = len.div_ceil(k).max(1);
    (0..len)
        .step_by(size)
        .map(|s| s..(s + size).min(len))
        .collect()
}

fn run(args: Args) -> multiproc::Result<()> {
    // Built once, frozen, then read by everyone: this process and every worker.
    let data: SharedSlice<u64> = (0..args.n).collect();
    let _ = DATA.set((0..args.n).collect());
    let pool = Pool::new(args.workers)?;
    let ranges = chunk_ranges(data.len(), args.workers);

    let (partial_sums, pool_time) = timed(|| -> multiproc::Result<Vec<u64>> {
        let chunked_work = chunk_list(black_box(&data), args.workers);
        pool.chunksize(1)
            .imap(sum_list, chunked_work)?
            .collect::<multiproc::Result<Vec<u64>>>()
    });
    let partial_sums = partial_sums?;
    let sum_data: u64 = partial_sums.iter().sum();
    println!(
        "The seed's way, each chunk copied to a worker: partial_sums={} sum={sum_data}",
        comma_list(&partial_sums)
    );

    let (shared_partials, shared_time) = timed(|| -> multiproc::Result<Vec<u64>> {
        let tasks = ranges.iter().map(|r| (data.clone(), r.clone()));
        pool.chunksize(1)
            .imap(sum_shared_range, tasks)?
            .collect::<multiproc::Result<Vec<u64>>>()
    });
    let shared_partials = shared_partials?;
    let shared_sum: u64 = shared_partials.iter().sum();
    println!(
        "Zero-copy, each worker summing its range of one SharedSlice in place: \
         shared_partial_sums={} shared_sum={shared_sum}",
        comma_list(&shared_partials)
    );

    let (fork_partials, fork_time) = timed(|| -> multiproc::Result<Vec<u64>> {
        pool.chunksize(1)
            .imap(sum_global_range, ranges.clone())?
            .collect::<multiproc::Result<Vec<u64>>>()
    });
    let fork_sum: u64 = fork_partials?.iter().sum();
    println!(
        "The fork route, each worker summing its range of a global set before Pool::new: \
         fork_sum={fork_sum}"
    );

    let (serial, serial_time) = timed(|| black_box(&data[..]).iter().sum::<u64>());
    println!("Serially, in one process: serial_sum={serial}");
    pool.close()?;
    pool.join()?;

    println!(
        "Times with processes={}: serial_seconds={:.6} pool_seconds={:.6} \
         shared_seconds={:.6} fork_seconds={:.6}, so the pool ran copied_speedup={:.2} \
         (copied chunks), shared_speedup={:.2} (SharedSlice) and fork_speedup={:.2} (global) \
         times as fast as one process",
        args.workers,
        serial_time.as_secs_f64(),
        pool_time.as_secs_f64(),
        shared_time.as_secs_f64(),
        fork_time.as_secs_f64(),
        speedup(serial_time, pool_time),
        speedup(serial_time, shared_time),
        speedup(serial_time, fork_time),
    );
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
