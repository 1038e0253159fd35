//! A Pool serving an async runtime (Python docs, "Contexts and start methods"): async
//! clients on a tokio multi-thread runtime send Mandelbrot rows to a `forkserver` Pool and
//! await the results.
//!
//! Python original: an asyncio server handing CPU-bound work to processes,
//! `await loop.run_in_executor(ProcessPoolExecutor(mp_context=get_context("forkserver")), f, x)`.
//! Look for: the pattern. A `Pool` belongs to the thread that made it (it is neither `Send`
//! nor `Sync`), so one dedicated thread builds it and serves requests from a tokio channel,
//! with `apply_async` so that every client's job is in flight at once, and answers each
//! through a oneshot channel. The runtime's threads are running when the pool is built, so
//! `--start-method fork` is refused (exit code 1, the error names forkserver and spawn);
//! `forkserver` and `spawn` workers share nothing with this program but the pool's queues.
//! Every row matches the serial one (`results_ok=true`); the rows were computed by
//! `distinct_worker_pids` processes, none of them this one; up to `peak_in_flight` jobs (at
//! most one per client) were in the pool at once. The pool's thread sleeps in
//! `Pool::wait_any` while jobs are in flight; a client wakes it (`PoolWaker::wake`, which
//! any thread may call) after sending a request, so nothing polls.
//!
//! Run: `just run pool_in_tokio` (or `cargo run --release --features canvas,tokio --bin pool_in_tokio`)

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use kit::canvas::orbit_rows;
use kit::workloads::View;
use multiproc::pool::PoolWaker;
use multiproc::start::{self, StartMethod};
use multiproc::{AsyncResult, Error, Pool};
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Async clients on a tokio runtime send Mandelbrot rows to a Pool owned by one thread.
#[derive(Parser)]
struct Args {
    /// How the pool's processes start; `fork` is refused while the runtime's threads run.
    #[arg(long, default_value = "forkserver",
          value_parser = PossibleValuesParser::new(["fork", "forkserver", "spawn"])
              .map(|s| s.parse::<StartMethod>().expect("a listed method")))]
    start_method: StartMethod,
    /// Worker processes of the pool (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = kit::cli::processes)]
    workers: usize,
    /// Worker threads of the tokio runtime (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = kit::cli::usize_in(1..=64))]
    runtime_threads: usize,
    /// Concurrent async clients (1 to 1,000).
    #[arg(long, default_value_t = 8, value_parser = kit::cli::usize_in(1..=1000))]
    clients: usize,
    /// Jobs each client sends, one after the other (1 to 10,000).
    #[arg(long, default_value_t = 10, value_parser = kit::cli::usize_in(1..=10_000))]
    jobs: usize,
    /// Pixels per row, and rows, of the Mandelbrot view (1 to 10,000).
    #[arg(long, default_value_t = 400, value_parser = kit::cli::usize_in(1..=10_000))]
    width: usize,
}

/// The orbit limit of seed 001's Mandelbrot.
const ORBITS: u32 = 255;

/// What a job gives: the pid of the worker that computed it, and the row's orbits.
type Answer = multiproc::Result<(u32, Vec<u32>)>;

/// One job: row `row` of `view`. The answer goes back to the client that asked.
struct Request {
    view: View,
    row: usize,
    reply: oneshot::Sender<Answer>,
}

/// The jobs in flight, each with where its answer goes.
type Pending<'p> = Vec<(AsyncResult<'p, (u32, Vec<u32>)>, oneshot::Sender<Answer>)>;

/// The task: one row of orbits, and the pid of the worker that computed it.
fn orbit_row((view, row): (View, usize)) -> (u32, Vec<u32>) {
    (std::process::id(), orbit_rows(view, row..row + 1, ORBITS))
}

/// The pool's thread: build the pool (tell `ready` how that went, with the waker clients
/// use after each request), then serve requests, all of those received so far in flight,
/// until every client has hung up; then close the pool. Gives the most jobs that were in
/// flight at once.
fn serve(
    args: &Args,
    mut requests: mpsc::Receiver<Request>,
    ready: oneshot::Sender<multiproc::Result<PoolWaker>>,
) -> multiproc::Result<usize> {
    let built = Pool::builder()
        .processes(args.workers)
        .start_method(args.start_method)
        .build();
    let pool = match built {
        Ok(pool) => pool,
        Err(e) => {
            let _ = ready.send(Err(e)); // `run` reports it
            return Ok(0);
        }
    };
    let _ = ready.send(Ok(pool.waker()));
    let (mut pending, mut peak) = (Pending::new(), 0);
    loop {
        // Idle: sleep until a request comes (None: every client is gone).
        if pending.is_empty() {
            match requests.blocking_recv() {
                Some(r) => submit(&pool, &mut pending, r),
                None => break,
            }
        }
        while let Ok(r) = requests.try_recv() {
            submit(&pool, &mut pending, r);
        }
        peak = peak.max(pending.len());
        // Busy: sleep until a job's outcome comes in or a client's wake-up says a request
        // did, then answer every finished job.
        if !pending.is_empty() {
            pool.wait_any(None);
        }
        for (result, reply) in std::mem::take(&mut pending) {
            if result.ready() {
                let _ = reply.send(result.get());
            } else {
                pending.push((result, reply));
            }
        }
    }
    pool.close()?;
    pool.join()?;
    Ok(peak)
}

