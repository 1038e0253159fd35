//! Test harness for multiproc's example programs.
//!
//! [`Example`] runs one example binary in a process group of its own, with a timeout that
//! kills the whole group (assert_cmd's timeout kills only the direct child, and a worker
//! still holding the stdout pipe would then block the test). After the run it checks that
//! nothing of that group is left, alive or zombie: an example that leaks a process fails.
//!
//! [`Run`] gives stdout, stderr and the status for assert_cmd/predicates, and parses the
//! `key=value` words examples print for checking, anywhere in a sentence (see [`pairs_in`]).
//!
//! [`catalogue`] reads the example catalogue from examples/Cargo.toml and renders the README
//! table; [`python_table`] renders the README copy of the Python → Rust table from
//! src/python.md.

pub mod catalogue;
pub mod forked;
mod group;
pub mod python_table;
mod run;

pub use run::{Example, Run, Running, pairs_in};

/// An [`Example`] for the binary target `name` of the package under test, located at
/// compile time through `CARGO_BIN_EXE_<name>` (so a typo fails to compile).
#[macro_export]
macro_rules! example {
    ($name:literal) => {
        $crate::Example::new($name, env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}
