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
//! The file reads top to bottom: the seed's writer and reader, as in Python, then the
//! fixed design's; the consistency checks live in `kit::snapshots`.
//!
//! Run: `just run event_barrier_readers` (or `cargo run --release --bin event_barrier_readers`)

use clap::Parser;
use kit::snapshots::Snapshots;
use multiproc::{Array, Barrier, Event, Lock, Process};
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

/// What every process is given.
#[derive(Clone)]
struct Shared {
    array: Array<u64>,
    /// Writers may count while it is set (the seed's `writers_safe_event`).
    event: Event,
    /// Writers and one reader: `Barrier(writers + 1)`, as in the seed.
    barrier: Barrier,
    /// The seed's design with several readers: they all meet here after copying.
    readers_barrier: Barrier,
    /// The fixed design: one reader at a time.
    reader_lock: Lock,
    /// Set when the readers are done, to end the writers.
    done: Event,
    /// Consistency checks and deadlock-proof barrier waits (kit, not the lesson).
    check: Snapshots,
}

// ----- The seed's design ---------------------------------------------------------------

/// Python: `while True: event.wait(); while event.is_set(): array[id] += 1; barrier.wait()`.
fn seed_writer(id: usize, s: &Shared) {
    while !s.done.is_set() {
        s.event.wait();
        s.check.resumed(id);
        while s.event.is_set() && !s.done.is_set() {
            s.array.store(id, s.array.load(id) + 1);
        }
        s.check.stopped(id, s.array.load(id));
        if s.barrier.wait().is_err() {
            return; // a reader gave up on the barrier, or the run is over
        }
    }
}

/// Python: `while True: time.sleep(1); event.clear(); barrier.wait();
/// local_copy = [v for v in array]; event.set()`. Safe alone, and only thanks to the sleep
/// (see the top of the file); with several readers, not at all.
fn seed_reader(me: u32, s: &Shared, rounds: u32, pause: Duration) {
    let who = format!("reader {me}");
    for round in 0..rounds {
        std::thread::sleep(pause);
        s.event.clear();
        if !s.check.meet(&s.barrier, &who) {
            return;
        }
        s.check.check(&s.array, me, round);
        if !s.check.meet(&s.readers_barrier, &who) {
            return;
        }
        s.event.set();
    }
}

// ----- The fixed design ----------------------------------------------------------------
// One reader at a time (a reader Lock), and the writers resume at a second pass of the
// barrier instead of waiting for the Event, so none can sleep through a round.

fn fixed_writer(id: usize, s: &Shared) {
    while !s.done.is_set() {
        while s.event.is_set() && !s.done.is_set() {
            s.array.store(id, s.array.load(id) + 1);
        }
        s.check.stopped(id, s.array.load(id));
        if s.barrier.wait().is_err() || s.barrier.wait().is_err() {
            return; // stop, then resume; broken when the run is over
        }
        s.check.resumed(id);
    }
}

fn fixed_reader(me: u32, s: &Shared, rounds: u32, pause: Duration) {
    let who = format!("reader {me}");
    for round in 0..rounds {
        std::thread::sleep(pause);
        let _turn = s
            .reader_lock
            .lock()
            .expect("no process dies holding it here");
        s.event.clear();
        if !s.check.meet(&s.barrier, &who) {
            return;
        }
        s.check.check(&s.array, me, round);
        s.event.set();
        if !s.check.meet(&s.barrier, &who) {
            return;
        }
    }
}

// ----- Running either ------------------------------------------------------------------

fn run(args: Args) -> multiproc::Result<()> {
    let seed_design = args.readers > 1 && !args.fixed;
    let w = args.writers as usize;
    let s = Shared {
        array: Array::new(w),
        event: Event::new(),
        barrier: Barrier::new(args.writers + 1),
        readers_barrier: Barrier::new(args.readers),
        reader_lock: Lock::new(),
        done: Event::new(),
        check: Snapshots::new(w, args.timeout),
    };
    let design = if seed_design { "seed" } else { "fixed" };
    println!(
        "{} writers, {} reader(s), design={design}",
        args.writers, args.readers
    );
    s.event.set();

    let mut writers = Vec::new();
    for id in 0..w {
        let sh = s.clone();
        let writer = if seed_design {
            seed_writer
        } else {
            fixed_writer
        };
        let p = Process::new(move || writer(id, &sh));
        writers.push(p.name(format!("writer {id}")));
    }
    let mut readers = Vec::new();
    for me in 0..args.readers {
        let (sh, rounds, pause) = (s.clone(), args.rounds, args.sleep_ms);
        let reader = if seed_design {
            seed_reader
        } else {
            fixed_reader
        };
        let p = Process::new(move || reader(me, &sh, rounds, pause));
        readers.push(p.name(format!("reader {me}")));
    }
    multiproc::start_all(&mut writers)?;
    multiproc::start_all(&mut readers)?;
    let readers_ok = multiproc::join_all(&mut readers);
    // The readers are done, one way or another: release every writer, wherever it waits.
    s.done.set();
    s.event.set();
    s.barrier.abort();
    multiproc::join_all(&mut writers)?;
    readers_ok?;

    let (checked, inconsistent, deadlocks) = s.check.totals();
    let deadlock = deadlocks > 0;
    println!(
        "snapshots_checked={checked}, inconsistent_snapshots={inconsistent}, \
         deadlock_detected={deadlock}"
    );
    if !seed_design {
        if inconsistent > 0 || deadlock {
            return Err(multiproc::Error::Io(std::io::Error::other(
                "the fixed design failed: a bug",
            )));
        }
        return Ok(());
    }
    let outcome = match (inconsistent > 0, deadlock) {
        (true, true) => "inconsistent_snapshots+deadlock_detected",
        (true, false) => "inconsistent_snapshots",
        (false, true) => "deadlock_detected",
        (false, false) => "no_failure_seen (unharmed this time; still unsafe: run it again)",
    };
    println!("The seed's design with several readers: unsafe_outcome={outcome}");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
