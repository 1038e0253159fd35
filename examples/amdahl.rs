//! Amdahl's law (seed 003, "Parallel Programming Disclaimer"): a job with a serial part and
//! a parallel part, run with 1, 2, ..., P processes; the measured speedup beside the bound
//! Amdahl's law gives for the serial fraction measured with one process.
//!
//! Python original: the slide's `speedup <= total_time / (time_in_serial + time_in_parallel
//! / processes)`: "if x% of a program is parallelizable, the BEST CASE is an x% reduction in
//! runtime. Period. You will get less than that."
//! Look for: the speedup column stays at or under the bound (within noise), and falls
//! further below it as processes are added: starting processes and collecting their
//! results is overhead the law leaves out. On a machine with C CPUs, more than C processes
//! take turns on them, so past P = C the measured speedup cannot grow however the bound
//! does; the last column is the bound with min(P, C) processors. A 2-core machine shows the
//! law at P = 2 and the flat line after it, and nothing about how the curve bends at 8 or 64
//! cores.
//!
//! Run: `just run amdahl` (or `cargo run --release --features progress --bin amdahl`)

use clap::Parser;
use kit::progress::Progress;
use kit::timing::significant;
use kit::workloads::sum_of_squares;
use multiproc::{Process, Queue};
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Measured speedup with 1..P processes beside Amdahl's bound.
#[derive(Parser)]
struct Args {
    /// Units of work (calls of seed 004's `f(n)`, the sum of x² for x below 10,000).
    /// 1 to 10,000,000,000 (split over up to 256 processes without overflow). The default
    /// takes about 3 s in a release build on 2 cores; `--n 200000` is the earlier default,
    /// steadier figures in about 10 s.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000_000))]
    n: u64,
    /// Share of the units done by the main process alone, before the parallel part.
    #[arg(long, default_value_t = 0.1, value_parser = kit::cli::fraction)]
    serial_fraction: f64,
    /// Largest number of processes to try (default: 4, or the CPU count if larger).
    /// 1 to 256.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    processes: Option<u32>,
    /// Rounds of runs, each with every process count in turn; the fastest run of each
    /// count counts.
    /// 1 to 1000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    trials: u32,
}

fn work(units: Range<u64>) -> u64 {
    units.map(sum_of_squares).fold(0, u64::wrapping_add)
}

/// One run: the serial part here, then the parallel part split over `p` processes.
/// Returns the result and the times of both parts.
fn one_run(n: u64, serial: u64, p: u32) -> multiproc::Result<(u64, Duration, Duration)> {
    let t = Instant::now();
    let mut total = work(0..serial);
    let serial_time = t.elapsed();

    let t = Instant::now();
    let partials: Queue<u64> = Queue::new()?;
    let parallel = n - serial;
    let mut ps = Vec::new();
    for k in 0..u64::from(p) {
        let lo = serial + parallel * k / u64::from(p);
        let hi = serial + parallel * (k + 1) / u64::from(p);
        let q = partials.clone();
        ps.push(Process::spawn(move || q.put(work(lo..hi)))?);
    }
    multiproc::join_all(&mut ps)?;
    for _ in 0..p {
        total = total.wrapping_add(partials.get()?);
    }
    Ok((total, serial_time, t.elapsed()))
}

/// Amdahl's bound on the speedup with `p` processors for serial fraction `f`.
fn amdahl(f: f64, p: u32) -> f64 {
    1.0 / (f + (1.0 - f) / f64::from(p))
}

fn run(args: Args) -> multiproc::Result<()> {
    let cpus = multiproc::cpu::available_cpu_count() as u32;
    let max_p = args.processes.unwrap_or(cpus.max(4));
    let serial = (args.n as f64 * args.serial_fraction).round() as u64;
    println!(
        "{} units of work, {serial} of them serial ({:.1}%), 1..{max_p} processes, best of {} \
         runs, {cpus} CPUs available",
        args.n,
        100.0 * args.serial_fraction,
        args.trials
    );

    // Trials on the outside: every process count gets a run in each round, so a change in
    // the machine's speed during the measurement hits all of them alike.
    let progress = Progress::bar(u64::from(args.trials * max_p), "runs");
    let mut best: Vec<Option<(u64, Duration, Duration)>> = vec![None; max_p as usize];
    for _ in 0..args.trials {
        for p in 1..=max_p {
            progress.message(format!("with {p} processes"));
            let r = one_run(args.n, serial, p)?;
            progress.inc();
            let slot = &mut best[p as usize - 1];
            if slot.is_none_or(|b| r.1 + r.2 < b.1 + b.2) {
                *slot = Some(r);
            }
        }
    }
    progress.finish();
    let rows: Vec<(u32, u64, Duration, Duration)> = best
        .into_iter()
        .zip(1..)
        .map(|(b, p)| {
            let (result, s, par) = b.expect("at least one trial");
            (p, result, s, par)
        })
        .collect();

    // The serial fraction as measured with one process: serial time over total time.
    let (_, _, s1, par1) = rows[0];
    let t1 = (s1 + par1).as_secs_f64();
    let f = if t1 > 0.0 { s1.as_secs_f64() / t1 } else { 0.0 };
    println!(
        "Measured with 1 process: serial_fraction={} of the time",
        significant(f, 4)
    );
    println!(
        "Per process count P: the best time, the speedup over P = 1, Amdahl's bound for P \
         processors, the bound for min(P, {cpus}) processors (this machine), and the result"
    );
    for &(p, result, s, par) in &rows {
        let t = (s + par).as_secs_f64();
        let speedup = t1 / t;
        let bound = amdahl(f, p);
        let bound_here = amdahl(f, p.min(cpus));
        println!(
            "P={p:<3} seconds_p{p}={:<8} speedup_p{p}={:<6} bound_p{p}={:<6} \
             bound_here_p{p}={:<6} result_p{p}={result}{}",
            significant(t, 4),
            significant(speedup, 3),
            significant(bound, 4),
            significant(bound_here, 4),
            if speedup > bound_here * 1.05 {
                "  (above the bound: noise)"
            } else {
                ""
            }
        );
    }
    if max_p > cpus {
        println!(
            "\nBeyond {cpus} processes the extra processes share the {cpus} CPUs: the measured \
             speedup cannot follow the bound there."
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
