//! The `Pool` checks of pool.rs, with every pool started by the `spawn` start method.

include!("pool.rs");
