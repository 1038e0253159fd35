//! Event and barrier readers (seed 003, "Example: Event and Barrier", and the talk's
//! repository `barrier_and_event.py`): writers keep counting in their own slot of a shared
//! `Array` while an Event is set; a reader clears the Event, waits at a Barrier until every
//! writer has stopped, copies the array, and sets the Event again. The copy is a
//! consistent snapshot: no writer moves while it is taken.
//!
//! Python original: `while writers_safe_event.is_set(): array[id] += 1` then
//! `barrier.wait()`; the reader's `event.clear(); barrier.wait(); local_copy = [v for v in
//! array]; event.set()`, with `Barrier(writers + 1)`. The seed asks "Is this safe for
//! multiple readers?" and answers "NO!".
//! Look for: with one reader, every snapshot is checked (each writer published its count
//! and a "stopped" flag before the barrier; the copy must match both, and a second copy
//! must equal the first): `snapshots_checked=N`, `inconsistent_snapshots=0`. With
//! `--readers 2`, the seed's design: its barrier counts one reader, so a pass can let both
//! readers through with a writer still running (a torn snapshot), or leave a reader behind
//! at the barrier while the writers wait for an Event nobody will set (a deadlock). Every
//! barrier wait here has a `--timeout`, so the failure is detected and reported
//! (`unsafe_outcome=...`) and the program exits instead of hanging. With `--readers 2
//! --fixed`, a reader Lock lets one reader at a time do its clear/wait/copy/set, and every
//! snapshot is consistent again.
//! What ours corrects: the seed loops for ever; ours takes `--rounds` snapshots per reader.
//! The seed's writers resume through `event.wait()`, which is safe only because of its
//! reader's one-second sleep: a writer that reaches `event.wait()` after the reader has
//! already cleared the Event for the next round sleeps through that round, and the barrier
//! never fills. Ours resumes the writers with a second pass of the barrier, so the sleep
//! is only pacing (`--readers 2` without `--fixed` keeps the seed's design, flaws and all).
//!
//! Run: `just run event_barrier_readers` (or `cargo run --release --bin event_barrier_readers`)

use clap::Parser;
use multiproc::{Array, Barrier, Error, Event, Lock, Process, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Writers count while an Event is set; readers stop them at a Barrier and take
/// snapshots, each checked for consistency. Two readers with the seed's design fail, and
/// the failure is reported.
#[derive(Parser)]
struct Args {
    /// Writer processes, one array slot each (the seed: 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    writers: u32,
    /// Reader processes (the seed: 1). Two or more run the seed's unsafe design unless
    /// `--fixed` is given.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    readers: u32,
    /// Several readers take turns through a reader Lock (the fixed design; with one
    /// reader it changes nothing).
    #[arg(long)]
    fixed: bool,
    /// Snapshots each reader takes (the seed: for ever); 1 to 1,000,000.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
    /// A reader's pause before each snapshot, in milliseconds (the seed: 1000).
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "1000", value_parser = kit::cli::millis)]
    sleep_ms: Duration,
    /// Longest wait at a barrier before a reader calls it a deadlock, in seconds.
    /// At most a day (86400 s).
    #[arg(long, default_value = "2", value_parser = kit::cli::seconds)]
    timeout: Duration,
}

/// Everything the processes share.
#[derive(Clone)]
struct Shared {
    array: Array<u64>,
    /// Each writer's count when it last stopped, and whether it is stopped now.
    published: Array<u64>,
    stopped: Array<bool>,
    /// Writers may count while it is set (the seed's `writers_safe_event`).
    writers_safe: Event,
    /// Writers and one reader: `Barrier(writers + 1)`, as in the seed.
    writers_barrier: Barrier,
    /// The seed's design only: all readers meet here after copying.
    readers_barrier: Barrier,
    /// The fixed design only: one reader at a time.
    reader_lock: Lock,
    done: Event,
    checked: Value<u32>,
    inconsistent: Value<u32>,
    deadlocks: Value<u32>,
}

const NO_DEATHS: &str = "no process dies holding it here";

fn count(v: &Value<u32>) {
    *v.lock().expect(NO_DEATHS) += 1;
}

/// The seed's writer: wait for the Event, count while it is set, publish, stop at the
/// barrier. `seed_design == false`: resume with a second barrier pass instead of the Event.
fn writer(id: usize, s: &Shared, seed_design: bool) {
    loop {
        if seed_design {
            s.writers_safe.wait();
            s.stopped.store(id, false);
        }
        while s.writers_safe.is_set() {
            if s.done.is_set() {
                return;
            }
            s.array.store(id, s.array.load(id) + 1);
        }
        if s.done.is_set() {
            return;
        }
        s.published.store(id, s.array.load(id));
        s.stopped.store(id, true);
        // A broken barrier: a reader gave up on it, or the run is over.
        if s.writers_barrier.wait().is_err() {
            return;
        }
        if !seed_design {
            if s.writers_barrier.wait().is_err() {
                return;
            }
            s.stopped.store(id, false);
        }
    }
}

/// Copy the array and check the copy: every writer stopped, at the count it published,
/// and nobody moved while we copied.
fn snapshot(s: &Shared) -> (Vec<u64>, bool) {
    let copy = s.array.to_vec();
    let all_stopped = (0..copy.len()).all(|i| s.stopped.load(i) && s.published.load(i) == copy[i]);
    let unchanged = s.array.to_vec() == copy;
    (copy, all_stopped && unchanged)
}

