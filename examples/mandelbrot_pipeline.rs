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
//! Run: `just run mandelbrot_pipeline` (or `cargo run --release --bin mandelbrot_pipeline`)

use clap::Parser;
use kit::workloads::{Complex, View, mandelbrot};
use multiproc::{Error, Process, Queue};
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    /// Pixels per side of the square canvas (the seed: 1600).
    #[arg(long, default_value_t = View::SEED.pixdim as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pixdim: u32,
    /// Real part of the view's centre (the seed: 0.1015).
    #[arg(long, default_value_t = View::SEED.x, allow_negative_numbers = true, value_parser = kit::cli::finite)]
    x: f64,
    /// Imaginary part of the view's centre (the seed: -0.633).
    #[arg(long, default_value_t = View::SEED.y, allow_negative_numbers = true, value_parser = kit::cli::finite)]
    y: f64,
    /// Side of the square view in the complex plane (the seed: 0.01).
    #[arg(long, default_value_t = View::SEED.size, value_parser = kit::cli::positive)]
    size: f64,
    /// Iterations before a point counts as inside the set (the seed: 255).
    #[arg(long, default_value_t = 255, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    orbits: u32,
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
    let npoints = view.pixdim * view.pixdim;
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
    println!(
        "{}Queued {} points in process {}",
        clear_line(),
        thousands(npoints as u64),
        std::process::id()
    );
    println!("points_queued={npoints}");
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
        let done: Vec<Orbit> = batch
            .iter()
            .map(|&(pixel, z0)| (pixel, mandelbrot(z0, orbits)))
            .collect();
        result.put(done)?;
        i += batch.len() as u64;
    }
    println!(
        "{}Processed {} points in process {} ({:.2} seconds)",
        clear_line(),
        thousands(i),
        std::process::id(),
        start.elapsed().as_secs_f64()
    );
    println!("points_processed={i}");
    Ok(())
}

/// A pixdim × pixdim grid of orbits, row-major.
struct Canvas {
    pixdim: usize,
    orbits: Vec<u32>,
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
    let mut progress = Progress::new("filling canvas", total);
    let mut i = 0u64;
    while i < total {
        match result.get_timeout(Duration::from_secs(1)) {
            Ok(batch) => {
                for ((row, col), orbit) in &batch {
                    canvas.orbits[*row as usize * canvas.pixdim + *col as usize] = *orbit;
                }
                i += batch.len() as u64;
                progress.update(i);
            }
            Err(Error::Empty) => {
                if finished() && result.empty() {
                    progress.finish();
                    return Err(Error::Invalid(format!(
                        "the consumers ended with {} of {total} points computed",
                        thousands(i)
                    )));
                }
            }
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
    process_points(&todo, &result, args.orbits)?;
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
    let batch = args.batch as usize;
    let q = todo.clone();
    let mut producer = Process::new(move || produce_points(&q, view, batch)).name("producer");
    producer.start()?;
    let mut consumers = Vec::new();
    for k in 1..=args.workers {
        let (todo, result, orbits) = (todo.clone(), result.clone(), args.orbits);
        let mut p = Process::new(move || process_points(&todo, &result, orbits))
            .name(format!("consumer-{k}"));
        p.start()?;
        consumers.push(p);
    }
    fill_canvas(&result, &mut canvas, || {
        // A producer that died before closing the todo queue leaves consumers waiting for
        // ever: close it for them (closing twice is harmless).
        if !producer.is_alive() {
            todo.close();
        }
        consumers.iter_mut().all(|p| !p.is_alive())
    })?;
    let mut codes = vec![producer.join()?];
    for p in &mut consumers {
        codes.push(p.join()?);
    }
    if codes.iter().any(|&c| c != 0) {
        return Err(Error::Invalid(format!(
            "a process failed: exit codes {codes:?}"
        )));
    }
    println!("Queue sizes: {}, {}", todo.qsize(), result.qsize());
    println!("todo_left={}", todo.qsize());
    println!("result_left={}", result.qsize());
    Ok(canvas)
}

impl Canvas {
    fn blank(pixdim: usize) -> Canvas {
        Canvas {
            pixdim,
            orbits: vec![0; pixdim * pixdim],
        }
    }

    fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for o in &self.orbits {
            h.update(o.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RGB pixels as matplotlib's `imshow` draws the array: values scaled from the
    /// canvas's minimum to its maximum onto the viridis colour map.
    fn rgb(&self) -> Vec<u8> {
        let lo = self.orbits.iter().copied().min().unwrap_or(0);
        let hi = self.orbits.iter().copied().max().unwrap_or(0);
        let span = f64::from(hi.saturating_sub(lo)).max(1.0);
        self.orbits
            .iter()
            .flat_map(|&o| viridis(f64::from(o - lo) / span))
            .collect()
    }

    /// Write the canvas as a PNG to `file`, opened at `path` (named in every error).
    fn save_png(&self, file: std::fs::File, path: &Path) -> multiproc::Result<()> {
        let side = self.pixdim as u32;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let png_error = |e: png::EncodingError| {
            Error::Invalid(format!("writing the PNG {}: {e}", path.display()))
        };
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.rgb()).map_err(png_error)?;
        writer.finish().map_err(png_error)
    }
}

/// matplotlib's viridis at nine evenly spaced stops, interpolated linearly.
fn viridis(t: f64) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [0x44, 0x01, 0x54],
        [0x47, 0x2d, 0x7b],
        [0x3b, 0x52, 0x8b],
        [0x2c, 0x72, 0x8e],
        [0x21, 0x91, 0x8c],
        [0x28, 0xae, 0x80],
        [0x5e, 0xc9, 0x62],
        [0xad, 0xdc, 0x30],
        [0xfd, 0xe7, 0x25],
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    label: &'static str,
    total: u64,
    shown: Option<u64>,
    draw: bool,
}

impl Progress {
    const WIDTH: u64 = 40;

    fn new(label: &'static str, total: u64) -> Progress {
        Progress {
            label,
            total: total.max(1),
            shown: None,
            draw: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, done: u64) {
        let percent = done * 100 / self.total;
        if !self.draw || self.shown == Some(percent) {
            return;
        }
        self.shown = Some(percent);
        let filled = (done * Self::WIDTH / self.total) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {percent:>3}% ({} / {} points)",
            self.label,
            "#".repeat(filled),
            " ".repeat(Self::WIDTH as usize - filled),
            thousands(done),
            thousands(self.total)
        );
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.draw && self.shown.is_some() {
            eprintln!();
        }
        self.shown = None;
    }
}

/// On a terminal, what starts a line printed by a producer or consumer: back to the start
/// of the line and clear it, so the line replaces the main process's progress bar there
/// instead of being glued to it (the bar is redrawn on the next line).
fn clear_line() -> &'static str {
    if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
        "\r\x1b[K"
    } else {
        ""
    }
}

