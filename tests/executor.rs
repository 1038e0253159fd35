//! Library checks for `multiproc::executor` (see tests/process.rs for why they fork): one
//! executor shared by threads, futures waited for, awaited (on a runtime-agnostic
//! `block_on` written here), cancelled and timed out, callbacks, `as_completed`, `wait`,
//! shutdown, and what a dead worker or a dropped executor does to the futures.

mod support;

use harness::checks;
use multiproc::executor::{Future, ProcessPoolExecutor, ReturnWhen, as_completed, wait};
use multiproc::start::StartMethod;
use multiproc::{Error, Event, InvalidKind, Pool, Value};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use support::{rss_kib, square_but_die_on_7};

fn main() -> std::process::ExitCode {
    multiproc::start::init();
    harness::forked::run_then(
        checks![
            submit_gives_each_result_and_map_keeps_input_order,
            the_handle_is_send_sync_and_clone_and_threads_share_it,
            no_thread_is_started_until_a_future_is_awaited_or_given_a_callback,
            an_awaited_future_sleeps_until_its_result_comes,
            waiting_for_a_long_task_costs_the_owner_almost_no_cpu,
            many_async_tasks_awaiting_on_one_thread_each_get_their_result,
            as_completed_hands_back_each_future_once_in_the_order_they_finish,
            as_completed_awaited_yields_every_future,
            wait_returns_on_the_first_done_the_first_failure_or_all,
            wait_with_a_timeout_returns_what_is_done_by_then,
            cancel_stops_a_running_task_and_the_executor_goes_on,
            cancel_racing_completion_lets_exactly_one_win,
            a_task_past_its_time_limit_resolves_timed_out_and_others_go_on,
            done_callbacks_run_once_with_the_result_and_a_panicking_one_breaks_nothing,
            a_dead_worker_fails_only_its_task_and_the_executor_goes_on,
            shutdown_waits_for_the_futures_and_refuses_new_tasks,
            shutdown_with_cancel_futures_cancels_the_queued_ones,
            dropping_the_executor_resolves_the_futures_closed_and_none_hangs,
            a_forkserver_executor_works_from_a_threaded_program,
            a_result_is_handed_over_once,
            a_hundred_thousand_outstanding_futures_cost_bounded_memory,
        ],
        multiproc::start::shutdown,
    )
}

const LONG: Duration = Duration::from_secs(30);

fn square(x: u64) -> u64 {
    x * x
}

fn executor(n: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::new(n).unwrap()
}

/// An executor of `n` workers that have `objects` (Python: `initargs`).
fn sharing<T>(n: usize, objects: T) -> ProcessPoolExecutor
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    ProcessPoolExecutor::builder()
        .processes(n)
        .share(objects)
        .build_executor()
        .unwrap()
}

/// Run `future` to completion on this thread: park until woken (a runtime-agnostic
/// executor, as `futures::executor::block_on` or `pollster`). Counts its polls.
fn block_on<F: std::future::Future>(future: F) -> (F::Output, usize) {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return (out, polls);
        }
        std::thread::park();
    }
}

/// Threads of this process (`/proc/self/task`).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn submit_gives_each_result_and_map_keeps_input_order() {
    let ex = executor(2);
    let futures: Vec<Future<u64>> = (0..20).map(|x| ex.submit(square, x).unwrap()).collect();
    for (x, f) in futures.iter().enumerate() {
        assert_eq!(f.result().unwrap(), square(x as u64));
    }
    let mapped: Vec<u64> = ex
        .map(square, 0..100)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mapped, (0..100).map(square).collect::<Vec<_>>());
}

fn the_handle_is_send_sync_and_clone_and_threads_share_it() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync_clone::<ProcessPoolExecutor>();
    send_sync::<Future<u64>>();
    let ex = executor(2);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ex = ex.clone();
            std::thread::spawn(move || {
                let futures: Vec<_> = (0..25)
                    .map(|i| ex.submit(square, t * 100 + i).unwrap())
                    .collect();
                futures
                    .into_iter()
                    .enumerate()
                    .all(|(i, f)| f.result().unwrap() == square(t * 100 + i as u64))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "every thread got its own results");
    }
}

