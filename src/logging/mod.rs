//! Per-process logging: a logger configuration built in the parent, handed to each child and
//! applied there, on the [`log`] crate's macros (`log::info!`, `log::warn!`, ...).
//!
//! What it stands for: the talk's (seed 000/002) logging pattern. In Python a new process
//! "ends up with a 'new' logging instance (not inherited)", so the parent turns its logger
//! into a picklable dict (balsa's `Balsa.config_as_dict()`) and each process rebuilds its
//! logger from it in `run()` (`balsa_clone(config, name).init_logger()`). Here the dict is
//! [`LogConfig`] (serde-serialisable, so it can also travel through a `Queue` or a `Pipe`)
//! and `balsa_clone(...).init_logger()` is [`LogConfig::apply`].
//!
//! How it differs from Python:
//! - A forked child *does* inherit the parent's logger, open file and all, and already tags
//!   its records with its own name and pid, because both are looked up when a record is
//!   written, not when the logger is configured. `apply` in the child is how a child gets a
//!   configuration of its own (another level, no console, another file), and how a process
//!   that did not inherit one (a pool worker handed a config) gets one at all.
//! - `log` accepts one logger per process, for the life of the process (`log::set_logger`),
//!   and a forked child inherits the parent's choice. So `apply` installs one dispatcher the
//!   first time and afterwards only replaces its configuration; calling it again in the
//!   parent or in any child is fine. It fails only if a different logger (env_logger, ...)
//!   was installed first.
//! - Records are never buffered: each is formatted into one buffer and written with one
//!   `write` to stderr and one to the shared file, which is opened with `O_APPEND`. The
//!   kernel appends each such write whole, so records from different processes never tear
//!   or interleave in the file (on a local filesystem; NFS does not honour `O_APPEND`), and a
//!   child that leaves with `_exit` loses nothing. Newlines inside a message are written as
//!   `\n`, so every line of the file is exactly one record.
//!
//! - A forkserver or spawn [`Pool`](crate::Pool)'s workers have no logger of their own:
//!   this module's dispatcher forwards their records to the pool's owner, which logs them
//!   through its logger with the key-values [`WORKER`] and [`WORKER_PID`] (see the pool's
//!   module docs). With a `LogConfig` applied in the owner, such a record is written with
//!   the worker's name and pid, as if the worker had written it; a `LogConfig` applied in a
//!   worker (by an initializer) makes that worker write its records itself.
//!
//! The line format ([`LogLine::parse`] reads it back):
//!
//! ```text
//! 2025-06-01T12:34:56.789Z INFO  myapp worker-2[41872] process_logging: record 3 of 10
//! ^ UTC time               ^level ^app ^process name and pid      ^target  ^message
//! ```
//!
//! ```
//! use multiproc::Process;
//! use multiproc::logging::LogConfig;
//!
//! let path = std::env::temp_dir().join(format!("myapp-{}.log", std::process::id()));
//! let config = LogConfig::new("myapp").console(false).file(path.clone()); // built in the parent
//! config.apply().unwrap();
//! let child_config = config.clone();
//! let mut p = Process::new(move || {
//!     child_config.apply().unwrap(); // applied in the child, as balsa_clone in run()
//!     log::info!("hello from the child");
//! })
//! .name("worker-1");
//! p.start().unwrap();
//! assert_eq!(p.join().unwrap(), 0);
//! log::info!("hello from the parent");
//! let text = std::fs::read_to_string(&path).unwrap();
//! std::fs::remove_file(&path).unwrap();
//! assert_eq!(text.lines().count(), 2); // one whole line per record
//! assert!(text.contains(" myapp worker-1[") && text.contains("hello from the child"));
//! assert!(text.contains(" myapp MainProcess[") && text.contains("hello from the parent"));
//! ```

mod forward;
mod line;

pub(crate) use forward::{Sender, clip_name, emit, forward};
pub use forward::{WORKER, WORKER_PID};
pub use line::LogLine;

use crate::error::{Error, InvalidKind, Result};
use crate::process::current_process;
use log::{LevelFilter, Log, Metadata, Record};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// How a process logs: level, console on or off, the shared file, the application's name
/// (Python: the dict balsa's `config_as_dict()` returns). Build it in the parent, hand a
/// clone to each child, and [`apply`](LogConfig::apply) it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[doc(alias("config_as_dict", "balsa"))]
pub struct LogConfig {
    app: String,
    level: LevelFilter,
    console: bool,
    file: Option<PathBuf>,
}

impl LogConfig {
    /// Level `Info`, records to the console (stderr), no file. Whitespace in `app` becomes
    /// `_`, so the name stays one word of the line format.
    pub fn new(app: impl Into<String>) -> LogConfig {
        let app: String = app
            .into()
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        LogConfig {
            app: if app.is_empty() { "app".into() } else { app },
            level: LevelFilter::Info,
            console: true,
            file: None,
        }
    }

