//! Deadlock (seed 003, "Deadlocking"): `foo` takes lock a then lock b, `bar` takes b then a.
//! Once each holds its first lock, neither can get its second: the program stops for good.
//!
//! Python original: `with lock_a: with lock_b: ...` in `foo`, `with lock_b: with lock_a:
//! ...` in `bar`.
//! Look for: the demo deadlocks on every run (a Barrier makes sure each process holds its
//! first lock before it reaches for the second), detects it because the second acquire has
//! a timeout, reports it (`deadlock_detected=true`) and exits; Python's plain `with` would
//! hang for ever. The fixed version takes the locks in one global order (a, then b) in both
//! processes and completes all its rounds (`fixed_completed=true`).
//! What ours corrects: the seed's fragment never finishes once it deadlocks; ours always
//! does, in both modes.
//!
//! Run: `just run deadlock` (or `cargo run --release --bin deadlock`)

use clap::{Parser, ValueEnum};
use multiproc::{Barrier, Lock, Process, TryLockError, Value};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Opposite lock orders: deadlock, detected with a timed acquire.
    Demo,
    /// One lock order for both: no deadlock.
    Fixed,
    /// The demo, then the fixed version.
    Both,
}

/// Two processes take two locks in opposite orders and deadlock; the fixed version orders
/// the locks and completes.
#[derive(Parser)]
struct Args {
    /// Which version to run.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// How long the demo waits for the second lock before calling it a deadlock, in seconds.
    /// At most a day (86400 s).
    #[arg(long, default_value = "1", value_parser = kit::cli::seconds)]
    timeout: Duration,
    /// Fixed version: how many times each process takes both locks.
    /// 1 to 100,000,000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    rounds: u32,
}

const NO_DEATHS: &str = "no process dies holding a lock here";

/// Take `first`, wait until the other process holds its first lock too, then try
/// `second` for at most `timeout`. Whether it deadlocked.
fn grab_in_order(
    me: &str,
    (first, first_name): (&Lock, &str),
    (second, second_name): (&Lock, &str),
    both_hold_one: &Barrier,
    timeout: Duration,
    deadlocks: &Value<u32>,
) -> multiproc::Result<()> {
    let _first = first.lock().expect(NO_DEATHS);
    println!("{me}: holds {first_name}, wants {second_name}");
    both_hold_one.wait()?;
    match second.lock_timeout(timeout) {
        Ok(_second) => println!("{me}: got {second_name} too"),
        Err(TryLockError::TimedOut) => {
            println!(
                "{me}: waited {timeout:?} for {second_name} while holding {first_name}: \
                 deadlock; giving up"
            );
            *deadlocks.lock().expect(NO_DEATHS) += 1;
        }
        Err(e) => panic!("{me}: {e}"),
    }
    // Both have given up (or got through) before either lets go of its first lock, so the
    // report is the same on every run.
    both_hold_one.wait()?;
    Ok(())
}

fn demo(timeout: Duration) -> multiproc::Result<u32> {
    let (lock_a, lock_b) = (Lock::new(), Lock::new());
    let both_hold_one = Barrier::new(2);
    let deadlocks = Value::new(0u32);
    let mut processes = Vec::new();
    for (name, a_first) in [("foo", true), ("bar", false)] {
        let (a, b, bar, d) = (
            lock_a.clone(),
            lock_b.clone(),
            both_hold_one.clone(),
            deadlocks.clone(),
        );
        let p = Process::new(move || {
            let (a, b) = ((&a, "a"), (&b, "b"));
            let (first, second) = if a_first { (a, b) } else { (b, a) };
            grab_in_order(name, first, second, &bar, timeout, &d)
        })
        .name(name);
        processes.push(p);
    }
    multiproc::start_all(&mut processes)?;
    multiproc::join_all(&mut processes)?;
    Ok(deadlocks.load())
}

fn fixed(rounds: u32) -> multiproc::Result<u64> {
    let (lock_a, lock_b) = (Lock::new(), Lock::new());
    let start = Barrier::new(2);
    let done = Value::new(0u64);
    let mut processes = Vec::new();
    for name in ["foo", "bar"] {
        let (a, b, s, d) = (lock_a.clone(), lock_b.clone(), start.clone(), done.clone());
        let p = Process::new(move || -> multiproc::Result<()> {
            s.wait()?;
            for _ in 0..rounds {
                // Everyone takes a before b: nobody can hold b while waiting for a.
                let _a = a.lock().expect(NO_DEATHS);
                let _b = b.lock().expect(NO_DEATHS);
                d.store(d.load() + 1);
            }
            println!("{name}: took a then b {rounds} times");
            Ok(())
        })
        .name(name);
        processes.push(p);
    }
    multiproc::start_all(&mut processes)?;
    multiproc::join_all(&mut processes)?;
    Ok(done.load())
}

fn run(args: Args) -> multiproc::Result<()> {
    if args.mode != Mode::Fixed {
        println!("Demo: foo takes a then b, bar takes b then a");
        let deadlocks = demo(args.timeout)?;
        println!(
            "timed_out_acquires={deadlocks} of 2 processes gave up waiting for their second \
             lock: deadlock_detected={}{}",
            deadlocks > 0,
            if deadlocks > 0 {
                ", and escaped"
            } else {
                " (no deadlock this time)"
            }
        );
    }
    if args.mode != Mode::Demo {
        println!("Fixed: foo and bar both take a then b");
        let total = fixed(args.rounds)?;
        let expected = 2 * u64::from(args.rounds);
        println!(
            "Both held a and b together fixed_rounds={total} times out of {expected}: \
             fixed_completed={}",
            total == expected
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
