//! Function identity across processes: a function travels as its offset from an anchor in
//! the same executable, never as an address.
//!
//! ASLR places the program elsewhere in every exec, so an address taken in one process
//! means nothing in a re-executed one. The slide of a position-independent executable
//! moves every function and the anchor (a static of this crate) by the same amount, so the
//! offset between them is the same in every process running that executable file. Used by
//! start requests (`StartMethod::start`) and by the pool's tasks, whose workers may be
//! forks of a server that was re-executed (`forkserver`, `spawn`).

use crate::error::{Error, InvalidKind, Result};
use crate::sys::info::object_base;

/// The anchor that offsets are taken from.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    &ANCHOR as *const u8 as usize
}

/// The offset that names the function at `addr` in this executable; an error for code
/// outside it (a shared library, `dlopen`ed code), whose base is another.
pub(crate) fn offset_of(addr: usize) -> Result<i64> {
    let base = object_base(anchor());
    if base.is_none() || object_base(addr) != base {
        return Err(Error::invalid(
            InvalidKind::NotInExecutable,
            "this function is not part of the program's executable (a shared library or \
             dlopen'ed code): only the executable's own functions can be started",
        ));
    }
    Ok(addr as i64 - anchor() as i64)
}

/// The offset of `addr` without the check of [`offset_of`]: for a process that runs the
/// same image at the same addresses (a fork), where it only has to come back unchanged.
pub(crate) fn offset_unchecked(addr: usize) -> i64 {
    addr as i64 - anchor() as i64
}

/// The address `offset` names in this process, unchecked: the inverse of
/// [`offset_unchecked`] and [`offset_of`]. Only for offsets that came from a checked
/// source (see the pool's task queue, which only the pool's processes can write).
pub(crate) fn address(offset: i64) -> usize {
    (anchor() as i64).wrapping_add(offset) as usize
}

/// The address an offset names here, if it lies in this executable.
pub(crate) fn resolve(offset: i64) -> Option<usize> {
    let addr = (anchor() as i64).checked_add(offset)? as usize;
    let base = object_base(anchor())?;
    (object_base(addr) == Some(base)).then_some(addr)
}

/// Device and inode of the running executable.
pub(crate) fn exe_identity() -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/exe")?;
    Ok((m.dev(), m.ino()))
}