    /// The most detailed level written (Python: `logger.setLevel`).
    #[doc(alias = "setLevel")]
    pub fn level(mut self, level: LevelFilter) -> LogConfig {
        self.level = level;
        self
    }

    /// Write records to stderr too (Python: a `StreamHandler`).
    #[doc(alias = "StreamHandler")]
    pub fn console(mut self, on: bool) -> LogConfig {
        self.console = on;
        self
    }

    /// Append records to this file, shared by every process that applies the config
    /// (Python: a `FileHandler`; balsa's log file).
    #[doc(alias = "FileHandler")]
    pub fn file(mut self, path: impl Into<PathBuf>) -> LogConfig {
        self.file = Some(path.into());
        self
    }

    /// The application name records are tagged with.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The most verbose level this config lets through.
    pub fn get_level(&self) -> LevelFilter {
        self.level
    }

    /// Whether records also go to the console (stderr).
    pub fn get_console(&self) -> bool {
        self.console
    }

    /// The shared log file records are appended to, if any.
    pub fn get_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Make this the calling process's logging configuration (Python:
    /// `balsa_clone(config, name).init_logger()` in `run()`). Replaces whatever this process
    /// had, inherited or applied; other processes are not affected. Opens the file (creating
    /// it) in append mode; an error if it cannot be opened, or if a logger other than this
    /// module's was installed in the process first.
    #[doc(alias("balsa_clone", "init_logger", "basicConfig"))]
    pub fn apply(&self) -> Result<()> {
        let file = match &self.file {
            Some(path) => Some(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .map_err(|e| {
                        Error::Io(std::io::Error::new(
                            e.kind(),
                            format!("cannot open log file {}: {e}", path.display()),
                        ))
                    })?,
            ),
            None => None,
        };
        install()?;
        let sink = Sink {
            app: self.app.clone(),
            level: self.level,
            console: self.console,
            file,
        };
        *DISPATCHER.sink.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
        log::set_max_level(self.level);
        Ok(())
    }
}

/// What one process writes records to.
struct Sink {
    app: String,
    level: LevelFilter,
    console: bool,
    file: Option<File>,
}

/// Where a process without a sink of its own sends its records: a forkserver or spawn
/// pool's worker, to the pool's owner (see `forward.rs`).
struct Forward {
    level: LevelFilter,
    send: Sender,
}

/// The one logger `log` knows about in this process (and, through fork, its children).
/// A sink (a [`LogConfig`] applied) writes records here; without one, a forwarding process
/// sends them on.
struct Dispatcher {
    sink: RwLock<Option<Sink>>,
    forward: OnceLock<Forward>,
}

static DISPATCHER: Dispatcher = Dispatcher {
    sink: RwLock::new(None),
    forward: OnceLock::new(),
};

/// Install the dispatcher unless it already is (in this process, or in the parent before
/// the fork that made this process).
fn install() -> Result<()> {
    if log::set_logger(&DISPATCHER).is_ok() {
        return Ok(());
    }
    let installed: *const dyn Log = log::logger();
    if std::ptr::addr_eq(installed, &raw const DISPATCHER) {
        Ok(())
    } else {
        Err(Error::invalid(
            InvalidKind::LoggerInstalled,
            "another logger was installed in this process before multiproc::logging",
        ))
    }
}

