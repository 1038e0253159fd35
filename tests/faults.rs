//! The fault matrix: what happens when processes die at the worst moment, kept
//! as checks. Each check runs in its own forked process group with a timeout (a hang is a
//! failure) and fails if it leaves any process behind (harness::forked). Signals to the
//! main process of a running program are in tests/faults_examples.rs.
//!
//! - a child's panic, SIGKILL, abort and segfault give exit codes 1, -9, -6, -11;
//! - a pool worker killed inside `map`, `imap_unordered` or `apply_async` fails that call
//!   with `Error::WorkerDied`, never a hang, and the pool serves later calls; a killed pool
//!   server fails pending and later calls with an error;
//! - a `Lock`, `RLock` or `Value` holder killed: the next taker gets `OwnerDied` and the
//!   lock and data stay usable, also over many holders killed at random points;
//! - a `Lock` waiter killed between its wake-up and taking the lock: the other waiters
//!   still get it;
//! - a `Condition` waiter killed asleep: the live waiters are still woken;
//! - a `Barrier` party killed: the others get an error within the barrier's timeout;
//! - queue producers and consumers killed mid-operation, hundreds of times: no item lost
//!   inside the queue, none duplicated, none torn (see `queue_faults` for exactly what is
//!   promised and how it is checked);
//! - 1,000 pools and 10,000 processes started and joined leave the fd count and RSS flat.
//!
//! Environment: `MULTIPROC_FAULT_KILLS` (kills per kill loop, default 100),
//! `MULTIPROC_FAULT_POOLS` (pool cycles, default 1,000), `MULTIPROC_FAULT_PROCESSES`
//! (process cycles, default 10,000), `MULTIPROC_FAULT_SEED` (where the kills land).
//!
//! No check here starts a thread: every process is forked from a single-threaded parent.

mod support;

use harness::checks;
use harness::forked::Check;
use multiproc::{
    Array, Barrier, Condition, Error, Event, Lock, LockResult, Pool, Process, Queue, RLock, Value,
};
use nix::sys::signal::{Signal, raise};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use support::{block_reporting_pid, rss_kib, square_but_die_on_7, start_waiters};

fn main() -> ExitCode {
    let kills = count("MULTIPROC_FAULT_KILLS", 100);
    let pools = count("MULTIPROC_FAULT_POOLS", 1000);
    let processes = count("MULTIPROC_FAULT_PROCESSES", 10_000);
    let single = timed(
        30,
        checks![
            child_exit_codes_for_panic_sigkill_abort_and_segfault,
            a_worker_killing_itself_inside_a_blocking_map_fails_the_map_and_the_pool_goes_on,
            a_worker_killed_by_another_process_during_a_blocking_map_fails_the_map,
            a_worker_killed_during_imap_unordered_fails_its_item_and_the_rest_arrive,
            workers_killed_abort_or_segfault_inside_apply_async_fail_that_call_only,
            the_pool_server_killed_during_a_blocking_map_fails_it_and_every_later_call,
            an_idle_pool_whose_server_was_killed_fails_the_next_call,
            a_lock_holder_killed_mid_update_is_reported_and_the_data_is_usable,
            an_rlock_holder_killed_at_depth_three_is_reported_and_the_lock_is_usable,
            a_value_holder_killed_mid_update_is_reported_and_the_value_is_usable,
            a_lock_waiter_killed_between_its_wake_up_and_the_lock_strands_no_other_waiter,
            condition_waiters_killed_asleep_do_not_stop_the_live_ones_waking,
            a_barrier_party_killed_before_arriving_gives_the_others_an_error,
            a_barrier_party_killed_while_waiting_gives_the_others_an_error_at_the_next_pass,
        ],
    );
    // The loops scale with their counts: allow 60 s plus 0.25 s a kill, 30 ms a cycle.
    let loops = timed(
        60 + kills as u64 / 4,
        checks![
            lock_users_killed_at_random_points_never_lose_or_invent_an_owner_died,
            queue_consumers_killed_mid_get_lose_nothing_inside_the_queue,
            queue_producers_killed_mid_put_lose_duplicate_and_tear_nothing,
            queue_producers_and_consumers_killed_together_lose_duplicate_and_tear_nothing,
        ],
    );
    let resources = timed(
        60 + (pools as u64 * 30 + processes as u64 * 3) / 1000,
        checks![
            a_thousand_pools_created_and_joined_leave_fds_and_rss_flat,
            ten_thousand_processes_started_and_joined_leave_fds_and_rss_flat,
        ],
    );
    harness::forked::run(single.into_iter().chain(loops).chain(resources).collect())
}

fn timed(seconds: u64, mut checks: Vec<Check>) -> Vec<Check> {
    for c in &mut checks {
        c.timeout = Duration::from_secs(seconds);
    }
    checks
}

/// `name` from the environment, or `default`.
fn count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a count")),
        Err(_) => default,
    }
}

const LONG: Duration = Duration::from_secs(30);

// ----- helpers kept in one place, for the library's interface changes -----------------

/// A blocking acquire's guard, and whether the previous holder died. The one place that
/// knows what `lock()` returns.
fn acquire<G>(r: LockResult<G>) -> (G, bool) {
    match r {
        Ok(g) => (g, false),
        Err(multiproc::LockError::OwnerDied(died)) => (died.into_inner(), true),
        Err(e) => panic!("acquire failed: {e}"),
    }
}

/// Every queue of these checks is made here.
fn queue<T: Serialize + DeserializeOwned + 'static>(maxsize: usize) -> Queue<T> {
    Queue::with_maxsize(maxsize).expect("a queue")
}

// ----- small tools ----------------------------------------------------------------------

fn forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Die of SIGSEGV. std's SIGSEGV handler (there to report stack overflows) treats a signal
/// that is not a guard-page fault by restoring the default action and returning, so the
/// first raise may come back; the next one kills.
fn segfault() -> ! {
    loop {
        let _ = raise(Signal::SIGSEGV);
    }
}

