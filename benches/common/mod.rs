//! What every bench shares: the raw baselines written directly on libc (the "raw baseline"
//! column of BENCHMARKS.md), quick-mode sizes, and the fork-safety check.
//!
//! Criterion is built without its rayon feature, so the bench process stays single-threaded
//! and forking in it is safe; [`assert_single_threaded`] checks that before every fork.

#![allow(dead_code)] // each bench target uses its own subset

pub mod raw;

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and then every bench
/// runs once, so it uses small sizes to stay quick in CI.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `full` under `cargo bench`, `quick` under `cargo test --benches`.
pub fn size(full: u64, quick: u64) -> u64 {
    if full_run() { full } else { quick }
}

/// Panic unless this process has exactly one thread: forking is only safe then.
pub fn assert_single_threaded() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        threads, "1",
        "the bench process must be single-threaded to fork"
    );
}

/// A criterion instance tuned for benches that fork: short warm-up, modest samples.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20)
}
