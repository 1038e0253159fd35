//! Added A+B (seed 003, "Example: Data Parallelism using Pool.map"): add two lists element
//! by element in a pool, `A = 0..10` and `B = 10..20`, and print them as three aligned rows.
//!
//! Python original: `added_AB = pool.starmap(operator.add, zip(A, B))` (from
//! `added_AB = [a + b for a, b in zip(A, B)]`).
//! Look for: `= [ 10, 12, 14, ..., 28 ]`, each sum under its two addends. `starmap` unpacks
//! each `(a, b)` pair into `add(a, b)` and returns the results in input order.
//!
//! Run: `just run added_ab` (or `cargo run --release --bin added_ab`)

use clap::Parser;
use kit::workloads::{add, aligned_row, seed_ab};
use multiproc::Pool;
use std::process::ExitCode;

/// Add A = 0..N and B = N..2N element-wise with Pool.starmap and print the three rows.
#[derive(Parser)]
struct Args {
    /// Length of A and B (the seed: 10); 0 to 10,000,000 (A, B and A + B take 80 MB each).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
    /// Worker processes (the seed: `Pool()`, one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
}

fn run(args: Args) -> multiproc::Result<()> {
    let (a, b) = seed_ab(args.n);
    let pool = Pool::new(args.workers)?;
    let added_ab = pool.starmap(add, a.iter().copied().zip(b.iter().copied()))?;
    println!("{}", aligned_row(" ", &a));
    println!("{}", aligned_row("+", &b));
    println!("{}", aligned_row("=", &added_ab));
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
