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

// ---- issue 10, items 3-5 -------------------------------------------------------------

use harness::Example;
use std::time::Duration;

/// A run that clap (or the example's own check) refuses before any work: exit 2, a usage
/// error naming `flag`.
fn refuses(example: Example, flag: &str) {
    let run = example.timeout(Duration::from_secs(30)).run();
    run.expect_usage_error();
    assert!(
        run.stderr().contains(flag),
        "the message should name {flag}:\n{}",
        run.stderr()
    );
}

#[test]
fn out_of_range_numeric_flags_are_usage_errors_naming_the_flag() {
    let max = "18446744073709551615";
    let table: &[(&str, &[&str], &str)] = &[
        ("added_ab", &["--n", max], "--n"),
        ("amdahl", &["--n", max], "--n"),
        ("amdahl", &["--trials", "100000"], "--trials"),
        ("array_squares", &["--numbers", "2,46341"], "--numbers"),
        (
            "bank_account",
            &["--initial", "9223372036854775807"],
            "--initial",
        ),
        ("bank_account", &["--rounds", "4294967295"], "--rounds"),
        ("barrier_phases", &["--passes", "0"], "--passes"),
        ("big_sum_ab", &["-n", max], "--n"),
        ("calculate_e", &["--seconds", "1e300"], "--seconds"),
        ("condition_handoff", &["--n", max], "--n"),
        ("deadlock", &["--rounds", "4294967295"], "--rounds"),
        ("dir_info_and_e", &["--interval", "1e30"], "--interval"),
        (
            "event_barrier_readers",
            &["--rounds", "4294967295"],
            "--rounds",
        ),
        ("event_barrier_readers", &["--sleep-ms", max], "--sleep-ms"),
        ("global_state", &["--n", max], "--n"),
        (
            "global_state",
            &["--n", "100000000,100000000,100000000"],
            "--n",
        ),
        ("lock_printers", &["--rounds", "4294967295"], "--rounds"),
        ("mandelbrot_pipeline", &["--batch", "4294967295"], "--batch"),
        ("multi_work_queues", &["--decay", "1e-300"], "--decay"),
        ("parallel_reduction", &["--n", max], "--n"),
        ("pool_apply_async", &["--seconds", "1e300"], "--seconds"),
        ("pool_benchmark", &[max], "[N]"),
        ("pool_benchmark", &["--trials", max], "--trials"),
        ("pool_map_sum", &["--n", max], "--n"),
        ("pool_map_variants", &["--repeat", max], "--repeat"),
        ("pool_stop_event", &["--seconds", "1e300"], "--seconds"),
        ("task_timeouts", &["--timeout-ms", max], "--timeout-ms"),
        ("task_timeouts", &["--normal", max], "--normal"),
        ("task_timeouts", &["--hung", "65"], "--hung"),
        (
            "process_exitcodes",
            &["--join-timeout", "1e300"],
            "--join-timeout",
        ),
        ("process_info", &["--n", max], "--n"),
        (
            "process_logging",
            &["--message-bytes", max],
            "--message-bytes",
        ),
        ("process_logging", &["--records", "4294967295"], "--records"),
        ("process_names", &["--unnamed", max], "--unnamed"),
        ("process_names", &["--n", max], "--n"),
        ("queue_sentinel", &["--n", max], "--n"),
        ("queue_squares", &["--repeat", max], "--repeat"),
        ("queue_squares", &["--numbers1", "3037000500"], "--numbers1"),
        ("semaphore_slots", &["--rounds", "4294967295"], "--rounds"),
        (
            "threads_share_globals",
            &["--numbers", "3037000500"],
            "--numbers",
        ),
        (
            "threads_vs_processes",
            &["--numbers", "2097152"],
            "--numbers",
        ),
        (
            "threads_vs_processes",
            &["--cpu-rounds", max],
            "--cpu-rounds",
        ),
        (
            "unsafe_vs_safe_writers",
            &["--rounds", "4294967295"],
            "--rounds",
        ),
        ("value_and_array", &["--value", "inf"], "--value"),
        ("value_reader_writer", &["--seconds", "1e300"], "--seconds"),
    ];
    for (name, args, flag) in table {
        refuses(Example::by_name(name).args(*args), flag);
    }
}

#[test]
fn too_many_workers_is_a_usage_error_on_every_pool_example() {
    for name in [
        "added_ab",
        "parallel_reduction",
        "pool_apply_async",
        "pool_map_sum",
        "pool_map_variants",
        "pool_stop_event",
        "process_pool_executor",
        "starmap_hello",
        "task_parallel",
        "task_timeouts",
    ] {
        refuses(
            Example::by_name(name).args(["--workers", "100000"]),
            "--workers",
        );
    }
    refuses(example!("big_sum_ab").args(["-p", "100000"]), "--processes");
    refuses(example!("pool_benchmark").args(["1000", "100000"]), "[P]");
    refuses(
        example!("dir_info_and_e").args(["--interval", "0"]),
        "--interval",
    );
}

