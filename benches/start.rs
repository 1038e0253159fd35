//! Start + join per start method (`fork`, `forkserver`, `spawn`) of a task that does
//! nothing, beside raw `fork` + `_exit` + `waitpid` and `posix_spawn` of this same binary
//! (which exits at once) + `waitpid`. Python's reference (CPython, same kind of machine):
//! spawn ~50-100 ms, forkserver a few ms, fork ~2.2 ms.

mod common;

use criterion::{Criterion, criterion_group};
use multiproc::start::{self, StartMethod};

/// Set in the environment of the `posix_spawn` baseline: the child exits first thing.
const EXIT_AT_ONCE: &str = "MULTIPROC_BENCH_EXIT_AT_ONCE";

fn nothing(_: ()) {}

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
    start::shutdown();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = start_join
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
    Criterion::default().configure_from_args().final_summary();
}
