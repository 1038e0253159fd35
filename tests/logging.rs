//! Library checks for `multiproc::logging` that fork (see tests/process.rs for why these
//! run under harness::forked).

use harness::checks;
use log::LevelFilter;
use multiproc::logging::LogConfig;
use multiproc::logging::LogLine;
use multiproc::{Event, Process, Queue, current_process};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        every_childs_records_reach_the_shared_file_whole,
        a_child_that_does_not_apply_still_tags_its_own_name_and_pid,
        a_child_applies_its_own_level_without_changing_the_parents,
        console_records_are_whole_lines_on_stderr,
        a_config_sent_through_a_queue_configures_the_receiver,
    ])
}

/// A fresh path in the temp dir, unique to this check run.
fn log_path(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "multiproc-forked-logging-{tag}-{}.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// The body of record `i` from `who`, padded to `len` bytes so it is easy to see when a
/// line was cut or glued to another.
fn body(who: &str, i: usize, len: usize) -> String {
    let head = format!("{who} record {i} ");
    let fill = len.saturating_sub(head.len());
    format!("{head}{}", "x".repeat(fill))
}

fn every_childs_records_reach_the_shared_file_whole() {
    const CHILDREN: usize = 4;
    const RECORDS: usize = 1000;
    // Longer than PIPE_BUF (4096): whole lines must not depend on small writes.
    const LEN: usize = 6000;
    let path = log_path("shared");
    let config = LogConfig::new("forked").console(false).file(&path);
    config.apply().unwrap();
    log::info!("parent before the children");
    // All children write at once, so their records really do compete for the file.
    let go = Event::new();
    let mut children = Vec::new();
    for k in 0..CHILDREN {
        let (config, go) = (config.clone(), go.clone());
        let name = format!("worker-{k}");
        children.push(
            Process::new(move || {
                config.apply().unwrap();
                let me = current_process();
                go.wait();
                for i in 0..RECORDS {
                    log::info!("{}", body(me.name(), i, LEN));
                }
            })
            .name(name),
        );
    }
    for p in &mut children {
        p.start().unwrap();
    }
    go.set();
    let pids: HashMap<String, u32> = children
        .iter()
        .map(|p| (p.get_name().to_string(), p.pid().unwrap()))
        .collect();
    for p in &mut children {
        assert_eq!(p.join().unwrap(), 0);
    }
    log::info!("parent after the children");
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(text.ends_with('\n'), "the file ends with a whole line");
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    let mut parent_lines = Vec::new();
    for line in text.lines() {
        let rec = LogLine::parse(line).unwrap_or_else(|| panic!("torn line: {line:.200}"));
        assert_eq!(rec.app, "forked");
        if rec.process == "MainProcess" {
            assert_eq!(rec.pid, std::process::id());
            parent_lines.push(rec.message.to_string());
            continue;
        }
        assert_eq!(
            pids.get(rec.process),
            Some(&rec.pid),
            "tagged with the child's own name and pid"
        );
        let i: usize = rec
            .message
            .strip_prefix(&format!("{} record ", rec.process))
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message: {:.200}", rec.message));
        assert_eq!(rec.message, body(rec.process, i, LEN), "line intact");
        seen.entry(rec.process.to_string()).or_default().push(i);
    }
    assert_eq!(
        parent_lines,
        ["parent before the children", "parent after the children"]
    );
    assert_eq!(seen.len(), CHILDREN, "every child logged");
    for (who, got) in seen {
        assert_eq!(
            got,
            (0..RECORDS).collect::<Vec<_>>(),
            "{who}: every record once, in order"
        );
    }
}

fn a_child_that_does_not_apply_still_tags_its_own_name_and_pid() {
    let path = log_path("inherited");
    LogConfig::new("inherit")
        .console(false)
        .file(&path)
        .apply()
        .unwrap();
    let mut p = Process::new(|| log::warn!("from a child that applied nothing")).name("heir");
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<LogLine> = text.lines().map(|l| LogLine::parse(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0].process, "heir");
    assert_eq!(lines[0].pid, pid);
    assert_eq!(lines[0].level, log::Level::Warn);
}

fn a_child_applies_its_own_level_without_changing_the_parents() {
    let path = log_path("levels");
    let config = LogConfig::new("levels").console(false).file(&path);
    config.apply().unwrap();
    let quiet = config.clone().level(LevelFilter::Warn);
    let mut p = Process::new(move || {
        quiet.apply().unwrap();
        log::info!("child info: filtered out");
        log::warn!("child warn: kept");
    })
    .name("quiet-child");
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    log::info!("parent info: kept");
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let messages: Vec<String> = text
        .lines()
        .map(|l| LogLine::parse(l).unwrap().message.to_string())
        .collect();
    assert_eq!(messages, ["child warn: kept", "parent info: kept"]);
}

fn console_records_are_whole_lines_on_stderr() {
    // Point this check's stderr (inherited by its children) at a file opened for append.
    let path = log_path("console");
    let capture = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    // SAFETY: replaces fd 2 of this single-threaded check process.
    assert!(unsafe { libc::dup2(capture.as_raw_fd(), 2) } == 2);
    LogConfig::new("console").apply().unwrap(); // console on, no file
    let go = Event::new();
    let mut children: Vec<Process> = (0..3)
        .map(|k| {
            let go = go.clone();
            Process::new(move || {
                go.wait();
                for i in 0..200 {
                    log::info!("{}", body(&format!("c{k}"), i, 5000));
                }
            })
            .name(format!("c{k}"))
        })
        .collect();
    for p in &mut children {
        p.start().unwrap();
    }
    go.set();
    for p in &mut children {
        assert_eq!(p.join().unwrap(), 0);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut count = HashMap::new();
    for line in text.lines() {
        let rec = LogLine::parse(line).unwrap_or_else(|| panic!("torn line: {line:.200}"));
        let i: usize = rec.message.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(rec.message, body(rec.process, i, 5000));
        *count.entry(rec.process.to_string()).or_insert(0) += 1;
    }
    assert_eq!(count.len(), 3);
    assert!(count.values().all(|&n| n == 200), "{count:?}");
}

fn a_config_sent_through_a_queue_configures_the_receiver() {
    let path = log_path("queued");
    let configs: Queue<LogConfig> = Queue::new().unwrap();
    let rx = configs.clone();
    // The child is forked before the parent applies anything: it has no logger until it
    // receives one, as a pool worker handed a config would.
    let mut p = Process::new(move || {
        log::error!("before any config: goes nowhere");
        let config = rx.get().unwrap();
        config.apply().unwrap();
        log::debug!("after the config arrived");
    })
    .name("receiver");
    p.start().unwrap();
    configs
        .put(
            LogConfig::new("queued")
                .level(LevelFilter::Debug)
                .console(false)
                .file(&path),
        )
        .unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<LogLine> = text.lines().map(|l| LogLine::parse(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0].message, "after the config arrived");
    assert_eq!(lines[0].process, "receiver");
    assert_eq!(lines[0].level, log::Level::Debug);
}
