//! The `Pool` checks of pool.rs, with every pool started by the `forkserver` start method.

include!("pool.rs");
