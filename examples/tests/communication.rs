//! B. Communication: pipe_greeting, listener_client, wait_many, queue_squares,
//! queue_sentinel, mandelbrot_pipeline and multi_work_queues.

mod words;

use harness::example;
use predicates::prelude::*;
use std::collections::HashSet;
use std::path::Path;
use words::Words;

#[test]
fn listener_client_workers_started_as_commands_compute_every_item_once() {
    let run = example!("listener_client")
        .args(["--workers", "3", "--items", "30"])
        .run();
    run.expect_success();
    assert_eq!(run.word::<u32>("accepted"), 3);
    assert_eq!(run.word::<u32>("refused"), 0);
    assert_eq!(run.word::<u32>("results"), 30);
    assert_eq!(run.word::<u32>("distinct_workers"), 3);
    assert_eq!(run.word::<u64>("total"), run.word::<u64>("expected"));
    assert_eq!(run.words("exited"), ["0"; 3]);
    let server: u32 = run.word("pid");
    let workers: Vec<u32> = run.words_parsed("worker_pid");
    assert!(!workers.contains(&server));
}

#[test]
fn wait_many_gets_every_message_and_every_sentinel_without_spinning() {
    let run = example!("wait_many")
        .args(["--children", "4", "--messages", "5", "--pause", "20"])
        .run();
    run.expect_success();
    assert_eq!(run.word::<u32>("received"), 20);
    assert_eq!(run.word::<u32>("expected"), 20);
    assert_eq!(run.word::<u32>("ended"), 4);
    assert_eq!(run.words("exitcode"), ["0"; 4]);
    let mut sentinels: Vec<u32> = run.words_parsed("child");
    sentinels.sort();
    assert_eq!(
        sentinels.len(),
        24,
        "20 messages and 4 sentinels name their child"
    );
    let (wall, cpu): (u64, u64) = (run.word("wall_ms"), run.word("cpu_ms"));
    assert!(wall >= 90, "the slowest child takes 5 x 80 ms: {wall}");
    assert!(
        cpu * 4 < wall,
        "the parent spun while waiting: {cpu} ms of CPU in {wall} ms"
    );
}

#[test]
fn the_greeting_arrives_intact_as_object_and_as_bytes() {
    let run = example!("pipe_greeting").run();
    run.expect_success();
    let greeting = r#""Hello from process_one""#;
    assert_eq!(run.word::<String>("received"), greeting);
    assert_eq!(run.word::<String>("received_bytes"), greeting);
    assert_eq!(run.words("exitcode"), ["0"; 4]);
    assert_eq!(run.words("after_sender_exit"), ["closed"; 2]);
}

#[test]
fn sender_and_receiver_are_different_processes() {
    let run = example!("pipe_greeting").args(["--mode", "object"]).run();
    run.expect_success();
    let sender: u32 = run.word("sender_pid");
    let receiver: u32 = run.word("receiver_pid");
    assert_ne!(sender, receiver);
    assert_ne!(sender, std::process::id());
}

#[test]
fn recv_after_the_sender_exits_reports_closed() {
    let run = example!("pipe_greeting")
        .args(["--mode", "bytes", "--message", "ünïcødé | bytes"])
        .run();
    run.expect_success();
    assert_eq!(run.word::<String>("received_bytes"), r#""ünïcødé | bytes""#);
    assert_eq!(run.words("after_sender_exit"), ["closed"]);
}

/// The `idx:n_sq` records queue_squares drained from `queue`, in order.
fn records(run: &harness::Run, queue: &str) -> Vec<String> {
    let prefix = format!("Within main: {queue} ");
    (run.stdout().lines())
        .filter(|l| l.starts_with(&prefix))
        .map(|l| {
            let w: std::collections::HashMap<_, _> = words::line_words(l).into_iter().collect();
            format!("{}:{}", w["idx"], w["n_sq"])
        })
        .collect()
}

#[test]
fn records_come_out_in_order_and_both_queues_end_empty() {
    let run = example!("queue_squares").run();
    run.assert()
        .success()
        .stdout(predicate::str::contains("Within main: q1 idx=0 n_sq=4\n"));
    assert_eq!(records(&run, "q1"), ["0:4", "1:9", "2:25"]);
    assert_eq!(records(&run, "q2"), ["0:25", "1:36", "2:49"]);
    assert_eq!(run.word::<String>("q1_empty"), "true");
    assert_eq!(run.word::<String>("q2_empty"), "true");
    assert_eq!(run.words("exitcode"), ["0"; 2]);
}

#[test]
fn joining_before_draining_does_not_deadlock_with_lots_of_data() {
    // 3 x 20,000 records per queue is far more than a 64 KiB pipe holds: Python's join()
    // would deadlock here.
    let run = example!("queue_squares").args(["--repeat", "20000"]).run();
    run.expect_success();
    let q1 = records(&run, "q1");
    assert_eq!(q1.len(), 60_000);
    let squares = ["4", "9", "25"];
    for (i, r) in q1.iter().enumerate() {
        assert_eq!(*r, format!("{i}:{}", squares[i % 3]));
    }
    assert_eq!(records(&run, "q2").len(), 60_000);
    assert_eq!(run.word::<String>("q1_empty"), "true");
}

#[test]
fn every_item_is_received_once_in_order_then_both_exit_cleanly() {
    let run = example!("queue_sentinel").args(["--n", "500"]).run();
    run.expect_success();
    let got: Vec<u64> = run.words_parsed("got");
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    assert_eq!(run.word::<u64>("received"), 500);
    assert_eq!(run.word::<i32>("maker_exitcode"), 0);
    assert_eq!(run.word::<i32>("worker_exitcode"), 0);
    assert_eq!(run.word::<usize>("left_in_queue"), 0);
}

#[test]
fn zero_items_still_ends_on_the_sentinel() {
    let run = example!("queue_sentinel").args(["--n", "0"]).run();
    run.expect_success();
    assert!(run.words("got").is_empty());
    assert_eq!(run.word::<u64>("received"), 0);
}

/// Decode a PNG: (width, height, colour type, bit depth, pixels).
fn decode_png(path: &Path) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("the PNG exists"));
    let mut reader = png::Decoder::new(file)
        .read_info()
        .expect("a valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size fits")];
    let info = reader.next_frame(&mut buf).expect("the image decodes");
    buf.truncate(info.buffer_size());
    (
        info.width,
        info.height,
        info.color_type,
        info.bit_depth,
        buf,
    )
}

