//! Multiple work queues (seed 003's repository, `communication/multi_work_queues.py`): maker
//! processes put lists of random angles on one shared queue, each going on with a
//! probability that decays after every put; worker processes take the lists and compute
//! `cos` of every element. A shared "makers left" count tells the workers when to stop:
//! after two timed-out `get`s once no maker is left.
//!
//! Python original: `make_work(work_queue, num_makers, decay, ...)` looping
//! `while rand_check <= probability`, `probability *= 1.0 - decay`, then
//! `num_makers.value -= 1` under its lock; `do_work` counting `queue.Empty` timeouts after
//! `num_makers.value == 0`; a `Manager().Queue()` and an `mp.Value('i', makers)`.
//! Look for: every item put is processed once (`items_put` = `items_processed`), and with
//! `--seed` the same items every run. The seed seeds every maker with the same seed, so all
//! makers make identical work; here maker k uses seed + k. Each item carries its maker and
//! sequence number, printed with it (`Put m1:4 <digest>`, `Got m1:4 <digest>`), so whoever
//! reads the output (this example's test does) can check exactly-once delivery; a plain
//! `multiproc::Queue` replaces the Manager's queue and two `Value`s count what was put and
//! what was processed.
//!
//! Run: `just run multi_work_queues` (or `cargo run --release --bin multi_work_queues`)

use clap::Parser;
use kit::rng::fresh_rng;
use multiproc::{Error, Process, Queue, Value};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Makers with decaying probability and workers share one work queue.
#[derive(Parser)]
struct Args {
    /// After each put, a maker's chance to go on is multiplied by (1 - decay); 0.0001 to 1
    /// (the seed: 0.01; a smaller decay lets a maker put lists without end).
    #[arg(long, default_value_t = 0.01, value_parser = decay)]
    decay: f64,
    /// Maker processes (the seed: half the CPUs).
    #[arg(long, default_value_t = half_the_cpus(), value_parser = clap::value_parser!(u32).range(1..=64))]
    makers: u32,
    /// Worker processes (the seed: half the CPUs).
    #[arg(long, default_value_t = half_the_cpus(), value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// How long a worker's `get` waits before it counts a timeout, in seconds (the seed: 0.5).
    /// At most a day (86400 s).
    #[arg(long, default_value = "0.5", value_parser = kit::cli::seconds)]
    timeout: Duration,
    /// Seed for the random numbers; without it every run differs (the seed: none).
    #[arg(long)]
    seed: Option<u64>,
    /// Longest random pause before each put and each element's work, in milliseconds; each
    /// pause is uniform between 10 ms (or this, if smaller) and this. The seed's 2000 makes
    /// a run of a minute or more (`--sleep-ms 2000`); the default, a few seconds.
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "100", value_parser = kit::cli::millis)]
    sleep_ms: Duration,
    /// 0: summary only; 1: a line per put and per get (the seed's default); 2: more.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    verbosity: u8,
}

fn half_the_cpus() -> u32 {
    (multiproc::cpu::cpu_count() as u32 / 2).max(1)
}

/// A fraction above zero: with no decay a maker would never stop.
fn decay(s: &str) -> Result<f64, String> {
    let v = kit::cli::fraction(s)?;
    if v >= 0.0001 {
        Ok(v)
    } else {
        Err(format!(
            "{s} is not in 0.0001..=1 (a smaller decay barely stops the makers)"
        ))
    }
}

/// One list of work: the seed's `[uniform(0, 2π) for i in range(randrange(1, 10))]`, plus
/// who made it, so the parent can check that it was processed exactly once.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Work {
    maker: u32,
    seq: u32,
    angles: Vec<f64>,
}

impl Work {
    /// The seed's `lhash(work)`, but the same in every run: xor of the angles' bits.
    fn digest(&self) -> u64 {
        self.angles.iter().fold(0, |h, a| h ^ a.to_bits())
    }

    /// `m<maker>:<seq> <digest>`: which list this is and what it holds.
    fn label(&self) -> String {
        format!("m{}:{} {:016x}", self.maker, self.seq, self.digest())
    }
}

/// A shared count, one more.
fn count_one(count: &Value<u64>) -> multiproc::Result<()> {
    *count.lock().map_err(|_| {
        multiproc::Error::Io(std::io::Error::other(
            "a process died holding a count's lock",
        ))
    })? += 1;
    Ok(())
}

/// A maker's or worker's generator: seeded from `--seed` and a per-process offset, or fresh.
fn rng_for(seed: Option<u64>, offset: u64) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s.wrapping_add(offset)),
        None => fresh_rng(),
    }
}

/// A pause between `min(10 ms, max)` and `max`, as the seed's `uniform(0.01, 2.0)`.
fn pause(rng: &mut StdRng, max: Duration) {
    if max.is_zero() {
        return;
    }
    let lo = Duration::from_millis(10).min(max);
    std::thread::sleep(rng.random_range(lo..=max));
}

fn pid_print(line: &str) {
    // One println is one write of one whole line: lines from processes do not interleave.
    println!("({}): {line}", std::process::id());
}

#[derive(Clone, Copy)]
struct Setup {
    decay: f64,
    seed: Option<u64>,
    sleep: Duration,
    timeout: Duration,
    verbosity: u8,
}

