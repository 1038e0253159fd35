//! What the C library knows about this process: online CPUs, and which loaded object holds
//! an address.

/// The CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`, what `os.cpu_count()` reports); at
/// least 1.
pub(crate) fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n >= 1 { n as usize } else { 1 }
}

/// The load base of the object (executable or library) that holds `addr`.
pub(crate) fn object_base(addr: usize) -> Option<usize> {
    // SAFETY: `Dl_info` is plain data, valid when zeroed.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` only reads the loader's tables and writes `info`.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}
