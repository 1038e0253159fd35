//! Zero-copy shared data (issue 13): the sum of 10M `u64` read in place by 2 pool workers
//! from one `SharedSlice`, against 2 threads reading the `Vec` and one serial loop (target:
//! processes / threads ≤ 1.10); and handing a 1 GiB dataset to a worker: the handle's cost
//! (a pool round trip carrying 16 bytes; target < 1 ms), against copying the gibibyte once.
//!
//! The bench process stays single-threaded whenever it forks: every pool is created (and
//! `common::assert_single_threaded` checked) before the threads of the threads column run,
//! and those are scoped, joined within each iteration.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::{Pool, SharedSlice};
use std::hint::black_box;
use std::ops::Range;

const WORKERS: usize = 2;

fn pool() -> Pool {
    common::assert_single_threaded();
    Pool::new(WORKERS).expect("pool")
}

fn sum_range((data, range): (SharedSlice<u64>, Range<usize>)) -> u64 {
    data[range].iter().sum()
}

fn len_of(data: SharedSlice<u8>) -> usize {
    data.len()
}

fn nothing(_: ()) {}

fn handing(c: &mut Criterion) {
    let bytes = common::size(1 << 30, 1 << 20) as usize;
    // Filled in place, then frozen: the pages exist before the workers are forked.
    let big = SharedSlice::<u8>::build(bytes, |s| {
        for (i, b) in s.iter_mut().enumerate() {
            *b = i as u8;
        }
    });
    let p = pool();
    let mut g = c.benchmark_group(format!("handing {} MiB to a worker", bytes >> 20));
    g.sample_size(10);
    g.bench_function("SharedSlice handle (pool round trip)", |b| {
        b.iter(|| assert_eq!(p.apply(len_of, big.clone()).unwrap(), bytes))
    });
    g.bench_function("pool round trip, no data", |b| {
        b.iter(|| p.apply(nothing, ()).unwrap())
    });
    g.bench_function("copying it once (to_vec)", |b| {
        b.iter(|| {
            let copy = black_box(&big[..]).to_vec();
            assert_eq!(copy.len(), bytes);
            copy
        })
    });
    g.finish();
    drop(p);
}

fn reduction(c: &mut Criterion) {
    let n = common::size(10_000_000, 100_000) as usize;
    let data: SharedSlice<u64> = (0..n as u64)
        .map(|x| x.wrapping_mul(2654435761) % 1000)
        .collect();
    let expected: u64 = data.iter().sum();
    let half = n.div_ceil(WORKERS);
    let mut g = c.benchmark_group("zero-copy reduction, sum of 10M u64");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.bench_function("serial", |b| {
        b.iter(|| assert_eq!(black_box(&data[..]).iter().sum::<u64>(), expected))
    });
    let p = pool();
    g.bench_function("processes, SharedSlice ranges", |b| {
        b.iter(|| {
            let parts = [(data.clone(), 0..half), (data.clone(), half..n)];
            let total: u64 = p.chunksize(1).map(sum_range, parts).unwrap().iter().sum();
            assert_eq!(total, expected)
        })
    });
    drop(p);
    let plain: &[u64] = &data;
    g.bench_function("threads", |b| {
        b.iter(|| {
            let total: u64 = std::thread::scope(|s| {
                let (a, rest) = black_box(plain).split_at(half);
                let h = s.spawn(|| a.iter().sum::<u64>());
                rest.iter().sum::<u64>() + h.join().unwrap()
            });
            assert_eq!(total, expected)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = handing, reduction
}
criterion_main!(benches);
