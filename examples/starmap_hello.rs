//! Starmap hello (seed 003's repository, `basic_pool.py` and `basic_apply.py`): a function
//! that prints how it was called and returns that text, run over `enumerate("Hello world")`
//! with `starmap`, then given the same pairs with `apply`.
//!
//! Python original: `pool.starmap(function, enumerate("Hello world"))` and
//! `pool.apply(function, enumerate("Hello world"))`, with
//! `def function(*args): ... print(f"function( {arguments_str} )")`.
//! Look for: `starmap` makes 11 calls, `function( 0, H )` to `function( 10, d )`, printed by
//! the workers in whatever order they ran, but its 11 results come back in input order.
//! `apply` is not a map: it makes one call, in one worker, with all 11 pairs as its
//! arguments, and returns one result.
//!
//! Run: `just run starmap_hello` (or `cargo run --release --bin starmap_hello`)

use clap::Parser;
use multiproc::Pool;
use std::process::ExitCode;

/// starmap and apply a printing function over enumerate("Hello world").
#[derive(Parser)]
struct Args {
    /// The text to enumerate (the seed: "Hello world").
    #[arg(long, default_value = "Hello world")]
    text: String,
    /// Worker processes (the seed: 10); 1 to 256.
    #[arg(long, default_value_t = 10, value_parser = kit::cli::processes)]
    workers: usize,
}

/// The seed's `function(i, c)` as `starmap` calls it: print the call in the worker, return it.
fn function(i: usize, c: char) -> String {
    let call = format!("function( {i}, {c} )");
    println!("{call}");
    call
}

/// The seed's `function(*pairs)` as `apply` calls it: one call with every pair.
fn function_all(pairs: Vec<(usize, char)>) -> String {
    let args: Vec<String> = pairs.iter().map(|(i, c)| format!("({i}, {c:?})")).collect();
    let call = format!("function( {} )", args.join(", "));
    println!("{call}");
    call
}

fn run(args: Args) -> multiproc::Result<()> {
    let pairs: Vec<(usize, char)> = args.text.chars().enumerate().collect();
    let pool = Pool::new(args.workers)?;

    println!("Calling function on work:");
    let values = pool.starmap(function, pairs.clone())?;
    println!("Result:");
    for v in &values {
        println!("    result={v:?}");
    }

    println!("Calling function on work with apply:");
    let value = pool.apply(function_all, pairs)?;
    println!("Result: apply_result={value:?}");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
