//! The kit the examples share, kept out of the `multiproc` library so that a program
//! depending on `multiproc` gets none of it: argument parsing and exit codes ([`cli`]),
//! timing and speedup reports ([`timing`]), progress bars and status lines ([`progress`]),
//! the CPU-bound functions the seeds parallelise ([`workloads`]), consistency checks for
//! snapshots of shared counters ([`snapshots`]), a generator seeded per child ([`rng`]), and seed 001's Mandelbrot canvas with its
//! checksum and PNG ([`canvas`]).

pub mod canvas;
pub mod cli;
pub mod progress;
pub mod rng;
pub mod snapshots;
pub mod timing;
pub mod workloads;
