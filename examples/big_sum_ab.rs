//! Big sum A+B (seed 003's repository, `big_sum_AB_example.py`): add `A = 0..n` and
//! `B = n..2n` with `starmap`, split the sums into one chunk per process, add up each chunk
//! with `map`, then add the partial sums; each phase timed. The same work done serially is
//! timed too, for the speedup.
//!
//! Python original: `added_AB = pool.starmap(operator.add, zip(A, B))`,
//! `partial_sum_AB = pool.map(sum, chunk_list(added_AB, chunks=args.processes))`,
//! `sum_AB = sum(partial_sum_AB)`, with a `Timer` around each phase; `-n`, `-p`, `-q`.
//! Look for: the sum is n(2n-1) (190 for the seed's n = 10) and equals the serial sum, for
//! any number of processes. The timers tell the other half of the lesson: adding two
//! numbers is far cheaper than sending them to another process, so the pool loses to the
//! serial loop here however large n is; compare `pool_map_sum`, whose tasks are heavy.
//!
//! Run: `just run big_sum_ab` (or `cargo run --release --bin big_sum_ab`)

use clap::Parser;
use kit::cli::comma_list;
use kit::timing::timed;
use kit::workloads::{add, aligned_row, chunk_list, seed_ab, sum_list};
use multiproc::Pool;
use std::hint::black_box;
use std::process::ExitCode;

/// Sum A + B in a pool: starmap(add), map(sum) over chunks, sum of partials; timed per phase.
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

fn seconds(what: &str, key: &str, d: std::time::Duration) {
    println!("{what:<20} {:>12.9} seconds", d.as_secs_f64());
    println!("{key}_seconds={:.9}", d.as_secs_f64());
}

fn run(args: Args) -> multiproc::Result<()> {
    let ((a, b), init) = timed(|| seed_ab(black_box(args.n)));

    let pool = Pool::new(args.processes)?;
    let (added_ab, add_time) =
        timed(|| pool.starmap(add, a.iter().copied().zip(b.iter().copied())));
    let added_ab = added_ab?;
    let (partial_sums, partial_time) =
        timed(|| pool.map(sum_list, chunk_list(&added_ab, args.processes)));
    let partial_sums = partial_sums?;
    let (sum_ab, sum_time) = timed(|| partial_sums.iter().sum::<u64>());
    pool.close()?;
    pool.join()?;

    if !args.quiet {
        println!("{}", aligned_row(" ", &a));
        println!("{}", aligned_row("+", &b));
        println!("{}", aligned_row("=", &added_ab));
        println!("sum: {sum_ab}");
    }
    println!("partial_sums={}", comma_list(&partial_sums));
    println!("sum={sum_ab}");
    seconds("Initialization took:", "init", init);
    seconds("Adding A + B took:", "add", add_time);
    seconds("Partial sum took:", "partial_sum", partial_time);
    seconds("Final sum took:", "final_sum", sum_time);

    // The same, serially: add element by element, then sum.
    let ((serial_sum, serial_added), serial_time) = timed(|| {
        let added: Vec<u64> = black_box(&a)
            .iter()
            .zip(black_box(&b))
            .map(|(&x, &y)| add(x, y))
            .collect();
        (added.iter().sum::<u64>(), added)
    });
    println!("serial_sum={serial_sum}");
    println!("added_equals_serial={}", added_ab == serial_added);
    kit::timing::report(
        serial_time,
        add_time + partial_time + sum_time,
        args.processes,
    );
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
