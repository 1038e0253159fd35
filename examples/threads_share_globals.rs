//! Threads share globals (seed 004, "Multithreading and global variables"): a process
//! appends the squares of [2, 3, 8, 9] to a global list, and so does a thread; the main
//! program looks at the list after each.
//!
//! Python original: a global `square_result = []` filled by `calc_square(numbers)`, first in a
//! `threading.Thread` (main then sees the results), then in a `multiprocessing.Process`
//! (main sees nothing: the child filled its own copy).
//! Look for: after the process, the child saw [4, 9, 64, 81] in its list but the main
//! program's list is still empty; after the thread, the main program's list holds the
//! squares. Threads share the address space; a process gets a copy of it. The process runs
//! first: `fork` only from a single-threaded program.
//!
//! Run: `just run threads_share_globals` (or `cargo run --release --bin threads_share_globals`)

use clap::Parser;
use multiproc::{Process, Queue};
use std::process::ExitCode;
use std::sync::Mutex;

/// The seed's global `square_result`.
static SQUARE_RESULT: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// A thread's change to a global is seen by main; a process's is not.
#[derive(Parser)]
struct Args {
    /// The numbers to square (the seed: 2,3,8,9); each from -3037000499 to 3037000499, so
    /// that its square fits in 64 bits.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [2i64, 3, 8, 9], value_parser = clap::value_parser!(i64).range(-3_037_000_499..=3_037_000_499))]
    numbers: Vec<i64>,
}

fn global() -> std::sync::MutexGuard<'static, Vec<i64>> {
    SQUARE_RESULT.lock().unwrap_or_else(|e| e.into_inner())
}

fn show(list: &[i64]) -> String {
    let items: Vec<String> = list.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// `[4, 9]` as one word, `[4,9]`.
fn compact(list: &str) -> String {
    list.replace(", ", ",")
}

fn calc_square(numbers: &[i64]) -> String {
    for &n in numbers {
        global().push(n.wrapping_mul(n));
    }
    let seen = show(&global());
    println!("inside: result {seen}");
    seen
}

fn run(args: Args) -> multiproc::Result<()> {
    println!("before: main's list {}", show(&global()));

    // A process: it appends to its own copy of the global. What it saw comes back through
    // a queue, since its memory is not ours.
    let seen_by_child: Queue<String> = Queue::new()?;
    let (q, numbers) = (seen_by_child.clone(), args.numbers.clone());
    let p = Process::spawn(move || q.put(calc_square(&numbers)))?;
    multiproc::join_all(&mut [p])?; // a child that failed is an error: exit 1
    let child_saw = seen_by_child.get()?;
    let after_process = show(&global());
    println!(
        "after the process: main's list after_process={} but the child saw child_saw={}",
        compact(&after_process),
        compact(&child_saw)
    );

    // A thread: same address space, same global.
    let numbers = args.numbers.clone();
    let thread_saw = std::thread::spawn(move || calc_square(&numbers))
        .join()
        .expect("the thread does not panic");
    let after_thread = show(&global());
    println!(
        "after the thread: main's list after_thread={} and the thread saw thread_saw={}",
        compact(&after_thread),
        compact(&thread_saw)
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