#[test]
fn the_parallel_canvas_equals_the_sequential_one_and_the_png_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("canvas.png");
    // 130² = 16,900 points: not a multiple of the batch, so a short last batch is queued.
    let run = example!("mandelbrot_pipeline")
        .args(["--pixdim", "130", "--workers", "3", "--output"])
        .arg(&png_path)
        .run();
    run.expect_success();
    assert!(run.stderr().is_empty(), "no progress bar off a terminal");
    assert_eq!(
        run.word::<u32>("sample_orbit"),
        17,
        "mandelbrot(0.0965-0.638j)"
    );
    assert_eq!(run.words_parsed::<u64>("points_queued"), [16_900, 16_900]);
    // Sequential: one consumer (this process); parallel: three, sharing every point.
    let processed: Vec<u64> = run.words_parsed("points_processed");
    assert_eq!(processed.len(), 4);
    assert_eq!(processed[0], 16_900);
    assert_eq!(processed[1..].iter().sum::<u64>(), 16_900);
    assert_eq!(run.word::<String>("canvases_equal"), "true");
    assert_eq!(run.word::<usize>("todo_left"), 0);
    assert_eq!(run.word::<usize>("result_left"), 0);

    assert_eq!(Path::new(&run.word::<String>("png_path")), png_path);
    let (w, h, colour, depth, pixels) = decode_png(&png_path);
    assert_eq!((w, h), (130, 130));
    assert_eq!((colour, depth), (png::ColorType::Rgb, png::BitDepth::Eight));
    // A colour map, not grey: most pixels have unequal channels, and many colours appear.
    let rgb: Vec<[u8; 3]> = pixels.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    let grey = rgb.iter().filter(|p| p[0] == p[1] && p[1] == p[2]).count();
    assert!(grey < rgb.len() / 100, "{grey} grey pixels");
    let colours: HashSet<[u8; 3]> = rgb.into_iter().collect();
    assert!(colours.len() > 20, "only {} colours", colours.len());
}

#[test]
fn the_canvas_does_not_depend_on_worker_count_or_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    // The canvas's hash and the PNG's pixels.
    let canvas = |workers: &str, batch: &str| -> (String, Vec<u8>) {
        let png = dir.path().join(format!("w{workers}b{batch}.png"));
        let run = example!("mandelbrot_pipeline")
            .args(["--pixdim", "64", "--orbits", "100", "--workers", workers])
            .args(["--batch", batch, "--output"])
            .arg(&png)
            .run();
        run.expect_success();
        assert_eq!(run.word::<String>("canvases_equal"), "true");
        (run.word("canvas_sha256"), decode_png(&png).4)
    };
    let reference = canvas("1", "1000");
    assert_eq!(canvas("4", "7"), reference);
    assert_eq!(canvas("2", "1"), reference);
}

#[test]
fn the_seeds_canvas_queues_2560000_points() {
    let dir = tempfile::tempdir().unwrap();
    let run = example!("mandelbrot_pipeline")
        .args(["--workers", "2", "--output"])
        .arg(dir.path().join("seed.png"))
        .run();
    run.expect_success();
    assert_eq!(run.words_parsed::<u64>("points_queued"), [2_560_000; 2]);
    assert_eq!(run.word::<String>("canvases_equal"), "true");
    assert_eq!(run.word::<u32>("png_width"), 1600);
}

