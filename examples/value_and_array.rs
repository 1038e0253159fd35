//! Value and array (seed 004, "Using value"): as `array_squares`, plus a shared
//! `Value(f64)` the child sets to 5.0.
//!
//! Python original: `multiprocessing.Value('d', 0.0)` and `Array('i', 3)`, both passed to
//! one `Process`.
//! Look for: `Within process: inside=[4, 9, 25], inside_value=5.0` and the same
//! `Outside process`.
//!
//! Run: `just run value_and_array` (or `cargo run --release --bin value_and_array`)

use clap::Parser;
use multiproc::{Array, Process, Value};
use std::process::ExitCode;

/// A child fills a shared array and sets a shared value; the parent reads both.
#[derive(Parser)]
struct Args {
    /// The numbers to square (the seed: 2,3,5); each from -46340 to 46340, so that its
    /// square fits in the array's 32 bits; at most 1,000,000 of them.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [2i32, 3, 5], value_parser = clap::value_parser!(i32).range(-46_340..=46_340))]
    numbers: Vec<i32>,
    /// The value the child stores (the seed: 5.0); any finite number.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true, value_parser = kit::cli::finite)]
    value: f64,
}

fn calc_squares(numbers: &[i32], result: &Array<i32>, value: &Value<f64>, set_to: f64) {
    value.store(set_to);
    for (idx, n) in numbers.iter().enumerate() {
        result.store(idx, n.wrapping_mul(*n));
    }
    println!(
        "Within process: inside={:?}, inside_value={:?}",
        result.to_vec(),
        value.load()
    );
}

fn run(args: Args) -> multiproc::Result<()> {
    kit::cli::require::<Args>(
        args.numbers.len() <= 1_000_000,
        "--numbers: at most 1000000 numbers",
    );
    let result = Array::<i32>::new(args.numbers.len());
    let value = Value::new(0.0f64);
    let (r, v, numbers, set_to) = (
        result.clone(),
        value.clone(),
        args.numbers.clone(),
        args.value,
    );
    let p = Process::spawn(move || calc_squares(&numbers, &r, &v, set_to))?;
    multiproc::join_all(&mut [p])?; // a child that failed fails the example
    println!(
        "Outside process: outside={:?}, outside_value={:?}",
        result.to_vec(),
        value.load()
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
