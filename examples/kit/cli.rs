//! What every example program shares: argument parsing with clap (usage errors exit 2,
//! `--help` exits 0), one line on stderr and exit code 1 for a runtime error, value parsers
//! so every example reads and rejects numbers and durations the same way, and a quiet end
//! when whoever reads stdout goes away.
//!
//! # A closed stdout
//!
//! `example | head -1` closes the pipe after one line. Rust ignores `SIGPIPE`, so the next
//! `println!` would fail with `EPIPE` and panic ("failed printing to stdout: Broken pipe").
//! An example's `main` first calls [`quiet_on_closed_stdout`]: from then on a write that finds stdout
//! closed ends the process as `cat` ends, killed by `SIGPIPE`, silently (a shell shows exit
//! status 141). Children inherit this through `fork`, so a child that prints to the closed
//! pipe ends the same way, and the parent, at its own next print or when it reports the
//! failed child (see [`fail`]), ends quietly too; its children die with it
//! (`PR_SET_PDEATHSIG`). A child that meets the closed stdout first sends `SIGPIPE` to the
//! main process, so that nobody waits for the dead child until a timeout. A write that breaks on any other pipe or socket (a
//! `Pipe` whose peer is gone) still fails with `EPIPE` as before, while stdout is
//! open: only a closed stdout ends the program.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::time::Duration;

/// Report a runtime error and give the exit code: one line on stderr,
/// `<program>: error: <e>`, and exit code 1. Every example's `main` ends in it:
///
/// ```ignore
/// fn main() -> ExitCode {
///     kit::cli::quiet_on_closed_stdout();
///     match run(Args::parse()) {
///         Ok(()) => ExitCode::SUCCESS,
///         Err(e) => kit::cli::fail(e),
///     }
/// }
/// ```
///
/// A program of your own may write `{ eprintln!("name: error: {e}"); ExitCode::FAILURE }`
/// instead. What this adds: when stdout has been closed meanwhile, the error is the
/// consequence (a child that printed to the closed pipe and was killed by `SIGPIPE`), and
/// the program ends by `SIGPIPE` like its children, silently.
pub fn fail(e: impl Display) -> ExitCode {
    if stdout_closed() {
        die_of_sigpipe();
    }
    eprintln!("{}: error: {e}", program_name().unwrap_or_default());
    ExitCode::FAILURE
}

/// From now on, a `SIGPIPE` raised while stdout is closed (its reader gone) kills this
/// process, and any child forked later, by `SIGPIPE`, without a word: the behaviour of
/// `cat` under `| head`. A `SIGPIPE` for any other pipe or socket is ignored as before, so
/// that write fails with `EPIPE` (`BrokenPipe`). The first line of an example's `main`;
/// idempotent.
pub fn quiet_on_closed_stdout() {
    MAIN_PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: `sigaction` with a zeroed struct, an empty mask and a handler that only
    // calls async-signal-safe functions (`poll`, `signal`, `raise`) and restores errno.
    // SA_RESTART keeps other system calls of the interrupted thread going.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigpipe as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
    }
}

