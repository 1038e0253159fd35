//! Library checks for `Process` that fork: run by harness::forked (each check in its own
//! process group, with a timeout), because forking inside cargo's threaded test harness is
//! unsafe.

use harness::checks;
use multiproc::{Event, Process, Queue, Value, current_process, parent_process};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        exit_codes_follow_python,
        join_timeout_leaves_a_running_child_alive,
        join_timeout_duration_max_waits_for_the_child,
        child_knows_its_name_pid_and_parent,
        default_names_nest_like_pythons,
        child_dies_with_its_parent,
        dropping_a_handle_leaves_no_zombie,
        dropping_a_daemon_terminates_it,
        panic_message_reaches_stderr,
        start_twice_is_an_error,
        moved_pipe_end_is_closed_in_the_parent,
    ])
}

fn exit_codes_follow_python() {
    let mut ok = Process::spawn(|| ()).unwrap();
    let mut returned = Process::spawn(|| 3).unwrap();
    let mut exited = Process::spawn(|| -> () { multiproc::exit(4) }).unwrap();
    let mut failed = Process::spawn(|| Err::<(), _>("no")).unwrap();
    let mut panicked = Process::spawn(|| -> () { panic!("boom") }).unwrap();
    assert_eq!(ok.join().unwrap(), 0);
    assert_eq!(returned.join().unwrap(), 3);
    assert_eq!(exited.join().unwrap(), 4);
    assert_eq!(failed.join().unwrap(), 1);
    assert_eq!(panicked.join().unwrap(), 1);
    let mut t = Process::spawn(forever).unwrap();
    let mut k = Process::spawn(forever).unwrap();
    t.terminate().unwrap();
    k.kill().unwrap();
    assert_eq!(t.join().unwrap(), -15);
    assert_eq!(k.join().unwrap(), -9);
    assert_eq!(t.exitcode(), Some(-15), "exitcode stays once reaped");
    t.kill().unwrap(); // no-op on a reaped child, never signals a recycled pid
}

fn forever() {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn join_timeout_leaves_a_running_child_alive() {
    let mut p = Process::spawn(forever).unwrap();
    let t = Instant::now();
    assert_eq!(p.join_timeout(Duration::from_millis(200)).unwrap(), None);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "waited the whole timeout"
    );
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    p.kill().unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), Some(-9));
    assert!(!p.is_alive());
}

/// The largest timeout means "wait": no `Instant + Duration` overflow, and the wait ends
/// when the child does. The child ends once a second process lets it, so nothing here
/// depends on which of the two gets to run first.
fn join_timeout_duration_max_waits_for_the_child() {
    let go = Event::new();
    let g = go.clone();
    let mut child = Process::spawn(move || {
        g.wait();
        7
    })
    .unwrap();
    let g = go.clone();
    let mut helper = Process::spawn(move || g.set()).unwrap();
    assert_eq!(child.join_timeout(Duration::MAX).unwrap(), Some(7));
    assert_eq!(helper.join_timeout(Duration::MAX).unwrap(), Some(0));
    // Once ended, it answers at once.
    assert_eq!(child.join_timeout(Duration::MAX).unwrap(), Some(7));
}

fn child_knows_its_name_pid_and_parent() {
    let me = current_process();
    assert_eq!(me.name(), "MainProcess");
    assert!(parent_process().is_none());
    let q: Queue<(String, u32, u32, String, String)> = Queue::new().unwrap();
    let qc = q.clone();
    let mut p = Process::new(move || {
        let me = current_process();
        let parent = parent_process().expect("a child has a parent");
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        qc.put((
            me.name().to_string(),
            me.pid(),
            parent.pid(),
            parent.name().to_string(),
            comm.trim().to_string(),
        ))
        .unwrap();
    })
    .name("a rather long process name");
    p.start().unwrap();
    let (name, pid, ppid, pname, comm) = q.get().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(name, "a rather long process name");
    assert_eq!(Some(pid), p.pid());
    assert_eq!(ppid, std::process::id());
    assert_eq!(pname, "MainProcess");
    assert_eq!(comm, "a rather long p", "OS name cut to 15 bytes");
}

