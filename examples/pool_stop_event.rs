//! Pool stop event (seed 000/002, "Using multiprocessing.Pool"): `calculate_e` runs in a
//! pool worker until the main process, after doing "other stuff" for a while, sets an
//! `Event`; `get()` then returns e.
//!
//! Python original: `e_exit_event = sync_manager.Event()`,
//! `pool.apply_async(calculate_e, args=(e_exit_event,))`, `time.sleep(3)`,
//! `e_exit_event.set()`, `print(e_process.get())`.
//! Look for: e = 2.7182818284590455 (within 1e-12 of `std::f64::consts::E`), and the task not ready
//! before the event is set: it runs for as long as the main process lets it. Python needs a
//! `SyncManager` (a server process and a proxy) to hand an event to a pool worker; here the
//! `Event` is simply created before the pool and passed as the task's argument. As in the
//! seed, an event set before the task has begun stops it at once with 0.0 (`--seconds 0`
//! on a busy machine can show it).
//!
//! Run: `just run pool_stop_event` (or `cargo run --release --bin pool_stop_event`)

use clap::Parser;
use kit::workloads::calculate_e;
use multiproc::{Event, Pool};
use std::process::ExitCode;
use std::time::Duration;

/// Compute e in a pool worker until an Event set by the main process tells it to stop.
#[derive(Parser)]
struct Args {
    /// How long the main process does "other stuff" before setting the event, in seconds
    /// (the seed: 3).
    /// At most a day (86400 s).
    #[arg(long, default_value = "3", value_parser = kit::cli::seconds)]
    seconds: Duration,
    /// Worker processes (the seed: `Pool()`, one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
}

/// The task: the seed's `calculate_e(exit_event)`, with the event as its argument.
fn e_task(stop: Event) -> f64 {
    calculate_e(&stop)
}

fn run(args: Args) -> multiproc::Result<()> {
    // Created before the pool, so the workers share it: no Manager needed.
    let stop = Event::new();
    let pool = Pool::new(args.workers)?;
    let e_result = pool.apply_async(e_task, stop.clone())?;
    println!(
        "calculate_e submitted; doing other stuff for {:?}",
        args.seconds
    );
    std::thread::sleep(args.seconds); // the seed's "do other stuff", not synchronisation
    let ready = e_result.ready();
    println!("Ready before the event is set? ready_before_set={ready}");
    stop.set();
    let e = e_result.get()?;
    let error = (e - std::f64::consts::E).abs();
    println!("calculate_e gave e={e:?} which is off by error={error:e}");
    if e == 0.0 {
        println!("(the event was set before the task began: calculate_e stopped at once)");
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