impl Log for Dispatcher {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let sink = self.sink.read().unwrap_or_else(|e| e.into_inner());
        match (sink.as_ref(), self.forward.get()) {
            (Some(s), _) => metadata.level() <= s.level,
            (None, Some(f)) => metadata.level() <= f.level,
            (None, None) => false,
        }
    }

    fn log(&self, record: &Record) {
        let guard = self.sink.read().unwrap_or_else(|e| e.into_inner());
        let Some(sink) = guard.as_ref() else {
            drop(guard);
            if let Some(f) = self.forward.get()
                && record.level() <= f.level
            {
                forward::send(f, record);
            }
            return;
        };
        if record.level() > sink.level {
            return;
        }
        // A record a pool worker forwarded is tagged as the worker wrote it.
        let me = current_process();
        let worker = forward::worker_of(record);
        let (name, pid) = match &worker {
            Some((name, pid)) => (name.as_str(), *pid),
            None => (me.name(), me.pid()),
        };
        let line = format_line(
            SystemTime::now(),
            &sink.app,
            name,
            pid,
            record.level(),
            record.target(),
            &record.args().to_string(),
        );
        // One write each: the whole record or (on error) nothing we could do better.
        if sink.console {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if let Some(mut file) = sink.file.as_ref() {
            let _ = file.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// One record as one line, newline included (see the module docs for the format).
fn format_line(
    when: SystemTime,
    app: &str,
    process: &str,
    pid: u32,
    level: log::Level,
    target: &str,
    message: &str,
) -> String {
    let process: String = process
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let message = message.replace('\r', "\\r").replace('\n', "\\n");
    format!(
        "{} {level:<5} {app} {process}[{pid}] {target}: {message}\n",
        utc_timestamp(when)
    )
}

/// `2025-06-01T12:34:56.789Z`: UTC, milliseconds. The calendar is the proleptic
/// Gregorian one of `civil_from_days` (UTC has no time zone to look up; leap seconds are
/// not counted, as in Unix time).
fn utc_timestamp(when: SystemTime) -> String {
    let since = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The date `days` after 1970-01-01: Howard Hinnant's `civil_from_days`, for days on or
/// after the epoch (eras of 400 years, 146,097 days each, starting on March 1st).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // a leap day
        assert_eq!(utc_timestamp(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // last second of 2025
        assert_eq!(utc_timestamp(t), "2025-12-31T23:59:59.000Z");
    }

    /// The date by counting: whole years, then whole months, from 1970-01-01.
    fn counted_date(mut days: u64) -> (u64, u64, u64) {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let mut year = 1970;
        while days >= 365 + u64::from(leap(year)) {
            days -= 365 + u64::from(leap(year));
            year += 1;
        }
        let lengths = [
            31,
            28 + u64::from(leap(year)),
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut month = 1;
        for length in lengths {
            if days < length {
                break;
            }
            days -= length;
            month += 1;
        }
        (year, month, days + 1)
    }

    proptest::proptest! {
        #[test]
        fn the_calendar_agrees_with_counting_days(days in 0u64..3_000_000) {
            proptest::prop_assert_eq!(civil_from_days(days), counted_date(days));
        }
    }

    #[test]
    fn a_record_is_one_line_that_parses_back() {
        let line = format_line(
            UNIX_EPOCH + Duration::from_secs(86_400),
            "myapp",
            "process [1] x",
            4242,
            log::Level::Warn,
            "my_crate::module",
            "two\nlines: here",
        );
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "embedded newline escaped");
        let parsed = LogLine::parse(&line).expect("parses");
        assert_eq!(
            parsed,
            LogLine {
                timestamp: "1970-01-02T00:00:00.000Z",
                level: log::Level::Warn,
                app: "myapp",
                process: "process [1] x",
                pid: 4242,
                target: "my_crate::module",
                message: "two\\nlines: here",
            }
        );
    }

    #[test]
    fn lines_cut_before_the_message_do_not_parse() {
        let line = format_line(
            UNIX_EPOCH,
            "app",
            "worker-1",
            7,
            log::Level::Info,
            "t",
            "message",
        );
        let message_at = line.find("message").unwrap();
        for cut in 0..message_at - 1 {
            assert!(
                LogLine::parse(&line[..cut]).is_none(),
                "{:?} must not pass for a whole record",
                &line[..cut]
            );
        }
        assert!(LogLine::parse("1970-01-01T00:00:00.000Z INFO  app w[1] t: a\nb").is_none());
        assert!(LogLine::parse("1970-01-01T00:00:00.000Z LOUD  app w[1] t: a").is_none());
    }

    #[test]
    fn app_names_stay_one_word() {
        assert_eq!(LogConfig::new("my app").app(), "my_app");
        assert_eq!(LogConfig::new("").app(), "app");
    }

    #[test]
    fn the_config_survives_serialisation() {
        let config = LogConfig::new("myapp")
            .level(LevelFilter::Debug)
            .console(false)
            .file("/tmp/x.log");
        let bytes = crate::codec::encode(&config).unwrap();
        let back: LogConfig = crate::codec::decode(&bytes).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.get_level(), LevelFilter::Debug);
        assert!(!back.get_console());
        assert_eq!(back.get_file(), Some(Path::new("/tmp/x.log")));
    }

    /// The only test in this binary that installs the logger.
    #[test]
    fn apply_writes_tagged_whole_lines_and_reapplying_replaces_the_config() {
        let path =
            std::env::temp_dir().join(format!("multiproc-logging-unit-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let config = LogConfig::new("unit").console(false).file(&path);
        config.apply().unwrap();
        log::info!(target: "unit_test", "first");
        log::debug!(target: "unit_test", "not written at Info");
        config.clone().level(LevelFilter::Debug).apply().unwrap();
        log::debug!(target: "unit_test", "written at Debug");
        config.clone().level(LevelFilter::Off).apply().unwrap();
        log::error!(target: "unit_test", "not written when Off");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<LogLine> = text.lines().map(|l| LogLine::parse(l).unwrap()).collect();
        let messages: Vec<&str> = lines.iter().map(|l| l.message).collect();
        assert_eq!(messages, ["first", "written at Debug"]);
        for l in &lines {
            assert_eq!(l.app, "unit");
            assert_eq!(l.process, "MainProcess");
            assert_eq!(l.pid, std::process::id());
            assert_eq!(l.target, "unit_test");
        }
        assert!(
            LogConfig::new("x")
                .file("/nonexistent-dir/x.log")
                .apply()
                .is_err()
        );
    }
}
