//! Wall-clock timing for the examples that compare a serial run with a pooled one (Python:
//! `t = time.time(); ...; time.time() - t`, or seed 003's `Timer` class).
//!
//! Every timing example reports the same way, so their figures read alike: one sentence
//! with `serial_seconds=`, `pool_seconds=`, `processes=` and `speedup=` words, each figure
//! with [`significant`] digits (a speedup of 0.001 reads `0.00100`, not `0.00`). Tests
//! never assert these: a speedup depends on the machine and its load, not on the code
//! being right.
//!
//! Time only what the scenario does, and keep its inputs opaque to the optimiser
//! (`std::hint::black_box`): the compiler may otherwise evaluate a serial loop at compile
//! time, and the "speedup" then compares a constant with real work.

use std::time::{Duration, Instant};

/// Run `f` and measure it: its result and the wall time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// How many times faster `parallel` was than `serial` (below 1: slower).
pub fn speedup(serial: Duration, parallel: Duration) -> f64 {
    serial.as_secs_f64() / parallel.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// `x` with `digits` significant digits (at least 1), in plain decimal notation:
/// `significant(0.001234, 3) == "0.00123"`, `significant(1234.4, 3) == "1234"` (never fewer
/// digits than the integer part has), `significant(0.0, 3) == "0"`.
pub fn significant(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i64;
    let decimals = (digits.max(1) as i64 - 1 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Print the comparison as one sentence: `serial_seconds=`, `pool_seconds=`, `processes=`
/// (the pool's size) and `speedup=`, each with four significant digits.
pub fn report(serial: Duration, pooled: Duration, processes: usize) {
    let s = speedup(serial, pooled);
    println!(
        "Serial serial_seconds={} and pooled pool_seconds={} over processes={processes} \
         give speedup={} (times faster)",
        significant(serial.as_secs_f64(), 4),
        significant(pooled.as_secs_f64(), 4),
        significant(s, 3),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedup_is_the_ratio_and_survives_a_zero_time() {
        let s = speedup(Duration::from_millis(300), Duration::from_millis(100));
        assert!((s - 3.0).abs() < 1e-9);
        assert!(speedup(Duration::from_millis(1), Duration::ZERO).is_finite());
        let (v, d) = timed(|| 6 * 7);
        assert_eq!(v, 42);
        assert!(d < Duration::from_secs(5));
    }

    #[test]
    fn significant_keeps_the_digits_that_matter() {
        assert_eq!(significant(0.001, 3), "0.00100");
        assert_eq!(significant(0.001234, 3), "0.00123");
        assert_eq!(significant(2.0, 3), "2.00");
        assert_eq!(significant(12.345, 3), "12.3");
        assert_eq!(significant(1234.5, 3), "1234");
        assert_eq!(significant(0.0, 3), "0");
        assert_eq!(significant(-0.5, 2), "-0.50");
    }
}
