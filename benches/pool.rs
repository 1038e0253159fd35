//! Pool overhead: per-task cost of `Pool::map` on a trivial function with chunksize 1 and
//! with Python's default chunksize, beside a minimal raw pool (forked workers over pipes);
//! and creating, closing and joining a pool of 2 beside forking and reaping 2 workers.
//! Targets: at most 2x the raw pool for both chunk sizes; create+close+join at most 1.5x.

mod common;

use common::raw::RawPool;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::Pool;
use multiproc::pool::default_chunksize;
use std::hint::black_box;

fn inc(x: u64) -> u64 {
    black_box(x) + 1
}

fn per_task(c: &mut Criterion) {
    let tasks = common::size(20_000, 200);
    let args: Vec<u64> = (0..tasks).collect();
    let want: Vec<u64> = args.iter().map(|&x| x + 1).collect();
    let mut g = c.benchmark_group("Pool(2).map per trivial task");
    g.throughput(Throughput::Elements(tasks));
    g.sample_size(10);
    for (label, size) in [
        ("chunksize 1", 1usize),
        ("default chunksize", default_chunksize(tasks as usize, 2)),
    ] {
        common::assert_single_threaded();
        let rawpool = RawPool::new(2, inc);
        g.bench_function(format!("raw pool, {label}"), |b| {
            b.iter(|| assert_eq!(rawpool.map(&args, size), want))
        });
        rawpool.close_join();
        common::assert_single_threaded();
        let pool = Pool::new(2).expect("pool");
        g.bench_function(format!("multiproc Pool, {label}"), |b| {
            b.iter(|| {
                assert_eq!(
                    pool.chunksize(size).map(inc, args.iter().copied()).unwrap(),
                    want
                )
            })
        });
    }
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("Pool(2) create+close+join");
    g.bench_function("raw fork 2 workers + reap", |b| {
        b.iter_custom(|iters| common::raw::time_lifecycles(iters, 2, inc))
    });
    g.bench_function("multiproc Pool", |b| {
        b.iter(|| {
            common::assert_single_threaded();
            let pool = Pool::new(2).expect("pool");
            pool.close().unwrap();
            pool.join().unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = per_task, lifecycle
}
criterion_main!(benches);
