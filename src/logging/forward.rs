//! Records that cross processes: a forkserver or spawn pool's workers send theirs to the
//! pool's owner, which logs them through its own logger.
//!
//! A fork pool's workers inherit the owner's logger with the rest of its memory and write
//! through it themselves. A served pool's workers are forks of a re-executed image that
//! has no logger (as in CPython, whose spawn workers lose the parent's `logging`
//! configuration), so every `log::info!` there would be lost. Instead the pool's server
//! installs this module's dispatcher in *forwarding* mode ([`forward`], inherited by every
//! worker it forks): each enabled record is handed to a sender, which puts it on the pool's
//! result queue, and the owner re-emits it with [`emit`], tagged with the worker's name and
//! pid as the key-values [`WORKER`] and [`WORKER_PID`]. A [`LogConfig`](super::LogConfig)
//! applied in a worker (by an initializer) replaces forwarding there: the worker then
//! writes its records itself.
//!
//! Everything a record carries is bounded, in the worker and again in the owner (which
//! does not trust what it decodes): a message longer than [`MAX_MESSAGE`] bytes is cut
//! there and ends with [`CUT`]; targets and names are cut at [`MAX_NAME`] bytes.

use super::{DISPATCHER, Forward};
use log::kv::{Key, ToValue, Value};
use log::{Level, LevelFilter, Record};
use std::fmt::{self, Write};

/// The longest message forwarded, in bytes; a longer one is cut and marked with [`CUT`].
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// The longest target or process name forwarded, in bytes.
pub(crate) const MAX_NAME: usize = 1024;

/// What ends a message cut at [`MAX_MESSAGE`] bytes.
pub(crate) const CUT: &str = " [... truncated by multiproc: longer than 64 KiB]";

/// The key-value naming the worker a re-emitted record came from (its process name,
/// `ForkServerPoolWorker-3`).
pub const WORKER: &str = "worker";

/// The key-value holding the pid of the worker a re-emitted record came from.
pub const WORKER_PID: &str = "worker_pid";

/// What a forwarding process does with a record it has formatted (clipped already).
pub(crate) type Sender = Box<dyn Fn(Level, &str, &str) + Send + Sync>;

/// Make this process forward its records to `send`, at most as detailed as `level`,
/// unless it already has a logger (installed by its program before
/// [`start::init`](crate::start::init), say): then nothing changes. Whether it now
/// forwards. Every process forked from this one afterwards forwards too.
pub(crate) fn forward(level: LevelFilter, send: Sender) -> bool {
    if log::set_logger(&DISPATCHER).is_err() {
        return false;
    }
    let _ = DISPATCHER.forward.set(Forward { level, send });
    log::set_max_level(level);
    true
}

/// Hand `record` to the sender: its message formatted at most [`MAX_MESSAGE`] bytes long
/// (a longer one is never formatted whole), its target clipped.
pub(super) fn send(forward: &Forward, record: &Record) {
    thread_local! {
        /// Set while this thread sends: a record logged by the sending itself is dropped,
        /// never sent in a loop.
        static SENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if SENDING.with(|s| s.replace(true)) {
        return;
    }
    let mut text = Capped::default();
    if fmt::write(&mut text, *record.args()).is_err() && !text.cut {
        text.s.push_str(" [a Display implementation failed]");
    }
    if text.cut {
        text.s.push_str(CUT);
    }
    (forward.send)(record.level(), clip_name(record.target()), &text.s);
    SENDING.with(|s| s.set(false));
}

/// A `fmt::Write` that keeps the first [`MAX_MESSAGE`] bytes (whole characters) and then
/// stops the formatting.
#[derive(Default)]
struct Capped {
    s: String,
    cut: bool,
}

impl Write for Capped {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        let room = MAX_MESSAGE - self.s.len();
        if piece.len() <= room {
            self.s.push_str(piece);
            return Ok(());
        }
        self.s.push_str(clip(piece, room));
        self.cut = true;
        Err(fmt::Error)
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A target or process name as forwarded: at most [`MAX_NAME`] bytes.
pub(crate) fn clip_name(name: &str) -> &str {
    clip(name, MAX_NAME)
}

/// A message as [`emit`] logs it: at most [`MAX_MESSAGE`] bytes and the marker.
fn bounded_message(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE + CUT.len() {
        return message.into();
    }
    format!("{}{CUT}", clip(message, MAX_MESSAGE)).into()
}

/// Log a record forwarded by process `worker` (pid `pid`) through this process's logger
/// ([`log::logger`]), with its level and target and the key-values [`WORKER`] and
/// [`WORKER_PID`], if this process's [`log::max_level`] lets the level through (as the
/// `log` macros check it). Every field is bounded again here.
pub(crate) fn emit(level: Level, target: &str, message: &str, worker: &str, pid: u32) {
    if level > log::max_level() {
        return;
    }
    let worker = clip_name(worker);
    let kvs: [(&str, Value<'_>); 2] = [(WORKER, worker.to_value()), (WORKER_PID, pid.to_value())];
    log::logger().log(
        &Record::builder()
            .level(level)
            .target(clip_name(target))
            .args(format_args!("{}", bounded_message(message)))
            .key_values(&kvs)
            .build(),
    );
}

/// The worker's name and pid of a record [`emit`] logged, if it is one.
pub(super) fn worker_of(record: &Record) -> Option<(String, u32)> {
    let kvs = record.key_values();
    let name = kvs.get(Key::from_str(WORKER))?.to_string();
    let pid = kvs.get(Key::from_str(WORKER_PID))?.to_u64()?;
    Some((name, u32::try_from(pid).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_records_worker_is_read_back_and_others_have_none() {
        let kvs: [(&str, Value<'_>); 2] =
            [(WORKER, "W-1".to_value()), (WORKER_PID, 42u32.to_value())];
        assert_eq!(
            worker_of(
                &Record::builder()
                    .args(format_args!("m"))
                    .key_values(&kvs)
                    .build()
            ),
            Some(("W-1".to_string(), 42))
        );
        assert_eq!(
            worker_of(&Record::builder().args(format_args!("m")).build()),
            None
        );
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn a_long_message_is_cut_and_marked_without_being_formatted_whole() {
        let mut text = Capped::default();
        let long = "é".repeat(MAX_MESSAGE); // twice the bound in bytes
        assert!(fmt::write(&mut text, format_args!("{long}")).is_err());
        assert!(text.cut);
        assert!(text.s.len() <= MAX_MESSAGE && text.s.len() > MAX_MESSAGE - 4);
        let huge = "x".repeat(3 * MAX_MESSAGE);
        let bounded = bounded_message(&huge);
        assert_eq!(bounded.len(), MAX_MESSAGE + CUT.len());
        assert!(bounded.ends_with(CUT));
        assert_eq!(bounded_message("short"), "short");
    }
}
