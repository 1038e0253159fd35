//! A. Processes: the invariants of process_info, process_names, global_state,
//! process_exitcodes and calculate_e, checked by running the real binaries.

use harness::example;
use std::collections::HashSet;

#[test]
fn child_pids_are_distinct_and_their_parent_is_the_parent() {
    let run = example!("process_info")
        .args(["--n", "1000,2000,3000"])
        .run();
    run.expect_success();
    let parent: u32 = run.one("parent_pid");
    let pids: Vec<u32> = run.parsed("child_pid");
    assert_eq!(pids.len(), 3, "one child per size");
    assert_eq!(
        pids.iter().collect::<HashSet<_>>().len(),
        3,
        "pids distinct"
    );
    assert!(!pids.contains(&parent), "no child has the parent's pid");
    let ppids: Vec<u32> = run.parsed("child_ppid");
    assert_eq!(ppids, vec![parent; 3], "every child's parent is the parent");
    let started: HashSet<u32> = run.parsed("started_pid").into_iter().collect();
    assert_eq!(
        started,
        pids.into_iter().collect(),
        "the parent's handles name the same pids"
    );
}

#[test]
fn children_are_alive_before_join_and_not_after() {
    let run = example!("process_info").args(["--n", "10,10"]).run();
    run.expect_success();
    assert_eq!(run.values("alive_before_join"), ["true", "true"]);
    assert_eq!(run.values("alive_after_join"), ["false", "false"]);
    assert_eq!(run.values("exitcode"), ["0", "0"]);
}

#[test]
fn names_given_and_default_names_are_seen_inside_the_children() {
    let run = example!("process_names")
        .args(["--n", "100,200", "--unnamed", "2"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<String>("main_name"), "MainProcess");
    let expected = ["process 1", "process 2", "Process-3", "Process-4"];
    for (i, name) in expected.iter().enumerate() {
        let i = i + 1;
        assert_eq!(run.one::<String>(&format!("given_{i}")), *name);
        assert_eq!(
            run.one::<String>(&format!("name_{i}")),
            *name,
            "name inside child {i}"
        );
        assert_eq!(
            run.one::<String>(&format!("comm_{i}")),
            *name,
            "OS name of child {i}"
        );
    }
}

#[test]
fn os_name_is_cut_to_fifteen_bytes() {
    // Four named processes: "process 1".."process 4" fit; the kernel keeps 15 bytes of any
    // longer name, which the library cuts on a character boundary.
    let run = example!("process_names")
        .args(["--n", "1,1,1,1", "--unnamed", "0"])
        .run();
    run.expect_success();
    for i in 1..=4 {
        assert_eq!(
            run.one::<String>(&format!("comm_{i}")),
            format!("process {i}")
        );
    }
}

#[test]
fn each_child_sees_only_its_own_slot_and_the_parent_sees_none() {
    let run = example!("global_state")
        .args(["--n", "100,700,400,200"])
        .run();
    run.expect_success();
    let slots = [
        "[True, None, None, None]",
        "[None, True, None, None]",
        "[None, None, True, None]",
        "[None, None, None, True]",
    ];
    for (i, seen) in slots.iter().enumerate() {
        assert_eq!(run.one::<String>(&format!("seen_by_{}", i + 1)), *seen);
    }
    assert_eq!(
        run.one::<String>("parent_final"),
        "[None, None, None, None]"
    );
}

#[test]
fn exit_codes_follow_python() {
    let run = example!("process_exitcodes")
        .args(["--code", "7", "--join-timeout", "0.05"])
        .run();
    run.expect_success();
    assert_eq!(run.one::<i32>("exitcode_ok"), 0);
    assert_eq!(run.one::<i32>("exitcode_exit"), 7);
    assert_eq!(run.one::<i32>("exitcode_panic"), 1);
    assert_eq!(run.one::<i32>("exitcode_terminate"), -15);
    assert_eq!(run.one::<i32>("exitcode_kill"), -9);
    assert!(
        run.stderr().contains("something went wrong in the child"),
        "panic message on stderr"
    );
    assert!(
        run.stderr().contains("Process Process-3"),
        "panic banner names the process"
    );
}

#[test]
fn join_with_a_timeout_returns_while_the_child_runs() {
    let run = example!("process_exitcodes")
        .args(["--join-timeout", "0"])
        .run();
    run.expect_success();
    assert_eq!(
        run.one::<String>("alive_after_join_timeout_terminate"),
        "true"
    );
    assert_eq!(run.one::<String>("alive_after_join_timeout_kill"), "true");
}

#[test]
fn e_comes_back_from_a_named_child_and_it_stops_within_100_ms_of_the_event() {
    let run = example!("calculate_e").args(["--seconds", "0.2"]).run();
    run.expect_success();
    let e: f64 = run.one("e");
    assert!((e - std::f64::consts::E).abs() < 1e-12, "e = {e}");
    let main: u32 = run.one("main_pid");
    let child: u32 = run.one("run_pid");
    assert_ne!(child, main, "run() ran in a child process");
    assert_eq!(run.one::<String>("run_name"), "calculate_e_process");
    let latency: f64 = run.one("stop_latency_ms");
    assert!(
        latency < 100.0,
        "the result arrived {latency} ms after the event"
    );
    assert_eq!(run.one::<i32>("exitcode"), 0);
}

#[test]
fn inline_runs_run_in_the_calling_process() {
    let run = example!("calculate_e")
        .args(["--inline", "--seconds", "0.05"])
        .run();
    run.expect_success();
    let e: f64 = run.one("e");
    assert!((e - std::f64::consts::E).abs() < 1e-12, "e = {e}");
    assert_eq!(run.one::<u32>("run_pid"), run.one::<u32>("main_pid"));
    assert_eq!(run.one::<String>("run_name"), "MainProcess");
}

#[test]
fn calculate_e_rejects_a_negative_or_non_numeric_duration() {
    for bad in ["-1", "soon", "inf"] {
        let run = example!("calculate_e").args(["--seconds", bad]).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for --seconds {bad}");
    }
}

/// One line per method: its `key=value` words.
fn method_lines(
    stdout: &str,
) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("method="))
        .map(|l| {
            let words: std::collections::HashMap<String, String> = l
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (words["method"].clone(), words)
        })
        .collect()
}

#[test]
fn start_methods_refuse_fork_with_threads_and_run_forkserver_and_spawn() {
    let run = example!("start_methods")
        .args(["--n", "1000", "--repeat", "3"])
        .run();
    run.expect_success();
    let lines = method_lines(&run.stdout());
    assert_eq!(lines.len(), 3, "one line per method:\n{}", run.stdout());
    assert_eq!(
        lines["fork"]["ok"], "false",
        "fork is refused while threads run"
    );
    assert!(
        run.stdout().contains("threads are running"),
        "the refusal says why:\n{}",
        run.stdout()
    );
    for method in ["forkserver", "spawn"] {
        assert_eq!(lines[method]["ok"], "true", "{method}");
        assert_eq!(lines[method]["result"], "500500", "{method}");
        assert_eq!(lines[method]["starts"], "3", "{method}");
    }
}
