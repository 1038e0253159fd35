//! A guard belongs to the process that took it: a fork's copy of one (a guard of a
//! `'static` object moved into a `Process::new` closure) gives nothing back when it is
//! dropped (see forked_process.rs for why these checks fork from a harness of their own).

use harness::checks;
use multiproc::{Process, Semaphore};
use std::sync::LazyLock;
use std::time::Duration;

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![a_permit_copied_into_a_fork_child_returns_nothing,])
}

const LONG: Duration = Duration::from_secs(30);

static SEMAPHORE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(1).unwrap());

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