fn no_thread_is_started_until_a_future_is_awaited_or_given_a_callback() {
    let before = threads();
    let ex = executor(1);
    let f = ex.submit(square, 3).unwrap();
    assert_eq!(f.result().unwrap(), 9);
    let squares: Vec<u64> = ex.map(square, 0..4).unwrap().map(Result::unwrap).collect();
    assert_eq!(squares, [0, 1, 4, 9]);
    assert_eq!(threads(), before, "waiting by hand starts no thread");
    // A fork `Process` may still be started: this process is single-threaded.
    let mut p = multiproc::Process::spawn(|| 7).unwrap();
    assert_eq!(p.join().unwrap(), 7);
    let stop = Event::new();
    let ex = sharing(1, stop.clone());
    let slow = ex.submit(spin_until, stop.clone()).unwrap();
    slow.add_done_callback(|_| {});
    assert_eq!(
        threads(),
        before + 1,
        "a callback on a pending future starts the collector"
    );
    stop.set();
    assert!(slow.result_timeout(LONG).unwrap());
}

fn spin_until(stop: Event) -> bool {
    while !stop.is_set() {
        std::hint::spin_loop();
    }
    true
}

fn wait_for(release: Event) -> u64 {
    release.wait();
    42
}

fn an_awaited_future_sleeps_until_its_result_comes() {
    let release = Event::new();
    let ex = sharing(1, release.clone());
    let f = ex.submit(wait_for, release.clone()).unwrap();
    let setter = {
        let release = release.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            release.set();
        })
    };
    let (out, polls) = block_on(f);
    setter.join().unwrap();
    assert_eq!(out.unwrap(), 42);
    // Woken for the result, not polled in a loop: a handful of polls over 300 ms.
    assert!(polls <= 5, "polled {polls} times");
}

fn nap_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// CPU time of this process so far (user + system, every thread: the collector too).
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let of = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    of(usage.user_time()) + of(usage.system_time())
}

/// Waiting, by `result()` or by `.await`, sleeps: no polling loop burns the owner's CPU.
/// The bound is very loose on purpose (speed is for benches/executor.rs, which prints the
/// figure for a 2 s task: about 1-2 ms): only a busy wait would reach it.
fn waiting_for_a_long_task_costs_the_owner_almost_no_cpu() {
    let ex = executor(1);
    for awaited in [false, true] {
        let before = cpu_time();
        let f = ex.submit(nap_ms, 1000).unwrap();
        let got = if awaited {
            block_on(f).0.unwrap()
        } else {
            f.result().unwrap()
        };
        assert_eq!(got, 1000);
        let cpu = cpu_time() - before;
        assert!(
            cpu < Duration::from_millis(100),
            "waiting (awaited: {awaited}) for a 1 s task took {cpu:?} of CPU"
        );
    }
}

fn many_async_tasks_awaiting_on_one_thread_each_get_their_result() {
    let ex = executor(2);
    let futures: Vec<Future<u64>> = (0..64).map(|x| ex.submit(square, x).unwrap()).collect();
    // One async block awaiting them all in turn, on one thread.
    let (sum, _) = block_on(async move {
        let mut sum = 0;
        for f in futures {
            sum += f.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..64).map(square).sum::<u64>());
}

fn nap_then_square(x: u64) -> u64 {
    // Tasks finish in reverse order of submission: the bigger `x`, the shorter the nap.
    std::thread::sleep(Duration::from_millis(40 * (5 - x)));
    x * x
}

fn as_completed_hands_back_each_future_once_in_the_order_they_finish() {
    let ex = executor(5);
    let futures: Vec<_> = (0..5)
        .map(|x| ex.submit(nap_then_square, x).unwrap())
        .collect();
    let mut done = as_completed(futures);
    assert_eq!(done.total(), 5);
    let mut got = Vec::new();
    for f in &mut done {
        assert!(f.done());
        got.push(f.result().unwrap());
    }
    assert_eq!(done.completed(), 5);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 4, 9, 16], "each once");
}

