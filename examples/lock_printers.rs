//! Lock printers (seed 003, "Example: Lock", and the talk's repository `locks.py`): workers
//! each increment their own slot of a shared `Array`; printers wake at random moments and
//! print the whole array, one line per slot, holding a print lock so that a block of lines
//! is never interleaved with another printer's.
//!
//! Python original: `worker` loops `array[id] += 1`; `printer` loops
//! `sleep(random.uniform(0, 5))` then, inside `with print_lock:`, prints a `=` rule, one
//! `({id}) {v}` line per slot and another rule.
//! Look for: every block between two rules comes from one printer, and blocks never overlap
//! (`printers_inside_peak=1`, measured in shared memory). Later blocks show larger counts.
//! With `--no-lock` printers may print at the same time (try `--no-lock --max-sleep-ms 1
//! --rounds 100`): the peak says how many did, and their lines mix in the output. With
//! `--kill-holder`, printer 0 is killed (SIGKILL) in the middle of its first block: in
//! Python every other printer would then wait for the lock for ever; here the next printer
//! gets the lock together with the news (`dead_holder_reported_by=<id>`), says so, and all
//! the others finish.
//! What ours corrects: the seed's processes loop for ever; ours print `--rounds` blocks
//! each, then the workers are stopped and everything is joined.
//!
//! Run: `just run lock_printers` (or `cargo run --release --bin lock_printers`)

use clap::Parser;
use kit::rng::fresh_rng;
use multiproc::{Array, Event, Lock, LockGuard, Occupancy, Process};
use rand::RngExt;
use std::process::ExitCode;
use std::time::Duration;

/// Workers count in a shared array; printers print it whole, one at a time, under a lock.
#[derive(Parser)]
struct Args {
    /// Worker processes, one array slot each (the seed: 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Printer processes (the seed: 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    printers: u32,
    /// Blocks each printer prints (the seed: for ever); 1 to 1,000,000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
    /// A printer sleeps a random time up to this before each block, in milliseconds, at
    /// most a day (86400000) [default: 1000; the seed's 5000 with --seed-defaults].
    #[arg(long, value_parser = kit::cli::millis)]
    max_sleep_ms: Option<Duration>,
    /// The seed's pacing: up to 5 s before each block (a run then takes up to 15 s).
    /// --max-sleep-ms still overrides it.
    #[arg(long)]
    seed_defaults: bool,
    /// Print without the lock, to see what it prevents.
    #[arg(long, conflicts_with = "kill_holder")]
    no_lock: bool,
    /// Kill printer 0 while it holds the print lock in the middle of a block.
    #[arg(long)]
    kill_holder: bool,
}

const RULE: &str = "====================";

/// What every printer shares.
#[derive(Clone)]
struct Printing {
    array: Array<u64>,
    lock: Lock,
    inside: Occupancy,
    use_lock: bool,
}

impl Printing {
    /// Take the print lock (unless `--no-lock`). If its last holder died mid-block, say so
    /// and count it out of the printing section it never left.
    fn lock(&self, id: u32) -> Option<LockGuard<'_>> {
        if !self.use_lock {
            return None;
        }
        Some(self.lock.lock().unwrap_or_else(|died| {
            println!(
                "printer {id}: the previous holder of the print lock died in the middle of \
                 its block; the block above is cut short (dead_holder_reported_by={id})"
            );
            self.inside
                .leave()
                .expect("the dead printer was inside the printing section");
            died.into_guard()
                .expect("a printer never holds the lock twice")
        }))
    }

    /// Print the whole array as one block: a rule, a line per slot, a rule. Each line is
    /// its own write; only the lock keeps another printer's lines out.
    fn print_block(&self, id: u32) {
        let _inside = self.inside.enter();
        println!("{RULE}");
        for i in 0..self.array.len() {
            println!("({id}) {}", self.array.load(i));
        }
        println!("{RULE}");
    }
}

fn printer(id: u32, p: &Printing, rounds: u32, max_sleep: Duration) {
    let mut rng = fresh_rng();
    for _ in 0..rounds {
        // Pacing, as in the seed; the lock, not the pause, keeps blocks apart.
        std::thread::sleep(max_sleep.mul_f64(rng.random::<f64>()));
        let _held = p.lock(id);
        p.print_block(id);
    }
}

/// `--kill-holder`: start a block, tell the parent the lock is held, wait to be killed.
fn doomed_printer(id: u32, p: &Printing, holding: &Event) {
    let _held = p.lock(id);
    let _inside = p.inside.enter();
    println!("{RULE}");
    println!("({id}) {}", p.array.load(0));
    holding.set();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn worker(id: u32, array: &Array<u64>, stop: &Event) {
    let i = id as usize;
    while !stop.is_set() {
        // Python: `array[id] += 1`; nobody else writes this slot.
        array.store(i, array.load(i) + 1);
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    if args.kill_holder && args.printers < 2 {
        kit::cli::usage_error::<Args>("--kill-holder needs at least 2 printers");
    }
    let seed_sleep = if args.seed_defaults { 5000 } else { 1000 };
    let max_sleep = args
        .max_sleep_ms
        .unwrap_or(Duration::from_millis(seed_sleep));
    let shared = Printing {
        array: Array::new(args.workers as usize),
        lock: Lock::new(),
        inside: Occupancy::new(),
        use_lock: !args.no_lock,
    };
    let stop = Event::new();
    // Set once the doomed printer holds the lock (at once when nobody is doomed).
    let holding = Event::new();
    if !args.kill_holder {
        holding.set();
    }

    let mut workers = Vec::new();
    for id in 0..args.workers {
        let (a, s) = (shared.array.clone(), stop.clone());
        workers.push(Process::new(move || worker(id, &a, &s)).name(format!("worker {id}")));
    }
    for w in &mut workers {
        w.start()?;
    }

    let mut doomed = None;
    let mut printers = Vec::new();
    for id in 0..args.printers {
        let (p, h) = (shared.clone(), holding.clone());
        let (rounds, max_sleep) = (args.rounds, max_sleep);
        let process = if args.kill_holder && id == 0 {
            Process::new(move || doomed_printer(id, &p, &h))
        } else {
            // With --kill-holder the others start once printer 0 holds the lock.
            Process::new(move || {
                h.wait();
                printer(id, &p, rounds, max_sleep)
            })
        };
        let mut process = process.name(format!("printer {id}"));
        process.start()?;
        if args.kill_holder && id == 0 {
            doomed = Some(process);
        } else {
            printers.push(process);
        }
    }

    if let Some(mut p) = doomed {
        holding.wait();
        p.kill()?;
        let code = p.join()?;
        println!("Printer 0 was killed holding the lock: killed_printer_exitcode={code}");
    }
    let printed = multiproc::join_all(&mut printers);
    stop.set();
    multiproc::join_all(&mut workers)?;
    printed?;
    println!(
        "Final counts: {:?}; blocks_started={}, and at most printers_inside_peak={} printer(s) \
         printed at once",
        shared.array.to_vec(),
        shared.inside.entries(),
        shared.inside.peak()
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
