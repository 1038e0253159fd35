//! Library checks for shared memory and `Lock` that fork (see tests/process.rs).

use harness::checks;
use multiproc::{Array, Event, Lock, LockError, Process, TryLockError, Value};
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        locked_counter_is_exact,
        array_writes_are_shared,
        value_guard_writes_back_on_drop,
        lock_held_by_a_dead_process_is_recovered_and_reported,
        try_lock_and_lock_timeout_on_a_held_lock,
        lock_excludes_other_processes,
    ])
}

fn locked_counter_is_exact() {
    let counter = Value::new(0u64);
    let mut ps: Vec<Process> = (0..4)
        .map(|_| {
            let c = counter.clone();
            Process::spawn(move || {
                for _ in 0..20_000 {
                    *c.lock().unwrap() += 1;
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(counter.load(), 80_000);
}

fn array_writes_are_shared() {
    let a = Array::<f64>::from_slice(&[0.5, 1.5]);
    assert_eq!(a.len(), 2);
    let b = Array::<u8>::new(1000);
    let (ac, bc) = (a.clone(), b.clone());
    let mut p = Process::spawn(move || {
        ac.store(1, -2.0);
        let mut g = bc.lock().unwrap();
        for i in 0..g.len() {
            g.set(i, (i % 251) as u8);
        }
    })
    .unwrap();
    p.join().unwrap();
    assert_eq!(a.to_vec(), [0.5, -2.0]);
    let g = b.lock().unwrap();
    assert!(g.iter().enumerate().all(|(i, v)| v == (i % 251) as u8));
}

fn value_guard_writes_back_on_drop() {
    let v = Value::new(10i32);
    {
        let mut g = v.lock().unwrap();
        *g *= 3;
        assert_eq!(v.load(), 10, "not written until the guard goes");
    }
    assert_eq!(v.load(), 30);
    let flag = Value::new(false);
    flag.store(true);
    assert!(flag.load());
}

fn lock_held_by_a_dead_process_is_recovered_and_reported() {
    let lock = Lock::new();
    let holding = Event::new();
    let (l, h) = (lock.clone(), holding.clone());
    let mut p = Process::spawn(move || -> () {
        let _g = l.lock().unwrap();
        h.set();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    })
    .unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(30)));
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
    // Python would deadlock here. We get the lock and the news.
    let guard = match lock.lock() {
        Err(LockError::OwnerDied(owner_died)) => owner_died.into_inner(),
        other => panic!("the dead holder was not reported: {other:?}"),
    };
    drop(guard);
    assert!(
        lock.lock().is_ok(),
        "reported once, then a normal lock again"
    );
}

fn try_lock_and_lock_timeout_on_a_held_lock() {
    let lock = Lock::new();
    let holding = Event::new();
    let release = Event::new();
    let (l, h, r) = (lock.clone(), holding.clone(), release.clone());
    let mut p = Process::spawn(move || {
        let _g = l.lock().unwrap();
        h.set();
        r.wait();
    })
    .unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(30)));
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    let t = Instant::now();
    assert!(matches!(
        lock.lock_timeout(Duration::from_millis(150)),
        Err(TryLockError::TimedOut)
    ));
    assert!(t.elapsed() >= Duration::from_millis(150));
    release.set();
    assert!(lock.lock_timeout(Duration::from_secs(30)).is_ok());
    p.join().unwrap();
}

fn lock_excludes_other_processes() {
    // Two processes each do non-atomic read-pause-write under the lock; nothing is lost.
    let lock = Lock::new();
    let v = Value::new(0i64);
    let mut ps: Vec<Process> = (0..2)
        .map(|_| {
            let (l, v) = (lock.clone(), v.clone());
            Process::spawn(move || {
                for _ in 0..300 {
                    let _g = l.lock().unwrap();
                    let x = v.load();
                    std::hint::spin_loop();
                    v.store(x + 1);
                }
            })
            .unwrap()
        })
        .collect();
    for p in &mut ps {
        p.join().unwrap();
    }
    assert_eq!(v.load(), 600);
}
