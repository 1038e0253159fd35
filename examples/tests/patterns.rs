//! F. Patterns, pitfalls and measurements: dir_info_and_e, process_logging,
//! threads_vs_processes, threads_share_globals, amdahl and cpu_count. Timing examples are
//! checked for what they compute, never for how fast.

mod words;

use harness::example;
use multiproc::logging::LogLine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use words::Words;

/// A small tree: nested directories, an empty file, a file larger than one read buffer,
/// names whose sorted order differs from their creation order, and a symbolic link (not
/// followed, not counted).
fn sample_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/deeper/deepest")).unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("empty_dir")).unwrap();
    std::fs::write(root.join("z.txt"), "last at the top").unwrap();
    std::fs::write(root.join("a/one.txt"), "one").unwrap();
    std::fs::write(root.join("a/empty"), "").unwrap();
    std::fs::write(root.join("b/deeper/deepest/two.bin"), [7u8; 3]).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("b/big.bin"), big).unwrap();
    std::fs::write(root.join(".hidden"), "hidden files count too").unwrap();
    std::os::unix::fs::symlink(root.join("b/big.bin"), root.join("a/link_to_big")).unwrap();
    dir
}

/// An independent walk with std::fs only: regular files, links not followed, paths relative
/// to `root` as component lists (the order walkdir's per-directory name sort gives).
fn independent_walk(root: &Path) -> Vec<(Vec<std::ffi::OsString>, PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_os_string())
                    .collect();
                out.push((rel, path, meta.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_walks_count_and_size_equal_an_independent_walk_and_the_hash_is_stable() {
    let tree = sample_tree();
    let files = independent_walk(tree.path());
    let bytes: u64 = files.iter().map(|f| f.2).sum();
    let mut hasher = Sha256::new();
    for (_, path, _) in &files {
        hasher.update(std::fs::read(path).unwrap());
    }
    let sha: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let run = |variant: &str| {
        let run = example!("dir_info_and_e")
            .arg(tree.path())
            .args(["--interval", "0.05", "--variant", variant])
            .run();
        run.expect_success();
        assert_eq!(run.word::<String>("variant"), variant);
        run
    };
    let runs = [run("process"), run("process"), run("pool"), run("pool")];
    for r in &runs {
        assert_eq!(r.word::<usize>("files"), files.len());
        assert_eq!(r.word::<u64>("bytes"), bytes);
        assert_eq!(r.word::<u64>("unreadable"), 0);
        assert_eq!(
            r.word::<String>("sha256"),
            sha,
            "contents hashed in sorted path order"
        );
        let e: f64 = r.word("e");
        // The walk may end before the e process begins (the seed's calculate_e then
        // returns 0); once it has begun, it has e.
        assert!(
            e == 0.0 || (e - std::f64::consts::E).abs() < 1e-12,
            "e = {e}"
        );
    }
    assert_eq!(files.len(), 6, "the symbolic link is not counted");
}

#[test]
fn dir_info_and_e_rejects_a_missing_directory_a_zero_interval_and_an_unknown_variant() {
    let tree = sample_tree();
    let missing = tree.path().join("no-such-dir");
    let file = tree.path().join("z.txt");
    for run in [
        example!("dir_info_and_e").arg(&missing).run(),
        example!("dir_info_and_e").arg(&file).run(),
        example!("dir_info_and_e")
            .arg(tree.path())
            .args(["--interval", "0"])
            .run(),
        example!("dir_info_and_e")
            .arg(tree.path())
            .args(["--variant", "threads"])
            .run(),
    ] {
        run.expect_code(2);
        assert!(run.stdout().is_empty());
    }
}

#[test]
fn the_shared_log_has_every_childs_lines_and_no_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.log");
    // Records longer than a pipe's atomic write (4096 bytes), from four processes at once.
    let run = example!("process_logging")
        .args([
            "--workers",
            "4",
            "--records",
            "400",
            "--message-bytes",
            "5000",
        ])
        .args(["--no-console", "--file"])
        .arg(&path)
        .run();
    run.expect_success();
    assert_eq!(run.word::<usize>("torn_lines"), 0);
    assert_eq!(run.word::<usize>("missing"), 0);
    assert_eq!(run.word::<usize>("wrong_pid"), 0);
    for k in 1..=4 {
        assert_eq!(run.word::<usize>(&format!("records_from_worker_{k}")), 400);
    }
    assert!(run.stderr().is_empty(), "no console copy with --no-console");

    // Check the file independently of the example's own check.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let mut info: HashMap<String, Vec<usize>> = HashMap::new();
    let mut pids: HashMap<String, u32> = HashMap::new();
    for line in text.lines() {
        let rec = LogLine::parse(line).unwrap_or_else(|| panic!("torn line: {line:.120}"));
        assert_eq!(rec.app, "myapp");
        let known = pids.entry(rec.process.to_string()).or_insert(rec.pid);
        assert_eq!(*known, rec.pid, "one pid per process name");
        if rec.process == "MainProcess" || rec.level != log::Level::Info {
            continue;
        }
        let prefix = format!("{}: record ", rec.process);
        let rest = rec
            .message
            .strip_prefix(&prefix)
            .expect("a worker's record");
        let (i, rest) = rest.split_once(" of 400 ").expect("record i of 400");
        assert_eq!(rec.message.len(), 5000, "whole message");
        assert!(rest.bytes().all(|b| b == b'.'), "padding intact");
        info.entry(rec.process.to_string())
            .or_default()
            .push(i.parse().unwrap());
    }
    assert_eq!(info.len(), 4);
    for (who, got) in &info {
        assert_eq!(*got, (1..=400).collect::<Vec<_>>(), "{who}");
    }
    let distinct: std::collections::HashSet<u32> = pids.values().copied().collect();
    assert_eq!(distinct.len(), 5, "main and four workers, each its own pid");
}

#[test]
fn console_records_carry_process_name_and_pid() {
    let dir = tempfile::tempdir().unwrap();
    let run = example!("process_logging")
        .args(["--workers", "2", "--records", "3", "--file"])
        .arg(dir.path().join("log"))
        .run();
    run.expect_success();
    let stderr = run.stderr();
    let records: Vec<LogLine> = stderr
        .lines()
        .map(|l| LogLine::parse(l).unwrap_or_else(|| panic!("not a record: {l}")))
        .collect();
    for k in 1..=2 {
        let name = format!("worker-{k}");
        let mine: Vec<&LogLine> = records.iter().filter(|r| r.process == name).collect();
        assert_eq!(mine.len(), 4, "3 records and a 'done' from {name}");
    }
    assert!(records.iter().any(|r| r.process == "MainProcess"));
}

#[test]
fn process_logging_rejects_nonsense() {
    for args in [
        &["--level", "loud"][..],
        &["--level", "off"],
        &["--workers", "0"],
        &["--records", "0"],
    ] {
        let run = example!("process_logging").args(args).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for {args:?}");
    }
}

#[test]
fn every_mode_computes_the_same_squares_and_cubes() {
    let run = example!("threads_vs_processes")
        .args(["--sleep-ms", "1", "--cpu-rounds", "20"])
        .run();
    run.expect_success();
    for load in ["sleep", "cpu"] {
        for mode in ["sequential", "processes", "threads"] {
            assert_eq!(
                run.word::<String>(&format!("squares_{load}_{mode}")),
                "4,9,64,81"
            );
            assert_eq!(
                run.word::<String>(&format!("cubes_{load}_{mode}")),
                "8,27,512,729"
            );
        }
    }
}

#[test]
fn threads_share_the_programs_pid_and_processes_do_not() {
    let run = example!("threads_vs_processes")
        .args(["--numbers", "5,-2", "--sleep-ms", "0", "--cpu-rounds", "1"])
        .run();
    run.expect_success();
    let main: u32 = run.word("main_pid");
    for load in ["sleep", "cpu"] {
        let pid = |task: &str, mode: &str| run.word::<u32>(&format!("pid_{task}_{load}_{mode}"));
        for task in ["squares", "cubes"] {
            assert_eq!(pid(task, "sequential"), main);
            assert_eq!(pid(task, "threads"), main);
            assert_ne!(pid(task, "processes"), main);
        }
        assert_ne!(pid("squares", "processes"), pid("cubes", "processes"));
        assert_eq!(
            run.word::<String>(&format!("cubes_{load}_threads")),
            "125,-8"
        );
    }
}

#[test]
fn threads_vs_processes_rejects_nonsense() {
    for args in [
        &["--sleep-ms", "-1"][..],
        &["--cpu-rounds", "0"],
        &["--numbers", "2,x"],
    ] {
        let run = example!("threads_vs_processes").args(args).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for {args:?}");
    }
}

#[test]
fn a_threads_change_to_a_global_is_seen_and_a_processs_is_not() {
    let run = example!("threads_share_globals").run();
    run.expect_success();
    assert_eq!(run.word::<String>("child_saw"), "[4,9,64,81]");
    assert_eq!(run.word::<String>("after_process"), "[]");
    assert_eq!(run.word::<String>("thread_saw"), "[4,9,64,81]");
    assert_eq!(run.word::<String>("after_thread"), "[4,9,64,81]");
}

#[test]
fn threads_share_globals_rejects_non_numbers() {
    let run = example!("threads_share_globals")
        .args(["--numbers", "two"])
        .run();
    run.expect_code(2);
    assert!(run.stdout().is_empty());
}

#[test]
fn every_process_count_computes_the_same_result_and_the_bounds_follow_the_law() {
    let run = example!("amdahl")
        .args(["--n", "300", "--processes", "3", "--trials", "1"])
        .run();
    run.expect_success();
    assert!(run.stderr().is_empty(), "no progress bar off a terminal");
    // f(n) is 333,283,335,000 for every n; 300 calls of it.
    for p in 1..=3 {
        assert_eq!(
            run.word::<u64>(&format!("result_p{p}")),
            300 * 333_283_335_000
        );
    }
    let f: f64 = run.word("serial_fraction");
    assert!((0.0..=1.0).contains(&f), "serial fraction {f}");
    for p in 1..=3u32 {
        let bound: f64 = run.word(&format!("bound_p{p}"));
        let expected = 1.0 / (f + (1.0 - f) / f64::from(p));
        assert!((bound - expected).abs() < 1e-3, "bound with {p}: {bound}");
        let here: f64 = run.word(&format!("bound_here_p{p}"));
        assert!(here <= bound + 1e-9, "fewer CPUs never raise the bound");
    }
    assert_eq!(run.word::<f64>("bound_p1"), 1.0);
    assert!(run.words("seconds_p4").is_empty(), "stops at --processes");
}

#[test]
fn amdahl_rejects_nonsense() {
    for args in [
        &["--serial-fraction", "1.5"][..],
        &["--serial-fraction", "-0.1"],
        &["--processes", "0"],
        &["--n", "0"],
        &["--trials", "0"],
    ] {
        let run = example!("amdahl").args(args).run();
        run.expect_code(2);
        assert!(run.stdout().is_empty(), "nothing ran for {args:?}");
    }
}

#[test]
fn physical_cores_never_exceed_logical_cpus() {
    let run = example!("cpu_count").run();
    run.expect_success();
    let logical: usize = run.word("logical");
    let physical: usize = run.word("physical");
    let available: usize = run.word("available");
    assert!(physical >= 1 && physical <= logical);
    assert!(available >= 1 && available <= logical);
    assert_eq!(run.word::<usize>("pool_default"), available);
    // Independently: the kernel lists one "processor" entry per online logical CPU.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let listed = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
        .count();
    assert_eq!(logical, listed);
}

#[test]
fn cpu_count_takes_no_arguments() {
    let run = example!("cpu_count").arg("8").run();
    run.expect_code(2);
    assert!(run.stdout().is_empty());
}
