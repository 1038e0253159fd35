//! The `Pool` checks of forked_pool.rs, with every pool started by the `forkserver` start method.

include!("forked_pool.rs");
