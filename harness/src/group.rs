//! Process-group bookkeeping: find, kill and reap what is left of a group.

use std::time::{Duration, Instant};

/// A process seen in `/proc`.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub pid: i32,
    pub comm: String,
    pub state: char,
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, state {})", self.pid, self.comm, self.state)
    }
}

/// Every process whose process group is `pgid`, zombies included.
pub(crate) fn members(pgid: i32) -> Vec<Member> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if rest.len() < 3 {
            continue;
        }
        if rest[2].parse::<i32>() == Ok(pgid) {
            out.push(Member {
                pid,
                comm,
                state: rest[0].chars().next().unwrap_or('?'),
            });
        }
    }
    out
}

/// Make this process the reaper of orphaned descendants, so processes an example leaves
/// behind become our children and can be reaped here instead of lingering as zombies.
pub(crate) fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain prctl on this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    });
}

/// SIGKILL the whole group, then reap every member that is our child, until the group is
/// gone or `patience` has passed. Returns what could not be cleared.
pub(crate) fn kill_and_reap(pgid: i32, patience: Duration) -> Vec<Member> {
    // SAFETY: signalling a process group we created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let deadline = Instant::now() + patience;
    loop {
        reap(pgid);
        let left = members(pgid);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reap whatever members of the group have exited and are our children.
pub(crate) fn reap(pgid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: waits only for children in group `pgid`.
        let r = unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return;
        }
    }
}
