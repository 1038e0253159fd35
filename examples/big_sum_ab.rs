//! Big sum A+B (seed 003's repository, `big_sum_AB_example.py`): add `A = 0..n` and
//! `B = n..2n` with `starmap`, split the sums into one chunk per process, add up each chunk
//! with `map`, then add the partial sums; each phase timed. Then the same with no copy: A
//! and B frozen in [`SharedSlice`]s, each task handed the handles and a range, writing its
//! range of A + B into a [`SharedBuffer`] it has claimed (disjointness checked, not
//! assumed) and returning the range's sum. The same work done serially is timed too.
//!
//! Python original: `added_AB = pool.starmap(operator.add, zip(A, B))`,
//! `partial_sum_AB = pool.map(sum, chunk_list(added_AB, chunks=args.processes))`,
//! `sum_AB = sum(partial_sum_AB)`, with a `Timer` around each phase; `-n`, `-p`, `-q`.
//! The zero-copy way is what a Python user builds from `shared_memory.SharedMemory` blocks
//! and NumPy views, minus the trust that no two workers write the same slice.
//! Look for: the sum is n(2n-1) (190 for the seed's n = 10) and equals the serial sum, for
//! any number of processes, both ways; the frozen A + B buffer equals the serial one. The
//! timers tell the other half of the lesson: adding two numbers is far cheaper than sending
//! them to another process, so the seed's pool loses to the serial loop however large n is;
//! sending handles instead of numbers removes that cost.
//!
//! Run: `just run big_sum_ab` (or `cargo run --release --bin big_sum_ab`)

use clap::Parser;
use kit::cli::comma_list;
use kit::timing::{speedup, timed};
use kit::workloads::{add, aligned_row, chunk_list, seed_ab, sum_list};
use multiproc::{Pool, SharedBuffer, SharedSlice};
use std::hint::black_box;
use std::ops::Range;
use std::process::ExitCode;

/// Sum A + B in a pool: starmap(add), map(sum) over chunks, sum of partials; timed per phase;
/// then the same over shared A, B and a shared A + B buffer, without copies.
#[derive(Parser)]
struct Args {
    /// Length of A and B (the seed: 10); 0 to 10,000,000 (A, B and A + B take 80 MB each).
    #[arg(short = 'n', long = "n", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
    /// Worker processes, and chunks of the partial sum (the seed: the CPU count); 1 to 256.
    #[arg(short = 'p', long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    processes: usize,
    /// Do not print A, B and A + B.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// One zero-copy task: claim `range` of A + B, write it from A and B, return its sum.
type AddRange = (
    SharedSlice<u64>,
    SharedSlice<u64>,
    SharedBuffer<u64>,
    Range<usize>,
);

fn add_range((a, b, added, range): AddRange) -> Result<u64, String> {
    let mut mine = added.claim(range.clone()).map_err(|e| e.to_string())?;
    let mut sum = 0;
    mine.fill_with(|i| {
        let v = add(a[i], b[i]);
        sum += v;
        v
    });
    Ok(sum)
}

fn took(what: &str, key: &str, d: std::time::Duration) {
    println!("{what} took {key}_seconds={:.9}", d.as_secs_f64());
}

fn run(args: Args) -> multiproc::Result<()> {
    let ((a, b), init) = timed(|| {
        let (a, b) = seed_ab(black_box(args.n));
        // Frozen as they are: no element is copied.
        (SharedSlice::from_vec(a), SharedSlice::from_vec(b))
    });
    // Shared objects before the pool, so its workers have them.
    let shared_added = SharedBuffer::<u64>::new(a.len());

    let pool = Pool::new(args.processes)?;
    let (added_ab, add_time) =
        timed(|| pool.starmap(add, a.iter().copied().zip(b.iter().copied())));
    let added_ab = added_ab?;
    let (partial_sums, partial_time) =
        timed(|| pool.map(sum_list, chunk_list(&added_ab, args.processes)));
    let partial_sums = partial_sums?;
    let (sum_ab, sum_time) = timed(|| partial_sums.iter().sum::<u64>());

    let (shared_partials, shared_time) = timed(|| -> multiproc::Result<Vec<u64>> {
        let size = a.len().div_ceil(args.processes).max(1);
        let tasks = (0..a.len()).step_by(size).map(|s| {
            (
                a.clone(),
                b.clone(),
                shared_added.clone(),
                s..(s + size).min(a.len()),
            )
        });
        let sums = pool.chunksize(1).map(add_range, tasks)?;
        sums.into_iter()
            .map(|r| r.map_err(|e| multiproc::Error::Io(std::io::Error::other(e))))
            .collect()
    });
    let shared_partials = shared_partials?;
    let shared_sum: u64 = shared_partials.iter().sum();
    pool.close()?;
    pool.join()?;
    // Every claim has ended: the buffer freezes and reads as a plain slice.
    let shared_added = shared_added.freeze()?;

    if !args.quiet {
        println!("{}", aligned_row(" ", &a));
        println!("{}", aligned_row("+", &b));
        println!("{}", aligned_row("=", &added_ab));
    }
    println!(
        "The seed's way, every number copied to a worker and back: partial_sums={} sum={sum_ab}",
        comma_list(&partial_sums)
    );
    println!(
        "Zero-copy, each worker writing its claimed range of A + B into a SharedBuffer: \
         shared_partial_sums={} shared_sum={shared_sum}",
        comma_list(&shared_partials)
    );
    took("Initialization", "init", init);
    took("Adding A + B", "add", add_time);
    took("Partial sum", "partial_sum", partial_time);
    took("Final sum", "final_sum", sum_time);
    took("The zero-copy add and partial sums", "shared", shared_time);

    // The same, serially: add element by element, then sum.
    let ((serial_sum, serial_added), serial_time) = timed(|| {
        let added: Vec<u64> = black_box(&a)
            .iter()
            .zip(black_box(&b).iter())
            .map(|(&x, &y)| add(x, y))
            .collect();
        (added.iter().sum::<u64>(), added)
    });
    println!(
        "Serially: serial_sum={serial_sum}; A + B equals the serial one the seed's way \
         added_equals_serial={} and zero-copy shared_added_equals_serial={}",
        added_ab == serial_added,
        shared_added == serial_added.as_slice()
    );
    let pooled = add_time + partial_time + sum_time;
    println!(
        "Times with processes={}: serial_seconds={:.9} against pool_seconds={:.9} the seed's \
         way, so the pool ran speedup={:.3} (copied) and shared_speedup={:.3} (zero-copy) \
         times as fast as one process",
        args.processes,
        serial_time.as_secs_f64(),
        pooled.as_secs_f64(),
        speedup(serial_time, pooled),
        speedup(serial_time, shared_time),
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
