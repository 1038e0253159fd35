//! MPI Mandelbrot (seed 001's canvas, on MPI ranks instead of a queue pipeline): each rank
//! computes one block of consecutive rows of the canvas with the same kernel as
//! `mandelbrot_pipeline`, and rank 0 gathers the blocks (`MPI_Gatherv`) into the canvas,
//! prints its checksum and saves it as the same PNG.
//!
//! Python original (seed 001): `produce_points` / `process_points` / `fill_canvas` through two
//! queues; with mpi4py the same would be `comm.Gatherv` of each rank's rows.
//! Look for: `canvas_sha256=` equal to `mandelbrot_pipeline`'s for the same view, for any
//! number of ranks, and a PNG identical to its. No producer, no queues, no batches: the
//! distribution is fixed by the rank number (`mpirun -n <ranks>` replaces `--workers`, and
//! `--batch` has no counterpart), so a rank whose rows are slower to compute makes the others
//! wait at the gather. The time excludes `mpirun`'s start-up (about half a second here).
//!
//! Run: `just mpi mpi_mandelbrot 2` (or `cargo build --features mpi --bin mpi_mandelbrot`,
//! then `mpirun -n 2 target/debug/mpi_mandelbrot`); needs Open MPI, see the README.

use clap::Parser;
use kit::canvas::{Canvas, PngFile, ViewArgs, orbit_rows, row_block};
use mpi::Count;
use mpi::datatype::PartitionMut;
use mpi::traits::*;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Render the seed's Mandelbrot view on MPI ranks, one block of rows each, gathered on rank
/// 0 and saved as a PNG. Start it with `mpirun -n <ranks>`.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    view: ViewArgs,
    /// Where rank 0 writes the PNG, created or emptied before any work (default: a new file
    /// `mpi_mandelbrot-XXXXXX.png` in the temp directory, never an existing one).
    #[arg(long)]
    output: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), String> {
    let universe = mpi::initialize().ok_or("MPI was already initialised")?;
    let world = universe.world();
    let (rank, ranks) = (world.rank(), world.size() as usize);
    let root = world.process_at_rank(0);
    let view = args.view.view();

    // Rank 0 opens the PNG before any work and tells everyone whether it could: a bad
    // `--output` then ends every rank at once, instead of leaving them waiting at the gather.
    let mut output = Ok(None);
    if rank == 0 {
        output = PngFile::open(args.output.as_deref(), "mpi_mandelbrot-").map(Some);
    }
    let mut opened = output.is_ok();
    root.broadcast_into(&mut opened);
    if !opened {
        // Rank 0 reports the error (and mpirun exits with its code); the others just stop.
        return output.map(|_| ()).map_err(|e| e.to_string());
    }
    let output = output.map_err(|e| e.to_string())?;

    world.barrier();
    let start = mpi::time();
    let rows = row_block(view.pixdim, rank as usize, ranks);
    let mine = orbit_rows(view, rows, args.view.orbits);
    let mut canvas = Canvas::blank(if rank == 0 { view.pixdim } else { 0 });
    if rank == 0 {
        let counts: Vec<Count> = (0..ranks)
            .map(|k| (row_block(view.pixdim, k, ranks).len() * view.pixdim) as Count)
            .collect();
        let displs: Vec<Count> = (0..ranks)
            .map(|k| (row_block(view.pixdim, k, ranks).start * view.pixdim) as Count)
            .collect();
        let mut partition = PartitionMut::new(&mut canvas.orbits[..], &counts[..], &displs[..]);
        root.gather_varcount_into_root(&mine[..], &mut partition);
    } else {
        root.gather_varcount_into(&mine[..]);
        return Ok(());
    }
    let elapsed = Duration::from_secs_f64((mpi::time() - start).max(0.0));

    let blocks: Vec<String> = (0..ranks)
        .map(|k| row_block(view.pixdim, k, ranks).len().to_string())
        .collect();
    println!(
        "Canvas {0} x {0} around {1}{2:+}j, side {3}, {4} orbits, on {ranks} MPI rank{5}",
        view.pixdim,
        view.x,
        view.y,
        view.size,
        args.view.orbits,
        if ranks == 1 { "" } else { "s" }
    );
    println!(
        "Rows per rank: {}; gathered on rank 0 in {elapsed:.2?} (computing and gathering; \
         mpirun's start-up not included)",
        blocks.join(", ")
    );
    println!("ranks={ranks}");
    println!("rows_per_rank={}", blocks.join(","));
    println!("mpi_seconds={:.3}", elapsed.as_secs_f64());
    println!("The canvas's checksum, comparable with mandelbrot_pipeline's:");
    println!("canvas_sha256={}", canvas.sha256());

    let output = output.ok_or("rank 0 has no output file")?;
    let path = canvas.save_png(output).map_err(|e| e.to_string())?;
    println!("Saved the canvas as {}", path.display());
    println!("png_path={}", path.display());
    println!("png_width={}", view.pixdim);
    println!("png_height={}", view.pixdim);
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
