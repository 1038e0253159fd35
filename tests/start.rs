//! Library checks for the start methods (`fork`, `forkserver`, `spawn`), run by
//! harness::forked. `main` calls `multiproc::start::init()` first, as every program using
//! `spawn` must: the start server and spawned children are this very binary re-executed.

use harness::checks;
use multiproc::start::{self, StartMethod};
use multiproc::{
    Array, Barrier, BoundedSemaphore, Condition, Connection, Error, Event, Lock, Pipe,
    PipeReceiver, PipeSender, Process, Queue, RLock, Semaphore, SharedSlice, Value,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn main() -> std::process::ExitCode {
    start::init();
    harness::forked::run(checks![
        each_method_runs_a_child_and_returns_its_result,
        a_served_childs_sentinel_is_ready_once_it_ends,
        a_panic_or_a_death_in_the_child_is_an_error,
        a_child_of_each_method_dies_with_its_killed_parent,
        shared_objects_reach_served_children_as_the_same_memory,
        a_handle_decoded_as_another_type_is_refused,
        a_condition_reaches_served_children_with_its_lock,
        a_barrier_is_passed_by_parent_and_served_children_together,
        a_condition_or_barrier_decoded_as_another_type_is_refused,
        pipe_ends_passed_to_served_children_carry_messages,
        a_pipe_end_decoded_as_another_type_is_refused,
        objects_that_cannot_travel_are_an_error_at_send_time,
        queues_reach_served_children_and_carry_items_both_ways,
        served_methods_work_while_threads_run_and_fork_is_refused,
        spawned_children_have_a_fresh_address_space,
        served_starts_leave_the_fd_count_flat,
        children_have_python_names_and_know_their_parent,
    ])
}

fn square(x: u64) -> u64 {
    x * x
}

fn each_method_runs_a_child_and_returns_its_result() {
    for method in StartMethod::ALL {
        let mut children: Vec<_> = (1..=3).map(|x| method.start(square, x).unwrap()).collect();
        let results: Vec<u64> = children.iter_mut().map(|c| c.join().unwrap()).collect();
        assert_eq!(results, [1, 4, 9], "{method}");
        for c in &children {
            assert_eq!(c.exitcode(), Some(0), "{method}");
            assert_ne!(c.pid(), std::process::id(), "{method}");
        }
        let mut c = method
            .start(|s: String| s.len() as u32, "four".into())
            .unwrap();
        assert_eq!(c.join().unwrap(), 4, "{method}");
        assert!(c.join().is_err(), "{method}: a second join is an error");
    }
    start::shutdown();
}

fn boom(_: ()) -> u32 {
    panic!("boom in the child")
}

fn forever(_: ()) {
    loop {
        std::thread::park();
    }
}

fn a_panic_or_a_death_in_the_child_is_an_error() {
    for method in StartMethod::ALL {
        let mut c = method.start(boom, ()).unwrap();
        match c.join() {
            Err(Error::TaskPanicked(m)) => assert!(m.contains("boom in the child"), "{m}"),
            other => panic!("{method}: {other:?}"),
        }
        assert_eq!(c.exitcode(), Some(1), "{method}");
        let mut c = method.start(forever, ()).unwrap();
        c.kill().unwrap();
        assert!(
            matches!(c.join(), Err(Error::WorkerDied(_))),
            "{method}: killed"
        );
        assert_eq!(c.exitcode(), Some(-9), "{method}");
    }
    start::shutdown();
}

/// The parent (a forked `Process`) starts a child that never ends, then is SIGKILLed. This
/// check is a subreaper, so every orphan comes to it: `waitpid(-1)` until there is no
/// child left proves that the started child (and the server) ended, with no sleep.
fn a_child_of_each_method_dies_with_its_killed_parent() {
    harness::forked::adopt_orphans();
    for method in StartMethod::ALL {
        let pid = Value::<u32>::new(0);
        let started = Event::new();
        let (p2, s2) = (pid.clone(), started.clone());
        let mut parent = Process::spawn(move || -> () {
            let child = method.start(forever, ()).unwrap();
            p2.store(child.pid());
            s2.set();
            std::mem::forget(child);
            loop {
                std::thread::park();
            }
        })
        .unwrap();
        started.wait();
        let child = pid.load();
        assert!(
            harness::forked::process_exists(child),
            "{method}: the child runs"
        );
        parent.kill().unwrap();
        assert_eq!(parent.join().unwrap(), -9);
        // Reap every orphan until none is left (blocks until they have all died).
        harness::forked::reap_every_descendant();
        assert!(
            !harness::forked::process_exists(child),
            "{method}: the child died with its parent"
        );
    }
}

#[derive(Serialize, Deserialize)]
struct Shared {
    counter: Value<u64>,
    lock: Lock,
    cells: Array<u32>,
    done: Event,
}

fn touch(s: Shared) -> (u64, bool) {
    let _held = s.lock.lock().unwrap();
    *s.counter.lock().unwrap() += 10;
    s.cells.store(2, 7);
    s.done.set();
    (s.cells.len() as u64, s.lock.try_lock().is_err())
}

fn try_the_lock(lock: Lock) -> bool {
    lock.try_lock().is_ok()
}

/// What a child sees of an RLock and two semaphores the parent holds; takes one permit of
/// the counting semaphore and keeps it taken (forgets it).
fn look_at_the_rest((r, sem, bounded): (RLock, Semaphore, BoundedSemaphore)) -> (bool, u32, bool) {
    let rlock_free = r.try_lock().is_ok();
    sem.acquire().forget();
    (rlock_free, sem.value(), bounded.try_acquire().is_some())
}

fn shared_objects_reach_served_children_as_the_same_memory() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let shared = Shared {
            counter: Value::new(5),
            lock: Lock::new(),
            cells: Array::new(4),
            done: Event::new(),
        };
        let (counter, cells, done, lock) = (
            shared.counter.clone(),
            shared.cells.clone(),
            shared.done.clone(),
            shared.lock.clone(),
        );
        let (len, held) = method.start(touch, shared).unwrap().join().unwrap();
        assert_eq!(len, 4, "{method}: the length comes from the memory");
        assert!(held, "{method}: the child held the lock");
        assert_eq!(
            counter.load(),
            15,
            "{method}: the child's write is seen here"
        );
        assert_eq!(cells.to_vec(), [0, 0, 7, 0], "{method}");
        assert!(done.is_set(), "{method}");
        // The lock is the same mutex: held here, the child cannot take it.
        let guard = lock.lock().unwrap();
        assert!(
            !method
                .start(try_the_lock, lock.clone())
                .unwrap()
                .join()
                .unwrap()
        );
        drop(guard);
        assert!(
            method
                .start(try_the_lock, lock.clone())
                .unwrap()
                .join()
                .unwrap()
        );
        // RLock and the semaphores are the same objects too.
        let (r, sem, bounded) = (
            RLock::new(),
            Semaphore::new(3).unwrap(),
            BoundedSemaphore::new(1).unwrap(),
        );
        let held = r.lock().unwrap();
        let permit = bounded.acquire();
        let seen = method
            .start(look_at_the_rest, (r.clone(), sem.clone(), bounded.clone()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(seen, (false, 2, false), "{method}");
        assert_eq!(
            sem.value(),
            2,
            "{method}: the child's permit is gone here too"
        );
        drop((held, permit));
    }
    start::shutdown();
}

/// Serialises a `U` (a `Value<u64>` unless said), but decodes as whatever `T` says: a
/// forged claim of type.
struct Claim<T, U = Value<u64>>(Option<T>, Option<U>);

impl<T, U: Serialize> Serialize for Claim<T, U> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.1.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, U> Deserialize<'de> for Claim<T, U> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Claim(Option::<T>::deserialize(d)?, None))
    }
}

