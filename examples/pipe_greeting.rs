//! Pipe greeting (seed 001, "A Word about Pipes"): `process_one` sends
//! "Hello from process_one" through a `Pipe`; `process_two` waits for it and prints it.
//! Then the same with raw bytes (`send_bytes` / `recv_bytes`).
//!
//! Python original: `sender, recipient = Pipe()`, `pipe.send(...)`, `pipe.recv()`.
//! Look for: the greeting arrives intact, both pids are printed, and once `process_one` has
//! exited, another `recv` in `process_two` reports the closed pipe instead of hanging
//! (Python raises `EOFError`).
//!
//! Run: `just run pipe_greeting` (or `cargo run --release --bin pipe_greeting`)

use clap::{Parser, ValueEnum};
use multiproc::{Connection, Error, Process};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `send` / `recv` of a serialised string.
    Object,
    /// `send_bytes` / `recv_bytes` of raw bytes.
    Bytes,
    /// One after the other.
    Both,
}

/// Two processes greet each other through a pipe.
#[derive(Parser)]
struct Args {
    /// The greeting (the seed: "Hello from process_one").
    #[arg(long, default_value = "Hello from process_one")]
    message: String,
    /// Which pipe interface to use.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
}

fn process_one(pipe: Connection, message: String, bytes: bool) -> multiproc::Result<()> {
    let pid = std::process::id();
    println!("I am process_one with sender_pid={pid}");
    if bytes {
        pipe.send_bytes(message.as_bytes())?;
    } else {
        pipe.send(&message)?;
    }
    std::thread::sleep(Duration::from_millis(10));
    println!("Exiting {pid}");
    Ok(())
}

fn process_two(pipe: Connection, bytes: bool) -> multiproc::Result<()> {
    let pid = std::process::id();
    println!("I am process_two with receiver_pid={pid} and waiting...");
    let greeting = if bytes {
        String::from_utf8_lossy(&pipe.recv_bytes()?).into_owned()
    } else {
        pipe.recv::<String>()?
    };
    let key = if bytes { "received_bytes" } else { "received" };
    println!("Happy someone said {key}={greeting:?} to me.");
    // process_one's end is the only sender; once it exits, recv reports the closed pipe.
    let after = match pipe.recv_bytes() {
        Err(Error::Closed) => "closed".to_string(),
        other => format!("{:?}", format!("unexpected {other:?}")),
    };
    println!("Another recv after process_one exited: after_sender_exit={after} (Python: EOFError)");
    println!("Exiting {pid}");
    Ok(())
}

fn greet(message: &str, bytes: bool) -> multiproc::Result<()> {
    let (sender, recipient) = multiproc::Pipe::new();
    let message = message.to_string();
    // Each end moves into its process; `start` drops the parent's copy.
    let mut processes = [
        Process::new(move || process_one(sender, message, bytes)).name("process_one"),
        Process::new(move || process_two(recipient, bytes)).name("process_two"),
    ];
    multiproc::start_all(&mut processes)?;
    // Joins both, then fails (exit 1) if either exited with anything but 0.
    let joined = multiproc::join_all(&mut processes);
    let codes: Vec<String> = (processes.iter_mut())
        .map(|p| {
            let code = p.exitcode().unwrap_or(-1);
            format!("{} with exitcode={code}", p.get_name())
        })
        .collect();
    println!("Joined {}", codes.join(" and "));
    joined
}

fn run(args: Args) -> multiproc::Result<()> {
    if matches!(args.mode, Mode::Object | Mode::Both) {
        greet(&args.message, false)?;
    }
    if matches!(args.mode, Mode::Bytes | Mode::Both) {
        greet(&args.message, true)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
