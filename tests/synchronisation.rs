//! D. Synchronisation: bank_account.

use harness::example;

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
}
