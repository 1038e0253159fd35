//! Calculate e (seed 000/002, "Using `multiprocessing.Process`"): a process type with
//! `start`, `run` and `get` computes e until its exit Event is set, and hands the result
//! back through a SimpleQueue; the main process does "other useful stuff" meanwhile.
//!
//! Python original: `class CalculateE(Process)` with `run()` putting `calculate_e(exit_event)`
//! into a `SimpleQueue` and `get()` taking it out once; `e_process.start()`,
//! `time.sleep(3)`, `e_process.exit_event.set()`, `print(e_process.get())`.
//! Look for: e = 2.718281828459045 (within 1e-12 of `std::f64::consts::E`), computed in a
//! process named `calculate_e_process` with its own pid, which stops within milliseconds of
//! the event being set. `--inline` follows the talk's debugging advice, "call `.run()`
//! directly (instead of `.start()`)": the same `run()` in the calling process, where a
//! debugger can follow it; a timer thread plays the main process's part of setting the
//! event (no process is forked in that mode, so the thread is safe).
//!
//! Run: `just run calculate_e` (or `cargo run --release --bin calculate_e`)

use clap::Parser;
use kit::workloads::calculate_e;
use multiproc::{Event, Process, SimpleQueue, current_process};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Compute e in a child process until told to stop, and get the result back.
#[derive(Parser)]
struct Args {
    /// How long the main process does "other useful stuff" before setting the exit event
    /// (the seed: 3).
    /// At most a day (86400 s).
    #[arg(long, default_value = "3", value_parser = kit::cli::seconds)]
    seconds: Duration,
    /// Call `run()` in this process instead of `start()`ing a child (the talk's advice for
    /// debugging).
    #[arg(long)]
    inline: bool,
}

/// The seed's `CalculateE(Process)`: what the process needs, plus the handle once started.
struct CalculateE {
    result_queue: SimpleQueue<f64>,
    result: Option<f64>,
    exit_event: Event,
    process: Option<Process>,
}

impl CalculateE {
    const NAME: &str = "calculate_e_process";

    fn new() -> CalculateE {
        CalculateE {
            result_queue: SimpleQueue::new().expect("a result queue"),
            result: None,
            exit_event: Event::new(),
            process: None,
        }
    }

    /// What runs in the process (Python: `run(self)`): do the work, return the value
    /// through the queue.
    fn run(&self) -> multiproc::Result<()> {
        let me = current_process();
        println!("run() in run_name={} (run_pid={})", me.name(), me.pid());
        let e_value = calculate_e(&self.exit_event);
        self.result_queue.put(e_value)
    }

    /// Python: `.start()`: fork a child named `calculate_e_process` that calls `run()` on
    /// its copy of this object (the queue and the event are shared; the handle is not).
    fn start(&mut self) -> multiproc::Result<()> {
        let child_self = CalculateE {
            result_queue: self.result_queue.clone(),
            result: None,
            exit_event: self.exit_event.clone(),
            process: None,
        };
        let mut p = Process::new(move || child_self.run()).name(Self::NAME);
        p.start()?;
        self.process = Some(p);
        Ok(())
    }

    /// The value, waiting for it the first time (the queue can be read only once).
    fn get(&mut self) -> multiproc::Result<f64> {
        if let Some(e) = self.result {
            return Ok(e);
        }
        let e = self.result_queue.get()?;
        self.result = Some(e);
        Ok(e)
    }

    /// Wait for the process to end; its exit code (0 when run inline).
    fn join(&mut self) -> multiproc::Result<i32> {
        match &mut self.process {
            Some(p) => p.join(),
            None => Ok(0),
        }
    }
}

fn run(args: Args) -> multiproc::Result<()> {
    println!(
        "main process: {} (main_pid={})",
        current_process().name(),
        std::process::id()
    );
    let mut e_process = CalculateE::new();
    let set_at;
    if args.inline {
        // Nobody else is left to set the event: a timer thread stands in for the main
        // process's "sleep, then set". No fork happens in this mode.
        let (exit_event, seconds) = (e_process.exit_event.clone(), args.seconds);
        let timer = std::thread::spawn(move || {
            std::thread::sleep(seconds);
            exit_event.set();
            Instant::now()
        });
        e_process.run()?; // .run() instead of .start()
        set_at = timer.join().expect("the timer thread does not panic");
    } else {
        e_process.start()?;
        std::thread::sleep(args.seconds); // do other useful stuff ...
        set_at = Instant::now();
        e_process.exit_event.set(); // tell the process to stop
    }
    let e = e_process.get()?;
    let stop_latency = set_at.elapsed();
    let code = e_process.join()?;
    println!(
        "e={e} (e_error={:.1e}); the result arrived stop_latency_ms={:.3} after the event \
         was set, and the process ended with exitcode={code}",
        (e - std::f64::consts::E).abs(),
        stop_latency.as_secs_f64() * 1e3
    );
    if code != 0 {
        return Err(multiproc::Error::Io(std::io::Error::other(format!(
            "the e process exited with {code}"
        ))));
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