/// The process that called [`quiet_on_closed_stdout`]: the program's main process, which
/// every process of the program descends from.
static MAIN_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn on_sigpipe(_signal: libc::c_int) {
    // SAFETY: errno is thread-local; reading and restoring it is what a handler must do.
    let saved = unsafe { *libc::__errno_location() };
    if stdout_closed() {
        // A child tells the main process first, which then ends too (its own stdout is the
        // same closed pipe), and takes its other children with it (`PR_SET_PDEATHSIG`):
        // without this, a sibling waiting for this child (at a barrier, on a queue) would
        // keep the program going until its timeout, or for ever.
        let main = MAIN_PID.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: getpid and kill are async-signal-safe; `main` is this program's main
        // process, alive while this child is (a child dies with its parent).
        unsafe {
            if main != 0 && libc::getpid() as u32 != main {
                libc::kill(main as libc::pid_t, libc::SIGPIPE);
            }
        }
        die_of_sigpipe();
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// Whether stdout is a pipe or socket whose reader has gone (`poll` reports `POLLERR` or
/// `POLLHUP` for it). Async-signal-safe.
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// End the process by `SIGPIPE`, as `cat` ends when its reader goes away.
fn die_of_sigpipe() -> ! {
    // SAFETY: restore the default action (terminate) and send the signal to ourselves.
    // Inside the handler SIGPIPE is blocked, so it is delivered as the handler returns;
    // elsewhere at once. Both are async-signal-safe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, libc::SIGPIPE);
        libc::raise(libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
        libc::_exit(128 + libc::SIGPIPE)
    }
}

/// The name this program was started as (`argv[0]` without its directory).
fn program_name() -> Option<String> {
    std::env::args().next().and_then(|p| {
        std::path::Path::new(&p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    })
}

/// Reject arguments that parse but make no sense together: print `message` with the usage
/// line and exit 2, as clap does for its own checks.
pub fn usage_error<A: clap::CommandFactory>(message: impl Display) -> ! {
    let mut command = A::command();
    // As clap's own errors do: the usage line names the binary, not the package.
    if let Some(name) = program_name() {
        command = command.bin_name(name);
    }
    command
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// Longest duration any example accepts for a time flag: one day. Longer waits are not
/// what an example is for, and a bound keeps `Instant::now() + d` from overflowing.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Most processes an example starts for one flag (`--workers`, `-p`): far more than the
/// cores of any machine these examples are for, and few enough that their pipes and
/// mappings fit in the default limits (1024 open files).
pub const MAX_PROCESSES: usize = 256;

/// Parse a non-negative, finite number of seconds (`"0.5"`, `"3"`), at most a day
/// ([`MAX_WAIT`]), into a `Duration`.
/// Use with clap: `#[arg(long, value_parser = kit::cli::seconds)]`.
pub fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a non-negative number of seconds"));
    }
    if v > MAX_WAIT.as_secs_f64() {
        return Err(format!("{s} is not in 0..={} seconds", MAX_WAIT.as_secs()));
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

/// Parse a whole number of milliseconds, at most a day ([`MAX_WAIT`]), into a `Duration`.
pub fn millis(s: &str) -> Result<Duration, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of milliseconds"))?;
    let max = MAX_WAIT.as_millis() as u64;
    if v > max {
        return Err(format!("{v} is not in 0..={max} milliseconds"));
    }
    Ok(Duration::from_millis(v))
}

/// Parse a number of processes (`--workers`, `-p`): a whole number from 1 to
/// [`MAX_PROCESSES`]. Use with clap: `#[arg(long, value_parser = kit::cli::processes)]`.
/// (clap's `value_parser!(usize)` has no `.range`; this is that range for `usize`.)
pub fn processes(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err(format!(
            "0 is not in 1..={MAX_PROCESSES}: at least one process is needed"
        )),
        Ok(n) if n > MAX_PROCESSES => Err(format!("{n} is not in 1..={MAX_PROCESSES}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number of processes")),
    }
}

/// A value parser for a `usize` in `range` (clap's `value_parser!(usize)` has no `.range`):
/// `#[arg(long, value_parser = kit::cli::usize_in(0..=1_000_000))]`. The message
/// names the range: "5000000 is not in 0..=1000000".
pub fn usize_in(
    range: RangeInclusive<usize>,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not in {}..={}", range.start(), range.end())),
        Err(_) => Err(format!(
            "'{s}' is not a whole number in {}..={}",
            range.start(),
            range.end()
        )),
    }
}

/// A check on arguments that parse one by one but not together (a product too large for
/// memory, too many list items): unless `ok`, a usage error with `message`, exit code 2,
/// before any work. The message should name the flags and the bound.
pub fn require<A: clap::CommandFactory>(ok: bool, message: impl Display) {
    if !ok {
        usage_error::<A>(message)
    }
}

/// A list as one `key=value` value: the items comma-separated, `""` for none
/// (`println!("results={}", cli::comma_list(&results))`).
pub fn comma_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    items.join(",")
}

/// Parse a finite number (no `nan`, no `inf`).
/// Use with clap: `#[arg(long, value_parser = kit::cli::finite)]`.
pub fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("'{s}' is not a finite number"))
    }
}

/// Parse a finite number greater than zero.
pub fn positive(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("'{s}' is not greater than zero"))
    }
}

/// Parse a fraction: a number from 0 to 1, both included.
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("'{s}' is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accepts_fractions_and_rejects_nonsense() {
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("3"), Ok(Duration::from_secs(3)));
        assert!(seconds("-1").is_err());
        assert!(seconds("nan").is_err());
        assert!(seconds("inf").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn numbers_are_checked_for_range() {
        assert_eq!(finite("-0.5"), Ok(-0.5));
        assert!(finite("nan").is_err() && finite("-inf").is_err() && finite("x").is_err());
        assert_eq!(positive("0.01"), Ok(0.01));
        assert!(positive("0").is_err() && positive("-1").is_err());
        assert_eq!(fraction("0"), Ok(0.0));
        assert_eq!(fraction("1"), Ok(1.0));
        assert!(fraction("1.01").is_err() && fraction("-0.1").is_err());
    }

    #[test]
    fn millis_rejects_negative() {
        assert_eq!(millis("100"), Ok(Duration::from_millis(100)));
        assert!(millis("-5").is_err());
    }

    #[test]
    fn processes_must_be_at_least_one() {
        assert_eq!(processes("4"), Ok(4));
        assert!(processes("0").is_err());
        assert!(processes("-2").is_err());
        assert!(processes("two").is_err());
        assert_eq!(processes("256"), Ok(256));
        assert!(processes("257").unwrap_err().contains("1..=256"));
    }

    #[test]
    fn durations_are_bounded_by_a_day() {
        assert_eq!(seconds("86400"), Ok(MAX_WAIT));
        assert!(seconds("86400.5").is_err() && seconds("1e300").is_err());
        assert_eq!(millis("86400000"), Ok(MAX_WAIT));
        assert!(millis("86400001").is_err());
    }

    #[test]
    fn usize_in_names_its_range() {
        let p = usize_in(1..=10);
        assert_eq!(p("10"), Ok(10));
        assert_eq!(p("11").unwrap_err(), "11 is not in 1..=10");
        assert!(p("0").is_err() && p("-1").is_err() && p("x").is_err());
    }

    #[test]
    fn comma_list_joins_with_commas() {
        assert_eq!(comma_list([1, 2, 3]), "1,2,3");
        assert_eq!(comma_list(Vec::<u8>::new()), "");
        let flags = vec![true, false];
        assert_eq!(comma_list(&flags), "true,false");
        assert_eq!(flags.len(), 2, "borrowed, not consumed");
    }
}
