//! A lock guard belongs to the process that locked: a fork's copy of one (a guard of a
//! `'static` `Value`, `Array`, `Lock` or `RLock` moved into a `Process::new` closure) must
//! neither write the shared data without the lock nor unlock the parent's lock when it is
//! dropped (see tests/process.rs for why these checks fork from a harness of their own).

use harness::checks;
use multiproc::{Array, Condition, Event, Lock, Process, RLock, Semaphore, TryLockError, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;
use std::time::Duration;

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        a_guard_copied_into_a_fork_child_refuses_to_write,
        a_lock_guard_copied_into_a_fork_child_drops_without_unlocking,
        a_permit_copied_into_a_fork_child_returns_nothing,
        a_condition_guard_copied_into_a_fork_child_refuses_to_notify_or_wait,
    ])
}

const LONG: Duration = Duration::from_secs(30);

static VALUE: LazyLock<Value<u64>> = LazyLock::new(|| Value::new(1));
static ARRAY: LazyLock<Array<u64>> = LazyLock::new(|| Array::new(2));
static LOCK: LazyLock<Lock> = LazyLock::new(Lock::new);
static RLOCK: LazyLock<RLock> = LazyLock::new(RLock::new);
static CONDITION: LazyLock<Condition> = LazyLock::new(Condition::new);
static SEMAPHORE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(1).unwrap());

/// The child gets a copy of a guard the parent took, then writes through it while the
/// parent holds the lock again: the write is refused (a panic in the child), and nothing
/// lands inside the parent's critical section. Exit code 0: both writes were refused.
fn a_guard_copied_into_a_fork_child_refuses_to_write() {
    let go = Event::new();
    let g = go.clone();
    let value_guard = VALUE.lock().unwrap();
    let array_guard = ARRAY.lock().unwrap();
    let mut child = Process::new(move || {
        let (mut value_guard, mut array_guard) = (value_guard, array_guard);
        g.wait();
        let value_refused = catch_unwind(AssertUnwindSafe(|| *value_guard = 42)).is_err();
        let array_refused = catch_unwind(AssertUnwindSafe(|| array_guard.set(0, 42))).is_err();
        // Dropping the copies writes nothing back and unlocks nothing.
        drop((value_guard, array_guard));
        match (value_refused, array_refused) {
            (true, true) => 0,
            (false, _) => 1,
            (true, false) => 2,
        }
    });
    // The parent drops its copy of the closure, guards included, once the child exists.
    child.start().unwrap();
    let value_held = VALUE.lock().unwrap();
    let array_held = ARRAY.lock().unwrap();
    go.set();
    let code = child.join_timeout(LONG).unwrap();
    assert_eq!(
        VALUE.load(),
        1,
        "the child's copy of a Value guard wrote inside the parent's critical section"
    );
    assert_eq!(
        ARRAY.to_vec(),
        [0, 0],
        "the child's copy of an Array guard wrote inside the parent's critical section"
    );
    assert_eq!(
        code,
        Some(0),
        "1: the Value write was not refused, 2: the Array's"
    );
    assert_eq!(*value_held, 1);
    drop((value_held, array_held));
    assert!(VALUE.try_lock().is_ok() && ARRAY.try_lock().is_ok());
}

/// A child that drops its copy of a `Lock` or `RLock` guard neither unlocks the parent's
/// hold nor fails doing it (exit code 0, no panic).
fn a_lock_guard_copied_into_a_fork_child_drops_without_unlocking() {
    let go = Event::new();
    let g = go.clone();
    let lock_guard = LOCK.lock().unwrap();
    let rlock_guard = RLOCK.lock().unwrap();
    let mut child = Process::new(move || {
        g.wait();
        drop((lock_guard, rlock_guard));
        0
    });
    child.start().unwrap();
    let lock_held = LOCK.lock().unwrap();
    let rlock_held = RLOCK.lock().unwrap();
    go.set();
    assert_eq!(
        child.join_timeout(LONG).unwrap(),
        Some(0),
        "the child's drop failed"
    );
    assert_eq!(
        RLOCK.held_count(),
        1,
        "the child's drop released the parent's level"
    );
    // Still held by this thread: a second try is refused, not granted.
    assert!(matches!(LOCK.try_lock(), Err(TryLockError::WouldBlock)));
    drop((lock_held, rlock_held));
    assert!(LOCK.try_lock().is_ok());
    assert_eq!(RLOCK.held_count(), 0);
}

/// A permit returns the unit it took, once: the parent's copy gives it back when the
/// parent drops the closure, and the child's copy, dropped there, gives nothing
/// (before, the semaphore ended with one unit more than it was made with).
fn a_permit_copied_into_a_fork_child_returns_nothing() {
    let permit = SEMAPHORE.acquire();
    assert!(SEMAPHORE.try_acquire().is_none(), "one unit only");
    let mut child = Process::new(move || {
        drop(permit);
        0
    });
    child.start().unwrap();
    assert_eq!(child.join_timeout(LONG).unwrap(), Some(0));
    assert_eq!(
        SEMAPHORE.value(),
        1,
        "the child's copy of the permit gave a unit back"
    );
}

/// A child's copy of a `Condition` guard holds no lock: notifying or waiting through it
/// (which releases the lock) panics, and its drop unlocks nothing. Exit code 0: both refused.
fn a_condition_guard_copied_into_a_fork_child_refuses_to_notify_or_wait() {
    let guard = CONDITION.lock().unwrap();
    let mut child = Process::new(move || {
        let mut guard = guard;
        let notify_refused = catch_unwind(AssertUnwindSafe(|| guard.notify_all())).is_err();
        let wait_refused =
            catch_unwind(AssertUnwindSafe(|| guard.wait_timeout(Duration::ZERO))).is_err();
        drop(guard);
        match (notify_refused, wait_refused) {
            (true, true) => 0,
            (false, _) => 1,
            (true, false) => 2,
        }
    });
    child.start().unwrap();
    let held = CONDITION.lock().unwrap();
    assert_eq!(
        child.join_timeout(LONG).unwrap(),
        Some(0),
        "1: notify through the copy was not refused, 2: wait was not"
    );
    drop(held);
    assert!(CONDITION.try_lock().is_ok());
}
