//! Helpers shared by several test targets, written once: each target takes it in with
//! `mod support;` and uses its own subset.

#![allow(dead_code)] // each target uses its own subset

use multiproc::{Condition, Event, LockError, LockResult, Process, Value};
use nix::sys::signal::{Signal, raise};
use std::time::Duration;

/// This process's resident set size, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A pool task: `x * x`, but it kills the worker running it when given 7.
pub fn square_but_die_on_7(x: u64) -> u64 {
    if x == 7 {
        let _ = raise(Signal::SIGKILL);
    }
    x * x
}

/// A pool task: records its worker's pid in `running`, sets `started`, blocks until
/// `release` is set, and returns its pid.
pub fn block_reporting_pid(shared: (Event, Event, Value<u32>)) -> u32 {
    let (started, release, running) = shared;
    running.store(std::process::id());
    started.set();
    release.wait();
    std::process::id()
}

/// The guard of a lock result, also when its last owner died holding it (the state is
/// whole in these checks: their holders only count).
pub fn guard_of<G>(r: LockResult<G>) -> G {
    match r {
        Ok(g) => g,
        Err(LockError::OwnerDied(died)) => died.into_inner(),
        Err(e) => panic!("lock failed: {e}"),
    }
}

/// `n` processes wait on `cond`; each first counts itself in `arrived` and tells the parent
/// through `arrivals`, a second condition on the same lock, so waiters never wake each
/// other; once woken, each counts itself in `woke` and tells the parent the same way.
/// Returns once all `n` are asleep in `wait` (each released the lock inside it), with the
/// `arrivals` condition.
pub fn start_waiters(cond: &Condition, n: u32, woke: &Value<u32>) -> (Vec<Process>, Condition) {
    let arrivals = Condition::with_lock(cond.get_lock());
    let arrived = Value::new(0u32);
    let ps = (0..n)
        .map(|_| {
            let (c, ar, a, w) = (
                cond.clone(),
                arrivals.clone(),
                arrived.clone(),
                woke.clone(),
            );
            Process::spawn(move || {
                let mut g = guard_of(c.lock());
                a.store(a.load() + 1);
                ar.notify_all(&g);
                g.wait().unwrap();
                w.store(w.load() + 1);
                ar.notify_all(&g);
            })
            .unwrap()
        })
        .collect();
    let mut g = guard_of(arrivals.lock());
    let all_asleep = g.wait_for(|| arrived.load() == n, Some(Duration::from_secs(60)));
    assert!(all_asleep.unwrap(), "{n} waiters asleep within a minute");
    drop(g);
    (ps, arrivals)
}
