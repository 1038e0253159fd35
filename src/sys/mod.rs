//! The platform layer: every operating-system call the library makes that is more than a
//! one-liner, each written once, on rustix's safe calls where it has them.
//!
//! The rest of the crate asks this module for sealed memory ([`memfd`]), for a wait on a
//! descriptor ([`poll`]), for the fork counters ([`atfork`]), to pass descriptors over a
//! socket ([`fdpass`]), for who is at the other end of a socket ([`peer`]) and for what the
//! C library knows ([`info`]); the modules that start, wait for and signal processes live
//! here too. `unsafe` that talks to the kernel belongs
//! here, each block with the reason it is sound.

pub(crate) mod atfork;
pub(crate) mod child;
pub(crate) mod fdpass;
pub(crate) mod info;
pub(crate) mod memfd;
pub(crate) mod peer;
pub(crate) mod poll;
