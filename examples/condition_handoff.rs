//! Condition hand-off (seed 003, "Synchronization": "Condition: conditional mutual
//! exclusion (think lock + event); process waits, another process unblocks"): producers
//! hand numbered items to consumers through a small buffer in shared memory, with two
//! conditions on one lock, `not_empty` and `not_full`, as Python's own `queue.Queue` does.
//!
//! Python original: `with cond: cond.wait_for(lambda: ...)` then `cond.notify()`; two
//! `Condition(lock)` objects sharing one `Lock`.
//! Look for: every item is consumed exactly once (`consumed_once` equals `--n`, no
//! duplicates, none missing), and the run ends without any timeout: every wait ends because
//! of a notify, so no wake-up was lost. With `--kill-waiter`, a consumer is killed while it
//! sleeps in `wait`, before anything is produced: the hand-off still completes. (Python's
//! `Condition.notify` waits for the woken process to acknowledge, so picking a dead waiter
//! would block the producer for ever.)
//! The seed names the primitive but has no code for it; this is the classic use.
//!
//! Run: `just run condition_handoff` (or `cargo run --release --bin condition_handoff`)

use clap::Parser;
use multiproc::{Array, Condition, ConditionGuard, Event, Lock, Process, Value};
use std::process::ExitCode;

/// Producers hand items to consumers through a bounded buffer guarded by two Conditions
/// on one Lock; every item is checked to arrive exactly once.
#[derive(Parser)]
struct Args {
    /// How many items to hand over.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    n: u32,
    /// Producer processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    producers: u32,
    /// Consumer processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    consumers: u32,
    /// Buffer size: producers wait on `not_full` when it is full.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    capacity: u32,
    /// Kill one extra consumer while it waits on `not_empty`, before anything is produced.
    #[arg(long)]
    kill_waiter: bool,
}

const NO_DEATHS: &str = "no process dies holding the buffer's lock here";

/// The buffer and its bookkeeping; every field is read and written with the lock held.
#[derive(Clone)]
struct Buffer {
    not_empty: Condition,
    not_full: Condition,
    slots: Array<u32>,
    head: Value<u32>,
    len: Value<u32>,
    producers_done: Value<u32>,
    producers: u32,
    /// How many times each item was consumed.
    consumed: Array<u32>,
}

impl Buffer {
    fn new(capacity: u32, producers: u32, n: u32) -> Buffer {
        let lock = Lock::new();
        Buffer {
            not_empty: Condition::with_lock(&lock),
            not_full: Condition::with_lock(&lock),
            slots: Array::new(capacity as usize),
            head: Value::new(0),
            len: Value::new(0),
            producers_done: Value::new(0),
            producers,
            consumed: Array::new(n as usize),
        }
    }

    fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Lock held: add at the tail.
    fn push(&self, _held: &ConditionGuard<'_>, item: u32) {
        let tail = (self.head.load() + self.len.load()) % self.capacity();
        self.slots.store(tail as usize, item);
        self.len.store(self.len.load() + 1);
    }

    /// Lock held: take from the head.
    fn pop(&self, _held: &ConditionGuard<'_>) -> u32 {
        let head = self.head.load();
        let item = self.slots.load(head as usize);
        self.head.store((head + 1) % self.capacity());
        self.len.store(self.len.load() - 1);
        item
    }

    fn finished(&self) -> bool {
        self.producers_done.load() == self.producers
    }
}

fn producer(buf: &Buffer, items: impl Iterator<Item = u32>) {
    for item in items {
        let mut g = buf.not_full.lock().expect(NO_DEATHS);
        g.wait_for(|| buf.len.load() < buf.capacity(), None)
            .expect(NO_DEATHS);
        buf.push(&g, item);
        buf.not_empty.notify(&g, 1);
    }
    let g = buf.not_empty.lock().expect(NO_DEATHS);
    buf.producers_done.store(buf.producers_done.load() + 1);
    if buf.finished() {
        // Consumers waiting for an item that will never come: time to stop.
        g.notify_all();
    }
}

/// Take items until the producers are done and the buffer is empty; how many were taken.
fn consumer(buf: &Buffer, waiting: Option<&Event>) -> u32 {
    let mut taken = 0;
    loop {
        let mut g = buf.not_empty.lock().expect(NO_DEATHS);
        if let Some(w) = waiting {
            // Still holding the lock: the parent can take it only once we sleep in `wait`.
            w.set();
        }
        g.wait_for(|| buf.len.load() > 0 || buf.finished(), None)
            .expect(NO_DEATHS);
        if buf.len.load() == 0 {
            return taken;
        }
        let item = buf.pop(&g);
        buf.consumed
            .store(item as usize, buf.consumed.load(item as usize) + 1);
        buf.not_full.notify(&g, 1);
        drop(g);
        taken += 1;
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    let buf = Buffer::new(args.capacity, args.producers, args.n);

    if args.kill_waiter {
        // The oldest waiter on `not_empty` is a dead one: the first notify must skip it.
        let waiting = Event::new();
        let (b, w) = (buf.clone(), waiting.clone());
        let mut doomed = Process::new(move || consumer(&b, Some(&w)) as i32).name("doomed");
        doomed.start()?;
        waiting.wait();
        drop(buf.not_empty.lock().expect(NO_DEATHS)); // it is asleep in wait() now
        doomed.kill()?;
        let code = doomed.join()?;
        println!("A consumer was killed while waiting on not_empty: killed_waiter_exitcode={code}");
    }

    let taken = Array::<u32>::new(args.consumers as usize);
    let mut processes = Vec::new();
    for id in 0..args.consumers {
        let (b, t) = (buf.clone(), taken.clone());
        let p = Process::new(move || t.store(id as usize, consumer(&b, None)))
            .name(format!("consumer {id}"));
        processes.push(p);
    }
    for id in 0..args.producers {
        let b = buf.clone();
        let (n, step) = (args.n, args.producers);
        let p = Process::new(move || producer(&b, (id..n).step_by(step as usize)))
            .name(format!("producer {id}"));
        processes.push(p);
    }
    multiproc::start_all(&mut processes)?;
    multiproc::join_all(&mut processes)?;

    let counts = buf.consumed.to_vec();
    let once = counts.iter().filter(|&&c| c == 1).count();
    let duplicated = counts.iter().filter(|&&c| c > 1).count();
    let missing = counts.iter().filter(|&&c| c == 0).count();
    for (id, t) in taken.to_vec().iter().enumerate() {
        println!("consumer {id} took taken_by_consumer={t} items");
    }
    println!(
        "{} items handed over: consumed_once={once} consumed exactly once, duplicates={duplicated} \
         more than once, missing={missing} never; left_in_buffer={}",
        args.n,
        buf.len.load()
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
