//! Library checks for `Pipe` and the queues that fork (see tests/process.rs).

use harness::checks;
use multiproc::{
    Error, Event, InvalidKind, JoinableQueue, Pipe, Process, Queue, SimpleQueue, Value,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        pipe_is_duplex_typed_and_keeps_boundaries,
        one_way_pipe_and_poll,
        sixteen_mib_round_trips_through_pipe_and_queue,
        four_producers_four_consumers_pass_every_item_once,
        get_timeout_is_honoured_beside_a_blocked_reader,
        bounded_put_times_out_when_full,
        joining_a_producer_with_unread_items_does_not_deadlock,
        close_drains_then_reports_closed,
        joinable_queue_counts_unfinished_tasks,
        simple_queue_between_processes,
        queue_memory_is_reused_after_draining,
        queues_fit_in_a_small_address_space,
        a_hundred_thousand_live_queues,
        queue_new_reports_enomem_as_an_error,
        a_queue_grows_while_another_process_reads_it,
        a_producer_killed_while_putting_loses_duplicates_and_tears_nothing,
        an_item_whose_deserialize_panics_is_consumed_for_every_process,
    ])
}

fn pipe_is_duplex_typed_and_keeps_boundaries() {
    let (a, b) = Pipe::new();
    let mut p = Process::spawn(move || {
        let n: u64 = b.recv().unwrap();
        b.send(&(n * 2, "doubled".to_string())).unwrap();
        b.send_bytes(b"one").unwrap();
        b.send_bytes(b"").unwrap();
        b.send_bytes(b"three").unwrap();
    })
    .unwrap();
    a.send(&21u64).unwrap();
    assert_eq!(a.recv::<(u64, String)>().unwrap(), (42, "doubled".into()));
    assert_eq!(a.recv_bytes().unwrap(), b"one");
    assert_eq!(a.recv_bytes().unwrap(), b"");
    assert_eq!(a.recv_bytes().unwrap(), b"three");
    p.join().unwrap();
    assert!(matches!(a.recv_bytes(), Err(Error::Closed)));
}

