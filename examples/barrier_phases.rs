//! Barrier phases (seed 003, "Synchronization": "Barriers: many-on-many ordering; all
//! processes must reach and wait at the barrier before all can proceed"): workers step
//! through phases of work, meeting at one reusable `Barrier` after each.
//!
//! Python original: `barrier = Barrier(n, action=...)`; each worker does its phase, then
//! `if barrier.wait() == 0: print(...)`, the idiom for "exactly one process reports".
//! Look for: one `phase k: all N finished` line per phase, printed by whichever worker got
//! index 0; `zero_index_per_pass` equals `--passes` (exactly one index 0 each pass), the
//! barrier's action ran once per pass, and `ahead_violations=0`: after each pass every
//! worker checks, in shared memory, that all the others have finished that phase and none
//! has finished more than the next one.
//! The seed names the primitive but has no code for it; this is the classic use.
//!
//! Run: `just run barrier_phases` (or `cargo run --release --bin barrier_phases`)

use clap::Parser;
use kit::rng::fresh_rng;
use multiproc::{Array, Barrier, Process, Value};
use rand::RngExt;
use std::process::ExitCode;
use std::time::Duration;

/// Workers run phases separated by a Barrier; the example checks that nobody starts a
/// phase before everyone finished the previous one.
#[derive(Parser)]
struct Args {
    /// Worker processes (the barrier's parties).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Phases each worker runs, one barrier pass after each.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    passes: u32,
    /// A phase's work takes a random time up to this, in milliseconds, so workers finish
    /// their phases in a different order each time.
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "100", value_parser = kit::cli::millis)]
    max_sleep_ms: Duration,
}

/// A worker stuck longer than this at the barrier means another died: give up, do not hang.
const PASS_TIMEOUT: Duration = Duration::from_secs(60);

/// What every worker shares.
#[derive(Clone)]
struct Phases {
    barrier: Barrier,
    /// Phases each worker has finished.
    finished: Array<u32>,
    /// How many index-0 waiters each pass had.
    zeros: Array<u32>,
    ahead_violations: Value<u32>,
}

fn worker(me: usize, ph: &Phases, passes: u32, max_sleep: Duration) -> multiproc::Result<()> {
    let mut rng = fresh_rng();
    let workers = ph.finished.len();
    for phase in 0..passes {
        std::thread::sleep(max_sleep.mul_f64(rng.random::<f64>())); // the phase's work
        ph.finished.store(me, phase + 1);
        let index = ph.barrier.wait()?;
        if index == 0 {
            ph.zeros
                .lock()
                .expect("no process dies holding it")
                .update(phase as usize, |z| z + 1);
            println!("phase {phase}: all {workers} finished (index 0: worker {me})");
        }
        // Everyone finished this phase; nobody can have finished more than the next one,
        // since that needs this worker at the barrier again.
        let ahead = (0..workers)
            .map(|w| ph.finished.load(w))
            .filter(|&f| f < phase + 1 || f > phase + 2)
            .count() as u32;
        if ahead > 0 {
            *ph.ahead_violations
                .lock()
                .expect("no process dies holding it") += ahead;
        }
    }
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    let passes_done = Value::new(0u32);
    let d = passes_done.clone();
    let phases = Phases {
        // Python's `action`: run once per pass, by the last process to arrive.
        barrier: Barrier::new(args.workers)
            .with_action(move || *d.lock().expect("no process dies holding it") += 1)
            .with_timeout(PASS_TIMEOUT),
        finished: Array::new(args.workers as usize),
        zeros: Array::new(args.passes as usize),
        ahead_violations: Value::new(0),
    };
    let mut workers = Vec::new();
    for me in 0..args.workers as usize {
        let (ph, passes, max_sleep) = (phases.clone(), args.passes, args.max_sleep_ms);
        let p =
            Process::new(move || worker(me, &ph, passes, max_sleep)).name(format!("worker {me}"));
        workers.push(p);
    }
    multiproc::start_all(&mut workers)?;
    multiproc::join_all(&mut workers)?;
    let one_zero = phases.zeros.to_vec().iter().filter(|&&z| z == 1).count();
    println!(
        "{} workers passed the barrier passes={} times: zero_index_per_pass={one_zero} passes \
         had exactly one index 0, the action ran action_runs={} times, a worker was out of \
         step ahead_violations={} times",
        args.workers,
        args.passes,
        passes_done.load(),
        phases.ahead_violations.load()
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
