//! Library checks for the synchronisation primitives that fork (see tests/process.rs).

mod support;

use harness::checks;
use multiproc::{
    Array, Barrier, BoundedSemaphore, Condition, Error, Event, InvalidKind, JoinableQueue, Lock,
    Occupancy, Pipe, Pool, Process, Queue, RLock, Semaphore, StartMethod, TryLockError, Value,
};
use std::time::{Duration, Instant};
use support::start_waiters;

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        rlock_is_reentrant_and_only_the_owner_releases,
        rlock_held_by_a_dead_process_is_reported,
        notify_n_wakes_exactly_n,
        wait_timeout_reports_whether_notified,
        wait_for_a_predicate_set_by_another_process,
        a_waiter_killed_in_its_sleep_does_not_swallow_a_notify,
        a_notified_waiter_killed_before_retaking_the_lock_passes_the_notify_on,
        dead_waiters_slots_are_reclaimed,
        a_process_killed_holding_the_condition_lock_is_reported,
        semaphore_never_exceeds_n_holders_and_reaches_n,
        bounded_semaphore_over_release_is_an_error,
        semaphore_acquire_timeout,
        event_wait_timeout_on_an_unset_event_returns_false_after_the_timeout,
        event_set_wakes_waiters_in_every_process,
        barrier_gives_index_zero_once_per_pass_and_nobody_runs_ahead,
        barrier_action_runs_once_per_pass,
        barrier_timeout_breaks_it_for_everyone_until_reset,
        barrier_abort_releases_waiters_with_an_error,
        six_processes_increment_a_locked_counter_exactly,
        occupancy_counts_the_processes_inside_and_its_peak,
        occupancy_under_a_lock_never_exceeds_one,
        occupancy_of_a_process_killed_inside_is_taken_out_with_leave,
        every_timeout_api_takes_duration_max,
    ])
}

const LONG: Duration = Duration::from_secs(30);

