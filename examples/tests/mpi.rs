//! The MPI examples (`--features mpi`; needs Open MPI's `mpirun`) give the single-machine
//! examples' results, with 1 and with 2 ranks: `mpi_reduction` the sum `pool_map_sum`
//! computes with a Pool, `mpi_mandelbrot` the canvas (checksum and PNG bytes)
//! `mandelbrot_pipeline` computes sequentially and with processes. The twins run here, in
//! the same test, on the same inputs; nothing is compared with a number alone.
//!
//! `mpirun` puts each rank in a process group of its own, so a process-group timeout would
//! miss them: [`mpirun`] starts it in a session of its own instead, kills the whole session
//! when the run takes too long, and fails when anything of the session (a rank, a daemon)
//! outlives `mpirun`. Run with `cargo test -p multiproc-examples --features mpi --test mpi`.

use harness::{Example, Run, example};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long one `mpirun` may take before its session is killed and the test fails
/// (unoptimised binaries on a loaded 2-core machine: generous, but finite).
const TIMEOUT: Duration = Duration::from_secs(180);

/// What one `mpirun` printed, and how it ended.
struct MpiRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl MpiRun {
    /// The value of the `key=value` line `key`, exactly once.
    fn value(&self, key: &str) -> String {
        let found: Vec<&str> = self
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect();
        assert_eq!(found.len(), 1, "{key}= once\n{}", self.context());
        found[0].trim().to_string()
    }

    fn context(&self) -> String {
        format!(
            "--- {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    fn expect_success(&self) -> &MpiRun {
        assert!(self.status.success(), "mpirun failed\n{}", self.context());
        self
    }
}

/// The processes of session `sid` (zombies included), from /proc.
fn session_members(sid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp session ...": comm may hold anything but its last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(sid) {
            let comm = head.split_once('(').map_or("", |(_, c)| c);
            out.push((pid, format!("{comm} ({})", fields[0])));
        }
    }
    out
}

/// From now on this test process adopts the orphans of the processes it starts
/// (`PR_SET_CHILD_SUBREAPER`): a rank whose parent (mpirun's daemon) exits before reaping
/// it becomes our child, not a zombie that only the container's init could reap.
fn adopt_orphans() {
    // SAFETY: a plain prctl on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        r,
        0,
        "PR_SET_CHILD_SUBREAPER: {}",
        std::io::Error::last_os_error()
    );
}

/// Reap the zombies among `members` (ours to reap: we adopted them); the others.
fn reap_zombies(members: Vec<(i32, String)>) -> Vec<(i32, String)> {
    members
        .into_iter()
        .filter(|(pid, what)| {
            if !what.ends_with("(Z)") {
                return true;
            }
            let mut status = 0;
            // SAFETY: waiting, without blocking, for one process of this test's own
            // session: a zombie that is our child (see `adopt_orphans`), or not ours (then
            // waitpid fails and it is reported as left).
            unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) != *pid }
        })
        .collect()
}

