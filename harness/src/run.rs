//! Running one example and looking at what it did.

use crate::group;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default time an example may take before its group is killed and the test fails. Tests
/// run unoptimised binaries on a loaded 2-core machine: generous, but finite.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One example binary to run.
#[derive(Clone, Debug)]
pub struct Example {
    name: String,
    path: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

impl Example {
    /// The binary at `path`, called `name` in messages. Usually built by [`crate::example!`].
    pub fn new(name: &str, path: &str) -> Example {
        Example {
            name: name.to_string(),
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The binary target `name` next to the running test executable (cargo builds every
    /// `[[bin]]` of the package into the directory above `deps/` before running
    /// integration tests). For tests that loop over the catalogue.
    pub fn by_name(name: &str) -> Example {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("test executable lives in target/<profile>/deps");
        let path = dir.join(name);
        assert!(
            path.exists(),
            "binary {name} not found at {} (is it a [[bin]] of the package?)",
            path.display()
        );
        Example::new(name, path.to_str().expect("utf-8 path"))
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Example {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Example
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Example {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Example {
        self.timeout = timeout;
        self
    }

    /// Run to completion. Panics, with everything the example printed, when it times out
    /// (after killing its whole process group) or leaves a process behind.
    pub fn run(&self) -> Run {
        self.spawn().finish(Duration::ZERO)
    }

    /// Start the example and return at once, for a test that acts on it while it runs
    /// (signals it, watches its process group); [`Running::finish`] then checks the end as
    /// [`Example::run`] does. The timeout counts from here.
    pub fn spawn(&self) -> Running {
        group::become_subreaper();
        let mut cmd = Command::new(&self.path);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        let pgid = child.id() as i32;
        let out_reader = reader(child.stdout.take().expect("piped"));
        let err_reader = reader(child.stderr.take().expect("piped"));
        Running {
            example: self.clone(),
            child: Some(child),
            pgid,
            started,
            readers: Some((out_reader, err_reader)),
        }
    }
}

/// An example started by [`Example::spawn`] and not yet finished. Dropping it unfinished
/// kills its whole process group.
pub struct Running {
    example: Example,
    child: Option<Child>,
    pgid: i32,
    started: Instant,
    readers: Option<(Collector, Collector)>,
}

/// A thread collecting one of the example's output streams.
type Collector = JoinHandle<Vec<u8>>;

impl Running {
    /// The example's pid, which is also its process group's id.
    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    /// How many processes its group holds now, the example itself and zombies included.
    pub fn group_size(&self) -> usize {
        group::members(self.pgid).len()
    }

    /// Whether the example itself has exited (it stays unreaped until `finish`).
    pub fn has_exited(&self) -> bool {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: waitid on our own child with WNOWAIT leaves it waitable; `info` is a
        // valid siginfo_t to fill.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pgid as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: zero-initialised, then filled (or left zeroed) by waitid.
        r == 0 && unsafe { info.assume_init().si_pid() } != 0
    }

    /// Send `signal` to the example's own process only (`kill <pid>`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: our child, not yet reaped, so the pid is still the example's.
        let r = unsafe { libc::kill(self.pgid, signal) };
        assert_eq!(
            r,
            0,
            "kill({}, {signal}): {}",
            self.pgid,
            std::io::Error::last_os_error()
        );
    }

    /// Send `signal` to every process of the example's group, as a terminal's Ctrl-C does.
    pub fn signal_group(&self, signal: i32) {
        // SAFETY: the group led by our unreaped child.
        let r = unsafe { libc::kill(-self.pgid, signal) };
        assert_eq!(
            r,
            0,
            "kill(-{}, {signal}): {}",
            self.pgid,
            std::io::Error::last_os_error()
        );
    }

    /// Wait for the example to exit, then up to `grace` for the rest of its group to go
    /// (members orphaned by its exit are reaped here, since this process is their
    /// subreaper). Panics, with everything the example printed, when it times out (after
    /// killing its whole group) or when a process of the group is still there after
    /// `grace`, alive or zombie.
    pub fn finish(mut self, grace: Duration) -> Run {
        let ex = self.example.clone();
        let pgid = self.pgid;
        let mut child = self.child.take().expect("finish once");
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if self.started.elapsed() >= ex.timeout {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.started.elapsed();

        // Whatever is still in the group after the grace period was left behind.
        let mut leftovers = group::members(pgid);
        if status.is_some() && !grace.is_zero() {
            let deadline = Instant::now() + grace;
            while !leftovers.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
                group::reap(pgid);
                leftovers = group::members(pgid);
            }
        }
        let uncleared = if status.is_none() || !leftovers.is_empty() {
            let uncleared = group::kill_and_reap(pgid, Duration::from_secs(5));
            let _ = child.wait();
            uncleared
        } else {
            Vec::new()
        };
        let (out_reader, err_reader) = self.readers.take().expect("finish once");
        let stdout = out_reader.join().expect("stdout reader");
        let stderr = err_reader.join().expect("stderr reader");
        let describe = |what: String| -> String {
            format!(
                "{what}\n--- command: {} {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                ex.name,
                ex.args,
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            )
        };
        let Some(status) = status else {
            panic!(
                "{}",
                describe(format!(
                    "{} timed out after {:?}; killed its process group {pgid}{}",
                    ex.name,
                    ex.timeout,
                    if uncleared.is_empty() {
                        String::new()
                    } else {
                        format!(" (could not clear: {uncleared:?})")
                    }
                ))
            );
        };
        if !leftovers.is_empty() {
            let list: Vec<String> = leftovers.iter().map(ToString::to_string).collect();
            panic!(
                "{}",
                describe(format!(
                    "{} exited ({status}) but left processes behind{}: {}",
                    ex.name,
                    if grace.is_zero() {
                        String::new()
                    } else {
                        format!(" for {grace:?}")
                    },
                    list.join(", ")
                ))
            );
        }
        Run {
            output: Output {
                status,
                stdout,
                stderr,
            },
            elapsed,
            name: ex.name.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            group::kill_and_reap(self.pgid, Duration::from_secs(5));
            let _ = child.wait();
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// What one run of an example produced.
#[derive(Debug)]
pub struct Run {
    /// Status, stdout and stderr, as assert_cmd expects (`run.output.clone().assert()`).
    pub output: Output,
    /// Wall time of the run (for timeout diagnostics only, never for assertions on speed).
    pub elapsed: Duration,
    name: String,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    /// The exit code, `None` if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// For assert_cmd/predicates: `run.assert().success().stdout(predicate::...)`.
    pub fn assert(&self) -> assert_cmd::assert::Assert {
        use assert_cmd::assert::OutputAssertExt;
        self.output.clone().assert()
    }

    /// The context printed when an expectation fails.
    fn context(&self) -> String {
        format!(
            "--- {} exited with {:?} (signal {:?})\n--- stdout:\n{}\n--- stderr:\n{}",
            self.name,
            self.output.status.code(),
            self.output.status.signal(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Panic with the full output unless the example exited 0.
    pub fn expect_success(&self) -> &Run {
        assert!(
            self.output.status.success(),
            "expected success\n{}",
            self.context()
        );
        self
    }

    /// Panic with the full output unless the example exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\n{}",
            self.context()
        );
        self
    }

    /// Panic with the full output unless this was a usage error, as clap reports one: exit
    /// code 2, an `error: ` message pointing to `--help` on stderr, nothing on stdout.
    pub fn expect_usage_error(&self) -> &Run {
        self.expect_code(2);
        let err = self.stderr();
        assert!(
            err.starts_with("error: ") && err.contains("--help"),
            "expected a usage error on stderr\n{}",
            self.context()
        );
        assert!(
            self.stdout().is_empty(),
            "expected nothing to run\n{}",
            self.context()
        );
        self
    }

    /// Every `key=value` pair of stdout, in order; see [`pairs_in`] for the forms read.
    pub fn pairs(&self) -> Vec<(String, String)> {
        pairs_in(&self.stdout())
    }

    /// All values printed for `key`, in order.
    pub fn values(&self, key: &str) -> Vec<String> {
        self.pairs()
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// All values for `key`, parsed; panics with the output if one does not parse.
    pub fn parsed<T: FromStr>(&self, key: &str) -> Vec<T>
    where
        T::Err: std::fmt::Debug,
    {
        self.values(key)
            .iter()
            .map(|v| {
                v.parse().unwrap_or_else(|e| {
                    panic!("{key}={v} does not parse: {e:?}\n{}", self.context())
                })
            })
            .collect()
    }

    /// The single value of `key`, parsed; panics with the output if absent or repeated.
    pub fn one<T: FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        let mut all = self.parsed::<T>(key);
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {key}= pair\n{}",
            self.context()
        );
        all.remove(0)
    }

    /// The last value of every key.
    pub fn map(&self) -> HashMap<String, String> {
        self.pairs().into_iter().collect()
    }
}

/// Is `k` a key: an identifier of ASCII letters, digits and `_`?
fn is_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every `key=value` pair of `text`, in order. Two forms are read:
///
/// - A sentence with `key=value` words anywhere in it:
///   `balance=0 after 20000 deposits and 20000 withdrawals: drift=0 (locked)` gives
///   `balance=0` and `drift=0`. A word's key is the identifier just before its `=` (so
///   `(drift=3)` is read too); its value runs to the next space, or, when it opens with
///   `[`, `(`, `{` or `"`, to the matching close (`inside=[4, 9, 25]`); trailing `,;:.` and
///   an unmatched `)` are not part of it.
/// - A whole line `key=value` whose value may hold spaces (`received=Hello from one`):
///   a line that starts with `key=` and holds no other `key=` word is read whole, as before.
///   So a sentence must not start with its only pair.
pub fn pairs_in(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words = words_of(line);
        let starts_with_pair = line.split_once('=').is_some_and(|(k, _)| is_key(k));
        if starts_with_pair && words.len() <= 1 {
            let (k, v) = line.split_once('=').expect("checked");
            out.push((k.to_string(), v.trim().to_string()));
        } else {
            out.extend(words);
        }
    }
    out
}

/// The `key=value` words of one line (see [`pairs_in`]).
fn words_of(line: &str) -> Vec<(String, String)> {
    let b = line.as_bytes();
    let key_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'=' {
            i += 1;
            continue;
        }
        // The key: identifier bytes just before `=`, starting a word or after punctuation.
        let mut start = i;
        while start > 0 && key_byte(b[start - 1]) {
            start -= 1;
        }
        let word_start = start == 0 || matches!(b[start - 1], b' ' | b'\t' | b'(' | b'[' | b',');
        if start == i || !word_start {
            i += 1;
            continue;
        }
        // The value: to the next blank, or over a bracketed/quoted span.
        let vstart = i + 1;
        let mut end = vstart;
        let close = match b.get(vstart) {
            Some(b'[') => Some(b']'),
            Some(b'(') => Some(b')'),
            Some(b'{') => Some(b'}'),
            Some(b'"') => Some(b'"'),
            _ => None,
        };
        if let Some(close) = close {
            let open = b[vstart];
            let mut depth = 0usize;
            end = vstart;
            while end < b.len() {
                let c = b[end];
                end += 1;
                if open == b'"' {
                    if c == b'"' && end - 1 > vstart {
                        break;
                    }
                } else if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            let v = &line[vstart..end];
            let v = if open == b'"' && v.len() >= 2 && v.ends_with('"') {
                &v[1..v.len() - 1]
            } else {
                v
            };
            out.push((line[start..i].to_string(), v.to_string()));
        } else {
            while end < b.len() && !b[end].is_ascii_whitespace() {
                end += 1;
            }
            let mut v = &line[vstart..end];
            loop {
                let trimmed = v.trim_end_matches([',', ';', ':', '.']);
                let trimmed = if trimmed.ends_with(')')
                    && trimmed.matches('(').count() < trimmed.matches(')').count()
                {
                    &trimmed[..trimmed.len() - 1]
                } else {
                    trimmed
                };
                if trimmed.len() == v.len() {
                    break;
                }
                v = trimmed;
            }
            out.push((line[start..i].to_string(), v.to_string()));
        }
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pairs_in;

    fn p(text: &str) -> Vec<(String, String)> {
        pairs_in(text)
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn whole_lines_read_as_before() {
        assert_eq!(p("expected=200"), kv(&[("expected", "200")]));
        assert_eq!(p("inside=[4, 9, 25]"), kv(&[("inside", "[4, 9, 25]")]));
        assert_eq!(
            p("received=Hello from process_one\nslow_get_timeout=timed out"),
            kv(&[
                ("received", "Hello from process_one"),
                ("slow_get_timeout", "timed out")
            ])
        );
        assert_eq!(p("q1_record=0:4"), kv(&[("q1_record", "0:4")]));
        assert_eq!(p("partial_sums="), kv(&[("partial_sums", "")]));
        assert_eq!(p("Some prose, no pairs.\n== rule =="), kv(&[]));
    }

    #[test]
    fn words_in_a_sentence() {
        assert_eq!(
            p("balance=0 after 20000 deposits and 20000 withdrawals: drift=0 (locked)"),
            kv(&[("balance", "0"), ("drift", "0")])
        );
        assert_eq!(
            p("Without the lock: total=512 of expected=1000, lost=488."),
            kv(&[("total", "512"), ("expected", "1000"), ("lost", "488")])
        );
        assert_eq!(
            p("the child saw inside=[4, 9, 25] (pid=42)"),
            kv(&[("inside", "[4, 9, 25]"), ("pid", "42")])
        );
        assert_eq!(
            p("e=2.718281828 (error=1.2e-9); name=\"Process-1\" done"),
            kv(&[
                ("e", "2.718281828"),
                ("error", "1.2e-9"),
                ("name", "Process-1")
            ])
        );
        assert_eq!(p("a == b, x=-3"), kv(&[("x", "-3")]));
    }
}
