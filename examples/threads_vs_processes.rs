//! Threads vs processes (seed 004, "Multiprocessing vs Multithreading"): squares and cubes
//! of [2, 3, 8, 9], each item after a 0.2 s sleep, computed one after the other, then by two
//! processes, then by two threads; then the same with CPU work instead of the sleep.
//!
//! Python original: `calc_squares(numbers)` / `calc_cubes(numbers)` with `time.sleep(0.2)`
//! per item, run in sequence (1.6 s) and as two `threading.Thread`s (0.8 s).
//! Look for: with the sleep, threads and processes both about halve the time, as in the
//! seed: a sleeping thread, like a sleeping process, leaves the CPU to the other. With CPU
//! work, Python's threads would take as long as the sequential run (the GIL lets one thread
//! run Python code at a time) while its processes halve it; Rust threads have no GIL, so
//! here threads speed up CPU work just as processes do, given two free cores. Threads share
//! the process (same pid); processes each have their own.
//! Each round starts its processes while the program has a single thread (before spawning
//! the round's threads, after joining the last round's): `fork` only from a single-threaded
//! program.
//!
//! Run: `just run threads_vs_processes` (or `cargo run --release --bin threads_vs_processes`)

use clap::Parser;
use kit::workloads::sum_of_squares;
use multiproc::{Process, Queue};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Squares and cubes, sequential, in two processes, and in two threads.
#[derive(Parser)]
struct Args {
    /// The numbers (the seed: 2,3,8,9); each from -2097151 to 2097151, so that its cube
    /// fits in 64 bits.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [2i64, 3, 8, 9], value_parser = clap::value_parser!(i64).range(-2_097_151..=2_097_151))]
    numbers: Vec<i64>,
    /// Sleep before each item in the sleep-bound run, in milliseconds (the seed: 200).
    /// At most a day (86400000 ms).
    #[arg(long, default_value = "200", value_parser = kit::cli::millis)]
    sleep_ms: Duration,
    /// CPU work per item in the CPU-bound run: calls of seed 004's `f(n)`, the sum of x²
    /// for x below 10,000 (the default takes a tenth to a fifth of a second per item in a
    /// release build, so the whole run takes a few seconds; the earlier default, 50,000,
    /// about a second per item on a loaded 2-core machine). 1 to 100,000,000.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    cpu_rounds: u64,
}

/// What each item waits for or works on before its result.
#[derive(Clone, Copy)]
enum Load {
    Sleep(Duration),
    Cpu(u64),
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Sleep(_) => "sleep",
            Load::Cpu(_) => "cpu",
        }
    }

    /// Wait or work; the CPU work's sum, so it cannot be optimised away.
    fn spend(self) -> u64 {
        match self {
            Load::Sleep(d) => {
                std::thread::sleep(d);
                0
            }
            Load::Cpu(rounds) => (0..rounds).map(sum_of_squares).fold(0, u64::wrapping_add),
        }
    }
}

/// One task's results, and where it ran.
#[derive(Serialize, Deserialize, Debug)]
struct Results {
    task: String,
    values: Vec<i64>,
    pid: u32,
}

/// The seed's `calc_squares` and `calc_cubes`, as one function of the power.
fn calc_powers(power: u32, numbers: &[i64], load: Load) -> Results {
    let (task, what) = match power {
        2 => ("squares", "sq"),
        _ => ("cubes", "cube"),
    };
    println!("calculating {task}...");
    let mut values = Vec::new();
    for &n in numbers {
        std::hint::black_box(load.spend());
        let v = n.wrapping_pow(power);
        println!("{what} of {n} is {v}");
        values.push(v);
    }
    Results {
        task: task.to_string(),
        values,
        pid: std::process::id(),
    }
}

fn sequential(numbers: &[i64], load: Load) -> Vec<Results> {
    vec![calc_powers(2, numbers, load), calc_powers(3, numbers, load)]
}

fn with_processes(numbers: &[i64], load: Load) -> multiproc::Result<Vec<Results>> {
    let results: Queue<Results> = Queue::new()?;
    let mut ps = Vec::new();
    for power in [2, 3] {
        let (q, numbers) = (results.clone(), numbers.to_vec());
        ps.push(Process::spawn(move || {
            q.put(calc_powers(power, &numbers, load))
        })?);
    }
    multiproc::join_all(&mut ps)?;
    let mut out: Vec<Results> = (0..2).map(|_| results.get()).collect::<Result<_, _>>()?;
    out.sort_by(|a, b| b.task.cmp(&a.task)); // squares, cubes
    Ok(out)
}

fn with_threads(numbers: &[i64], load: Load) -> Vec<Results> {
    std::thread::scope(|s| {
        let t1 = s.spawn(|| calc_powers(2, numbers, load));
        let t2 = s.spawn(|| calc_powers(3, numbers, load));
        vec![t1.join().expect("no panic"), t2.join().expect("no panic")]
    })
}

fn report(load: Load, mode: &str, results: &[Results], took: Duration) {
    let load = load.name();
    println!(
        "{load} {mode}: completed in {:.3} seconds",
        took.as_secs_f64()
    );
    for r in results {
        let (task, list) = (&r.task, r.values.iter().map(i64::to_string));
        println!(
            "  {task}_{load}_{mode}={} computed in process pid_{task}_{load}_{mode}={}",
            list.collect::<Vec<_>>().join(","),
            r.pid
        );
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    println!("The main process is main_pid={}", std::process::id());
    let mut table = Vec::new();
    for load in [Load::Sleep(args.sleep_ms), Load::Cpu(args.cpu_rounds)] {
        println!("\n== {}-bound ==", load.name());
        let t = Instant::now();
        let r = sequential(&args.numbers, load);
        let seq = t.elapsed();
        report(load, "sequential", &r, seq);

        // Processes first: fork only while this program has a single thread.
        let t = Instant::now();
        let r = with_processes(&args.numbers, load)?;
        let procs = t.elapsed();
        report(load, "processes", &r, procs);

        let t = Instant::now();
        let r = with_threads(&args.numbers, load);
        let threads = t.elapsed();
        report(load, "threads", &r, threads);
        table.push((load.name(), seq, procs, threads));
    }
    println!(
        "\nSpeedup over sequential, {} available CPUs:\n{:<6} {:>10} {:>10}",
        multiproc::cpu::available_cpu_count(),
        "load",
        "processes",
        "threads"
    );
    let speedup = |seq: Duration, d: Duration| {
        kit::timing::significant(kit::timing::speedup(seq, d), 3) + "x"
    };
    for &(name, seq, procs, threads) in &table {
        println!(
            "{name:<6} {:>10} {:>10}",
            speedup(seq, procs),
            speedup(seq, threads)
        );
    }
    println!(
        "Python's threads would stay near 1x on the CPU-bound load (the GIL); Rust threads \
         have no GIL and can keep up with processes. One run each: other load on the machine \
         shows in these times."
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