fn report(reader: u32, round: u32, copy: &[u64], consistent: bool) {
    let total: u64 = copy.iter().sum();
    let cells: Vec<String> = copy.iter().map(|v| format!("{v}/{total}")).collect();
    println!(
        "reader {reader}, snapshot {round}: {} {}",
        cells.join(" "),
        if consistent {
            "(consistent)"
        } else {
            "(INCONSISTENT: a writer moved)"
        }
    );
}

/// Wait at `barrier` for at most `timeout`; on a timeout, report the deadlock.
fn meet(barrier: &Barrier, timeout: Duration, who: u32, what: &str, s: &Shared) -> bool {
    match barrier.wait_timeout(timeout) {
        Ok(_) => true,
        Err(Error::Timeout) => {
            println!(
                "reader {who}: waited {timeout:?} at the {what} barrier and nobody came: \
                 deadlock; giving up"
            );
            count(&s.deadlocks);
            false
        }
        // Another reader gave up and broke it.
        Err(_) => false,
    }
}

/// The seed's reader, as written: safe alone only thanks to its sleep; unsafe with others.
fn seed_reader(me: u32, s: &Shared, rounds: u32, pause: Duration, timeout: Duration) {
    for round in 0..rounds {
        std::thread::sleep(pause);
        s.writers_safe.clear();
        if !meet(&s.writers_barrier, timeout, me, "writers'", s) {
            return;
        }
        let (copy, consistent) = snapshot(s);
        count(&s.checked);
        if !consistent {
            count(&s.inconsistent);
        }
        if !meet(&s.readers_barrier, timeout, me, "readers'", s) {
            return;
        }
        s.writers_safe.set();
        report(me, round, &copy, consistent);
    }
}

/// The fixed reader: one reader at a time, and the writers resume at a second barrier pass.
fn fixed_reader(me: u32, s: &Shared, rounds: u32, pause: Duration, timeout: Duration) {
    for round in 0..rounds {
        std::thread::sleep(pause);
        let _turn = s.reader_lock.lock().expect(NO_DEATHS);
        s.writers_safe.clear();
        if !meet(&s.writers_barrier, timeout, me, "writers' (stop)", s) {
            return;
        }
        let (copy, consistent) = snapshot(s);
        count(&s.checked);
        if !consistent {
            count(&s.inconsistent);
        }
        s.writers_safe.set();
        if !meet(&s.writers_barrier, timeout, me, "writers' (resume)", s) {
            return;
        }
        report(me, round, &copy, consistent);
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    let seed_design = args.readers > 1 && !args.fixed;
    let w = args.writers as usize;
    let s = Shared {
        array: Array::new(w),
        published: Array::new(w),
        stopped: Array::new(w),
        writers_safe: Event::new(),
        writers_barrier: Barrier::new(args.writers + 1),
        readers_barrier: Barrier::new(args.readers),
        reader_lock: Lock::new(),
        done: Event::new(),
        checked: Value::new(0),
        inconsistent: Value::new(0),
        deadlocks: Value::new(0),
    };
    println!(
        "{} writers, {} reader(s), {} design",
        args.writers,
        args.readers,
        if seed_design {
            "the seed's"
        } else {
            "the fixed"
        }
    );
    s.writers_safe.set();

    let mut writers = Vec::new();
    for id in 0..w {
        let sh = s.clone();
        writers
            .push(Process::new(move || writer(id, &sh, seed_design)).name(format!("writer {id}")));
    }
    let mut readers = Vec::new();
    for me in 0..args.readers {
        let sh = s.clone();
        let (rounds, pause, timeout) = (args.rounds, args.sleep_ms, args.timeout);
        let p = Process::new(move || {
            if seed_design {
                seed_reader(me, &sh, rounds, pause, timeout)
            } else {
                fixed_reader(me, &sh, rounds, pause, timeout)
            }
        });
        readers.push(p.name(format!("reader {me}")));
    }
    for p in writers.iter_mut().chain(readers.iter_mut()) {
        p.start()?;
    }
    let mut failed = 0;
    for p in &mut readers {
        failed += (p.join()? != 0) as u32;
    }
    // The readers are done, one way or another: release every writer, wherever it waits.
    s.done.set();
    s.writers_safe.set();
    s.writers_barrier.abort();
    for p in &mut writers {
        failed += (p.join()? != 0) as u32;
    }
    if failed > 0 {
        return Err(Error::Invalid(format!("{failed} processes failed")));
    }

    let (checked, inconsistent, deadlocks) =
        (s.checked.load(), s.inconsistent.load(), s.deadlocks.load());
    println!(
        "{checked} snapshots checked, {inconsistent} inconsistent; {}",
        if deadlocks > 0 {
            format!("{deadlocks} barrier wait(s) timed out: deadlock")
        } else {
            "no deadlock".to_string()
        }
    );
    println!("design={}", if seed_design { "seed" } else { "fixed" });
    println!("snapshots_checked={checked}");
    println!("inconsistent_snapshots={inconsistent}");
    println!("deadlock_detected={}", deadlocks > 0);
    if seed_design {
        let mut outcome = Vec::new();
        if inconsistent > 0 {
            outcome.push("inconsistent_snapshots");
        }
        if deadlocks > 0 {
            outcome.push("deadlock_detected");
        }
        if outcome.is_empty() {
            println!("This run got through unharmed; the design is still unsafe (run it again).");
            outcome.push("no_failure_seen");
        }
        println!("unsafe_outcome={}", outcome.join("+"));
        Ok(())
    } else if inconsistent > 0 || deadlocks > 0 {
        Err(Error::Invalid(
            "the fixed design failed: this is a bug".to_string(),
        ))
    } else {
        Ok(())
    }
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
