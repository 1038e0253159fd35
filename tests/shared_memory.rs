//! C. Shared memory: array_squares and value_and_array.

use harness::example;

#[test]
fn squares_are_seen_inside_and_outside() {
    let run = example!("array_squares").run();
    run.expect_success();
    assert_eq!(run.one::<String>("inside"), "[4, 9, 25]");
    assert_eq!(run.one::<String>("outside"), "[4, 9, 25]");
}

#[test]
fn other_numbers_are_squared_too() {
    let run = example!("array_squares")
        .args(["--numbers", "-4,0,11,12"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("outside"), "[16, 0, 121, 144]");
}

#[test]
fn parent_sees_the_array_and_the_value() {
    let run = example!("value_and_array").run();
    run.expect_success();
    assert_eq!(run.one::<String>("inside"), "[4, 9, 25]");
    assert_eq!(run.one::<String>("outside"), "[4, 9, 25]");
    assert_eq!(run.one::<f64>("inside_value"), 5.0);
    assert_eq!(run.one::<f64>("outside_value"), 5.0);
}

#[test]
fn a_negative_value_is_shared_as_well() {
    let run = example!("value_and_array")
        .args(["--value", "-2.5", "--numbers", "3"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<f64>("outside_value"), -2.5);
    assert_eq!(run.one::<String>("outside"), "[9]");
}
