//! Process names (seed 004): two processes named `process 1` and `process 2`, plus processes
//! left with Python's default names (`Process-3`, ...); each child prints
//! `current_process().name`, and the same name is visible to the OS.
//!
//! Python original: `Process(target=heavy_op1, args=(1, n), name='process 1')`,
//! `current_process().name`.
//! Look for: the names printed inside the children match the names given (or the defaults,
//! numbered in creation order as Python numbers them), and `/proc/<pid>/comm` carries the
//! name too (cut to the kernel's 15 bytes), so `ps` and `top` show it.
//!
//! Run: `just run process_names` (or `cargo run --release --bin process_names`)

use clap::Parser;
use kit::rng::fresh_rng;
use multiproc::{Process, current_process};
use rand::RngExt;
use std::process::ExitCode;

/// Named and default-named processes report their names from the inside.
#[derive(Parser)]
struct Args {
    /// Numbers each named process sorts, one named process (`process 1`, `process 2`, ...)
    /// per value [default: 4000000,6000000; the seed's 40000000,60000000 (several seconds,
    /// 800 MB) with --seed-defaults].
    /// Each from 0 to 100,000,000, at most 250,000,000 in all (8 bytes each, sorted at the
    /// same time: 2 GB), at most 64 values.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_parser = kit::cli::usize_in(0..=100_000_000))]
    n: Option<Vec<usize>>,
    /// The seed's sizes: 40000000,60000000. --n still overrides them.
    #[arg(long)]
    seed_defaults: bool,
    /// Extra processes left with their default names; 0 to 64.
    #[arg(long, default_value_t = 2, value_parser = kit::cli::usize_in(0..=64))]
    unnamed: usize,
}

fn heavy_op(i: usize, n: usize) {
    let mut rng = fresh_rng();
    let mut x: Vec<f64> = (0..n).map(|_| rng.random()).collect();
    x.sort_unstable_by(f64::total_cmp);
    let me = current_process();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    println!(
        "Function idx {i} sorted {} numbers in pid {}: its name is name_{i}=\"{}\", the OS \
         shows comm_{i}=\"{}\"",
        x.len(),
        me.pid(),
        me.name(),
        comm.trim_end()
    );
}

fn run(args: Args) -> multiproc::Result<()> {
    let n = args.n.unwrap_or(if args.seed_defaults {
        vec![40_000_000, 60_000_000]
    } else {
        vec![4_000_000, 6_000_000]
    });
    check_sizes::<Args>(&n);
    println!(
        "Parent id: {}, main_name={}",
        std::process::id(),
        current_process().name()
    );
    let mut processes = Vec::new();
    for (k, &n) in n.iter().enumerate() {
        let i = k + 1;
        processes.push(Process::new(move || heavy_op(i, n)).name(format!("process {i}")));
    }
    for k in 0..args.unnamed {
        let i = n.len() + k + 1;
        processes.push(Process::new(move || heavy_op(i, 0)));
    }
    for (k, p) in processes.iter().enumerate() {
        println!("Process {} is given_{}=\"{}\"", k + 1, k + 1, p.get_name());
    }
    for p in &mut processes {
        p.start()?;
    }
    let mut failed = Vec::new();
    for (k, p) in processes.iter_mut().enumerate() {
        let code = p.join()?;
        println!("p{} alive:? {}", k + 1, p.is_alive());
        if code != 0 {
            failed.push(format!("{} exited with {code}", p.get_name()));
        }
    }
    if !failed.is_empty() {
        return Err(multiproc::Error::Io(std::io::Error::other(
            failed.join("; "),
        )));
    }
    println!("We're done");
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
