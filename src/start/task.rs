//! What travels between the owner, the start server and a child: the request the owner
//! sends the server (a fixed-size [`Request`]: the method and the [`Record`] of the
//! functions the child may call, no serde and no user bytes), the [`Task`] the owner sends
//! the child (the user's arguments a length-delimited blob beside the crate's own fields),
//! and the [`Outcome`] the child sends back.

use super::wire;
use crate::codec::{decode, encode};
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

/// Decode the arguments (with the shared objects' descriptors), call the `fn` at `func`,
/// encode the result.
pub(super) type Trampoline = fn(func: usize, args: &[u8], fds: Vec<OwnedFd>) -> Result<Vec<u8>>;

pub(super) fn trampoline<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<Vec<u8>> {
    // SAFETY: `func` is the address of a `fn(A) -> R`: the child calls this trampoline
    // only for the offsets its server recorded from the owner's request (`Record`), which
    // `start_served` built from this very trampoline (for these `A`, `R`) and such a `fn`,
    // in the same executable file (checked), and offsets resolve to the same code in every
    // process running that file.
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let a: A = crate::handle::import(fds, || decode(args))?;
    encode(&f(a))
}

/// The functions a child may call, recorded by the crate from the `fn`s it was given (never
/// from a user's bytes): the trampoline, the user's `fn`, and for a pool's server the
/// workers' initializer. The owner puts it in its request to the start server; the server
/// hands it to the child (in memory for a fork, on the child's inherited socket for a
/// spawn); the child refuses a task that names anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// The process that asked for the child: the peer its task socket must have.
    pub owner: u32,
    pub call: i64,
    pub func: i64,
    pub init: Option<i64>,
}

impl Record {
    pub(super) const LEN: usize = 4 + 8 + 8 + 1 + 8;

    pub(super) fn to_bytes(self) -> [u8; Record::LEN] {
        let mut b = [0u8; Record::LEN];
        b[..4].copy_from_slice(&self.owner.to_le_bytes());
        b[4..12].copy_from_slice(&self.call.to_le_bytes());
        b[12..20].copy_from_slice(&self.func.to_le_bytes());
        b[20] = u8::from(self.init.is_some());
        b[21..].copy_from_slice(&self.init.unwrap_or(0).to_le_bytes());
        b
    }

    /// `None` for bytes no [`Record::to_bytes`] wrote (a tag other than 0 or 1, or `None`
    /// with a nonzero offset).
    pub(super) fn from_bytes(b: &[u8; Record::LEN]) -> Option<Record> {
        let i64_at = |at: usize| i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let init = match (b[20], i64_at(21)) {
            (0, 0) => None,
            (1, offset) => Some(offset),
            _ => return None,
        };
        Some(Record {
            owner: u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
            call: i64_at(4),
            func: i64_at(12),
            init,
        })
    }
}

/// What the owner asks of its start server, on the control socket: one fixed-size message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Request {
    /// Start a child by `fork` of the server, or by `spawn`, to run what `Record` names.
    Start { spawn: bool, record: Record },
    /// Kill the children still running, report them, and exit.
    Quit,
}

impl Request {
    pub(super) const LEN: usize = 1 + Record::LEN;

    pub(super) fn to_bytes(self) -> [u8; Request::LEN] {
        let mut b = [0u8; Request::LEN];
        match self {
            Request::Start { spawn, record } => {
                b[0] = if spawn { b's' } else { b'f' };
                b[1..].copy_from_slice(&record.to_bytes());
            }
            Request::Quit => b[0] = b'q',
        }
        b
    }

    pub(super) fn from_bytes(b: &[u8; Request::LEN]) -> Option<Request> {
        let record = || Record::from_bytes(b[1..].try_into().expect("the record's length"));
        match b[0] {
            b'f' => Some(Request::Start {
                spawn: false,
                record: record()?,
            }),
            b's' => Some(Request::Start {
                spawn: true,
                record: record()?,
            }),
            b'q' if b[1..].iter().all(|&x| x == 0) => Some(Request::Quit),
            _ => None,
        }
    }
}

