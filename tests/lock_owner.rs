//! Lock semantics on the holder's own thread and after the holder's death (see
//! process.rs for why these checks fork from a harness of their own).
//!
//! - A second acquire by the thread that holds a `Lock` (or a `Value`'s, `Array`'s or
//!   `Condition`'s lock) cannot deadlock and must not panic: `try_lock` is `WouldBlock`,
//!   `lock_timeout` waits its timeout and is `TimedOut` (Python's `acquire(False)` and
//!   `acquire(timeout=t)` return `False`), the blocking `lock` is
//!   `Err(LockError::WouldDeadlock)`. The lock stays held by its holder throughout.
//! - Whether an `RLock` is held by the calling thread is proven by its mutex, not by a
//!   thread id recorded at acquire time, which outlives a holder that dies and is reused.

use harness::checks;
use multiproc::{
    Array, ArrayGuard, Condition, ConditionGuard, Error, Event, InvalidKind, Lock, LockError,
    LockGuard, LockResult, Process, RLock, TryLockError, TryLockResult, Value, ValueGuard,
};
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        rlock_of_a_dead_holder_is_not_owned_by_a_reused_thread_id,
        try_lock_on_the_holders_own_thread_would_block,
        lock_timeout_on_the_holders_own_thread_times_out,
        blocking_lock_twice_on_one_thread_is_an_error_not_a_panic,
        condition_acquires_on_the_holders_own_thread_refuse_without_panicking,
    ])
}

const LONG: Duration = Duration::from_secs(30);

/// The three ways into every primitive that has a (non-re-entrant) lock.
trait Acquire: Clone + Send + 'static {
    type Guard<'a>
    where
        Self: 'a;
    const NAME: &'static str;
    fn lock(&self) -> LockResult<Self::Guard<'_>>;
    fn try_lock(&self) -> TryLockResult<Self::Guard<'_>>;
    fn lock_timeout(&self, timeout: Duration) -> TryLockResult<Self::Guard<'_>>;
}

macro_rules! acquire_impl {
    ($t:ty, $guard:ident, $name:literal) => {
        impl Acquire for $t {
            type Guard<'a> = $guard<'a>;
            const NAME: &'static str = $name;
            fn lock(&self) -> LockResult<Self::Guard<'_>> {
                <$t>::lock(self)
            }
            fn try_lock(&self) -> TryLockResult<Self::Guard<'_>> {
                <$t>::try_lock(self)
            }
            fn lock_timeout(&self, timeout: Duration) -> TryLockResult<Self::Guard<'_>> {
                <$t>::lock_timeout(self, timeout)
            }
        }
    };
}

type U32ValueGuard<'a> = ValueGuard<'a, u32>;
type U32ArrayGuard<'a> = ArrayGuard<'a, u32>;
acquire_impl!(Lock, LockGuard, "Lock");
acquire_impl!(Value<u32>, U32ValueGuard, "Value");
acquire_impl!(Array<u32>, U32ArrayGuard, "Array");
acquire_impl!(Condition, ConditionGuard, "Condition");

/// Run `check` on a fresh Lock, Value, Array and Condition.
fn on_every_lock(check: fn(&dyn Fn() -> Checked)) {
    check(&|| Checked::run(Lock::new()));
    check(&|| Checked::run(Value::new(7u32)));
    check(&|| Checked::run(Array::<u32>::new(3)));
    check(&|| Checked::run(Condition::new()));
}

/// What happened to a primitive when the thread holding its lock acquired it again.
struct Checked {
    name: &'static str,
    try_lock: String,
    lock_timeout: String,
    waited_at_least_the_timeout: bool,
    lock: String,
    lock_message: String,
    held_meanwhile_for_another_process: bool,
    free_once_the_guard_is_dropped: bool,
}

const TIMEOUT: Duration = Duration::from_millis(150);

