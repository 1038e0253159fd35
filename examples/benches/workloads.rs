//! The seeds' workloads, serial vs processes (`Pool` of 2) vs threads (2 scoped threads),
//! side by side: seed 004's sum of squares, seed 001's Mandelbrot at 400x400 and
//! 1600x1600 (255 orbits), and seed 003's parallel reduction (chunks shipped to the
//! workers, as the seed does, and chunks read from a shared `Array`).
//! Target: processes at least 1.7x serial on 2 cores, and within 10% of threads.

// The benches' shared baselines and sizes live with the library's benches.
#[path = "../../benches/common/mod.rs"]
mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kit::workloads::{View, mandelbrot, sum_of_squares};
use multiproc::{Array, Pool};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

const WORKERS: usize = 2;

fn pool() -> Pool {
    common::assert_single_threaded();
    Pool::new(WORKERS).expect("pool")
}

fn sum_squares(c: &mut Criterion) {
    let n = common::size(10_000, 200);
    let mut g = c.benchmark_group("sum of squares (seed 004)");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    let expected: u64 = (0..n).map(sum_of_squares).sum();
    g.bench_function("serial", |b| {
        b.iter(|| assert_eq!((0..black_box(n)).map(sum_of_squares).sum::<u64>(), expected))
    });
    let p = pool();
    g.bench_function("processes", |b| {
        b.iter(|| {
            assert_eq!(
                p.map(sum_of_squares, 0..black_box(n))
                    .unwrap()
                    .iter()
                    .sum::<u64>(),
                expected
            )
        })
    });
    drop(p);
    g.bench_function("threads", |b| {
        b.iter(|| {
            let total: u64 = std::thread::scope(|s| {
                let half = n / 2;
                let h = s.spawn(move || (0..half).map(sum_of_squares).sum::<u64>());
                let rest: u64 = (half..n).map(sum_of_squares).sum();
                rest + h.join().unwrap()
            });
            assert_eq!(total, expected)
        })
    });
    g.finish();
}

fn mandel_row(arg: (View, usize)) -> Vec<u32> {
    let (view, row) = arg;
    (0..view.pixdim)
        .map(|col| mandelbrot(view.point(row, col), black_box(255)))
        .collect()
}

fn mandel(c: &mut Criterion) {
    for pixdim in [400usize, 1600] {
        let pixdim = if common::full_run() {
            pixdim
        } else {
            pixdim / 20
        };
        let view = View {
            pixdim,
            ..View::SEED
        };
        let rows: Vec<(View, usize)> = (0..pixdim).map(|r| (view, r)).collect();
        let expected: Vec<Vec<u32>> = rows.iter().map(|&a| mandel_row(a)).collect();
        let mut g = c.benchmark_group(format!(
            "Mandelbrot {pixdim}x{pixdim}, 255 orbits (seed 001)"
        ));
        g.throughput(Throughput::Elements((pixdim * pixdim) as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("serial", pixdim), &rows, |b, rows| {
            b.iter(|| {
                let canvas: Vec<Vec<u32>> = rows.iter().map(|&a| mandel_row(a)).collect();
                assert!(canvas == expected)
            })
        });
        let p = pool();
        g.bench_with_input(BenchmarkId::new("processes", pixdim), &rows, |b, rows| {
            b.iter(|| {
                let canvas = p
                    .chunksize(1)
                    .map(mandel_row, rows.iter().copied())
                    .unwrap();
                assert!(canvas == expected)
            })
        });
        drop(p);
        g.bench_with_input(BenchmarkId::new("threads", pixdim), &rows, |b, rows| {
            b.iter(|| {
                // Dynamic scheduling, like the pool's: each thread takes the next row.
                let next = AtomicUsize::new(0);
                let mut canvas: Vec<(usize, Vec<u32>)> = std::thread::scope(|s| {
                    let work = || {
                        let mut mine = Vec::new();
                        loop {
                            let r = next.fetch_add(1, Ordering::Relaxed);
                            if r >= rows.len() {
                                return mine;
                            }
                            mine.push((r, mandel_row(rows[r])));
                        }
                    };
                    let h = s.spawn(work);
                    let mut all = work();
                    all.extend(h.join().unwrap());
                    all
                });
                canvas.sort_unstable_by_key(|(r, _)| *r);
                assert!(
                    canvas
                        .into_iter()
                        .map(|(_, v)| v)
                        .eq(expected.iter().cloned())
                )
            })
        });
        g.finish();
    }
}

fn sum_chunk(chunk: Vec<u64>) -> u64 {
    chunk.iter().sum()
}

fn sum_shared(arg: (Array<u64>, usize, usize)) -> u64 {
    let (data, from, to) = arg;
    (from..to).map(|i| data.load(i)).sum()
}

fn reduction(c: &mut Criterion) {
    let n = common::size(10_000_000, 100_000) as usize;
    let data: Vec<u64> = (0..n as u64)
        .map(|x| x.wrapping_mul(2654435761) % 1000)
        .collect();
    let expected: u64 = data.iter().sum();
    let chunk = n.div_ceil(WORKERS);
    let mut g = c.benchmark_group("parallel reduction (seed 003)");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("serial", |b| {
        b.iter(|| assert_eq!(black_box(&data).iter().sum::<u64>(), expected))
    });
    let shared = Array::<u64>::from_slice(&data);
    let p = pool();
    g.bench_function("processes, chunks shipped (the seed)", |b| {
        b.iter(|| {
            let chunks: Vec<Vec<u64>> = data.chunks(chunk).map(<[u64]>::to_vec).collect();
            let total: u64 = p.imap(sum_chunk, chunks).unwrap().map(|r| r.unwrap()).sum();
            assert_eq!(total, expected)
        })
    });
    g.bench_function("processes, shared Array", |b| {
        b.iter(|| {
            let parts: Vec<(Array<u64>, usize, usize)> = (0..n)
                .step_by(chunk)
                .map(|f| (shared.clone(), f, (f + chunk).min(n)))
                .collect();
            let total: u64 = p.imap(sum_shared, parts).unwrap().map(|r| r.unwrap()).sum();
            assert_eq!(total, expected)
        })
    });
    drop(p);
    g.bench_function("threads", |b| {
        b.iter(|| {
            let total: u64 = std::thread::scope(|s| {
                let (a, rest) = data.split_at(chunk);
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
    targets = sum_squares, mandel, reduction
}
criterion_main!(benches);