fn as_i64(c: Claim<Value<i64>>) -> i64 {
    c.0.map_or(-1, |v| v.load())
}

fn as_array(c: Claim<Array<u64>>) -> usize {
    c.0.map_or(0, |a| a.len())
}

fn as_lock(c: Claim<Lock>) -> bool {
    c.0.is_some()
}

fn a_handle_decoded_as_another_type_is_refused() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let v = Some(Value::<u64>::new(3));
        let r = method.start(as_i64, Claim(None, v.clone())).unwrap().join();
        assert!(
            matches!(&r, Err(Error::Codec(m)) if m.contains("not a multiproc::value::Value<i64>")),
            "{method}: {r:?}"
        );
        let r = method
            .start(as_array, Claim(None, v.clone()))
            .unwrap()
            .join();
        assert!(matches!(r, Err(Error::Codec(_))), "{method}: {r:?}");
        let r = method
            .start(as_lock, Claim(None, v.clone()))
            .unwrap()
            .join();
        assert!(matches!(r, Err(Error::Codec(_))), "{method}: {r:?}");
    }
    start::shutdown();
}

fn slice_sum(s: SharedSlice<u32>) -> u64 {
    s.iter().map(|&x| u64::from(x)).sum()
}

/// What a child passed a condition reports: whether its lock is the `Lock` passed beside
/// it and the one of a second condition on that lock (the same registered object, not a
/// second mapping), and whether `wait_for` saw the parent's flag after a notify.
fn wait_on_the_condition(
    (cond, other, lock, waiting, flag): (Condition, Condition, Lock, Event, Value<bool>),
) -> (bool, bool, bool) {
    let same_lock = cond.get_lock().same_as(&lock);
    let shared_lock = cond.get_lock().same_as(other.get_lock());
    let mut g = cond.lock().unwrap();
    // Set with the lock held: the parent can take it only once `wait_for` released it.
    waiting.set();
    let seen = g.wait_for(|| flag.load(), None).unwrap();
    // A notify through the other condition, under this lock, must be accepted.
    other.notify_all(&g);
    drop(g);
    (same_lock, shared_lock, seen)
}

