//! D. Synchronisation: bank_account, lock_printers, deadlock, event_barrier_readers,
//! semaphore_slots, condition_handoff and barrier_phases.

use harness::{Run, example};
use std::collections::HashMap;

#[test]
fn locked_balance_is_exact() {
    // No sleeps and many rounds: the unlocked phase races hard, the locked one must not.
    for _ in 0..3 {
        let run = example!("bank_account")
            .args(["--sleep-ms", "0", "--rounds", "20000"])
            .run();
        run.expect_success();
        assert_eq!(run.one::<i64>("locked_balance"), 200);
    }
}

#[test]
fn unlocked_drift_is_reported_honestly() {
    let run = example!("bank_account")
        .args(["--sleep-ms", "0", "--rounds", "20000", "--initial", "1000"])
        .run();
    run.expect_success();
    let unlocked: i64 = run.one("unlocked_balance");
    let drift: i64 = run.one("unlocked_drift");
    assert_eq!(run.one::<i64>("expected"), 1000);
    assert_eq!(
        drift,
        unlocked - 1000,
        "drift is the distance from the expected balance"
    );
    assert!(
        drift.abs() <= 20_000,
        "each lost update moves the balance by one at most"
    );
    assert_eq!(run.one::<i64>("locked_balance"), 1000);
}

