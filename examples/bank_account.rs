//! Bank account (seed 004, "Multiprocessing Lock"): one process deposits 1 a hundred times,
//! another withdraws 1 a hundred times, from a shared balance of 200; first without a lock,
//! then with one.
//!
//! Python original: `balance.value = balance.value + 1` in `deposit`/`withdraw`, then the
//! same inside `lock.acquire()` / `lock.release()`.
//! Look for: with the lock the final balance is exactly 200, every run. Without it, a read
//! and the write after it can straddle the other process's update, and that update is lost.
//! With the seed's 0.1 s sleeps that is rare. With `--sleep-ms 0 --rounds 1000000` it is
//! likely but not certain: both processes are released together by an Event, yet the OS
//! may still run one after the other, and then nothing is lost. The drift is reported as
//! measured. The unlocked path is still defined behaviour in Rust: separate atomic load and
//! store, never a data race.
//!
//! Run: `just run bank_account` (or `cargo run --release --bin bank_account`)

use clap::Parser;
use multiproc::{Event, Process, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Deposit and withdraw concurrently, unlocked then locked, and compare the balances.
#[derive(Parser)]
struct Args {
    /// Deposits, and withdrawals, per process (the seed: 100); 0 to 1,000,000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    rounds: u32,
    /// Pause before each transaction, in milliseconds (the seed: 100).
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "100", value_parser = kit::cli::millis)]
    sleep_ms: Duration,
    /// Starting balance (the seed: 200); -10^15 to 10^15, so that no sequence of
    /// transactions overflows.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1_000_000_000_000_000..=1_000_000_000_000_000))]
    initial: i64,
}

fn transact(balance: &Value<i64>, delta: i64, rounds: u32, pause: Duration, locked: bool) {
    for _ in 0..rounds {
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        if locked {
            // Critical section: read, add, write back, all under the lock.
            *balance.lock().expect("no process dies holding it here") += delta;
        } else {
            // Python's `balance.value = balance.value + delta`: two steps, no lock.
            balance.store(balance.load() + delta);
        }
    }
}

fn run_phase(args: &Args, locked: bool) -> multiproc::Result<i64> {
    let balance = Value::new(args.initial);
    let (rounds, pause) = (args.rounds, args.sleep_ms);
    // Both start together once both exist, so their transactions overlap in time.
    let go = Event::new();
    let mut processes = Vec::new();
    for delta in [1, -1] {
        let (b, go) = (balance.clone(), go.clone());
        processes.push(Process::spawn(move || {
            go.wait();
            transact(&b, delta, rounds, pause, locked)
        })?);
    }
    go.set();
    multiproc::join_all(&mut processes)?;
    Ok(balance.load())
}

fn run(args: Args) -> multiproc::Result<()> {
    let expected = args.initial;
    println!("expected={expected}");
    let unlocked = run_phase(&args, false)?;
    println!(
        "Final balance without a lock: {unlocked} (drift {})",
        unlocked - expected
    );
    println!("unlocked_balance={unlocked}");
    println!("unlocked_drift={}", unlocked - expected);
    let locked = run_phase(&args, true)?;
    println!("Final balance with a lock:    {locked}");
    println!("locked_balance={locked}");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
