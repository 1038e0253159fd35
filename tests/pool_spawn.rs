//! The `Pool` checks of forked_pool.rs, with every pool started by the `spawn` start method.

include!("forked_pool.rs");