fn one_way_pipe_and_poll() {
    let (r, w) = Pipe::one_way();
    let go = Event::new();
    let g = go.clone();
    let mut p = Process::spawn(move || {
        g.wait();
        w.send(&vec![1u8, 2, 3]).unwrap();
    })
    .unwrap();
    let t = Instant::now();
    assert!(!r.poll(Duration::from_millis(100)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(95));
    go.set();
    assert!(r.poll(Duration::from_secs(30)).unwrap());
    assert!(
        r.poll(Duration::ZERO).unwrap(),
        "a polled message stays ready"
    );
    assert_eq!(r.recv::<Vec<u8>>().unwrap(), [1, 2, 3]);
    p.join().unwrap();
    assert!(
        r.poll(Duration::from_secs(30)).unwrap(),
        "closed peer counts as ready"
    );
    assert!(matches!(r.recv::<Vec<u8>>(), Err(Error::Closed)));
}

fn big(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sixteen_mib_round_trips_through_pipe_and_queue() {
    const N: usize = 16 << 20;
    let (a, b) = Pipe::new();
    let q: Queue<serde_bytes::ByteBuf> = Queue::new().unwrap();
    let back: Queue<serde_bytes::ByteBuf> = Queue::new().unwrap();
    let (qc, bc) = (q.clone(), back.clone());
    let mut p = Process::spawn(move || {
        let m = b.recv_bytes().unwrap();
        b.send_bytes(&m).unwrap();
        let m = qc.get().unwrap();
        bc.put(m).unwrap();
    })
    .unwrap();
    let msg = big(N, 7);
    a.send_bytes(&msg).unwrap();
    assert!(
        a.recv_bytes().unwrap() == msg,
        "16 MiB through the pipe and back"
    );
    q.put(serde_bytes::ByteBuf::from(big(N, 9))).unwrap();
    assert!(
        back.get().unwrap().into_vec() == big(N, 9),
        "16 MiB through two queues"
    );
    p.join().unwrap();
}

fn four_producers_four_consumers_pass_every_item_once() {
    const PER_PRODUCER: u64 = 25_000;
    let q: Queue<u64> = Queue::new().unwrap();
    let results: Queue<Vec<u64>> = Queue::new().unwrap();
    let mut ps = Vec::new();
    for k in 0..4u64 {
        let q = q.clone();
        ps.push(
            Process::spawn(move || {
                for i in 0..PER_PRODUCER {
                    q.put(k * PER_PRODUCER + i).unwrap();
                }
            })
            .unwrap(),
        );
    }
    for _ in 0..4 {
        let (q, results) = (q.clone(), results.clone());
        ps.push(
            Process::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match q.get() {
                        Ok(v) => got.push(v),
                        Err(Error::Closed) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                // Each consumer sees each producer's items in that producer's order.
                for k in 0..4 {
                    let mine: Vec<u64> = got
                        .iter()
                        .copied()
                        .filter(|v| v / PER_PRODUCER == k)
                        .collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per producer");
                }
                results.put(got).unwrap();
            })
            .unwrap(),
        );
    }
    for p in ps.iter_mut().take(4) {
        assert_eq!(p.join().unwrap(), 0);
    }
    q.close(); // producers are done: consumers drain and stop
    let mut all = Vec::new();
    for _ in 0..4 {
        all.extend(results.get().unwrap());
    }
    for p in ps.iter_mut().skip(4) {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(
        all.len() as u64,
        4 * PER_PRODUCER,
        "nothing lost or duplicated"
    );
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len() as u64, 4 * PER_PRODUCER);
    assert!(q.empty());
}

fn get_timeout_is_honoured_beside_a_blocked_reader() {
    let q: Queue<i32> = Queue::new().unwrap();
    let reading = Event::new();
    let (qc, r) = (q.clone(), reading.clone());
    let mut blocked = Process::spawn(move || {
        r.set();
        qc.get().unwrap() // blocks until the parent puts
    })
    .unwrap();
    assert!(reading.wait_timeout(Duration::from_secs(30)));
    let t = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(300)),
        Err(Error::Empty)
    ));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "overran: {took:?}");
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
    q.put(7).unwrap();
    assert_eq!(
        blocked.join().unwrap(),
        7,
        "the blocked reader got the item"
    );
}

fn bounded_put_times_out_when_full() {
    let q: Queue<String> = Queue::with_maxsize(2).unwrap();
    q.put("a".to_string()).unwrap();
    q.put_nowait("b".to_string()).unwrap();
    assert!(q.full());
    assert!(matches!(q.put_nowait("c".to_string()), Err(Error::Full)));
    let t = Instant::now();
    assert!(matches!(
        q.put_timeout("c".to_string(), Duration::from_millis(200)),
        Err(Error::Full)
    ));
    assert!(t.elapsed() >= Duration::from_millis(200));
    // A consumer in another process makes room; a blocked put then completes.
    let qc = q.clone();
    let mut p = Process::spawn(move || {
        std::thread::sleep(Duration::from_millis(50)); // not synchronisation: either order works
        qc.get().unwrap();
    })
    .unwrap();
    q.put("c".to_string()).unwrap();
    p.join().unwrap();
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.get().unwrap(), "b");
    assert_eq!(q.get().unwrap(), "c");
}

fn joining_a_producer_with_unread_items_does_not_deadlock() {
    let q: Queue<Vec<u32>> = Queue::new().unwrap();
    let qc = q.clone();
    // 2,000 items of 4 KiB: 8 MiB nobody reads before the join.
    let mut p = Process::spawn(move || {
        for i in 0..2000u32 {
            qc.put(vec![i; 1024]).unwrap();
        }
    })
    .unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(60)).unwrap(), Some(0));
    assert_eq!(q.qsize(), 2000);
    for i in 0..2000u32 {
        assert_eq!(q.get().unwrap()[1023], i);
    }
}