fn default_names_nest_like_pythons() {
    // This check runs in a fresh fork of the runner: its counter starts where the runner's
    // did, so compare relative names.
    let a = Process::new(|| ());
    let b = Process::new(|| ());
    let na: u32 = a
        .get_name()
        .strip_prefix("Process-")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(b.get_name(), format!("Process-{}", na + 1));
    let q: Queue<Vec<String>> = Queue::new().unwrap();
    let qc = q.clone();
    let mut parent = Process::spawn(move || {
        let names = vec![
            Process::new(|| ()).get_name().to_string(),
            Process::new(|| ()).get_name().to_string(),
        ];
        qc.put(names).unwrap();
    })
    .unwrap();
    let parent_name = format!("Process-{}", na + 2);
    assert_eq!(
        q.get().unwrap(),
        [format!("{parent_name}:1"), format!("{parent_name}:2")]
    );
    parent.join().unwrap();
}

fn child_dies_with_its_parent() {
    let grandchild = Value::new(0u32);
    let g = grandchild.clone();
    let started = Event::new();
    let s = started.clone();
    let mut middle = Process::spawn(move || {
        let inner = Process::spawn(forever).unwrap();
        g.store(inner.pid().unwrap());
        s.set();
        forever();
    })
    .unwrap();
    assert!(started.wait_timeout(Duration::from_secs(30)));
    let pid = grandchild.load() as i32;
    middle.kill().unwrap();
    assert_eq!(middle.join().unwrap(), -9);
    // The grandchild gets SIGKILL from the kernel when its parent dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
            .flatten();
        if matches!(state, None | Some('Z') | Some('X')) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} outlived its parent"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn zombies_of_this_process() -> Vec<i32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest: Vec<String> = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .map(String::from)
                .collect();
            (rest.first()? == "Z" && rest.get(1)? == &me)
                .then(|| e.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

fn dropping_a_handle_leaves_no_zombie() {
    let done = Event::new();
    let d = done.clone();
    let p = Process::spawn(move || d.set()).unwrap();
    assert!(done.wait_timeout(Duration::from_secs(30)));
    drop(p);
    assert!(zombies_of_this_process().is_empty());
}

fn dropping_a_daemon_terminates_it() {
    let mut p = Process::new(forever).daemon(true);
    p.start().unwrap();
    let pid = p.pid().unwrap();
    drop(p);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "terminated and reaped"
    );
}

fn panic_message_reaches_stderr() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = (fds[0], fds[1]);
    let mut p = Process::new(move || -> () {
        // SAFETY: the child points its stderr at the pipe's write end, which it inherited.
        unsafe { libc::dup2(w, 2) };
        panic!("the answer is {}", 42)
    })
    .name("panicky");
    p.start().unwrap();
    // SAFETY: the parent closes its copy of the write end, which nothing else owns.
    unsafe { libc::close(w) };
    assert_eq!(p.join().unwrap(), 1);
    let mut text = String::new();
    // SAFETY: `r` is the pipe's read end, owned by nothing else; the File takes it over.
    unsafe { std::fs::File::from_raw_fd(r) }
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("the answer is 42"), "stderr was: {text}");
    assert!(text.contains("Process panicky"), "stderr was: {text}");
}

fn start_twice_is_an_error() {
    let mut p = Process::new(|| ());
    assert!(p.join().is_err(), "join before start is an error");
    p.start().unwrap();
    assert!(p.start().is_err());
    assert_eq!(p.join().unwrap(), 0);
}

fn moved_pipe_end_is_closed_in_the_parent() {
    let (parent_end, child_end) = multiproc::Pipe::new();
    let mut p = Process::spawn(move || child_end.send(&"hi").unwrap()).unwrap();
    assert_eq!(parent_end.recv::<String>().unwrap(), "hi");
    p.join().unwrap();
    assert!(matches!(
        parent_end.recv::<String>(),
        Err(multiproc::Error::Closed)
    ));
}
