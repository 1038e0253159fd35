//! How many CPUs: Python's `multiprocessing.cpu_count()` and `os.process_cpu_count()`, plus
//! the physical core count Python does not offer.
//!
//! - [`cpu_count`]: logical CPUs online in the machine (Python: `cpu_count()`,
//!   `os.cpu_count()`); hyper-threads count as CPUs.
//! - [`available_cpu_count`]: the CPUs this process may actually run on, after its affinity
//!   mask and a cgroup (container) CPU quota (Python 3.13: `os.process_cpu_count()`, which
//!   sees the affinity but not the quota). Never more than `cpu_count`.
//! - [`physical_cpu_count`]: cores, hyper-threads of one core counted once. Seed 000's
//!   advice, "usually best to parallelize across 'real' cores", needs this number.
//!
//! [`default_pool_size`] is the one number the project picks when a program does not say
//! how many worker processes to use.

/// Logical CPUs online (Python: `multiprocessing.cpu_count()`). At least 1.
///
/// ```
/// use multiproc::cpu::{available_cpu_count, cpu_count, physical_cpu_count};
/// let n = cpu_count(); // multiprocessing.cpu_count()
/// assert!(n >= 1);
/// assert!((1..=n).contains(&available_cpu_count())); // os.process_cpu_count()
/// assert!((1..=n).contains(&physical_cpu_count()));
/// ```
pub fn cpu_count() -> usize {
    crate::sys::info::online_cpus()
}

/// CPUs this process may use: affinity mask and cgroup quota applied (Python 3.13:
/// `os.process_cpu_count()`, without the quota). At least 1, at most [`cpu_count`].
#[doc(alias("process_cpu_count", "sched_getaffinity"))]
pub fn available_cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, cpu_count())
}

/// Physical cores (hyper-threads of a core counted once). At least 1, at most
/// [`cpu_count`].
pub fn physical_cpu_count() -> usize {
    num_cpus::get_physical().clamp(1, cpu_count())
}

/// Worker processes to start when a program does not say: one per CPU this process may
/// use, [`available_cpu_count`]. (Python's `Pool()` uses `os.cpu_count()`, which on a
/// machine shared through affinity or a container quota oversubscribes.)
pub fn default_pool_size() -> usize {
    available_cpu_count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_ordered() {
        let logical = cpu_count();
        assert!(logical >= 1);
        assert!((1..=logical).contains(&physical_cpu_count()));
        assert!((1..=logical).contains(&available_cpu_count()));
        assert_eq!(default_pool_size(), available_cpu_count());
    }
}