/// `2560000` as `2,560,000`, as Python's `{:,}`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn run(args: Args) -> multiproc::Result<()> {
    let output = Output::open(&args.output)?;
    let sample = mandelbrot(Complex::new(0.0965, -0.638), 255);
    println!("mandelbrot(0.0965-0.638j) = {sample}");
    println!("sample_orbit={sample}");
    let view = View {
        pixdim: args.pixdim as usize,
        x: args.x,
        y: args.y,
        size: args.size,
    };
    println!(
        "Canvas {0} x {0} around {1}{2:+}j, side {3}, {4} orbits, batches of {5}",
        view.pixdim, view.x, view.y, view.size, args.orbits, args.batch
    );

    println!(
        "\nSequential: every stage in this process (pid {})",
        std::process::id()
    );
    let t = Instant::now();
    let seq_canvas = sequential(&args, view)?;
    let seq = t.elapsed();
    println!("Sequential total: {:.2} s", seq.as_secs_f64());

    println!(
        "\nParallel: a producer process and {} consumer processes",
        args.workers
    );
    let t = Instant::now();
    let par_canvas = parallel(&args, view)?;
    let par = t.elapsed();
    println!("Parallel total: {:.2} s", par.as_secs_f64());

    let equal = seq_canvas.orbits == par_canvas.orbits;
    println!(
        "\nThe parallel canvas {} the sequential one; speedup {:.2}x with {} consumers on {} CPUs",
        if equal { "equals" } else { "DIFFERS FROM" },
        seq.as_secs_f64() / par.as_secs_f64(),
        args.workers,
        multiproc::cpu::available_cpu_count()
    );
    println!("canvases_equal={equal}");
    println!("canvas_sha256={}", par_canvas.sha256());
    println!("sequential_seconds={:.3}", seq.as_secs_f64());
    println!("parallel_seconds={:.3}", par.as_secs_f64());
    println!("speedup={:.2}", seq.as_secs_f64() / par.as_secs_f64());

    let (file, path) = output.keep()?;
    par_canvas.save_png(file, &path)?;
    println!("Saved the canvas as {}", path.display());
    println!("png_path={}", path.display());
    println!("png_width={}", view.pixdim);
    println!("png_height={}", view.pixdim);
    if !equal {
        return Err(Error::Invalid("the canvases differ".into()));
    }
    Ok(())
}

/// The PNG's file, opened before any work so that a bad `--output` fails at once.
enum Output {
    /// `--output`: created, or emptied, as the user asked.
    Given(std::fs::File, PathBuf),
    /// The default: a new file in the temp directory (created exclusively, so never
    /// through a symlink or over someone else's file), removed if the run fails.
    Temp(tempfile::NamedTempFile),
}

impl Output {
    fn open(given: &Option<PathBuf>) -> multiproc::Result<Output> {
        let named = |path: &Path, e: std::io::Error| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", path.display()),
            ))
        };
        match given {
            Some(path) => std::fs::File::create(path)
                .map(|file| Output::Given(file, path.clone()))
                .map_err(|e| named(path, e)),
            None => {
                let dir = std::env::temp_dir();
                tempfile::Builder::new()
                    .prefix("mandelbrot_pipeline-")
                    .suffix(".png")
                    .tempfile_in(&dir)
                    .map(Output::Temp)
                    .map_err(|e| named(&dir, e))
            }
        }
    }

    /// The file to write and its path; a temp file is kept from now on.
    fn keep(self) -> multiproc::Result<(std::fs::File, PathBuf)> {
        match self {
            Output::Given(file, path) => Ok((file, path)),
            Output::Temp(temp) => temp.keep().map_err(|e| Error::Io(e.error)),
        }
    }
}

fn main() -> ExitCode {
    kit::cli::main(run)
}