/// The seed's `make_work`: put lists until the decaying probability runs out, report what
/// was made, then leave the "makers left" count one lower.
fn make_work(
    k: u32,
    work_queue: &Queue<Work>,
    makers_left: &Value<i32>,
    items_put: &Value<u64>,
    s: &Setup,
) -> multiproc::Result<()> {
    if makers_left.load() <= 0 {
        return Err(multiproc::Error::Io(std::io::Error::other(
            "maker just starting, but makers_left <= 0",
        )));
    }
    let mut rng = rng_for(s.seed, u64::from(k));
    let mut probability = 1.0f64;
    let mut rand_check = 0.0f64;
    let mut seq = 0u32;
    while rand_check <= probability {
        pause(&mut rng, s.sleep);
        let len = rng.random_range(1..10);
        let work = Work {
            maker: k,
            seq,
            angles: (0..len).map(|_| rng.random_range(0.0..2.0 * PI)).collect(),
        };
        if s.verbosity >= 2 {
            pid_print(&format!("About to put {}, {}", work.label(), len));
        }
        work_queue.put(&work)?;
        count_one(items_put)?;
        if s.verbosity >= 1 {
            pid_print(&format!("Put {}", work.label()));
        }
        seq += 1;
        rand_check = rng.random_range(0.0..1.0);
        probability *= 1.0 - s.decay;
        if s.verbosity >= 2 {
            pid_print(&format!("p={probability}, r={rand_check}"));
        }
    }
    if s.verbosity >= 1 {
        pid_print("make_work finished");
    }
    *makers_left.lock().map_err(|_| {
        multiproc::Error::Io(std::io::Error::other(
            "a maker died holding the count's lock",
        ))
    })? -= 1;
    Ok(())
}

/// The seed's `do_work`: take lists and work on them; stop after two timed-out gets once no
/// maker is left (by then every list has been put, and the queue stayed empty).
fn do_work(
    k: u32,
    work_queue: &Queue<Work>,
    makers_left: &Value<i32>,
    items_processed: &Value<u64>,
    s: &Setup,
) -> multiproc::Result<()> {
    let mut rng = rng_for(s.seed, 1_000 + u64::from(k));
    let mut timeouts_after_no_makers = 0;
    while timeouts_after_no_makers < 2 {
        if s.verbosity >= 2 {
            pid_print("Getting work");
        }
        let work = match work_queue.get_timeout(s.timeout) {
            Ok(work) => work,
            Err(Error::Empty) => {
                if s.verbosity >= 2 {
                    pid_print("Timed-out");
                }
                if makers_left.load() == 0 {
                    timeouts_after_no_makers += 1;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if s.verbosity >= 1 {
            pid_print(&format!("Got {}, {}", work.label(), work.angles.len()));
        }
        for &angle in &work.angles {
            pause(&mut rng, s.sleep);
            std::hint::black_box(angle.cos()); // the seed's work_function, cos
        }
        count_one(items_processed)?;
    }
    if s.verbosity >= 1 {
        pid_print("do_work finished");
    }
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    let started = Instant::now();
    let setup = Setup {
        decay: args.decay,
        seed: args.seed,
        sleep: args.sleep_ms,
        timeout: args.timeout,
        verbosity: args.verbosity,
    };
    let work_queue: Queue<Work> = Queue::new()?;
    let makers_left = Value::new(args.makers as i32);
    let (items_put, items_processed) = (Value::new(0u64), Value::new(0u64));

    let mut processes = Vec::new();
    for k in 0..args.makers {
        let (q, left, put, s) = (
            work_queue.clone(),
            makers_left.clone(),
            items_put.clone(),
            setup,
        );
        processes.push(
            Process::new(move || make_work(k, &q, &left, &put, &s)).name(format!("maker-{k}")),
        );
    }
    for k in 0..args.workers {
        let (q, left, done, s) = (
            work_queue.clone(),
            makers_left.clone(),
            items_processed.clone(),
            setup,
        );
        processes.push(
            Process::new(move || do_work(k, &q, &left, &done, &s)).name(format!("worker-{k}")),
        );
    }
    for p in &mut processes {
        p.start()?;
    }
    let mut failed = Vec::new();
    for (i, p) in processes.iter_mut().enumerate() {
        let code = p.join()?;
        if code != 0 {
            failed.push(format!("{} exited with {code}", p.get_name()));
        }
        if i + 1 == args.makers as usize && makers_left.load() != 0 {
            // Every maker has exited, but one died before counting itself out: without
            // this the workers would wait for it for ever (the seed would hang here).
            failed.push(format!(
                "{} makers never counted themselves out",
                makers_left.load()
            ));
            makers_left.store(0);
        }
    }
    println!("Elapsed: {:.3} s", started.elapsed().as_secs_f64());
    println!(
        "{} makers put items_put={} lists and {} workers processed items_processed={} of them",
        args.makers,
        items_put.load(),
        args.workers,
        items_processed.load()
    );
    println!(
        "Left over: work_queue_left={} lists in the queue and makers_left={} makers",
        work_queue.qsize(),
        makers_left.load()
    );
    if !failed.is_empty() {
        return Err(multiproc::Error::Io(std::io::Error::other(
            failed.join("; "),
        )));
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
