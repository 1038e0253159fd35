//! Unsafe vs safe writers (seed 003, the talk's repository: `value_unsafe_writers.py` and
//! `value_safe_writers.py`): 6 processes wait on an Event, are released together, and each
//! increments a shared `Value`; first without the value's lock, then with it.
//!
//! Python original: `trigger.wait()` then `counter.value += 1`, and the same inside
//! `with counter.get_lock():`.
//! Look for: the locked total is exactly workers × rounds, every run. The unlocked total is
//! reported as it came out, with the updates it lost. By default each process increments a
//! million times, so the processes overlap and most runs lose half the updates or more.
//! The seed's one increment per process (`--seed-defaults`) leaves a window so small that
//! the total is nearly always right: the race is there, but does not show. A run where the
//! OS happens to run the processes one after the other loses nothing; the example then
//! says so and tries again (5 times at most). The unlocked path is still defined
//! behaviour in Rust (an atomic load, then an atomic store), never a data race.
//! What ours corrects: the seed's `unsafe_writer` names its parameter `barrier` and waits on
//! the global `trigger` instead; here each process waits on the Event it is given, and the
//! Event is set only once every process is ready, so they really start together.
//!
//! Run: `just run unsafe_vs_safe_writers` (or `cargo run --release --bin unsafe_vs_safe_writers`)

use clap::Parser;
use multiproc::{Event, Process, Semaphore, Value};
use std::process::ExitCode;

/// Processes released together by an Event increment a shared Value, first without its
/// lock (updates get lost), then with it (the total is exact).
#[derive(Parser)]
struct Args {
    /// How many writer processes (the seed: 6).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=1000))]
    workers: u32,
    /// Increments per process; 1 to 100,000,000 [default: 1000000; the seed's 1 with
    /// --seed-defaults].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    rounds: Option<u32>,
    /// The seed's values: one increment per process (the race almost never shows).
    /// --rounds still overrides it.
    #[arg(long)]
    seed_defaults: bool,
}

/// Unlocked runs tried before concluding that the OS hides the race.
const ATTEMPTS: u32 = 5;

fn writer(counter: &Value<i64>, ready: &Semaphore, trigger: &Event, rounds: u32, locked: bool) {
    ready
        .release()
        .expect("one release per writer stays far below Semaphore::MAX");
    trigger.wait();
    for _ in 0..rounds {
        if locked {
            // Python: `with counter.get_lock(): counter.value += 1`.
            *counter
                .lock()
                .expect("no writer dies holding the lock here") += 1;
        } else {
            // Python: `counter.value += 1`: a read, then a write; another process's
            // write in between is lost.
            counter.store(counter.load() + 1);
        }
    }
}

fn run_phase(workers: u32, rounds: u32, locked: bool) -> multiproc::Result<i64> {
    let counter = Value::new(0i64);
    let trigger = Event::new();
    let ready = Semaphore::new(0)?;
    let mut processes = Vec::new();
    for _ in 0..workers {
        let (c, r, t) = (counter.clone(), ready.clone(), trigger.clone());
        processes.push(Process::spawn(move || writer(&c, &r, &t, rounds, locked))?);
    }
    // Every writer is at `trigger.wait()` (or about to be): release them all at once.
    for _ in 0..workers {
        ready.acquire().forget();
    }
    trigger.set();
    multiproc::join_all(&mut processes)?;
    Ok(counter.load())
}

fn run(args: Args) -> multiproc::Result<()> {
    let workers = args.workers;
    let rounds = args
        .rounds
        .unwrap_or(if args.seed_defaults { 1 } else { 1_000_000 });
    let expected = i64::from(workers) * i64::from(rounds);
    println!(
        "workers={workers} processes, released together by an Event, each increment a shared \
         Value rounds={rounds} times: expected={expected}."
    );

    // Where the OS runs the processes one after the other, nothing is lost: say so and try
    // again, a few times.
    let mut unlocked = run_phase(workers, rounds, false)?;
    for attempt in 1..ATTEMPTS {
        if unlocked != expected || rounds == 1 {
            break;
        }
        println!(
            "Attempt {attempt} without the lock lost nothing: the OS ran the processes one \
             after the other. Running them again."
        );
        unlocked = run_phase(workers, rounds, false)?;
    }
    let lost = expected - unlocked;
    println!("Without the lock: unlocked_total={unlocked}, lost_updates={lost}.");
    if lost == 0 && workers > 1 {
        println!(
            "  Nothing was lost this time: the race is there, but the processes did not \
             overlap. This shows it: cargo run --release --bin unsafe_vs_safe_writers -- \
             --rounds 1000000"
        );
    }

    let locked = run_phase(workers, rounds, true)?;
    println!(
        "With the lock:    locked_total={locked}, lost {}: the read and the write are one step.",
        expected - locked
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
