//! The fault matrix, part two (issue 10; part one is tests/faults.rs): a signal to the main
//! process of a running program (SIGINT, SIGTERM, SIGKILL, and Ctrl-C to the whole process
//! group) while it has children, a pool or a pipeline running. The whole tree must go: no
//! process of the program's group may be left, alive or zombie.
//!
//! Each run starts a real example binary in its own process group (harness::Example),
//! waits until its group has grown to the size that shows the children, pool or pipeline
//! are up (an observed state, not a sleep), then signals it. The example must have died of
//! that very signal (so it was caught mid-run, not after it had finished), and every other
//! process of its group must be gone within a grace period: children learn of their
//! parent's death through `PR_SET_PDEATHSIG`, pool workers through their server's. The
//! harness reaps what it inherits as the group's subreaper, so a zombie left here is a
//! process whose parent is still alive.

use harness::{Example, Running, example};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

/// How long the rest of the tree may take to go once the main process is dead.
const GRACE: Duration = Duration::from_secs(10);
/// How long a program may take to bring its children up.
const STARTUP: Duration = Duration::from_secs(60);

/// Wait until the group of `running` holds at least `members` processes; panics if the
/// program exits first or takes longer than STARTUP.
fn wait_for_group(running: &Running, members: usize, what: &str) {
    let deadline = Instant::now() + STARTUP;
    loop {
        let size = running.group_size();
        if size >= members {
            return;
        }
        assert!(
            !running.has_exited(),
            "{what}: exited before its group reached {members} processes (it had {size})"
        );
        assert!(
            Instant::now() < deadline,
            "{what}: its group never reached {members} processes (it has {size})"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Start `example`, wait for `members` processes in its group, send `signal` to the main
/// process (or, with `to_group`, to the whole group) and check that the program died of it
/// and left nothing behind.
fn signal_mid_run(example: Example, what: &str, members: usize, signal: i32, to_group: bool) {
    let running = example.timeout(Duration::from_secs(120)).spawn();
    wait_for_group(&running, members, what);
    assert!(
        !running.has_exited(),
        "{what}: finished before it could be signalled; give it more work"
    );
    if to_group {
        running.signal_group(signal);
    } else {
        running.signal(signal);
    }
    // `finish` fails the test if any process of the group is still there after GRACE.
    let run = running.finish(GRACE);
    assert_eq!(
        run.status().signal(),
        Some(signal),
        "{what}: expected death by signal {signal}, got {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        run.status(),
        run.stdout(),
        run.stderr()
    );
}

/// `Pool(2).map` over a million calls of the seed's sum of squares: minutes of work in a
/// debug build. The group is the program, the pool's server and its two workers.
fn pool_map_sum() -> Example {
    example!("pool_map_sum").args(["--workers", "2", "--n", "1000000"])
}
const POOL_MEMBERS: usize = 4;

/// The Mandelbrot pipeline's parallel stage: a producer process and two consumers. The
/// sequential stage runs in the main process alone first, so a group of three (the main
/// process and both consumers; the producer may already be done) means the pipeline runs.
fn mandelbrot_pipeline() -> Example {
    let png = std::env::temp_dir().join(format!("faults_mandelbrot_{}.png", std::process::id()));
    example!("mandelbrot_pipeline")
        .args(["--pixdim", "600", "--orbits", "50000", "--workers", "2"])
        .arg("--output")
        .arg(png)
}
const PIPELINE_MEMBERS: usize = 3;

/// Two makers and two workers sharing a queue, pausing up to 50 ms per step, with a
/// decay that keeps the makers going for seconds.
fn multi_work_queues() -> Example {
    example!("multi_work_queues").args([
        "--makers",
        "2",
        "--workers",
        "2",
        "--sleep-ms",
        "50",
        "--decay",
        "0.002",
        "--verbosity",
        "0",
        "--seed",
        "10",
    ])
}
const QUEUES_MEMBERS: usize = 5;

#[test]
fn sigint_to_the_parent_of_a_running_pool_leaves_no_process() {
    signal_mid_run(
        pool_map_sum(),
        "pool_map_sum",
        POOL_MEMBERS,
        libc::SIGINT,
        false,
    );
}

#[test]
fn sigterm_to_the_parent_of_a_running_pool_leaves_no_process() {
    signal_mid_run(
        pool_map_sum(),
        "pool_map_sum",
        POOL_MEMBERS,
        libc::SIGTERM,
        false,
    );
}

#[test]
fn sigkill_to_the_parent_of_a_running_pool_leaves_no_process() {
    signal_mid_run(
        pool_map_sum(),
        "pool_map_sum",
        POOL_MEMBERS,
        libc::SIGKILL,
        false,
    );
}

#[test]
fn ctrl_c_to_the_group_of_a_running_pool_leaves_no_process() {
    signal_mid_run(
        pool_map_sum(),
        "pool_map_sum",
        POOL_MEMBERS,
        libc::SIGINT,
        true,
    );
}

#[test]
fn sigint_to_the_parent_of_a_running_pipeline_leaves_no_process() {
    signal_mid_run(
        mandelbrot_pipeline(),
        "mandelbrot_pipeline",
        PIPELINE_MEMBERS,
        libc::SIGINT,
        false,
    );
}

#[test]
fn sigterm_to_the_parent_of_a_running_pipeline_leaves_no_process() {
    signal_mid_run(
        mandelbrot_pipeline(),
        "mandelbrot_pipeline",
        PIPELINE_MEMBERS,
        libc::SIGTERM,
        false,
    );
}

#[test]
fn sigkill_to_the_parent_of_a_running_pipeline_leaves_no_process() {
    signal_mid_run(
        mandelbrot_pipeline(),
        "mandelbrot_pipeline",
        PIPELINE_MEMBERS,
        libc::SIGKILL,
        false,
    );
}

#[test]
fn sigint_to_the_parent_of_queue_makers_and_workers_leaves_no_process() {
    signal_mid_run(
        multi_work_queues(),
        "multi_work_queues",
        QUEUES_MEMBERS,
        libc::SIGINT,
        false,
    );
}

#[test]
fn sigterm_to_the_parent_of_queue_makers_and_workers_leaves_no_process() {
    signal_mid_run(
        multi_work_queues(),
        "multi_work_queues",
        QUEUES_MEMBERS,
        libc::SIGTERM,
        false,
    );
}

#[test]
fn sigkill_to_the_parent_of_queue_makers_and_workers_leaves_no_process() {
    signal_mid_run(
        multi_work_queues(),
        "multi_work_queues",
        QUEUES_MEMBERS,
        libc::SIGKILL,
        false,
    );
}

#[test]
fn ctrl_c_to_the_group_of_queue_makers_and_workers_leaves_no_process() {
    signal_mid_run(
        multi_work_queues(),
        "multi_work_queues",
        QUEUES_MEMBERS,
        libc::SIGINT,
        true,
    );
}
