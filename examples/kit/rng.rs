//! A random-number generator for a child process.

use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};

/// A random-number generator seeded from the operating system, for use inside a child.
///
/// rand's `rand::rng()` (the thread RNG) is not reseeded after `fork` (since rand 0.9): two
/// children of a parent that had used it draw the same numbers. Seed each child its own
/// (Python reseeds `random` in a forked child; Rust's crates leave it to the program).
pub fn fresh_rng() -> StdRng {
    StdRng::try_from_rng(&mut SysRng).expect("OS entropy is available")
}