fn sigkill(pid: u32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

/// Spin (yielding the CPU) until `done()`, failing with `what` after LONG: used to wait
/// for progress a process reports in shared memory, never for time to pass.
fn spin_until(what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "no progress for {LONG:?}: {}",
            what()
        );
        std::thread::yield_now();
    }
}

/// xorshift64*: where the kills land, reproducible from `MULTIPROC_FAULT_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = count("MULTIPROC_FAULT_SEED", 0x5eed_f00d) as u64;
        println!("  (MULTIPROC_FAULT_SEED={seed})");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    /// Burn a varied number of cycles, so a kill lands at a different point each time.
    fn jitter(&mut self) {
        for _ in 0..self.below(4000) {
            std::hint::spin_loop();
        }
    }
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

// ----- processes ------------------------------------------------------------------------

fn child_exit_codes_for_panic_sigkill_abort_and_segfault() {
    let mut panicked = Process::spawn(|| -> () { panic!("a deliberate panic") }).unwrap();
    let mut aborted = Process::spawn(|| -> () { std::process::abort() }).unwrap();
    let mut segfaulted = Process::spawn(|| -> () { segfault() }).unwrap();
    let mut killed_itself = Process::spawn(|| -> () {
        let _ = raise(Signal::SIGKILL);
        forever()
    })
    .unwrap();
    let mut killed = Process::spawn(|| -> () { forever() }).unwrap();
    killed.kill().unwrap();
    assert_eq!(panicked.join().unwrap(), 1, "panic");
    assert_eq!(aborted.join().unwrap(), -6, "abort: SIGABRT");
    assert_eq!(segfaulted.join().unwrap(), -11, "segfault: SIGSEGV");
    assert_eq!(killed_itself.join().unwrap(), -9, "SIGKILL from itself");
    assert_eq!(killed.join().unwrap(), -9, "SIGKILL from its parent");
}

// ----- pools ----------------------------------------------------------------------------

fn square(x: u64) -> u64 {
    x * x
}

fn squares(range: std::ops::Range<u64>) -> Vec<u64> {
    range.map(square).collect()
}

fn expect_worker_died<T: std::fmt::Debug>(r: multiproc::Result<T>, signal: &str) {
    match r {
        Err(Error::WorkerDied(what)) => assert!(what.contains(signal), "{signal}? {what}"),
        other => panic!("expected WorkerDied ({signal}), got {other:?}"),
    }
}

fn a_worker_killing_itself_inside_a_blocking_map_fails_the_map_and_the_pool_goes_on() {
    let pool = Pool::new(2).unwrap();
    let before: HashSet<u32> = pool.worker_pids().into_iter().collect();
    expect_worker_died(pool.chunksize(1).map(square_but_die_on_7, 0..20), "SIGKILL");
    assert_eq!(
        pool.map(square, 0..50).unwrap(),
        squares(0..50),
        "later map"
    );
    assert_eq!(pool.apply(square, 9).unwrap(), 81, "later apply");
    let after: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert_eq!(after.len(), 2, "two workers again");
    assert_eq!(
        before.intersection(&after).count(),
        1,
        "exactly one replaced"
    );
    pool.close().unwrap();
    pool.join().unwrap();
}

fn a_worker_killed_by_another_process_during_a_blocking_map_fails_the_map() {
    let (started, release, running) = (Event::new(), Event::new(), Value::new(0u32));
    let (s, r) = (started.clone(), running.clone());
    // Forked before the pool: it kills a worker that is inside a task of the map.
    let mut killer = Process::spawn(move || {
        if !s.wait_timeout(LONG) {
            return 1;
        }
        sigkill(r.load());
        0
    })
    .unwrap();
    let pool = Pool::new(2).unwrap();
    let shared = (started, release.clone(), running);
    expect_worker_died(
        pool.chunksize(1).map(block_reporting_pid, vec![shared; 4]),
        "SIGKILL",
    );
    assert_eq!(killer.join().unwrap(), 0);
    release.set();
    assert_eq!(
        pool.map(square, 0..20).unwrap(),
        squares(0..20),
        "later map"
    );
}

fn a_worker_killed_during_imap_unordered_fails_its_item_and_the_rest_arrive() {
    let pool = Pool::new(2).unwrap();
    let got: Vec<multiproc::Result<u64>> = pool
        .imap_unordered(square_but_die_on_7, 0..20)
        .unwrap()
        .collect();
    assert_eq!(got.len(), 20, "one outcome per item (chunksize 1)");
    let mut ok: Vec<u64> = got
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    ok.sort_unstable();
    let mut want = squares(0..20);
    want.retain(|&v| v != 49);
    assert_eq!(ok, want, "every other item arrives");
    let errors: Vec<_> = got.into_iter().filter(Result::is_err).collect();
    assert_eq!(errors.len(), 1);
    expect_worker_died(errors.into_iter().next().unwrap(), "SIGKILL");
    let mut later: Vec<u64> = pool
        .imap_unordered(square, 0..20)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    later.sort_unstable();
    assert_eq!(later, squares(0..20), "later imap_unordered");
}

/// Dies: 0 by SIGKILL, 1 by abort, 2 by segfault.
fn die_by(how: u8) -> u32 {
    match how {
        0 => {
            let _ = raise(Signal::SIGKILL);
            forever()
        }
        1 => std::process::abort(),
        _ => segfault(),
    }
}

