//! What every example program shares: argument parsing with clap (usage errors exit 2,
//! `--help` exits 0), one line on stderr and exit code 1 for a runtime error, and value
//! parsers so every example reads and rejects durations the same way.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

/// Parse the arguments as `A`, run `body`, and turn its result into the exit code:
/// `fn main() -> ExitCode { multiproc::cli::main(run) }`.
pub fn main<A, E>(body: impl FnOnce(A) -> Result<(), E>) -> ExitCode
where
    A: clap::Parser,
    E: Display,
{
    let args = A::parse();
    match body(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: error: {e}", program_name().unwrap_or_default());
            ExitCode::FAILURE
        }
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

/// Parse a non-negative, finite number of seconds (`"0.5"`, `"3"`) into a `Duration`.
/// Use with clap: `#[arg(long, value_parser = multiproc::cli::seconds)]`.
pub fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a non-negative number of seconds"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| e.to_string())
}

/// Parse a whole number of milliseconds into a `Duration`.
pub fn millis(s: &str) -> Result<Duration, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of milliseconds"))?;
    Ok(Duration::from_millis(v))
}

/// Parse a number of processes (`--workers`, `-p`): a whole number, at least 1.
/// Use with clap: `#[arg(long, value_parser = multiproc::cli::processes)]`. (clap's
/// `value_parser!(usize)` has no `.range`; this is that range for `usize`.)
pub fn processes(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("at least one process is needed".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number of processes")),
    }
}

/// A list as one `key=value` value: the items comma-separated, `""` for none
/// (`println!("results={}", cli::comma_list(&results))`).
pub fn comma_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    items.join(",")
}

/// Parse a finite number (no `nan`, no `inf`).
/// Use with clap: `#[arg(long, value_parser = multiproc::cli::finite)]`.
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