fn as_completed_awaited_yields_every_future() {
    let ex = executor(2);
    let futures: Vec<_> = (0..30).map(|x| ex.submit(square, x).unwrap()).collect();
    let (got, _) = block_on(async move {
        let mut done = as_completed(futures);
        let mut got = Vec::new();
        while let Some(f) = done.next_completed().await {
            got.push(f.result().unwrap());
        }
        got
    });
    let mut got = got;
    got.sort_unstable();
    assert_eq!(got, (0..30).map(square).collect::<Vec<_>>());
}

fn fail_on_3(x: u64) -> u64 {
    assert!(x != 3, "three");
    x
}

fn wait_returns_on_the_first_done_the_first_failure_or_all() {
    let release = Event::new();
    let ex = sharing(2, release.clone());
    let blocked = ex.submit(wait_for, release.clone()).unwrap();
    let quick = ex.submit(wait_for, release.clone()).unwrap();
    // Neither can finish: FirstCompleted with a short timeout returns both not done.
    let w = wait(
        vec![blocked, quick],
        ReturnWhen::FirstCompleted,
        Some(Duration::from_millis(50)),
    );
    assert!(w.done.is_empty());
    assert_eq!(w.not_done.len(), 2);
    release.set();
    let w = wait(w.not_done, ReturnWhen::FirstCompleted, Some(LONG));
    assert!(!w.done.is_empty());
    let w2 = wait(w.not_done, ReturnWhen::AllCompleted, Some(LONG));
    assert!(w2.not_done.is_empty());
    let fs: Vec<_> = [1u64, 3, 5]
        .iter()
        .map(|&x| ex.submit(fail_on_3, x).unwrap())
        .collect();
    let w = wait(fs, ReturnWhen::FirstException, Some(LONG));
    assert!(
        w.done
            .iter()
            .any(|f| matches!(f.result(), Err(Error::TaskPanicked(_)))),
        "the failure is among the done"
    );
}

fn wait_with_a_timeout_returns_what_is_done_by_then() {
    let release = Event::new();
    let ex = sharing(2, release.clone());
    let fast = ex.submit(square, 4).unwrap();
    let slow = ex.submit(wait_for, release.clone()).unwrap();
    assert_eq!(fast.result().unwrap(), 16);
    let w = wait(
        vec![slow],
        ReturnWhen::AllCompleted,
        Some(Duration::from_millis(100)),
    );
    assert_eq!((w.done.len(), w.not_done.len()), (0, 1));
    release.set();
    assert_eq!(w.not_done[0].result_timeout(LONG).unwrap(), 42);
}

fn cancel_stops_a_running_task_and_the_executor_goes_on() {
    let (started, never) = (Event::new(), Event::new());
    let ex = sharing(1, (started.clone(), never.clone()));
    let f = ex
        .submit(start_then_wait, (started.clone(), never.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG), "the task runs");
    assert!(f.running());
    assert!(f.cancel(), "a running task is cancelled");
    assert!(f.cancelled() && f.done());
    assert!(matches!(f.result(), Err(Error::Cancelled)));
    // One worker: the next task runs only if the cancelled one was really stopped.
    assert_eq!(
        ex.submit(square, 5).unwrap().result_timeout(LONG).unwrap(),
        25
    );
}

fn start_then_wait(events: (Event, Event)) -> u64 {
    events.0.set();
    events.1.wait();
    0
}