fn workers_killed_abort_or_segfault_inside_apply_async_fail_that_call_only() {
    let pool = Pool::new(2).unwrap();
    let fine = pool.apply_async(square, 12).unwrap();
    let killed = pool.apply_async(die_by, 0).unwrap();
    let aborted = pool.apply_async(die_by, 1).unwrap();
    let segfaulted = pool.apply_async(die_by, 2).unwrap();
    let also_fine = pool.apply_async(square, 13).unwrap();
    expect_worker_died(killed.get(), "SIGKILL");
    expect_worker_died(aborted.get(), "SIGABRT");
    expect_worker_died(segfaulted.get(), "SIGSEGV");
    assert_eq!(fine.get().unwrap(), 144);
    assert_eq!(also_fine.get().unwrap(), 169);
    assert_eq!(pool.apply(square, 3).unwrap(), 9, "later apply");
    assert_eq!(
        pool.map(square, 0..30).unwrap(),
        squares(0..30),
        "later map"
    );
}

/// Kills the pool's server (this worker's parent) when given 5, then waits to be killed
/// with it: that task can never complete.
fn kill_the_server_on_5(x: u64) -> u64 {
    if x == 5 {
        sigkill(std::os::unix::process::parent_id());
        forever()
    }
    x * x
}

fn expect_broken_pool(pool: &Pool) {
    assert!(
        matches!(pool.apply(square, 1), Err(Error::WorkerDied(_))),
        "apply on a broken pool"
    );
    assert!(
        matches!(pool.map(square, 0..3), Err(Error::WorkerDied(_))),
        "map on a broken pool"
    );
    assert!(
        pool.apply_async(square, 1).is_err(),
        "apply_async on a broken pool"
    );
    assert!(
        pool.imap_unordered(square, 0..3).is_err(),
        "imap_unordered on a broken pool"
    );
}

fn the_pool_server_killed_during_a_blocking_map_fails_it_and_every_later_call() {
    let pool = Pool::new(2).unwrap();
    assert!(matches!(
        pool.chunksize(1).map(kill_the_server_on_5, 0..20),
        Err(Error::WorkerDied(_))
    ));
    expect_broken_pool(&pool);
    // Dropping it must not hang; its workers died with the server (the harness fails this
    // check if any of them is left).
    drop(pool);
}

fn parent_of_worker(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim().chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

/// The workers die with their server, but not at the same instant: a call made before
/// they are gone may still be served. Once they are, every call fails.
fn an_idle_pool_whose_server_was_killed_fails_the_next_call() {
    let pool = Pool::new(2).unwrap();
    let workers = pool.worker_pids();
    sigkill(pool.apply(parent_of_worker, ()).unwrap());
    spin_until(
        || "workers dying with their server".into(),
        || workers.iter().all(|&w| dead(w)),
    );
    let r = pool.apply(square, 4);
    assert!(matches!(r, Err(Error::WorkerDied(_))), "{r:?}");
    expect_broken_pool(&pool);
}

// ----- locks ----------------------------------------------------------------------------

/// Start `hold` in a child, wait until it says it holds the lock, SIGKILL it.
fn kill_holder(hold: impl FnOnce(&Event) + 'static) {
    let holding = Event::new();
    let h = holding.clone();
    let mut p = Process::spawn(move || -> () {
        hold(&h);
        forever()
    })
    .unwrap();
    assert!(holding.wait_timeout(LONG), "the holder took the lock");
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
}

/// In a fresh child: whether `take` gets the lock cleanly (exit 1) or not (0).
fn taken_cleanly_by_another_process(take: impl FnOnce() -> bool + 'static) -> bool {
    Process::spawn(move || take() as i32)
        .unwrap()
        .join()
        .unwrap()
        == 1
}

fn a_lock_holder_killed_mid_update_is_reported_and_the_data_is_usable() {
    let (lock, data) = (Lock::new(), Array::<u64>::new(4));
    let (l, d) = (lock.clone(), data.clone());
    kill_holder(move |holding| {
        let g = l.lock().unwrap();
        // Half of an update that should set all four to 1.
        d.store(0, 1);
        d.store(1, 1);
        holding.set();
        std::mem::forget(g);
    });
    let (guard, died) = acquire(lock.lock());
    assert!(died, "the next taker is told the holder died");
    assert_eq!(data.to_vec(), [1, 1, 0, 0], "it sees the half-done update");
    for i in 0..4 {
        data.store(i, 1); // and can repair it
    }
    drop(guard);
    let l = lock.clone();
    assert!(taken_cleanly_by_another_process(move || l.lock().is_ok()));
    assert_eq!(data.to_vec(), [1; 4]);
}

fn an_rlock_holder_killed_at_depth_three_is_reported_and_the_lock_is_usable() {
    let rlock = RLock::new();
    let r = rlock.clone();
    kill_holder(move |holding| {
        for _ in 0..3 {
            r.acquire().unwrap();
        }
        holding.set();
    });
    let (guard, died) = acquire(rlock.lock());
    assert!(died, "the next taker is told the holder died");
    assert_eq!(rlock.held_count(), 1, "the dead holder's depth is gone");
    drop(guard);
    assert_eq!(rlock.held_count(), 0);
    let r = rlock.clone();
    assert!(taken_cleanly_by_another_process(move || r.lock().is_ok()));
}

fn a_value_holder_killed_mid_update_is_reported_and_the_value_is_usable() {
    let value = Value::new(10u64);
    let v = value.clone();
    kill_holder(move |holding| {
        let mut g = v.lock().unwrap();
        *g = 11; // on the guard's copy: written back only when the guard is dropped
        holding.set();
        std::mem::forget(g);
    });
    let (mut guard, died) = acquire(value.lock());
    assert!(died, "the next taker is told the holder died");
    assert_eq!(*guard, 10, "the unfinished update never landed");
    *guard += 5;
    drop(guard);
    assert_eq!(value.load(), 15);
    let v = value.clone();
    assert!(taken_cleanly_by_another_process(move || v.lock().is_ok()));
}

/// Whether `pid` is asleep inside the kernel's futex code (its wait channel names it).
fn asleep_on_a_futex(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("futex"))
}

/// Pin `pid` (0: this process) to `cpus`.
fn pin(pid: u32, cpus: &nix::sched::CpuSet) {
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid as i32), cpus).expect("affinity");
}

