//! Progress for the examples whose default run takes more than a moment: a bar
//! ([`Progress::bar`], indicatif) when the number of steps is known, a status line
//! ([`Progress::status`]) otherwise. Both draw on stderr and only when stdout and stderr are
//! both terminals: a test, a pipe or a file gets the program's output and nothing else.
//!
//! Update it from the main thread only (no ticker thread): the examples fork, and a thread
//! that holds stderr's lock at the moment of a fork would leave the child's stderr locked
//! for ever.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar or status line on stderr, or nothing when not on a terminal. Cleared on
/// [`Progress::finish`] or drop, so the program's own lines read as if it had never been.
pub struct Progress(ProgressBar);

/// Whether progress is drawn at all: stdout and stderr are both terminals.
pub fn on_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

impl Progress {
    /// A bar of `steps` steps, labelled `what` ("runs", "rows").
    pub fn bar(steps: u64, what: &str) -> Progress {
        if !on_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(steps);
        let template = format!("{{bar:40}} {{pos}}/{{len}} {what} {{elapsed}} {{msg}}");
        bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
        Progress(bar)
    }

    /// A status line that shows `message` and the time since it started.
    pub fn status(message: impl Into<String>) -> Progress {
        if !on_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let line = ProgressBar::new_spinner();
        line.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
        );
        line.set_message(message.into());
        line.tick();
        Progress(line)
    }

    /// One more step done.
    pub fn inc(&self) {
        self.0.inc(1);
    }

    /// `n` steps done in all.
    pub fn set(&self, n: u64) {
        self.0.set_position(n);
    }

    /// Say what is happening now, after the bar.
    pub fn message(&self, message: impl Into<String>) {
        self.0.set_message(message.into());
    }

    /// Print `line` on stdout, the bar cleared while it does and drawn again below it.
    pub fn println(&self, line: impl AsRef<str>) {
        self.0.suspend(|| println!("{}", line.as_ref()));
    }

    /// Remove the bar from the screen.
    pub fn finish(self) {}
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// What starts a line that a child process prints while this program's bar may be on the
/// screen: back to the start of the line and clear it, so the line replaces the bar instead
/// of being glued to it (the bar is drawn again below it at its next update). Empty when
/// not on a terminal.
pub fn clear_line() -> &'static str {
    if on_terminal() { "\r\x1b[K" } else { "" }
}