fn cancel_racing_completion_lets_exactly_one_win() {
    let ex = executor(2);
    let (mut won_cancel, mut won_done) = (0, 0);
    for x in 0..300u64 {
        let f = ex.submit(square, x).unwrap();
        // Cancel at different moments: at once, or after looking a few times.
        for _ in 0..x % 40 {
            let _ = f.done();
        }
        if f.cancel() {
            assert!(f.cancelled());
            assert!(matches!(f.result(), Err(Error::Cancelled)));
            won_cancel += 1;
        } else {
            assert!(!f.cancelled());
            assert_eq!(f.result().unwrap(), square(x));
            won_done += 1;
        }
    }
    assert_eq!(won_cancel + won_done, 300);
    assert_eq!(
        ex.submit(square, 9).unwrap().result().unwrap(),
        81,
        "still usable"
    );
}

fn forever(_: u64) -> u64 {
    loop {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn a_task_past_its_time_limit_resolves_timed_out_and_others_go_on() {
    let ex = executor(2);
    let pids_before = ex.pool().worker_pids();
    let hung = ex
        .timeout(Duration::from_millis(200))
        .submit(forever, 0)
        .unwrap();
    let fine = ex.timeout(LONG).submit(square, 6).unwrap();
    assert_eq!(fine.result().unwrap(), 36);
    assert!(matches!(hung.result_timeout(LONG), Err(Error::TimedOut)));
    assert_eq!(ex.submit(square, 7).unwrap().result().unwrap(), 49);
    let pids_after = ex.pool().worker_pids();
    let replaced = pids_after
        .iter()
        .filter(|p| !pids_before.contains(p))
        .count();
    assert_eq!(replaced, 1, "exactly the hung task's worker was replaced");
}

fn done_callbacks_run_once_with_the_result_and_a_panicking_one_breaks_nothing() {
    let ex = executor(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..10u64).map(|x| ex.submit(square, x).unwrap()).collect();
    for f in &futures {
        let (seen, calls) = (seen.clone(), calls.clone());
        f.add_done_callback(|_| panic!("a callback that panics"));
        f.add_done_callback(move |r| {
            seen.lock().unwrap().push(*r.as_ref().unwrap());
            calls.fetch_add(1, SeqCst);
        });
    }
    for (x, f) in futures.iter().enumerate() {
        assert_eq!(
            f.result().unwrap(),
            square(x as u64),
            "the result is still there"
        );
    }
    // A callback added to a done future runs at once, on this thread.
    let here = std::thread::current().id();
    let ran_here = Arc::new(Mutex::new(None));
    let last = ex.submit(square, 11).unwrap();
    while !last.done() {
        std::thread::yield_now();
    }
    let r = ran_here.clone();
    last.add_done_callback(move |v| {
        *r.lock().unwrap() = Some((std::thread::current().id(), *v.as_ref().unwrap()))
    });
    assert_eq!(*ran_here.lock().unwrap(), Some((here, 121)));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..10).map(square).collect::<Vec<_>>(),
        "each callback once"
    );
    assert_eq!(calls.load(SeqCst), 10);
    assert_eq!(ex.submit(square, 12).unwrap().result().unwrap(), 144);
}

fn a_dead_worker_fails_only_its_task_and_the_executor_goes_on() {
    let ex = executor(2);
    let futures: Vec<_> = (0..10)
        .map(|x| ex.submit(square_but_die_on_7, x).unwrap())
        .collect();
    for (x, f) in futures.into_iter().enumerate() {
        match (x, f.result_timeout(LONG)) {
            (7, Err(Error::WorkerDied(what))) => assert!(what.contains("SIGKILL"), "{what}"),
            (7, other) => panic!("task 7 killed its worker, got {other:?}"),
            (x, r) => assert_eq!(r.unwrap(), square(x as u64)),
        }
    }
    assert_eq!(ex.submit(square, 8).unwrap().result().unwrap(), 64);
}