/// A child that cannot allocate its numbers (address space limited with `prlimit`, which
/// execs the example in place) dies by SIGABRT: the parent must fail, naming it.
#[test]
fn a_failing_child_fails_the_example() {
    let bin = env!("CARGO_BIN_EXE_process_info");
    let run = Example::new("process_info", "prlimit")
        .args(["--as=600000000", "--", bin, "--n", "100000000,10"])
        .run();
    run.expect_code(1);
    assert!(
        run.stderr().contains("exited with"),
        "the parent should say which child failed:\n{}",
        run.stderr()
    );
}

/// A bad output path fails at once, naming the path: the short timeout is far less than
/// the rendering takes in a debug build, so an example that computed first times out.
#[test]
fn output_paths_are_checked_before_the_work_and_named() {
    let png = "/nonexistent/dir/x.png";
    let run = example!("mandelbrot_pipeline")
        .args(["--output", png, "--pixdim", "3000"])
        .timeout(Duration::from_secs(20))
        .run();
    run.expect_code(1);
    assert!(run.stderr().contains(png), "{}", run.stderr());
    let log = "/nonexistent/dir/x.log";
    let run = example!("process_logging")
        .args(["--file", log, "--records", "20000", "--workers", "8"])
        .timeout(Duration::from_secs(20))
        .run();
    run.expect_code(1);
    assert!(run.stderr().contains(log), "{}", run.stderr());
}

/// Default outputs go to new files in the temp directory: a symlink planted at the old
/// fixed name is neither followed nor replaced.
#[test]
fn default_outputs_do_not_follow_a_planted_symlink() {
    for (name, fixed, args) in [
        (
            "mandelbrot_pipeline",
            "mandelbrot_pipeline.png",
            &["--pixdim", "20", "--workers", "2"][..],
        ),
        (
            "process_logging",
            "process_logging.log",
            &["--workers", "2", "--records", "2", "--no-console"][..],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let temp_dir = tmp.path().join("tmp");
        std::fs::create_dir(&temp_dir).unwrap();
        std::os::unix::fs::symlink(&victim, temp_dir.join(fixed)).unwrap();
        let run = Example::by_name(name)
            .args(args)
            .env("TMPDIR", &temp_dir)
            .run();
        run.expect_success();
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{name}"
        );
        // The `png_path=` or `log_path=` word of the sentence that says where it went.
        let stdout = run.stdout();
        let path = (stdout.split_whitespace())
            .find_map(|w| w.strip_prefix("png_path=").or(w.strip_prefix("log_path=")))
            .expect("the example says where its file went");
        let path = std::path::Path::new(path);
        assert!(
            path.starts_with(&temp_dir) && path != temp_dir.join(fixed),
            "{name}: {path:?}"
        );
        assert!(std::fs::metadata(path).unwrap().len() > 0, "{name}");
    }
}

/// `example | head -1`: stdout closed after one line. The example ends quietly (by
/// SIGPIPE, as `cat` does, or with success if it had nothing more to say), with no panic
/// on stderr and no process of its group left.
#[test]
fn a_closed_stdout_ends_the_example_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let table: &[(&str, &[&str])] = &[
        ("process_info", &["--n", "10,20"]),
        ("queue_sentinel", &["--n", "2000"]),
        ("calculate_e", &["--seconds", "0.1"]),
        (
            "barrier_phases",
            &["--workers", "3", "--passes", "50", "--max-sleep-ms", "1"],
        ),
        ("pool_map_variants", &["--workers", "2", "--repeat", "50"]),
        (
            "lock_printers",
            &["--printers", "3", "--rounds", "50", "--max-sleep-ms", "1"],
        ),
        ("global_state", &["--n", "10,20,30"]),
        ("starmap_hello", &["--workers", "2"]),
    ];
    for (name, args) in table {
        let bin = Example::by_name(name);
        let _ = bin; // checks that the binary exists
        let exe = std::env::current_exe().unwrap();
        let path = exe.parent().unwrap().parent().unwrap().join(name);
        let mut child = std::process::Command::new(path)
            .args(*args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        drop(out);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success() || status.signal() == Some(libc_sigpipe()),
            "{name}: {status:?}\n{err}"
        );
        assert!(err.is_empty(), "{name} printed on stderr:\n{err}");
        // Children die with the main process (PR_SET_PDEATHSIG); allow them a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let members = group_members(pgid.as_raw());
            if members.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} left processes behind: {members:?}"
            );
            // Orphans come to this test process when another test made it a subreaper:
            // reap exactly those of this group, never anyone else's child.
            for (pid, state) in members {
                if state == 'Z' {
                    let _ = nix::sys::wait::waitpid(
                        nix::unistd::Pid::from_raw(pid),
                        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Every process whose process group is `pgid`, with its state letter (from /proc).
fn group_members(pgid: i32) -> Vec<(i32, char)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            members.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    members
}

fn libc_sigpipe() -> i32 {
    nix::sys::signal::Signal::SIGPIPE as i32
}
