//! Pool callbacks (the Python docs' `apply_async(func, args, callback, error_callback)`):
//! results collected by a callback as they arrive, failures by an error callback, while
//! the main program only submits, closes and joins.
//!
//! Python original:
//! `for i in range(n): pool.apply_async(square, (i,), callback=results.append,
//! error_callback=errors.append)`, then `pool.close(); pool.join()`.
//! Look for: every result reaches `callback` exactly once and every failure (here the
//! inputs divisible by `--fail-every`, whose task panics) reaches `error_callback`, in the
//! order they finish, not the order submitted. The pool has no thread of its own: the
//! callbacks run on the thread that collects results, here inside `join()`, where Python
//! runs them on its result-handler thread.
//!
//! Run: `just run pool_callbacks` (or `cargo run --release --bin pool_callbacks`)

use clap::Parser;
use multiproc::Pool;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// apply_async with a callback and an error callback, as in the Python docs.
#[derive(Parser)]
struct Args {
    /// Tasks to submit: the squares of 0..n; 1 to 100,000.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    n: u64,
    /// Make every input divisible by this fail (its task panics); 0: none fail.
    #[arg(long, default_value_t = 7)]
    fail_every: u64,
    /// Worker processes; 1 to 256.
    #[arg(long, default_value_t = 4, value_parser = kit::cli::processes)]
    workers: usize,
}

/// The task: `x * x`, refusing the inputs divisible by `fail_every`.
fn square(task: (u64, u64)) -> u64 {
    let (x, fail_every) = task;
    assert!(fail_every == 0 || x % fail_every != 0, "{x} is refused");
    x * x
}

fn run(args: Args) -> multiproc::Result<()> {
    let pool = Pool::new(args.workers)?;
    let results = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    for x in 0..args.n {
        let (results, errors) = (results.clone(), errors.clone());
        pool.apply_async(square, (x, args.fail_every))?.on_done(
            move |value| {
                println!("callback result={value}");
                results.lock().unwrap().push(value);
            },
            move |error| {
                println!("error_callback error={:?}", error.to_string());
                errors.lock().unwrap().push(error.to_string());
            },
        );
    }
    pool.close()?;
    pool.join()?; // the callbacks of what is left run here
    let results = results.lock().unwrap();
    let errors = errors.lock().unwrap();
    println!(
        "Collected results={} sum={} errors={}",
        results.len(),
        results.iter().sum::<u64>(),
        errors.len()
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
