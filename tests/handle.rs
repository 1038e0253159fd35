//! Soundness of shared-object handles that cross a process boundary:
//! a handle is an unguessable id checked against the receiver's own table and the full
//! type; an `Array`'s length never comes from a message; objects the pool keeps private
//! cannot be reached; the table forgets dropped objects; and a mutex held through a leaked
//! guard is never unmapped. Runs each check in its own forked process group (see
//! process.rs).

mod support;

use harness::checks;
use multiproc::{
    Array, Event, JoinableQueue, Lock, Pipe, Pool, Process, Queue, RLock, SimpleQueue, Value,
};
use serde::{Deserialize, Serialize};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use support::rss_kib;

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        forged_handle_is_rejected,
        handle_decoded_as_another_type_is_rejected,
        array_length_comes_from_the_shared_object_not_the_message,
        objects_created_after_a_fork_do_not_resolve_in_the_child,
        private_pool_queues_cannot_be_sent_or_reached,
        one_million_shared_objects_leave_rss_flat,
        leaked_lock_guard_keeps_the_mutex_mapped,
        leaked_rlock_acquire_keeps_the_mutex_mapped,
    ])
}

/// Shaped like the pool's task message: what an attacker would put on its task queue.
#[derive(Serialize, Deserialize)]
struct Fake {
    id: u64,
    call: usize,
    func: usize,
    args: Vec<u8>,
}

fn square(x: u64) -> u64 {
    x * x
}

