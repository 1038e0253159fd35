//! Absolute deadlines on `CLOCK_MONOTONIC`, the clock every timed wait here uses, so that a
//! change of the wall clock can neither stretch nor cut a timeout.

use rustix::time::{ClockId, Timespec};
use std::time::Duration;

/// A point in time on `CLOCK_MONOTONIC`, usable by futexes and pthread calls in any process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Timespec);

/// `CLOCK_MONOTONIC` now (through the vDSO: no system call).
fn now() -> Timespec {
    rustix::time::clock_gettime(ClockId::Monotonic)
}

fn to_nanos(ts: &Timespec) -> i128 {
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

impl Deadline {
    /// `timeout` from now. Very long timeouts saturate instead of overflowing.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        let t = to_nanos(&now()) + timeout.as_nanos().min(i64::MAX as u128 / 2) as i128;
        Deadline(Timespec {
            tv_sec: (t / 1_000_000_000) as _,
            tv_nsec: (t % 1_000_000_000) as _,
        })
    }

    /// `Some(deadline)` for `Some(timeout)`, `None` (wait forever) otherwise.
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Option<Deadline> {
        timeout.map(Deadline::after)
    }

    /// Time left, zero once passed.
    pub(crate) fn remaining(&self) -> Duration {
        let left = to_nanos(&self.0) - to_nanos(&now());
        Duration::from_nanos(left.max(0) as u64)
    }

    pub(crate) fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Sleep until the deadline has passed.
    pub(crate) fn sleep_until(&self) {
        loop {
            let left = self.remaining();
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left);
        }
    }

    /// The deadline as the futex calls take it.
    pub(crate) fn as_timespec(&self) -> &Timespec {
        &self.0
    }

    /// The deadline as libc's pthread calls take it.
    pub(crate) fn as_libc_timespec(&self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.0.tv_sec as libc::time_t,
            tv_nsec: self.0.tv_nsec as libc::c_long,
        }
    }
}
