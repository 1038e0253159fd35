//! Unsafe vs safe writers (seed 003, the talk's repository: `value_unsafe_writers.py` and
//! `value_safe_writers.py`): 6 processes wait on an Event, are released together, and each
//! increments a shared `Value`; first without the value's lock, then with it.
//!
//! Python original: `trigger.wait()` then `counter.value += 1`, and the same inside
//! `with counter.get_lock():`.
//! Look for: the locked total is exactly workers × rounds, every run. The unlocked total is
//! reported as it came out, with the updates it lost: with the seed's one increment per
//! process the race window is tiny and the total is nearly always right; with
//! `--rounds 1000000` most runs lose updates, often half of them or more (and a run where
//! the processes happen not to overlap loses none). The unlocked path is still defined
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
    /// Increments per process (the seed: 1); 1 to 100,000,000.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    rounds: u32,
}

fn writer(counter: &Value<i64>, ready: &Semaphore, trigger: &Event, rounds: u32, locked: bool) {
    ready.release();
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
    let ready = Semaphore::new(0);
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
    let expected = i64::from(args.workers) * i64::from(args.rounds);
    println!(
        "{} processes x {} increments each, released together by an Event",
        args.workers, args.rounds
    );
    println!("expected={expected}");

    let unlocked = run_phase(args.workers, args.rounds, false)?;
    println!(
        "Without the lock: total {unlocked}, {} updates lost",
        expected - unlocked
    );
    println!("unlocked_total={unlocked}");
    println!("lost_updates={}", expected - unlocked);

    let locked = run_phase(args.workers, args.rounds, true)?;
    println!("With the lock:    total {locked}");
    println!("locked_total={locked}");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