/// Kill every process of session `sid`, and wait (up to 10 s) until none is left.
fn kill_session(sid: i32) -> Vec<(i32, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = reap_zombies(session_members(sid));
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        for (pid, _) in &left {
            // SAFETY: kill(2) has no memory effects; the pid was in our run's session a
            // moment ago (a recycled pid would have to join that session to be hit).
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mpirun --oversubscribe -n <ranks> <exe> <args>` in a new session, allowed to run as root
/// (CI runs as root in a container). Panics, with what it printed, on a timeout (after
/// killing the session) or when a process of the session outlives mpirun by 10 s.
fn mpirun(ranks: u32, exe: &str, args: &[&str]) -> MpiRun {
    let mut cmd = Command::new(std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into()));
    cmd.args(["--oversubscribe", "-n", &ranks.to_string(), exe])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the child only calls setsid(2), which is
    // async-signal-safe and touches no memory of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    adopt_orphans();
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start mpirun (is Open MPI installed?): {e}"));
    let sid = child.id() as i32;
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = collect(Box::new(child.stdout.take().expect("piped")));
    let err = collect(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() >= TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let left = match status {
        // Whatever of the session is still there once mpirun has gone was left behind. A
        // rank that mpirun's abort killed may outlive its parent as a zombie: it comes to
        // us (a subreaper), and we reap it.
        Some(_) => {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut left = reap_zombies(session_members(sid));
            while !left.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                left = reap_zombies(session_members(sid));
            }
            left
        }
        None => Vec::new(),
    };
    let uncleared = kill_session(sid);
    let _ = child.wait();
    let (stdout, stderr) = (out.join().expect("stdout"), err.join().expect("stderr"));
    let what = format!("mpirun -n {ranks} {exe} {args:?}");
    let Some(status) = status else {
        panic!(
            "{what} timed out after {TIMEOUT:?}; killed its session (left: {uncleared:?})\n\
             --- stdout:\n{stdout}\n--- stderr:\n{stderr}"
        );
    };
    assert!(
        left.is_empty(),
        "{what} exited ({status}) but left processes behind: {left:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
    );
    MpiRun {
        status,
        stdout,
        stderr,
    }
}

/// `pool_map_sum --n <n>`: the Pool's sum and the serial one, which must agree.
fn pool_sum(n: u64) -> String {
    let run: Run = example!("pool_map_sum")
        .args(["--n", &n.to_string(), "--workers", "2"])
        .run();
    run.expect_success();
    let (pooled, serial) = (run.values("pool_sum"), run.values("serial_sum"));
    assert_eq!(pooled, serial, "pool_map_sum disagrees with itself");
    assert_eq!(pooled.len(), 1);
    pooled[0].clone()
}

const REDUCTION: &str = env!("CARGO_BIN_EXE_mpi_reduction");
const MANDELBROT: &str = env!("CARGO_BIN_EXE_mpi_mandelbrot");

#[test]
fn mpi_reduction_sums_as_the_pool_does_on_1_and_2_ranks() {
    // The seed's size: the sum the issue names, computed here by the Pool version too.
    let twin = pool_sum(10_000);
    assert_eq!(twin, "3332833350000000");
    for ranks in [1, 2] {
        let run = mpirun(ranks, REDUCTION, &["--n", "10000"]);
        run.expect_success();
        assert_eq!(run.value("ranks"), ranks.to_string());
        assert_eq!(run.value("sum"), twin, "{ranks} ranks");
        assert_eq!(run.value("serial_sum"), twin, "{ranks} ranks");
        let partials: u64 = run
            .value("partial_sums")
            .split(',')
            .map(|p| p.parse::<u64>().expect("a partial sum"))
            .sum();
        assert_eq!(partials.to_string(), twin, "the partial sums add up");
    }
}

#[test]
fn mpi_reduction_chunks_as_parallel_reduction_does_even_with_idle_ranks() {
    // 7 inputs on 2 ranks: chunks of 4 and 3; 1 input: the second rank gets nothing;
    // 0 inputs: nobody gets anything and the sum is 0.
    for n in [7u64, 1, 0] {
        let twin = pool_sum(n);
        let run = mpirun(2, REDUCTION, &["--n", &n.to_string()]);
        run.expect_success();
        assert_eq!(run.value("sum"), twin, "n={n}");
        let data: Vec<u64> = (0..n).collect();
        let mut sizes: Vec<String> = kit::workloads::chunk_list(&data, 2)
            .iter()
            .map(|c| c.len().to_string())
            .collect();
        sizes.resize(2, "0".into());
        assert_eq!(run.value("chunk_sizes"), sizes.join(","), "n={n}");
    }
}

/// `mandelbrot_pipeline` on the same view: its canvas checksum (the sequential and parallel
/// canvases must be equal) and its PNG's bytes.
fn pipeline_canvas(view: &[&str], dir: &std::path::Path) -> (String, Vec<u8>) {
    let png = dir.join("pipeline.png");
    let run: Run = example!("mandelbrot_pipeline")
        .args(view)
        .args(["--workers", "2", "--output"])
        .arg(&png)
        .run();
    run.expect_success();
    assert_eq!(run.values("canvases_equal"), ["true"]);
    let sha = run.values("canvas_sha256");
    assert_eq!(sha.len(), 1);
    (
        sha[0].clone(),
        std::fs::read(&png).expect("the pipeline's PNG"),
    )
}

#[test]
fn mpi_mandelbrot_draws_the_pipelines_canvas_on_1_and_2_ranks() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An even and an odd number of rows (two ranks then get blocks of 51 and 50), and a
    // view off the seed's.
    let views: [&[&str]; 2] = [
        &["--pixdim", "120"],
        &[
            "--pixdim", "101", "--x", "-0.75", "--y", "0.1", "--size", "0.5", "--orbits", "100",
        ],
    ];
    for view in views {
        let (twin_sha, twin_png) = pipeline_canvas(view, dir.path());
        for ranks in [1, 2] {
            let png = dir.path().join(format!("mpi-{ranks}.png"));
            let mut args = view.to_vec();
            args.extend(["--output", png.to_str().expect("utf-8 temp path")]);
            let run = mpirun(ranks, MANDELBROT, &args);
            run.expect_success();
            assert_eq!(run.value("ranks"), ranks.to_string());
            assert_eq!(
                run.value("canvas_sha256"),
                twin_sha,
                "{ranks} ranks, {view:?}"
            );
            let bytes = std::fs::read(&png).expect("the MPI PNG");
            assert!(
                bytes == twin_png,
                "{ranks} ranks, {view:?}: the PNGs differ"
            );
            assert_eq!(run.value("png_path"), png.display().to_string());
        }
    }
}

#[test]
fn mpi_mandelbrot_with_an_unwritable_output_fails_on_every_rank_without_hanging() {
    let run = mpirun(
        2,
        MANDELBROT,
        &["--pixdim", "16", "--output", "/nonexistent-dir/x.png"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    assert!(run.stderr.contains("cannot create /nonexistent-dir/x.png"));
    assert!(!run.stdout.contains("canvas_sha256="), "{}", run.context());
}

#[test]
fn mpi_examples_reject_bad_input_with_exit_2_before_mpi_starts() {
    // Parsed before MPI is initialised: no mpirun needed, nothing of MPI runs.
    for (exe, name, bad) in [
        (REDUCTION, "mpi_reduction", "--n=-1"),
        (MANDELBROT, "mpi_mandelbrot", "--pixdim=0"),
    ] {
        Example::new(name, exe).arg(bad).run().expect_usage_error();
        let help = Example::new(name, exe).arg("--help").run();
        help.expect_code(0);
        assert!(
            help.stdout().contains("mpirun -n"),
            "{name}: --help says how to start it"
        );
    }
}
