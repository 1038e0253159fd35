//! `connection::Connection` round trips over a Unix socket beside a raw Unix stream with
//! the same framing (a 4-byte length and the payload in one write, `read_exact` on the
//! other side), for 64-byte and 16 MiB messages, with an echo child; and the cost of
//! CPython's authentication handshake as this crate does it (Unix socket and loopback
//! TCP), with CPython's own handshake timed in the same run by `python3` (printed; skipped
//! where there is none). Target: a round trip at most 1.2x the raw stream's.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use multiproc::connection::{Address, Client, Listener, NO_KEY};
use multiproc::{Event, Process};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fresh abstract name per listener (no socket file to clean up).
fn name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "\0multiproc-bench-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` round trips of `size` bytes over a raw Unix stream to an echo child.
fn raw_round_trips(n: u64, size: usize) -> Duration {
    let (mut a, b) = UnixStream::pair().unwrap();
    common::assert_single_threaded();
    let mut child = Process::spawn(move || {
        let mut b = b;
        let mut h = [0u8; 4];
        while b.read_exact(&mut h).is_ok() {
            let len = u32::from_be_bytes(h) as usize;
            let mut out = vec![0u8; 4 + len];
            out[..4].copy_from_slice(&h);
            b.read_exact(&mut out[4..]).unwrap();
            b.write_all(&out).unwrap();
        }
    })
    .unwrap();
    let mut frame = (size as u32).to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(7u8, size));
    let start = Instant::now();
    for _ in 0..n {
        a.write_all(&frame).unwrap();
        let mut h = [0u8; 4];
        a.read_exact(&mut h).unwrap();
        let mut back = vec![0u8; u32::from_be_bytes(h) as usize];
        a.read_exact(&mut back).unwrap();
        assert_eq!(back.len(), size);
    }
    let took = start.elapsed();
    // The child holds a copy of `a` too (fork copies descriptors): end the stream itself.
    a.shutdown(std::net::Shutdown::Both).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    took
}

/// `n` round trips of `size` bytes over a `Connection` (Unix socket) to an echo child.
fn connection_round_trips(n: u64, size: usize) -> Duration {
    let mut listener = Listener::bind(name().as_str(), NO_KEY).unwrap();
    let address = listener.address().clone();
    common::assert_single_threaded();
    let mut child = Process::spawn(move || {
        let conn = Client::connect(&address, NO_KEY).unwrap();
        while let Ok(m) = conn.recv_bytes() {
            conn.send_bytes(&m).unwrap();
        }
    })
    .unwrap();
    let conn = listener.accept().unwrap();
    let msg = vec![7u8; size];
    let start = Instant::now();
    for _ in 0..n {
        conn.send_bytes(&msg).unwrap();
        assert_eq!(conn.recv_bytes().unwrap().len(), size);
    }
    let took = start.elapsed();
    drop(conn);
    assert_eq!(child.join().unwrap(), 0);
    took
}

/// `n` authenticated connections accepted from a child that connects `n` times.
fn handshakes(n: u64, address: &str) -> Duration {
    let mut listener = Listener::bind(address, b"bench key").unwrap();
    let address: Address = listener.address().clone();
    let go = Event::new();
    let g = go.clone();
    common::assert_single_threaded();
    let mut child = Process::spawn(move || {
        g.wait();
        for _ in 0..n {
            let conn = Client::connect(&address, b"bench key").unwrap();
            drop(conn);
        }
    })
    .unwrap();
    let start = Instant::now();
    go.set();
    for _ in 0..n {
        drop(listener.accept().unwrap());
    }
    let took = start.elapsed();
    assert_eq!(child.join().unwrap(), 0);
    took
}

fn round_trips(c: &mut Criterion) {
    for (label, size) in [("64 bytes", 64usize), ("16 MiB", 16 << 20)] {
        let mut g = c.benchmark_group(format!("round trip over a Unix socket, {label}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("raw Unix stream", |b| {
            b.iter_custom(|n| raw_round_trips(n, size))
        });
        g.bench_function("connection::Connection", |b| {
            b.iter_custom(|n| connection_round_trips(n, size))
        });
        g.finish();
    }
}

/// CPython's handshake, `n` times over a Unix socket (a listener thread, a client in the
/// main thread): microseconds each, or `None` without `python3`.
fn cpython_handshake_us(n: u64) -> Option<(String, f64)> {
    let script = r#"
import sys, threading, time
from multiprocessing.connection import Listener, Client
n = int(sys.argv[1])
l = Listener(authkey=b"bench key")
def serve():
    for _ in range(n):
        l.accept().close()
t = threading.Thread(target=serve)
t.start()
start = time.perf_counter()
for _ in range(n):
    Client(l.address, authkey=b"bench key").close()
t.join()
print(sys.version.split()[0], (time.perf_counter() - start) / n * 1e6)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &n.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (version, us) = text.trim().split_once(' ')?;
    Some((version.to_string(), us.parse().ok()?))
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("authenticated connect + accept");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Unix socket", |b| b.iter_custom(|n| handshakes(n, &name())));
    g.bench_function("loopback TCP", |b| {
        b.iter_custom(|n| handshakes(n, "127.0.0.1:0"))
    });
    g.finish();
    let n = common::size(2000, 20);
    match cpython_handshake_us(n) {
        Some((version, us)) => {
            println!(
                "CPython {version} Listener/Client handshake, Unix socket: {us:.1} us each ({n} runs)"
            )
        }
        None => println!("CPython handshake: skipped (no python3)"),
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = round_trips, handshake
}
criterion_main!(benches);
