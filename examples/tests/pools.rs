//! E. Pools and data parallelism: the invariants of pool_map_sum, pool_apply_async,
//! pool_map_variants, pool_stop_event, added_ab, big_sum_ab, parallel_reduction,
//! pool_benchmark, task_parallel, starmap_hello, pool_in_tokio, process_pool_executor and
//! task_timeouts, checked by running the real binaries.
//! Timings are printed by some of them and never asserted. The library's own pool checks
//! (panics, dead workers, timeouts, empty input) are in the root package's tests/pool.rs.

mod words;

use harness::example;
use std::collections::HashMap;
use std::str::FromStr;
use words::Words;

/// Seed 001's printed result for its 15 points.
const SEED_ORBITS: [u32; 15] = [49, 23, 47, 43, 18, 39, 59, 69, 60, 23, 47, 43, 18, 39, 57];

/// A comma-separated `key=value` list ("" is the empty list).
fn list<T: FromStr>(value: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(|v| v.parse().expect(value)).collect()
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v
}

#[test]
fn apply_async_gives_the_seed_orbits_in_submission_order() {
    let run = example!("pool_apply_async").args(["--seconds", "0"]).run();
    run.expect_success();
    assert_eq!(list::<u32>(&run.word::<String>("results")), SEED_ORBITS);
    assert_eq!(run.word::<String>("ready_after_get"), "true,true,true");
    assert_eq!(list::<bool>(&run.word::<String>("successful")), [true; 15]);
}

#[test]
fn ready_is_false_before_the_go_event_and_true_after() {
    for _ in 0..3 {
        let run = example!("pool_apply_async").args(["--workers", "2"]).run();
        run.expect_success();
        assert_eq!(run.word::<String>("ready_before"), "false,false,false");
        let after = run.words("ready_after");
        assert_eq!(after.last().map(String::as_str), Some("true,true,true"));
    }
}

#[test]
fn a_timed_out_get_leaves_the_task_running_and_a_later_get_returns_its_result() {
    let run = example!("pool_apply_async")
        .args([
            "--seconds",
            "0",
            "--workers",
            "2",
            "--slow",
            "--get-timeout",
            "0.1",
        ])
        .run();
    run.expect_success();
    assert_eq!(run.word::<String>("slow_get_timeout"), "timed_out");
    assert!(!run.word::<bool>("slow_ready_after_timeout"));
    assert_eq!(run.word::<u32>("slow_result"), SEED_ORBITS[0]);
}

#[test]
fn pool_map_sum_is_3332833350000000_serial_and_pooled() {
    let run = example!("pool_map_sum").args(["--workers", "2"]).run();
    run.expect_success();
    assert_eq!(run.word::<u64>("pool_sum"), 3_332_833_350_000_000);
    assert_eq!(run.word::<u64>("serial_sum"), 3_332_833_350_000_000);
}

#[test]
fn pool_map_sum_over_fewer_calls_is_that_many_times_f() {
    let f: u64 = (0..10_000u64).map(|x| x * x).sum();
    for (n, workers) in [("0", "1"), ("7", "3")] {
        let run = example!("pool_map_sum")
            .args(["--n", n, "--workers", workers])
            .run();
        run.expect_success();
        let n: u64 = n.parse().unwrap();
        assert_eq!(run.word::<u64>("pool_sum"), n * f);
        assert_eq!(run.word::<u64>("serial_sum"), n * f);
    }
}

const VARIANTS: [&str; 6] = [
    "map",
    "map_async",
    "starmap",
    "starmap_async",
    "imap",
    "imap_unordered",
];

/// Run pool_map_variants and return each variant's results.
fn variants(chunksize: Option<&str>, repeat: usize) -> HashMap<&'static str, Vec<u32>> {
    let mut args = vec![
        "--workers".to_string(),
        "3".into(),
        "--repeat".into(),
        repeat.to_string(),
    ];
    if let Some(k) = chunksize {
        args.extend(["--chunksize".to_string(), k.to_string()]);
    }
    let run = example!("pool_map_variants").args(args).run();
    run.expect_success();
    VARIANTS
        .iter()
        .map(|&v| (v, list(&run.word::<String>(v))))
        .collect()
}

