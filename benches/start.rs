//! Start + join per start method (`fork`, `forkserver`, `spawn`) of a task that does
//! nothing, beside raw `fork` + `_exit` + `waitpid` and `posix_spawn` of this same binary
//! (which exits at once) + `waitpid`. Then a `Pool(2)` per start method: create + close +
//! join, beside forking and reaping 2 raw workers; and `map` of 1,000 squares at the
//! default chunksize on a pool built once, beside the minimal raw pool. CPython's figures
//! for the same rows: `python3 python/start_methods.py`.
//!
//! Everything here runs after `start::init`, so the fork pool's queues are sealed memfds
//! too (benches/pool.rs measures the fork pool on anonymous memory).

mod common;

use common::raw::RawPool;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group};
use multiproc::Pool;
use multiproc::pool::default_chunksize;
use multiproc::start::{self, StartMethod};
use std::hint::black_box;

/// Set in the environment of the `posix_spawn` baseline: the child exits first thing.
const EXIT_AT_ONCE: &str = "MULTIPROC_BENCH_EXIT_AT_ONCE";

fn nothing(_: ()) {}

fn square(x: u64) -> u64 {
    black_box(x) * x
}

/// The `map` input: 1,000 `u64` (a handful under `cargo test --benches`).
fn map_input() -> Vec<u64> {
    (0..common::size(1000, 20)).collect()
}

/// A pool of 2 started with `method`.
fn pool(method: StartMethod) -> Pool {
    if method == StartMethod::Fork {
        common::assert_single_threaded();
    }
    Pool::builder()
        .processes(2)
        .start_method(method)
        .build()
        .expect("pool")
}

/// Spawn rows take milliseconds each: the fewest samples criterion allows, each one
/// iteration or a few, so the group stays within a few seconds.
fn slow_rows<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
}

/// Seconds per `Value::new` + drop, median of 25 runs of 1,000.
fn creation_cost() -> f64 {
    let mut runs: Vec<f64> = (0..25)
        .map(|_| {
            let t = std::time::Instant::now();
            for i in 0..1000u64 {
                drop(std::hint::black_box(multiproc::Value::new(i)));
            }
            t.elapsed().as_secs_f64() / 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn start_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("start method start+join");
    g.bench_function("raw fork+_exit+waitpid", |b| {
        b.iter(common::raw::fork_exit_wait)
    });
    g.bench_function("raw posix_spawn(/proc/self/exe)+waitpid", |b| {
        b.iter(|| {
            // std's Command uses posix_spawn here (no pre_exec, no uid changes).
            let status = std::process::Command::new("/proc/self/exe")
                .env(EXIT_AT_ONCE, "1")
                .status()
                .expect("posix_spawn");
            assert!(status.success());
        })
    });
    for method in StartMethod::ALL {
        if method == StartMethod::Spawn {
            slow_rows(&mut g);
        }
        g.bench_function(format!("multiproc {method}"), |b| {
            b.iter(|| {
                method
                    .start(nothing, ())
                    .expect("start")
                    .join()
                    .expect("join")
            })
        });
    }
    g.finish();
}

fn pool_lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("start method Pool(2) create+close+join");
    g.bench_function("raw fork 2 workers + reap", |b| {
        b.iter_custom(|iters| common::raw::time_lifecycles(iters, 2, square))
    });
    for method in StartMethod::ALL {
        if method == StartMethod::Spawn {
            slow_rows(&mut g);
        }
        g.bench_function(format!("multiproc Pool {method}"), |b| {
            b.iter(|| {
                let pool = pool(method);
                pool.close().unwrap();
                pool.join().unwrap();
            })
        });
    }
    g.finish();
}

fn pool_map(c: &mut Criterion) {
    let args = map_input();
    let want: Vec<u64> = args.iter().map(|&x| x * x).collect();
    let size = default_chunksize(args.len(), 2);
    let mut g = c.benchmark_group("start method Pool(2).map 1,000 squares");
    common::assert_single_threaded();
    let rawpool = RawPool::new(2, square);
    g.bench_function("raw pool, default chunksize", |b| {
        b.iter(|| assert_eq!(rawpool.map(&args, size), want))
    });
    rawpool.close_join();
    for method in StartMethod::ALL {
        let pool = pool(method);
        g.bench_function(format!("multiproc Pool {method}"), |b| {
            b.iter(|| assert_eq!(pool.map(square, args.iter().copied()).unwrap(), want))
        });
        pool.close().unwrap();
        pool.join().unwrap();
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = start_join, pool_lifecycle, pool_map
}

fn main() {
    if std::env::var_os(EXIT_AT_ONCE).is_some() {
        std::process::exit(0);
    }
    let program = std::env::var_os("MULTIPROC_START").is_none();
    let anonymous = program.then(creation_cost);
    // The start server and spawned children are this binary: they take over here.
    start::init();
    if let Some(anonymous) = anonymous {
        // After `init`, shared memory is a sealed memfd (one fd per object) that can travel.
        let memfd = creation_cost();
        println!(
            "Value::<u64>::new + drop: anonymous mmap {:.2} us, sealed memfd {:.2} us \
             (median of 25 runs of 1,000)",
            anonymous * 1e6,
            memfd * 1e6
        );
    }
    benches();
    start::shutdown();
    Criterion::default().configure_from_args().final_summary();
}
