//! The speedups the pool examples print are true: with one worker, about 1. A target of its
//! own, so no other test's processes run beside these timings (cargo runs one test binary
//! at a time; the tests of one binary run in parallel). Speeds themselves are never
//! asserted elsewhere.

use harness::example;

/// The `key=` seconds a run printed (a `,` `;` or `:` right after the value ends the clause).
fn seconds(run: &harness::Run, key: &str) -> f64 {
    let prefix = format!("{key}=");
    let stdout = run.stdout();
    let value = (stdout.split_whitespace())
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix} in the output"))
        .trim_end_matches([',', ';', ':']);
    value
        .parse()
        .unwrap_or_else(|e| panic!("{key}={value}: {e}"))
}

/// The speedup of five runs' best times: the least `serial` seconds over the least `pooled`
/// seconds. A load burst on a shared machine only ever slows a phase down, so the fastest
/// run of each phase is its time without the burst (one run's own ratio, or a median of
/// them, moved to 1.6 here while other builds ran).
fn calm_speedup(runs: impl Fn() -> harness::Run, serial: &str, pooled: &str) -> f64 {
    let (mut best_serial, mut best_pooled) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        let run = runs();
        run.expect_success();
        best_serial = best_serial.min(seconds(&run, serial));
        best_pooled = best_pooled.min(seconds(&run, pooled));
    }
    best_serial / best_pooled
}

/// With one worker a pool does the serial loop's work in one other process, so the speedup
/// an example prints is about 1: its serial baseline runs the very code the worker runs
/// (a baseline compiled differently once printed 2.0-2.7 here). The bound is loose enough
/// for a loaded 2-core machine and tight enough to catch a 2x lie; it is checked on each
/// phase's best of five runs. (mandelbrot_pipeline is left out: its producer process works
/// beside the one consumer, so its speedup with one consumer is rightly above 1 in a debug
/// build.)
#[test]
fn one_worker_prints_a_speedup_of_about_one() {
    let sum = calm_speedup(
        || {
            example!("pool_map_sum")
                .args(["--workers", "1", "--n", "1000"])
                .run()
        },
        "serial_seconds",
        "pool_seconds",
    );
    assert!(
        (0.5..=1.5).contains(&sum),
        "pool_map_sum --workers 1: speedup {sum}"
    );
    let canvas = calm_speedup(
        || {
            example!("mandelbrot_canvas")
                .args(["--workers", "1", "--pixdim", "200"])
                .run()
        },
        "sequential_seconds",
        "pool_seconds",
    );
    assert!(
        (0.5..=1.5).contains(&canvas),
        "mandelbrot_canvas --workers 1: speedup {canvas}"
    );
}