fn a_condition_reaches_served_children_with_its_lock() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let lock = Lock::new();
        let (cond, other) = (Condition::with_lock(&lock), Condition::with_lock(&lock));
        let (waiting, flag) = (Event::new(), Value::new(false));
        let mut child = method
            .start(
                wait_on_the_condition,
                (
                    cond.clone(),
                    other.clone(),
                    lock.clone(),
                    waiting.clone(),
                    flag.clone(),
                ),
            )
            .unwrap();
        waiting.wait();
        let g = cond.lock().unwrap();
        flag.store(true);
        // The child registered as a waiter in the same shared slots: exactly one is woken.
        assert_eq!(
            g.notify_all(),
            1,
            "{method}: the child waits on this condition"
        );
        drop(g);
        assert_eq!(child.join().unwrap(), (true, true, true), "{method}");
    }
    start::shutdown();
}

fn meet(b: Barrier) -> u32 {
    b.wait().unwrap()
}

fn a_barrier_is_passed_by_parent_and_served_children_together() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let barrier = Barrier::new(3);
        let mut children: Vec<_> = (0..2)
            .map(|_| method.start(meet, barrier.clone()).unwrap())
            .collect();
        let mut indices = vec![barrier.wait().unwrap()];
        indices.extend(children.iter_mut().map(|c| c.join().unwrap()));
        indices.sort();
        assert_eq!(indices, [0, 1, 2], "{method}: one arrival index per party");
        // A second pass, with a default timeout that travels along.
        let barrier = Barrier::new(2).with_timeout(std::time::Duration::from_secs(600));
        let mut child = method.start(meet, barrier.clone()).unwrap();
        let mine = barrier.wait().unwrap();
        let theirs = child.join().unwrap();
        assert_eq!(mine + theirs, 1, "{method}: indices 0 and 1");
    }
    start::shutdown();
}

fn as_barrier(c: Claim<Barrier, Condition>) -> bool {
    c.0.is_some()
}

fn as_condition(c: Claim<Condition, Barrier>) -> bool {
    c.0.is_some()
}

fn value_as_condition(c: Claim<Condition>) -> bool {
    c.0.is_some()
}

fn condition_as_condition(c: Claim<Condition, Condition>) -> bool {
    c.0.is_some()
}