/// One round of the lost wake-up below. `true` if the round made the state it is about
/// (the woken waiter did not take the lock before it was killed).
fn strand_a_waiter_round() -> bool {
    let lock = Lock::new();
    // By waiter: 1 once it is about to call `lock`, 2 once it holds the lock.
    let stage = Array::<u8>::new(2);
    let held = lock.lock().expect("a fresh lock");
    let waiter = |w: usize| {
        let (l, st) = (lock.clone(), stage.clone());
        let p = Process::spawn(move || {
            st.store(w, 1);
            let (g, died) = acquire(l.lock());
            st.store(w, 2);
            drop(g);
            i32::from(died)
        })
        .unwrap();
        let pid = p.pid().expect("started");
        spin_until(
            || format!("waiter {w} asleep in lock()"),
            || stage.load(w) == 1 && asleep_on_a_futex(pid),
        );
        (p, pid)
    };
    // The futex wakes waiters of equal priority in the order they slept: `first`, then
    // `second`.
    let (mut first, first_pid) = waiter(0);
    let (mut second, _) = waiter(1);
    // `first` on this process's CPU, at SCHED_IDLE: woken, it cannot run while this
    // process can, so it is still between its wake-up and the lock when it is killed.
    let mine = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).expect("affinity");
    let cpu = (0..nix::sched::CpuSet::count())
        .find(|&c| mine.is_set(c).unwrap_or(false))
        .expect("a CPU");
    let mut one = nix::sched::CpuSet::new();
    one.set(cpu).unwrap();
    pin(0, &one);
    pin(first_pid, &one);
    let idle = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on our own child, with a valid sched_param.
    let rc = unsafe { libc::sched_setscheduler(first_pid as i32, libc::SCHED_IDLE, &idle) };
    assert_eq!(rc, 0, "SCHED_IDLE: {}", std::io::Error::last_os_error());
    drop(held); // wakes `first`
    let retaken = lock.lock().expect("taken back"); // 0 -> our tid, no waiters bit
    first.kill().unwrap();
    let code = first.join().unwrap();
    pin(0, &mine);
    let made = stage.load(0) != 2;
    if made {
        assert_eq!(code, -9, "the woken waiter died of the kill");
    }
    // Nobody is left to wake `second` but the mutex: it must still get the lock.
    drop(retaken);
    spin_until(
        || "the second waiter to take the lock once the woken first one died".to_string(),
        || stage.load(1) == 2,
    );
    assert_eq!(second.join().unwrap(), 0, "a clean acquire for the second");
    made
}

/// A lock waiter killed after `unlock` woke it but before it took the lock must not leave
/// the other waiters asleep on a free lock. glibc's robust mutex leaves the "there are
/// waiters" duty to the waiter `unlock` woke; killed before it takes the lock, while
/// another process takes it in one step, nobody wakes the rest (the kernel's clean-up at
/// the death wakes one only if the lock is free at that moment). This stalled the queue
/// checks below a few runs in 30 (two runs at once on 2 cores): both consumers asleep in
/// the queue's free lock while its producers waited for them to make room. Made here
/// on purpose: the woken waiter is pinned to this process's CPU at SCHED_IDLE so that it
/// cannot run before it is killed; a round where it ran anyway does not count.
fn a_lock_waiter_killed_between_its_wake_up_and_the_lock_strands_no_other_waiter() {
    let (mut made, mut rounds) = (0, 0);
    while made < 3 && rounds < 20 {
        made += usize::from(strand_a_waiter_round());
        rounds += 1;
    }
    println!("  {made} of {rounds} rounds killed the woken waiter before it took the lock");
    assert!(
        made > 0,
        "no round killed the woken waiter before it took the lock"
    );
}

/// Processes take a lock in a tight loop while they are killed at random points, 100
/// times (`MULTIPROC_FAULT_KILLS`): in `lock`, inside, in `unlock` or outside it.
///
/// Each taker writes its incarnation id into `holder` just after taking the lock and 0
/// just before releasing it, so a taker that finds `holder` non-zero knows the previous
/// holder died between those two points, holding the lock. The invariants: a clean
/// acquire always finds 0 (no death goes unreported); an `OwnerDied` names a killed
/// incarnation or 0 (its victim died just after taking or just before releasing), never
/// the same one twice, and there are no more of them than kills. Throughout, the lock
/// keeps changing hands (no deadlock, no unrecoverable mutex).
fn lock_users_killed_at_random_points_never_lose_or_invent_an_owner_died() {
    const USERS: usize = 2;
    let kills = count("MULTIPROC_FAULT_KILLS", 100);
    let shared = LockLoop {
        lock: Lock::new(),
        holder: Value::new(0),
        reported: Array::new(kills + 2 * USERS + 2),
        tally: Array::new(3),
    };
    let progress = Array::<u64>::new(USERS);
    let start = |slot: usize, me: u64| {
        let (s, p) = (shared.clone(), progress.clone());
        Process::spawn(move || -> () {
            loop {
                let g = s.take(me);
                p.store(slot, p.load(slot) + 1);
                s.holder.store(0);
                drop(g);
            }
        })
        .unwrap()
    };
    let mut ids: Vec<u64> = (1..=USERS as u64).collect();
    let mut users: Vec<Process> = (0..USERS).map(|s| start(s, ids[s])).collect();
    let mut next_id = USERS as u64 + 1;
    let mut killed = HashSet::new();
    let mut rng = Rng::from_env();
    for k in 0..kills + USERS {
        let slot = k % USERS;
        let target = progress.load(slot) + 1 + rng.below(20);
        spin_until(
            || format!("lock user {slot} after {k} kills"),
            || progress.load(slot) >= target,
        );
        rng.jitter();
        users[slot].kill().unwrap();
        assert_eq!(users[slot].join().unwrap(), -9);
        killed.insert(ids[slot]);
        if k < kills {
            ids[slot] = next_id;
            next_id += 1;
            users[slot] = start(slot, ids[slot]);
        }
    }
    // Every user is dead now (the last USERS kills were not replaced); take it once more.
    drop(shared.take(next_id));
    let reported: Vec<u64> = (0..shared.reported.len() as u64)
        .filter(|&id| shared.reported.load(id as usize) != 0)
        .collect();
    let tally = shared.tally.to_vec();
    println!(
        "  {} kills: {} deaths inside the lock reported with the victim's id, {} without",
        killed.len(),
        reported.len(),
        tally[2]
    );
    assert_eq!(
        tally[0], 0,
        "clean acquires after a holder died (unreported deaths)"
    );
    assert_eq!(tally[1], 0, "deaths reported twice");
    for id in &reported {
        assert!(
            killed.contains(id),
            "OwnerDied named {id}, which was never killed"
        );
    }
    assert!(
        reported.len() as u64 + tally[2] <= killed.len() as u64,
        "more OwnerDied than kills"
    );
}

