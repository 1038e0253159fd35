//! Raw baselines: the same operations written directly on libc, as a C programmer would.

use std::time::{Duration, Instant};

fn check(ret: libc::c_int, what: &str) {
    assert!(ret >= 0, "{what}: {}", std::io::Error::last_os_error());
}

/// Fork a child running `body` (which must not return) and give its pid.
pub fn fork(body: impl FnOnce()) -> libc::pid_t {
    super::assert_single_threaded();
    // SAFETY: single-threaded (checked); the child runs `body` then `_exit`s.
    let pid = unsafe { libc::fork() };
    check(pid, "fork");
    if pid == 0 {
        body();
        // SAFETY: ends the forked child at once; it runs nothing of the parent's.
        unsafe { libc::_exit(0) };
    }
    pid
}

pub fn wait(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// fork + `_exit(0)` + waitpid: the floor for starting and joining a process.
pub fn fork_exit_wait() {
    let pid = fork(|| {});
    wait(pid);
}

/// An anonymous shared mapping of `len` zeroed bytes (leaked: benches are short-lived).
pub fn shared_bytes(len: usize) -> *mut u8 {
    // SAFETY: fresh anonymous mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p.cast()
}

/// A process-shared pthread mutex in shared memory; `robust` adds PTHREAD_MUTEX_ROBUST.
pub fn shared_mutex(robust: bool) -> *mut libc::pthread_mutex_t {
    let m = shared_bytes(std::mem::size_of::<libc::pthread_mutex_t>()).cast();
    // SAFETY: `m` points to fresh shared memory big enough for a mutex; the attribute is initialised before use and destroyed after.
    unsafe {
        let mut attr = std::mem::MaybeUninit::uninit();
        libc::pthread_mutexattr_init(attr.as_mut_ptr());
        libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        if robust {
            libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        }
        check(libc::pthread_mutex_init(m, attr.as_ptr()), "mutex init");
    }
    m
}

/// A process-shared pthread barrier for `n`.
pub fn shared_barrier(n: u32) -> *mut libc::pthread_barrier_t {
    let b = shared_bytes(std::mem::size_of::<libc::pthread_barrier_t>()).cast();
    // SAFETY: `b` points to fresh shared memory big enough for a barrier; the attribute is initialised before use and destroyed after.
    unsafe {
        let mut attr = std::mem::MaybeUninit::uninit();
        libc::pthread_barrierattr_init(attr.as_mut_ptr());
        libc::pthread_barrierattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        check(
            libc::pthread_barrier_init(b, attr.as_ptr(), n),
            "barrier init",
        );
    }
    b
}

/// A pipe: (read end, write end).
pub fn pipe() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) }, "pipe");
    (fds[0], fds[1])
}

/// A SOCK_SEQPACKET socketpair.
pub fn seqpacket() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    check(
        // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) },
        "socketpair",
    );
    (fds[0], fds[1])
}

pub fn close(fd: libc::c_int) {
    // SAFETY: closing a descriptor this baseline owns.
    unsafe { libc::close(fd) };
}

pub fn write_all(fd: libc::c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        check(n as i32, "write");
        buf = &buf[n as usize..];
    }
}

pub fn read_exact(fd: libc::c_int, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        check(n as i32, "read");
        assert!(n > 0, "unexpected end of pipe");
        buf = &mut buf[n as usize..];
    }
}

/// Stream `count` messages of `size` bytes from a child to this process over the
/// `(read, write)` pair, one `write`/`read` (or send/recv) per message; the time from the
/// child's go signal to the last message read.
pub fn stream(
    count: u64,
    size: usize,
    (r, w): (libc::c_int, libc::c_int),
    packet: bool,
) -> Duration {
    let (go_r, go_w) = pipe();
    let pid = fork(|| {
        close(r);
        close(go_w);
        let mut b = [0u8; 1];
        read_exact(go_r, &mut b);
        let msg = vec![7u8; size];
        for _ in 0..count {
            if packet {
                // SAFETY: `msg` is readable for `size` bytes.
                let n = unsafe { libc::send(w, msg.as_ptr().cast(), size, 0) };
                check(n as i32, "send");
            } else {
                write_all(w, &msg);
            }
        }
    });
    close(w);
    close(go_r);
    let mut buf = vec![0u8; size];
    let start = Instant::now();
    write_all(go_w, &[1]);
    for _ in 0..count {
        if packet {
            // SAFETY: `buf` is writable for `size` bytes (its length).
            let n = unsafe { libc::recv(r, buf.as_mut_ptr().cast(), size, 0) };
            assert_eq!(n as usize, size, "short packet");
        } else {
            read_exact(r, &mut buf);
        }
    }
    let took = start.elapsed();
    wait(pid);
    close(r);
    close(go_w);
    took
}

