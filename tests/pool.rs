// Library checks for `Pool` that fork (see tests/process.rs), run once per start method:
// this file is its own target and is included by `pool_forkserver.rs` and
// `pool_spawn.rs`; the target's name picks the method every pool of these checks
// is built with. (Plain comments: an included file cannot have inner doc comments.)

mod support;

use harness::checks;
use multiproc::pool::PoolBuilder;
use multiproc::start::StartMethod;
use multiproc::{Error, Event, InvalidKind, Pool, Value};
use std::cell::Cell;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::{block_reporting_pid, square_but_die_on_7};

fn main() -> std::process::ExitCode {
    multiproc::start::init();
    // A forkserver or spawn pool leaves its start server running: end it with the check.
    harness::forked::run_then(
        checks![
            map_keeps_input_order_for_every_chunksize,
            every_variant_gives_the_same_results,
            a_task_whose_panic_payload_panics_on_drop_is_reported_as_a_panic,
            empty_input_gives_empty_results,
            get_timeout_on_a_slow_task_times_out_and_the_task_completes_later,
            a_panicking_task_reports_its_message_and_the_pool_stays_usable,
            a_worker_killed_mid_map_fails_the_map_within_seconds_and_is_replaced,
            an_idle_worker_killed_is_replaced_and_nothing_fails,
            an_aborting_task_is_reported_as_a_dead_worker,
            a_dead_server_fails_pending_tasks_and_breaks_the_pool,
            initializer_runs_in_every_worker,
            maxtasksperchild_replaces_workers,
            a_worker_over_its_memory_limit_after_a_task_is_replaced,
            a_task_whose_worker_died_is_run_again_up_to_its_retries_then_is_poison,
            a_shared_event_created_before_the_pool_stops_a_task,
            an_object_created_after_the_pool_cannot_be_sent,
            close_then_join_finishes_queued_work,
            terminate_fails_unfinished_calls,
            zero_processes_is_an_error,
            imap_reports_a_failed_chunk_and_goes_on,
            imap_streams_every_result_once_in_order_or_not,
            imap_over_an_endless_input_yields_results_before_it_ends,
            imap_reads_its_input_no_further_than_its_bound,
            an_imap_input_that_panics_yields_the_results_before_it_then_an_error,
            a_worker_killed_during_a_streaming_imap_is_reported_in_its_place,
            workers_are_named_for_the_start_method_and_served_pools_allow_threads,
            a_killed_owner_takes_its_server_and_workers_with_it,
            a_dead_start_server_fails_a_served_pools_pending_tasks,
            wait_any_returns_on_an_outcome_or_a_wake_up_from_another_thread,
            a_task_past_its_time_limit_is_stopped_and_its_worker_replaced,
            a_time_limit_not_reached_changes_nothing,
            cancelling_a_running_task_stops_it_and_the_pool_goes_on,
            cancel_after_completion_returns_false_and_the_result_stays,
            a_cancelled_queued_task_is_skipped_and_never_gives_its_result,
            threads_share_one_pool_and_each_gets_its_own_results,
            callbacks_get_each_result_or_failure_once_and_join_runs_the_rest,
            a_thread_waiting_on_a_blocked_task_does_not_hold_up_another_threads_results,
            workers_log_records_reach_the_owners_logger_once_with_the_workers_name,
            an_oversized_log_record_is_truncated_and_the_pool_goes_on,
            log_records_nobody_waited_for_are_logged_by_join,
            a_log_config_in_the_owner_writes_a_workers_records_as_the_workers_lines,
        ],
        multiproc::start::shutdown,
    )
}

const LONG: Duration = Duration::from_secs(30);

/// The start method of this build of the checks (see the module docs).
fn method() -> StartMethod {
    match env!("CARGO_CRATE_NAME") {
        "pool_forkserver" => StartMethod::ForkServer,
        "pool_spawn" => StartMethod::Spawn,
        _ => StartMethod::Fork,
    }
}

/// A builder of `n` workers with this build's start method.
fn builder(n: usize) -> PoolBuilder {
    Pool::builder().processes(n).start_method(method())
}

fn pool(n: usize) -> Pool {
    builder(n).build().unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

/// A task argument that is a struct, as the seeds' points are.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Point {
    x: u32,
    y: u32,
}

