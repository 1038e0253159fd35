//! Process info (seed 004, "Getting Information about Processes"): the parent prints its pid
//! and starts one child per size; each child sorts that many random numbers and prints its
//! own pid and its parent's; the parent checks `is_alive()` before and after `join()`.
//!
//! Python original: `Process(target=heavy_op1, args=(i, n))`, `os.getpid()`, `p.is_alive()`.
//! Look for: distinct child pids, none equal to the parent's; every child's parent pid equal
//! to the parent's pid; `alive` true before `join` and false after. Unlike the seed, each
//! child waits for the parent to have looked at `is_alive()` before it finishes, so "alive
//! before join" holds even with tiny sizes (in the seed, a 40M-element sort made it so).
//!
//! Run: `just run process_info` (or `cargo run --release --bin process_info`)

use clap::Parser;
use kit::rng::fresh_rng;
use multiproc::{Event, Process};
use rand::RngExt;
use std::process::ExitCode;

/// Start one process per size; each sorts that many random numbers and reports its pid and
/// its parent's, while the parent watches `is_alive()` around `join()`.
#[derive(Parser)]
struct Args {
    /// Numbers each child sorts, one child per value [default: 4000000,6000000; the seed's
    /// 40000000,60000000 (several seconds, 800 MB) with --seed-defaults].
    /// Each from 0 to 100,000,000, at most 250,000,000 in all (8 bytes each, sorted at the
    /// same time: 2 GB), at most 64 values.
    #[arg(long, value_delimiter = ',', num_args = 1.., value_parser = kit::cli::usize_in(0..=100_000_000))]
    n: Option<Vec<usize>>,
    /// The seed's sizes: 40000000,60000000. --n still overrides them.
    #[arg(long)]
    seed_defaults: bool,
}

fn heavy_op(i: usize, n: usize, looked: &Event) {
    let mut rng = fresh_rng();
    let mut x: Vec<f64> = (0..n).map(|_| rng.random()).collect();
    x.sort_unstable_by(f64::total_cmp);
    println!(
        "Function idx {i} sorted {} numbers in child_pid={}, whose parent is child_ppid={}",
        x.len(),
        std::process::id(),
        std::os::unix::process::parent_id()
    );
    // Finish only after the parent has checked is_alive(), so its "true" is guaranteed.
    looked.wait();
}

fn run(args: Args) -> multiproc::Result<()> {
    let n = args.n.unwrap_or(if args.seed_defaults {
        vec![40_000_000, 60_000_000]
    } else {
        vec![4_000_000, 6_000_000]
    });
    check_sizes::<Args>(&n);
    let parent = std::process::id();
    println!("Parent id: parent_pid={parent}");
    let looked = Event::new();
    let mut processes = Vec::new();
    for (i, &n) in n.iter().enumerate() {
        let looked = looked.clone();
        processes.push(Process::spawn(move || heavy_op(i + 1, n, &looked))?);
    }
    // Both processes are alive: this runs before join().
    for (i, p) in processes.iter_mut().enumerate() {
        let alive = p.is_alive();
        let pid = p.pid().expect("started");
        println!(
            "p{} (started_pid={pid}) before join: alive_before_join={alive}",
            i + 1
        );
    }
    looked.set();
    let mut failed = Vec::new();
    for (i, p) in processes.iter_mut().enumerate() {
        let code = p.join()?;
        let alive = p.is_alive();
        println!(
            "p{} after join: alive_after_join={alive}, exitcode={code}",
            i + 1
        );
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