fn forever() {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn rlock_is_reentrant_and_only_the_owner_releases() {
    let r = RLock::new();
    assert!(r.release().is_err(), "release before acquire");
    r.acquire().unwrap();
    r.acquire().unwrap();
    {
        let _g = r.lock().unwrap();
        assert_eq!(r.held_count(), 3);
    }
    assert_eq!(r.held_count(), 2);
    // Another process can neither take it nor release it.
    let rc = r.clone();
    let mut p = Process::spawn(move || {
        let busy = matches!(rc.try_lock(), Err(TryLockError::WouldBlock));
        let release_refused = matches!(
            rc.release(),
            Err(Error::Invalid {
                kind: InvalidKind::OverReleased,
                ..
            })
        );
        (busy && release_refused) as i32
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 1);
    r.release().unwrap();
    r.release().unwrap();
    assert!(
        matches!(
            r.release(),
            Err(Error::Invalid {
                kind: InvalidKind::OverReleased,
                ..
            })
        ),
        "one release too many"
    );
    let rc = r.clone();
    let mut p = Process::spawn(move || rc.lock_timeout(LONG).is_ok() as i32).unwrap();
    assert_eq!(p.join().unwrap(), 1, "free for others once fully released");
}

fn rlock_held_by_a_dead_process_is_reported() {
    let r = RLock::new();
    let holding = Event::new();
    let (rc, h) = (r.clone(), holding.clone());
    let mut p = Process::spawn(move || -> () {
        rc.acquire().unwrap();
        rc.acquire().unwrap();
        h.set();
        forever()
    })
    .unwrap();
    assert!(holding.wait_timeout(LONG));
    p.kill().unwrap();
    p.join().unwrap();
    let g = r
        .lock()
        .expect_err("dead holder reported")
        .into_guard()
        .unwrap();
    assert_eq!(
        r.held_count(),
        1,
        "the dead holder's recursion is discarded"
    );
    drop(g);
    assert_eq!(r.held_count(), 0);
}

fn notify_n_wakes_exactly_n() {
    let cond = Condition::new();
    let woke = Value::new(0u32);
    let (mut ps, arrivals) = start_waiters(&cond, 5, &woke);
    // Each waiter released the lock inside wait(): all 5 are registered now.
    let mut g = arrivals.lock().unwrap();
    assert_eq!(cond.notify(&g, 2), 2);
    assert!(g.wait_for(|| woke.load() == 2, Some(LONG)).unwrap());
    // Exactly 3 remain: notify_all finds 3 waiters, not 2.
    assert_eq!(cond.notify_all(&g), 3);
    drop(g);
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(woke.load(), 5);
    assert_eq!(cond.lock().unwrap().notify_all(), 0);
}

fn wait_timeout_reports_whether_notified() {
    let cond = Condition::new();
    let mut g = cond.lock().unwrap();
    let t = Instant::now();
    assert!(!g.wait_timeout(Duration::from_millis(150)).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(150));
    drop(g);
    let (arrived, woke) = (Value::new(0u32), Value::new(0u32));
    let c = cond.clone();
    let (a, w) = (arrived.clone(), woke.clone());
    let mut p = Process::spawn(move || {
        let mut g = c.lock().unwrap();
        a.store(1);
        g.notify_all();
        let notified = g.wait_timeout(LONG).unwrap();
        w.store(notified as u32);
    })
    .unwrap();
    let mut g = cond.lock().unwrap();
    assert!(g.wait_for(|| arrived.load() == 1, Some(LONG)).unwrap());
    assert_eq!(g.notify(1), 1);
    drop(g);
    p.join().unwrap();
    assert_eq!(woke.load(), 1, "the child saw it was notified");
}

fn wait_for_a_predicate_set_by_another_process() {
    let cond = Condition::new();
    let ready = Value::new(false);
    let (c, r) = (cond.clone(), ready.clone());
    let mut p = Process::spawn(move || {
        let g = c.lock().unwrap();
        r.store(true);
        g.notify_all();
    })
    .unwrap();
    let mut g = cond.lock().unwrap();
    assert!(g.wait_for(|| ready.load(), Some(LONG)).unwrap());
    drop(g);
    p.join().unwrap();
    let mut g = cond.lock().unwrap();
    assert!(
        !g.wait_for(|| false, Some(Duration::from_millis(50)))
            .unwrap()
    );
}

fn a_waiter_killed_in_its_sleep_does_not_swallow_a_notify() {
    let cond = Condition::new();
    let woke = Value::new(0u32);
    // The first waiter (oldest ticket) will be killed; notify(1) must reach the second.
    let mut first = start_waiters(&cond, 1, &woke).0.remove(0);
    let mut second = start_waiters(&cond, 1, &woke).0.remove(0);
    first.kill().unwrap();
    assert_eq!(first.join().unwrap(), -9);
    let g = cond.lock().unwrap();
    assert_eq!(g.notify(1), 1);
    drop(g);
    assert_eq!(
        second.join_timeout(LONG).unwrap(),
        Some(0),
        "the live waiter woke"
    );
    assert_eq!(woke.load(), 1);
}

fn a_notified_waiter_killed_before_retaking_the_lock_passes_the_notify_on() {
    let cond = Condition::new();
    let woke = Value::new(0u32);
    // The first waiter (oldest ticket) gets the notify, then dies before it can take the
    // lock again (the parent holds it); the notify must reach the second waiter.
    let mut first = start_waiters(&cond, 1, &woke).0.remove(0);
    let mut second = start_waiters(&cond, 1, &woke).0.remove(0);
    let g = cond.lock().unwrap();
    assert_eq!(g.notify(1), 1);
    first.kill().unwrap();
    assert_eq!(first.join().unwrap(), -9);
    drop(g);
    assert_eq!(
        second.join_timeout(LONG).unwrap(),
        Some(0),
        "the live waiter got the dead one's notify"
    );
    assert_eq!(woke.load(), 1);
    // Nobody is left waiting, and nobody is owed a notify.
    assert_eq!(cond.lock().unwrap().notify_all(), 0);
}

fn dead_waiters_slots_are_reclaimed() {
    // More than the table's 256 slots die, some asleep and some notified but before taking
    // the lock again; the condition must keep working, with every slot reclaimed.
    let cond = Condition::new();
    let woke = Value::new(0u32);
    let mut dead = 0;
    while dead < 300 {
        let (mut ps, _arrivals) = start_waiters(&cond, 20, &woke);
        let g = cond.lock().unwrap();
        // Most of each batch is notified (270 in all, more than the table holds), then all
        // are killed while the lock is held, before the notified can take it again.
        assert_eq!(g.notify(18), 18);
        for p in &mut ps {
            p.kill().unwrap();
            assert_eq!(p.join().unwrap(), -9);
        }
        drop(g);
        dead += ps.len();
    }
    assert_eq!(woke.load(), 0);
    // 256 live waiters still fit, and notify wakes exactly the ones asked for.
    let (mut ps, arrivals) = start_waiters(&cond, 256, &woke);
    let mut g = arrivals.lock().unwrap();
    assert_eq!(cond.notify(&g, 6), 6);
    assert!(g.wait_for(|| woke.load() == 6, Some(LONG)).unwrap());
    assert_eq!(cond.notify_all(&g), 250);
    drop(g);
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(woke.load(), 256);
}

fn a_process_killed_holding_the_condition_lock_is_reported() {
    let cond = Condition::new();
    let holding = Event::new();
    let (c, h) = (cond.clone(), holding.clone());
    let mut p = Process::spawn(move || -> () {
        let _g = c.lock().unwrap();
        h.set();
        forever()
    })
    .unwrap();
    assert!(holding.wait_timeout(LONG));
    p.kill().unwrap();
    p.join().unwrap();
    let mut g = cond
        .lock()
        .expect_err("dead holder reported")
        .into_guard()
        .unwrap();
    assert!(
        !g.wait_timeout(Duration::from_millis(10)).unwrap(),
        "still a working condition"
    );
}

fn semaphore_never_exceeds_n_holders_and_reaches_n() {
    const N: u32 = 3;
    let sem = Semaphore::new(N).unwrap();
    let holders = Value::new(0u32);
    let peak = Value::new(0u32);
    let full = Event::new();
    let mut ps: Vec<Process> = (0..8)
        .map(|_| {
            let (sem, holders, peak, full) =
                (sem.clone(), holders.clone(), peak.clone(), full.clone());
            Process::spawn(move || {
                for _ in 0..100 {
                    let _permit = sem.acquire();
                    let now = {
                        let mut h = holders.lock().unwrap();
                        *h += 1;
                        *h
                    };
                    {
                        let mut p = peak.lock().unwrap();
                        *p = (*p).max(now);
                    }
                    if now == N {
                        full.set();
                    }
                    // The first holders stay until N hold at once: "reaches N" is certain.
                    full.wait_timeout(LONG);
                    *holders.lock().unwrap() -= 1;
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(peak.load(), N, "peak holders");
    assert_eq!(sem.value(), N, "every permit given back");
}

fn bounded_semaphore_over_release_is_an_error() {
    let b = BoundedSemaphore::new(2).unwrap();
    let p = b.acquire();
    assert_eq!(b.value(), 1);
    drop(p);
    assert!(matches!(
        b.release(),
        Err(Error::Invalid {
            kind: InvalidKind::OverReleased,
            ..
        })
    ));
    assert_eq!(b.value(), 2);
    b.acquire().forget();
    let bc = b.clone();
    let mut child = Process::spawn(move || bc.release().is_ok() as i32).unwrap();
    assert_eq!(child.join().unwrap(), 1, "another process may release");
    assert_eq!(b.value(), 2);
    let s = Semaphore::new(0).unwrap();
    s.release().unwrap();
    assert_eq!(s.value(), 1, "an unbounded one just counts");
    let zero = BoundedSemaphore::new(0).unwrap();
    assert!(zero.try_acquire().is_none());
    assert!(
        matches!(
            zero.release(),
            Err(Error::Invalid {
                kind: InvalidKind::OverReleased,
                ..
            })
        ),
        "Python: ValueError"
    );
}

fn semaphore_acquire_timeout() {
    let s = Semaphore::new(1).unwrap();
    let held = s.acquire();
    assert!(s.try_acquire().is_none());
    let t = Instant::now();
    assert!(s.acquire_timeout(Duration::from_millis(120)).is_none());
    assert!(t.elapsed() >= Duration::from_millis(120));
    let sc = s.clone();
    let mut p = Process::spawn(move || sc.acquire_timeout(LONG).is_some() as i32).unwrap();
    drop(held);
    assert_eq!(
        p.join().unwrap(),
        1,
        "a waiter in another process gets the released unit"
    );
}

fn event_wait_timeout_on_an_unset_event_returns_false_after_the_timeout() {
    let e = Event::new();
    let t = Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(250)));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "overran: {took:?}");
    e.set();
    assert!(e.wait_timeout(Duration::ZERO));
    e.clear();
    assert!(!e.is_set());
}

fn event_set_wakes_waiters_in_every_process() {
    let e = Event::new();
    let mut ps: Vec<Process> = (0..4)
        .map(|_| {
            let e = e.clone();
            Process::spawn(move || e.wait_timeout(LONG) as i32).unwrap()
        })
        .collect();
    e.set();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 1);
    }
}

fn barrier_gives_index_zero_once_per_pass_and_nobody_runs_ahead() {
    const PARTIES: usize = 3;
    const PASSES: usize = 1000;
    let barrier = Barrier::new(PARTIES as u32);
    let zeros = Array::<u32>::new(PASSES);
    let index_sums = Array::<u32>::new(PASSES);
    let progress = Array::<u32>::new(PARTIES);
    let violations = Value::new(0u32);
    let mut ps: Vec<Process> = (0..PARTIES)
        .map(|me| {
            let (b, z, s, pr, v) = (
                barrier.clone(),
                zeros.clone(),
                index_sums.clone(),
                progress.clone(),
                violations.clone(),
            );
            Process::spawn(move || {
                for pass in 0..PASSES {
                    pr.store(me, pass as u32);
                    let index = b.wait_timeout(LONG).unwrap();
                    if index == 0 {
                        z.lock().unwrap().update(pass, |x| x + 1);
                    }
                    s.lock().unwrap().update(pass, |x| x + index);
                    // Everyone reached this pass; nobody is beyond the next one.
                    for other in 0..PARTIES {
                        let p = pr.load(other) as usize;
                        if p != pass && p != pass + 1 {
                            *v.lock().unwrap() += 1;
                        }
                    }
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(violations.load(), 0, "a process ran a pass ahead");
    assert!(
        zeros.to_vec().iter().all(|&z| z == 1),
        "exactly one index 0 per pass"
    );
    assert!(
        index_sums.to_vec().iter().all(|&s| s == 3),
        "indices 0, 1, 2 each pass"
    );
}

fn barrier_action_runs_once_per_pass() {
    let runs = Value::new(0u32);
    let r = runs.clone();
    let barrier = Barrier::new(2).with_action(move || *r.lock().unwrap() += 1);
    let b = barrier.clone();
    let mut p = Process::spawn(move || {
        for _ in 0..100 {
            b.wait().unwrap();
        }
    })
    .unwrap();
    for _ in 0..100 {
        barrier.wait().unwrap();
    }
    p.join().unwrap();
    assert_eq!(runs.load(), 100);
}

/// A process waiting on `barrier` that exits with 1 if its wait ends in `BrokenBarrier`.
/// Whether it is already waiting or arrives after the barrier broke, that is the outcome.
fn broken_waiter(barrier: &Barrier) -> Process {
    let waiting = Event::new();
    let (b, w) = (barrier.clone(), waiting.clone());
    let p = Process::spawn(move || {
        w.set();
        matches!(b.wait(), Err(Error::BrokenBarrier)) as i32
    })
    .unwrap();
    assert!(waiting.wait_timeout(LONG));
    p
}

fn barrier_timeout_breaks_it_for_everyone_until_reset() {
    let barrier = Barrier::new(3);
    let mut other = broken_waiter(&barrier);
    // Only two of three parties: the timed wait gives up and breaks the barrier.
    assert!(matches!(
        barrier.wait_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    assert_eq!(
        other.join().unwrap(),
        1,
        "the other waiter got BrokenBarrier, not a hang"
    );
    assert!(barrier.is_broken());
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    barrier.reset();
    assert!(!barrier.is_broken());
    let mut ps: Vec<Process> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            Process::spawn(move || b.wait_timeout(LONG).is_ok() as i32).unwrap()
        })
        .collect();
    assert!(
        barrier.wait_timeout(LONG).is_ok(),
        "usable again after reset"
    );
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 1);
    }
}

fn barrier_abort_releases_waiters_with_an_error() {
    let barrier = Barrier::new(2);
    let mut p = broken_waiter(&barrier);
    barrier.abort();
    assert_eq!(p.join().unwrap(), 1);
}

fn six_processes_increment_a_locked_counter_exactly() {
    let lock = Lock::new();
    let counter = Value::new(0u64);
    let mut ps: Vec<Process> = (0..6)
        .map(|_| {
            let (l, c) = (lock.clone(), counter.clone());
            Process::spawn(move || {
                for _ in 0..10_000 {
                    let _g = l.lock().unwrap();
                    c.store(c.load() + 1);
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        p.join().unwrap();
    }
    assert_eq!(counter.load(), 60_000);
}

fn occupancy_counts_the_processes_inside_and_its_peak() {
    let occupancy = Occupancy::new();
    let barrier = Barrier::new(4);
    let mut ps: Vec<Process> = (0..3)
        .map(|_| {
            let (o, b) = (occupancy.clone(), barrier.clone());
            Process::spawn(move || {
                let me = o.enter();
                assert!((1..=3).contains(&me.count()));
                b.wait_timeout(LONG).unwrap(); // all three inside
                b.wait_timeout(LONG).unwrap(); // the parent has looked
            })
            .unwrap()
        })
        .collect();
    barrier.wait_timeout(LONG).unwrap();
    assert_eq!(occupancy.current(), 3);
    assert_eq!(occupancy.peak(), 3);
    barrier.wait_timeout(LONG).unwrap();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(occupancy.current(), 0, "every occupant left on drop");
    assert_eq!(occupancy.peak(), 3, "the peak stays");
    assert_eq!(occupancy.entries(), 3);
}

fn occupancy_under_a_lock_never_exceeds_one() {
    let (lock, occupancy) = (Lock::new(), Occupancy::new());
    let mut ps: Vec<Process> = (0..4)
        .map(|_| {
            let (l, o) = (lock.clone(), occupancy.clone());
            Process::spawn(move || {
                for _ in 0..500 {
                    let _g = l.lock().unwrap();
                    let me = o.enter();
                    assert_eq!(me.count(), 1);
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(occupancy.peak(), 1);
    assert_eq!(occupancy.entries(), 2000);
}

fn occupancy_of_a_process_killed_inside_is_taken_out_with_leave() {
    let occupancy = Occupancy::new();
    let inside = Event::new();
    let (o, i) = (occupancy.clone(), inside.clone());
    let mut p = Process::spawn(move || -> () {
        let _me = o.enter();
        i.set();
        forever()
    })
    .unwrap();
    assert!(inside.wait_timeout(LONG));
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
    assert_eq!(occupancy.current(), 1, "the dead process never left");
    occupancy.leave().unwrap();
    assert_eq!(occupancy.current(), 0);
    assert!(
        matches!(
            occupancy.leave(),
            Err(Error::Invalid {
                kind: InvalidKind::OverReleased,
                ..
            })
        ),
        "nobody left to take out"
    );
}

fn double(x: u64) -> u64 {
    2 * x
}

/// Any duration is a valid timeout, and the largest mean "wait" (no `Instant + Duration`
/// overflow anywhere). Each call is made where it returns at once: a free lock, a set event,
/// a ready message, a finished child.
fn every_timeout_api_takes_duration_max() {
    const MAX: Duration = Duration::MAX;
    assert!(Lock::new().lock_timeout(MAX).is_ok(), "Lock");
    assert!(RLock::new().lock_timeout(MAX).is_ok(), "RLock");
    assert!(Value::new(1u32).lock_timeout(MAX).is_ok(), "Value");
    assert!(Array::<u32>::new(2).lock_timeout(MAX).is_ok(), "Array");
    let condition = Condition::new();
    let mut guard = condition.lock_timeout(MAX).expect("Condition");
    assert!(
        guard.wait_for(|| true, Some(MAX)).unwrap(),
        "Condition::wait_for"
    );
    drop(guard);
    assert!(
        Semaphore::new(1).unwrap().acquire_timeout(MAX).is_some(),
        "Semaphore"
    );
    assert!(
        BoundedSemaphore::new(1)
            .unwrap()
            .acquire_timeout(MAX)
            .is_some(),
        "BoundedSemaphore"
    );
    let event = Event::new();
    event.set();
    assert!(event.wait_timeout(MAX), "Event");
    assert_eq!(
        Barrier::new(1).wait_timeout(MAX).unwrap(),
        0,
        "Barrier::wait_timeout"
    );
    assert_eq!(
        Barrier::new(1).with_timeout(MAX).wait().unwrap(),
        0,
        "Barrier::with_timeout"
    );
    let q: Queue<u32> = Queue::new().unwrap();
    q.put_timeout(5u32, MAX).unwrap();
    assert_eq!(q.get_timeout(MAX).unwrap(), 5, "Queue");
    let jq: JoinableQueue<u32> = JoinableQueue::new().unwrap();
    jq.join_timeout(MAX).expect("JoinableQueue::join_timeout");
    let (a, b) = Pipe::new();
    a.send(&1u8).unwrap();
    assert!(b.poll(MAX).unwrap(), "Connection::poll");
    let (rx, tx) = Pipe::one_way();
    tx.send(&1u8).unwrap();
    assert!(rx.poll(MAX).unwrap(), "PipeReceiver::poll");
    let mut p = Process::spawn(|| 3).unwrap();
    assert_eq!(
        p.join_timeout(MAX).unwrap(),
        Some(3),
        "Process::join_timeout"
    );
    let mut child = StartMethod::Fork.start(double, 4).unwrap();
    assert_eq!(
        child.join_timeout(MAX).unwrap(),
        Some(0),
        "start::Child::join_timeout"
    );
    let pool = Pool::new(1).unwrap();
    let r = pool.apply_async(double, 21).unwrap();
    assert!(r.wait_timeout(MAX), "AsyncResult::wait_timeout");
    assert_eq!(r.get_timeout(MAX).unwrap(), 42, "AsyncResult::get_timeout");
    pool.waker().wake().unwrap();
    assert!(pool.wait_any(Some(MAX)), "Pool::wait_any");
    pool.close().unwrap();
    pool.join().unwrap();
}