/// Uneven work per point (Collatz steps), so tasks finish out of order.
fn orbits(p: Point) -> u32 {
    let (mut n, mut steps) = (u64::from(p.x) * 31 + u64::from(p.y) + 1, 0);
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn map_keeps_input_order_for_every_chunksize() {
    let pool = pool(2);
    let expected: Vec<u64> = (0..100).map(square).collect();
    assert_eq!(pool.map(square, 0..100).unwrap(), expected);
    for size in [1, 3, 7, 1000] {
        assert_eq!(
            pool.chunksize(size).map(square, 0..100).unwrap(),
            expected,
            "chunksize {size}"
        );
    }
    assert_eq!(
        pool.chunksize(None).map(square, 0..100).unwrap(),
        expected,
        "chunksize(None) is the default"
    );
    assert_eq!(
        pool.map(|x: u64| x + 1, [1, 2]).unwrap(),
        [2, 3],
        "non-capturing closure"
    );
    assert_eq!(multiproc::pool::default_chunksize(100, 2), 13);
    assert_eq!(multiproc::pool::default_chunksize(0, 2), 1);
}

fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn every_variant_gives_the_same_results() {
    let pool = pool(3);
    let pts: Vec<Point> = (0..15).map(|i| Point { x: i * 7, y: i % 4 }).collect();
    let want: Vec<u32> = pts.iter().copied().map(orbits).collect();
    for size in [None, Some(1), Some(3)] {
        let (map, asyn, imap, unordered) = match size {
            None => (
                pool.map(orbits, pts.clone()).unwrap(),
                pool.map_async(orbits, pts.clone()).unwrap().get().unwrap(),
                pool.imap(orbits, pts.clone())
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                pool.imap_unordered(orbits, pts.clone())
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
            ),
            Some(k) => {
                let c = pool.chunksize(k);
                (
                    c.map(orbits, pts.clone()).unwrap(),
                    c.map_async(orbits, pts.clone()).unwrap().get().unwrap(),
                    c.imap(orbits, pts.clone())
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    c.imap_unordered(orbits, pts.clone())
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                )
            }
        };
        assert_eq!(map, want, "map {size:?}");
        assert_eq!(asyn, want, "map_async {size:?}");
        assert_eq!(imap, want, "imap {size:?}");
        let mut sorted = unordered.clone();
        sorted.sort_unstable();
        let mut want_sorted = want.clone();
        want_sorted.sort_unstable();
        assert_eq!(
            sorted, want_sorted,
            "imap_unordered is the same multiset {size:?}"
        );
    }
    let pairs: Vec<(i64, i64)> = (0..10).zip(10..20).collect();
    let sums: Vec<i64> = (0..10).map(|i| 2 * i + 10).collect();
    assert_eq!(pool.starmap(add, pairs.clone()).unwrap(), sums);
    assert_eq!(
        pool.chunksize(3)
            .starmap_async(add, pairs)
            .unwrap()
            .get()
            .unwrap(),
        sums
    );
    let applied: Vec<u32> = pts
        .iter()
        .map(|&p| pool.apply(orbits, p).unwrap())
        .collect();
    assert_eq!(applied, want);
    let handles: Vec<_> = pts
        .iter()
        .map(|&p| pool.apply_async(orbits, p).unwrap())
        .collect();
    let got: Vec<u32> = handles.iter().map(|h| h.get().unwrap()).collect();
    assert_eq!(got, want);
    assert!(
        handles
            .iter()
            .all(|h| h.ready() && h.successful() == Some(true))
    );
    assert!(
        matches!(
            handles[0].get(),
            Err(Error::Invalid {
                kind: InvalidKind::AlreadyTaken,
                ..
            })
        ),
        "a result is handed over once"
    );
}

fn empty_input_gives_empty_results() {
    let pool = pool(2);
    assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
    assert!(
        pool.chunksize(3)
            .map(square, Vec::<u64>::new())
            .unwrap()
            .is_empty()
    );
    assert!(
        pool.starmap(add, Vec::<(i64, i64)>::new())
            .unwrap()
            .is_empty()
    );
    assert_eq!(pool.imap(square, Vec::<u64>::new()).unwrap().count(), 0);
    assert_eq!(
        pool.imap_unordered(square, Vec::<u64>::new())
            .unwrap()
            .count(),
        0
    );
    assert!(pool.map_async(square, Vec::<u64>::new()).unwrap().ready());
    assert!(matches!(
        pool.chunksize(0).map(square, [1u64]),
        Err(Error::Invalid {
            kind: InvalidKind::Argument,
            ..
        })
    ));
}

fn wait_then_answer(release: Event) -> u32 {
    release.wait();
    42
}

fn get_timeout_on_a_slow_task_times_out_and_the_task_completes_later() {
    let release = Event::new();
    let pool = builder(1).share(release.clone()).build().unwrap();
    let r = pool.apply_async(wait_then_answer, release.clone()).unwrap();
    assert!(!r.ready());
    assert_eq!(r.successful(), None);
    let t = Instant::now();
    assert!(matches!(
        r.get_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    assert!(t.elapsed() >= Duration::from_millis(200));
    release.set();
    assert_eq!(r.get().unwrap(), 42, "the task carried on and completed");
}

fn explode(x: u32) -> u32 {
    if x == 3 {
        panic!("cannot handle {x}");
    }
    x
}

fn a_panicking_task_reports_its_message_and_the_pool_stays_usable() {
    let pool = pool(2);
    match pool.apply(explode, 3) {
        Err(Error::TaskPanicked(msg)) => {
            assert!(msg.contains("cannot handle 3"), "message: {msg}");
            assert!(msg.contains("pool.rs"), "location: {msg}");
        }
        other => panic!("expected a panic report, got {other:?}"),
    }
    assert!(matches!(
        pool.map(explode, 0..10),
        Err(Error::TaskPanicked(_))
    ));
    let r = pool.apply_async(explode, 3).unwrap();
    r.wait();
    assert_eq!(r.successful(), Some(false));
    assert_eq!(
        pool.map(explode, [1, 2, 4]).unwrap(),
        [1, 2, 4],
        "still usable"
    );
}

/// A pool of `n` whose workers have two events to gate tasks on, `(started, release)`
/// (see `block_until`).
fn gated_pool(n: usize) -> (Pool, (Event, Event)) {
    let gates = (Event::new(), Event::new());
    let pool = builder(n).share(gates.clone()).build().unwrap();
    (pool, gates)
}

fn block_until(events: (Event, Event)) -> u32 {
    let (started, release) = events;
    started.set();
    release.wait();
    std::process::id()
}

fn kill(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
}

fn a_worker_killed_mid_map_fails_the_map_within_seconds_and_is_replaced() {
    let (started, release, running) = (Event::new(), Event::new(), Value::new(0u32));
    let shared = (started.clone(), release.clone(), running.clone());
    let pool = builder(2).share(shared.clone()).build().unwrap();
    let before: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert_eq!(
        before.len(),
        2,
        "Pool::new returns with its workers started"
    );
    let r = pool
        .chunksize(1)
        .map_async(block_reporting_pid, vec![shared; 6])
        .unwrap();
    assert!(started.wait_timeout(LONG), "a task is running");
    let victim = running.load(); // blocked inside a task of the map
    assert!(before.contains(&victim));
    let t = Instant::now();
    kill(victim);
    match r.get_timeout(LONG) {
        Err(Error::WorkerDied(what)) => assert!(what.contains("SIGKILL"), "{what}"),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "reported in {:?}",
        t.elapsed()
    );
    release.set();
    // A replacement took the dead worker's place; the pool still works.
    assert_eq!(
        pool.map(square, 0..20).unwrap(),
        (0..20).map(square).collect::<Vec<_>>()
    );
    let after: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert!(!after.contains(&victim));
    assert_eq!(after.len(), 2);
}

fn an_idle_worker_killed_is_replaced_and_nothing_fails() {
    let pool = pool(2);
    for pid in pool.worker_pids() {
        kill(pid);
    }
    assert_eq!(
        pool.chunksize(1).map(square, 0..10).unwrap(),
        (0..10).map(square).collect::<Vec<_>>()
    );
}

fn abort_now(_: ()) -> u32 {
    std::process::abort()
}

fn an_aborting_task_is_reported_as_a_dead_worker() {
    let pool = pool(1);
    match pool.apply(abort_now, ()) {
        Err(Error::WorkerDied(what)) => assert!(what.contains("SIGABRT"), "{what}"),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(pool.apply(square, 9).unwrap(), 81);
}

fn parent_of_worker(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

fn a_dead_server_fails_pending_tasks_and_breaks_the_pool() {
    let (pool, (started, release)) = gated_pool(2);
    let server = pool.apply(parent_of_worker, ()).unwrap();
    let r = pool
        .apply_async(block_until, (started.clone(), release.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    assert!(matches!(r.get_timeout(LONG), Err(Error::WorkerDied(_))));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "reported in {:?}",
        t.elapsed()
    );
    assert!(
        matches!(pool.apply(square, 1), Err(Error::WorkerDied(_))),
        "broken"
    );
}

static INITIALISED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn was_initialised(_: u32) -> bool {
    INITIALISED.load(std::sync::atomic::Ordering::SeqCst)
}

fn count_start(count: Value<u32>) {
    INITIALISED.store(true, std::sync::atomic::Ordering::SeqCst);
    *count.lock().unwrap() += 1;
}

/// 30 tasks, one at a time, each in an initialised worker; then close and join.
fn every_task_sees_its_worker_initialised(pool: Pool) {
    assert!(
        pool.chunksize(1)
            .map(was_initialised, 0..30)
            .unwrap()
            .iter()
            .all(|&b| b)
    );
    pool.close().unwrap();
    pool.join().unwrap();
}

/// `initializer_with(fn, arg)` runs in every worker with every start method (the `fn`
/// travels by offset, the argument with its shared objects); a closure only in a fork pool.
fn initializer_runs_in_every_worker() {
    if method() == StartMethod::Fork {
        let count = Value::new(0u32);
        let c = count.clone();
        let pool = builder(3)
            .initializer(move || {
                INITIALISED.store(true, std::sync::atomic::Ordering::SeqCst);
                *c.lock().unwrap() += 1;
            })
            .build()
            .unwrap();
        every_task_sees_its_worker_initialised(pool);
        assert_eq!(count.load(), 3);
    } else {
        let refused = builder(1).initializer(|| {}).build();
        assert!(
            matches!(&refused, Err(Error::Invalid { kind: InvalidKind::Conflict, message }) if message.contains("initializer_with")),
            "a closure cannot reach a {} pool's workers: {refused:?}",
            method()
        );
    }
    let count = Value::new(0u32);
    let pool = builder(3)
        .initializer_with(count_start, count.clone())
        .build()
        .unwrap();
    every_task_sees_its_worker_initialised(pool);
    assert_eq!(count.load(), 3, "once per worker");
    assert!(
        !INITIALISED.load(std::sync::atomic::Ordering::SeqCst),
        "not in the owner"
    );
    let both = builder(1)
        .initializer(|| {})
        .initializer_with(count_start, count.clone())
        .build();
    assert!(
        matches!(
            both,
            Err(Error::Invalid {
                kind: InvalidKind::Conflict,
                ..
            })
        ),
        "one initializer"
    );
}

fn my_pid(_: u32) -> u32 {
    std::process::id()
}

fn maxtasksperchild_replaces_workers() {
    let pool = builder(2).maxtasksperchild(1).build().unwrap();
    let pids = pool.chunksize(1).map(my_pid, 0..6).unwrap();
    assert_eq!(
        pids.iter().collect::<HashSet<_>>().len(),
        6,
        "one task per worker: {pids:?}"
    );
}

/// Leaks `mib` MiB, touched so they are resident, then says which worker ran it.
fn leak_mib(mib: usize) -> u32 {
    std::mem::forget(vec![1u8; mib << 20]);
    std::process::id()
}

fn a_worker_over_its_memory_limit_after_a_task_is_replaced() {
    let pool = builder(1).max_memory_per_child(256 << 20).build().unwrap();
    let first = pool.apply(leak_mib, 0).unwrap();
    assert_eq!(
        pool.apply(leak_mib, 0).unwrap(),
        first,
        "under the limit: kept"
    );
    assert_eq!(
        pool.apply(leak_mib, 300).unwrap(),
        first,
        "the task itself completes"
    );
    let next = pool.apply(leak_mib, 0).unwrap();
    assert_ne!(next, first, "over the limit after its task: replaced");
    assert_eq!(
        pool.apply(leak_mib, 0).unwrap(),
        next,
        "the new worker is kept"
    );
}

/// Runs until `stop` is set; says whether it saw it.
fn spin_until(stop: Event) -> bool {
    while !stop.is_set() {
        std::hint::spin_loop();
    }
    stop.is_set()
}

fn a_shared_event_created_before_the_pool_stops_a_task() {
    let stop = Event::new();
    let pool = builder(2).share(stop.clone()).build().unwrap();
    let r = pool.apply_async(spin_until, stop.clone()).unwrap();
    assert!(
        !r.wait_timeout(Duration::from_millis(50)),
        "runs until told"
    );
    stop.set();
    assert!(r.get_timeout(LONG).unwrap(), "the task saw the event set");
}

fn is_set(e: Event) -> bool {
    e.is_set()
}

fn an_object_created_after_the_pool_cannot_be_sent() {
    let pool = pool(1);
    let late = Event::new();
    match pool.apply(is_set, late) {
        Err(Error::Codec(msg)) => assert!(msg.contains("created after"), "{msg}"),
        other => panic!("expected a codec error, got {other:?}"),
    }
}

fn close_then_join_finishes_queued_work() {
    let pool = pool(2);
    let r = pool.chunksize(1).map_async(square, 0..50).unwrap();
    pool.close().unwrap();
    assert!(
        matches!(
            pool.apply(square, 1),
            Err(Error::Invalid {
                kind: InvalidKind::PoolClosed,
                ..
            })
        ),
        "closed to new work"
    );
    pool.join().unwrap();
    assert_eq!(r.get().unwrap(), (0..50).map(square).collect::<Vec<_>>());
    assert!(
        builder(1).build().unwrap().join().is_err(),
        "join before close is an error"
    );
}

fn terminate_fails_unfinished_calls() {
    let (pool, (started, release)) = gated_pool(2);
    let r = pool
        .apply_async(block_until, (started.clone(), release))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    pool.terminate().unwrap();
    assert!(matches!(r.get(), Err(Error::Closed)));
    pool.join().unwrap();
}

fn zero_processes_is_an_error() {
    assert!(matches!(
        builder(0).build(),
        Err(Error::Invalid {
            kind: InvalidKind::Argument,
            ..
        })
    ));
}

/// A panic payload whose own `Drop` panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panicked");
    }
}

fn panic_with_a_payload_that_panics_on_drop(_: u32) -> u32 {
    std::panic::panic_any(PanicsOnDrop)
}

fn a_task_whose_panic_payload_panics_on_drop_is_reported_as_a_panic() {
    let pool = pool(1);
    let before = pool.worker_pids();
    match pool.apply(panic_with_a_payload_that_panics_on_drop, 0) {
        Err(Error::TaskPanicked(_)) => {}
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    assert_eq!(pool.worker_pids(), before, "the worker lives on");
    assert_eq!(pool.apply(square, 3).unwrap(), 9);
}

fn imap_reports_a_failed_chunk_and_goes_on() {
    let pool = pool(2);
    let got: Vec<_> = pool.imap(explode, 0..6).unwrap().collect();
    assert_eq!(got.len(), 6);
    for (i, r) in got.iter().enumerate() {
        match (i, r) {
            (3, Err(Error::TaskPanicked(_))) => {}
            (i, Ok(v)) if i != 3 => assert_eq!(*v as usize, i),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn imap_streams_every_result_once_in_order_or_not() {
    let pool = pool(2);
    let want: Vec<u64> = (0..500).map(square).collect();
    for (size, bound) in [(1, 1), (1, 3), (7, 2), (64, 8), (1000, 1)] {
        let c = pool.chunksize(size).in_flight(bound);
        let got: Vec<u64> = c
            .imap(square, 0..500)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, want, "imap chunksize {size} in_flight {bound}");
        let mut got: Vec<u64> = c
            .imap_unordered(square, 0..500)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(
            got, want,
            "imap_unordered chunksize {size} in_flight {bound}"
        );
    }
    assert!(matches!(
        pool.in_flight(0).imap(square, 0..3),
        Err(Error::Invalid {
            kind: InvalidKind::Argument,
            ..
        })
    ));
    assert!(matches!(
        pool.chunksize(0).imap(square, 0..3),
        Err(Error::Invalid {
            kind: InvalidKind::Argument,
            ..
        })
    ));
}

fn imap_over_an_endless_input_yields_results_before_it_ends() {
    let pool = pool(2);
    let first: Vec<u64> = pool
        .imap(square, 0u64..)
        .unwrap()
        .take(100)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, (0..100).map(square).collect::<Vec<_>>());
    let mut some: Vec<u64> = pool
        .chunksize(4)
        .imap_unordered(square, 0u64..)
        .unwrap()
        .take(50)
        .map(Result::unwrap)
        .collect();
    some.sort_unstable();
    some.dedup();
    assert_eq!(some.len(), 50, "distinct results");
    assert!(some.iter().all(|v| v.isqrt().pow(2) == *v), "squares");
    // The dropped iterators' late results are ignored; the pool goes on.
    assert_eq!(
        pool.map(square, 0..20).unwrap(),
        (0..20).map(square).collect::<Vec<_>>()
    );
}

/// Chunks read from the input never exceed the chunks handed over plus the bound: the
/// input is read no faster than the results are taken.
fn imap_reads_its_input_no_further_than_its_bound() {
    let pool = pool(2);
    for ordered in [true, false] {
        for (size, bound) in [(1usize, 1usize), (1, 4), (5, 3)] {
            let pulls = Cell::new(0usize);
            let input = (0u64..).inspect(|_| pulls.set(pulls.get() + 1));
            let c = pool.chunksize(size).in_flight(bound);
            let mut it = if ordered {
                c.imap(square, input).unwrap()
            } else {
                c.imap_unordered(square, input).unwrap()
            };
            assert_eq!(
                pulls.get(),
                size * bound,
                "the first chunks are sent at once"
            );
            let mut taken = 0usize;
            while taken < 60 {
                it.next().unwrap().unwrap();
                taken += 1;
                let handed_chunks = taken.div_ceil(size);
                assert!(
                    pulls.get() <= (handed_chunks + bound) * size,
                    "ordered {ordered}, chunksize {size}, bound {bound}: {} items read after \
                     {taken} results",
                    pulls.get()
                );
                assert!(pulls.get() >= taken);
            }
        }
    }
}

fn an_imap_input_that_panics_yields_the_results_before_it_then_an_error() {
    std::panic::set_hook(Box::new(|_| {})); // the input's panic is expected: keep quiet
    let pool = pool(2);
    let broken = || {
        (0u64..).map(|x| {
            if x == 7 {
                panic!("input broke at {x}")
            } else {
                x
            }
        })
    };
    for size in [1, 3, 100] {
        let got: Vec<_> = pool
            .chunksize(size)
            .imap(square, broken())
            .unwrap()
            .collect();
        assert_eq!(got.len(), 8, "7 results then the error, chunksize {size}");
        for (i, r) in got[..7].iter().enumerate() {
            assert_eq!(*r.as_ref().unwrap(), square(i as u64));
        }
        match &got[7] {
            Err(Error::TaskPanicked(m)) => assert!(m.contains("input broke at 7"), "{m}"),
            other => panic!("expected the input's panic, got {other:?}"),
        }
        let got: Vec<_> = pool
            .chunksize(size)
            .imap_unordered(square, broken())
            .unwrap()
            .collect();
        assert_eq!(got.len(), 8);
        assert!(
            matches!(got[7], Err(Error::TaskPanicked(_))),
            "the error comes last"
        );
        let mut ok: Vec<u64> = got[..7].iter().map(|r| *r.as_ref().unwrap()).collect();
        ok.sort_unstable();
        assert_eq!(ok, (0..7).map(square).collect::<Vec<_>>());
    }
    assert_eq!(pool.apply(square, 5).unwrap(), 25, "the pool goes on");
}

fn a_worker_killed_during_a_streaming_imap_is_reported_in_its_place() {
    let pool = pool(2);
    let got: Vec<_> = pool
        .imap(square_but_die_on_7, 0u64..)
        .unwrap()
        .take(30)
        .collect();
    for (i, r) in got.iter().enumerate() {
        match (i, r) {
            (7, Err(Error::WorkerDied(what))) => assert!(what.contains("SIGKILL"), "{what}"),
            (i, Ok(v)) if i != 7 => assert_eq!(*v, square(i as u64)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pool.worker_pids().len(), 2, "replaced");
}

fn my_name(_: ()) -> String {
    multiproc::current_process().name().to_string()
}

/// Python's names: `ForkPoolWorker-N`, `ForkServerPoolWorker-N`, `SpawnPoolWorker-N`. With
/// a thread running, a fork pool is refused and a served one is built and works.
fn workers_are_named_for_the_start_method_and_served_pools_allow_threads() {
    let prefix = match method() {
        StartMethod::Fork => "ForkPoolWorker-",
        StartMethod::ForkServer => "ForkServerPoolWorker-",
        StartMethod::Spawn => "SpawnPoolWorker-",
    };
    let name = pool(1).apply(my_name, ()).unwrap();
    assert!(name.starts_with(prefix), "{name}");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::yield_now();
        }
    });
    let built = builder(2).build();
    match method() {
        StartMethod::Fork => assert!(
            matches!(&built, Err(Error::Threaded { .. })),
            "fork is refused: {built:?}"
        ),
        _ => assert_eq!(
            built.unwrap().map(square, 0..10).unwrap(),
            (0..10).map(square).collect::<Vec<_>>()
        ),
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
}

/// The pool's owner (a forked `Process`) is SIGKILLed with its pool busy. This check is a
/// subreaper, so every orphan comes to it: `waitpid(-1)` until no child is left proves that
/// the server and the workers ended (and the start server, for forkserver and spawn), with
/// no sleep.
fn a_killed_owner_takes_its_server_and_workers_with_it() {
    harness::forked::adopt_orphans();
    let pids = multiproc::Array::<u32>::new(3);
    let (started, release, running) = (Event::new(), Event::new(), Value::new(0u32));
    let ready = Event::new();
    let (p, r) = (pids.clone(), ready.clone());
    let shared = (started.clone(), release.clone(), running.clone());
    let mut owner = multiproc::Process::spawn(move || -> () {
        let pool = builder(2).share(shared.clone()).build().unwrap();
        let server = pool.apply(parent_of_worker, ()).unwrap();
        let workers = pool.worker_pids();
        p.store(0, server);
        p.store(1, workers[0]);
        p.store(2, workers[1]);
        let _busy = pool.apply_async(block_reporting_pid, shared).unwrap();
        r.set();
        loop {
            std::thread::park();
        }
    })
    .unwrap();
    assert!(ready.wait_timeout(LONG), "the owner built its pool");
    assert!(started.wait_timeout(LONG), "a task runs");
    let pids = pids.to_vec();
    assert!(
        pids.iter().all(|&p| harness::forked::process_exists(p)),
        "{pids:?} run"
    );
    owner.kill().unwrap();
    assert_eq!(owner.join().unwrap(), -9);
    harness::forked::reap_every_descendant();
    for pid in pids {
        assert!(
            !harness::forked::process_exists(pid),
            "{pid} died with the owner"
        );
    }
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the parenthesised name).
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A served pool's server is a child of the start server: if that dies (taking the pool's
/// server with it), pending calls fail and the pool refuses new work, as when a fork
/// pool's server dies. (Fork pools have no start server: nothing to check.)
fn a_dead_start_server_fails_a_served_pools_pending_tasks() {
    if method() == StartMethod::Fork {
        return;
    }
    let (pool, (started, release)) = gated_pool(2);
    let server = pool.apply(parent_of_worker, ()).unwrap();
    let start_server = parent_of(server);
    assert_ne!(start_server, std::process::id(), "served: not our child");
    let r = pool
        .apply_async(block_until, (started.clone(), release.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    kill(start_server);
    assert!(
        matches!(r.get_timeout(LONG), Err(Error::WorkerDied(_))),
        "the pending task fails"
    );
    assert!(
        matches!(pool.apply(square, 1), Err(Error::WorkerDied(_))),
        "broken"
    );
}

/// `wait_any` sleeps until an outcome or a wake-up: a wake-up given before the wait is kept,
/// one from another thread ends a wait in progress, and a finished task ends it too.
fn wait_any_returns_on_an_outcome_or_a_wake_up_from_another_thread() {
    let (pool, (started, release)) = gated_pool(1);
    let waker = pool.waker();
    waker.wake().unwrap();
    assert!(pool.wait_any(Some(LONG)), "a wake-up given before the wait");
    let blocked = pool
        .apply_async(block_until, (started.clone(), release.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    // The only task is blocked and nobody wakes: nothing can come.
    assert!(!pool.wait_any(Some(Duration::from_millis(50))));
    let thread = std::thread::spawn(move || waker.wake().unwrap());
    assert!(pool.wait_any(Some(LONG)), "woken from another thread");
    thread.join().unwrap();
    assert!(!blocked.ready(), "a wake-up is not a result");
    release.set();
    while !blocked.ready() {
        assert!(pool.wait_any(Some(LONG)), "the task's result comes in");
    }
    assert!(blocked.get().unwrap() > 0);
}

/// Never returns for 3: the task a time limit has to stop.
fn forever_on_3(x: u64) -> u64 {
    if x == 3 {
        loop {
            std::hint::spin_loop();
        }
    }
    x * x
}

fn pid_set(pool: &Pool) -> HashSet<u32> {
    pool.worker_pids().into_iter().collect()
}

fn a_task_past_its_time_limit_is_stopped_and_its_worker_replaced() {
    let pool = pool(2);
    let before = pid_set(&pool);
    let limit = Duration::from_millis(300);
    let t = Instant::now();
    let got = pool.timeout(limit).chunksize(1).map(forever_on_3, 0..6);
    assert!(matches!(got, Err(Error::TimedOut)), "{got:?}");
    assert!(t.elapsed() >= limit, "not before its limit");
    assert!(t.elapsed() < LONG);
    let want: Vec<u64> = (0..10).map(square).collect();
    assert_eq!(pool.map(square, 0..10).unwrap(), want, "the pool goes on");
    let after = pid_set(&pool);
    assert_eq!(after.len(), 2);
    assert_eq!(
        before.intersection(&after).count(),
        1,
        "exactly one worker replaced: {before:?} -> {after:?}"
    );
    // In an imap the chunk that timed out yields the error in its place.
    let items: Vec<Result<u64, Error>> = pool
        .timeout(limit)
        .imap(forever_on_3, 2..5)
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &4);
    assert!(matches!(items[1], Err(Error::TimedOut)), "{items:?}");
    assert_eq!(items[2].as_ref().unwrap(), &16);
}

fn a_time_limit_not_reached_changes_nothing() {
    let pool = pool(2);
    let before = pid_set(&pool);
    let want: Vec<u64> = (0..50).map(square).collect();
    assert_eq!(pool.timeout(LONG).map(square, 0..50).unwrap(), want);
    assert_eq!(
        pool.timeout(LONG).chunksize(7).map(square, 0..50).unwrap(),
        want
    );
    assert_eq!(pool.timeout(LONG).apply(square, 7).unwrap(), 49);
    let streamed: Vec<u64> = pool
        .timeout(LONG)
        .imap(square, 0..50)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(streamed, want);
    assert_eq!(pool.timeout(None).map(square, 0..50).unwrap(), want);
    assert_eq!(pid_set(&pool), before, "no worker replaced");
}

/// Says it runs, then never returns: the task a cancel has to stop.
fn announce_then_spin(started: Event) -> u32 {
    started.set();
    loop {
        std::hint::spin_loop();
    }
}

fn cancelling_a_running_task_stops_it_and_the_pool_goes_on() {
    let started = Event::new();
    let pool = builder(1).share(started.clone()).build().unwrap();
    let before = pid_set(&pool);
    let r = pool
        .apply_async(announce_then_spin, started.clone())
        .unwrap();
    assert!(started.wait_timeout(LONG), "the task runs");
    assert!(r.cancel());
    assert!(r.cancelled());
    assert!(!r.cancel(), "cancelled once");
    assert!(matches!(r.get(), Err(Error::Cancelled)));
    // One worker: had the task not been stopped, this could never run.
    assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
    let after = pid_set(&pool);
    assert_eq!(after.len(), 1);
    assert!(
        before.is_disjoint(&after),
        "replaced: {before:?} -> {after:?}"
    );
}

fn cancel_after_completion_returns_false_and_the_result_stays() {
    let pool = pool(1);
    let before = pid_set(&pool);
    let r = pool.apply_async(square, 9).unwrap();
    r.wait();
    assert!(!r.cancel(), "too late");
    assert!(!r.cancelled());
    assert_eq!(r.successful(), Some(true));
    assert_eq!(r.get().unwrap(), 81, "the result stays");
    assert!(!r.cancel(), "handed over");
    assert_eq!(pid_set(&pool), before, "no worker killed");
}

/// Counts its runs in `ran`.
fn count_run(ran: Value<u32>) -> u32 {
    let mut n = ran.lock().unwrap();
    *n += 1;
    *n
}

fn a_cancelled_queued_task_is_skipped_and_never_gives_its_result() {
    let (started, release, ran) = (Event::new(), Event::new(), Value::new(0u32));
    let shared = (started.clone(), release.clone(), ran.clone());
    let pool = builder(1).share(shared).build().unwrap();
    let busy = pool
        .apply_async(block_until, (started.clone(), release.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    let queued = pool.apply_async(count_run, ran.clone()).unwrap();
    assert!(queued.cancel(), "not run yet");
    assert!(queued.cancelled());
    release.set();
    assert!(busy.get().is_ok(), "the running task was not touched");
    assert!(matches!(queued.get(), Err(Error::Cancelled)));
    // One worker, tasks in queue order: it has taken the cancelled task before this one.
    assert_eq!(pool.apply(square, 6).unwrap(), 36);
    assert_eq!(ran.load(), 0, "the worker skipped the cancelled task");
    assert_eq!(pool.apply(count_run, ran.clone()).unwrap(), 1);
}

fn threads_share_one_pool_and_each_gets_its_own_results() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    let pool = std::sync::Arc::new(pool(2));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..5u64 {
                    let xs: Vec<u64> = (0..20).map(|i| t * 1000 + round * 100 + i).collect();
                    let want: Vec<u64> = xs.iter().map(|&x| square(x)).collect();
                    assert_eq!(pool.map(square, xs.clone()).unwrap(), want);
                    let one = pool.apply_async(square, t + round).unwrap();
                    let streamed: Vec<u64> =
                        pool.imap(square, xs).unwrap().map(Result::unwrap).collect();
                    assert_eq!(streamed, want);
                    assert_eq!(one.get().unwrap(), square(t + round));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn a_thread_waiting_on_a_blocked_task_does_not_hold_up_another_threads_results() {
    // Thread A waits (and so may be the one collecting) for a task that runs until B has
    // had all its results: B can only get them if A's collecting files them for B.
    let stop = Event::new();
    let pool = std::sync::Arc::new(builder(2).share(stop.clone()).build().unwrap());
    let blocked = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || pool.apply(spin_until, stop).unwrap())
    };
    for round in 0..10u64 {
        let xs: Vec<u64> = (0..10).map(|i| round * 10 + i).collect();
        let want: Vec<u64> = xs.iter().map(|&x| square(x)).collect();
        assert_eq!(pool.chunksize(1).map(square, xs).unwrap(), want);
    }
    stop.set();
    assert!(
        blocked.join().unwrap(),
        "the blocked task saw the event set"
    );
}

// ----- workers' log records --------------------------------------------------------------

/// The owner's logger of the log checks (each check is a process of its own, so each
/// installs it once): every record as `level target worker message` (`-` for no `worker`
/// key-value), kept in `lines`, and also appended, with the writing pid first, to `file`,
/// which a fork pool's workers inherit with the logger.
struct Recorder {
    lines: std::sync::Mutex<Vec<String>>,
    file: std::sync::OnceLock<std::fs::File>,
}

static RECORDER: Recorder = Recorder {
    lines: std::sync::Mutex::new(Vec::new()),
    file: std::sync::OnceLock::new(),
};

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        use std::io::Write;
        let worker = record
            .key_values()
            .get(log::kv::Key::from_str(multiproc::logging::WORKER))
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into());
        let line = format!(
            "{} {} {worker} {}",
            record.level(),
            record.target(),
            record.args()
        );
        if let Some(mut file) = self.file.get() {
            let _ = file.write_all(format!("{} {line}\n", std::process::id()).as_bytes());
        }
        self.lines.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

/// Install [`RECORDER`] at level Info, with a fresh file; the file's path.
fn record_logs(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "multiproc-pool-logs-{tag}-{}-{}.log",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .unwrap();
    RECORDER.file.set(file).unwrap();
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    path
}

/// The lines the owner's logger got with `target`.
fn owner_lines(target: &str) -> Vec<String> {
    let needle = format!(" {target} ");
    let lines = RECORDER.lines.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(&needle))
        .cloned()
        .collect()
}

/// The file's lines with `target`, as (writing pid, `level target worker message`).
fn file_lines(path: &std::path::Path, target: &str) -> Vec<(u32, String)> {
    let needle = format!(" {target} ");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(|l| {
            let (pid, rest) = l.split_once(' ').unwrap();
            (pid.parse().unwrap(), rest.to_string())
        })
        .collect()
}

/// A served pool's workers' name prefix; `None` for a fork pool, whose workers log
/// through the logger they inherited.
fn served_worker_prefix() -> Option<&'static str> {
    match method() {
        StartMethod::Fork => None,
        StartMethod::ForkServer => Some("ForkServerPoolWorker-"),
        StartMethod::Spawn => Some("SpawnPoolWorker-"),
    }
}

fn log_and_double(x: u64) -> u64 {
    log::info!(target: "pool_logs", "task {x}");
    log::debug!(target: "pool_logs", "below the level {x}");
    x * 2
}

/// Each `info!` of a task reaches the owner's logger exactly once: a served pool's
/// through the result queue, re-emitted by the owner with the worker's name as the
/// `worker` key-value; a fork pool's written by the worker through the logger it inherited,
/// and never again by the owner. A `debug!` below the owner's level arrives nowhere.
fn workers_log_records_reach_the_owners_logger_once_with_the_workers_name() {
    let path = record_logs("once");
    let pool = pool(2);
    let xs: Vec<u64> = (0..40).collect();
    assert_eq!(
        pool.chunksize(3).map(log_and_double, xs.clone()).unwrap(),
        xs.iter().map(|x| x * 2).collect::<Vec<_>>()
    );
    pool.close().unwrap();
    pool.join().unwrap();
    let owner = std::process::id();
    let in_file = file_lines(&path, "pool_logs");
    let _ = std::fs::remove_file(&path);
    let by_owner = owner_lines("pool_logs");
    assert!(
        in_file.iter().all(|(_, l)| !l.contains("below the level")),
        "a debug! below the owner's level arrived: {in_file:?}"
    );
    let messages: Vec<&str> = in_file
        .iter()
        .map(|(_, l)| l.split_once(" task ").map_or(l.as_str(), |(_, m)| m))
        .collect();
    let mut sorted = messages.clone();
    sorted.sort_by_key(|m| m.parse::<u64>().unwrap());
    let expected: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    assert_eq!(sorted, expected, "each record exactly once: {in_file:?}");
    match served_worker_prefix() {
        Some(prefix) => {
            assert_eq!(by_owner.len(), xs.len(), "{by_owner:?}");
            for (pid, line) in &in_file {
                assert_eq!(*pid, owner, "logged by the owner: {line}");
                let worker = line.split(' ').nth(2).unwrap();
                assert!(worker.starts_with(prefix), "{line}");
                assert!(line.starts_with("INFO pool_logs "), "{line}");
            }
        }
        None => {
            assert!(by_owner.is_empty(), "the owner logged again: {by_owner:?}");
            for (pid, line) in &in_file {
                assert_ne!(*pid, owner, "a worker logged it: {line}");
                assert!(line.starts_with("INFO pool_logs - task "), "{line}");
            }
        }
    }
}

const HUGE: usize = 200_000;

fn log_huge(_: ()) -> u32 {
    log::info!(target: "pool_logs_huge", "{}", "y".repeat(HUGE));
    7
}

/// A record far over the bound (64 KiB) reaches a served pool's owner cut, with the
/// marker; the pool goes on. (A fork pool's worker writes it whole itself.)
fn an_oversized_log_record_is_truncated_and_the_pool_goes_on() {
    let path = record_logs("huge");
    let pool = pool(1);
    assert_eq!(pool.apply(log_huge, ()).unwrap(), 7);
    assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
    let in_file = file_lines(&path, "pool_logs_huge");
    let _ = std::fs::remove_file(&path);
    assert_eq!(in_file.len(), 1, "once");
    let line = &in_file[0].1;
    let ys = line.matches('y').count();
    if served_worker_prefix().is_some() {
        assert!(line.ends_with("[... truncated by multiproc: longer than 64 KiB]"));
        assert!((64 * 1024..64 * 1024 + 8).contains(&ys), "{ys} y's");
        assert_eq!(owner_lines("pool_logs_huge").len(), 1);
    } else {
        assert!(ys >= HUGE, "whole: {ys} y's");
    }
}

fn log_then_set(done: Event) -> u32 {
    log::info!(target: "pool_logs_join", "before the event");
    done.set();
    1
}

/// A record sent while the owner waits for nothing is logged at its next wait: here
/// `join`, after the task said (through an `Event`, not the pool) that it has logged.
fn log_records_nobody_waited_for_are_logged_by_join() {
    let path = record_logs("join");
    let done = Event::new();
    let pool = builder(1).share(done.clone()).build().unwrap();
    let pending = pool.apply_async(log_then_set, done.clone()).unwrap();
    done.wait();
    if served_worker_prefix().is_some() {
        assert!(
            owner_lines("pool_logs_join").is_empty(),
            "nobody waited yet"
        );
    }
    pool.close().unwrap();
    pool.join().unwrap();
    let in_file = file_lines(&path, "pool_logs_join");
    let _ = std::fs::remove_file(&path);
    assert_eq!(in_file.len(), 1, "{in_file:?}");
    if served_worker_prefix().is_some() {
        assert_eq!(owner_lines("pool_logs_join").len(), 1);
    }
    assert_eq!(pending.get().unwrap(), 1);
}

/// With a `multiproc::logging::LogConfig` in the owner, a worker's record is one line
/// tagged with the worker's name and pid, for every start method (a served pool's is
/// written by the owner, from the `worker` and `worker_pid` key-values).
fn a_log_config_in_the_owner_writes_a_workers_records_as_the_workers_lines() {
    let path = std::env::temp_dir().join(format!(
        "multiproc-pool-logconfig-{}-{}.log",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    multiproc::logging::LogConfig::new("pooltest")
        .console(false)
        .file(&path)
        .apply()
        .unwrap();
    let pool = pool(1);
    let pids = pool.worker_pids();
    assert_eq!(pool.apply(log_and_double, 5).unwrap(), 10);
    pool.close().unwrap();
    pool.join().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<multiproc::logging::LogLine> = text
        .lines()
        .map(|l| multiproc::logging::LogLine::parse(l).expect("whole lines"))
        .filter(|l| l.target == "pool_logs")
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let prefix = served_worker_prefix().unwrap_or("ForkPoolWorker-");
    assert!(lines[0].process.starts_with(prefix), "{text}");
    assert_eq!(lines[0].message, "task 5");
    assert_eq!(lines[0].level, log::Level::Info);
    assert_eq!(pids, [lines[0].pid], "the worker's pid");
}

fn panic_on_3(x: u64) -> u64 {
    assert!(x != 3, "three is refused");
    x
}

fn callbacks_get_each_result_or_failure_once_and_join_runs_the_rest() {
    use std::sync::{Arc, Mutex};
    let pool = pool(2);
    let values = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    for x in 0..6u64 {
        let (v, e) = (values.clone(), errors.clone());
        pool.apply_async(panic_on_3, x).unwrap().on_done(
            move |value| v.lock().unwrap().push(value),
            move |error| e.lock().unwrap().push(error.to_string()),
        );
    }
    let whole = Arc::new(Mutex::new(None));
    let w = whole.clone();
    pool.map_async(square, 0..5u64).unwrap().on_done(
        move |v: Vec<u64>| *w.lock().unwrap() = Some(v),
        |e| panic!("{e}"),
    );
    // A callback that panics is reported and breaks nothing.
    pool.apply_async(square, 9u64)
        .unwrap()
        .on_done(|_| panic!("a callback that panics"), |_| {});
    // Another call's wait files what comes in, and runs the callbacks on the way.
    assert_eq!(pool.apply(square, 4).unwrap(), 16);
    pool.close().unwrap();
    pool.join().unwrap();
    let mut values = values.lock().unwrap().clone();
    values.sort_unstable();
    assert_eq!(values, [0, 1, 2, 4, 5], "each value once");
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("three is refused"), "{errors:?}");
    assert_eq!(*whole.lock().unwrap(), Some(vec![0, 1, 4, 9, 16]));
}

/// Counts its runs in `runs`, and kills its worker on the first two.
fn die_on_the_first_two_runs(runs: Value<u32>) -> u32 {
    let run = {
        let mut n = runs.lock().unwrap();
        *n += 1;
        *n
    };
    if run < 3 {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    run
}

fn a_task_whose_worker_died_is_run_again_up_to_its_retries_then_is_poison() {
    let runs = Value::new(0u32);
    let pool = builder(2).retries(2).share(runs.clone()).build().unwrap();
    assert_eq!(
        pool.apply(die_on_the_first_two_runs, runs.clone()).unwrap(),
        3,
        "run a third time, on a fresh worker, after two deaths"
    );
    match pool.apply(square_but_die_on_7, 7) {
        Err(Error::WorkerDied(what)) => assert!(what.contains("run 3 times"), "{what}"),
        other => panic!("a task that always kills its worker is poison, got {other:?}"),
    }
    let squares: Vec<u64> = (0..20).map(square).collect();
    assert_eq!(
        pool.map(square, 0..20).unwrap(),
        squares,
        "the pool goes on"
    );
}
