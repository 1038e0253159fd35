//! Mandelbrot pipeline (seed 001, "Producer/Consumer Parallelism"): a producer batches the
//! canvas's complex points 1,000 at a time into a todo queue, consumers compute each point's
//! escape orbit into a result queue, and the main process fills the canvas from it. First
//! everything runs in the main process, one stage after the other, then with the producer
//! and N consumers as processes; both are timed and the two canvases compared.
//!
//! Python original: `produce_points(Q_todo, pixdim)`, `process_points(Q_todo, Q_result)`,
//! `fill_canvas(Q_result, canvas)`, run in sequence and then as `Process`es; `ax.imshow`.
//! Look for: "Queued 2,560,000 points" at the seed's 1600 × 1600, the parallel canvas equal
//! to the sequential one, the speedup, and the PNG's path (viridis, as `imshow` draws it).
//! Corrections to the seed: it never queues a last batch shorter than 1,000 points (harmless
//! at 1600², whose 2,560,000 points divide evenly; here it is queued), and its consumers stop
//! at the first one-second pause of the todo queue, which a slow producer can cause before
//! all points are queued (its `sleep(0.5)` only makes that less likely). Here the producer
//! `close`s the todo queue when done, and consumers stop when it is closed and drained.
//!
//! Run: `just run mandelbrot_pipeline` (or `cargo run --release --features canvas,progress --bin mandelbrot_pipeline`)

use clap::Parser;
use kit::canvas::{Canvas, PngFile, ViewArgs, thousands};
use kit::progress::{Progress, clear_line};
use kit::workloads::{Complex, View, mandelbrot};
use multiproc::{Error, Process, Queue};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A point to compute: `((row, col), z0)`, as the seed queues it.
type Point = ((u32, u32), Complex);
/// A computed point: `((row, col), orbit)`.
type Orbit = ((u32, u32), u32);

/// Render the seed's Mandelbrot view through a producer/consumer pipeline of processes,
/// sequentially and in parallel, compare the canvases and save the image as a PNG.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    view: ViewArgs,
    /// Consumer processes in the parallel run (the seed: 6).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Points per queued batch (the seed: 1000); 1 to 1,000,000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch: u32,
    /// Where to write the PNG, created or emptied before any work (default: a new file
    /// `mandelbrot_pipeline-XXXXXX.png` in the temp directory, never an existing one).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// The seed's `produce_points`: every pixel's point, in batches, into the todo queue. Then
/// close the queue, which tells the consumers that nothing more is coming.
fn produce_points(todo: &Queue<Vec<Point>>, view: View, batch: usize) -> multiproc::Result<()> {
    let mut points = Vec::with_capacity(batch);
    for row in 0..view.pixdim {
        for col in 0..view.pixdim {
            points.push(((row as u32, col as u32), view.point(row, col)));
            if points.len() == batch {
                todo.put(&points)?;
                points.clear();
            }
        }
    }
    if !points.is_empty() {
        todo.put(&points)?;
    }
    todo.close();
    let (n, pid) = (view.pixdim * view.pixdim, std::process::id());
    println!(
        "{}Queued points_queued={n} points in process {pid}",
        clear_line()
    );
    Ok(())
}

