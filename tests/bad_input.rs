//! Nonsensical values are usage errors: clap's message naming the bad value, pointing to
//! `--help`, and exit code 2.

use harness::example;

fn rejects(run: harness::Run) {
    run.expect_usage_error();
}

#[test]
fn sizes_must_be_whole_non_negative_numbers() {
    rejects(example!("process_info").args(["--n", "-5"]).run());
    rejects(example!("global_state").args(["--n", "ten"]).run());
    rejects(example!("process_names").args(["--unnamed", "-1"]).run());
}

#[test]
fn exit_code_must_fit_in_a_byte() {
    rejects(example!("process_exitcodes").args(["--code", "256"]).run());
    rejects(
        example!("process_exitcodes")
            .args(["--join-timeout", "-1"])
            .run(),
    );
}

#[test]
fn numbers_must_be_integers() {
    rejects(example!("array_squares").args(["--numbers", "2,x,5"]).run());
    rejects(example!("value_and_array").args(["--value", "five"]).run());
    rejects(example!("queue_squares").args(["--numbers1", "1.5"]).run());
    rejects(example!("queue_squares").args(["--repeat", "0"]).run());
}

#[test]
fn durations_and_counts_must_make_sense() {
    rejects(example!("bank_account").args(["--sleep-ms", "-3"]).run());
    rejects(example!("bank_account").args(["--rounds", "many"]).run());
    rejects(example!("queue_sentinel").args(["--n", "-1"]).run());
    rejects(
        example!("pipe_greeting")
            .args(["--mode", "telepathy"])
            .run(),
    );
}
