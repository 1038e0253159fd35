//! Listener and clients (Python docs, "Listeners and Clients"): a server binds a
//! `Listener` with a key and starts `--workers` workers as separate commands (this program
//! run again with `--connect PATH` and the key in its environment: executed, not forked,
//! so they share nothing with the server but the socket's address and the key). It hands
//! them typed work items over their connections, sleeping on all of them at once with
//! `connection::wait`, and collects the results.
//!
//! Python original: `Listener(address, authkey=key)`, `listener.accept()`,
//! `Client(address, authkey=key)`, `conn.send(obj)` / `conn.recv()`,
//! `multiprocessing.connection.wait(conns)`.
//! Look for: every item is computed once (`results` = `items`), by every worker
//! (`distinct_workers` = `workers`, each with its own pid), and `total` = `expected`.
//!
//! Run: `just run listener_client` (or `cargo run --release --bin listener_client`)

use clap::Parser;
use multiproc::connection::{Client, Connection, Listener, wait};
use multiproc::current_process;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The environment variable a worker reads the key from (hex), so it is not on the
/// command line for `ps` to show.
const KEY_VAR: &str = "LISTENER_CLIENT_AUTHKEY";

/// A server and workers started as separate commands, talking over a Listener.
#[derive(Parser)]
struct Args {
    /// How many worker commands to start.
    #[arg(long, default_value_t = 3, value_parser = kit::cli::processes)]
    workers: usize,
    /// How many work items to hand out.
    #[arg(long, default_value_t = 20)]
    items: u32,
    /// (Worker mode: the server's socket path; the key comes in the environment.)
    #[arg(long, hide = true)]
    connect: Option<PathBuf>,
}

/// What the server sends a worker.
#[derive(Serialize, Deserialize)]
enum Job {
    /// Sum the squares of `0..n`.
    Work { id: u32, n: u64 },
    /// No more work: disconnect and exit.
    Stop,
}

/// What a worker sends back.
#[derive(Serialize, Deserialize)]
struct Done {
    id: u32,
    sum: u64,
    pid: u32,
}

fn sum_of_squares(n: u64) -> u64 {
    (0..n).map(|i| i * i).sum()
}

fn worker(path: PathBuf) -> multiproc::Result<()> {
    let hex = std::env::var(KEY_VAR).unwrap_or_default();
    let key: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let conn = Client::connect(&path, key)?;
    while let Job::Work { id, n } = conn.recv::<Job>()? {
        conn.send(&Done {
            id,
            sum: sum_of_squares(n),
            pid: std::process::id(),
        })?;
    }
    Ok(())
}

fn serve(args: &Args) -> multiproc::Result<()> {
    let key = current_process().authkey();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut listener = Listener::new(key)?;
    let multiproc::connection::Address::Unix(path) = listener.address().clone() else {
        unreachable!("Listener::new binds a Unix path")
    };
    println!(
        "server pid={} listening={}",
        std::process::id(),
        path.display()
    );
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..args.workers {
        children.push(
            Command::new(&exe)
                .arg("--connect")
                .arg(&path)
                .env(KEY_VAR, &hex)
                .spawn()?,
        );
    }
    let conns: Vec<Connection> = (0..args.workers)
        .map(|_| listener.accept_timeout(Duration::from_secs(30)))
        .collect::<multiproc::Result<_>>()?;
    println!("accepted={} refused={}", conns.len(), listener.refused());
    let mut items = (0..args.items).map(|id| (id, 1000 + 100 * u64::from(id)));
    let mut busy = vec![false; conns.len()];
    for (conn, busy) in conns.iter().zip(&mut busy) {
        match items.next() {
            Some((id, n)) => {
                conn.send(&Job::Work { id, n })?;
                *busy = true;
            }
            None => conn.send(&Job::Stop)?,
        }
    }
    let mut results = BTreeMap::new();
    let mut pids = BTreeSet::new();
    while busy.iter().any(|&b| b) {
        let waiting: Vec<usize> = (0..conns.len()).filter(|&i| busy[i]).collect();
        let objects: Vec<&dyn AsFd> = waiting.iter().map(|&i| &conns[i] as &dyn AsFd).collect();
        for r in wait(&objects, Some(Duration::from_secs(30)))? {
            let i = waiting[r];
            let done: Done = conns[i].recv()?;
            pids.insert(done.pid);
            results.insert(done.id, done.sum);
            match items.next() {
                Some((id, n)) => conns[i].send(&Job::Work { id, n })?,
                None => {
                    conns[i].send(&Job::Stop)?;
                    busy[i] = false;
                }
            }
        }
    }
    for mut c in children {
        let status = c.wait()?;
        println!("worker exited={}", status.code().unwrap_or(-1));
    }
    for pid in &pids {
        println!("worker_pid={pid}");
    }
    let total: u64 = results.values().sum();
    let expected: u64 = (0..args.items)
        .map(|id| sum_of_squares(1000 + 100 * u64::from(id)))
        .sum();
    println!(
        "items={} results={} distinct_workers={} total={total} expected={expected}",
        args.items,
        results.len(),
        pids.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    let args = Args::parse();
    let outcome = match &args.connect {
        Some(path) => worker(path.clone()),
        None => serve(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
