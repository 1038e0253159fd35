//! Messages between two processes, one way, child to parent: `Pipe` and `Queue` beside a
//! raw pipe and a raw `SOCK_SEQPACKET` socketpair, one syscall per message on each side.
//! Small messages (64 bytes, and small integers) in messages/s; bulk (64 KiB, 16 MiB) in
//! bytes/s. Target: Queue small messages at least 0.5x the raw seqpacket rate.

mod common;

use common::raw;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use multiproc::{Event, Pipe, Process, Queue};
use serde_bytes::ByteBuf;
use std::time::{Duration, Instant};

/// Time for `count` messages from a child: it waits for `go`, then runs `send`; the parent
/// receives with `recv`.
fn timed(count: u64, send: impl FnOnce(u64) + 'static, mut recv: impl FnMut()) -> Duration {
    let go = Event::new();
    let g = go.clone();
    common::assert_single_threaded();
    let mut child = Process::spawn(move || {
        g.wait();
        send(count);
    })
    .expect("start");
    let start = Instant::now();
    go.set();
    for _ in 0..count {
        recv();
    }
    let took = start.elapsed();
    assert_eq!(child.join().expect("join"), 0);
    took
}

fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("small messages, 64 bytes");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw pipe", |b| {
        b.iter_custom(|n| raw::stream(n, 64, raw::pipe(), false))
    });
    g.bench_function("raw seqpacket", |b| {
        b.iter_custom(|n| raw::stream(n, 64, raw::seqpacket(), true))
    });
    g.bench_function("multiproc Pipe send_bytes", |b| {
        b.iter_custom(|n| {
            let (rx, tx) = Pipe::one_way();
            timed(
                n,
                move |n| (0..n).for_each(|_| tx.send_bytes(&[7u8; 64]).unwrap()),
                || assert_eq!(rx.recv_bytes().unwrap().len(), 64),
            )
        })
    });
    g.bench_function("multiproc Queue<bytes>", |b| {
        b.iter_custom(|n| {
            let q: Queue<ByteBuf> = Queue::new().unwrap();
            let tx = q.clone();
            let msg = ByteBuf::from(vec![7u8; 64]);
            timed(
                n,
                move |n| (0..n).for_each(|_| tx.put(&msg).unwrap()),
                || assert_eq!(q.get().unwrap().len(), 64),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("small messages, u64");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw pipe", |b| {
        b.iter_custom(|n| raw::stream(n, 8, raw::pipe(), false))
    });
    g.bench_function("raw seqpacket", |b| {
        b.iter_custom(|n| raw::stream(n, 8, raw::seqpacket(), true))
    });
    g.bench_function("multiproc Pipe send", |b| {
        b.iter_custom(|n| {
            let (rx, tx) = Pipe::one_way();
            timed(
                n,
                move |n| (0..n).for_each(|i| tx.send(&i).unwrap()),
                || {
                    rx.recv::<u64>().unwrap();
                },
            )
        })
    });
    g.bench_function("multiproc Queue<u64>", |b| {
        b.iter_custom(|n| {
            let q: Queue<u64> = Queue::new().unwrap();
            let tx = q.clone();
            timed(
                n,
                move |n| (0..n).for_each(|i| tx.put(i).unwrap()),
                || {
                    q.get().unwrap();
                },
            )
        })
    });
    g.finish();
}

fn bulk(c: &mut Criterion) {
    for (label, size, count) in [
        ("64 KiB", 64 << 10, common::size(256, 8)),
        ("16 MiB", 16 << 20, common::size(4, 1)),
    ] {
        let mut g = c.benchmark_group(format!("bulk messages, {label}"));
        g.throughput(Throughput::Bytes(size as u64 * count));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("raw pipe", label), &size, |b, &size| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| raw::stream(count, size, raw::pipe(), false))
                    .sum()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("multiproc Pipe", label),
            &size,
            |b, &size| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let (rx, tx) = Pipe::one_way();
                            let msg = vec![7u8; size];
                            timed(
                                count,
                                move |n| (0..n).for_each(|_| tx.send_bytes(&msg).unwrap()),
                                || assert_eq!(rx.recv_bytes().unwrap().len(), size),
                            )
                        })
                        .sum()
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("multiproc Queue", label),
            &size,
            |b, &size| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let q: Queue<ByteBuf> = Queue::new().unwrap();
                            let tx = q.clone();
                            let msg = ByteBuf::from(vec![7u8; size]);
                            timed(
                                count,
                                move |n| (0..n).for_each(|_| tx.put(&msg).unwrap()),
                                || assert_eq!(q.get().unwrap().len(), size),
                            )
                        })
                        .sum()
                })
            },
        );
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = small, bulk
}
criterion_main!(benches);
