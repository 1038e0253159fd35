//! Mandelbrot canvas (seed 001's image, computed as a data-parallel pool job): the canvas is
//! one [`SharedBuffer`] in shared memory, and each pool task claims a band of rows, computes
//! their escape orbits straight into it, and returns nothing but success. No pixel travels
//! through a queue or a pipe; the parent freezes the buffer and reads it as a plain slice.
//! The canvas is checked against the one computed sequentially.
//!
//! Python equivalent: a `shared_memory.SharedMemory` block viewed as a NumPy array,
//! `pool.map(fill_rows, bands)` with each task writing `canvas[r0:r1, :]`. Python trusts the
//! tasks not to overlap; here each band is claimed first, and a claim that overlaps a live
//! claim of any process is an error, so two tasks can never write the same pixel.
//! Look for: the pooled canvas equal to the sequential one for any number of workers and
//! band height; as many claimed bands as tasks; after the freeze a new claim is refused;
//! the speedup (Mandelbrot rows cost unevenly, so small bands balance better).
//!
//! Run: `just run mandelbrot_canvas` (or `cargo run --release --bin mandelbrot_canvas`)

use clap::Parser;
use kit::timing::{speedup, timed};
use kit::workloads::{View, mandelbrot};
use multiproc::{Error, Pool, SharedBuffer};
use std::ops::Range;
use std::process::ExitCode;

/// Fill a shared Mandelbrot canvas band by band in a pool of processes; compare it with the
/// sequential canvas.
#[derive(Parser)]
struct Args {
    /// Pixels per side of the square canvas (the seed: 1600); 1 to 4000.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=4000))]
    pixdim: u32,
    /// Iterations before a point counts as inside the set (the seed: 255); 1 to 100,000.
    #[arg(long, default_value_t = 255, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    orbits: u32,
    /// Rows per task (band height); 1 to 4000.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4000))]
    rows: u32,
    /// Worker processes (default: one per CPU); 1 to 256.
    #[arg(long, default_value_t = multiproc::cpu::default_pool_size(), value_parser = kit::cli::processes)]
    workers: usize,
}

/// One task: the canvas's handle, the view, the orbit limit and a band of rows.
type Band = (SharedBuffer<u32>, View, u32, Range<usize>);

/// Claim the band's pixels (an error if any live claim overlaps them) and compute them in
/// place, row-major.
fn fill_rows((canvas, view, orbits, rows): Band) -> Result<(), String> {
    let width = view.pixdim;
    let mut band = canvas
        .claim(rows.start * width..rows.end * width)
        .map_err(|e| format!("rows {rows:?}: {e}"))?;
    band.fill_with(|i| mandelbrot(view.point(i / width, i % width), orbits));
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    let view = View {
        pixdim: args.pixdim as usize,
        ..View::SEED
    };
    let side = view.pixdim;
    // Created before the pool, so every worker has it.
    let canvas = SharedBuffer::<u32>::new(side * side);
    let pool = Pool::new(args.workers)?;

    let step = args.rows as usize;
    let bands: Vec<Band> = (0..side)
        .step_by(step)
        .map(|r| (canvas.clone(), view, args.orbits, r..(r + step).min(side)))
        .collect();
    let tasks = bands.len();
    let (filled, pool_time) = timed(|| pool.chunksize(1).map(fill_rows, bands));
    for band in filled? {
        band.map_err(|e| Error::Io(std::io::Error::other(e)))?;
    }
    pool.close()?;
    pool.join()?;
    // Every claim has ended: freeze, and read the canvas as a plain slice.
    let pixels: &[u32] = canvas.freeze()?;
    println!(
        "Pool workers filled a {side}x{side} canvas in place: processes={} claimed bands of \
         rows={step} each, tasks={tasks} claims in all, abandoned_claims={}",
        args.workers,
        canvas.abandoned()
    );

    let (sequential, sequential_time) = timed(|| {
        (0..side * side)
            .map(|i| mandelbrot(view.point(i / side, i % side), args.orbits))
            .collect::<Vec<u32>>()
    });
    let orbit_sum: u64 = pixels.iter().map(|&o| u64::from(o)).sum();
    let inside = pixels.iter().filter(|&&o| o == args.orbits).count();
    println!(
        "The pooled canvas equals the sequential one: canvas_equals_sequential={}, with \
         orbit_sum={orbit_sum} and inside={inside} pixels that never escaped",
        pixels == sequential.as_slice()
    );
    let refused = canvas.claim(0..pixels.len().min(1)).is_err();
    println!(
        "Frozen, the canvas takes no more writers: claim_after_freeze={}",
        if refused { "refused" } else { "accepted" }
    );
    println!(
        "Times: sequential_seconds={:.6} pool_seconds={:.6}, speedup={:.2}",
        sequential_time.as_secs_f64(),
        pool_time.as_secs_f64(),
        speedup(sequential_time, pool_time)
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