fn shutdown_waits_for_the_futures_and_refuses_new_tasks() {
    let ex = executor(2);
    let futures: Vec<_> = (0..20)
        .map(|x| ex.submit(nap_then_square, x % 5).unwrap())
        .collect();
    ex.shutdown(true, false).unwrap();
    for f in &futures {
        assert!(f.done(), "shutdown(wait) returns once every future is done");
    }
    assert!(matches!(
        ex.submit(square, 1),
        Err(Error::Invalid {
            kind: InvalidKind::PoolClosed,
            ..
        })
    ));
    let total: u64 = futures.iter().map(|f| f.result().unwrap()).sum();
    assert_eq!(total, 4 * (0..5).map(square).sum::<u64>());
}

fn shutdown_with_cancel_futures_cancels_the_queued_ones() {
    let (started, release) = (Event::new(), Event::new());
    let ex = sharing(1, (started.clone(), release.clone()));
    let running = ex
        .submit(start_then_wait, (started.clone(), release.clone()))
        .unwrap();
    assert!(started.wait_timeout(LONG));
    let queued: Vec<_> = (0..5).map(|x| ex.submit(square, x).unwrap()).collect();
    ex.shutdown(false, true).unwrap();
    for f in &queued {
        assert!(f.cancelled(), "a queued future is cancelled");
    }
    release.set();
    assert_eq!(
        running.result_timeout(LONG).unwrap(),
        0,
        "the running one finishes"
    );
}

fn dropping_the_executor_resolves_the_futures_closed_and_none_hangs() {
    let release = Event::new();
    let ex = sharing(1, release.clone());
    let futures: Vec<_> = (0..3)
        .map(|_| ex.submit(wait_for, release.clone()).unwrap())
        .collect();
    let waiters: Vec<_> = futures
        .into_iter()
        .map(|f| std::thread::spawn(move || f.result()))
        .collect();
    drop(ex);
    for w in waiters {
        assert!(matches!(w.join().unwrap(), Err(Error::Closed)));
    }
}

fn a_forkserver_executor_works_from_a_threaded_program() {
    let _busy = std::thread::spawn(|| std::thread::sleep(LONG));
    assert!(matches!(
        ProcessPoolExecutor::new(1),
        Err(Error::Threaded { .. })
    ));
    let ex = Pool::builder()
        .processes(2)
        .start_method(StartMethod::ForkServer)
        .build_executor()
        .unwrap();
    let (v, _) = block_on(ex.submit(square, 12).unwrap());
    assert_eq!(v.unwrap(), 144);
    let counter = Value::new(0u64);
    drop(counter);
}

fn a_result_is_handed_over_once() {
    let ex = executor(1);
    let f = ex.submit(square, 2).unwrap();
    assert_eq!(f.result().unwrap(), 4);
    assert!(matches!(
        f.result(),
        Err(Error::Invalid {
            kind: InvalidKind::AlreadyTaken,
            ..
        })
    ));
}

fn a_hundred_thousand_outstanding_futures_cost_bounded_memory() {
    const N: u64 = 100_000;
    let release = Event::new();
    let ex = sharing(2, release.clone());
    // Two tasks hold both workers, so all N futures stay outstanding while they are made.
    let holds: Vec<_> = (0..2)
        .map(|_| ex.submit(wait_for, release.clone()).unwrap())
        .collect();
    let before = rss_kib();
    let futures: Vec<Future<u64>> = (0..N).map(|x| ex.submit(square, x).unwrap()).collect();
    let grown = rss_kib().saturating_sub(before);
    // Each outstanding future: its slot, its handler, its entry in the book and its task's
    // bytes in the queue: about 0.6 KiB in all (documented in the module docs).
    assert!(grown < 4 * N, "{grown} KiB for {N} outstanding futures");
    release.set();
    let mut total = 0u64;
    for f in as_completed(futures.into_iter().chain(holds)) {
        total = total.wrapping_add(f.result().unwrap());
    }
    let want = (0..N)
        .map(square)
        .fold(42u64.wrapping_mul(2), u64::wrapping_add);
    assert_eq!(total, want);
    eprintln!("{N} outstanding futures: {grown} KiB");
}
