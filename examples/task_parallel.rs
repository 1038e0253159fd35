//! Task parallel (seed 003, "Example: Task Parallelism with Pool.apply" and "... with
//! Process"): fooize some data, then do two different things with the result at the same
//! time: send it as JSON to a server, and write it as JSON to a file. Once with two
//! `apply_async` tasks in a pool, once with two `Process`es.
//!
//! Python original: `fooized_data = fooize(data)`, then
//! `send_async = pool.apply_async(send_data, (fooized_data, server_url))`,
//! `write_async = pool.apply_async(json_write, (fooized_data, "fooized.json"))`,
//! `send_async.get()`, `write_async.get()`; and the same with
//! `Process(target=send_data, ...)`, `Process(target=json_write, ...)`, `start`, `join`.
//! Look for: `received_equals_file=true` twice: the server got exactly the bytes written to
//! the file. The "server" is local: before each round the example binds a TCP listener on
//! 127.0.0.1 (port chosen by the OS) and starts a process that accepts one connection,
//! reads it to the end and hands what it got back to the parent through a `Pipe`. Nothing
//! leaves the machine. Files go to a temporary directory removed at exit, or to `--dir`.
//!
//! fooize (the seed leaves it abstract): each item becomes a record of its position, the
//! item itself, and the item with `foo_` in front and in upper case (`spam` -> `FOO_SPAM`).
//!
//! Run: `just run task_parallel` (or `cargo run --release --features json --bin task_parallel`)

use clap::Parser;
use multiproc::{Pipe, PipeReceiver, Pool, Process};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Fooize data, then send it to a local TCP server and write it to a JSON file in parallel.
#[derive(Parser)]
struct Args {
    /// The data to fooize, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_values_t = ["spam".to_string(), "eggs".to_string(), "ham".to_string()])]
    data: Vec<String>,
    /// Directory for the JSON files (default: a temporary one, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Worker processes for the apply_async round (the seed: `Pool(processes)`; two
    /// tasks); 1 to 256.
    #[arg(long, default_value_t = 2, value_parser = kit::cli::processes)]
    workers: usize,
}

/// One fooized item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Fooized {
    index: usize,
    item: String,
    foo: String,
}

fn fooize(data: &[String]) -> Vec<Fooized> {
    data.iter()
        .enumerate()
        .map(|(index, item)| Fooized {
            index,
            item: item.clone(),
            foo: format!("foo_{item}").to_uppercase(),
        })
        .collect()
}

/// The seed's `send_data(fooized_data, server_url)`: connect, send the JSON, close. Returns
/// the number of bytes sent.
fn send_data((data, addr): (Vec<Fooized>, String)) -> Result<usize, String> {
    let json = serde_json::to_vec(&data).map_err(|e| e.to_string())?;
    let mut stream = TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.write_all(&json).map_err(|e| e.to_string())?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    Ok(json.len())
}

/// The seed's `json_write(fooized_data, "fooized.json")`. Returns the number of bytes written.
fn json_write((data, path): (Vec<Fooized>, PathBuf)) -> Result<usize, String> {
    let json = serde_json::to_vec(&data).map_err(|e| e.to_string())?;
    std::fs::write(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(json.len())
}

/// The server: a listener on 127.0.0.1 and a process that accepts one connection and
/// passes everything it reads to the parent. A daemon, so an early return terminates it.
fn start_server() -> multiproc::Result<(String, PipeReceiver, Process)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (received, report) = Pipe::one_way();
    let server = Process::new(move || -> multiproc::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut bytes = Vec::new();
        conn.read_to_end(&mut bytes)?;
        report.send_bytes(&bytes)
    })
    .name("server")
    .daemon(true);
    let mut server = server;
    server.start()?;
    Ok((addr, received, server))
}

/// What the server received against what the file holds.
fn check(round: &str, path: &Path, received: &PipeReceiver) -> multiproc::Result<()> {
    let got = received.recv_bytes()?;
    let written = std::fs::read(path)?;
    println!(
        "{round}: the server received {} bytes and json_file={} holds {} bytes: \
         received_equals_file={}",
        got.len(),
        path.display(),
        written.len(),
        got == written
    );
    println!("  received_json={}", String::from_utf8_lossy(&got));
    Ok(())
}

type AnyError = Box<dyn std::error::Error>;

/// Round 1: `send_data` and `json_write` as two `apply_async` tasks in a pool.
fn with_pool(workers: usize, data: &[Fooized], dir: &Path) -> Result<(), AnyError> {
    let (addr, received, mut server) = start_server()?;
    let path = dir.join("fooized_pool.json");
    let pool = Pool::new(workers)?;
    let send_async = pool.apply_async(send_data, (data.to_vec(), addr.clone()))?;
    let write_async = pool.apply_async(json_write, (data.to_vec(), path.clone()))?;
    let sent = send_async.get()??;
    let written = write_async.get()??;
    println!("apply_async: send_data sent {sent} bytes to {addr}; json_write wrote {written}");
    check("apply_async", &path, &received)?;
    multiproc::join_all(std::slice::from_mut(&mut server))?; // a failed server: exit 1
    Ok(())
}

/// Round 2: the same two functions, each in a `Process` of its own.
fn with_processes(data: &[Fooized], dir: &Path) -> Result<(), AnyError> {
    let (addr, received, mut server) = start_server()?;
    let path = dir.join("fooized_process.json");
    let send_args = (data.to_vec(), addr);
    let write_args = (data.to_vec(), path.clone());
    let mut processes = [
        Process::new(move || send_data(send_args).map(drop)).name("send_data"),
        Process::new(move || json_write(write_args).map(drop)).name("json_write"),
    ];
    multiproc::start_all(&mut processes)?;
    let joined = multiproc::join_all(&mut processes);
    for p in &mut processes {
        let code = p.exitcode().unwrap_or(-1);
        println!("Process {} exited with exitcode={code}", p.get_name());
    }
    joined?; // a process that failed is an error: exit 1
    check("Process", &path, &received)?;
    multiproc::join_all(std::slice::from_mut(&mut server))?;
    Ok(())
}

fn run(args: Args) -> Result<(), AnyError> {
    let tmp;
    let dir = match &args.dir {
        Some(dir) if !dir.is_dir() => kit::cli::usage_error::<Args>(format!(
            "--dir {} is not an existing directory",
            dir.display()
        )),
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let fooized_data = fooize(&args.data);
    println!("fooized: {fooized_data:?}");
    with_pool(args.workers, &fooized_data, &dir)?;
    with_processes(&fooized_data, &dir)?;
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
