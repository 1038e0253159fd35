//! Array squares (seed 004, "Sharing Data Between Processes Using Array"): a child fills a
//! shared `Array(i32, 3)` with the squares of [2, 3, 5]; parent and child both print it.
//!
//! Python original: `multiprocessing.Array('i', 3)` passed to `Process(target=calc_squares)`.
//! Look for: `Within process: inside=[4, 9, 25]` and `Outside process: outside=[4, 9, 25]`: the parent sees
//! what the child wrote, because the array lives in shared memory created before the fork.
//! (Compare `global_state`, where a plain global is not shared.)
//!
//! Run: `just run array_squares` (or `cargo run --release --bin array_squares`)

use clap::{CommandFactory, Parser};
use multiproc::{Array, Process};
use std::process::ExitCode;

/// A child squares numbers into a shared array the parent then reads.
#[derive(Parser)]
struct Args {
    /// The numbers to square (the seed: 2,3,5); each from -46340 to 46340, so that its
    /// square fits in the array's 32 bits; at most 1,000,000 of them.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [2i32, 3, 5], value_parser = clap::value_parser!(i32).range(-46_340..=46_340))]
    numbers: Vec<i32>,
}

fn calc_squares(numbers: &[i32], result: &Array<i32>) {
    for (idx, n) in numbers.iter().enumerate() {
        result.store(idx, n.wrapping_mul(*n));
    }
    println!("Within process: inside={:?}", result.to_vec());
}

fn run(args: Args) -> multiproc::Result<()> {
    if args.numbers.len() > 1_000_000 {
        // A usage error, as clap reports its own: the message, the usage line, exit 2.
        let message = "--numbers: at most 1000000 numbers";
        Args::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
    // Shared memory: created before the process, so both see the same array.
    let result = Array::<i32>::new(args.numbers.len());
    let child_view = result.clone();
    let numbers = args.numbers.clone();
    let p = Process::spawn(move || calc_squares(&numbers, &child_view))?;
    multiproc::join_all(&mut [p])?; // a child that failed fails the example
    println!("Outside process: outside={:?}", result.to_vec());
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("array_squares: error: {e}");
            ExitCode::FAILURE
        }
    }
}
