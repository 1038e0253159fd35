//! A process pool serving an async runtime (Python: `await loop.run_in_executor(
//! ProcessPoolExecutor(mp_context=get_context("forkserver")), f, x)`): async clients on
//! `#[tokio::main]` send Mandelbrot rows to a `ProcessPoolExecutor` and `.await` each one.
//! Look for: each client holds a clone of the executor and awaits its futures (no pool
//! thread, no channels); `fork` is refused beside the runtime's threads (exit 1, naming
//! forkserver and spawn); every row equals the serial one, none computed in this process.
//!
//! Run: `just run pool_in_tokio` (or `cargo run --release --features canvas,tokio --bin pool_in_tokio`)

use clap::Parser;
use kit::{canvas::orbit_rows, workloads::View};
use multiproc::{Pool, ProcessPoolExecutor, start::StartMethod};
use std::{collections::HashSet, process::ExitCode};

/// Async clients on a tokio runtime await Mandelbrot rows from a process pool executor.
#[derive(Parser, Clone, Copy)]
struct Args {
    /// How the workers start: fork, forkserver or spawn (fork is refused beside threads).
    #[arg(long, default_value = "forkserver")]
    start_method: StartMethod,
    /// Worker processes (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = kit::cli::processes)]
    workers: usize,
    /// Concurrent async clients (1 to 1,000).
    #[arg(long, default_value_t = 8, value_parser = kit::cli::usize_in(1..=1000))]
    clients: usize,
    /// Rows each client asks for, one after the other (1 to 10,000).
    #[arg(long, default_value_t = 10, value_parser = kit::cli::usize_in(1..=10_000))]
    jobs: usize,
}

/// Row `row` of seed 001's Mandelbrot view, 200 pixels wide, at 255 orbits.
fn orbits(row: usize) -> Vec<u32> {
    orbit_rows(
        View {
            pixdim: 200,
            ..View::SEED
        },
        row..row + 1,
        255,
    )
}

/// The task: one row, and the pid of the worker that computed it.
fn orbit_row(row: usize) -> (u32, Vec<u32>) {
    (std::process::id(), orbits(row))
}

/// One client: its rows, each submitted and awaited in turn, as (row, pid, orbits).
async fn client(id: usize, a: Args, ex: ProcessPoolExecutor) -> multiproc::Result<Rows> {
    let mut rows = Vec::new();
    for row in (0..a.jobs).map(|j| (id * a.jobs + j) % 200) {
        let (pid, orbits) = ex.submit(orbit_row, row)?.await?;
        rows.push((row, pid, orbits));
    }
    Ok(rows)
}

type Rows = Vec<(usize, u32, Vec<u32>)>;

#[tokio::main]
async fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => kit::cli::fail("a row was wrong, or computed in this process"),
        Err(e) => kit::cli::fail(e),
    }
}

async fn run(a: Args) -> multiproc::Result<bool> {
    let t = tokio::runtime::Handle::current().metrics().num_workers();
    let (c, j, m, w) = (a.clients, a.jobs, a.start_method, a.workers);
    println!("runtime_threads={t} clients={c} jobs={j} workers={w} start_method={m}");
    let builder = Pool::builder().processes(w);
    let ex = builder.start_method(m).build_executor()?;
    let spawn = |id| tokio::spawn(client(id, a, ex.clone()));
    let mut rows = Rows::new();
    for client in (0..c).map(spawn).collect::<Vec<_>>() {
        rows.extend(client.await.expect("a client panicked")?);
    }
    let ok = rows.len() == c * j && rows.iter().all(|(r, _, o)| *o == orbits(*r));
    let pids: HashSet<u32> = rows.iter().map(|r| r.1).collect();
    let (n, p, mine) = (rows.len(), pids.len(), pids.contains(&std::process::id()));
    println!("rows={n} results_ok={ok} distinct_worker_pids={p} owner_among_them={mine}");
    drop(ex); // the workers end with the executor; the start server with `shutdown`
    multiproc::start::shutdown();
    Ok(ok && !mine)
}
