//! `ProcessPoolExecutor` beside the `Pool` it is built on, each question one criterion group
//! measured side by side in one run (both sides on pools of 2 workers):
//! - round trip of a trivial task: `executor.submit(f, x)?.result()` vs `pool.apply(f, x)`,
//!   target at most 1.25x;
//! - `submit` then `.await` on a current-thread `block_on` (written here: no runtime is a
//!   dependency) vs `pool.apply`, target at most 1.3x;
//! - throughput: 64 async submitters each submitting and awaiting 1,000 trivial tasks, driven
//!   by one `block_on` over a `join_all` written here, vs `pool.chunksize(1).map` of 64,000
//!   items, target at least 0.8x the map's throughput; beside them, the same tasks as 1,000
//!   waves of 64 submits, each wave awaited by one `join_all` or waited for by `result()`
//!   (on the executor whose collector thread runs, and on one that never started it);
//! - waiting costs nothing: the owner's CPU time (`getrusage(RUSAGE_SELF)`, every thread of
//!   this process) while it waits for one 2 s task, by `result()` and by `.await`, target
//!   under 10 ms. Not a criterion group (one 2 s wait per figure); printed after the groups.
//!
//! After the groups, the first three ratios again with the two sides alternating in short
//! blocks (medians over the blocks), which a burst of load from elsewhere hits alike.
//!
//! `cargo bench --bench executor` measures; `cargo test --benches` runs each once, small
//! (64 x 10 tasks, a 0.2 s task for the CPU figure).
//!
//! The pool and both executors are made first, while this process is single-threaded (all
//! fork); the first `.await` that finds its result not in starts the executor's collector
//! thread, so nothing forks after it.

mod common;

use criterion::{Criterion, Throughput, criterion_group};
use multiproc::Pool;
use multiproc::executor::ProcessPoolExecutor;
use nix::sys::resource::{UsageWho, getrusage};
use std::hint::black_box;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn inc(x: u64) -> u64 {
    black_box(x) + 1
}

/// A task that sleeps `ms` milliseconds in its worker.
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Run `future` to completion on this thread: poll, and park until woken (what
/// `pollster::block_on` or `futures::executor::block_on` do), as tests/executor.rs does.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The children woken since the last poll of a [`JoinAll`], and the waker of whoever polls it.
#[derive(Default)]
struct Woken {
    children: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

/// One child's waker: note the child as woken, then wake the parent.
struct ChildWaker {
    index: usize,
    woken: Arc<Woken>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let w = &self.woken;
        w.children
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.index);
        if let Some(parent) = &*w.parent.lock().unwrap_or_else(PoisonError::into_inner) {
            parent.wake_by_ref();
        }
    }
}

/// Every future of a set run concurrently, outputs in their order (what `futures::join_all`
/// does): each child has its own waker, so a wake-up polls only the children woken.
struct JoinAll<F: std::future::Future> {
    futures: Vec<Option<Pin<Box<F>>>>,
    outputs: Vec<Option<F::Output>>,
    wakers: Vec<Waker>,
    woken: Arc<Woken>,
    left: usize,
}

fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> JoinAll<F> {
    let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let woken = Arc::new(Woken::default());
    let n = futures.len();
    *woken.children.lock().unwrap() = (0..n).collect(); // poll every child once
    JoinAll {
        wakers: (0..n)
            .map(|index| {
                Waker::from(Arc::new(ChildWaker {
                    index,
                    woken: woken.clone(),
                }))
            })
            .collect(),
        outputs: (0..n).map(|_| None).collect(),
        futures,
        woken,
        left: n,
    }
}

impl<F: std::future::Future<Output: Unpin>> std::future::Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let this = self.get_mut();
        {
            let mut parent = this.woken.parent.lock().unwrap();
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        loop {
            let woken = std::mem::take(&mut *this.woken.children.lock().unwrap());
            if woken.is_empty() {
                break;
            }
            for i in woken {
                let Some(f) = this.futures[i].as_mut() else {
                    continue; // done already: a late wake
                };
                if let Poll::Ready(out) = f.as_mut().poll(&mut Context::from_waker(&this.wakers[i]))
                {
                    this.outputs[i] = Some(out);
                    this.futures[i] = None;
                    this.left -= 1;
                }
            }
        }
        if this.left == 0 {
            Poll::Ready(this.outputs.iter_mut().map(|o| o.take().unwrap()).collect())
        } else {
            Poll::Pending
        }
    }
}