/// The shared state of the lock loop.
#[derive(Clone)]
struct LockLoop {
    lock: Lock,
    /// Incarnation id of the process inside the lock, 0 when none.
    holder: Value<u64>,
    /// By incarnation id: 1 once an `OwnerDied` named it.
    reported: Array<u8>,
    /// [clean acquires finding a holder, ids reported twice, `OwnerDied` naming nobody]
    tally: Array<u64>,
}

impl LockLoop {
    /// Take the lock as incarnation `me` and check what the previous holder left.
    fn take(&self, me: u64) -> multiproc::LockGuard<'_> {
        let (g, died) = acquire(self.lock.lock());
        let previous = self.holder.load();
        self.holder.store(me);
        let bump = |i: usize| self.tally.store(i, self.tally.load(i) + 1);
        if died {
            if previous == 0 {
                bump(2);
            } else {
                if self.reported.load(previous as usize) != 0 {
                    bump(1);
                }
                self.reported.store(previous as usize, 1);
            }
        } else if previous != 0 {
            bump(0);
        }
        g
    }
}

// ----- conditions and barriers ----------------------------------------------------------

/// (The case of a waiter killed after it was notified, before it retook the lock, is in
/// sync.rs.)
fn condition_waiters_killed_asleep_do_not_stop_the_live_ones_waking() {
    let cond = Condition::new();
    let woke = Value::new(0u32);
    // Started one after the other, so they wait in this order; 0 and 2 die in their sleep.
    let mut w: Vec<Process> = (0..4)
        .map(|_| start_waiters(&cond, 1, &woke).0.remove(0))
        .collect();
    for i in [0, 2] {
        w[i].kill().unwrap();
        assert_eq!(w[i].join().unwrap(), -9);
    }
    let (g, _) = acquire(cond.lock());
    assert_eq!(
        g.notify(1),
        1,
        "notify(1) passes over the dead oldest waiter"
    );
    drop(g);
    assert_eq!(w[1].join_timeout(LONG).unwrap(), Some(0), "waiter 1 woke");
    let (g, _) = acquire(cond.lock());
    assert_eq!(
        g.notify_all(),
        1,
        "one live waiter left: the dead one is not counted"
    );
    drop(g);
    assert_eq!(w[3].join_timeout(LONG).unwrap(), Some(0), "waiter 3 woke");
    assert_eq!(woke.load(), 2);
    assert_eq!(
        acquire(cond.lock()).0.notify_all(),
        0,
        "nobody left waiting"
    );
}

const BARRIER_TIMEOUT: Duration = Duration::from_millis(300);

/// A process that waits on `barrier` `passes` times and exits with what the last wait
/// gave: 0 passed, 2 timed out, 3 broken, 4 anything else; 5 if an earlier pass failed.
fn barrier_party(barrier: &Barrier, passes: u32) -> Process {
    let b = barrier.clone();
    Process::spawn(move || {
        for pass in 1..=passes {
            let code = match b.wait() {
                Ok(_) => 0,
                Err(Error::Timeout) => 2,
                Err(Error::BrokenBarrier) => 3,
                Err(_) => 4,
            };
            if pass == passes {
                return code;
            }
            if code != 0 {
                return 5;
            }
        }
        0
    })
    .unwrap()
}

/// Join both and return their exit codes, sorted; within LONG, or fail as a hang.
fn join_parties(mut parties: [Process; 2]) -> Vec<i32> {
    let mut codes: Vec<i32> = parties
        .iter_mut()
        .map(|p| p.join_timeout(LONG).unwrap().expect("a party hung"))
        .collect();
    codes.sort_unstable();
    codes
}

fn a_barrier_party_killed_before_arriving_gives_the_others_an_error() {
    let barrier = Barrier::new(3).with_timeout(BARRIER_TIMEOUT);
    let mut third = Process::spawn(|| -> () { forever() }).unwrap();
    let others = [barrier_party(&barrier, 1), barrier_party(&barrier, 1)];
    spin_until(
        || "two parties at the barrier".into(),
        || barrier.n_waiting() == 2,
    );
    third.kill().unwrap();
    assert_eq!(third.join().unwrap(), -9);
    // One waiter's timeout runs out and breaks the barrier; the other is told it broke.
    assert_eq!(
        join_parties(others),
        [2, 3],
        "Timeout for one, BrokenBarrier for the other"
    );
    assert!(barrier.is_broken());
}

