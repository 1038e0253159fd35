//! How a task reaches a worker, and how its outcome comes back.
//!
//! A task is two functions and bytes: a *trampoline*, monomorphised for the argument and
//! result types, and the user's `fn`, plus the serialised arguments. The worker calls the
//! trampoline, which decodes the arguments, calls the function and encodes the result.
//! Both functions travel as offsets from an anchor in the executable
//! (`start::identity`): in a fork pool the workers run the owner's image at the same
//! addresses, but a forkserver or spawn pool's workers are forks of a server that was
//! re-executed, where ASLR put the program elsewhere; the offset is the same in both.
//!
//! What can be sent: any `fn` item or non-capturing closure (the compiler refuses a
//! capturing closure: it cannot coerce to `fn`), with arguments and results that are serde
//! types, including the shared primitives created before the pool (see `share`). Python can
//! send module-level functions but not lambdas; we can send non-capturing lambdas but not
//! closures that capture, and no `Box<dyn Fn>`. The function must be code that was present
//! when the pool was built (the program and the libraries it had loaded then): code loaded
//! later with `dlopen` is not mapped in the workers, forked before it. A forkserver or
//! spawn pool checks that the function is part of the executable before sending it.

use crate::codec::{decode, encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Decode the arguments at `args`, call the `fn` at address `func`, encode the result.
pub(crate) type Trampoline = fn(func: usize, args: &[u8]) -> Result<Vec<u8>, String>;

/// One message on the task queue, as the worker reads it. `id == 0` tells the worker that
/// takes it to stop.
#[derive(Deserialize)]
pub(crate) struct TaskMsg {
    pub id: u64,
    /// Offsets from the anchor (`start::identity`) of the trampoline and the `fn`.
    pub call: i64,
    pub func: i64,
    /// The task's time limit in nanoseconds, 0 for none: a field of the crate's, never
    /// inside the user's argument bytes.
    pub timeout: u64,
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
}

/// The same message as the owner writes it, borrowing the arguments.
#[derive(Serialize)]
pub(crate) struct TaskRef<'a> {
    pub id: u64,
    pub call: i64,
    pub func: i64,
    /// As [`TaskMsg::timeout`].
    pub timeout: u64,
    #[serde(with = "serde_bytes")]
    pub args: &'a [u8],
}

impl TaskRef<'_> {
    pub(crate) fn stop() -> TaskRef<'static> {
        TaskRef {
            id: 0,
            call: 0,
            func: 0,
            timeout: 0,
            args: &[],
        }
    }
}

/// One message on the result queue.
#[derive(Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The task ran; its encoded result.
    Done {
        id: u64,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// The task panicked (message) or its data could not be decoded/encoded.
    Panicked {
        id: u64,
        message: String,
    },
    Codec {
        id: u64,
        message: String,
    },
    /// The worker running task `id` died; sent by the pool's server.
    WorkerDied {
        id: u64,
        what: String,
    },
    /// Task `id` ran past its time limit: the server killed its worker.
    TimedOut {
        id: u64,
    },
    /// Task `id` was cancelled while running: the server killed its worker.
    Cancelled {
        id: u64,
    },
    /// The pool cannot run anything any more (a worker's initializer failed).
    Broken {
        reason: String,
    },
    /// A record logged in a forkserver or spawn pool's worker (`logging::forward`), to be
    /// logged by the owner, never filed in the book. The message is a field of its own,
    /// cut at `logging::forward::MAX_MESSAGE` bytes by the worker, and bounded again by the
    /// owner (`logging::emit`).
    Log {
        level: log::Level,
        target: String,
        message: String,
        /// The worker's process name (`ForkServerPoolWorker-3`) and pid.
        worker: String,
        pid: u32,
    },
    /// Nothing came in: a [`PoolWaker`](super::PoolWaker) wakes the owner from
    /// [`Pool::wait_any`](super::Pool::wait_any).
    Wake,
}

/// # Safety
/// `func` must be the address of a `fn(A) -> R` of this program (it is: `Pool` builds the
/// task from such a value with this very trampoline, and workers are forks of that image).
unsafe fn as_fn<F: Copy>(func: usize) -> F {
    debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<usize>());
    // SAFETY: per the contract above.
    unsafe { std::mem::transmute_copy::<usize, F>(&func) }
}

/// `apply`: one argument, one result.
pub(crate) fn apply_call<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    // SAFETY: built from a `fn(A) -> R` by `Pool::apply_async`.
    let f: fn(A) -> R = unsafe { as_fn(func) };
    let a: A = decode(args).map_err(|e| e.to_string())?;
    encode(&f(a)).map_err(|e| e.to_string())
}

/// `map`: a chunk of arguments, a chunk of results.
pub(crate) fn map_call<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    // SAFETY: built from a `fn(A) -> R` by `Pool::map*`.
    let f: fn(A) -> R = unsafe { as_fn(func) };
    let chunk: Vec<A> = decode(args).map_err(|e| e.to_string())?;
    let out: Vec<R> = chunk.into_iter().map(f).collect();
    encode(&out).map_err(|e| e.to_string())
}

/// `starmap`: a chunk of argument pairs, a chunk of results.
pub(crate) fn starmap_call<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    // SAFETY: built from a `fn(A, B) -> R` by `Pool::starmap*`.
    let f: fn(A, B) -> R = unsafe { as_fn(func) };
    let chunk: Vec<(A, B)> = decode(args).map_err(|e| e.to_string())?;
    let out: Vec<R> = chunk.into_iter().map(|(a, b)| f(a, b)).collect();
    encode(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Task and outcome messages, truncated or random: an error or a message, no panic;
        /// the arguments stay a blob of their own (a trampoline decodes them, to an error).
        #[test]
        fn task_and_outcome_messages_refuse_bad_bytes(
            args in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            cut in 0usize..80,
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let bytes = encode(&TaskRef { id: 9, call: -1, func: 2, timeout: 7, args: &args }).unwrap();
            let back: TaskMsg = decode(&bytes).unwrap();
            proptest::prop_assert_eq!((back.id, back.call, back.func, back.timeout), (9, -1, 2, 7));
            proptest::prop_assert_eq!(&back.args, &args);
            if cut < bytes.len() {
                proptest::prop_assert!(decode::<TaskMsg>(&bytes[..cut]).is_err());
            }
            let _ = decode::<TaskMsg>(&noise);
            let _ = decode::<Outcome>(&noise);
            // Random argument bytes reach a trampoline as an error, not a call.
            fn never(_: (u64, String)) -> u8 {
                0
            }
            if let Ok(out) = apply_call::<(u64, String), u8>(never as fn((u64, String)) -> u8 as usize, &noise) {
                proptest::prop_assert_eq!(decode::<u8>(&out).unwrap(), 0);
            }
        }
    }
}
