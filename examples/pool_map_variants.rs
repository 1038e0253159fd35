//! Pool map variants (seed 001, "Process Pools"): the 15 seed points through every way a
//! pool maps a function: `map`, `map_async`, `starmap`, `starmap_async`, `imap` and
//! `imap_unordered`, all with the same chunksize.
//!
//! Python original: `pool.map(mandelbrot, points)`, `pool.map_async(mandelbrot, points,
//! chunksize=3).get()`, and the variants the lesson lists: `starmap`, `imap`,
//! `imap_unordered`, `starmap_async`.
//! Look for: every ordered variant prints [49, 23, 47, 43, 18, 39, 59, 69, 60, 23, 47, 43,
//! 18, 39, 57]; `imap_unordered` prints the same numbers, in the order the chunks finished.
//! `starmap` calls `mandelbrot(z0, orbits)` with each `(point, 255)` pair. The chunksize
//! changes how many points travel in one task, never the results (default: Python's
//! `ceil(len / (4 * workers))` for the maps, 1 for the imaps). `--repeat 0` maps an empty
//! list: every variant returns an empty list.
//!
//! Run: `just run pool_map_variants` (or `cargo run --release --bin pool_map_variants`)

use clap::Parser;
use kit::workloads::{Complex, SEED_POINTS, mandelbrot};
use multiproc::Pool;
use std::process::ExitCode;

/// Run map, map_async, starmap, starmap_async, imap and imap_unordered on the seed's points.
#[derive(Parser)]
struct Args {
    /// Worker processes (the seed: `Pool(processes=10)`); 1 to 256.
    #[arg(long, default_value_t = 10, value_parser = kit::cli::processes)]
    workers: usize,
    /// Points per task (the seed: 3 for `map_async`); default: each variant's Python
    /// default; 1 to 1,500,000 (all the points in one task).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_500_000))]
    chunksize: Option<u64>,
    /// Map the 15 points this many times over (0: an empty list); 0 to 100,000 (1,500,000
    /// points, mapped six times over, well under a GB).
    #[arg(long, default_value_t = 1, value_parser = kit::cli::usize_in(0..=100_000))]
    repeat: usize,
}

/// The seed's `mandelbrot(z0)` with its default of 255 orbits, for the one-argument
/// variants. A task is a plain `fn`: it cannot capture a setting, so an argument that
/// varies travels with the data, as in `starmap`.
fn orbits255(z0: Complex) -> u32 {
    mandelbrot(z0, 255)
}

fn show(name: &str, values: &[u32]) {
    let pad = 14usize.saturating_sub(name.len());
    println!("{:pad$}{name}={}", "", kit::cli::comma_list(values));
}

fn run(args: Args) -> multiproc::Result<()> {
    let points: Vec<Complex> = SEED_POINTS
        .iter()
        .copied()
        .cycle()
        .take(SEED_POINTS.len() * args.repeat)
        .collect();
    let pairs: Vec<(Complex, u32)> = points.iter().map(|&p| (p, 255)).collect();
    let pool = Pool::new(args.workers)?;
    println!(
        "{} points, {} workers, chunksize {}",
        points.len(),
        args.workers,
        args.chunksize
            .map_or("default".to_string(), |k| k.to_string())
    );

    // `None` leaves each variant its Python default, as `chunksize=None` does.
    let chunked = pool.chunksize(args.chunksize.map(|k| k as usize));
    let collect = |it: multiproc::ImapIter<'_, u32>| it.collect::<multiproc::Result<Vec<u32>>>();
    show("map", &chunked.map(orbits255, points.clone())?);
    show(
        "map_async",
        &chunked.map_async(orbits255, points.clone())?.get()?,
    );
    show("starmap", &chunked.starmap(mandelbrot, pairs.clone())?);
    show(
        "starmap_async",
        &chunked.starmap_async(mandelbrot, pairs)?.get()?,
    );
    show("imap", &collect(chunked.imap(orbits255, points.clone())?)?);
    show(
        "imap_unordered",
        &collect(chunked.imap_unordered(orbits255, points)?)?,
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
