//! Sealed memfds: the memory that can travel to another process as a descriptor.
//!
//! A memfd is created with a name that says what it holds (the kernel keeps the name and
//! shows it as the target of `/proc/self/fd/N`, `/memfd:<name> (deleted)`), sized, and
//! sealed, so that neither its creator nor a receiver can shrink it under another
//! process's mapping. A receiver never trusts a message about a memfd: [`check`] asks the
//! kernel for its name, its seals and its size.

use rustix::fs::{MemfdFlags, SealFlags};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// The seals every travelling memfd carries: its size is fixed, and no seal can be added
/// or removed (`F_SEAL_SEAL`), so its creator cannot shrink it under a receiver either.
pub(crate) const SIZE_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// A new memfd named `name`, `len` zero bytes long (sparse: pages are allocated when
/// written), close on exec, that can still be sealed ([`seal`]).
pub(crate) fn create(name: &str, len: u64) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, len)?;
    Ok(fd)
}

/// Add `seals` to `fd` (a memfd made by [`create`]).
pub(crate) fn seal(fd: impl AsFd, seals: SealFlags) -> io::Result<()> {
    Ok(rustix::fs::fcntl_add_seals(fd, seals)?)
}

/// A memfd of `len` zero bytes named `name`, sealed at that size ([`SIZE_SEALS`]).
pub(crate) fn create_sealed(name: &str, len: u64) -> io::Result<OwnedFd> {
    let fd = create(name, len)?;
    seal(&fd, SIZE_SEALS)?;
    Ok(fd)
}

/// Checks a received descriptor against the kernel, never against a message: it is a
/// memfd named `name` carrying at least `seals`. Returns its size.
pub(crate) fn check(fd: &OwnedFd, name: &str, seals: SealFlags) -> io::Result<u64> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    if link.as_os_str() != format!("/memfd:{name} (deleted)").as_str() {
        return Err(bad("the received memory is not what it was sent as"));
    }
    let have =
        rustix::fs::fcntl_get_seals(fd).map_err(|_| bad("the received memory is not sealed"))?;
    if !have.contains(seals) {
        return Err(bad("the received memory is not sealed"));
    }
    Ok(rustix::fs::fstat(fd)?.st_size as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_asks_the_kernel_for_name_seals_and_size() {
        let fd = create_sealed("multiproc-test", 8192).unwrap();
        assert_eq!(check(&fd, "multiproc-test", SIZE_SEALS).unwrap(), 8192);
        assert!(
            check(&fd, "multiproc-other", SIZE_SEALS).is_err(),
            "another name"
        );
        let unsealed = create("multiproc-test", 8192).unwrap();
        assert!(
            check(&unsealed, "multiproc-test", SIZE_SEALS).is_err(),
            "not sealed"
        );
        assert!(
            rustix::fs::ftruncate(&fd, 4096).is_err(),
            "a sealed memfd cannot shrink"
        );
    }
}