fn a_condition_or_barrier_decoded_as_another_type_is_refused() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let r = method
            .start(as_barrier, Claim(None, Some(Condition::new())))
            .unwrap()
            .join();
        assert!(
            matches!(&r, Err(Error::Codec(m)) if m.contains("not a multiproc::barrier::Barrier")),
            "{method}: {r:?}"
        );
        let r = method
            .start(as_condition, Claim(None, Some(Barrier::new(2))))
            .unwrap()
            .join();
        assert!(
            matches!(&r, Err(Error::Codec(m)) if m.contains("not a multiproc::condition::Condition")),
            "{method}: {r:?}"
        );
        let r = method
            .start(value_as_condition, Claim(None, Some(Value::<u64>::new(1))))
            .unwrap()
            .join();
        assert!(matches!(r, Err(Error::Codec(_))), "{method}: {r:?}");
        // The control: the same claim of the right type decodes.
        let r = method
            .start(condition_as_condition, Claim(None, Some(Condition::new())))
            .unwrap()
            .join();
        assert!(matches!(r, Ok(true)), "{method}: {r:?}");
    }
    start::shutdown();
}

/// Receives numbers until the parent closes its end, sends back their sum and a message
/// too big to go inline (it travels as a memfd); returns how many numbers it got.
fn sum_through_the_pipe((rx, tx): (PipeReceiver, PipeSender)) -> u64 {
    let (mut sum, mut count) = (0, 0);
    loop {
        match rx.recv::<u64>() {
            Ok(n) => (sum, count) = (sum + n, count + 1),
            Err(Error::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    tx.send(&sum).unwrap();
    tx.send_bytes(&vec![7u8; 200_000]).unwrap();
    count
}

fn echo_doubled(conn: Connection) -> bool {
    let n: u64 = conn.recv().unwrap();
    conn.send(&(n * 2)).unwrap();
    true
}

fn pipe_ends_passed_to_served_children_carry_messages() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        // One-way ends: the child reads what the parent writes, and writes back.
        let (rx_child, tx_parent) = Pipe::one_way();
        let (rx_parent, tx_child) = Pipe::one_way();
        let mut child = method
            .start(sum_through_the_pipe, (rx_child, tx_child))
            .unwrap();
        for n in 1..=10u64 {
            tx_parent.send(&n).unwrap();
        }
        // Closing our only copy of the sending end is the child's end of stream: this
        // process kept no copy of the ends it passed.
        drop(tx_parent);
        assert_eq!(rx_parent.recv::<u64>().unwrap(), 55, "{method}");
        assert_eq!(
            rx_parent.recv_bytes().unwrap(),
            vec![7u8; 200_000],
            "{method}"
        );
        assert_eq!(child.join().unwrap(), 10, "{method}");
        // The child is gone and this process holds no copy of its sending end: closed.
        assert!(
            matches!(rx_parent.recv::<u64>(), Err(Error::Closed)),
            "{method}"
        );
        // A duplex end.
        let (mine, theirs) = Pipe::new();
        let mut child = method.start(echo_doubled, theirs).unwrap();
        mine.send(&21u64).unwrap();
        assert_eq!(mine.recv::<u64>().unwrap(), 42, "{method}");
        assert!(child.join().unwrap(), "{method}");
        assert!(matches!(mine.recv::<u64>(), Err(Error::Closed)), "{method}");
    }
    // Anywhere but a start request an end cannot be serialised: a fork child inherits it.
    let (a, _b) = Pipe::new();
    let (_r, w) = Pipe::one_way();
    match a.send(&w) {
        Err(Error::Codec(m)) => assert!(m.contains("StartMethod::start"), "{m}"),
        other => panic!("{other:?}"),
    }
    start::shutdown();
}

fn as_receiver(c: Claim<PipeReceiver, PipeSender>) -> bool {
    c.0.is_some()
}

fn as_sender(c: Claim<PipeSender, PipeReceiver>) -> bool {
    c.0.is_some()
}

fn value_as_sender(c: Claim<PipeSender>) -> bool {
    c.0.is_some()
}

fn sender_as_sender(c: Claim<PipeSender, PipeSender>) -> bool {
    c.0.is_some()
}

fn a_pipe_end_decoded_as_another_type_is_refused() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let (_r, w) = Pipe::one_way();
        let r = method
            .start(as_receiver, Claim(None, Some(w)))
            .unwrap()
            .join();
        assert!(
            matches!(&r, Err(Error::Codec(m)) if m.contains("not a multiproc::pipe::PipeReceiver")),
            "{method}: {r:?}"
        );
        let (r_end, _w) = Pipe::one_way();
        let r = method
            .start(as_sender, Claim(None, Some(r_end)))
            .unwrap()
            .join();
        assert!(
            matches!(&r, Err(Error::Codec(m)) if m.contains("not a multiproc::pipe::PipeSender")),
            "{method}: {r:?}"
        );
        let v = Value::<u64>::new(1);
        let r = method
            .start(value_as_sender, Claim(None, Some(v)))
            .unwrap()
            .join();
        assert!(matches!(r, Err(Error::Codec(_))), "{method}: {r:?}");
        // The control: the right type decodes.
        let (_r, w) = Pipe::one_way();
        let r = method
            .start(sender_as_sender, Claim(None, Some(w)))
            .unwrap()
            .join();
        assert!(matches!(r, Ok(true)), "{method}: {r:?}");
    }
    start::shutdown();
}

