//! Task timeouts (Python docs, `concurrent.futures`: `Future.result(timeout)` and
//! `Future.cancel()`): tasks that hang (loop for ever) or run far too long, among normal
//! ones, submitted with a time limit; then a running task cancelled.
//!
//! Python original: `futures = [executor.submit(task, x) for x in xs]`, `f.result(timeout=t)`,
//! `f.cancel()`. In Python a timeout ends only the *wait*: the hung task keeps its worker
//! for ever, and `cancel()` of a running task returns False. Here
//! `executor.timeout(d).submit(task, x)` limits the task itself: at its deadline (counted
//! from its start) its worker is killed and replaced, and its future resolves
//! `Error::TimedOut`; and `cancel()` stops a running task the same way (`Error::Cancelled`).
//! Look for: each hung task (`how=spins`, a loop that never ends; `how=sleeps`, an hour's
//! sleep) reported `outcome=timed_out`, each normal one `outcome=ok` with its sum, in
//! submission order; then a final task after them still gets its result (`final_result`),
//! since the executor replaced the stopped workers. Then a task that sets a shared `Event`
//! as it starts and then waits for ever: once the event is set (waited for, no sleep), the
//! future is `running`, `cancel()` says true and its result is `Cancelled`; the next task
//! runs, and the program ends with no process left behind.
//!
//! Run: `just run task_timeouts` (or `cargo run --release --bin task_timeouts`)

use clap::Parser;
use multiproc::executor::ProcessPoolExecutor;
use multiproc::{Error, Event};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Hung and normal tasks under executor.timeout(d): the hung ones stopped and reported
/// TimedOut, the others' results; then cancel() of a running task.
#[derive(Parser)]
struct Args {
    /// Worker processes; 1 to 256.
    #[arg(long, default_value_t = 2, value_parser = kit::cli::processes)]
    workers: usize,
    /// Each task's time limit, in milliseconds, counted from its start: 1 to 60000.
    #[arg(long, default_value = "500", value_parser = timeout_ms)]
    timeout_ms: Duration,
    /// How many tasks hang (never end by themselves); 0 to 64.
    #[arg(long, default_value_t = 2, value_parser = kit::cli::usize_in(0..=64))]
    hung: usize,
    /// How many normal tasks (each sums 1..=n, quick); 0 to 10,000.
    #[arg(long, default_value_t = 6, value_parser = kit::cli::usize_in(0..=10_000))]
    normal: usize,
}

/// `--timeout-ms`: a whole number of milliseconds from 1 to 60000.
fn timeout_ms(s: &str) -> Result<Duration, String> {
    let d = kit::cli::millis(s)?;
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err(format!("{s} is not in 1..=60000 milliseconds"));
    }
    Ok(d)
}

/// How a hung task hangs.
fn how(hung_index: usize) -> &'static str {
    if hung_index.is_multiple_of(2) {
        "spins"
    } else {
        "sleeps"
    }
}

/// A task that never ends: a loop with no way out (`how=spins`).
fn spin_forever(_: u64) -> u64 {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// A task that would end, an hour from now (`how=sleeps`).
fn sleep_an_hour(x: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(3600));
    x
}

/// A normal task: the sum of 1..=n, step by step.
fn sum_to(n: u64) -> u64 {
    (1..=std::hint::black_box(n)).sum()
}

/// The task to cancel: says it has started, then waits for an event nobody sets.
fn start_then_wait((started, never): (Event, Event)) -> u64 {
    started.set();
    never.wait();
    0
}

/// An outcome as one word.
fn word<T>(r: &multiproc::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(Error::TimedOut) => "timed_out".into(),
        Err(Error::Cancelled) => "cancelled".into(),
        Err(e) => format!("error:{e}").replace(char::is_whitespace, "_"),
    }
}

/// Which tasks hang: `hung` of the `total` positions, spread out (the first is one).
fn hung_positions(hung: usize, total: usize) -> Vec<bool> {
    (0..total)
        .map(|t| (t * hung).div_ceil(total) != ((t + 1) * hung).div_ceil(total))
        .collect()
}

fn run(args: Args) -> multiproc::Result<()> {
    // Shared objects are created before the executor, so its tasks can be given them.
    let (started, never) = (Event::new(), Event::new());
    let executor = ProcessPoolExecutor::builder()
        .processes(args.workers)
        .share((started.clone(), never.clone()))
        .build_executor()?;
    let limited = executor.timeout(args.timeout_ms);
    let total = args.hung + args.normal;
    println!(
        "Submitting tasks={total} (hung={} normal={}) to workers={}, each limited to \
         timeout_ms={}",
        args.hung,
        args.normal,
        args.workers,
        args.timeout_ms.as_millis()
    );

    enum Task {
        Hung(&'static str),
        Normal(u64),
    }
    let begin = Instant::now();
    let (mut hung_seen, mut normal_seen) = (0, 0);
    let mut tasks = Vec::new();
    for is_hung in hung_positions(args.hung, total) {
        if is_hung {
            let how = how(hung_seen);
            let f: fn(u64) -> u64 = if how == "spins" {
                spin_forever
            } else {
                sleep_an_hour
            };
            tasks.push((Task::Hung(how), limited.submit(f, hung_seen as u64)?));
            hung_seen += 1;
        } else {
            let n = 1000 * (normal_seen as u64 + 1);
            tasks.push((Task::Normal(n), limited.submit(sum_to, n)?));
            normal_seen += 1;
        }
    }

    let (mut timed_out, mut ok) = (0, 0);
    for (i, (task, future)) in tasks.iter().enumerate() {
        let result = future.result();
        let outcome = word(&result);
        timed_out += usize::from(outcome == "timed_out");
        ok += usize::from(outcome == "ok");
        match (task, result) {
            (Task::Hung(how), _) => {
                println!("task={i} kind=hung how={how} outcome={outcome}")
            }
            (Task::Normal(n), Ok(sum)) => {
                println!("task={i} kind=normal n={n} outcome={outcome} result={sum}")
            }
            (Task::Normal(n), Err(_)) => println!("task={i} kind=normal n={n} outcome={outcome}"),
        }
    }
    println!(
        "All in after {:.3} s: timed_out={timed_out} ok={ok}",
        begin.elapsed().as_secs_f64()
    );
    let final_result = executor.submit(sum_to, 100)?.result()?;
    println!("A task after them, sum_to(100): final_result={final_result}");

    // cancel() of a running task: the task says when it runs; wait for that, then cancel.
    let future = executor.submit(start_then_wait, (started.clone(), never.clone()))?;
    let began = started.wait_timeout(Duration::from_secs(60));
    println!(
        "The task to cancel set its event: cancel_started={began} and is cancel_running={}",
        future.running()
    );
    let cancel_returned = future.cancel();
    let result = future.result();
    println!(
        "cancel() returned cancel_returned={cancel_returned} and the future is cancelled={} \
         with its result cancel_outcome={}",
        future.cancelled(),
        word(&result)
    );
    let after = executor.submit(sum_to, 10)?.result()?;
    println!("The next task, sum_to(10): after_cancel_result={after}");

    executor.shutdown(true, false)?;
    println!("Shut down: done=true");
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
