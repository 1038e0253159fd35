//! B. Communication: pipe_greeting, queue_squares and queue_sentinel.

use harness::example;
use predicates::prelude::*;

#[test]
fn the_greeting_arrives_intact_as_object_and_as_bytes() {
    let run = example!("pipe_greeting").run();
    run.expect_success();
    assert_eq!(run.one::<String>("received"), "Hello from process_one");
    assert_eq!(
        run.one::<String>("received_bytes"),
        "Hello from process_one"
    );
    assert_eq!(run.values("exitcode"), ["0"; 4]);
}

#[test]
fn sender_and_receiver_are_different_processes() {
    let run = example!("pipe_greeting").args(["--mode", "object"]).run();
    run.expect_success();
    let sender: u32 = run.one("sender_pid");
    let receiver: u32 = run.one("receiver_pid");
    assert_ne!(sender, receiver);
    assert_ne!(sender, std::process::id());
}

#[test]
fn recv_after_the_sender_exits_reports_closed() {
    let run = example!("pipe_greeting")
        .args(["--mode", "bytes", "--message", "ünïcødé | bytes"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("received_bytes"), "ünïcødé | bytes");
    assert_eq!(run.values("after_sender_exit"), ["closed"]);
}

#[test]
fn records_come_out_in_order_and_both_queues_end_empty() {
    let run = example!("queue_squares").run();
    run.assert().success().stdout(predicate::str::contains(
        "Within main: {'idx': 0, 'n_sq': '4'}",
    ));
    assert_eq!(run.values("q1_record"), ["0:4", "1:9", "2:25"]);
    assert_eq!(run.values("q2_record"), ["0:25", "1:36", "2:49"]);
    assert_eq!(run.one::<String>("q1_empty"), "true");
    assert_eq!(run.one::<String>("q2_empty"), "true");
}

#[test]
fn joining_before_draining_does_not_deadlock_with_lots_of_data() {
    // 3 x 20,000 records per queue is far more than a 64 KiB pipe holds: Python's join()
    // would deadlock here.
    let run = example!("queue_squares").args(["--repeat", "20000"]).run();
    run.expect_success();
    let q1 = run.values("q1_record");
    assert_eq!(q1.len(), 60_000);
    let squares = ["4", "9", "25"];
    for (i, r) in q1.iter().enumerate() {
        assert_eq!(*r, format!("{i}:{}", squares[i % 3]));
    }
    assert_eq!(run.values("q2_record").len(), 60_000);
    assert_eq!(run.one::<String>("q1_empty"), "true");
}

#[test]
fn every_item_is_received_once_in_order_then_both_exit_cleanly() {
    let run = example!("queue_sentinel").args(["--n", "500"]).run();
    run.expect_success();
    let got: Vec<u64> = run.parsed("got");
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    assert_eq!(run.one::<u64>("received"), 500);
    assert_eq!(run.one::<i32>("maker_exitcode"), 0);
    assert_eq!(run.one::<i32>("worker_exitcode"), 0);
    assert_eq!(run.one::<usize>("left_in_queue"), 0);
}

#[test]
fn zero_items_still_ends_on_the_sentinel() {
    let run = example!("queue_sentinel").args(["--n", "0"]).run();
    run.expect_success();
    assert!(run.values("got").is_empty());
    assert_eq!(run.one::<u64>("received"), 0);
}
