//! Process logging (seed 000, "Logging"): the main process builds a logger configuration,
//! hands it to each child, and each child applies it in its `run`, so every process logs to
//! the console and to one shared file, every record tagged with its process name and pid.
//! Afterwards the main process reads the file back and checks it.
//!
//! Python original: `balsa = Balsa("myapp", "myname")`, `balsa.config_as_dict()` passed to
//! `CalculateE(name, logging_config)`, and `balsa_clone(self.logging_config, self.name)`
//! then `init_logger()` in `run()`.
//! Look for: records from every process interleaved on stderr and in the file, each one a
//! whole line (`... worker-2[41872] process_logging: ...`), and the check at the end:
//! every child's records present, in order, none torn or lost (`torn_lines=0`,
//! `missing=0`). The talk's pitfall, "logging implementation that doesn't take
//! multiprocessing into account", is the buffered handler whose lines from several
//! processes tear in a shared file; `multiproc::logging` writes each record with one
//! `O_APPEND` write.
//!
//! Run: `just run process_logging` (or `cargo run --release --bin process_logging`)

use clap::Parser;
use log::LevelFilter;
use multiproc::logging::LogConfig;
use multiproc::logging::LogLine;
use multiproc::{Error, Event, Process, current_process};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Children log through a configuration built in the parent into one shared file.
#[derive(Parser)]
struct Args {
    /// Child processes, each logging under its own name.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Records each child logs; 1 to 1,000,000.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    records: u32,
    /// Pad every message to this many bytes (longer than a pipe's atomic 4096 shows that
    /// whole lines do not depend on small writes); 0 to 1,048,576. The whole log, about
    /// workers x records x (bytes + 100), must stay under 1 GiB: it is read back at the end.
    #[arg(long, default_value_t = 0, value_parser = kit::cli::usize_in(0..=1_048_576))]
    message_bytes: usize,
    /// The shared log file, created or emptied before any work (default: a new file
    /// `process_logging-XXXXXX.log` in the temp directory, never an existing one).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Do not copy records to the console (stderr).
    #[arg(long)]
    no_console: bool,
    /// Most detailed level written: error, warn, info, debug or trace.
    #[arg(long, default_value = "info", value_parser = level)]
    level: LevelFilter,
}

fn level(s: &str) -> Result<LevelFilter, String> {
    match s.parse::<LevelFilter>() {
        Ok(LevelFilter::Off) | Err(_) => Err(format!(
            "'{s}' is not one of error, warn, info, debug, trace"
        )),
        Ok(l) => Ok(l),
    }
}

/// Message `i` of process `who`, padded with dots to `len` bytes.
fn message(who: &str, i: u32, of: u32, len: usize) -> String {
    let head = format!("{who}: record {i} of {of}");
    let pad = len.saturating_sub(head.len() + 1);
    if pad == 0 {
        head
    } else {
        format!("{head} {}", ".".repeat(pad))
    }
}

/// What runs in each child: apply the configuration, as balsa_clone in `run()`, then log.
fn child(config: &LogConfig, go: &Event, records: u32, len: usize) -> multiproc::Result<()> {
    config.apply()?;
    let me = current_process();
    log::debug!("{} applied the logging configuration", me.name());
    go.wait(); // everyone starts logging at once, so their records really compete
    for i in 1..=records {
        log::info!("{}", message(me.name(), i, records, len));
    }
    log::warn!("{} is done", me.name());
    Ok(())
}

