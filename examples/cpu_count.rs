//! CPU count (seed 000, "Common Pitfalls/Considerations"): how many logical CPUs the machine
//! has, how many this process may use, how many physical cores lie under them, and the
//! number of worker processes the project starts when a program does not say.
//!
//! Python original: `multiprocessing.cpu_count()` (logical CPUs), the default size of
//! `Pool()`, and the talk's advice: "usually best to parallelize across 'real' cores;
//! parallelize across 'HyperThread' (SMT) processors with care".
//! Look for: physical cores <= logical CPUs (fewer when SMT is on); available <= logical
//! when an affinity mask or a container's CPU quota limits this process (try `taskset -c 0
//! cargo run --release --bin cpu_count`); the default pool size follows what is available.
//! Python's `Pool()` uses the logical count, which oversubscribes a limited process.
//!
//! Run: `just run cpu_count` (or `cargo run --release --bin cpu_count`)

use clap::Parser;
use multiproc::cpu;
use std::process::ExitCode;

/// Logical, available and physical CPUs, and the default pool size.
#[derive(Parser)]
struct Args {}

fn run(_args: Args) -> multiproc::Result<()> {
    let logical = cpu::cpu_count();
    let available = cpu::available_cpu_count();
    let physical = cpu::physical_cpu_count();
    let pool = cpu::default_pool_size();
    println!("logical CPUs (Python's cpu_count()):            logical={logical}");
    println!("available to this process (affinity, quota):   available={available}");
    println!("physical cores:                                 physical={physical}");
    println!("default number of worker processes:             pool_default={pool}");
    if physical < logical {
        println!(
            "Each core runs {:.0} hardware threads: for CPU-bound work, {physical} processes may \
             do about as well as {logical}.",
            logical as f64 / physical as f64
        );
    } else {
        println!("No SMT here: every logical CPU is a core of its own.");
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
