//! Process exit codes (Python docs, `Process.exitcode`): a child that returns normally, one
//! that exits with an explicit code, one that panics, and two that run until stopped, one
//! with `terminate()` (SIGTERM) and one with `kill()` (SIGKILL).
//!
//! Python original: `p.exitcode` after `sys.exit(n)`, an uncaught exception,
//! `p.terminate()`, `p.kill()`; `p.join(timeout)` returning while the child still runs.
//! Look for: exit codes 0, the code given, 1, -15 and -9, exactly as Python reports them,
//! and the panic's message on stderr. `join` with a timeout returns with the child alive.
//!
//! Run: `just run process_exitcodes` (or `cargo run --release --bin process_exitcodes`)

use clap::Parser;
use multiproc::Process;
use std::process::ExitCode;
use std::time::Duration;

/// Show how each way of ending a child is reported in `exitcode`.
#[derive(Parser)]
struct Args {
    /// Code the "exit" child leaves with (Python: `sys.exit(code)`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=255))]
    code: i32,
    /// How long `join` waits on a running child before giving up, in seconds.
    /// At most a day (86400 s).
    #[arg(long, default_value = "0.1", value_parser = kit::cli::seconds)]
    join_timeout: Duration,
}

/// A child that would run for ever.
fn run_forever() {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn report(case: &str, how: &str, code: i32) {
    println!("The child that {how}: exitcode_{case}={code}");
}

fn run(args: Args) -> multiproc::Result<()> {
    let mut ok = Process::spawn(|| {})?;
    report("ok", "returned normally", ok.join()?);

    let code = args.code;
    let mut exit = Process::spawn(move || -> () { multiproc::exit(code) })?;
    report("exit", &format!("called exit({code})"), exit.join()?);

    let mut panicked = Process::spawn(|| -> () { panic!("something went wrong in the child") })?;
    report(
        "panic",
        "panicked (its message is on stderr)",
        panicked.join()?,
    );

    for (case, how) in [
        ("terminate", "was stopped by terminate() (SIGTERM)"),
        ("kill", "was stopped by kill() (SIGKILL)"),
    ] {
        let mut p = Process::spawn(run_forever)?;
        let joined = p.join_timeout(args.join_timeout)?;
        println!(
            "join({:?}) on a running child returned with the child still running: \
             alive_after_join_timeout_{case}={}",
            args.join_timeout,
            joined.is_none() && p.is_alive()
        );
        if case == "terminate" {
            p.terminate()?;
        } else {
            p.kill()?;
        }
        report(case, how, p.join()?);
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