/// Small ids, as a counter would hand out, in the handle's JSON forms old and new.
fn forgeries(field: &str, ids: std::ops::Range<u64>) -> impl Iterator<Item = String> + '_ {
    ids.flat_map(move |n| {
        [
            format!(r#"{{"{field}":{n}}}"#),
            format!(r#"{{"{field}":{n},"_t":null}}"#),
        ]
    })
}

/// How many of the ids `0..n` decode as some queue type in the calling process.
fn reachable_queues(n: u64) -> usize {
    forgeries("raw", 0..n)
        .filter(|json| serde_json::from_str::<Queue<Fake>>(json).is_ok())
        .count()
        + forgeries("queue", 0..n)
            .filter(|json| {
                serde_json::from_str::<SimpleQueue<Fake>>(json).is_ok()
                    || serde_json::from_str::<JoinableQueue<Fake>>(json).is_ok()
            })
            .count()
}

fn forged_handle_is_rejected() {
    let pool = Pool::new(1).unwrap();
    // The old per-process counter gave the pool's private task queue id 2.
    let forged = serde_json::from_str::<Queue<Fake>>(r#"{"raw":2,"_t":null}"#);
    assert!(forged.is_err(), "a guessed id resolved to a queue");
    assert_eq!(reachable_queues(64), 0, "some small id resolved to a queue");
    // A real handle's id, one bit off, is no handle either.
    let q: Queue<Fake> = Queue::new().unwrap();
    let json = serde_json::to_string(&q).unwrap();
    let id: u128 = json
        .trim_start_matches(r#"{"raw":"#)
        .trim_end_matches('}')
        .parse()
        .unwrap_or_else(|e| panic!("a queue serialises as its id ({json}): {e}"));
    for bit in [0, 1, 63, 64, 127] {
        let forged = format!(r#"{{"raw":{}}}"#, id ^ (1u128 << bit));
        assert!(serde_json::from_str::<Queue<Fake>>(&forged).is_err());
    }
    assert!(serde_json::from_str::<Queue<Fake>>(&json).is_ok());
    assert_eq!(
        pool.map(square, 0..10).unwrap(),
        (0..10).map(square).collect::<Vec<_>>()
    );
}

/// What the child reports for each decode attempt, in order: `true` if it was refused.
fn refused<T: serde::de::DeserializeOwned>(conn: &multiproc::Connection) -> bool {
    conn.recv::<T>().is_err()
}

fn handle_decoded_as_another_type_is_rejected() {
    let q: Queue<u32> = Queue::new().unwrap();
    let bytes = Array::<u8>::new(4096);
    let small = Value::new(7i32);
    let simple: SimpleQueue<u32> = SimpleQueue::new().unwrap();
    let joinable: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    let lock = Lock::new();
    let (parent, child) = Pipe::new();
    let mut p = Process::spawn(move || {
        let wrong = [
            refused::<Queue<String>>(&child),
            refused::<Array<u64>>(&child),
            refused::<Value<i64>>(&child),
            refused::<Queue<u32>>(&child),       // a SimpleQueue<u32>
            refused::<Queue<u32>>(&child),       // a JoinableQueue<u32>
            refused::<SimpleQueue<u32>>(&child), // a Queue<u32>
            refused::<RLock>(&child),            // a Lock
        ];
        child.send(&wrong.to_vec()).unwrap();
        // The same objects decoded as what they are work.
        let q: Queue<u32> = child.recv().unwrap();
        let bytes: Array<u8> = child.recv().unwrap();
        let small: Value<i32> = child.recv().unwrap();
        let simple: SimpleQueue<u32> = child.recv().unwrap();
        let joinable: JoinableQueue<u32> = child.recv().unwrap();
        let lock: Lock = child.recv().unwrap();
        let _held = lock.lock().unwrap();
        q.put(bytes.len() as u32).unwrap();
        simple.put(small.load() as u32).unwrap();
        joinable.put(1).unwrap();
    })
    .unwrap();
    parent.send(&q).unwrap();
    parent.send(&bytes).unwrap();
    parent.send(&small).unwrap();
    parent.send(&simple).unwrap();
    parent.send(&joinable).unwrap();
    parent.send(&q).unwrap();
    parent.send(&lock).unwrap();
    let wrong: Vec<bool> = parent.recv().unwrap();
    assert_eq!(
        wrong, [true; 7],
        "a handle decoded as another type: {wrong:?}"
    );
    // The `Queue` a `JoinableQueue` derefs to cannot be sent as a plain `Queue`.
    let inner: Queue<u32> = (*joinable).clone();
    assert!(parent.send(&inner).is_err());
    parent.send(&q).unwrap();
    parent.send(&bytes).unwrap();
    parent.send(&small).unwrap();
    parent.send(&simple).unwrap();
    parent.send(&joinable).unwrap();
    parent.send(&lock).unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(q.get().unwrap(), 4096);
    assert_eq!(simple.get().unwrap(), 7);
    assert_eq!(joinable.get().unwrap(), 1);
}

fn array_length_comes_from_the_shared_object_not_the_message() {
    let a = Array::<u8>::new(16);
    let json = serde_json::to_string(&a).unwrap();
    // Claim 2^40 elements in whatever the message carries (the old form had a `len`).
    let huge = format!(r#""len":{}"#, 1u64 << 40);
    let tampered = if json.contains(r#""len":16"#) {
        json.replace(r#""len":16"#, &huge)
    } else {
        json.replace('}', &format!(",{huge}}}"))
    };
    assert!(tampered.contains(&huge), "{tampered}");
    match serde_json::from_str::<Array<u8>>(&tampered) {
        Err(_) => {}
        Ok(b) => {
            assert_eq!(b.len(), 16, "the length came from the message");
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
            let past_the_end = catch_unwind(AssertUnwindSafe(|| b.store(1 << 30, 1)));
            std::panic::set_hook(hook);
            assert!(past_the_end.is_err(), "a write past the end was accepted");
            b.store(15, 9);
            assert_eq!(a.load(15), 9);
        }
    }
}

fn is_set(e: Event) -> bool {
    e.is_set()
}

/// Objects a worker creates for itself (in its initializer) and keeps.
static WORKER_OWN: OnceLock<Vec<Event>> = OnceLock::new();

fn objects_created_after_a_fork_do_not_resolve_in_the_child() {
    let before = Event::new();
    before.set();
    let pool = Pool::builder()
        .processes(1)
        .initializer(|| {
            WORKER_OWN.get_or_init(|| (0..8).map(|_| Event::new()).collect());
        })
        .build()
        .unwrap();
    assert!(pool.apply(is_set, before).unwrap());
    // Created in the owner after the worker was forked: the worker does not have them,
    // and none of the worker's own objects may answer to their ids (with ids from a
    // per-process counter, the worker's events had exactly these ids).
    for _ in 0..8 {
        let after = Event::new();
        match pool.apply(is_set, after) {
            Err(e) => assert!(
                e.to_string().contains("does not exist in this process"),
                "unexpected error: {e}"
            ),
            Ok(v) => panic!("an event created after the pool resolved in a worker (is_set: {v})"),
        }
    }
    assert_eq!(pool.map(square, 0..4).unwrap(), [0, 1, 4, 9]);
}

/// Run in a pool worker: how many small ids decode as queues there.
fn reachable_in_worker(n: u64) -> usize {
    reachable_queues(n)
}

fn private_pool_queues_cannot_be_sent_or_reached() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(
        reachable_queues(4096),
        0,
        "a forged id reached a queue in the owner"
    );
    assert_eq!(
        pool.apply(reachable_in_worker, 4096).unwrap(),
        0,
        "a forged id reached a queue in a worker"
    );
    assert_eq!(
        pool.map(square, 0..100).unwrap().iter().sum::<u64>(),
        328_350
    );
}

fn one_cycle(i: usize) {
    let v = Value::new(i as u64);
    let a = Array::<u32>::new(4);
    let l = Lock::new();
    a.store(i % 4, v.load() as u32);
    drop(l.lock().unwrap());
}

fn one_million_shared_objects_leave_rss_flat() {
    // Warm up: the allocator's and the table's first growth are not what is measured.
    for i in 0..2_000 {
        one_cycle(i);
    }
    let before = rss_kib();
    // 60k cycles (180k objects, a few seconds in debug): enough for a table that keeps
    // dead entries (the old one kept them until the next power-of-two id, about 100 bytes
    // per object at the peak) to grow by well over 10 MiB.
    const CYCLES: usize = 60_000;
    for i in 0..CYCLES {
        one_cycle(i);
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 2048,
        "RSS grew by {grown} KiB over {CYCLES} create/drop cycles"
    );
}

/// Locks mapped before a guard is leaked: locking one after the leaked guard's lock is
/// dropped writes to the leaked mutex (glibc links each newly locked robust mutex to the
/// previous head of the thread's robust list), which must still be mapped.
struct Others {
    lock: Lock,
    value: Value<u32>,
    rlock: RLock,
}

impl Others {
    fn new() -> Others {
        Others {
            lock: Lock::new(),
            value: Value::new(0),
            rlock: RLock::new(),
        }
    }

    /// Lock and unlock each, then fresh ones too.
    fn exercise(&self) {
        for _ in 0..16 {
            drop(self.lock.lock().unwrap());
            *self.value.lock().unwrap() += 1;
            drop(self.rlock.lock().unwrap());
        }
        for i in 0..16 {
            let l = Lock::new();
            drop(l.lock().unwrap());
            let v = Value::new(i);
            *v.lock().unwrap() += 1;
            assert_eq!(v.load(), i + 1);
        }
    }
}

fn leaked_lock_guard_keeps_the_mutex_mapped() {
    let mut p = Process::spawn(|| {
        let others = Others::new();
        let f = Lock::new();
        std::mem::forget(f.lock().unwrap());
        drop(f);
        others.exercise();
        let v = Value::new(0u8);
        std::mem::forget(v.lock().unwrap());
        drop(v);
        others.exercise();
        let a = Array::<u64>::new(3);
        std::mem::forget(a.lock().unwrap());
        drop(a);
        others.exercise();
        assert_eq!(others.value.load(), 48);
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0, "the process did not exit cleanly");
}

fn leaked_rlock_acquire_keeps_the_mutex_mapped() {
    let mut p = Process::spawn(|| {
        let others = Others::new();
        let r = RLock::new();
        r.acquire().unwrap();
        r.acquire().unwrap();
        drop(r);
        others.exercise();
        assert_eq!(others.value.load(), 16);
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0, "the process did not exit cleanly");
}
