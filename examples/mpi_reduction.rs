//! MPI reduction (seed 004's map-reduce, on MPI ranks instead of a `Pool`): `f(n)`, the sum
//! of x² for x below 10,000, summed over `range(N)`. Rank 0 cuts the inputs into one chunk
//! per rank as `parallel_reduction` cuts its data (`chunk_list`: pieces of `ceil(N/ranks)`),
//! scatters them (`MPI_Scatterv`), every rank sums `f` over its chunk with the same kernel
//! as `pool_map_sum`, and the partial sums are gathered and reduced (`MPI_Reduce`, sum) on
//! rank 0, which also runs the serial loop to compare.
//!
//! Python original (seed 004): `p = Pool(); result = p.map(func=f, iterable=range(10000))`,
//! then `sum(result)`; with mpi4py the same would be `comm.scatter` / `comm.reduce`.
//! Look for: `sum=3332833350000000` at the seed's N = 10000, for any number of ranks, equal
//! to the serial sum and to `pool_map_sum`'s; the ranks are MPI processes started by
//! `mpirun -n <ranks>` (which replaces the Pool's `--workers`), on this machine or on a
//! cluster's nodes. The times exclude `mpirun`'s start-up (about half a second here), which
//! is the most of a small run's wall time.
//!
//! Run: `just mpi mpi_reduction 2` (or `cargo build --features mpi --bin mpi_reduction`, then
//! `mpirun -n 2 target/debug/mpi_reduction`); needs Open MPI, see the README.

use clap::Parser;
use kit::cli::comma_list;
use kit::workloads::sum_of_squares;
use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::Partition;
use mpi::traits::*;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

/// Sum f(n) = sum of x² for x < 10000 over range(N) on MPI ranks (scatter, reduce), and
/// serially on rank 0; compare. Start it with `mpirun -n <ranks>`.
#[derive(Parser)]
struct Args {
    /// How many calls of f: the input is range(N) (the seed: 10000); 0 to 10,000,000 (each
    /// call returns 333,283,335,000: the total of more would not fit in 64 bits).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    n: u64,
}

/// How many inputs each of `ranks` ranks gets: `chunk_list`'s pieces of `ceil(n / ranks)`
/// (at least 1), in order, then zeros for the ranks left without a piece.
fn chunk_counts(n: u64, ranks: usize) -> Vec<Count> {
    let size = n.div_ceil(ranks as u64).max(1);
    (0..ranks as u64)
        .map(|k| n.saturating_sub(k * size).min(size) as Count)
        .collect()
}

/// Where each chunk starts: the running sum of `counts`.
fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |start, &c| {
            let here = *start;
            *start += c;
            Some(here)
        })
        .collect()
}

fn run(args: Args) -> Result<(), String> {
    let universe = mpi::initialize().ok_or("MPI was already initialised")?;
    let world = universe.world();
    let (rank, ranks) = (world.rank(), world.size() as usize);
    let root = world.process_at_rank(0);
    let counts = chunk_counts(args.n, ranks);
    let mut chunk = vec![0u64; counts[rank as usize] as usize];

    // Everyone starts the clock together; rank 0's reading at the end is the time of the
    // whole distributed sum (scatter, compute, reduce).
    world.barrier();
    let start = mpi::time();
    if rank == 0 {
        let inputs: Vec<u64> = (0..args.n).map(black_box).collect();
        let displs = displacements(&counts);
        let partition = Partition::new(&inputs[..], &counts[..], &displs[..]);
        root.scatter_varcount_into_root(&partition, &mut chunk[..]);
    } else {
        root.scatter_varcount_into(&mut chunk[..]);
    }
    let partial: u64 = chunk.iter().map(|&x| sum_of_squares(x)).sum();
    let mut total = 0u64;
    if rank == 0 {
        root.reduce_into_root(&partial, &mut total, SystemOperation::sum());
    } else {
        root.reduce_into(&partial, SystemOperation::sum());
    }
    let mpi_time = Duration::from_secs_f64((mpi::time() - start).max(0.0));

    // The partial sums themselves, for the person reading (not part of the timing).
    let mut partials = vec![0u64; if rank == 0 { ranks } else { 0 }];
    if rank == 0 {
        root.gather_into_root(&partial, &mut partials[..]);
    } else {
        root.gather_into(&partial);
    }
    if rank != 0 {
        return Ok(());
    }

    let (serial, serial_time) = kit::timing::timed(|| {
        (0..args.n)
            .map(|x| sum_of_squares(black_box(x)))
            .sum::<u64>()
    });
    let (name, version) = (
        mpi::environment::processor_name(),
        mpi::environment::version(),
    );
    println!(
        "{ranks} MPI rank{} (MPI {}.{}, rank 0 on {}) summed f over range({}) in chunks of {}",
        if ranks == 1 { "" } else { "s" },
        version.0,
        version.1,
        name.unwrap_or_else(|_| "an unnamed host".into()),
        args.n,
        comma_list(&counts)
    );
    println!("Partial sums of the ranks: {partials:?}");
    println!("ranks={ranks}");
    println!("chunk_sizes={}", comma_list(&counts));
    println!("partial_sums={}", comma_list(&partials));
    println!("Reduced on rank 0: {total}");
    println!("sum={total}");
    println!("Serial sum on rank 0: {serial}");
    println!("serial_sum={serial}");
    let s = kit::timing::speedup(serial_time, mpi_time);
    println!(
        "Serial: {serial_time:.2?}, {ranks} ranks: {mpi_time:.2?} (scatter, compute, reduce; \
         mpirun's start-up not included), speedup {s:.2}x"
    );
    println!("serial_seconds={:.9}", serial_time.as_secs_f64());
    println!("mpi_seconds={:.9}", mpi_time.as_secs_f64());
    println!("speedup={s:.3}");
    if total != serial {
        return Err(format!(
            "the ranks' sum {total} differs from the serial {serial}"
        ));
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
