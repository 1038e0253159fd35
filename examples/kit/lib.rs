//! The kit the examples share, kept out of the `multiproc` library so that a program
//! depending on `multiproc` gets none of it: argument parsing and exit codes ([`cli`]),
//! timing and speedup reports ([`timing`]), the CPU-bound functions the seeds parallelise
//! ([`workloads`]), consistency checks for snapshots of shared counters ([`snapshots`]), a
//! generator seeded per child ([`rng`]); and, each behind the cargo feature of its name
//! because they need crates most examples do not, progress bars (`progress`: indicatif),
//! seed 000's directory walk (`dir_walk`, feature `walk`: walkdir, sha2) and seed 001's
//! Mandelbrot canvas with its checksum and PNG (`canvas`: png, colorous, sha2). An example
//! that needs one names it in its `required-features`; `cargo test` turns them all on.

#[cfg(feature = "canvas")]
pub mod canvas;
pub mod cli;
#[cfg(feature = "walk")]
pub mod dir_walk;
#[cfg(feature = "progress")]
pub mod progress;
pub mod rng;
pub mod snapshots;
pub mod timing;
pub mod workloads;
