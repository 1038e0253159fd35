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

/// `CLOCK_MONOTONIC` now in nanoseconds: the form a deadline takes in shared memory (a pool
/// worker's slot), where one atomic word holds it. 0 only at the clock's very start.
pub(crate) fn now_nanos() -> u64 {
    u64::try_from(to_nanos(&now())).unwrap_or(0)
}

/// The monotonic nanosecond `nanos` from now, as [`now_nanos`] counts; `None` if it cannot
/// be represented (checked arithmetic: no deadline then).
pub(crate) fn nanos_after(nanos: u64) -> Option<u64> {
    now_nanos().checked_add(nanos)
}

/// The farthest ahead a deadline lies: 2^32 seconds, about 136 years, longer than any
/// process lives. A longer timeout is no deadline at all: it means "wait" (`None` from
/// [`Deadline::after`]), so that any `Duration` is a valid timeout, `Duration::MAX`
/// included, and no arithmetic on it can overflow.
pub(crate) const HORIZON: Duration = Duration::from_secs(1 << 32);

impl Deadline {
    /// `timeout` from now; `None`, no deadline (wait for ever), for a timeout beyond
    /// [`HORIZON`] or one whose end the clock cannot represent (checked arithmetic, as
    /// `Instant::checked_add`). Every timed API of the crate turns its timeout into a
    /// deadline here.
    pub(crate) fn after(timeout: Duration) -> Option<Deadline> {
        if timeout > HORIZON {
            return None;
        }
        let now = now();
        let mut sec = now
            .tv_sec
            .checked_add(i64::try_from(timeout.as_secs()).ok()?)?;
        // Both below 10^9: the sum fits any `tv_nsec` type.
        let mut nsec = now.tv_nsec + timeout.subsec_nanos() as rustix::time::Nsecs;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.checked_add(1)?;
        }
        Some(Deadline(Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }))
    }

    /// The end of one bounded step of a longer wait (`step` is a short constant such as
    /// `RECHECK`): [`Deadline::after`], and in the impossible case that a short step has no
    /// end, a deadline that has passed already, so the caller looks again at once.
    pub(crate) fn step(step: Duration) -> Deadline {
        Deadline::after(step).unwrap_or(Deadline(now()))
    }

    /// The deadline of an optional timeout: `None` (wait for ever) for `None` and for a
    /// timeout past [`HORIZON`].
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Option<Deadline> {
        timeout.and_then(Deadline::after)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_past_the_horizon_has_no_deadline_and_none_overflows() {
        assert!(Deadline::after(Duration::MAX).is_none());
        assert!(Deadline::after(HORIZON + Duration::from_nanos(1)).is_none());
        let far = Deadline::after(HORIZON).expect("the horizon itself is a deadline");
        assert!(far.remaining() > HORIZON - Duration::from_secs(60));
        assert!(Deadline::after(Duration::ZERO).unwrap().expired());
        assert!(Deadline::from_timeout(Some(Duration::MAX)).is_none());
        assert!(!Deadline::step(Duration::from_secs(60)).expired());
    }

    #[test]
    fn nanosecond_deadlines_are_checked_and_lie_ahead() {
        assert!(nanos_after(u64::MAX).is_none());
        let at = nanos_after(1_000_000_000).unwrap();
        assert!(at > now_nanos());
    }
}
