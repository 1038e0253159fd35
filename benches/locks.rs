//! Locks and barriers: `Lock` beside a raw process-shared pthread mutex (plain and robust),
//! uncontended and with two processes incrementing a shared counter, beside an atomic
//! `fetch_add`; `Barrier` beside a raw process-shared `pthread_barrier`.
//! Targets: uncontended and locked increments at most 1.5x raw; Barrier at most 1.5x raw.

mod common;

use common::raw;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::{Barrier, Lock, Process, Value};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("lock+unlock, uncontended");
    g.throughput(Throughput::Elements(1));
    for (name, robust) in [
        ("raw pthread mutex", false),
        ("raw robust pthread mutex", true),
    ] {
        let m = raw::shared_mutex(robust);
        g.bench_function(name, |b| {
            // SAFETY: `m` is an initialised process-shared mutex in shared memory that lives for the bench.
            b.iter(|| unsafe {
                libc::pthread_mutex_lock(black_box(m));
                libc::pthread_mutex_unlock(m);
            })
        });
    }
    let lock = Lock::new();
    g.bench_function("multiproc Lock", |b| {
        b.iter(|| drop(black_box(&lock).lock()))
    });
    g.finish();
}

/// Two processes each run `body(per_process)`; the time until both are done.
fn two_processes(per: u64, body: impl Fn(u64) + Clone + 'static) -> Duration {
    let start = Instant::now();
    let mut ps: Vec<Process> = (0..2)
        .map(|_| {
            let body = body.clone();
            common::assert_single_threaded();
            Process::spawn(move || body(per)).expect("start")
        })
        .collect();
    for p in &mut ps {
        assert_eq!(p.join().expect("join"), 0);
    }
    start.elapsed()
}

fn increments(c: &mut Criterion) {
    let per = common::size(1_000_000, 10_000);
    let mut g = c.benchmark_group("2 processes x 1M increments under one lock");
    g.throughput(Throughput::Elements(2 * per));
    g.sample_size(10);

    g.bench_function("raw pthread mutex", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let m = raw::shared_mutex(false) as usize;
                    let counter = raw::shared_bytes(8) as usize;
                    // SAFETY: `m` and `counter` point to shared memory mapped for the whole bench; the counter is touched only under the mutex.
                    let t = two_processes(per, move |n| unsafe {
                        let (m, c) = (m as *mut libc::pthread_mutex_t, counter as *mut u64);
                        for _ in 0..n {
                            libc::pthread_mutex_lock(m);
                            c.write_volatile(c.read_volatile() + 1);
                            libc::pthread_mutex_unlock(m);
                        }
                    });
                    // SAFETY: both processes have ended; `counter` points to 8 mapped bytes.
                    assert_eq!(unsafe { *(counter as *const u64) }, 2 * per);
                    t
                })
                .sum()
        })
    });
    g.bench_function("multiproc Value lock", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let v = Value::new(0u64);
                    let vc = v.clone();
                    let t = two_processes(per, move |n| {
                        for _ in 0..n {
                            *vc.lock().unwrap() += 1;
                        }
                    });
                    assert_eq!(v.load(), 2 * per);
                    t
                })
                .sum()
        })
    });
    g.bench_function("atomic fetch_add", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let counter = raw::shared_bytes(8) as usize;
                    let t = two_processes(per, move |n| {
                        // SAFETY: `counter` points to 8 mapped, 8-aligned bytes that live for the bench.
                        let c = unsafe { &*(counter as *const AtomicU64) };
                        for _ in 0..n {
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    // SAFETY: both processes have ended; `counter` points to 8 mapped bytes.
                    assert_eq!(unsafe { *(counter as *const u64) }, 2 * per);
                    t
                })
                .sum()
        })
    });
    g.finish();
}

fn barrier(c: &mut Criterion) {
    let mut g = c.benchmark_group("barrier wait, 2 processes");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw pthread_barrier", |b| {
        b.iter_custom(|iters| {
            let bar = raw::shared_barrier(2) as usize;
            two_processes(iters, move |n| {
                for _ in 0..n {
                    // SAFETY: `bar` is an initialised process-shared barrier that lives for the bench.
                    unsafe { libc::pthread_barrier_wait(bar as *mut libc::pthread_barrier_t) };
                }
            })
        })
    });
    g.bench_function("multiproc Barrier", |b| {
        b.iter_custom(|iters| {
            let bar = Barrier::new(2);
            two_processes(iters, move |n| {
                for _ in 0..n {
                    bar.wait().unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = uncontended, increments, barrier
}
criterion_main!(benches);