/// A party killed while waiting has arrived: that pass completes for the others, and the
/// next one, which it misses, gives them an error within the barrier's timeout. (Without
/// a timeout they would wait for ever, as Python's threads would for a thread that never
/// comes: the barrier cannot tell a dead party from a slow one.)
fn a_barrier_party_killed_while_waiting_gives_the_others_an_error_at_the_next_pass() {
    let barrier = Barrier::new(3).with_timeout(BARRIER_TIMEOUT);
    let b = barrier.clone();
    let mut victim = Process::spawn(move || -> () {
        let _ = b.wait();
        forever()
    })
    .unwrap();
    spin_until(
        || "the victim at the barrier".into(),
        || barrier.n_waiting() == 1,
    );
    victim.kill().unwrap();
    assert_eq!(victim.join().unwrap(), -9);
    let others = [barrier_party(&barrier, 2), barrier_party(&barrier, 2)];
    assert_eq!(
        join_parties(others),
        [2, 3],
        "the first pass completed (else 5); the second failed for both"
    );
}

// ----- queues -----------------------------------------------------------------------------
//
// What a queue promises when a process using it is SIGKILLed, and how it is checked.
//
// Promised: an item whose `put` returned is in the queue until one `get` returns it; a
// `put` killed midway leaves the item in the queue whole, or not at all; a `get` killed
// midway leaves the item in the queue; no item is ever returned twice, or damaged; the
// queue goes on working for everyone else.
//
// Not promised, because no queue can: an item that `get` has returned belongs to the
// process that took it. Killed after `get` returned but before it recorded the item, it
// takes the item with it. Each consumer therefore raises a `pending` flag before `get` and
// lowers it only after writing the item into its log in shared memory; items in the log
// count as delivered, and each kill of a consumer whose flag was up may account for at
// most one missing item. Likewise a producer records which item it is putting: a producer
// killed with that record up may or may not have put it ("uncertain", 0 or 1 deliveries).
//
// Checked, for every item: a checksum over its sequence number and contents (not torn);
// delivered at most once (not duplicated); delivered exactly once if its put completed,
// unless a consumer kill with its flag up accounts for it (not lost); never delivered if
// it was never put (not invented); and each consumer sees every producer's items in the
// order they were put (FIFO). With a single consumer, a missing item must also fall
// exactly at a consumer's death: between the last item the killed consumer logged and the
// first its replacement did, in that producer's order.
//
// Kills land mid-operation: producers and consumers run flat out, the victim is killed
// right after its progress counter in shared memory has moved a varied number of steps,
// plus a varied spin, so kills fall in `put`, `get`, the blocking waits of a full or empty
// queue, the buffer's growth and compaction (some items are 70 KB, past the buffer's
// initial 64 KiB) and the repair of a previous victim's damage.

#[derive(Serialize, Deserialize)]
struct Item {
    seq: u64,
    payload: Vec<u8>,
    check: u64,
}

fn payload_len(seq: u64) -> usize {
    if seq % 61 == 60 {
        70_000 + (seq % 1000) as usize
    } else {
        (seq.wrapping_mul(2_654_435_761) % 1500) as usize
    }
}