fn close_drains_then_reports_closed() {
    let q: Queue<u8> = Queue::new().unwrap();
    q.put(1u8).unwrap();
    q.close();
    assert!(q.is_closed());
    assert!(matches!(q.put(2u8), Err(Error::Closed)));
    assert_eq!(q.get().unwrap(), 1);
    assert!(matches!(q.get(), Err(Error::Closed)));
    // A reader blocked in another process is released by close.
    let q2: Queue<u8> = Queue::new().unwrap();
    let waiting = Event::new();
    let (qc, w) = (q2.clone(), waiting.clone());
    let mut p = Process::spawn(move || {
        w.set();
        matches!(qc.get(), Err(Error::Closed)) as i32
    })
    .unwrap();
    assert!(waiting.wait_timeout(Duration::from_secs(30)));
    q2.close();
    assert_eq!(p.join().unwrap(), 1);
}

fn joinable_queue_counts_unfinished_tasks() {
    let q: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    let done = Value::new(0u32);
    for i in 0..50 {
        q.put(i).unwrap();
    }
    assert_eq!(q.unfinished(), 50);
    assert!(matches!(
        q.join_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    let mut ps: Vec<Process> = (0..2)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            Process::spawn(move || {
                while let Ok(_item) = q.get_timeout(Duration::from_millis(200)) {
                    *done.lock().unwrap() += 1;
                    q.task_done().unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    q.join().unwrap();
    assert_eq!(done.load(), 50, "join returned only after every task_done");
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert!(
        matches!(
            q.task_done(),
            Err(Error::Invalid {
                kind: InvalidKind::OverReleased,
                ..
            })
        ),
        "one too many"
    );
}

fn simple_queue_between_processes() {
    let q: SimpleQueue<String> = SimpleQueue::new().unwrap();
    let qc = q.clone();
    let mut p = Process::spawn(move || qc.put("from the child".to_string()).unwrap()).unwrap();
    assert_eq!(q.get().unwrap(), "from the child");
    assert!(q.empty());
    p.join().unwrap();
}

fn queue_memory_is_reused_after_draining() {
    // Many rounds of fill-and-drain through a small buffer stay correct (reset to the
    // start on empty, compaction when the free space is at the front).
    let q: Queue<Vec<u64>> = Queue::new().unwrap();
    for round in 0..50u64 {
        for i in 0..100u64 {
            q.put(vec![round, i, round * i]).unwrap();
        }
        for i in 0..60u64 {
            assert_eq!(q.get().unwrap(), vec![round, i, round * i]);
        }
        for i in 60..100u64 {
            assert_eq!(q.get().unwrap(), vec![round, i, round * i]);
        }
        assert!(q.empty());
    }
    // Interleaved: the log never empties, so it compacts instead.
    q.put(vec![0]).unwrap();
    for i in 1..20_000u64 {
        q.put(vec![i; 8]).unwrap();
        let v = q.get().unwrap();
        assert_eq!(v[0], i - 1);
    }
}

fn limit_address_space(bytes: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_AS).unwrap();
    setrlimit(Resource::RLIMIT_AS, bytes.min(hard), hard).unwrap();
}

fn queues_fit_in_a_small_address_space() {
    // Each queue used to reserve a 32 GiB window: under 4 GiB not even one fitted.
    limit_address_space(4 << 30);
    let queues: Vec<Queue<Vec<u8>>> = (0..64).map(|_| Queue::new().unwrap()).collect();
    let qs = queues.clone();
    let mut p = Process::spawn(move || {
        for (i, q) in qs.iter().enumerate() {
            q.put(vec![i as u8; 1 << (i % 21)]).unwrap();
        }
    })
    .unwrap();
    for (i, q) in queues.iter().enumerate() {
        assert_eq!(q.get().unwrap(), vec![i as u8; 1 << (i % 21)]);
    }
    assert_eq!(p.join().unwrap(), 0);
    let pool = multiproc::Pool::new(2).unwrap();
    assert_eq!(pool.map(|x: u64| x * x, 0..100).unwrap()[99], 99 * 99);
    pool.close().unwrap();
    pool.join().unwrap();
}

fn a_hundred_thousand_live_queues() {
    let queues: Vec<Queue<u32>> = (0..100_000).map(|_| Queue::new().unwrap()).collect();
    for (i, q) in queues.iter().enumerate() {
        q.put(i as u32).unwrap();
    }
    // Another process reads every one of them.
    let qs = queues.clone();
    let mut p = Process::spawn(move || {
        for (i, q) in qs.iter().enumerate() {
            assert_eq!(q.get().unwrap(), i as u32);
            q.put(i as u32 + 1).unwrap();
        }
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0);
    for (i, q) in queues.iter().enumerate() {
        assert_eq!(q.get().unwrap(), i as u32 + 1);
        assert!(q.empty());
    }
}

/// This process's address-space size now (`VmSize`), in bytes.
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

fn queue_new_reports_enomem_as_an_error() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    // Leave the allocator free heap to work with once the limit is set.
    let mut queues: Vec<Queue<u8>> = Vec::with_capacity(1024);
    drop((0..20_000).map(|_| Box::new([0u8; 64])).collect::<Vec<_>>());
    let (soft, hard) = getrlimit(Resource::RLIMIT_AS).unwrap();
    let err = loop {
        // No room for a single new mapping: the next slab of queues cannot be made.
        limit_address_space(vm_size() + (16 << 10));
        match Queue::new() {
            Ok(q) => queues.push(q),
            Err(e) => break e,
        }
        assert!(queues.len() < 1000, "Queue::new never failed");
    };
    assert!(
        matches!(&err, Error::Io(e) if e.raw_os_error() == Some(libc::ENOMEM)),
        "{err:?}"
    );
    // The queues made before still work, and with room again new ones can be made.
    setrlimit(Resource::RLIMIT_AS, soft, hard).unwrap();
    let q: Queue<u8> = Queue::new().unwrap();
    q.put(7).unwrap();
    assert_eq!(q.get().unwrap(), 7);
    for q in &queues {
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
    }
}

fn a_queue_grows_while_another_process_reads_it() {
    // Bursts far larger than the inline log and the first mapping, read while being put:
    // the reader must follow every growth of the buffer made by the writer.
    let q: Queue<(u64, serde_bytes::ByteBuf)> = Queue::new().unwrap();
    let done = Value::new(0u64);
    let (rx, d) = (q.clone(), done.clone());
    let mut consumer = Process::spawn(move || {
        let mut next = 0u64;
        while let Ok((n, bytes)) = rx.get() {
            assert_eq!(n, next, "in order, none lost or repeated");
            assert_eq!(bytes.len(), size_of_item(n));
            assert!(bytes.first() == Some(&(n as u8)) || bytes.is_empty());
            assert!(bytes == vec![n as u8; bytes.len()], "not torn");
            next += 1;
        }
        d.store(next);
    })
    .unwrap();
    const ITEMS: u64 = 3000;
    for n in 0..ITEMS {
        q.put((
            n,
            serde_bytes::ByteBuf::from(vec![n as u8; size_of_item(n)]),
        ))
        .unwrap();
    }
    q.close();
    assert_eq!(consumer.join().unwrap(), 0);
    assert_eq!(done.load(), ITEMS);
}

/// Mostly small items, with bursts of large ones (up to 512 KiB: about 100 MiB in all).
fn size_of_item(n: u64) -> usize {
    if (n / 100) % 3 == 2 {
        (n as usize % 8 + 1) << 16
    } else {
        (n as usize * 37) % 2000
    }
}

fn a_producer_killed_while_putting_loses_duplicates_and_tears_nothing() {
    // The producer is killed while it streams large items (so most likely inside a `put`,
    // which holds the lock while it copies, or while it grows the buffer): what is left in
    // the queue is exactly the items it completed, in order, intact, and the queue works on.
    // Bounded, so the producer cannot run far ahead (up to 64 items of at most 448 KiB).
    let q: Queue<(u64, serde_bytes::ByteBuf)> = Queue::with_maxsize(64).unwrap();
    let mut next = 0u64;
    for round in 0..5u64 {
        let tx = q.clone();
        let first = next;
        let mut producer = Process::spawn(move || {
            for n in first.. {
                let size = ((n % 7 + 1) << 16) as usize;
                tx.put((n, serde_bytes::ByteBuf::from(vec![n as u8; size])))
                    .unwrap();
            }
        })
        .unwrap();
        for _ in 0..10 + round * 5 {
            let (n, bytes) = q.get().unwrap();
            assert_eq!(n, next);
            assert!(bytes == vec![n as u8; ((n % 7 + 1) << 16) as usize]);
            next += 1;
        }
        producer.kill().unwrap();
        assert_eq!(producer.join().unwrap(), -9);
        loop {
            match q.get_nowait() {
                Ok((n, bytes)) => {
                    assert_eq!(n, next, "none lost or repeated");
                    assert!(
                        bytes == vec![n as u8; ((n % 7 + 1) << 16) as usize],
                        "not torn"
                    );
                    next += 1;
                }
                Err(Error::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    q.put((7, serde_bytes::ByteBuf::from(vec![1u8; 3])))
        .unwrap();
    assert_eq!(q.get().unwrap().1.len(), 3);
}

/// A `u64` whose `Deserialize` panics when the value is 13 (a user's serde impl is
/// untrusted code).
#[derive(serde::Serialize, Debug, PartialEq)]
struct PanicsOn13(u64);

impl<'de> serde::Deserialize<'de> for PanicsOn13 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = <u64 as serde::Deserialize>::deserialize(d)?;
        assert_ne!(n, 13, "13 does not decode");
        Ok(PanicsOn13(n))
    }
}

/// One `get` of at most 30 s: the item, or `None` if decoding it panicked.
fn get_or_panicked(q: &Queue<PanicsOn13>) -> Option<u64> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        q.get_timeout(Duration::from_secs(30))
    }))
    .ok()
    .map(|got| got.unwrap().0)
}

fn an_item_whose_deserialize_panics_is_consumed_for_every_process() {
    // Items 1, 13, 2, 3, 13, 4: each 13 panics in the process that takes it, and the panic
    // reaches that process's caller; the item is gone, and every other item comes out once,
    // in order, to whichever process gets next.
    let q: Queue<PanicsOn13> = Queue::new().unwrap();
    for n in [1, 13, 2, 3, 13, 4] {
        q.put(PanicsOn13(n)).unwrap();
    }
    let seen: Queue<Option<u64>> = Queue::new().unwrap();
    let (qc, sc) = (q.clone(), seen.clone());
    let mut child = Process::spawn(move || {
        for _ in 0..3 {
            sc.put(get_or_panicked(&qc)).unwrap();
        }
    })
    .unwrap();
    let in_child: Vec<Option<u64>> = (0..3)
        .map(|_| seen.get_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(in_child, [Some(1), None, Some(2)], "the child's gets");
    assert_eq!(q.qsize(), 3);
    let in_parent: Vec<Option<u64>> = (0..3).map(|_| get_or_panicked(&q)).collect();
    assert_eq!(in_parent, [Some(3), None, Some(4)], "the parent's gets");
    assert!(q.empty());
    assert!(matches!(q.get_nowait(), Err(Error::Empty)));
}
