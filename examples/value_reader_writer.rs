//! Value reader and writer (seed 003, "Example: Value"): one process increments a shared
//! counter under the value's lock, another reads and prints it as it grows.
//!
//! Python original: `writer` does `counter.value += 1` inside `with counter.get_lock():`,
//! `reader` prints `counter.value`; both loop `while True`.
//! Look for: the values printed never decrease, and the final value equals the number of
//! increments the writer made. With `--hold-lock`, the seed's own writer: it holds the lock
//! for its whole run, so every locked read times out and is reported as blocked.
//! What ours corrects: the seed loops for ever; ours runs for `--seconds`. The seed's writer
//! takes the lock once, around its endless loop, and Python's `counter.value` takes the same
//! lock to read, so its reader waits for ever; ours takes the lock for each increment
//! (`--hold-lock` shows the seed's way). The seed's main starts `make_work` and `do_work`,
//! the queue slide's functions, instead of `writer` and `reader`.
//!
//! Run: `just run value_reader_writer` (or `cargo run --release --bin value_reader_writer`)

use clap::Parser;
use multiproc::{Event, Process, TryLockError, Value};
use std::process::ExitCode;
use std::time::Duration;

/// A writer increments a shared counter under its lock while a reader prints it.
#[derive(Parser)]
struct Args {
    /// How long the writer runs, in seconds (the seed: for ever).
    /// At most a day (86400 s).
    #[arg(long, default_value = "3", value_parser = kit::cli::seconds)]
    seconds: Duration,
    /// Pause between two reads, in milliseconds (the talk's repository: 200).
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "200", value_parser = kit::cli::millis)]
    sleep_ms: Duration,
    /// Hold the lock around the whole writing loop, as the seed's writer does.
    #[arg(long)]
    hold_lock: bool,
}

/// Increment until `stop` is set; how many increments were made.
fn writer(counter: &Value<i64>, stop: &Event, hold_lock: bool) -> i64 {
    let mut made = 0;
    if hold_lock {
        // The seed: `with counter.get_lock(): while True: counter.value += 1`.
        let mut held = counter.lock().expect("no process dies holding it here");
        while !stop.is_set() {
            *held += 1;
            made += 1;
        }
    } else {
        while !stop.is_set() {
            *counter.lock().expect("no process dies holding it here") += 1;
            made += 1;
        }
    }
    made
}

/// Read under the lock (Python's `counter.value` takes it too) every `pause` until `stop`.
fn reader(counter: &Value<i64>, stop: &Event, pause: Duration) {
    let (mut reads, mut blocked, mut decreases) = (0u64, 0u64, 0u64);
    let mut last = i64::MIN;
    loop {
        // Wait for the lock no longer than one pause, so a held lock cannot stall the run.
        match counter.lock_timeout(pause.max(Duration::from_millis(1))) {
            Ok(value) => {
                let value = *value;
                println!("reader: value={value}");
                if value < last {
                    decreases += 1;
                }
                last = value;
                reads += 1;
            }
            Err(TryLockError::TimedOut) => {
                println!("reader: the lock is held by the writer, no value to print");
                blocked += 1;
            }
            Err(e) => panic!("reader: {e}"),
        }
        if stop.wait_timeout(pause) {
            break;
        }
    }
    println!(
        "The reader read reads={reads} times: blocked_reads={blocked} found the lock held, \
         decreases={decreases} saw a smaller value than the read before"
    );
}

fn run(args: Args) -> multiproc::Result<()> {
    let counter = Value::new(0i64);
    let stop = Event::new();
    let made = Value::new(0i64);
    let (c, s, m, hold) = (counter.clone(), stop.clone(), made.clone(), args.hold_lock);
    let mut w = Process::new(move || m.store(writer(&c, &s, hold))).name("writer");
    let (c, s, pause) = (counter.clone(), stop.clone(), args.sleep_ms);
    let mut r = Process::new(move || reader(&c, &s, pause)).name("reader");
    w.start()?;
    r.start()?;
    // The run's length, not a synchronisation: the processes stop when `stop` is set.
    std::thread::sleep(args.seconds);
    stop.set();
    multiproc::join_all(&mut [w, r])?; // a child that failed fails the example
    println!(
        "The writer made writer_increments={}; the counter ends at final_value={}",
        made.load(),
        counter.load()
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