#[test]
fn mandelbrot_pipeline_rejects_nonsense() {
    for args in [
        &["--pixdim", "0"][..],
        &["--size", "0"],
        &["--size", "-0.5"],
        &["--x", "nan"],
        &["--workers", "0"],
        &["--batch", "0"],
        &["--orbits", "lots"],
    ] {
        let run = example!("mandelbrot_pipeline").args(args).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for {args:?}");
    }
}

fn work_queues(seed: &str, sleep_ms: &str) -> harness::Run {
    let run = example!("multi_work_queues")
        .args(["--makers", "4", "--workers", "4", "--decay", "0.002"])
        .args(["--timeout", "0.2", "--verbosity", "1", "--seed", seed])
        .args(["--sleep-ms", sleep_ms])
        .run();
    run.expect_success();
    run
}

/// The lists a run's makers put (`Put m<maker>:<seq> <digest>`) or its workers got
/// (`Got m<maker>:<seq> <digest>, <len>`): `((maker, seq), digest)`, in output order.
fn work_lines(run: &harness::Run, verb: &str) -> Vec<((u32, u32), String)> {
    let prefix = format!("{verb} m");
    run.stdout()
        .lines()
        .filter_map(|line| line.split_once("): ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.strip_prefix(prefix.as_str()))
        .map(|item| {
            let (id, digest) = item.split_once(' ').expect(item);
            let (maker, seq) = id.split_once(':').expect(id);
            let digest = digest.split(',').next().unwrap().to_string();
            ((maker.parse().unwrap(), seq.parse().unwrap()), digest)
        })
        .collect()
}

/// Every list put was got exactly once, with the contents it was put with; the lists put,
/// sorted (the same for the same seed).
fn audit(run: &harness::Run) -> Vec<((u32, u32), String)> {
    let mut put = work_lines(run, "Put");
    let mut got = work_lines(run, "Got");
    put.sort();
    got.sort();
    assert_eq!(got, put, "every list put is got exactly once, unchanged");
    assert_eq!(run.word::<usize>("items_put"), put.len());
    assert_eq!(run.word::<usize>("items_processed"), got.len());
    assert_eq!(run.word::<usize>("work_queue_left"), 0);
    assert_eq!(run.word::<i32>("makers_left"), 0);
    put
}

#[test]
fn every_item_put_is_processed_exactly_once() {
    let put = audit(&work_queues("11", "0"));
    for maker in 0..4 {
        let seqs: Vec<u32> = put
            .iter()
            .filter(|(id, _)| id.0 == maker)
            .map(|(id, _)| id.1)
            .collect();
        assert!(!seqs.is_empty(), "maker {maker} puts at least once");
        assert_eq!(
            seqs,
            (0..seqs.len() as u32).collect::<Vec<_>>(),
            "maker {maker}: no gap"
        );
    }
}

#[test]
fn a_seeded_run_makes_the_same_items_every_time() {
    // With pauses, so the makers and workers interleave differently from run to run.
    let a = audit(&work_queues("5", "2"));
    let b = audit(&work_queues("5", "2"));
    let c = audit(&work_queues("6", "0"));
    assert_eq!(a, b, "same seed, same items");
    assert_ne!(a, c, "another seed, other items");
}

#[test]
fn multi_work_queues_rejects_nonsense() {
    for args in [
        &["--decay", "0"][..],
        &["--decay", "1.5"],
        &["--makers", "0"],
        &["--workers", "0"],
        &["--timeout", "-1"],
        &["--seed", "-3"],
        &["--verbosity", "3"],
    ] {
        let run = example!("multi_work_queues").args(args).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for {args:?}");
    }
}

#[test]
fn a_list_with_negative_numbers_does_not_swallow_the_next_flag() {
    let run = example!("queue_squares")
        .args(["--numbers1", "1,-2", "--repeat", "2", "--numbers2", "-3"])
        .run();
    run.expect_success();
    assert_eq!(records(&run, "q1"), ["0:1", "1:4", "2:1", "3:4"]);
    assert_eq!(records(&run, "q2"), ["0:9", "1:9"]);
}

#[test]
fn queue_sentinel_runs_in_a_4_gib_address_space() {
    // Each queue used to reserve a 32 GiB window: under `ulimit -v 4G` the example panicked.
    let run = harness::Example::new("queue_sentinel", "prlimit")
        .args([
            "--as=4294967296",
            "--",
            env!("CARGO_BIN_EXE_queue_sentinel"),
        ])
        .args(["--n", "500"])
        .run();
    run.expect_success();
    let got: Vec<u64> = run.words_parsed("got");
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    assert_eq!(run.word::<usize>("left_in_queue"), 0);
}
