//! What the C library knows about this process: online CPUs, and which loaded object holds
//! an address.

/// The CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`, what `os.cpu_count()` reports); at
/// least 1.
pub(crate) fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n >= 1 { n as usize } else { 1 }
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`); `None` if
/// it cannot be read.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The load base of the object (executable or library) that holds `addr`.
pub(crate) fn object_base(addr: usize) -> Option<usize> {
    // SAFETY: `Dl_info` is plain data, valid when zeroed.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` only reads the loader's tables and writes `info`.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}