/// Submit one request, or answer it at once with the error that refused it.
fn submit<'p>(pool: &'p Pool, pending: &mut Pending<'p>, r: Request) {
    match pool.apply_async(orbit_row, (r.view, r.row)) {
        Ok(result) => pending.push((result, r.reply)),
        Err(e) => drop(r.reply.send(Err(e))),
    }
}

/// One async client: `jobs` rows, each sent and awaited in turn; (row, pid, orbits) each.
async fn client(
    id: usize,
    jobs: usize,
    view: View,
    pool: mpsc::Sender<Request>,
    waker: PoolWaker,
) -> Rows {
    let mut out = Vec::new();
    for j in 0..jobs {
        let row = (id * jobs + j) % view.pixdim;
        let (reply, answer) = oneshot::channel();
        pool.send(Request { view, row, reply })
            .await
            .map_err(|_| gone())?;
        waker.wake()?;
        let (pid, orbits) = answer.await.map_err(|_| gone())??;
        out.push((row, pid, orbits));
    }
    Ok(out)
}

/// The error when the pool's thread has ended (or panicked) before answering.
fn gone() -> Error {
    multiproc::Error::Io(std::io::Error::other("the pool's thread has ended"))
}

/// What clients got: (row, pid, orbits) for each job.
type Rows = multiproc::Result<Vec<(usize, u32, Vec<u32>)>>;

fn run(args: Args) -> multiproc::Result<()> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.runtime_threads)
        .build()
        .map_err(Error::Io)?;
    let (clients, jobs, method) = (args.clients, args.jobs, args.start_method);
    println!(
        "A tokio runtime of runtime_threads={} runs clients={clients} async clients that send \
         jobs={jobs} Mandelbrot rows each\nto a pool of workers={} processes, which its own \
         thread builds with start_method={method} while those threads run",
        runtime.metrics().num_workers(),
        args.workers
    );
    let view = View {
        pixdim: args.width,
        ..View::SEED
    };
    let (to_pool, requests) = mpsc::channel(clients);
    let (ready, pool_ready) = oneshot::channel();
    let owner = std::thread::spawn(move || serve(&args, requests, ready));
    let waker = pool_ready.blocking_recv().map_err(|_| gone())??;
    let answers: Rows = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|id| tokio::spawn(client(id, jobs, view, to_pool.clone(), waker.clone())))
            .collect();
        drop(to_pool);
        let mut all = Vec::new();
        for task in tasks {
            all.extend(
                task.await
                    .map_err(|e| multiproc::Error::Io(std::io::Error::other(e.to_string())))??,
            );
        }
        Ok(all)
    });
    // Dropping the runtime drops every client (and its sender) even after an error, so the
    // pool's thread sees the channel close and ends.
    drop(runtime);
    let peak = owner.join().map_err(|_| gone())?;
    start::shutdown();
    let (answers, peak) = (answers?, peak?);
    let results_ok = answers.len() == clients * jobs
        && answers
            .iter()
            .all(|(row, _, orbits)| *orbits == orbit_rows(view, *row..*row + 1, ORBITS));
    let pids: HashSet<u32> = answers.iter().map(|a| a.1).collect();
    let owner_served = pids.contains(&std::process::id());
    println!(
        "Every answer is in: rows={} results_ok={results_ok} (each row equal to the serial one), \
         with at most peak_in_flight={peak} jobs in flight at once\nserved by \
         distinct_worker_pids={} worker processes, owner_among_them={owner_served} (whether this \
         process computed any), in total_seconds={:.3} all told",
        answers.len(),
        pids.len(),
        started.elapsed().as_secs_f64()
    );
    if results_ok && !owner_served && !pids.is_empty() {
        Ok(())
    } else {
        Err(multiproc::Error::Io(std::io::Error::other(
            "a row was wrong, or computed in this process",
        )))
    }
}

fn main() -> ExitCode {
    // Optional (the forkserver and spawn starts call it themselves): the start server and
    // spawned children take their role before main, in the crate's constructor.
    start::init();
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