fn describe<G>(r: &TryLockResult<G>) -> String {
    match r {
        Ok(_) => "Ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

impl Checked {
    fn run<L: Acquire>(l: L) -> Checked {
        let guard = l.lock().unwrap();
        let try_lock = describe(&l.try_lock());
        let started = Instant::now();
        let lock_timeout = describe(&l.lock_timeout(TIMEOUT));
        let waited_at_least_the_timeout = started.elapsed() >= TIMEOUT;
        let (lock, lock_message) = match l.lock() {
            Ok(_) => ("Ok".to_string(), String::new()),
            Err(e) => (format!("{e:?}"), e.to_string()),
        };
        // The refused attempts left the lock held by this thread: another process finds it
        // busy.
        let other = l.clone();
        let mut p = Process::spawn(move || {
            matches!(other.try_lock(), Err(TryLockError::WouldBlock)) as i32
        })
        .unwrap();
        let held_meanwhile_for_another_process = p.join().unwrap() == 1;
        drop(guard);
        // ... and did not leave it held after the guard is gone.
        let free_once_the_guard_is_dropped = l.try_lock().is_ok() && l.lock().is_ok();
        Checked {
            name: L::NAME,
            try_lock,
            lock_timeout,
            waited_at_least_the_timeout,
            lock,
            lock_message,
            held_meanwhile_for_another_process,
            free_once_the_guard_is_dropped,
        }
    }

    fn assert_still_held_then_free(&self) {
        assert!(
            self.held_meanwhile_for_another_process,
            "{}: a refused re-acquire released the lock",
            self.name
        );
        assert!(
            self.free_once_the_guard_is_dropped,
            "{}: a refused re-acquire left the lock held after the guard was dropped",
            self.name
        );
    }
}

fn try_lock_on_the_holders_own_thread_would_block() {
    on_every_lock(|run| {
        let c = run();
        assert_eq!(c.try_lock, "WouldBlock", "{}: try_lock", c.name);
        c.assert_still_held_then_free();
    });
    // An RLock is the re-entrant one: there the holder's try_lock takes another level.
    let r = RLock::new();
    let _first = r.lock().unwrap();
    let second = r.try_lock();
    assert!(second.is_ok(), "RLock try_lock by its holder: {second:?}");
    assert_eq!(r.held_count(), 2);
}

fn lock_timeout_on_the_holders_own_thread_times_out() {
    on_every_lock(|run| {
        let c = run();
        assert_eq!(c.lock_timeout, "TimedOut", "{}: lock_timeout", c.name);
        assert!(
            c.waited_at_least_the_timeout,
            "{}: lock_timeout returned before its timeout (Python waits it out)",
            c.name
        );
        c.assert_still_held_then_free();
    });
}

fn blocking_lock_twice_on_one_thread_is_an_error_not_a_panic() {
    on_every_lock(|run| {
        let c = run();
        assert_eq!(c.lock, "WouldDeadlock", "{}: lock", c.name);
        assert!(
            c.lock_message.contains("not re-entrant"),
            "{}: {:?}",
            c.name,
            c.lock_message
        );
        c.assert_still_held_then_free();
    });
}

/// Condition's acquires go through the lock it was built on, which a `Lock` handle, or
/// another condition on the same lock, may hold.
fn condition_acquires_on_the_holders_own_thread_refuse_without_panicking() {
    let lock = Lock::new();
    let (cond, other_cond) = (Condition::with_lock(&lock), Condition::with_lock(&lock));
    {
        let _held = lock.lock().unwrap();
        assert!(matches!(cond.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(matches!(
            cond.lock_timeout(Duration::from_millis(20)),
            Err(TryLockError::TimedOut)
        ));
        assert!(matches!(cond.lock(), Err(LockError::WouldDeadlock)));
    }
    let mut g = cond.lock().unwrap();
    assert!(matches!(lock.lock(), Err(LockError::WouldDeadlock)));
    assert!(matches!(other_cond.lock(), Err(LockError::WouldDeadlock)));
    assert!(matches!(
        other_cond.try_lock(),
        Err(TryLockError::WouldBlock)
    ));
    // The guard that was there first is intact: it can still wait (releasing the lock and
    // taking it back) and notify.
    assert!(!g.wait_timeout(Duration::from_millis(10)).unwrap());
    assert_eq!(g.notify_all(), 0);
    assert!(matches!(cond.try_lock(), Err(TryLockError::WouldBlock)));
    drop(g);
    assert!(other_cond.try_lock().is_ok());
}

/// How an `RLock` looks to a process that does not hold it: not owned, not releasable.
fn not_owned(r: &RLock) -> Result<(), String> {
    if r.held_count() != 0 {
        return Err(format!("held_count() = {}", r.held_count()));
    }
    match r.release() {
        Err(Error::Invalid {
            kind: InvalidKind::OverReleased,
            ..
        }) => Ok(()),
        other => Err(format!("release() = {other:?}")),
    }
}

/// Ask the kernel for `pid` as the next process id: write `pid - 1` to `ns_last_pid`
/// (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; false when refused).
fn next_pid_is(pid: u32) -> bool {
    std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).is_ok()
}

/// A process holds an `RLock` twice and is SIGKILLed. Before the fix, the lock recorded
/// its holder's thread id next to the mutex and trusted it: a later process that got the
/// same id (pid reuse; here forced through `ns_last_pid`) found itself "holding" the lock
/// two levels deep, and its `try_lock` succeeded without touching the mutex, while the
/// next process to lock it was handed it too, through `OwnerDied`. Now ownership is read
/// from the robust mutex's owner word, which the kernel clears when its holder dies.
///
/// The process with the dead holder's pid must see the lock as not its own, take it like
/// anyone else (through `OwnerDied`, one level), and while it holds it, another process
/// and the parent must see it as busy and not theirs.
///
/// Choosing the next pid needs privilege; without it the process with the dead holder's
/// pid cannot be made in safe code, and the check still runs every step with an ordinary
/// process in its place (it then shows the invariant, not the reuse), saying so.
fn rlock_of_a_dead_holder_is_not_owned_by_a_reused_thread_id() {
    let r = RLock::new();
    let holding = Event::new();
    let (rc, h) = (r.clone(), holding.clone());
    let mut holder = Process::spawn(move || -> () {
        rc.acquire().unwrap();
        rc.acquire().unwrap();
        h.set();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    })
    .unwrap();
    let dead_pid = holder.pid().unwrap();
    assert!(holding.wait_timeout(LONG));
    holder.kill().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    not_owned(&r).expect("the parent after the holder died");

    // The successor: checks, takes the lock, holds it until told to let go.
    // verdict: 0 = not yet, 1 = all as expected and holding, 2 = wrong (see stdout).
    let (verdict, answered, let_go) = (Value::new(0u32), Event::new(), Event::new());
    let mut successor = None;
    let mut reused = false;
    // The last attempt, or the first if ns_last_pid is not writable, takes any pid.
    for attempt in 0..=200 {
        let privileged = attempt < 200 && next_pid_is(dead_pid);
        let (rc, v, a, go) = (r.clone(), verdict.clone(), answered.clone(), let_go.clone());
        let mut p = Process::spawn(move || {
            if privileged && std::process::id() != dead_pid {
                return 77; // another process took the pid first: try again
            }
            let took = (|| {
                not_owned(&rc)?;
                let guard = match rc.try_lock() {
                    Err(TryLockError::OwnerDied(g)) => g.into_inner(),
                    other => return Err(format!("try_lock() = {other:?}, not OwnerDied")),
                };
                match rc.held_count() {
                    1 => Ok(guard),
                    n => Err(format!("held_count() = {n} after taking it")),
                }
            })();
            let guard = match took {
                Ok(g) => g,
                Err(why) => {
                    println!("successor (pid {}): {why}", std::process::id());
                    v.store(2);
                    a.set();
                    return 1;
                }
            };
            v.store(1);
            a.set();
            go.wait();
            drop(guard);
            (rc.held_count() == 0) as i32 * 3
        })
        .unwrap();
        if p.pid() == Some(dead_pid) || !privileged {
            reused = privileged;
            successor = Some(p);
            break;
        }
        assert_eq!(p.join().unwrap(), 77);
    }
    let mut successor = successor.expect("the last attempt always keeps its process");
    if !reused {
        println!(
            "(could not give the successor the dead holder's pid: ns_last_pid not writable or \
             the pid taken; it ran with a pid of its own)"
        );
    }
    assert!(answered.wait_timeout(LONG));
    assert_eq!(
        verdict.load(),
        1,
        "the process with the dead holder's thread id took the lock as its own"
    );
    // The successor holds it: nobody else owns it or can take it.
    let rc = r.clone();
    let mut third = Process::spawn(move || {
        let ok = not_owned(&rc).is_ok()
            && matches!(rc.try_lock(), Err(TryLockError::WouldBlock))
            && matches!(
                rc.lock_timeout(Duration::from_millis(20)),
                Err(TryLockError::TimedOut)
            )
            && not_owned(&rc).is_ok();
        ok as i32
    })
    .unwrap();
    assert_eq!(
        third.join().unwrap(),
        1,
        "a third process saw it as its own"
    );
    not_owned(&r).expect("the parent while the successor holds it");
    assert!(matches!(r.try_lock(), Err(TryLockError::WouldBlock)));
    let_go.set();
    assert_eq!(successor.join().unwrap(), 3, "the successor's release");
    let g = r
        .lock()
        .expect("released cleanly: no dead holder to report");
    assert_eq!(r.held_count(), 1);
    drop(g);
    not_owned(&r).expect("the parent after releasing");
}