fn digest(seq: u64, payload: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in seq.to_le_bytes().iter().chain(payload) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn make_item(seq: u64) -> Item {
    let payload: Vec<u8> = (0..payload_len(seq))
        .map(|j| (seq as usize * 31 + j * 7) as u8)
        .collect();
    Item {
        seq,
        check: digest(seq, &payload),
        payload,
    }
}

fn intact(item: &Item) -> bool {
    item.payload.len() == payload_len(item.seq)
        && item
            .payload
            .iter()
            .enumerate()
            .all(|(j, &b)| b == (item.seq as usize * 31 + j * 7) as u8)
        && item.check == digest(item.seq, &item.payload)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Producer,
    Consumer,
}

/// Everything producers, consumers and the parent share.
#[derive(Clone)]
struct QueueRig {
    q: Queue<Item>,
    producers: usize,
    /// Items per producer: producer `p` puts seq `i * producers + p` for `i < per`.
    per: u64,
    /// By producer: puts completed.
    next: Array<u64>,
    /// By producer: index + 1 of the item being put, 0 when none.
    attempt: Array<u64>,
    /// By consumer: its log of the seqs it got, in order, and how many.
    logs: Vec<Array<u64>>,
    cursor: Array<u64>,
    /// By consumer: 1 from before `get` until the item is in the log.
    pending: Array<u8>,
    /// By consumer: items that failed their checksum; unexpected errors.
    torn: Array<u64>,
    errors: Array<u64>,
    stop: Event,
}

impl QueueRig {
    fn new(producers: usize, consumers: usize, kills: usize) -> QueueRig {
        // Enough items that nobody runs out before the last kill: each kill waits for at
        // most 20 steps of one process.
        let per = 40 * kills as u64 + 2000;
        let total = per as usize * producers;
        QueueRig {
            q: queue(16),
            producers,
            per,
            next: Array::new(producers),
            attempt: Array::new(producers),
            logs: (0..consumers).map(|_| Array::new(total)).collect(),
            cursor: Array::new(consumers),
            pending: Array::new(consumers),
            torn: Array::new(consumers),
            errors: Array::new(consumers),
            stop: Event::new(),
        }
    }

    fn progress(&self, role: Role, slot: usize) -> u64 {
        match role {
            Role::Producer => self.next.load(slot),
            Role::Consumer => self.cursor.load(slot),
        }
    }

    fn start(&self, role: Role, slot: usize) -> Process {
        let rig = self.clone();
        match role {
            Role::Producer => Process::spawn(move || rig.produce(slot)),
            Role::Consumer => Process::spawn(move || rig.consume(slot)),
        }
        .unwrap()
    }

    fn produce(&self, p: usize) -> i32 {
        loop {
            if self.stop.is_set() {
                return 0;
            }
            let i = self.next.load(p);
            if i >= self.per {
                self.stop.wait();
                return 0;
            }
            let item = make_item(i * self.producers as u64 + p as u64);
            self.attempt.store(p, i + 1);
            // Alternate blocking puts with timed ones that may find the queue full.
            let put = if i.is_multiple_of(3) {
                loop {
                    match self.q.put_timeout(&item, Duration::from_millis(1)) {
                        Err(Error::Full) => continue,
                        other => break other,
                    }
                }
            } else {
                self.q.put(&item)
            };
            if let Err(e) = put {
                eprintln!("producer {p}: put failed: {e}");
                return 3;
            }
            self.next.store(p, i + 1);
        }
    }

    fn consume(&self, c: usize) -> i32 {
        let log = &self.logs[c];
        for k in 0u64.. {
            self.pending.store(c, 1);
            // Blocking, timed and non-blocking gets in turn.
            let got = match k % 3 {
                0 => self.q.get(),
                1 => self.q.get_timeout(Duration::from_millis(1)),
                _ => self.q.get_nowait(),
            };
            match got {
                Ok(item) => {
                    let at = self.cursor.load(c);
                    log.store(at as usize, item.seq);
                    self.cursor.store(c, at + 1);
                    self.pending.store(c, 0);
                    if !intact(&item) {
                        self.torn.store(c, self.torn.load(c) + 1);
                    }
                }
                Err(Error::Empty) => self.pending.store(c, 0),
                Err(Error::Closed) => {
                    self.pending.store(c, 0);
                    return 0;
                }
                Err(e) => {
                    eprintln!("consumer {c}: get failed: {e}");
                    self.errors.store(c, self.errors.load(c) + 1);
                    return 4;
                }
            }
        }
        unreachable!()
    }
}

/// Run producers and consumers, kill `kills` of the `victims` (in turn), then stop, drain
/// and check every item as the comment above says.
fn queue_faults(producers: usize, consumers: usize, victims: &[Role]) {
    let kills = count("MULTIPROC_FAULT_KILLS", 100);
    let rig = QueueRig::new(producers, consumers, kills);
    let mut procs: Vec<(Role, usize, Process)> = (0..producers)
        .map(|p| (Role::Producer, p, rig.start(Role::Producer, p)))
        .chain((0..consumers).map(|c| (Role::Consumer, c, rig.start(Role::Consumer, c))))
        .collect();
    let mut rng = Rng::from_env();
    let mut uncertain: HashSet<u64> = HashSet::new();
    // Consumer kills with the flag up: (consumer, its log length at death).
    let mut pending_deaths: Vec<(usize, u64)> = Vec::new();
    let mut kills_of = [0usize; 2];
    for k in 0..kills {
        let role = victims[k % victims.len()];
        let slots = if role == Role::Producer {
            producers
        } else {
            consumers
        };
        let slot = (k / victims.len()) % slots;
        let target = rig.progress(role, slot) + 1 + rng.below(20);
        spin_until(
            || format!("{role:?} {slot} after {k} kills"),
            || rig.progress(role, slot) >= target,
        );
        rng.jitter();
        let entry = procs
            .iter_mut()
            .find(|(r, s, _)| *r == role && *s == slot)
            .expect("victim");
        entry.2.kill().unwrap();
        assert_eq!(
            entry.2.join().unwrap(),
            -9,
            "{role:?} {slot} died of the kill"
        );
        kills_of[role as usize] += 1;
        match role {
            Role::Producer => {
                let (attempt, done) = (rig.attempt.load(slot), rig.next.load(slot));
                if attempt == done + 1 {
                    // Killed in `put` (or just after): the item may or may not be queued.
                    uncertain.insert(done * producers as u64 + slot as u64);
                    rig.next.store(slot, done + 1);
                }
                rig.attempt.store(slot, 0);
            }
            Role::Consumer => {
                if rig.pending.load(slot) != 0 {
                    pending_deaths.push((slot, rig.cursor.load(slot)));
                }
                rig.pending.store(slot, 0);
            }
        }
        entry.2 = rig.start(role, slot);
    }

    // Stop: producers finish their current put and exit; then close the queue, so the
    // consumers drain it and exit on `Closed`.
    rig.stop.set();
    for (role, slot, p) in procs.iter_mut().filter(|(r, ..)| *r == Role::Producer) {
        let code = p.join_timeout(LONG).unwrap();
        assert_eq!(code, Some(0), "{role:?} {slot} stopped cleanly");
    }
    rig.q.close();
    for (role, slot, p) in procs.iter_mut().filter(|(r, ..)| *r == Role::Consumer) {
        let code = p.join_timeout(LONG).unwrap();
        assert_eq!(
            code,
            Some(0),
            "{role:?} {slot} drained the queue and stopped"
        );
    }
    assert_eq!(rig.q.qsize(), 0, "drained");
    assert!(matches!(rig.q.get_nowait(), Err(Error::Closed)));

    // Every delivery, from the logs.
    let total = rig.per * producers as u64;
    let mut delivered = vec![0u32; total as usize];
    let mut position = vec![u64::MAX; total as usize]; // in consumer 0's log
    let mut alien = 0;
    let mut out_of_order = 0;
    for (c, log) in rig.logs.iter().enumerate() {
        let mut last_of = vec![None::<u64>; producers];
        for at in 0..rig.cursor.load(c) {
            let seq = log.load(at as usize);
            if seq >= total {
                alien += 1;
                continue;
            }
            delivered[seq as usize] += 1;
            if c == 0 {
                position[seq as usize] = at;
            }
            let (p, i) = ((seq % producers as u64) as usize, seq / producers as u64);
            if last_of[p].is_some_and(|last| last >= i) {
                out_of_order += 1;
            }
            last_of[p] = Some(i);
        }
    }
    let torn: u64 = rig.torn.to_vec().iter().sum();
    let errors: u64 = rig.errors.to_vec().iter().sum();
    let duplicated = delivered.iter().filter(|&&n| n > 1).count();
    let mut invented = 0;
    let mut missing = Vec::new();
    for p in 0..producers {
        let done = rig.next.load(p);
        for i in 0..rig.per {
            let seq = i * producers as u64 + p as u64;
            let n = delivered[seq as usize];
            if i >= done {
                invented += (n > 0) as usize;
            } else if n == 0 && !uncertain.contains(&seq) {
                missing.push(seq);
            }
        }
    }
    let items: u32 = delivered.iter().sum();
    println!(
        "  {kills} kills ({} producers, {} consumers, {} of them with an item in hand or in `get`): {items} items delivered, {} uncertain puts, {} missing",
        kills_of[Role::Producer as usize],
        kills_of[Role::Consumer as usize],
        pending_deaths.len(),
        uncertain.len(),
        missing.len()
    );
    assert_eq!(errors, 0, "unexpected errors from the queue");
    assert_eq!(torn, 0, "items whose contents were damaged");
    assert_eq!(alien, 0, "items with a sequence number never put");
    assert_eq!(duplicated, 0, "items delivered twice");
    assert_eq!(
        invented, 0,
        "items delivered that no put completed or began"
    );
    assert_eq!(
        out_of_order, 0,
        "a consumer saw a producer's items out of order"
    );
    assert!(
        missing.len() <= pending_deaths.len(),
        "{} items lost, more than the {} consumer kills that could account for them: {:?}",
        missing.len(),
        pending_deaths.len(),
        &missing[..missing.len().min(20)]
    );
    if consumers == 1 {
        // Each missing item must sit at a consumer's death, in its producer's order: after
        // the producer's previous delivered item and before its next one.
        let mut deaths: Vec<u64> = pending_deaths.iter().map(|&(_, at)| at).collect();
        deaths.sort_unstable();
        let mut used = vec![false; deaths.len()];
        let around = |seq: u64| {
            let p = producers as u64;
            let (stream, i) = (seq % p, seq / p);
            let before = (0..i)
                .rev()
                .map(|j| position[(j * p + stream) as usize])
                .find(|&at| at != u64::MAX);
            let after = (i + 1..rig.per)
                .map(|j| position[(j * p + stream) as usize])
                .find(|&at| at != u64::MAX);
            (before, after.unwrap_or(u64::MAX))
        };
        let mut intervals: Vec<(Option<u64>, u64, u64)> = missing
            .iter()
            .map(|&seq| {
                let (lo, hi) = around(seq);
                (lo, hi, seq)
            })
            .collect();
        intervals.sort_by_key(|&(_, hi, _)| hi);
        for (lo, hi, seq) in intervals {
            let fit = (0..deaths.len())
                .find(|&d| !used[d] && lo.is_none_or(|lo| lo < deaths[d]) && deaths[d] <= hi);
            match fit {
                Some(d) => used[d] = true,
                None => panic!(
                    "item {seq} was lost inside the queue: no consumer died holding it \
                     (it fell between log positions {lo:?} and {hi})"
                ),
            }
        }
    }
}

/// Two producers and one consumer, which is killed (and replaced) again and again.
fn queue_consumers_killed_mid_get_lose_nothing_inside_the_queue() {
    queue_faults(2, 1, &[Role::Consumer]);
}

/// Two producers, killed again and again, and two consumers, never killed: here nothing
/// may go missing at all.
fn queue_producers_killed_mid_put_lose_duplicate_and_tear_nothing() {
    queue_faults(2, 2, &[Role::Producer]);
}

/// Two producers and two consumers, killed in turn: a victim's damage is often repaired
/// by a process the next kill lands in.
fn queue_producers_and_consumers_killed_together_lose_duplicate_and_tear_nothing() {
    queue_faults(2, 2, &[Role::Producer, Role::Consumer]);
}

// ----- resources ----------------------------------------------------------------------------

/// RSS may grow this much between warm-up and the end (allocator noise, page-table
/// granularity); a leak of 1 KiB per pool or 100 bytes per process exceeds it.
const RSS_SLACK_KIB: u64 = 768;

/// Run `cycle` `n` times after a warm-up; the fd count must not change and RSS must not
/// grow beyond the slack.
fn flat(what: &str, warm_up: usize, n: usize, mut cycle: impl FnMut(usize)) {
    for i in 0..warm_up {
        cycle(i);
    }
    let (fds, rss) = (fd_count(), rss_kib());
    let t = Instant::now();
    for i in 0..n {
        cycle(i);
    }
    let (fds_after, rss_after) = (fd_count(), rss_kib());
    println!(
        "  {n} {what} in {:.1?}: fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB",
        t.elapsed()
    );
    assert_eq!(fds_after, fds, "file descriptors leaked by {n} {what}");
    assert!(
        rss_after <= rss + RSS_SLACK_KIB,
        "RSS grew from {rss} to {rss_after} KiB over {n} {what}"
    );
}

/// Pools of two workers, each used once, closed and joined (even cycles) or dropped, which
/// terminates them (odd cycles). `MULTIPROC_FAULT_POOLS` sets the count.
fn a_thousand_pools_created_and_joined_leave_fds_and_rss_flat() {
    let n = count("MULTIPROC_FAULT_POOLS", 1000);
    flat("pool cycles", 50, n, |i| {
        let pool = Pool::new(2).unwrap();
        assert_eq!(pool.apply(square, i as u64).unwrap(), square(i as u64));
        if i % 2 == 0 {
            pool.close().unwrap();
            pool.join().unwrap();
        }
    });
}

/// Processes started and joined, with `join` or (every other one) `join_timeout`, which
/// waits on a pidfd. `MULTIPROC_FAULT_PROCESSES` sets the count.
fn ten_thousand_processes_started_and_joined_leave_fds_and_rss_flat() {
    let n = count("MULTIPROC_FAULT_PROCESSES", 10_000);
    flat("process cycles", 200, n, |i| {
        let mut p = Process::spawn(move || (i % 7) as i32).unwrap();
        let code = if i % 2 == 0 {
            p.join().unwrap()
        } else {
            p.join_timeout(LONG).unwrap().expect("exited")
        };
        assert_eq!(code, (i % 7) as i32);
    });
}