/// The seed's `process_points`: compute batches from the todo queue into the result queue
/// until the todo queue is closed and empty.
fn process_points(
    todo: &Queue<Vec<Point>>,
    result: &Queue<Vec<Orbit>>,
    orbits: u32,
) -> multiproc::Result<()> {
    let start = Instant::now();
    let mut i = 0u64;
    loop {
        let batch = match todo.get() {
            Ok(batch) => batch,
            Err(Error::Closed) => break,
            Err(e) => return Err(e),
        };
        let done: Vec<Orbit> = (batch.iter())
            .map(|&(pixel, z0)| (pixel, mandelbrot(z0, orbits)))
            .collect();
        result.put(done)?;
        i += batch.len() as u64;
    }
    println!(
        "{}Processed points_processed={i} points in process {} ({:.2} seconds)",
        clear_line(),
        std::process::id(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The seed's `fill_canvas`: take computed batches until every pixel is set. When no batch
/// has come for a second, `finished()` says whether more can still come: if not, the
/// missing points never will, which is an error rather than a hang.
fn fill_canvas(
    result: &Queue<Vec<Orbit>>,
    canvas: &mut Canvas,
    mut finished: impl FnMut() -> bool,
) -> multiproc::Result<()> {
    let total = (canvas.pixdim * canvas.pixdim) as u64;
    let progress = Progress::bar(total, "points");
    let mut i = 0u64;
    while i < total {
        match result.get_timeout(Duration::from_secs(1)) {
            Ok(batch) => {
                for (pixel, orbit) in &batch {
                    canvas.set(*pixel, *orbit);
                }
                i += batch.len() as u64;
                progress.set(i);
            }
            Err(Error::Empty) if finished() && result.empty() => {
                return Err(multiproc::Error::Io(std::io::Error::other(format!(
                    "the consumers ended with {} of {total} points computed",
                    thousands(i)
                ))));
            }
            Err(Error::Empty) => {}
            Err(e) => return Err(e),
        }
    }
    progress.finish();
    println!("Filled canvas with {} points", thousands(i));
    Ok(())
}

/// Everything in this process, one stage after the other, as the seed's first run.
fn sequential(args: &Args, view: View) -> multiproc::Result<Canvas> {
    let (todo, result) = (Queue::new()?, Queue::new()?);
    let mut canvas = Canvas::blank(view.pixdim);
    let t = Instant::now();
    produce_points(&todo, view, args.batch as usize)?;
    println!("  produce_points: {:.2} s", t.elapsed().as_secs_f64());
    println!("TODO queue items: {}", todo.qsize());
    let t = Instant::now();
    process_points(&todo, &result, args.view.orbits)?;
    println!("  process_points: {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    fill_canvas(&result, &mut canvas, || true)?;
    println!("  fill_canvas:    {:.2} s", t.elapsed().as_secs_f64());
    Ok(canvas)
}

/// A producer process and `workers` consumer processes; this process fills the canvas.
fn parallel(args: &Args, view: View) -> multiproc::Result<Canvas> {
    let (todo, result) = (Queue::new()?, Queue::new()?);
    let mut canvas = Canvas::blank(view.pixdim);
    let (batch, orbits) = (args.batch as usize, args.view.orbits);
    let q = todo.clone();
    let mut processes =
        vec![Process::new(move || produce_points(&q, view, batch)).name("producer")];
    for k in 1..=args.workers {
        let (todo, result) = (todo.clone(), result.clone());
        processes.push(
            Process::new(move || process_points(&todo, &result, orbits))
                .name(format!("consumer-{k}")),
        );
    }
    multiproc::start_all(&mut processes)?;
    fill_canvas(&result, &mut canvas, || {
        // A producer that died before closing the todo queue leaves consumers waiting for
        // ever: close it for them (closing twice is harmless).
        if !processes[0].is_alive() {
            todo.close();
        }
        processes[1..].iter_mut().all(|p| !p.is_alive())
    })?;
    multiproc::join_all(&mut processes)?; // a process that failed is an error: exit 1
    println!(
        "Queue sizes: todo_left={} result_left={}",
        todo.qsize(),
        result.qsize()
    );
    Ok(canvas)
}

fn run(args: Args) -> multiproc::Result<()> {
    let png = PngFile::open(args.output.as_deref(), "mandelbrot_pipeline-")?;
    let sample = mandelbrot(Complex::new(0.0965, -0.638), 255);
    println!("mandelbrot(0.0965-0.638j) gives sample_orbit={sample}");
    let view = args.view.view();
    println!(
        "Canvas {0} x {0} around {1}{2:+}j, side {3}, {4} orbits, batches of {5}",
        view.pixdim, view.x, view.y, view.size, args.view.orbits, args.batch
    );

    println!(
        "\nSequential: every stage in this process (pid {})",
        std::process::id()
    );
    let (seq_canvas, seq) = kit::timing::timed(|| sequential(&args, view));
    let seq_canvas = seq_canvas?;

    let workers = args.workers;
    println!("\nParallel: a producer process and {workers} consumer processes");
    let (par_canvas, par) = kit::timing::timed(|| parallel(&args, view));
    let par_canvas = par_canvas?;

    let equal = seq_canvas.orbits == par_canvas.orbits;
    println!(
        "\nDoes the parallel canvas equal the sequential one? canvases_equal={equal} with \
         canvas_sha256={}",
        par_canvas.sha256()
    );
    println!(
        "Sequential sequential_seconds={} and parallel parallel_seconds={} with {workers} \
         consumers on {} CPUs give speedup={}",
        kit::timing::significant(seq.as_secs_f64(), 4),
        kit::timing::significant(par.as_secs_f64(), 4),
        multiproc::cpu::available_cpu_count(),
        kit::timing::significant(kit::timing::speedup(seq, par), 3),
    );
    let path = par_canvas.save_png(png)?;
    println!(
        "Saved the png_width={0} by png_height={0} canvas as png_path={1}",
        view.pixdim,
        path.display()
    );
    if !equal {
        return Err(multiproc::Error::Io(std::io::Error::other(
            "the canvases differ",
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
