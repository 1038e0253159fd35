//! Library checks for `Pipe` and the queues that fork (see forked_process.rs).

use harness::checks;
use multiproc::{Error, Event, JoinableQueue, Pipe, Process, Queue, SimpleQueue, Value};
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
        matches!(q.task_done(), Err(Error::Invalid(_))),
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
