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
use kit::rng::fresh_rng;
use multiproc::Process;
use rand::RngExt;
use std::process::ExitCode;
use std::sync::Mutex;

/// The module-level list of the seed: one slot per process.
static GLOBAL_VAR_LIST: Mutex<Vec<Option<bool>>> = Mutex::new(Vec::new());

/// Each process sets its slot of a global list; nobody sees anyone else's change.
#[derive(Parser)]
struct Args {
    /// Numbers each process sorts, one process per value [default:
    /// 1000000,7000000,4000000,2000000; the seed's 10000000,70000000,40000000,20000000
    /// (several seconds, 1.1 GB) with --seed-defaults].
    /// Each from 0 to 100,000,000, at most 250,000,000 in all (8 bytes each, sorted at the
    /// same time: 2 GB), at most 64 values.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_parser = kit::cli::usize_in(0..=100_000_000))]
    n: Option<Vec<usize>>,
    /// The seed's sizes: 10000000,70000000,40000000,20000000. --n still overrides them.
    #[arg(long)]
    seed_defaults: bool,
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
    global()[i - 1] = Some(true);
    let mut rng = fresh_rng();
    let mut x: Vec<f64> = (0..n).map(|_| rng.random()).collect();
    x.sort_unstable_by(f64::total_cmp);
    let seen = py_list(&global());
    println!(
        "Function idx {i} set global var at idx {} and sorted {} numbers; its list: \
         seen_by_{i}={seen}",
        i - 1,
        x.len()
    );
}

fn run(args: Args) -> multiproc::Result<()> {
    let n = args.n.unwrap_or(if args.seed_defaults {
        vec![10_000_000, 70_000_000, 40_000_000, 20_000_000]
    } else {
        vec![1_000_000, 7_000_000, 4_000_000, 2_000_000]
    });
    check_sizes::<Args>(&n);
    *global() = vec![None; n.len()];
    let mut processes = Vec::new();
    for (k, &n) in n.iter().enumerate() {
        processes.push(Process::spawn(move || heavy_op(k + 1, n))?);
    }
    multiproc::join_all(&mut processes)?;
    println!("We're done");
    let end = py_list(&global());
    println!("Global var at end of processing, in the parent: parent_final={end}");
    Ok(())
}

/// The bounds of `--n` that one value cannot check: how many, and their total.
fn check_sizes<A: clap::CommandFactory>(n: &[usize]) {
    kit::cli::require::<A>(n.len() <= 64, "--n: at most 64 values (one process each)");
    kit::cli::require::<A>(
        n.iter().sum::<usize>() <= 250_000_000,
        "--n: at most 250000000 numbers in all (2 GB sorted at the same time)",
    );
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
