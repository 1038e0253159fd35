//! Absolute deadlines on `CLOCK_MONOTONIC`, the clock every timed wait here uses, so that a
//! change of the wall clock can neither stretch nor cut a timeout.

use std::time::Duration;

/// A point in time on `CLOCK_MONOTONIC`, usable by futexes and pthread calls in any process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(libc::timespec);

fn now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

fn to_nanos(ts: &libc::timespec) -> i128 {
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

impl Deadline {
    /// `timeout` from now. Very long timeouts saturate instead of overflowing.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        let t = to_nanos(&now()) + timeout.as_nanos().min(i64::MAX as u128 / 2) as i128;
        Deadline(libc::timespec {
            tv_sec: (t / 1_000_000_000) as libc::time_t,
            tv_nsec: (t % 1_000_000_000) as libc::c_long,
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

    pub(crate) fn as_timespec(&self) -> &libc::timespec {
        &self.0
    }
}
