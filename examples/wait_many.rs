//! Waiting on many (Python docs, `multiprocessing.connection.wait`): one process starts
//! `--children` children, each sending `--messages` messages at its own pace through its
//! own pipe and then exiting, and multiplexes all their pipes and all their sentinels with
//! one `connection::wait` call per wake-up: no thread per child, no polling loop.
//!
//! Python original: `wait(readers + [p.sentinel for p in procs])`, `r.recv()`.
//! Look for: every message arrives (`received` = children × messages), each child's
//! sentinel fires once (`ended` = children), and the parent used almost no CPU while it
//! waited (`cpu_ms` small beside `wall_ms`).
//!
//! Run: `just run wait_many` (or `cargo run --release --bin wait_many`)

use clap::Parser;
use multiproc::connection::wait;
use multiproc::{Error, Pipe, PipeReceiver, Process};
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One process waits on many children's pipes and sentinels at once.
#[derive(Parser)]
struct Args {
    /// How many children.
    #[arg(long, default_value_t = 4, value_parser = kit::cli::processes)]
    children: usize,
    /// Messages each child sends.
    #[arg(long, default_value_t = 5)]
    messages: u32,
    /// Pause between a child's messages, in milliseconds (child `i` waits `i + 1` times it).
    #[arg(long, default_value = "20", value_parser = kit::cli::millis)]
    pause: Duration,
}

/// CPU time this process used so far (user + system).
fn cpu_time() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

fn run(args: Args) -> multiproc::Result<()> {
    let mut readers: Vec<Option<PipeReceiver>> = Vec::new();
    let mut sentinels: Vec<Option<OwnedFd>> = Vec::new();
    let mut procs = Vec::new();
    for i in 0..args.children {
        let (rx, tx) = Pipe::one_way();
        let (messages, pause) = (args.messages, args.pause * (i as u32 + 1));
        let p = Process::spawn(move || {
            for m in 0..messages {
                std::thread::sleep(pause);
                tx.send(&(i, m)).unwrap();
            }
        })?;
        sentinels.push(Some(p.sentinel()?));
        readers.push(Some(rx));
        procs.push(p);
    }
    let (cpu, started) = (cpu_time(), Instant::now());
    let (mut received, mut ended, mut wakeups) = (0, 0, 0);
    // Each wake-up: one wait over every open reader and every live child's sentinel.
    while readers.iter().any(Option::is_some) || sentinels.iter().any(Option::is_some) {
        let mut objects: Vec<&dyn AsFd> = Vec::new();
        let mut which = Vec::new();
        for (i, r) in readers.iter().enumerate() {
            if let Some(r) = r {
                objects.push(r);
                which.push((true, i));
            }
        }
        for (i, s) in sentinels.iter().enumerate() {
            if let Some(s) = s {
                objects.push(s);
                which.push((false, i));
            }
        }
        wakeups += 1;
        for k in wait(&objects, Some(Duration::from_secs(30)))? {
            match which[k] {
                (true, i) => match readers[i].as_ref().expect("open").recv::<(usize, u32)>() {
                    Ok((child, m)) => {
                        received += 1;
                        println!("message child={child} n={m}");
                    }
                    Err(Error::Closed) => readers[i] = None,
                    Err(e) => return Err(e),
                },
                (false, i) => {
                    sentinels[i] = None;
                    ended += 1;
                    println!("sentinel child={i}");
                }
            }
        }
    }
    let (cpu, wall) = (cpu_time() - cpu, started.elapsed());
    for p in &mut procs {
        println!("exitcode={}", p.join()?);
    }
    println!(
        "received={received} expected={} ended={ended} wakeups={wakeups} wall_ms={} cpu_ms={}",
        args.children * args.messages as usize,
        wall.as_millis(),
        cpu.as_millis()
    );
    Ok(())
}

fn main() -> ExitCode {
    kit::cli::quiet_on_closed_stdout();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => kit::cli::fail(e),
    }
}