fn slice_len(s: SharedSlice<u32>) -> usize {
    s.len()
}

fn objects_that_cannot_travel_are_an_error_at_send_time() {
    // A SharedSlice lives in private (copy-on-write) memory: only fork children have it.
    // A Barrier's action is a closure of this process.
    let slice = SharedSlice::from_vec(vec![1u32, 2, 3]);
    let barrier = Barrier::new(2).with_action(|| {});
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        match method.start(slice_len, slice.clone()) {
            Err(Error::Codec(m)) => assert!(
                m.contains("cannot be sent") && m.contains("SharedSlice"),
                "{method}: {m}"
            ),
            other => panic!("{method}: {other:?}"),
        }
        match method.start(meet, barrier.clone()) {
            Err(Error::Codec(m)) => {
                assert!(
                    m.contains("cannot be sent") && m.contains("action"),
                    "{method}: {m}"
                )
            }
            other => panic!("{method}: {other:?}"),
        }
    }
    // The fork method shares everything: the same slice works there.
    assert_eq!(
        StartMethod::Fork
            .start(slice_sum, slice.clone())
            .unwrap()
            .join()
            .unwrap(),
        6
    );
    start::shutdown();
}

/// The child takes what the parent put, puts its answers, and reports the queue's length
/// as it sees it.
fn double_items((inbox, outbox): (Queue<u32>, Queue<u32>)) -> usize {
    while let Ok(x) = inbox.get_timeout(std::time::Duration::ZERO) {
        outbox.put(2 * x).unwrap();
    }
    outbox.qsize()
}

fn queues_reach_served_children_and_carry_items_both_ways() {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let (inbox, outbox) = (Queue::<u32>::new().unwrap(), Queue::<u32>::new().unwrap());
        // Big enough that the log leaves the inline area: the child maps the data range.
        for x in 0..5000 {
            inbox.put(x).unwrap();
        }
        let seen = method
            .start(double_items, (inbox.clone(), outbox.clone()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(seen, 5000, "{method}");
        assert!(inbox.empty(), "{method}: the child took every item");
        let got: Vec<u32> = (0..5000).map(|_| outbox.get().unwrap()).collect();
        assert_eq!(
            got,
            (0..5000).map(|x| 2 * x).collect::<Vec<_>>(),
            "{method}"
        );
    }
    start::shutdown();
}

fn served_methods_work_while_threads_run_and_fork_is_refused() {
    let stop = Arc::new(AtomicBool::new(false));
    let m = Arc::new(Mutex::new(0u64));
    let holder = {
        let (stop, m) = (stop.clone(), m.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                *m.lock().unwrap() += 1;
            }
        })
    };
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                eprint!("");
            }
        })
    };
    match StartMethod::Fork.start(square, 3) {
        Err(Error::Threaded { threads }) => assert!(threads >= 3),
        other => panic!("fork with threads: {other:?}"),
    }
    let msg = Error::Threaded { threads: 3 }.to_string();
    assert!(msg.contains("ForkServer") && msg.contains("Spawn"), "{msg}");
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        for x in 0..5 {
            assert_eq!(method.start(square, x).unwrap().join().unwrap(), x * x);
        }
    }
    // Started from a thread that then ends: the children and the server live on.
    let child = std::thread::spawn(|| StartMethod::ForkServer.start(square, 9).unwrap())
        .join()
        .unwrap();
    let mut child = child;
    assert_eq!(child.join().unwrap(), 81);
    stop.store(true, Ordering::Relaxed);
    holder.join().unwrap();
    printer.join().unwrap();
    start::shutdown();
}

