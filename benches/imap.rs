//! Streaming `imap`: 10^8 small items through `Pool(2).imap` in bounded memory, beside
//! `map` on the same work. One timed run per row (a run of 10^8 items takes seconds, too
//! long for criterion's samples), so read the figures as ratios within the run.
//! Targets: peak RSS of the group (owner + server + workers) under 100 MB for the 10^8
//! items, and imap's per-item cost within 2x of map's.
//!
//! `cargo bench --bench imap` measures; `cargo test --benches` runs it once, small.
//! Sizes: `IMAP_ITEMS` overrides the streamed count (default 10^8).

mod common;

use multiproc::Pool;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn inc(x: u64) -> u64 {
    black_box(x) + 1
}

/// A field of /proc/<pid>/status in KiB (VmHWM: peak resident set since start or since
/// it was last reset).
fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Reset the peak RSS of a process to its current RSS (Linux: write 5 to clear_refs).
fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn server_of(pool: &Pool) -> String {
    let worker = pool.worker_pids()[0];
    let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).expect("worker stat");
    // The fields after the name, which ends at the last ')': state, ppid, ...
    stat.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// The group's processes: this one, the pool's server and its workers.
fn group(pool: &Pool) -> Vec<String> {
    let mut pids = vec!["self".to_string(), server_of(pool)];
    pids.extend(pool.worker_pids().iter().map(u32::to_string));
    pids
}

/// Peak RSS of every process of the group, in MiB, summed.
fn group_peak_mib(pool: &Pool) -> f64 {
    group(pool)
        .iter()
        .map(|p| status_kib(p, "VmHWM:"))
        .sum::<u64>() as f64
        / 1024.0
}

struct Row {
    what: String,
    items: u64,
    took: Duration,
    peak_mib: f64,
}

impl Row {
    fn ns_per_item(&self) -> f64 {
        self.took.as_nanos() as f64 / self.items as f64
    }
}

/// One timed run of `body` over a fresh pool, with the group's peak RSS reset first.
fn run(what: &str, items: u64, body: impl FnOnce(&Pool) -> u64) -> Row {
    common::assert_single_threaded();
    let pool = Pool::new(2).expect("pool");
    for pid in group(&pool) {
        reset_peak(&pid);
    }
    let t = Instant::now();
    let sum = body(&pool);
    let took = t.elapsed();
    let peak_mib = group_peak_mib(&pool);
    // inc over 0..n sums to n(n+1)/2.
    assert_eq!(sum, items * (items + 1) / 2, "{what}: wrong results");
    pool.close().expect("close");
    pool.join().expect("join");
    Row {
        what: what.into(),
        items,
        took,
        peak_mib,
    }
}

/// The best of `reps` timed runs of `body` on one pool (for small inputs, where one run is
/// too short to time alone).
fn best_of(reps: usize, what: &str, items: u64, body: impl Fn(&Pool) -> u64) -> Row {
    common::assert_single_threaded();
    let pool = Pool::new(2).expect("pool");
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        assert_eq!(
            body(&pool),
            items * (items + 1) / 2,
            "{what}: wrong results"
        );
        best = best.min(t.elapsed());
    }
    let peak_mib = group_peak_mib(&pool);
    pool.close().expect("close");
    pool.join().expect("join");
    Row {
        what: format!("{what}, best of {reps}"),
        items,
        took: best,
        peak_mib,
    }
}

fn main() {
    let streamed = std::env::var("IMAP_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| common::size(100_000_000, 100_000));
    let sizes = [
        common::size(1_000_000, 10_000),
        common::size(10_000_000, 100_000),
    ];
    let chunk = 10_000;
    let mut rows = Vec::new();
    // map and imap on the same items, at two sizes: map holds every item, encoded chunk and
    // result at once, so its per-item cost grows with the input; imap's does not.
    // The streamed rows first: the owner's heap still holds what an earlier map freed.
    // The 10^8-item run also times each window of 10^6 results: the cheapest window is
    // the steady-state cost with the machine at its quietest during the run.
    let window = 1_000_000u64.min(streamed);
    let best_window = std::cell::Cell::new(Duration::MAX);
    rows.push(run(
        &format!("imap, chunksize {chunk} ({streamed} items)"),
        streamed,
        |p| {
            let (mut sum, mut n, mut t) = (0u64, 0u64, Instant::now());
            for r in p.chunksize(chunk).imap(inc, 0..streamed).unwrap() {
                sum += r.unwrap();
                n += 1;
                if n % window == 0 {
                    best_window.set(best_window.get().min(t.elapsed()));
                    t = Instant::now();
                }
            }
            sum
        },
    ));
    rows.push(run(
        &format!("imap_unordered, chunksize {chunk} ({streamed} items)"),
        streamed,
        |p| {
            p.chunksize(chunk)
                .imap_unordered(inc, 0..streamed)
                .unwrap()
                .map(Result::unwrap)
                .sum()
        },
    ));
    // Where map is at its cheapest: a small input (BENCHMARKS.md's pool row), best of 20.
    let small = 20_000;
    rows.push(best_of(
        20,
        &format!("map, default chunksize ({small} items)"),
        small,
        |p| p.map(inc, 0..small).unwrap().iter().sum(),
    ));
    rows.push(best_of(
        20,
        &format!("imap, chunksize {chunk} ({small} items)"),
        small,
        |p| {
            p.chunksize(chunk)
                .imap(inc, 0..small)
                .unwrap()
                .map(Result::unwrap)
                .sum()
        },
    ));
    rows.push(best_of(
        20,
        &format!("imap, chunksize 1000 ({small} items)"),
        small,
        |p| {
            p.chunksize(1000)
                .imap(inc, 0..small)
                .unwrap()
                .map(Result::unwrap)
                .sum()
        },
    ));
    for n in sizes {
        rows.push(run(
            &format!("map, default chunksize ({n} items)"),
            n,
            |p| p.map(inc, 0..n).unwrap().iter().sum(),
        ));
        rows.push(run(
            &format!("map, chunksize {chunk} ({n} items)"),
            n,
            |p| p.chunksize(chunk).map(inc, 0..n).unwrap().iter().sum(),
        ));
        rows.push(run(
            &format!("imap, chunksize {chunk} ({n} items)"),
            n,
            |p| {
                p.chunksize(chunk)
                    .imap(inc, 0..n)
                    .unwrap()
                    .map(Result::unwrap)
                    .sum()
            },
        ));
    }
    println!("Pool(2), fn inc(x: u64) -> u64, one run each:");
    for r in &rows {
        println!(
            "  {:<50} {:>9.3} s  {:>7.1} ns/item  group peak RSS {:>7.1} MiB",
            r.what,
            r.took.as_secs_f64(),
            r.ns_per_item(),
            r.peak_mib
        );
    }
    println!(
        "  imap ({streamed} items): cheapest window of {window} results {:.1} ns/item",
        best_window.get().as_nanos() as f64 / window as f64
    );
    let best_map = rows
        .iter()
        .filter(|r| r.what.starts_with("map"))
        .map(Row::ns_per_item)
        .fold(f64::INFINITY, f64::min);
    for r in rows.iter().filter(|r| r.what.starts_with("imap")) {
        println!(
            "  {}: {:.2}x the cheapest map row's per-item cost",
            r.what,
            r.ns_per_item() / best_map
        );
    }
}
