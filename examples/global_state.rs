//! Global state (seed 004, "Python Multiprocessing Process Class"): four processes each set
//! their own slot of a global list to `True`, sort some random numbers, and print the list.
//!
//! Python original: `global_var_list = [None]*4`, `Process(target=heavy_op1, args=(i, n))`.
//! Look for: every child sees only its own slot set (`[True, None, None, None]`,
//! `[None, True, None, None]`, ...), and the parent's list is still all `None` at the end:
//! each process changed its own copy of the global, not a shared one. Sharing needs
//! `Value`/`Array` (see `array_squares`).
//!
//! Run: `just run global_state` (or `cargo run --release --bin global_state`)

use clap::Parser;
use multiproc::{Process, fresh_rng};
use rand::RngExt;
use std::process::ExitCode;
use std::sync::Mutex;

/// The module-level list of the seed: one slot per process.
static GLOBAL_VAR_LIST: Mutex<Vec<Option<bool>>> = Mutex::new(Vec::new());

/// Each process sets its slot of a global list; nobody sees anyone else's change.
#[derive(Parser)]
struct Args {
    /// Numbers each process sorts, one process per value
    /// (the seed: 10000000,70000000,40000000,20000000).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_values_t = [10_000_000usize, 70_000_000, 40_000_000, 20_000_000])]
    n: Vec<usize>,
}

/// Python's repr of the list: `[None, True, None, None]`.
fn py_list(list: &[Option<bool>]) -> String {
    let items: Vec<&str> = list
        .iter()
        .map(|v| match v {
            None => "None",
            Some(true) => "True",
            Some(false) => "False",
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn global() -> std::sync::MutexGuard<'static, Vec<Option<bool>>> {
    GLOBAL_VAR_LIST.lock().unwrap_or_else(|e| e.into_inner())
}

fn heavy_op(i: usize, n: usize) {
    println!("Started with n: {n}");
    println!("Setting global var at idx: {}", i - 1);
    global()[i - 1] = Some(true);
    let mut rng = fresh_rng();
    let mut x: Vec<f64> = (0..n).map(|_| rng.random()).collect();
    x.sort_unstable_by(f64::total_cmp);
    println!("Function idx: {i} {}", x.len());
    let seen = py_list(&global());
    println!("Function idx: {i} {seen}");
    println!("seen_by_{i}={seen}");
}

fn run(args: Args) -> multiproc::Result<()> {
    *global() = vec![None; args.n.len()];
    let mut processes = Vec::new();
    for (k, &n) in args.n.iter().enumerate() {
        processes.push(Process::spawn(move || heavy_op(k + 1, n))?);
    }
    for p in &mut processes {
        p.join()?;
    }
    println!("We're done");
    let end = py_list(&global());
    println!("Global var at end of processing: {end}");
    println!("parent_final={end}");
    Ok(())
}

fn main() -> ExitCode {
    multiproc::cli::main(run)
}