/// CPU time of this process so far (user + system, every thread).
fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

/// Time `ours` and `baseline` (each gives its time per task for one block) alternately,
/// `rounds` times each, and print their medians and the ratio of the medians.
fn interleaved(
    what: &str,
    rounds: usize,
    mut baseline: impl FnMut() -> Duration,
    mut ours: impl FnMut() -> Duration,
) {
    let (mut b, mut o) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        b.push(baseline());
        o.push(ours());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (mb, mo) = (median(&mut b), median(&mut o));
    println!(
        "executor interleaved ({rounds} alternating blocks): {what}: {:.2} us / {:.2} us = {:.2}x",
        mo.as_secs_f64() * 1e6,
        mb.as_secs_f64() * 1e6,
        mo.as_secs_f64() / mb.as_secs_f64()
    );
}

fn executor_benches(c: &mut Criterion) {
    common::assert_single_threaded();
    let pool = Pool::new(2).expect("pool");
    common::assert_single_threaded();
    let ex = ProcessPoolExecutor::new(2).expect("executor");
    // Never awaited and never given a callback, so it never starts a collector thread:
    // its `result()` row shows what the waiter collecting by itself costs.
    common::assert_single_threaded();
    let ex_no_collector = ProcessPoolExecutor::new(2).expect("executor");

    // 1. Round trip, waited for by `result()` (no thread: the waiter collects).
    let mut g = c.benchmark_group("executor round trip per trivial task");
    g.sample_size(20);
    let mut x = 0u64;
    g.bench_function("Pool(2).apply", |b| {
        b.iter(|| {
            x += 1;
            assert_eq!(pool.apply(inc, x).unwrap(), x + 1)
        })
    });
    g.bench_function("ProcessPoolExecutor(2).submit + result", |b| {
        b.iter(|| {
            x += 1;
            assert_eq!(ex.submit(inc, x).unwrap().result().unwrap(), x + 1)
        })
    });
    g.finish();

    // 2. Round trip, awaited on this thread: the collector thread wakes it.
    let mut g = c.benchmark_group("executor submit + await per trivial task");
    g.sample_size(20);
    g.bench_function("Pool(2).apply", |b| {
        b.iter(|| {
            x += 1;
            assert_eq!(pool.apply(inc, x).unwrap(), x + 1)
        })
    });
    g.bench_function("ProcessPoolExecutor(2).submit + block_on(.await)", |b| {
        b.iter(|| {
            x += 1;
            assert_eq!(block_on(ex.submit(inc, x).unwrap()).unwrap(), x + 1)
        })
    });
    g.finish();

    // 3. Throughput: 64 concurrent submitters against one map of as many items.
    let submitters = 64u64;
    let each = common::size(1_000, 10);
    let items = submitters * each;
    let args: Vec<u64> = (0..items).collect();
    let want_sum: u64 = args.iter().map(|&a| a + 1).sum();
    let mut g = c.benchmark_group("executor throughput, 64 submitters vs map");
    g.throughput(Throughput::Elements(items));
    g.sample_size(10);
    g.bench_function(format!("Pool.chunksize(1).map of {items}"), |b| {
        b.iter(|| {
            let out = pool.chunksize(1).map(inc, args.iter().copied()).unwrap();
            assert_eq!(out.iter().sum::<u64>(), want_sum)
        })
    });
    g.bench_function(format!("executor: 64 async submitters x {each}"), |b| {
        b.iter(|| {
            let ex = &ex;
            let sums = block_on(join_all((0..submitters).map(|s| async move {
                let mut sum = 0;
                for i in 0..each {
                    sum += ex.submit(inc, s * each + i).unwrap().await.unwrap();
                }
                sum
            })));
            assert_eq!(sums.iter().sum::<u64>(), want_sum)
        })
    });
    // The other shape the question allows: 64 futures submitted in a wave, then the wave
    // awaited (one `join_all`) or waited for by `result()` in turn (no collector thread
    // involved in the hand-over: the waiter collects), then the next wave.
    g.bench_function(format!("executor: {each} waves of 64, join_all"), |b| {
        b.iter(|| {
            let mut sum = 0;
            for w in 0..each {
                let wave: Vec<_> = (0..submitters)
                    .map(|s| ex.submit(inc, w * submitters + s).unwrap())
                    .collect();
                sum += block_on(join_all(wave))
                    .into_iter()
                    .map(Result::unwrap)
                    .sum::<u64>();
            }
            assert_eq!(sum, want_sum)
        })
    });
    // Waves of 64 submitted, then each future's `result()` in turn, on executor `on`.
    let waves_by_result = |on: &ProcessPoolExecutor| {
        let mut sum = 0;
        for w in 0..each {
            let wave: Vec<_> = (0..submitters)
                .map(|s| on.submit(inc, w * submitters + s).unwrap())
                .collect();
            sum += wave.iter().map(|f| f.result().unwrap()).sum::<u64>();
        }
        assert_eq!(sum, want_sum)
    };
    g.bench_function(
        format!("executor: {each} waves of 64, result(), collector on"),
        |b| b.iter(|| waves_by_result(&ex)),
    );
    g.bench_function(
        format!("executor: {each} waves of 64, result(), no collector"),
        |b| b.iter(|| waves_by_result(&ex_no_collector)),
    );
    g.finish();

    // 3b. The same three ratios, robust to a loaded machine: the two sides alternate in
    // short blocks, so a burst of load from elsewhere hits both; medians over the blocks.
    let (rounds, block) = (common::size(30, 2) as usize, common::size(200, 5));
    let apply = || {
        let t = Instant::now();
        for x in 0..block {
            assert_eq!(pool.apply(inc, x).unwrap(), x + 1);
        }
        t.elapsed() / block as u32
    };
    interleaved(
        "round trip: submit + result(), no collector / Pool.apply",
        rounds,
        apply,
        || {
            let t = Instant::now();
            for x in 0..block {
                assert_eq!(
                    ex_no_collector.submit(inc, x).unwrap().result().unwrap(),
                    x + 1
                );
            }
            t.elapsed() / block as u32
        },
    );
    // Fewer and shorter blocks: with the collector running, a lone result() was seen to
    // take ~20 ms (see BENCHMARKS.md).
    let short = common::size(10, 2);
    interleaved(
        "round trip: submit + result(), collector running / Pool.apply",
        common::size(5, 1) as usize,
        apply,
        || {
            let t = Instant::now();
            for x in 0..short {
                assert_eq!(ex.submit(inc, x).unwrap().result().unwrap(), x + 1);
            }
            t.elapsed() / short as u32
        },
    );
    interleaved(
        "round trip: submit + block_on(.await) / Pool.apply",
        rounds,
        apply,
        || {
            let t = Instant::now();
            for x in 0..block {
                assert_eq!(block_on(ex.submit(inc, x).unwrap()).unwrap(), x + 1);
            }
            t.elapsed() / block as u32
        },
    );
    let small_each = common::size(50, 2);
    let small: Vec<u64> = (0..submitters * small_each).collect();
    interleaved(
        "per task: 64 async submitters / Pool.chunksize(1).map",
        common::size(20, 1) as usize,
        || {
            let t = Instant::now();
            let out = pool.chunksize(1).map(inc, small.iter().copied()).unwrap();
            assert_eq!(out.len(), small.len());
            t.elapsed() / small.len() as u32
        },
        || {
            let t = Instant::now();
            let ex = &ex;
            let sums = block_on(join_all((0..submitters).map(|s| async move {
                let mut sum = 0;
                for i in 0..small_each {
                    sum += ex.submit(inc, s * small_each + i).unwrap().await.unwrap();
                }
                sum
            })));
            assert_eq!(sums.len(), submitters as usize);
            t.elapsed() / small.len() as u32
        },
    );

    // 4. Waiting costs nothing: owner CPU over one long task (printed, not a group).
    let ms = common::size(2_000, 200);
    for how in ["result()", ".await"] {
        let (t0, c0) = (Instant::now(), cpu_time());
        let f = ex.submit(nap, ms).unwrap();
        let got = if how == "result()" {
            f.result().unwrap()
        } else {
            block_on(f).unwrap()
        };
        let (took, cpu) = (t0.elapsed(), cpu_time() - c0);
        assert_eq!(got, ms);
        println!(
            "executor waiting: owner CPU while waiting by {how} for one {ms} ms task: \
             {:.3} ms over {:.3} s (target < 10 ms)",
            cpu.as_secs_f64() * 1e3,
            took.as_secs_f64()
        );
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = executor_benches
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
