//! Bank account (seed 004, "Multiprocessing Lock"): one process deposits 1 again and again,
//! another withdraws 1 as often, from one shared balance; first without a lock, then with
//! one.
//!
//! Python original: `balance.value = balance.value + 1` in `deposit`/`withdraw`, then the
//! same inside `lock.acquire()` / `lock.release()`.
//! Look for: without the lock the balance drifts: a read and the write after it straddle
//! the other process's update, and that update is lost. With the lock it ends where it
//! started, every run. By default both processes run two million transactions with no
//! pause, so they overlap and the loss shows in a second. The seed's 100 transactions with a
//! 0.1 s pause before each (`--seed-defaults`) almost never overlap: 20 s, and no drift to
//! see. The OS may still run the two one after the other (one free CPU, a loaded
//! machine): then nothing is lost, and the example says so and tries again (5 times at most). The unlocked path is still defined behaviour in Rust: separate
//! atomic load and store, never a data race.
//!
//! Run: `just run bank_account` (or `cargo run --release --bin bank_account`)

use clap::Parser;
use multiproc::{Barrier, Process, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Deposit and withdraw concurrently, unlocked then locked, and compare the balances.
#[derive(Parser)]
struct Args {
    /// Deposits, and withdrawals, per process; 0 to 10,000,000 [default: 2000000; the
    /// seed's 100 with --seed-defaults].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    rounds: Option<u32>,
    /// Pause before each transaction, in milliseconds, at most a day (86400000)
    /// [default: 0; the seed's 100 with --seed-defaults].
    #[arg(long, value_parser = kit::cli::millis)]
    sleep_ms: Option<Duration>,
    /// Starting balance (the seed: 200); -10^15 to 10^15, so that no sequence of
    /// transactions overflows.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1_000_000_000_000_000..=1_000_000_000_000_000))]
    initial: i64,
    /// The seed's values: 100 rounds with a 100 ms pause before each (about 20 s, and the
    /// race almost never shows). --rounds and --sleep-ms still override them.
    #[arg(long)]
    seed_defaults: bool,
}

/// Unlocked runs tried before concluding that the OS hides the race.
const ATTEMPTS: u32 = 5;

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

/// One depositor and one withdrawer, started together; the balance they leave.
fn run_phase(initial: i64, rounds: u32, pause: Duration, locked: bool) -> multiproc::Result<i64> {
    let balance = Value::new(initial);
    // Both start together once both are running, so their transactions overlap in time.
    let start = Barrier::new(2);
    let mut processes = Vec::new();
    for delta in [1, -1] {
        let (b, start) = (balance.clone(), start.clone());
        processes.push(Process::spawn(move || {
            start.wait().expect("the start barrier is never aborted");
            transact(&b, delta, rounds, pause, locked)
        })?);
    }
    multiproc::join_all(&mut processes)?;
    Ok(balance.load())
}

fn run(args: Args) -> multiproc::Result<()> {
    let (seed_rounds, seed_pause) = (100, Duration::from_millis(100));
    let (default_rounds, default_pause) = if args.seed_defaults {
        (seed_rounds, seed_pause)
    } else {
        (2_000_000, Duration::ZERO)
    };
    let rounds = args.rounds.unwrap_or(default_rounds);
    let pause = args.sleep_ms.unwrap_or(default_pause);
    let expected = args.initial;
    println!(
        "Two processes share a balance of expected={expected}: one deposits 1, the other \
         withdraws 1, rounds={rounds} times each, {}.",
        if pause.is_zero() {
            "with no pause".to_string()
        } else {
            format!("with a {pause:?} pause before each")
        }
    );

    // Where the OS runs the two one after the other (one free CPU, a loaded machine),
    // nothing is lost: say so and try again, a few times.
    let mut unlocked = run_phase(expected, rounds, pause, false)?;
    for attempt in 1..ATTEMPTS {
        if unlocked != expected {
            break;
        }
        println!(
            "Attempt {attempt} without a lock lost nothing: the OS ran the two processes one \
             after the other. Running them again."
        );
        unlocked = run_phase(expected, rounds, pause, false)?;
    }
    let drift = unlocked - expected;
    println!("Without a lock: unlocked_balance={unlocked}, unlocked_drift={drift}.");
    if drift != 0 {
        println!(
            "  Updates were lost: a read and the write after it straddled the other \
             process's update."
        );
    } else {
        println!(
            "  Nothing was lost: the processes never overlapped (a busy machine?). Give them \
             more to do: cargo run --release --bin bank_account -- --rounds 10000000"
        );
    }

    let locked = run_phase(expected, rounds, pause, true)?;
    println!(
        "With a lock:    locked_balance={locked}, locked_drift={}: read, add and write \
         back happen as one step.",
        locked - expected
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