#[test]
fn seed_like_run_with_sleeps_ends_at_200() {
    let run = example!("bank_account")
        .args(["--rounds", "20", "--sleep-ms", "1"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<i64>("locked_balance"), 200);
    assert_eq!(run.one::<i64>("locked_drift"), 0);
}

#[test]
fn seed_defaults_are_one_flag_away() {
    // The seed's 100 rounds with 100 ms pauses take 20 s; a flag overrides the pause.
    let run = example!("bank_account")
        .args(["--seed-defaults", "--sleep-ms", "0"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<u32>("rounds"), 100);
    assert_eq!(run.one::<i64>("locked_balance"), 200);
}

#[test]
fn a_hidden_race_is_retried_then_explained() {
    // Either updates were lost, or the example said so (at most five attempts) and
    // printed the command that shows the race: which, the OS decides.
    let run = example!("bank_account").args(["--rounds", "20000"]).run();
    run.expect_success();
    let out = run.stdout();
    assert_eq!(run.one::<u32>("rounds"), 20_000);
    assert!(out.matches("lost nothing").count() <= 4, "{out}");
    let drift: i64 = run.one("unlocked_drift");
    assert_eq!(drift != 0, out.contains("Updates were lost"), "{out}");
    assert_eq!(drift == 0, out.contains("--rounds 10000000"), "{out}");
    assert_eq!(run.one::<i64>("locked_drift"), 0);
}

// ---------------------------------------------------------------------------------------
// lock_printers

const RULE: &str = "====================";

/// The printers' blocks, in output order: a rule, `(id) value` lines, a rule. A printer
/// that died holding the lock leaves a block cut short; the next holder's
/// `dead_holder_reported_by=` line closes it, and it is counted in `cut_short`.
struct Blocks {
    complete: Vec<Vec<(u32, u64)>>,
    cut_short: usize,
}

/// Parse the blocks and check each is whole: one printer's lines only, one line per slot;
/// per slot, counts never go down from one block to the next (blocks are printed one after
/// another, and counts only grow). `Err` says what is wrong.
fn whole_blocks(stdout: &str, workers: usize) -> Result<Blocks, String> {
    let mut complete = Vec::new();
    let mut cut_short = 0;
    let mut open: Option<Vec<(u32, u64)>> = None;
    for line in stdout.lines() {
        if line == RULE {
            match open.take() {
                None => open = Some(Vec::new()),
                Some(block) => complete.push(block),
            }
        } else if let Some(rest) = line.strip_prefix('(') {
            let (id, value) = rest.split_once(") ").ok_or(format!("bad line {line}"))?;
            let parsed = (id.parse().unwrap(), value.parse().unwrap());
            open.as_mut()
                .ok_or(format!("a printer's line outside any block: {line}"))?
                .push(parsed);
        } else if line.contains("dead_holder_reported_by=") {
            open.take()
                .ok_or("a report of a dead holder, but no block was cut short")?;
            cut_short += 1;
        }
    }
    if open.is_some() {
        return Err("a block was never closed".into());
    }
    let mut last = vec![0u64; workers];
    for block in &complete {
        if block.len() != workers {
            return Err(format!("not one line per slot: {block:?}"));
        }
        if block.iter().any(|&(p, _)| p != block[0].0) {
            return Err(format!("lines of two printers in one block: {block:?}"));
        }
        for (slot, &(_, v)) in block.iter().enumerate() {
            if v < last[slot] {
                return Err(format!("slot {slot} went down to {v} in {block:?}"));
            }
            last[slot] = v;
        }
    }
    Ok(Blocks {
        complete,
        cut_short,
    })
}

fn printer_blocks(run: &Run, workers: usize) -> Blocks {
    whole_blocks(&run.stdout(), workers).unwrap_or_else(|e| panic!("{e}\n{}", run.stdout()))
}

#[test]
fn a_printers_block_of_lines_is_never_interleaved_with_another() {
    for _ in 0..2 {
        let run = example!("lock_printers")
            .args(["--workers", "3", "--printers", "4", "--rounds", "25"])
            .args(["--max-sleep-ms", "1"])
            .run();
        run.expect_success();
        let blocks = printer_blocks(&run, 3);
        assert_eq!(
            blocks.complete.len(),
            100,
            "every printer printed every block"
        );
        assert_eq!(blocks.cut_short, 0);
        assert_eq!(run.one::<u32>("printers_inside_peak"), 1);
        assert_eq!(run.one::<u32>("blocks_started"), 100);
    }
}

#[test]
fn a_printer_killed_holding_the_lock_is_reported_to_the_next_and_the_others_finish() {
    let run = example!("lock_printers")
        .args(["--workers", "2", "--printers", "3", "--rounds", "4"])
        .args(["--max-sleep-ms", "1", "--kill-holder"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<i32>("killed_printer_exitcode"), -9);
    let reporter: u32 = run.one("dead_holder_reported_by");
    assert_ne!(reporter, 0, "printer 0 is the one killed");
    let blocks = printer_blocks(&run, 2);
    assert_eq!(blocks.cut_short, 1, "printer 0's block, cut short");
    assert_eq!(
        blocks.complete.len(),
        8,
        "the two others printed all their blocks"
    );
    assert!(blocks.complete.iter().all(|b| b[0].0 != 0));
    assert_eq!(
        run.one::<u32>("printers_inside_peak"),
        1,
        "the dead printer was counted out, not overlapped"
    );
}

#[test]
fn without_the_lock_the_overlap_is_measured_and_reported() {
    let run = example!("lock_printers")
        .args(["--workers", "2", "--printers", "3", "--rounds", "20"])
        .args(["--max-sleep-ms", "1", "--no-lock"])
        .run();
    run.expect_success();
    let peak: u32 = run.one("printers_inside_peak");
    assert!((1..=3).contains(&peak));
    assert_eq!(run.one::<u32>("blocks_started"), 60);
    // Mixed-up blocks in the output mean printers were inside at the same time.
    if let Err(mixed) = whole_blocks(&run.stdout(), 2) {
        assert!(peak > 1, "blocks mixed ({mixed}) but the peak says 1");
    }
}

// ---------------------------------------------------------------------------------------
// deadlock

#[test]
fn deadlock_demo_is_detected_and_exits_by_itself() {
    let run = example!("deadlock")
        .args(["--mode", "demo", "--timeout", "0.2"])
        .run();
    run.expect_success();
    assert!(run.one::<bool>("deadlock_detected"));
    assert_eq!(
        run.one::<u32>("timed_out_acquires"),
        2,
        "each process held one lock and gave up on the other"
    );
    assert!(run.values("fixed_completed").is_empty(), "demo only");
}

#[test]
fn deadlock_fixed_by_one_lock_order_completes_every_round() {
    let run = example!("deadlock")
        .args(["--mode", "fixed", "--rounds", "5000"])
        .run();
    run.expect_success();
    assert!(run.one::<bool>("fixed_completed"));
    assert_eq!(run.one::<u64>("fixed_rounds"), 10_000);
    assert!(run.values("deadlock_detected").is_empty(), "fixed only");
}

#[test]
fn deadlock_default_runs_the_demo_then_the_fix() {
    let run = example!("deadlock")
        .args(["--timeout", "0.1", "--rounds", "100"])
        .run();
    run.expect_success();
    assert!(run.one::<bool>("deadlock_detected"));
    assert!(run.one::<bool>("fixed_completed"));
}

// ---------------------------------------------------------------------------------------
// event_barrier_readers

fn snapshot_lines(run: &Run) -> usize {
    run.stdout()
        .lines()
        .filter(|l| l.starts_with("reader ") && l.contains(", snapshot "))
        .count()
}

#[test]
fn single_reader_checks_every_snapshot_and_each_is_consistent() {
    let run = example!("event_barrier_readers")
        .args(["--rounds", "200", "--sleep-ms", "0", "--timeout", "30"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("design"), "fixed");
    assert_eq!(run.one::<u32>("snapshots_checked"), 200);
    assert_eq!(run.one::<u32>("inconsistent_snapshots"), 0);
    assert!(!run.one::<bool>("deadlock_detected"));
    assert_eq!(snapshot_lines(&run), 200);
}

#[test]
fn fixed_multi_reader_design_keeps_every_snapshot_consistent() {
    let run = example!("event_barrier_readers")
        .args(["--readers", "3", "--fixed", "--rounds", "60"])
        .args(["--sleep-ms", "0", "--timeout", "30"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<u32>("snapshots_checked"), 180);
    assert_eq!(run.one::<u32>("inconsistent_snapshots"), 0);
    assert!(!run.one::<bool>("deadlock_detected"));
    assert_eq!(snapshot_lines(&run), 180);
}

#[test]
fn two_readers_with_the_seeds_design_fail_and_it_is_reported_not_hung() {
    // The seed's writers' barrier has room for one reader, but both readers and every writer
    // arrive each round, so every pass leaves one process behind. A reader left behind is a
    // certain deadlock (the other reader waits for it, the writers wait for the Event); a
    // writer left behind was still counting while the readers copied, unless it happened to
    // have stopped already, and that luck would have to repeat on every round.
    let run = example!("event_barrier_readers")
        .args(["--readers", "2", "--rounds", "50", "--sleep-ms", "0"])
        .args(["--timeout", "0.5"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("design"), "seed");
    let outcome: String = run.one("unsafe_outcome");
    let inconsistent: u32 = run.one("inconsistent_snapshots");
    let deadlock: bool = run.one("deadlock_detected");
    assert_eq!(outcome.contains("inconsistent_snapshots"), inconsistent > 0);
    assert_eq!(outcome.contains("deadlock_detected"), deadlock);
    assert!(
        inconsistent > 0 || deadlock,
        "the seed's design with two readers failed, and it was noticed: {outcome}"
    );
    assert!(run.one::<u32>("snapshots_checked") <= 100);
}

// ---------------------------------------------------------------------------------------
// semaphore_slots

#[test]
fn a_semaphore_of_n_never_has_more_than_n_holders_and_reaches_n() {
    for (slots, workers) in [(3u32, 6u32), (1, 4), (2, 2), (4, 9)] {
        let run = example!("semaphore_slots")
            .args([
                "--slots",
                &slots.to_string(),
                "--workers",
                &workers.to_string(),
            ])
            .args(["--rounds", "5", "--hold-ms", "1"])
            .run();
        run.expect_success();
        assert_eq!(
            run.one::<u32>("peak_holders"),
            slots,
            "peak with {slots} slots"
        );
        assert_eq!(run.one::<u32>("acquisitions"), workers * 5);
        assert_eq!(run.one::<u32>("free_slots_after_run"), slots);
    }
}

#[test]
fn a_bounded_semaphore_refuses_a_release_too_many_and_a_plain_one_does_not() {
    let run = example!("semaphore_slots")
        .args([
            "--slots",
            "2",
            "--workers",
            "3",
            "--rounds",
            "1",
            "--hold-ms",
            "0",
        ])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("bounded_over_release"), "error");
    assert_eq!(run.one::<u32>("bounded_value_after_over_release"), 2);
    assert_eq!(run.one::<String>("unbounded_over_release"), "accepted");
    assert_eq!(run.one::<u32>("unbounded_value_after_over_release"), 3);
}

// ---------------------------------------------------------------------------------------
// condition_handoff

fn assert_every_item_consumed_once(run: &Run, n: u32) {
    run.expect_success();
    assert_eq!(run.one::<u32>("consumed_once"), n);
    assert_eq!(run.one::<u32>("duplicates"), 0);
    assert_eq!(run.one::<u32>("missing"), 0);
    assert_eq!(run.one::<u32>("left_in_buffer"), 0);
    let taken: u32 = run.parsed::<u32>("taken_by_consumer").iter().sum();
    assert_eq!(taken, n, "the consumers' own counts add up");
}

#[test]
fn every_item_is_consumed_exactly_once() {
    for args in [
        [
            "--n",
            "2000",
            "--producers",
            "2",
            "--consumers",
            "3",
            "--capacity",
            "2",
        ],
        [
            "--n",
            "500",
            "--producers",
            "1",
            "--consumers",
            "1",
            "--capacity",
            "1",
        ],
        [
            "--n",
            "1000",
            "--producers",
            "3",
            "--consumers",
            "2",
            "--capacity",
            "64",
        ],
    ] {
        let run = example!("condition_handoff").args(args).run();
        assert_every_item_consumed_once(&run, args[1].parse().unwrap());
    }
}

#[test]
fn a_consumer_killed_while_waiting_does_not_swallow_a_handoff() {
    // One live consumer and a one-item buffer: if a notify were spent on the dead waiter,
    // the live one would sleep, the buffer would stay full and the run would hang.
    let run = example!("condition_handoff")
        .args(["--n", "300", "--producers", "1", "--consumers", "1"])
        .args(["--capacity", "1", "--kill-waiter"])
        .run();
    assert_every_item_consumed_once(&run, 300);
    assert_eq!(run.one::<i32>("killed_waiter_exitcode"), -9);
}

// ---------------------------------------------------------------------------------------
// barrier_phases

#[test]
fn exactly_one_waiter_gets_index_zero_per_pass_and_nobody_runs_ahead() {
    let run = example!("barrier_phases")
        .args(["--workers", "4", "--passes", "1000", "--max-sleep-ms", "0"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<u32>("passes"), 1000);
    assert_eq!(run.one::<u32>("zero_index_per_pass"), 1000);
    assert_eq!(run.one::<u32>("action_runs"), 1000);
    assert_eq!(run.one::<u32>("ahead_violations"), 0);
    // One "phase k: all N finished" line per phase, from the index-0 worker.
    let mut per_phase: HashMap<u32, u32> = HashMap::new();
    for line in run.stdout().lines() {
        if let Some(rest) = line.strip_prefix("phase ") {
            let k = rest.split(':').next().unwrap().parse().unwrap();
            *per_phase.entry(k).or_default() += 1;
        }
    }
    assert_eq!(per_phase.len(), 1000);
    assert!(per_phase.values().all(|&c| c == 1));
}

#[test]
fn phases_of_uneven_length_stay_in_step() {
    let run = example!("barrier_phases")
        .args(["--workers", "3", "--passes", "20", "--max-sleep-ms", "5"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<u32>("zero_index_per_pass"), 20);
    assert_eq!(run.one::<u32>("ahead_violations"), 0);
}

// ---------------------------------------------------------------------------------------
// bad input

#[test]
fn synchronisation_examples_reject_nonsense() {
    let cases: &[(&str, &[&str])] = &[
        ("lock_printers", &["--kill-holder", "--printers", "1"]),
        ("lock_printers", &["--kill-holder", "--no-lock"]),
        ("lock_printers", &["--workers", "0"]),
        ("deadlock", &["--mode", "sideways"]),
        ("deadlock", &["--timeout", "-1"]),
        ("event_barrier_readers", &["--readers", "0"]),
        ("event_barrier_readers", &["--timeout", "soon"]),
        ("semaphore_slots", &["--slots", "3", "--workers", "2"]),
        ("semaphore_slots", &["--slots", "0"]),
        ("condition_handoff", &["--capacity", "0"]),
        ("barrier_phases", &["--workers", "0"]),
        ("barrier_phases", &["--max-sleep-ms", "-1"]),
    ];
    for (name, args) in cases {
        let run = harness::Example::by_name(name).args(*args).run();
        run.expect_usage_error();
    }
}