/// The time `iters` raw pools of `workers` take to be created, closed and joined: the
/// baseline of every `Pool(2) create+close+join` row.
pub fn time_lifecycles(iters: u64, workers: usize, f: fn(u64) -> u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        RawPool::new(workers, f).close_join();
        total += t.elapsed();
    }
    total
}

/// A minimal process pool: `workers` forked workers, each fed through its own pipe with
/// chunks of `u64` arguments (written ahead, round-robin, while results are read back with
/// `poll` so no pipe can fill up and deadlock), each computing `f` and writing the results
/// to its own result pipe. No scheduling, no failure handling, no serialisation: the floor
/// for what a pool can cost per task.
pub struct RawPool {
    tasks: Vec<libc::c_int>,
    results: Vec<libc::c_int>,
    pids: Vec<libc::pid_t>,
}

impl RawPool {
    pub fn new(workers: usize, f: fn(u64) -> u64) -> RawPool {
        let mut pool = RawPool {
            tasks: Vec::new(),
            results: Vec::new(),
            pids: Vec::new(),
        };
        for _ in 0..workers {
            let (tr, tw) = pipe();
            let (rr, rw) = pipe();
            let inherited: Vec<libc::c_int> =
                pool.tasks.iter().chain(&pool.results).copied().collect();
            let pid = fork(|| {
                for fd in inherited {
                    close(fd);
                }
                close(tw);
                close(rr);
                // Messages: [n: u64][n args]; reply [n results]. n == 0 ends.
                let mut hdr = [0u8; 8];
                loop {
                    read_exact(tr, &mut hdr);
                    let n = u64::from_ne_bytes(hdr) as usize;
                    if n == 0 {
                        return;
                    }
                    let mut args = vec![0u8; n * 8];
                    read_exact(tr, &mut args);
                    let out: Vec<u8> = args
                        .chunks_exact(8)
                        .flat_map(|c| f(u64::from_ne_bytes(c.try_into().unwrap())).to_ne_bytes())
                        .collect();
                    write_all(rw, &out);
                }
            });
            close(tr);
            close(rw);
            pool.tasks.push(tw);
            pool.results.push(rr);
            pool.pids.push(pid);
        }
        pool
    }

    /// `f` over `args` in chunks of `chunksize`, dealt round-robin; results in input order.
    pub fn map(&self, args: &[u64], chunksize: usize) -> Vec<u64> {
        let chunks: Vec<&[u64]> = args.chunks(chunksize.max(1)).collect();
        let w = self.tasks.len();
        let mut out = vec![0u64; args.len()];
        // Per worker: which chunks it got, in order; how many of their results were read.
        let mut sent = vec![0usize; w]; // next chunk index (in chunks) to send, per worker
        let mut recv = vec![0usize; w];
        let mine = |k: usize, i: usize| i * w + k; // worker k's i-th chunk
        let count = |k: usize| chunks.len().saturating_sub(k).div_ceil(w);
        let mut left = chunks.len();
        while left > 0 {
            let mut fds: Vec<libc::pollfd> = (0..w)
                .map(|k| libc::pollfd {
                    fd: self.results[k],
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            for (k, &fd) in self.tasks.iter().enumerate() {
                if sent[k] < count(k) {
                    fds.push(libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    });
                }
            }
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, -1) };
            for pfd in &fds {
                if pfd.revents == 0 {
                    continue;
                }
                if let Some(k) = self.tasks.iter().position(|&t| t == pfd.fd) {
                    let c = chunks[mine(k, sent[k])];
                    let mut msg = (c.len() as u64).to_ne_bytes().to_vec();
                    msg.extend(c.iter().flat_map(|a| a.to_ne_bytes()));
                    write_all(self.tasks[k], &msg);
                    sent[k] += 1;
                } else if let Some(k) = self.results.iter().position(|&r| r == pfd.fd) {
                    let idx = mine(k, recv[k]);
                    let c = chunks[idx];
                    let mut buf = vec![0u8; c.len() * 8];
                    read_exact(self.results[k], &mut buf);
                    let base = idx * chunksize.max(1);
                    for (j, v) in buf.chunks_exact(8).enumerate() {
                        out[base + j] = u64::from_ne_bytes(v.try_into().unwrap());
                    }
                    recv[k] += 1;
                    left -= 1;
                }
            }
        }
        out
    }

    /// Tell every worker to stop and reap it.
    pub fn close_join(self) {
        for &t in &self.tasks {
            write_all(t, &0u64.to_ne_bytes());
            close(t);
        }
        for &pid in &self.pids {
            wait(pid);
        }
        for &r in &self.results {
            close(r);
        }
    }
}