static SET_BEFORE_START: AtomicBool = AtomicBool::new(false);

fn read_flag(_: ()) -> bool {
    SET_BEFORE_START.load(Ordering::Relaxed)
}

fn spawned_children_have_a_fresh_address_space() {
    SET_BEFORE_START.store(true, Ordering::Relaxed);
    let flag = |m: StartMethod| m.start(read_flag, ()).unwrap().join().unwrap();
    assert!(flag(StartMethod::Fork), "fork copies the caller");
    assert!(!flag(StartMethod::Spawn), "spawn starts afresh");
    assert!(
        !flag(StartMethod::ForkServer),
        "the server was started afresh, not forked from the caller"
    );
    start::shutdown();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn load(v: Value<u64>) -> u64 {
    v.load()
}

/// Every start (joined, or dropped unjoined) gives back its sockets, pidfd and memfds.
fn served_starts_leave_the_fd_count_flat() {
    let before_server = open_fds();
    let v = Value::new(11u64);
    let with_value = open_fds();
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        // The first start launches the server: its control socket stays open.
        assert_eq!(method.start(load, v.clone()).unwrap().join().unwrap(), 11);
        let baseline = open_fds();
        let rounds = if method == StartMethod::Spawn {
            20
        } else {
            100
        };
        for i in 0..rounds {
            let mut c = method.start(load, v.clone()).unwrap();
            if i % 2 == 0 {
                assert_eq!(c.join().unwrap(), 11);
            } else {
                drop(c); // unjoined: killed and reaped
            }
        }
        assert_eq!(open_fds(), baseline, "{method}");
    }
    start::shutdown();
    drop(v);
    assert_eq!(with_value, before_server + 1, "one memfd per live object");
    assert_eq!(open_fds(), before_server, "after shutdown");
}

fn names(_: ()) -> (String, Option<(String, u32)>) {
    let parent = multiproc::parent_process().map(|p| (p.name().to_string(), p.pid()));
    (multiproc::current_process().name().to_string(), parent)
}

/// Python's names: `ForkProcess-N`, `ForkServerProcess-N`, `SpawnProcess-N`; the parent is
/// the process that asked for the child (not the start server that forked it).
fn children_have_python_names_and_know_their_parent() {
    for method in StartMethod::ALL {
        let prefix = match method {
            StartMethod::Fork => "ForkProcess-",
            StartMethod::ForkServer => "ForkServerProcess-",
            StartMethod::Spawn => "SpawnProcess-",
        };
        let (name, parent) = method.start(names, ()).unwrap().join().unwrap();
        assert!(name.starts_with(prefix), "{method}: {name}");
        assert_eq!(
            parent,
            Some(("MainProcess".to_string(), std::process::id())),
            "{method}"
        );
    }
    start::shutdown();
}

/// Waits until `go` is set, then returns 7.
fn after(go: multiproc::Event) -> u64 {
    go.wait();
    7
}

fn a_served_childs_sentinel_is_ready_once_it_ends() {
    use multiproc::connection::wait;
    use std::os::fd::AsFd;
    use std::time::Duration;
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let go = multiproc::Event::new();
        let mut child = method.start(after, go.clone()).unwrap();
        let sentinel = child.sentinel().unwrap();
        let objects: [&dyn AsFd; 1] = [&sentinel];
        assert!(
            wait(&objects, Some(Duration::ZERO)).unwrap().is_empty(),
            "{method}: not ready while the child runs"
        );
        go.set();
        assert_eq!(
            wait(&objects, Some(Duration::from_secs(30))).unwrap(),
            [0],
            "{method}: ready once it ends"
        );
        assert_eq!(child.join().unwrap(), 7);
        let joined = child.sentinel().unwrap();
        let objects: [&dyn AsFd; 1] = [&joined];
        assert_eq!(
            wait(&objects, Some(Duration::ZERO)).unwrap(),
            [0],
            "{method}: joined"
        );
    }
}
