//! `SharedMemory`: a named segment in `/dev/shm` that programs started separately map by
//! name (Python: `multiprocessing.shared_memory.SharedMemory(name=..., create=..., size=...)`).

use crate::error::{Error, InvalidKind, Result};
use crate::plain::{AnyBits, Plain};
use crate::shm::FdMapping;
use rustix::fs::{FileType, Mode};
use rustix::shm::OFlags;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// `SharedMemory`: a named segment in `/dev/shm` that programs started separately map by
/// name (Python: `multiprocessing.shared_memory.SharedMemory`).
///
/// One program [`create`](SharedMemory::create)s a segment of `size` bytes under a name;
/// any other program of the same user [`attach`](SharedMemory::attach)es it by that name
/// and both see each other's writes. The bytes are read and written through typed views
/// of the crate's [`Plain`] element types ([`view`](SharedMemory::view)): every element is
/// an atomic cell, since another program may write it at any moment, so there is never a
/// `&mut [T]` (or a `&[T]`) that another process can write under.
///
/// ```no_run
/// use multiproc::SharedMemory;
///
/// // Program one (Python: `SharedMemory(name="prices", create=True, size=8 * 1024)`):
/// let shm = SharedMemory::create("prices", 8 * 1024)?;
/// shm.view::<f64>().store(0, 101.5);
///
/// // Program two, started separately (Python: `SharedMemory(name="prices")`):
/// let other = SharedMemory::attach_len::<f64>("prices", 1024)?;
/// assert_eq!(other.view::<f64>().load(0), 101.5);
/// # Ok::<(), multiproc::Error>(())
/// ```
///
/// # How it differs from Python's
///
/// - **Names** are checked: not empty, no `/` (Python adds the leading one itself, as
///   here), no NUL, not `.` or `..`, at most [`MAX_NAME_LEN`](SharedMemory::MAX_NAME_LEN)
///   bytes: an [`Error::Invalid`] of kind [`InvalidKind::Name`]. There is no random
///   default name: pass one.
/// - **Created `O_EXCL`, mode `0600`**: of two programs creating one name, exactly one
///   wins; the other gets an [`Error::Io`] of kind `AlreadyExists`. Only this user can open
///   the segment.
/// - **Attach checks what it maps**: a segment not owned by this user, with a mode other
///   than `0600`, empty, or smaller than the caller needs
///   ([`attach_len`](SharedMemory::attach_len)) is refused with [`InvalidKind::Segment`];
///   a missing name is an [`Error::Io`] of kind `NotFound`.
/// - **The creator unlinks on drop**, by default (Python never unlinks by itself: its
///   resource tracker unlinks a forgotten segment at exit and warns about "leaked
///   shared_memory objects"). [`keep`](SharedMemory::keep) leaves the segment for others
///   to attach after the creator is gone; an attacher never unlinks unless told
///   ([`unlink`](SharedMemory::unlink)). Nothing here warns.
/// - **A SIGKILLed creator leaves its segment** (no destructor runs, and there is no
///   resource tracker to do it), as Python's does when its tracker is killed too. The name
///   stays in `/dev/shm` until someone reclaims it:
///   [`SharedMemory::unlink_name(name)`](SharedMemory::unlink_name), or `attach` then
///   [`unlink`](SharedMemory::unlink). The memory itself is freed when the name is gone and
///   the last process that maps it ends.
/// - **Typed views** instead of a `memoryview`: `view::<u64>()` and so on, atomics per
///   element (a `bool` view does not compile, [`AnyBits`], since another program may write a byte
///   that is not 0 or 1). Views are bounds-checked against the size this process found when
///   it created or attached the segment, never against anything read from the segment.
/// - `close()` is `drop`.
///
/// A segment that another program (of the same user) shrinks while this one maps it makes
/// an access past the new end raise `SIGBUS`, which kills this process: the kernel cannot
/// seal a `shm_open` segment's size the way the crate seals its memfds. See SOUNDNESS.md.
pub struct SharedMemory {
    name: String,
    map: FdMapping,
    fd: OwnedFd,
    /// The process that created the segment through this handle, if it did.
    creator: Option<u32>,
    /// Whether dropping this handle (in its creator) unlinks the name.
    unlink_on_drop: AtomicBool,
}