#[test]
fn every_map_variant_gives_the_seed_orbits_for_chunksizes_1_3_and_default() {
    for chunksize in [None, Some("1"), Some("3")] {
        for repeat in [1, 3] {
            let want: Vec<u32> = SEED_ORBITS.repeat(repeat);
            let got = variants(chunksize, repeat);
            for v in VARIANTS {
                if v == "imap_unordered" {
                    assert_eq!(
                        sorted(&got[v]),
                        sorted(&want),
                        "{v}: the same multiset, chunksize {chunksize:?}, repeat {repeat}"
                    );
                } else {
                    assert_eq!(
                        got[v], want,
                        "{v}: in input order, chunksize {chunksize:?}, repeat {repeat}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_empty_input_gives_an_empty_result_in_every_variant() {
    for chunksize in [None, Some("3")] {
        let got = variants(chunksize, 0);
        for v in VARIANTS {
            assert!(
                got[v].is_empty(),
                "{v}, chunksize {chunksize:?}: {:?}",
                got[v]
            );
        }
    }
}

#[test]
fn an_event_created_before_the_pool_stops_calculate_e_at_e() {
    let run = example!("pool_stop_event")
        .args(["--seconds", "0.5", "--workers", "2"])
        .run();
    run.expect_success();
    assert!(
        !run.word::<bool>("ready_before_set"),
        "calculate_e runs until the event is set"
    );
    let e: f64 = run.word("e");
    assert!((e - std::f64::consts::E).abs() < 1e-12, "e = {e}");
}

#[test]
fn added_ab_is_10_12_up_to_28_in_three_aligned_rows() {
    let run = example!("added_ab").args(["--workers", "3"]).run();
    run.expect_success();
    let out = run.stdout();
    assert!(
        out.contains("  [  0,  1,  2,  3,  4,  5,  6,  7,  8,  9 ]"),
        "{out}"
    );
    assert!(
        out.contains("+ [ 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 ]"),
        "{out}"
    );
    assert!(
        out.contains("= [ 10, 12, 14, 16, 18, 20, 22, 24, 26, 28 ]"),
        "{out}"
    );
}

/// The partial sums seed 003's `chunk_list(data, chunks=p)` gives for `values`.
fn partials(values: &[u64], p: usize) -> Vec<u64> {
    let size = values.len().div_ceil(p).max(1);
    values.chunks(size).map(|c| c.iter().sum()).collect()
}

/// The value of the one `key=value` word of stdout for `key` (the examples that print each
/// fact once, in sentences). A `,` `;` `:` or `.` right after a value ends the clause, not the
/// value.
fn word<T: FromStr>(run: &harness::Run, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let prefix = format!("{key}=");
    let stdout = run.stdout();
    let found: Vec<&str> = stdout
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(prefix.as_str()))
        .map(|v| v.trim_end_matches([',', ';', ':', '.']))
        .collect();
    assert_eq!(found.len(), 1, "expected one {key}= word\n{stdout}");
    found[0]
        .parse()
        .unwrap_or_else(|e| panic!("{key}={} does not parse: {e:?}", found[0]))
}

#[test]
fn big_sum_ab_is_n_2n_minus_1_and_the_serial_sum_for_1_2_3_and_7_processes() {
    let n: u64 = 1000;
    let added: Vec<u64> = (0..n).map(|i| 2 * i + n).collect();
    for p in [1, 2, 3, 7] {
        let run = example!("big_sum_ab")
            .args(["-n", &n.to_string(), "-p", &p.to_string(), "-q"])
            .run();
        run.expect_success();
        assert_eq!(word::<u64>(&run, "sum"), n * (2 * n - 1), "{p} processes");
        assert_eq!(word::<u64>(&run, "serial_sum"), n * (2 * n - 1));
        assert!(word::<bool>(&run, "added_equals_serial"));
        assert_eq!(
            list::<u64>(&word::<String>(&run, "partial_sums")),
            partials(&added, p),
            "one partial sum per chunk, {p} processes"
        );
        // Zero-copy: the same partial sums, and the frozen A + B buffer is the serial one.
        assert_eq!(word::<u64>(&run, "shared_sum"), n * (2 * n - 1));
        assert!(word::<bool>(&run, "shared_added_equals_serial"));
        assert_eq!(
            list::<u64>(&word::<String>(&run, "shared_partial_sums")),
            partials(&added, p),
            "one claimed range per task, {p} processes"
        );
        assert_eq!(word::<usize>(&run, "processes"), p);
    }
}

#[test]
fn big_sum_ab_on_the_seed_defaults_prints_the_rows_and_190() {
    let run = example!("big_sum_ab").args(["-p", "2"]).run();
    run.expect_success();
    assert_eq!(word::<u64>(&run, "sum"), 190);
    assert_eq!(word::<u64>(&run, "shared_sum"), 190);
    assert!(
        run.stdout()
            .contains("= [ 10, 12, 14, 16, 18, 20, 22, 24, 26, 28 ]")
    );
    let run = example!("big_sum_ab").args(["-n", "0", "-q"]).run();
    run.expect_success();
    assert_eq!(word::<u64>(&run, "sum"), 0);
    assert_eq!(word::<u64>(&run, "shared_sum"), 0);
    assert!(word::<String>(&run, "shared_partial_sums").is_empty());
    assert!(word::<bool>(&run, "shared_added_equals_serial"));
}

#[test]
fn parallel_reduction_equals_the_serial_sum_for_1_2_3_and_7_processes() {
    let n: u64 = 100_000;
    let data: Vec<u64> = (0..n).collect();
    for p in [1, 2, 3, 7] {
        let run = example!("parallel_reduction")
            .args(["--n", &n.to_string(), "--workers", &p.to_string()])
            .run();
        run.expect_success();
        for key in ["sum", "serial_sum", "shared_sum", "fork_sum"] {
            assert_eq!(
                word::<u64>(&run, key),
                n * (n - 1) / 2,
                "{key}, {p} processes"
            );
        }
        for key in ["partial_sums", "shared_partial_sums"] {
            assert_eq!(
                list::<u64>(&word::<String>(&run, key)),
                partials(&data, p),
                "imap yields the chunks' sums in order ({key}), {p} processes"
            );
        }
        assert_eq!(word::<usize>(&run, "processes"), p);
    }
}

#[test]
fn parallel_reduction_with_more_processes_than_items_or_no_items() {
    let run = example!("parallel_reduction")
        .args(["--n", "10", "--workers", "7"])
        .run();
    run.expect_success();
    for key in ["partial_sums", "shared_partial_sums"] {
        assert_eq!(list::<u64>(&word::<String>(&run, key)), [1, 5, 9, 13, 17]);
    }
    assert_eq!(word::<u64>(&run, "sum"), 45);
    assert_eq!(word::<u64>(&run, "shared_sum"), 45);
    assert_eq!(word::<u64>(&run, "fork_sum"), 45);

    let run = example!("parallel_reduction").args(["--n", "0"]).run();
    run.expect_success();
    assert!(word::<String>(&run, "partial_sums").is_empty());
    assert!(word::<String>(&run, "shared_partial_sums").is_empty());
    for key in ["sum", "serial_sum", "shared_sum", "fork_sum"] {
        assert_eq!(word::<u64>(&run, key), 0, "{key}");
    }
}

/// Seed 001's view at `pixdim`, summed over every pixel's orbit, as mandelbrot_canvas does.
fn orbit_sum(pixdim: usize, orbits: u32) -> u64 {
    let view = kit::workloads::View {
        pixdim,
        ..kit::workloads::View::SEED
    };
    (0..pixdim * pixdim)
        .map(|i| {
            u64::from(kit::workloads::mandelbrot(
                view.point(i / pixdim, i % pixdim),
                orbits,
            ))
        })
        .sum()
}

#[test]
fn mandelbrot_canvas_filled_by_claimed_bands_equals_the_sequential_canvas() {
    for (workers, rows, pixdim) in [(1, 8, 64), (2, 1, 64), (3, 7, 61), (2, 100, 61)] {
        let run = example!("mandelbrot_canvas")
            .args([
                "--workers",
                &workers.to_string(),
                "--rows",
                &rows.to_string(),
                "--pixdim",
                &pixdim.to_string(),
            ])
            .run();
        run.expect_success();
        let what = format!("{workers} workers, bands of {rows} rows, {pixdim} pixels");
        assert!(word::<bool>(&run, "canvas_equals_sequential"), "{what}");
        assert_eq!(
            word::<u64>(&run, "orbit_sum"),
            orbit_sum(pixdim, 255),
            "{what}"
        );
        assert_eq!(
            word::<usize>(&run, "tasks"),
            pixdim.div_ceil(rows),
            "{what}"
        );
        assert_eq!(word::<usize>(&run, "processes"), workers);
        assert_eq!(word::<u64>(&run, "abandoned_claims"), 0);
        assert_eq!(word::<String>(&run, "claim_after_freeze"), "refused");
    }
}

#[test]
fn mandelbrot_canvas_help_and_bad_input() {
    let help = example!("mandelbrot_canvas").arg("--help").run();
    help.expect_success();
    for flag in ["--pixdim", "--orbits", "--rows", "--workers"] {
        assert!(
            help.stdout().contains(flag),
            "--help does not mention {flag}"
        );
    }
    for (args, flag) in [
        (["--pixdim", "0"], "--pixdim"),
        (["--pixdim", "4001"], "--pixdim"),
        (["--rows", "0"], "--rows"),
        (["--orbits", "0"], "--orbits"),
        (["--workers", "0"], "--workers"),
        (["--workers", "100000"], "--workers"),
    ] {
        let run = example!("mandelbrot_canvas").args(args).run();
        run.expect_usage_error();
        assert!(run.stderr().contains(flag), "{args:?}: {}", run.stderr());
    }
}

#[test]
fn pool_benchmark_pool_results_equal_the_serial_results() {
    let n = 5000u64;
    // The seed's work_function over its inputs, summed in input order.
    let checksum: f64 = (1..=n)
        .zip((1..=n).rev())
        .map(|(a, b)| ((a as f64).sqrt() / (b as f64).sqrt()).sqrt())
        .sum();
    for p in ["1", "3"] {
        let run = example!("pool_benchmark")
            .args([n.to_string().as_str(), p, "--trials", "2"])
            .run();
        run.expect_success();
        assert!(run.word::<bool>("results_equal"), "P = {p}");
        assert_eq!(run.word::<f64>("serial_checksum"), checksum);
        assert_eq!(run.word::<f64>("pool_checksum"), checksum);
    }
}

#[test]
fn task_parallel_sends_exactly_the_json_it_writes_with_apply_async_and_with_processes() {
    let dir = tempfile::tempdir().unwrap();
    let run = example!("task_parallel")
        .args(["--data", "spam,eggs,ünïcødé"])
        .arg("--dir")
        .arg(dir.path())
        .run();
    run.expect_success();
    assert_eq!(run.words("received_equals_file"), ["true", "true"]);
    assert_eq!(run.words("exitcode"), ["0", "0"]);
    let files = run.words("json_file");
    let received = run.words("received_json");
    assert_eq!(files.len(), 2);
    assert_ne!(files[0], files[1], "one file per round");
    let want = serde_json::json!([
        {"index": 0, "item": "spam", "foo": "FOO_SPAM"},
        {"index": 1, "item": "eggs", "foo": "FOO_EGGS"},
        {"index": 2, "item": "ünïcødé", "foo": "FOO_ÜNÏCØDÉ"},
    ]);
    for (file, got) in files.iter().zip(&received) {
        let path = std::path::Path::new(file);
        assert!(path.starts_with(dir.path()), "{file} is in --dir");
        let written = std::fs::read_to_string(path).unwrap();
        assert_eq!(&written, got, "the server received the file's bytes");
        let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(parsed, want);
    }
}

#[test]
fn starmap_hello_gives_11_results_in_order_and_apply_makes_one_call() {
    let run = example!("starmap_hello").args(["--workers", "3"]).run();
    run.expect_success();
    let pairs: Vec<(usize, char)> = "Hello world".chars().enumerate().collect();
    let want: Vec<String> = pairs
        .iter()
        .map(|(i, c)| format!("{:?}", format!("function( {i}, {c} )")))
        .collect();
    assert_eq!(run.words("result"), want, "11 results, in input order");
    // The calls the workers printed: `function( i, c )` once per pair, in some order, and
    // `function( (0, 'H'), ... )` once, from apply.
    let stdout = run.stdout();
    let calls: Vec<&str> = (stdout.lines())
        .filter_map(|l| l.strip_prefix("function( ")?.strip_suffix(" )"))
        .collect();
    let (apply, starmap): (Vec<&str>, Vec<&str>) =
        calls.into_iter().partition(|c| c.starts_with('('));
    let starmap: Vec<String> = starmap.iter().map(|c| c.to_string()).collect();
    let expected: Vec<String> = pairs.iter().map(|(i, c)| format!("{i}, {c}")).collect();
    assert_eq!(sorted(&starmap), sorted(&expected), "each pair called once");
    assert_eq!(apply.len(), 1, "one call, all 11 pairs");
    assert_eq!(
        run.word::<String>("apply_result"),
        r#""function( (0, 'H'), (1, 'e'), (2, 'l'), (3, 'l'), (4, 'o'), (5, ' '), (6, 'w'), (7, 'o'), (8, 'r'), (9, 'l'), (10, 'd') )""#
    );
}

#[test]
fn pool_examples_reject_nonsense_with_exit_2() {
    let cases: &[(&str, &[&str])] = &[
        ("pool_map_sum", &["--workers", "0"]),
        ("pool_map_sum", &["--n", "-1"]),
        ("pool_apply_async", &["--seconds", "-1"]),
        ("pool_apply_async", &["--get-timeout", "1"]), // only with --slow
        ("pool_map_variants", &["--chunksize", "0"]),
        ("pool_map_variants", &["--repeat", "many"]),
        ("pool_stop_event", &["--seconds", "nan"]),
        ("pool_stop_event", &["--workers", "-2"]),
        ("added_ab", &["--n", "ten"]),
        ("big_sum_ab", &["-p", "0"]),
        ("big_sum_ab", &["-n", "-5"]),
        ("parallel_reduction", &["--workers", "0"]),
        ("pool_benchmark", &["0", "2"]),
        ("pool_benchmark", &["100", "0"]),
        ("pool_benchmark", &["100", "2", "--trials", "0"]),
        ("task_parallel", &["--dir", "/nonexistent/multiproc-test"]),
        ("starmap_hello", &["--workers", "0"]),
        ("process_pool_executor", &["--start-method", "threads"]),
        ("process_pool_executor", &["--workers", "0"]),
        ("task_timeouts", &["--timeout-ms", "0"]),
        ("task_timeouts", &["--hung", "-1"]),
        ("task_timeouts", &["--normal", "many"]),
    ];
    for (name, args) in cases {
        harness::Example::by_name(name)
            .args(*args)
            .run()
            .expect_usage_error();
    }
}

#[test]
fn pool_map_sum_runs_in_a_4_gib_address_space() {
    // The pool's task and result queues used to reserve 32 GiB each: under `ulimit -v 4G`
    // the example panicked.
    let run = harness::Example::new("pool_map_sum", "prlimit")
        .args(["--as=4294967296", "--", env!("CARGO_BIN_EXE_pool_map_sum")])
        .args(["--workers", "2"])
        .run();
    run.expect_success();
    assert_eq!(run.word::<u64>("pool_sum"), 3_332_833_350_000_000);
}

/// pool_in_tokio's run: the facts every successful run must show, whatever the sizes.
fn check_pool_in_tokio(
    run: &harness::Run,
    method: &str,
    clients: usize,
    jobs: usize,
    workers: usize,
) {
    run.expect_success();
    assert_eq!(run.word::<String>("start_method"), method);
    assert_eq!(run.word::<usize>("clients"), clients);
    assert_eq!(run.word::<usize>("jobs"), jobs);
    assert_eq!(run.word::<usize>("workers"), workers);
    assert_eq!(
        run.word::<usize>("rows"),
        clients * jobs,
        "one answer per job"
    );
    assert!(
        run.word::<bool>("results_ok"),
        "every row equals the serial one"
    );
    let pids = run.word::<usize>("distinct_worker_pids");
    assert!(
        (1..=workers).contains(&pids),
        "{pids} pids for {workers} workers"
    );
    assert!(
        !run.word::<bool>("owner_among_them"),
        "no row was computed by the owner"
    );
}

#[test]
fn pool_in_tokio_serves_async_clients_from_a_forkserver_pool_by_default() {
    let run = example!("pool_in_tokio").run();
    check_pool_in_tokio(&run, "forkserver", 8, 10, 2);
    assert!(
        run.word::<usize>("runtime_threads") >= 2,
        "a multi-thread runtime"
    );
}

#[test]
fn pool_in_tokio_works_with_spawn_and_with_one_of_everything() {
    let run = example!("pool_in_tokio")
        .args(["--start-method", "spawn", "--clients", "3", "--jobs", "4"])
        .args(["--workers", "3"])
        .run();
    check_pool_in_tokio(&run, "spawn", 3, 4, 3);
    let run = example!("pool_in_tokio")
        .args(["--clients", "1", "--jobs", "1", "--workers", "1"])
        .run();
    check_pool_in_tokio(&run, "forkserver", 1, 1, 1);
    assert_eq!(run.word::<usize>("distinct_worker_pids"), 1);
}

#[test]
fn pool_in_tokio_with_fork_is_refused_because_the_runtime_runs_threads() {
    let run = example!("pool_in_tokio")
        .args(["--start-method", "fork"])
        .run();
    run.expect_code(1);
    assert_eq!(run.word::<String>("start_method"), "fork");
    assert!(run.words("results_ok").is_empty(), "no work was done");
    let stderr = run.stderr();
    for needed in ["threads are running", "ForkServer", "Spawn"] {
        assert!(
            stderr.contains(needed),
            "the refusal names {needed}:\n{stderr}"
        );
    }
}

#[test]
fn pool_in_tokio_help_and_bad_flags() {
    let help = example!("pool_in_tokio").arg("--help").run();
    help.expect_success();
    for word in [
        "--start-method",
        "forkserver",
        "spawn",
        "--clients",
        "--jobs",
    ] {
        assert!(
            help.stdout().contains(word),
            "--help does not mention {word}"
        );
    }
    for args in [
        ["--start-method", "vfork"],
        ["--clients", "0"],
        ["--jobs", "0"],
        ["--workers", "0"],
        ["--jobs", "many"],
    ] {
        example!("pool_in_tokio")
            .args(args)
            .run()
            .expect_usage_error();
    }
}

#[test]
fn pool_callbacks_gives_each_result_to_callback_and_each_failure_to_error_callback_once() {
    let run = example!("pool_callbacks")
        .args(["--n", "50", "--fail-every", "7", "--workers", "3"])
        .run();
    run.expect_success();
    let mut got: Vec<u64> = run
        .words("result")
        .iter()
        .map(|w| w.parse().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = (0..50u64).filter(|x| x % 7 != 0).map(|x| x * x).collect();
    assert_eq!(got, want, "each result once");
    let errors: Vec<String> = run.words("error");
    assert_eq!(errors.len(), 8, "0, 7, ..., 49 fail: {errors:?}");
    assert!(
        errors.iter().all(|e| e.contains("is refused")),
        "{errors:?}"
    );
    assert_eq!(run.word::<usize>("results"), 42);
    assert_eq!(run.word::<u64>("sum"), want.iter().sum::<u64>());
    assert_eq!(run.word::<usize>("errors"), 8);
    for args in [["--n", "0"], ["--workers", "0"]] {
        example!("pool_callbacks")
            .args(args)
            .run()
            .expect_usage_error();
    }
}

/// The Python docs' PRIMES and whether each is prime: all but the last, which is
/// 3306091 × 332636609.
const DOCS_PRIMES: [(u64, bool); 6] = [
    (112_272_535_095_293, true),
    (112_582_705_942_171, true),
    (112_272_535_095_293, true),
    (115_280_095_190_773, true),
    (115_797_848_077_099, true),
    (1_099_726_899_285_419, false),
];

/// The `(number, prime)` pairs of the lines printed `via=<via>`, in printed order.
fn primes_via(run: &harness::Run, via: &str) -> Vec<(u64, bool)> {
    run.stdout()
        .lines()
        .map(words::line_words)
        .filter(|w| w.iter().any(|(k, v)| k == "via" && v == via))
        .map(|w| {
            let get = |key: &str| {
                let (_, v) = w.iter().find(|(k, _)| k == key).expect(key);
                v.clone()
            };
            (
                get("number").parse().unwrap(),
                get("prime").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn process_pool_executor_says_which_numbers_are_prime_with_every_start_method() {
    assert_eq!(3_306_091u64 * 332_636_609, DOCS_PRIMES[5].0);
    for method in ["fork", "forkserver", "spawn"] {
        let run = example!("process_pool_executor")
            .args(["--workers", "2", "--start-method", method])
            .run();
        run.expect_success();
        assert_eq!(run.word::<String>("start_method"), method);
        // map: the docs' order; as_completed: each number once, in any order.
        assert_eq!(primes_via(&run, "map"), DOCS_PRIMES, "{method}: map");
        let done = primes_via(&run, "as_completed");
        assert_eq!(
            sorted(&done),
            sorted(&DOCS_PRIMES),
            "{method}: as_completed"
        );
        // The docs' own line.
        assert!(run.stdout().contains("112272535095293 is prime: True"));
        assert!(run.stdout().contains("1099726899285419 is prime: False"));
        assert!(run.word::<bool>("done"));
    }
}

#[test]
fn process_pool_executor_bad_input_exits_2_with_a_message() {
    for (args, flag) in [
        (&["--start-method", "threads"][..], "--start-method"),
        (&["--workers", "0"][..], "--workers"),
        (&["--workers", "two"][..], "--workers"),
    ] {
        let run = example!("process_pool_executor").args(args).run();
        run.expect_usage_error();
        assert!(run.stderr().contains(flag), "{}", run.stderr());
    }
}

/// task_timeouts' run with these sizes: every fact its output must show.
fn check_task_timeouts(workers: usize, timeout_ms: u64, hung: usize, normal: usize) {
    let run = example!("task_timeouts")
        .args([
            "--workers".to_string(),
            workers.to_string(),
            "--timeout-ms".into(),
            timeout_ms.to_string(),
            "--hung".into(),
            hung.to_string(),
            "--normal".into(),
            normal.to_string(),
        ])
        .timeout(std::time::Duration::from_secs(120))
        .run();
    run.expect_success();
    let tasks: Vec<HashMap<String, String>> = run
        .stdout()
        .lines()
        .map(|l| words::line_words(l).into_iter().collect::<HashMap<_, _>>())
        .filter(|w| w.contains_key("task"))
        .collect();
    let of = |kind: &str| -> Vec<&HashMap<String, String>> {
        tasks.iter().filter(|w| w["kind"] == kind).collect()
    };
    let (hung_lines, normal_lines) = (of("hung"), of("normal"));
    assert_eq!(hung_lines.len(), hung, "{}", run.stdout());
    assert!(
        hung_lines.iter().all(|w| w["outcome"] == "timed_out"),
        "every hung task is reported timed out:\n{}",
        run.stdout()
    );
    assert_eq!(normal_lines.len(), normal);
    let mut ns = Vec::new();
    for w in normal_lines {
        assert_eq!(w["outcome"], "ok", "{}", run.stdout());
        let n: u64 = w["n"].parse().unwrap();
        assert_eq!(w["result"].parse::<u64>().unwrap(), n * (n + 1) / 2);
        ns.push(n);
    }
    let want: Vec<u64> = (1..=normal as u64).map(|i| 1000 * i).collect();
    assert_eq!(sorted(&ns), want, "each normal task once");
    assert_eq!(run.word::<usize>("timed_out"), hung);
    assert_eq!(run.word::<usize>("ok"), normal);
    assert_eq!(
        run.word::<u64>("final_result"),
        5050,
        "the executor goes on"
    );
    assert!(run.word::<bool>("cancel_started"));
    assert!(
        run.word::<bool>("cancel_returned"),
        "cancel() of a running task"
    );
    assert!(run.word::<bool>("cancelled"));
    assert_eq!(run.word::<String>("cancel_outcome"), "cancelled");
    assert_eq!(run.word::<u64>("after_cancel_result"), 55);
    assert!(run.word::<bool>("done"));
}

#[test]
fn task_timeouts_stops_exactly_the_hung_tasks_and_the_executor_goes_on() {
    check_task_timeouts(2, 300, 3, 5);
    // More hung tasks than workers: every worker stopped at least once.
    check_task_timeouts(1, 200, 2, 1);
    // None hung, or none normal.
    check_task_timeouts(2, 500, 0, 4);
    check_task_timeouts(2, 100, 2, 0);
}
