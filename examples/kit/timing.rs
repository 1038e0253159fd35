//! Wall-clock timing for the examples that compare a serial run with a pooled one (Python:
//! `t = time.time(); ...; time.time() - t`, or seed 003's `Timer` class).
//!
//! Every timing example reports the same way, so their figures read alike: a human line,
//! then `serial_seconds=`, `pool_seconds=` and `speedup=` lines. Tests never assert these:
//! a speedup depends on the machine and its load, not on the code being right.
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

/// Print the comparison: one human line, then `serial_seconds=`, `pool_seconds=` and
/// `speedup=` (with `processes=`, the pool's size).
pub fn report(serial: Duration, pooled: Duration, processes: usize) {
    let s = speedup(serial, pooled);
    println!("Serial: {serial:.2?}, pool of {processes}: {pooled:.2?}, speedup {s:.2}x");
    println!("processes={processes}");
    println!("serial_seconds={:.9}", serial.as_secs_f64());
    println!("pool_seconds={:.9}", pooled.as_secs_f64());
    println!("speedup={s:.3}");
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
}