fn run(args: Args) -> multiproc::Result<()> {
    let log_bytes =
        u64::from(args.workers) * u64::from(args.records + 1) * (args.message_bytes as u64 + 100);
    kit::cli::require::<Args>(
        log_bytes <= 1 << 30,
        "--workers x --records x --message-bytes: the log would exceed 1 GiB",
    );
    let path = open_log(args.file.as_deref())?;
    println!("Logging to log_path={}", path.display());
    // Built once, in the parent (balsa's config_as_dict).
    let config = LogConfig::new("myapp")
        .level(args.level)
        .console(!args.no_console)
        .file(&path);
    config.apply()?;
    log::info!("main process starts {} workers", args.workers);

    let go = Event::new();
    let mut workers = Vec::new();
    for k in 1..=args.workers {
        let (config, go) = (config.clone(), go.clone());
        let (records, len) = (args.records, args.message_bytes);
        let mut p =
            Process::new(move || child(&config, &go, records, len)).name(format!("worker-{k}"));
        p.start()?;
        workers.push(p);
    }
    go.set();
    let pids: HashMap<String, u32> = (workers.iter())
        .map(|p| (p.get_name().to_string(), p.pid().expect("started")))
        .collect();
    multiproc::join_all(&mut workers)?; // a worker that failed is an error: exit 1
    log::info!("main process joined every worker");

    // Read the shared file back: whole lines, each child's records all there, in order.
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read log file {}: {e}", path.display()),
        ))
    })?;
    let (mut lines, mut torn, mut wrong_pid) = (0usize, 0usize, 0usize);
    let mut seen: HashMap<String, Vec<u32>> = HashMap::new();
    for line in text.lines() {
        lines += 1;
        let Some(rec) = LogLine::parse(line) else {
            torn += 1;
            continue;
        };
        if rec.process == "MainProcess" {
            continue;
        }
        if pids.get(rec.process) != Some(&rec.pid) {
            wrong_pid += 1;
        }
        if rec.level != log::Level::Info {
            continue;
        }
        // "worker-k: record i of n ...": intact only if it is exactly what was logged.
        let i = rec
            .message
            .strip_prefix(&format!("{}: record ", rec.process))
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok());
        match i {
            Some(i) if rec.message == message(rec.process, i, args.records, args.message_bytes) => {
                seen.entry(rec.process.to_string()).or_default().push(i)
            }
            _ => torn += 1,
        }
    }
    let expected: Vec<u32> = (1..=args.records).collect();
    let mut missing = 0usize;
    println!(
        "\nRead the file back: lines={lines} of which torn_lines={torn} are torn and \
         wrong_pid={wrong_pid} carry the wrong pid"
    );
    for k in 1..=args.workers {
        let name = format!("worker-{k}");
        let got = seen.get(&name).cloned().unwrap_or_default();
        let complete = got == expected;
        if !complete {
            missing += expected.iter().filter(|i| !got.contains(i)).count();
        }
        println!(
            "{name} with pid {} wrote records_from_{}={} info records: {}",
            pids[&name],
            name.replace('-', "_"),
            got.len(),
            if complete {
                "all present, in order"
            } else {
                "INCOMPLETE"
            }
        );
    }
    println!("Records missing in all: missing={missing}");
    if torn + wrong_pid + missing > 0 {
        return Err(multiproc::Error::Io(std::io::Error::other(
            "the shared log file is not intact",
        )));
    }
    Ok(())
}

/// Create the log file, empty, before any work: `given` as the user asked, else a new file
/// in the temp directory (created exclusively: never through a symlink, never over someone
/// else's file). Errors name the path.
fn open_log(given: Option<&std::path::Path>) -> multiproc::Result<PathBuf> {
    let named = |path: &std::path::Path, e: std::io::Error| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot create log file {}: {e}", path.display()),
        ))
    };
    match given {
        Some(path) => {
            std::fs::File::create(path).map_err(|e| named(path, e))?;
            Ok(path.to_path_buf())
        }
        None => {
            let dir = std::env::temp_dir();
            let temp = tempfile::Builder::new()
                .prefix("process_logging-")
                .suffix(".log")
                .tempfile_in(&dir)
                .map_err(|e| named(&dir, e))?;
            let (_file, path) = temp.keep().map_err(|e| Error::Io(e.error))?;
            Ok(path)
        }
    }
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
