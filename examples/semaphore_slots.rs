//! Semaphore slots (seed 003, "Synchronization": "Semaphore/BoundedSemaphore: capacity
//! exclusion, think lock that can be opened by at most N keys simultaneously"): more
//! workers than slots take turns at a resource guarded by a `BoundedSemaphore(N)`; then a
//! process releases one slot too many.
//!
//! Python original: `sem = BoundedSemaphore(n)`; each worker does `with sem:` around its
//! use of the resource; `sem.release()` once more raises `ValueError`.
//! Look for: `peak_holders` equals `--slots`, never more (measured in shared memory as
//! workers come and go), and every slot is free at the end. The extra release of the
//! `BoundedSemaphore` is an error and leaves it at N; the same mistake on a plain
//! `Semaphore` goes unnoticed and it now admits N + 1.
//! The seed names the primitive but has no code for it; this is the classic use.
//!
//! Run: `just run semaphore_slots` (or `cargo run --release --bin semaphore_slots`)

use clap::Parser;
use multiproc::{BoundedSemaphore, Event, Occupancy, Process, Semaphore};
use std::process::ExitCode;
use std::time::Duration;

/// Workers share a few slots guarded by a BoundedSemaphore; the peak number of holders is
/// measured; then a release too many is caught.
#[derive(Parser)]
struct Args {
    /// Slots: how many workers may hold the resource at once (the semaphore's N).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=256))]
    slots: u32,
    /// Worker processes competing for the slots; at least as many as slots.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// How many times each worker takes a slot; 1 to 1,000,000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
    /// How long a worker keeps its slot, in milliseconds.
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "100", value_parser = kit::cli::millis)]
    hold_ms: Duration,
}

/// Generous bound on the wait for the slots to fill once (see `worker`).
const FILL_TIMEOUT: Duration = Duration::from_secs(60);

/// What the workers share.
#[derive(Clone)]
struct Slots {
    sem: BoundedSemaphore,
    /// Who holds a slot now, and the most that ever did at once.
    holders: Occupancy,
    /// Set the first time every slot is taken.
    full: Event,
    n: u32,
}

fn worker(id: u32, slots: &Slots, rounds: u32, hold: Duration) {
    for _ in 0..rounds {
        let _slot = slots.sem.acquire();
        let me = slots.holders.enter();
        println!(
            "worker {id} took a slot: {} of {} in use",
            me.count(),
            slots.n
        );
        if me.count() == slots.n {
            slots.full.set();
        }
        // The first N holders stay until all N slots have been taken at once, so the peak
        // reaches N whatever the scheduler does; after that this returns at once.
        slots.full.wait_timeout(FILL_TIMEOUT);
        std::thread::sleep(hold); // using the resource
    }
}

/// Release `sem` once without having acquired it, in a process of its own.
fn release_once_too_often(release: impl FnOnce() -> Result<(), String> + 'static) -> String {
    let outcome = multiproc::Value::new(false);
    let o = outcome.clone();
    let result = Process::spawn(move || match release() {
        Ok(()) => o.store(true),
        Err(e) => println!("the extra release failed: {e}"),
    })
    .and_then(|mut p| p.join());
    match result {
        Ok(0) if outcome.load() => "accepted".to_string(),
        Ok(0) => "error".to_string(),
        other => format!("process failed: {other:?}"),
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    if args.workers < args.slots {
        kit::cli::usage_error::<Args>(format!(
            "--workers ({}) must be at least --slots ({}): fewer workers cannot fill the slots",
            args.workers, args.slots
        ));
    }
    let slots = Slots {
        sem: BoundedSemaphore::new(args.slots)?,
        holders: Occupancy::new(),
        full: Event::new(),
        n: args.slots,
    };
    let (sem, holders) = (&slots.sem, &slots.holders);
    let mut workers = Vec::new();
    for id in 0..args.workers {
        let (s, rounds, hold) = (slots.clone(), args.rounds, args.hold_ms);
        let p = Process::new(move || worker(id, &s, rounds, hold)).name(format!("worker {id}"));
        workers.push(p);
    }
    multiproc::start_all(&mut workers)?;
    multiproc::join_all(&mut workers)?;
    println!(
        "{} workers took a slot acquisitions={} times; at most peak_holders={} held one at \
         once, with slots={}; free_slots_after_run={}",
        args.workers,
        holders.entries(),
        holders.peak(),
        args.slots,
        sem.value()
    );

    // One release too many: a BoundedSemaphore refuses it...
    let s = sem.clone();
    let bounded = release_once_too_often(move || s.release().map_err(|e| e.to_string()));
    println!(
        "BoundedSemaphore({}): an extra release() is bounded_over_release={bounded}; free \
         slots stay bounded_value_after_over_release={}",
        args.slots,
        sem.value()
    );
    // ...a plain Semaphore just counts, and now lets one more in than it should.
    let plain = Semaphore::new(args.slots)?;
    let p = plain.clone();
    let unbounded = release_once_too_often(move || p.release().map_err(|e| e.to_string()));
    println!(
        "Semaphore({}): an extra release() is unbounded_over_release={unbounded}; it now \
         admits unbounded_value_after_over_release={}",
        args.slots,
        plain.value()
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