/// The task the owner sends its child.
#[derive(Serialize, Deserialize)]
pub(super) struct Task {
    /// The child's name (Python's `SpawnProcess-1`, ...), and its parent's name and pid.
    pub name: String,
    pub parent: (String, u32),
    pub exe: (u64, u64),
    pub call: i64,
    pub func: i64,
    /// The user's arguments: a blob of their own, decoded by the trampoline.
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
}

/// What a child sends back before it exits.
#[derive(Serialize, Deserialize)]
pub(super) enum Outcome {
    Done(#[serde(with = "serde_bytes")] Vec<u8>),
    Panicked(String),
    Failed(String),
}

pub(super) use crate::error::panic_message;

pub(super) fn send_outcome(sock: &UnixStream, outcome: &Outcome) {
    if let Ok(bytes) = encode(outcome) {
        let _ = wire::send_frame(sock, &bytes, &[]);
    }
}

/// What the server writes on a child's status socket in place of a pid when it started
/// none: the fork failed (`0`), or the server runs other threads (`-threads`).
pub(super) fn refusal(pid: i32) -> String {
    if pid < 0 {
        format!(
            "the start server runs {} threads and cannot fork safely: a thread started before it \
             took its role (the crate takes it in an ELF constructor, before main; a constructor \
             of the program that ran earlier, or a start::init() that took the role late where \
             that constructor did not run, let one start first)",
            -i64::from(pid)
        )
    } else {
        "the start server could not fork".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_anything_else_is_refused() {
        let record = Record {
            owner: 42,
            call: -7,
            func: 1 << 40,
            init: Some(-3),
        };
        for r in [
            Request::Start {
                spawn: true,
                record,
            },
            Request::Start {
                spawn: false,
                record: Record {
                    init: None,
                    ..record
                },
            },
            Request::Quit,
        ] {
            assert_eq!(Request::from_bytes(&r.to_bytes()), Some(r));
        }
        let mut bad = Request::Quit.to_bytes();
        bad[0] = b'x';
        assert_eq!(Request::from_bytes(&bad), None);
        let mut bad = Request::Start {
            spawn: false,
            record,
        }
        .to_bytes();
        bad[21] = 2; // an init tag no record writes
        assert_eq!(Request::from_bytes(&bad), None);
        let mut bad = Request::Quit.to_bytes();
        bad[5] = 1;
        assert_eq!(Request::from_bytes(&bad), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Any bytes on the control socket are a request `to_bytes` wrote, or none.
        #[test]
        fn any_request_bytes_decode_to_what_encodes_them_or_nothing(
            bytes in proptest::array::uniform30(proptest::prelude::any::<u8>())
        ) {
            if let Some(r) = Request::from_bytes(&bytes) {
                proptest::prop_assert_eq!(r.to_bytes(), bytes);
            }
        }

        /// A task, an outcome, truncated, shifted or random: an error, never a panic.
        #[test]
        fn task_and_outcome_frames_refuse_bad_bytes(
            args in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            cut in 0usize..120,
            shift in 0usize..3,
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
        ) {
            let task = Task {
                name: "SpawnProcess-1".into(),
                parent: ("MainProcess".into(), 1),
                exe: (2, 3),
                call: -4,
                func: 5,
                args,
            };
            let bytes = encode(&task).unwrap();
            let back: Task = decode(&bytes).unwrap();
            proptest::prop_assert_eq!(back.args, task.args);
            let cut = cut.min(bytes.len());
            if cut < bytes.len() {
                proptest::prop_assert!(decode::<Task>(&bytes[..cut]).is_err());
            }
            let _ = decode::<Task>(&bytes[shift.min(bytes.len())..]);
            let _ = decode::<Task>(&noise);
            let _ = decode::<Outcome>(&noise);
        }
    }
}
