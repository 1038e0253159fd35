//! Checking snapshots of shared counters, and barrier waits that cannot hang: the
//! bookkeeping `event_barrier_readers` needs around its lesson, kept out of its way.
//!
//! Each writer process counts in its own slot of a shared `Array<u64>`. Before it stops at
//! a barrier it [`publishes`](Snapshots::stopped) its count and a "stopped" flag; a reader's
//! copy taken after the barrier is [consistent](Snapshots::check) when every writer is
//! stopped at the count it published, and a second copy equals the first. Barrier waits go
//! through [`Snapshots::meet`], which gives up after a timeout and counts a deadlock, so a
//! broken design is reported instead of hanging the program.

use multiproc::{Array, Barrier, Error, Value};
use std::time::Duration;

/// The shared record of what writers published and what readers found. Create it before
/// the processes; clones share it.
#[derive(Clone)]
pub struct Snapshots {
    published: Array<u64>,
    stopped: Array<bool>,
    timeout: Duration,
    checked: Value<u32>,
    inconsistent: Value<u32>,
    deadlocks: Value<u32>,
}

const NO_DEATHS: &str = "no process dies holding it here";

fn count(v: &Value<u32>) {
    *v.lock().expect(NO_DEATHS) += 1;
}

impl Snapshots {
    /// For `writers` slots; barrier waits in [`meet`](Snapshots::meet) give up after
    /// `timeout`.
    pub fn new(writers: usize, timeout: Duration) -> Snapshots {
        Snapshots {
            published: Array::new(writers),
            stopped: Array::new(writers),
            timeout,
            checked: Value::new(0),
            inconsistent: Value::new(0),
            deadlocks: Value::new(0),
        }
    }

    /// Writer `id` stops counting at `count` (call before its barrier wait).
    pub fn stopped(&self, id: usize, count: u64) {
        self.published.store(id, count);
        self.stopped.store(id, true);
    }

    /// Writer `id` counts again.
    pub fn resumed(&self, id: usize) {
        self.stopped.store(id, false);
    }

    /// Copy `array`, check the copy (every writer stopped, at the count it published, and
    /// nobody moved while it was copied), count it, and print it as `reader`'s snapshot
    /// `round`. Whether it was consistent.
    pub fn check(&self, array: &Array<u64>, reader: u32, round: u32) -> bool {
        let copy = array.to_vec();
        let all_stopped =
            (0..copy.len()).all(|i| self.stopped.load(i) && self.published.load(i) == copy[i]);
        let consistent = all_stopped && array.to_vec() == copy;
        count(&self.checked);
        if !consistent {
            count(&self.inconsistent);
        }
        let total: u64 = copy.iter().sum();
        let cells: Vec<String> = copy.iter().map(|v| format!("{v}/{total}")).collect();
        println!(
            "reader {reader}, snapshot {round}: {} {}",
            cells.join(" "),
            if consistent {
                "(consistent)"
            } else {
                "(INCONSISTENT: a writer moved)"
            }
        );
        consistent
    }

    /// `barrier.wait()` for at most the timeout. On a timeout, `who` reports a deadlock,
    /// counted; `false` then, and when another process broke the barrier.
    pub fn meet(&self, barrier: &Barrier, who: &str) -> bool {
        match barrier.wait_timeout(self.timeout) {
            Ok(_) => true,
            Err(Error::Timeout) => {
                println!(
                    "{who}: waited {:?} at the barrier and nobody came: deadlock; giving up",
                    self.timeout
                );
                count(&self.deadlocks);
                false
            }
            Err(_) => false,
        }
    }

    /// Snapshots checked, how many of them were inconsistent, and barrier waits that timed
    /// out.
    pub fn totals(&self) -> (u32, u32, u32) {
        (
            self.checked.load(),
            self.inconsistent.load(),
            self.deadlocks.load(),
        )
    }
}
