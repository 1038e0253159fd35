//! Queue squares (seed 004, "Sharing Data Between Processes Using Queue"): two processes
//! push `{idx, n_sq}` records for [2, 3, 5] and [5, 6, 7] into two queues; the parent joins
//! both and only then drains the queues.
//!
//! Python original: `q.put({'idx': idx, 'n_sq': str(n**2)})`, `while not q1.empty(): q1.get()`.
//! Look for: records in input order per queue (4, 9, 25 and 25, 36, 49) and both queues empty
//! at the end. Joining before draining works here for any amount of data (try
//! `--repeat 100000`); Python deadlocks once a child has put more than a pipe buffer holds.
//!
//! Run: `just run queue_squares` (or `cargo run --release --bin queue_squares`)

use clap::Parser;
use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

/// The seed's dict `{'idx': 0, 'n_sq': '4'}`.
#[derive(Serialize, Deserialize)]
struct Record {
    idx: usize,
    n_sq: String,
}

/// Two producers fill two queues; the parent drains them after joining.
#[derive(Parser)]
struct Args {
    /// Numbers for the first process (the seed: 2,3,5); each from -3037000499 to
    /// 3037000499, so that its square fits in 64 bits.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [2i64, 3, 5], value_parser = clap::value_parser!(i64).range(-3_037_000_499..=3_037_000_499))]
    numbers1: Vec<i64>,
    /// Numbers for the second process (the seed: 5,6,7); the same range.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [5i64, 6, 7], value_parser = clap::value_parser!(i64).range(-3_037_000_499..=3_037_000_499))]
    numbers2: Vec<i64>,
    /// Put each list this many times, to show that joining before draining never blocks;
    /// 1 to 1,000,000, and at most 1,000,000 records per list in all (the queues hold them
    /// all until the parent drains them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    repeat: u64,
}

fn calc_squares(numbers: &[i64], repeat: u64, q: &Queue<Record>) -> multiproc::Result<()> {
    let all = numbers.iter().cycle().take(numbers.len() * repeat as usize);
    for (idx, n) in all.enumerate() {
        q.put(Record {
            idx,
            n_sq: n.wrapping_mul(*n).to_string(),
        })?;
    }
    Ok(())
}

fn drain(name: &str, q: &Queue<Record>) -> multiproc::Result<()> {
    while !q.empty() {
        let r = q.get()?;
        println!("Within main: {name} idx={} n_sq={}", r.idx, r.n_sq);
    }
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    for (flag, numbers) in [
        ("--numbers1", &args.numbers1),
        ("--numbers2", &args.numbers2),
    ] {
        kit::cli::require::<Args>(
            (numbers.len() as u64).saturating_mul(args.repeat) <= 1_000_000,
            format!("{flag} times --repeat: at most 1000000 records per list"),
        );
    }
    let (q1, q2) = (Queue::new()?, Queue::new()?);
    let repeat = args.repeat;
    let mut processes = Vec::new();
    for (numbers, q) in [(args.numbers1.clone(), &q1), (args.numbers2.clone(), &q2)] {
        let q = q.clone();
        processes.push(Process::spawn(move || calc_squares(&numbers, repeat, &q))?);
    }
    // Join before draining: Python deadlocks here once a child has put more than a pipe
    // holds; these queues live in shared memory, so the children can always finish.
    let joined = multiproc::join_all(&mut processes);
    let codes: Vec<String> = (processes.iter_mut())
        .map(|p| {
            let code = p.exitcode().unwrap_or(-1);
            format!("{} with exitcode={code}", p.get_name())
        })
        .collect();
    println!("Joined {} before draining", codes.join(" and "));
    drain("q1", &q1)?;
    drain("q2", &q2)?;
    println!("Is q1 empty? q1_empty={}", q1.empty());
    println!("Is q2 empty? q2_empty={}", q2.empty());
    println!("End of main...");
    joined
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
