//! Queue with a sentinel (seed 003, "Example: Queue"): `make_work` puts 0..N and then a
//! "dead" sentinel; `do_work` prints `got i` for each item until it sees the sentinel.
//!
//! Python original: `queue.put(work)` ... `queue.put("dead")`; `if work == "dead": break`.
//! Look for: every item received exactly once, in order, then both processes exit with 0.
//! The seed mixes ints and the string "dead" in one queue; here the message is an enum, so
//! the sentinel cannot collide with a real item. The seed never joins its processes; here
//! the parent joins both.
//!
//! Run: `just run queue_sentinel` (or `cargo run --release --bin queue_sentinel`)

use clap::Parser;
use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::process::ExitCode;

#[derive(Serialize, Deserialize)]
enum Work {
    Item(u64),
    /// The seed's `"dead"`.
    Dead,
}

/// A producer and a consumer hand over items through a queue, ended by a sentinel.
#[derive(Parser)]
struct Args {
    /// How many items to make (the seed: 100); 0 to 10,000,000 (the queue may hold them
    /// all, some 30 bytes each, if the consumer falls behind).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
}

/// `println!`, except that when whoever reads stdout has gone (`queue_sentinel | head -1`)
/// the process ends quietly, as `cat` does, instead of panicking on the broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    };
}

fn make_work(queue: &Queue<Work>, n: u64) -> multiproc::Result<()> {
    for work in 0..n {
        queue.put(Work::Item(work))?;
    }
    queue.put(Work::Dead)
}

fn do_work(queue: &Queue<Work>) -> multiproc::Result<()> {
    let mut received = 0u64;
    loop {
        match queue.get()? {
            Work::Dead => break,
            Work::Item(work) => {
                say!("do_work got={work}");
                received += 1;
            }
        }
    }
    say!("do_work saw the sentinel after received={received} items");
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    let work_queue = Queue::new()?;
    let (q_make, q_do) = (work_queue.clone(), work_queue.clone());
    let n = args.n;
    let mut processes = [
        Process::new(move || make_work(&q_make, n)).name("make_work"),
        Process::new(move || do_work(&q_do)).name("do_work"),
    ];
    multiproc::start_all(&mut processes)?;
    // Joins both, then fails (exit 1) if either exited with anything but 0.
    let joined = multiproc::join_all(&mut processes);
    let [maker, worker] = processes.each_mut().map(|p| p.exitcode().unwrap_or(-1));
    say!(
        "Joined make_work with maker_exitcode={maker} and do_work with \
         worker_exitcode={worker} and left_in_queue={} items",
        work_queue.qsize()
    );
    joined
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("queue_sentinel: error: {e}");
            ExitCode::FAILURE
        }
    }
}
