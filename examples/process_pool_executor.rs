//! Process pool executor (Python docs, `concurrent.futures`, "ProcessPoolExecutor
//! Example"): `is_prime` over the docs' six large numbers, first with `executor.map`, then
//! with `executor.submit` and `as_completed`.
//!
//! Python original: `with concurrent.futures.ProcessPoolExecutor() as executor: for number,
//! prime in zip(PRIMES, executor.map(is_prime, PRIMES)): print('%d is prime: %s' % (number,
//! prime))`; the `submit` form is the docs' `as_completed` pattern, `futures =
//! [executor.submit(is_prime, n) for n in PRIMES]`, `for f in as_completed(futures): ...`.
//! Look for: the docs' output, `112272535095293 is prime: True` and so on, all True but the
//! last, 1099726899285419 = 3306091 × 332636609, which is False. `map` gives the results in
//! input order; `as_completed` in the order the workers finish them, each number once. A
//! `Future` does not say which input it was for (Python keeps a `future_to_number` dict; a
//! Rust future is no dict key), so the `submit` task returns its number beside the answer.
//! The same lines with every start method (`--start-method fork|forkserver|spawn`).
//!
//! Run: `just run process_pool_executor` (or `cargo run --release --bin process_pool_executor`)

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use multiproc::executor::{ProcessPoolExecutor, as_completed};
use multiproc::start::{self, StartMethod};
use std::process::ExitCode;

/// The Python docs' `PRIMES` (112272535095293 twice, as there).
const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

/// is_prime over the Python docs' PRIMES with a ProcessPoolExecutor: map, then submit and
/// as_completed.
#[derive(Parser)]
struct Args {
    /// Worker processes (the docs: `ProcessPoolExecutor()`, one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
    /// How the executor's worker processes start.
    #[arg(long, default_value = "fork",
          value_parser = PossibleValuesParser::new(["fork", "forkserver", "spawn"])
              .map(|s| s.parse::<StartMethod>().expect("a listed method")))]
    start_method: StartMethod,
}

/// The docs' `is_prime`: trial division by the odd numbers up to `floor(sqrt(n))`.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let sqrt_n = n.isqrt();
    (3..=sqrt_n).step_by(2).all(|i| !n.is_multiple_of(i))
}

/// The `submit` task: the number with its answer, since a future does not name its input.
fn number_is_prime(n: u64) -> (u64, bool) {
    (n, is_prime(n))
}

/// Python's `%s` of a bool.
fn py(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// One line of the docs' output, with the words the tests read.
fn report(via: &str, number: u64, prime: bool) {
    println!(
        "{number} is prime: {}    via={via} number={number} prime={prime}",
        py(prime)
    );
}

fn run(args: Args) -> multiproc::Result<()> {
    let executor = ProcessPoolExecutor::builder()
        .processes(args.workers)
        .start_method(args.start_method)
        .build_executor()?;
    println!(
        "ProcessPoolExecutor of workers={} start_method={}",
        executor.processes(),
        executor.start_method()
    );

    println!("executor.map(is_prime, PRIMES), in input order:");
    for (number, prime) in PRIMES.iter().zip(executor.map(is_prime, PRIMES)?) {
        report("map", *number, prime?);
    }

    println!("executor.submit(is_prime, n) for each, then as_completed, in finishing order:");
    let futures = PRIMES
        .iter()
        .map(|&n| executor.submit(number_is_prime, n))
        .collect::<multiproc::Result<Vec<_>>>()?;
    for future in as_completed(futures) {
        let (number, prime) = future.result()?;
        report("as_completed", number, prime);
    }

    // The `with` block's end: wait for the workers to exit.
    executor.shutdown(true, false)?;
    println!("Shut down: done=true");
    Ok(())
}

fn main() -> ExitCode {
    // First thing: in the start server and in spawned children, this never returns.
    start::init();
    kit::cli::quiet_on_closed_stdout();
    let result = run(Args::parse());
    // End the start server (forkserver, spawn) too, so that no process outlives the program.
    start::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
