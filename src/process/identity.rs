//! Who this process is: its name, identity (for default child names) and parent, as
//! [`current_process`] and [`parent_process`] report them, and [`exit`].

use super::fork::os_name;
use std::io::Write;
use std::sync::Mutex;

/// Who this process is: name, identity (for default names), parent.
pub(super) struct Me {
    pub(super) name: String,
    pub(super) identity: Vec<u32>,
    pub(super) counter: u32,
    pub(super) parent: Option<ProcessInfo>,
}

pub(super) static ME: Mutex<Option<Me>> = Mutex::new(None);

fn with_me<R>(f: impl FnOnce(&mut Me) -> R) -> R {
    let mut guard = ME.lock().unwrap_or_else(|e| e.into_inner());
    let me = guard.get_or_insert_with(|| Me {
        name: "MainProcess".to_string(),
        identity: Vec::new(),
        counter: 0,
        parent: None,
    });
    f(me)
}

/// A process's name and pid (Python: the object `current_process()` and
/// `parent_process()` return).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    name: String,
    pid: u32,
}

impl ProcessInfo {
    /// Python: `.name` (`"MainProcess"` in the main process).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Python: `.pid`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Python: `.authkey`: this program's random key, 32 bytes from `getrandom`, to pass
    /// to a [`Listener`](crate::connection::Listener) and [`Client`](crate::connection::Client).
    /// Made before the first fork, so the main process and every fork child (pool workers
    /// too) hold the same; children of the `forkserver` and `spawn` start methods hold one
    /// of their own (not yet their parent's). Never sent anywhere by the crate; it is the
    /// calling process's key whichever `ProcessInfo` asks.
    ///
    /// ```
    /// use multiproc::current_process;
    /// let key = current_process().authkey();
    /// assert_eq!(key.len(), 32);
    /// assert_eq!(key, current_process().authkey());
    /// ```
    pub fn authkey(&self) -> Vec<u8> {
        crate::connection::process_authkey().to_vec()
    }
}

/// The next child's default name and identity, Python's way: `<kind>-1`, `<kind>-2`, ...
/// in the main process, `<kind>-1:1`, ... in a child.
pub(crate) fn next_child(kind: &str) -> (String, Vec<u32>) {
    let identity = with_me(|me| {
        me.counter += 1;
        let mut id = me.identity.clone();
        id.push(me.counter);
        id
    });
    let digits: Vec<String> = identity.iter().map(u32::to_string).collect();
    (format!("{kind}-{}", digits.join(":")), identity)
}

/// Rename this process (a forkserver or spawn child, a served pool's server): what
/// [`current_process`] says, and the OS's name for it; `parent`: who asked for it.
pub(crate) fn rename(name: &str, parent: Option<(String, u32)>) {
    with_me(|me| {
        me.name = name.to_string();
        if let Some((name, pid)) = parent {
            me.parent = Some(ProcessInfo { name, pid });
        }
    });
    if let Some(os_name) = os_name(name) {
        let _ = nix::sys::prctl::set_name(&os_name);
    }
}

/// The calling process (Python: `multiprocessing.current_process()`).
///
/// ```
/// use multiproc::{Process, current_process, parent_process};
/// assert_eq!(current_process().name(), "MainProcess"); // current_process().name
/// assert!(parent_process().is_none()); // parent_process() is None
/// let me = std::process::id(); // os.getpid()
/// let mut p = Process::new(move || {
///     assert_eq!(current_process().name(), "child");
///     assert_eq!(parent_process().unwrap().pid(), me); // parent_process().pid
/// })
/// .name("child");
/// p.start().unwrap();
/// assert_eq!(p.join().unwrap(), 0); // the child's asserts held
/// ```
pub fn current_process() -> ProcessInfo {
    ProcessInfo {
        name: with_me(|me| me.name.clone()),
        pid: std::process::id(),
    }
}

/// The process that started this one, `None` in the main process
/// (Python: `multiprocessing.parent_process()`).
pub fn parent_process() -> Option<ProcessInfo> {
    with_me(|me| me.parent.clone())
}

/// Leave the current process with `code` (Python: `sys.exit(code)`). In a child started by
/// [`Process`](super::Process), stdout is flushed and the process ends at once; in the main process this is
/// `std::process::exit`.
///
/// ```
/// use multiproc::{Process, exit};
/// let mut p = Process::spawn(|| -> () { exit(3) }).unwrap(); // def f(): sys.exit(3)
/// assert_eq!(p.join().unwrap(), 3); // p.exitcode == 3
/// ```
#[doc(alias("sys.exit", "_exit"))]
pub fn exit(code: i32) -> ! {
    if parent_process().is_some() {
        let _ = std::io::stdout().flush();
        crate::sys::child::exit_now(code)
    }
    std::process::exit(code)
}