impl SharedMemory {
    /// The longest name accepted, in bytes: Linux's `NAME_MAX` (255) for `/` and the name.
    pub const MAX_NAME_LEN: usize = 254;

    /// Create a segment named `name` of `size` zero bytes (Python:
    /// `SharedMemory(name, create=True, size=size)`), mode `0600`, failing if the name
    /// exists already (`O_EXCL`: an [`Error::Io`] of kind `AlreadyExists`). Dropping the
    /// returned handle unlinks the name unless [`keep`](SharedMemory::keep) was called.
    ///
    /// # Errors
    /// [`InvalidKind::Name`] for a bad name, [`InvalidKind::Argument`] for a size of 0,
    /// [`Error::Io`] when the name exists or the system refuses the memory.
    pub fn create(name: &str, size: usize) -> Result<SharedMemory> {
        check_name(name)?;
        if size == 0 {
            return Err(Error::invalid(
                InvalidKind::Argument,
                "a shared memory segment's size must be positive",
            ));
        }
        let path = format!("/{name}");
        let fd = rustix::shm::open(
            path.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| {
            if e == rustix::io::Errno::EXIST {
                Error::Io(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "a shared memory segment named {name:?} exists already (another \
                         creator won, or one was left behind: SharedMemory::unlink_name \
                         reclaims it)"
                    ),
                ))
            } else {
                Error::Io(e.into())
            }
        })?;
        // From here on the name is ours: remove it again if anything else fails.
        let finish = || -> Result<FdMapping> {
            // Exactly 0600, whatever the umask took away.
            rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR).map_err(io::Error::from)?;
            rustix::fs::ftruncate(&fd, size as u64).map_err(io::Error::from)?;
            Ok(FdMapping::new(&fd, size)?)
        };
        match finish() {
            Ok(map) => Ok(SharedMemory {
                name: name.to_string(),
                map,
                fd,
                creator: Some(std::process::id()),
                unlink_on_drop: AtomicBool::new(true),
            }),
            Err(e) => {
                let _ = rustix::shm::unlink(path.as_str());
                Err(e)
            }
        }
    }

    /// Attach the existing segment named `name` (Python: `SharedMemory(name)`), whatever
    /// its size (at least one byte). Dropping the handle never unlinks the name.
    ///
    /// # Errors
    /// [`InvalidKind::Name`] for a bad name; an [`Error::Io`] of kind `NotFound` when no
    /// segment has that name; [`InvalidKind::Segment`] when it is empty, not owned by this
    /// user, its mode is not `0600`, or it is a link planted to a file outside `/dev/shm`
    /// (or one with other names).
    pub fn attach(name: &str) -> Result<SharedMemory> {
        SharedMemory::attach_min(name, 1)
    }

    /// [`attach`](SharedMemory::attach), refusing ([`InvalidKind::Segment`]) a segment too
    /// small for `len` elements of `T`: what a typed user checks before it relies on
    /// [`view_len`](SharedMemory::view_len).
    pub fn attach_len<T: Plain>(name: &str, len: usize) -> Result<SharedMemory> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T::Atomic>())
            .ok_or_else(|| Error::invalid(InvalidKind::Argument, "segment length overflows"))?;
        SharedMemory::attach_min(name, bytes.max(1))
    }

    fn attach_min(name: &str, min: usize) -> Result<SharedMemory> {
        check_name(name)?;
        let fd = rustix::shm::open(format!("/{name}").as_str(), OFlags::RDWR, Mode::empty())
            .map_err(|e| {
                if e == rustix::io::Errno::NOENT {
                    Error::Io(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no shared memory segment named {name:?} (/dev/shm/{name})"),
                    ))
                } else {
                    Error::Io(e.into())
                }
            })?;
        // What the kernel says about the open file, never what a name or a message says.
        let st = rustix::fs::fstat(&fd).map_err(io::Error::from)?;
        let refuse = |why: String| {
            Err(Error::invalid(
                InvalidKind::Segment,
                format!("shared memory segment {name:?}: {why}"),
            ))
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return refuse("not a regular file".into());
        }
        // A name in the world-writable /dev/shm can be a symbolic or hard link someone
        // planted to a file of ours elsewhere (a 0600 key, say): map only a file that lives
        // on /dev/shm's own file system and has no other name.
        let dir = rustix::fs::stat("/dev/shm").map_err(io::Error::from)?;
        if st.st_dev != dir.st_dev {
            return refuse("not a file of /dev/shm (a link to elsewhere?): refused".into());
        }
        if st.st_nlink != 1 {
            return refuse(format!("{} names link to it: refused", st.st_nlink));
        }
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me {
            return refuse(format!(
                "owned by user {}, not by this user ({me}): refused",
                st.st_uid
            ));
        }
        let mode = st.st_mode & 0o7777;
        if mode != 0o600 {
            return refuse(format!("mode {mode:04o}, not 0600: refused"));
        }
        let size = usize::try_from(st.st_size).unwrap_or(0);
        if size == 0 {
            return refuse("empty".into());
        }
        if size < min {
            return refuse(format!("{size} bytes, smaller than the {min} needed"));
        }
        let map = FdMapping::new(&fd, size)?;
        Ok(SharedMemory {
            name: name.to_string(),
            map,
            fd,
            creator: None,
            unlink_on_drop: AtomicBool::new(false),
        })
    }

    /// The name, as given (Python: `.name`, which there starts with `/` on some systems).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes, as created or as found at attach (Python: `.size`). Views never
    /// reach past it.
    pub fn size(&self) -> usize {
        self.map.len()
    }

    /// Leave the segment in `/dev/shm` when this (creating) handle is dropped, for other
    /// programs to attach later; someone reclaims it with [`unlink`](SharedMemory::unlink)
    /// or [`unlink_name`](SharedMemory::unlink_name). No effect on an attacher's handle,
    /// which never unlinks on drop.
    pub fn keep(&self) {
        self.unlink_on_drop.store(false, Ordering::Relaxed);
    }

    /// Remove the name now (Python: `.unlink()`): no program can attach it any more, those
    /// that did keep their mapping, and the memory is freed when the last of them unmaps
    /// it. Any handle may do it, the creator's or an attacher's; the creator's drop then
    /// does not unlink again.
    ///
    /// # Errors
    /// An [`Error::Io`] of kind `NotFound` when the name is gone already.
    pub fn unlink(&self) -> Result<()> {
        self.unlink_on_drop.store(false, Ordering::Relaxed);
        SharedMemory::unlink_name(&self.name)
    }

    /// Remove the segment named `name` without attaching it: how a segment left behind by a
    /// killed creator (or a kept one) is reclaimed.
    ///
    /// # Errors
    /// [`InvalidKind::Name`] for a bad name; an [`Error::Io`] of kind `NotFound` when no
    /// segment has that name.
    pub fn unlink_name(name: &str) -> Result<()> {
        check_name(name)?;
        rustix::shm::unlink(format!("/{name}").as_str()).map_err(|e| Error::Io(e.into()))
    }

    /// The whole segment as elements of `T`: as many whole ones as fit in
    /// [`size`](SharedMemory::size) bytes. `T` is any [`Plain`] type but `bool`
    /// ([`AnyBits`]): another program may write a byte that is not 0 or 1, so a `bool` view
    /// does not compile.
    ///
    /// ```compile_fail,E0277
    /// # fn f(shm: &multiproc::SharedMemory) {
    /// let flags = shm.view::<bool>();
    /// # }
    /// ```
    pub fn view<T: AnyBits>(&self) -> SharedMemoryView<'_, T> {
        SharedMemoryView {
            cells: self.map.cells::<T>(),
            _t: PhantomData,
        }
    }

    /// The first `len` elements of `T`, or [`InvalidKind::Segment`] when the segment is too
    /// small for them.
    pub fn view_len<T: AnyBits>(&self, len: usize) -> Result<SharedMemoryView<'_, T>> {
        let all = self.map.cells::<T>();
        match all.get(..len) {
            Some(cells) => Ok(SharedMemoryView {
                cells,
                _t: PhantomData,
            }),
            None => Err(Error::invalid(
                InvalidKind::Segment,
                format!(
                    "shared memory segment {:?}: {} bytes hold {} elements of {}, not {len}",
                    self.name,
                    self.size(),
                    all.len(),
                    std::any::type_name::<T>()
                ),
            )),
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if !self.unlink_on_drop.load(Ordering::Relaxed) || self.creator != Some(std::process::id())
        {
            // Kept, unlinked already, an attacher's handle, or a fork's copy of the
            // creator's: the name stays.
            return;
        }
        // Unlink only the segment this handle created: if the name was unlinked and made
        // again by someone else meanwhile, it is theirs.
        let ours = rustix::fs::fstat(&self.fd).ok();
        let now = rustix::fs::stat(format!("/dev/shm/{}", self.name).as_str()).ok();
        if let (Some(a), Some(b)) = (ours, now)
            && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        {
            let _ = rustix::shm::unlink(format!("/{}", self.name).as_str());
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size())
            .field("creator", &self.creator.is_some())
            .field(
                "unlink_on_drop",
                &self.unlink_on_drop.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// Refuse a name that cannot be a segment's (see [`SharedMemory`]).
fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "is empty"
    } else if name.contains('/') {
        "contains '/' (the leading one is added)"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name == "." || name == ".." {
        "is '.' or '..'"
    } else if name.len() > SharedMemory::MAX_NAME_LEN {
        "is longer than SharedMemory::MAX_NAME_LEN (254) bytes"
    } else {
        return Ok(());
    };
    Err(Error::invalid(
        InvalidKind::Name,
        format!("shared memory name {name:?} {why}"),
    ))
}

/// Elements of `T` in a [`SharedMemory`] segment, each an atomic cell that any program
/// mapping the segment may read or write at any time ([`SharedMemory::view`]).
///
/// Loads and stores are single atomic operations (`Relaxed`), as for
/// [`Array::load`](crate::Array::load): a program that writes a run of elements for
/// another to read signals it separately (a flag element stored last, read first, with
/// an [`Event`](crate::Event) or a pipe between them).
pub struct SharedMemoryView<'a, T: AnyBits> {
    cells: &'a [T::Atomic],
    _t: PhantomData<fn() -> T>,
}

impl<T: AnyBits> SharedMemoryView<'_, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether there are none (a segment smaller than one `T`).
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn load(&self, i: usize) -> T {
        T::load(&self.cells[i])
    }

    /// Set element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn store(&self, i: usize, value: T) {
        T::store(&self.cells[i], value)
    }

    /// Every element, read one at a time.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// The elements, read one at a time as the iterator goes.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.cells.iter().map(T::load)
    }

    /// Store `values` from element 0 on.
    ///
    /// # Panics
    /// If `values` is longer than the view.
    pub fn copy_from_slice(&self, values: &[T]) {
        assert!(
            values.len() <= self.len(),
            "{} values into a view of {}",
            values.len(),
            self.len()
        );
        for (cell, v) in self.cells.iter().zip(values) {
            T::store(cell, *v);
        }
    }

    /// The atomic cells themselves (`AtomicU64` for `u64`, `AtomicU64` holding the bits
    /// for `f64`, ...), for read-modify-write (`fetch_add`, `compare_exchange`).
    pub fn cells(&self) -> &[T::Atomic] {
        self.cells
    }
}

impl<T: AnyBits> fmt::Debug for SharedMemoryView<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemoryView")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len())
            .finish()
    }
}
