//! Handing shared objects to other processes: a per-process registry of live objects.
//!
//! Python cannot pickle a `multiprocessing.Event` into a `Pool` task (it needs a
//! `Manager().Event()`, a proxy to a server process). Here a shared object created
//! *before* the pool already exists in every worker, because workers are forks of the
//! process that created it; what crosses the task queue is only its id.
//!
//! Every shared primitive holds its process-local object (usually a [`Shm`] mapping)
//! through a [`Handle`], which registers it in a per-process table when created. The
//! table maps the id to a weak reference and to the `TypeId` of the full public type
//! (`Queue<u32>`, `Array<u8>`, ...). Serialising a handle writes the id and nothing else;
//! deserialising looks the id up in the receiving process's table, which is a copy of
//! the creator's table as it was at fork time, and checks the type. So:
//! - ids are 128 random bits from the kernel (`getrandom(2)`), never a counter: they cannot
//!   be guessed, and a parent and a child never hand out the same one after a fork. An
//!   object created after a worker was forked is simply not in the worker's table, and
//!   sending it fails with a clear error instead of resolving to something else;
//! - a handle decoded as another type (`Queue<u32>` as `Queue<String>`, `Array<u8>` as
//!   `Array<u64>`, a `SimpleQueue` as a `Queue`) is an error at decode;
//! - nothing else about the object travels: an `Array`'s length, say, is read from the
//!   receiving process's own record of the mapping;
//! - an entry leaves the table when the last handle in this process drops, so the table
//!   only ever holds live objects.
//!
//! Objects that must never travel (the pool's private queues and slots) are not
//! registered at all: they are plain `Arc`s, with no serde form.
//!
//! To `spawn` and `forkserver` children (see [`crate::start`]), which inherit no table,
//! a handle travels *with its memory*: while a start request is encoded ([`export`]), a
//! handle whose object can travel ([`Travel`]) writes its id, the hash of its full type and
//! what the object's [`Travel::export`] writes: the indices of its descriptors among those
//! sent beside the bytes ([`SendFd`]), and the handles of the registered objects it is made
//! of (a `Condition` writes its `Lock`'s handle and its waiters' memfd). The child decodes
//! it ([`import`]) by checking the type hash, then each descriptor against the kernel (a
//! memfd's name, seals and size, see `Shm::import`; a pipe end's socket type), and
//! registers the object under the same id. Objects that cannot travel (queues,
//! `SharedSlice`, a `Barrier` with an action, anything created before `start::init`) are an
//! error when the request is encoded, naming the object and why.

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// What a registered object needs to reach a `spawn` or `forkserver` child. While a start
/// request is encoded ([`export`]) a travelling handle writes its id, the hash of its full
/// type, then whatever [`Travel::export`] writes; the child reads the same with
/// [`Travel::import`]. Memory travels as descriptors ([`SendFd`] / [`RecvFd`]: an index
/// into the descriptors sent beside the bytes); an object made of other registered objects
/// (a `Condition` holds a `Lock`) writes those as handles, so they keep their ids in the
/// child too. Everything an import checks comes from the kernel (a memfd's name, seals and
/// size, a socket's type), never from the bytes. The defaults say "cannot travel".
pub(crate) trait Travel: Sized {
    /// Write what rebuilds the object in the child; an error says why it cannot travel.
    fn export<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let _ = s;
        Err(serde::ser::Error::custom(
            "only Value, Array, Lock, RLock, Event, Condition, Semaphore, BoundedSemaphore, \
             Barrier, SharedBuffer, queues and pipe ends travel (SharedSlice needs the fork \
             start method)",
        ))
    }
    /// Rebuild the object from what `export` wrote (checks its own kind and size).
    fn import<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = d;
        Err(serde::de::Error::custom(
            "this kind of shared object cannot travel",
        ))
    }
}

impl<S: crate::shm::SharedState> Travel for crate::shm::Shm<S> {
    /// The memfd, as a [`SendFd`].
    fn export<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        match crate::shm::Shm::memfd(self) {
            Some(fd) => SendFd(fd).serialize(s),
            None => Err(serde::ser::Error::custom(
                "it was created before multiproc::start::init() (only objects created after \
                 it live in memory that can be passed)",
            )),
        }
    }
    /// A [`RecvFd`], mapped by `Shm::import` (memfd name, seals and size checked).
    fn import<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let RecvFd(fd) = RecvFd::deserialize(d)?;
        crate::shm::Shm::import(fd).map_err(serde::de::Error::custom)
    }
}

/// A shared object travels as what it points to.
impl<T: Travel> Travel for Arc<T> {
    fn export<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        (**self).export(s)
    }
    fn import<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::import(d).map(Arc::new)
    }
}

/// Serialises a [`Travel`] object as what its `export` writes (inside a start request).
pub(crate) struct Payload<'a, T>(pub(crate) &'a T);

impl<T: Travel> Serialize for Payload<'_, T> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.0.export(s)
    }
}

/// Deserialises a [`Travel`] object with its `import` (inside a start request).
pub(crate) struct Imported<T>(pub(crate) T);

impl<'de, T: Travel> Deserialize<'de> for Imported<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::import(d).map(Imported)
    }
}

/// A descriptor sent with a start request: serialised as its index among the request's
/// descriptors (pushed while [`export`] runs; an error anywhere else). The descriptor is
/// borrowed from a live object, which the encoded value keeps alive until it is sent.
pub(crate) struct SendFd<'a>(pub(crate) BorrowedFd<'a>);

impl Serialize for SendFd<'_> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let slot = CONTEXT.with(|c| match &mut *c.borrow_mut() {
            Some(Context::Export(fds)) => {
                fds.push(self.0.as_raw_fd());
                Some(fds.len() as u32 - 1)
            }
            _ => None,
        });
        match slot {
            Some(slot) => slot.serialize(s),
            None => Err(serde::ser::Error::custom(
                "a descriptor can only be sent with a start request",
            )),
        }
    }
}

/// A descriptor received with a start request: its index, taken out of the received ones
/// (each at most once). Whatever it is, the importer checks it against the kernel.
pub(crate) struct RecvFd(pub(crate) OwnedFd);

impl<'de> Deserialize<'de> for RecvFd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let slot = u32::deserialize(d)?;
        let fd = CONTEXT.with(|c| match &mut *c.borrow_mut() {
            Some(Context::Import(fds)) => fds.get_mut(slot as usize).and_then(Option::take),
            _ => None,
        });
        fd.map(RecvFd).ok_or_else(|| {
            serde::de::Error::custom("the shared object's memory or descriptor was not sent")
        })
    }
}

/// Decode one object of type `T` from a lone descriptor, as a child would: for tests of
/// `import` implementations.
#[cfg(test)]
pub(crate) fn import_fd<T: Travel>(fd: OwnedFd) -> Result<T, String> {
    let bytes = crate::codec::encode(&0u32).expect("a u32 encodes");
    import(vec![fd], || crate::codec::decode::<Imported<T>>(&bytes))
        .map(|Imported(t)| t)
        .map_err(|e| e.to_string())
}

/// The file descriptors a start request carries, while it is encoded or decoded.
enum Context {
    /// Encoding: fds to send (borrowed from live objects: valid while they are), by index.
    Export(Vec<RawFd>),
    /// Decoding: the fds received, taken as handles claim them.
    Import(Vec<Option<OwnedFd>>),
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Run `encode` with handles travelling with their memory; returns its result and the fds
/// to send beside the bytes. The fds are borrowed from objects that `encode`'s input keeps
/// alive: send them before dropping it.
pub(crate) fn export<R>(encode: impl FnOnce() -> R) -> (R, Vec<RawFd>) {
    CONTEXT.with(|c| *c.borrow_mut() = Some(Context::Export(Vec::new())));
    let r = encode();
    let fds = match CONTEXT.with(|c| c.borrow_mut().take()) {
        Some(Context::Export(fds)) => fds,
        _ => Vec::new(),
    };
    (r, fds)
}

/// Run `decode` with `fds` (received beside the bytes) available to travelling handles.
pub(crate) fn import<R>(fds: Vec<OwnedFd>, decode: impl FnOnce() -> R) -> R {
    let fds = fds.into_iter().map(Some).collect();
    CONTEXT.with(|c| *c.borrow_mut() = Some(Context::Import(fds)));
    let r = decode();
    CONTEXT.with(|c| c.borrow_mut().take());
    r
}

/// Whether a start request is being encoded on this thread.
pub(crate) fn exporting() -> bool {
    in_export()
}

/// Whether a start request is being decoded on this thread.
pub(crate) fn importing() -> bool {
    in_import()
}

fn in_export() -> bool {
    CONTEXT.with(|c| matches!(*c.borrow(), Some(Context::Export(_))))
}

fn in_import() -> bool {
    CONTEXT.with(|c| matches!(*c.borrow(), Some(Context::Import(_))))
}

/// FNV-1a of the full type's name: which public type a travelling handle claims to be.
pub(crate) fn type_hash<T: ?Sized>() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::any::type_name::<T>().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What the table knows about one live object.
struct Entry {
    object: Weak<dyn Any + Send + Sync>,
    /// `TypeId::of::<(S, M)>()` of the handle that registered it.
    type_id: TypeId,
    /// The public type's name, for error messages.
    type_name: &'static str,
}

static TABLE: Mutex<Option<HashMap<u128, Entry>>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<HashMap<u128, Entry>>> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// 128 bits from the kernel's random pool.
fn random_id() -> u128 {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        match rustix::rand::getrandom(rest, rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => panic!("getrandom failed: {err}"),
        }
    }
    u128::from_ne_bytes(bytes)
}

/// The registered object and its id; removes the id from the table when dropped.
struct Registered<S> {
    id: u128,
    value: S,
}

impl<S> Drop for Registered<S> {
    fn drop(&mut self) {
        // Take the entry out under the lock, drop it after: nothing is dropped while the
        // table is locked (its `Weak` no longer owns anything, but stay uniform).
        let entry = table().as_mut().and_then(|t| t.remove(&self.id));
        drop(entry);
    }
}

/// A registered, reference-counted process-local object (usually a [`Shm`] mapping):
/// clones are handles to the same object. `M` is the marker that names the full public
/// type (an element type, or a marker type per queue kind); the table records
/// `TypeId::of::<(S, M)>()`, and only a handle of the same `S` and `M` decodes it.
///
/// [`Shm`]: crate::shm::Shm
pub(crate) struct Handle<S, M = ()> {
    inner: Arc<Registered<S>>,
    _m: PhantomData<fn(M) -> M>,
}

impl<S: Travel + Send + Sync + 'static, M: 'static> Handle<S, M> {
    /// Register `value` under a fresh random id.
    pub(crate) fn new(value: S) -> Handle<S, M> {
        Handle::with_id(random_id(), value)
    }

    /// Register `value` under `id` (a fresh one, or the sender's for an imported object).
    fn with_id(id: u128, value: S) -> Handle<S, M> {
        let inner = Arc::new(Registered { id, value });
        let entry = Entry {
            object: Arc::downgrade(&inner) as Weak<dyn Any + Send + Sync>,
            type_id: TypeId::of::<(S, M)>(),
            type_name: std::any::type_name::<M>(),
        };
        table()
            .get_or_insert_with(HashMap::new)
            .insert(inner.id, entry);
        Handle {
            inner,
            _m: PhantomData,
        }
    }
}

impl<S, M> Handle<S, M> {
    /// Whether both handles are the same object.
    pub(crate) fn ptr_eq(&self, other: &Handle<S, M>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Another handle to the same object under another marker, for a public type that
    /// wraps another (a `JoinableQueue<T>` holds a `Queue<T>`). The table still records
    /// the type the object was created as; serialising checks it (see `Serialize`).
    pub(crate) fn retag<M2>(&self) -> Handle<S, M2> {
        Handle {
            inner: self.inner.clone(),
            _m: PhantomData,
        }
    }
}

impl<S, M> Clone for Handle<S, M> {
    fn clone(&self) -> Self {
        Handle {
            inner: self.inner.clone(),
            _m: PhantomData,
        }
    }
}

impl<S, M> Deref for Handle<S, M> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.inner.value
    }
}

impl<S: Travel + 'static, M: 'static> Serialize for Handle<S, M> {
    /// The id, and nothing else. An error for a handle re-tagged as another type (a
    /// `Queue` taken out of a `JoinableQueue`): send the object as what it was created as.
    /// In a start request ([`export`]): the id, the type's hash and what [`Travel::export`]
    /// writes (its memory's descriptors, ...), or an error naming the type that cannot go.
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let registered = table()
            .as_ref()
            .and_then(|t| t.get(&self.inner.id))
            .map(|e| (e.type_id, e.type_name));
        match registered {
            Some((type_id, _)) if type_id == TypeId::of::<(S, M)>() && in_export() => (
                self.inner.id,
                type_hash::<(S, M)>(),
                Payload(&self.inner.value),
            )
                .serialize(s)
                .map_err(|e| {
                    let why = e.to_string();
                    if why.contains(CANNOT_BE_SENT) {
                        e // a part of this object (its lock, ...) said which part cannot go
                    } else {
                        serde::ser::Error::custom(format!(
                            "a {} {CANNOT_BE_SENT}: {why}",
                            std::any::type_name::<M>()
                        ))
                    }
                }),
            Some((type_id, _)) if type_id == TypeId::of::<(S, M)>() => self.inner.id.serialize(s),
            Some((_, name)) => Err(serde::ser::Error::custom(format!(
                "this shared object is a {name}; send it as that type, not as a {}",
                std::any::type_name::<M>()
            ))),
            None => Err(serde::ser::Error::custom(
                "this shared object is not registered and cannot be sent",
            )),
        }
    }
}

/// The words every refusal to send an object to a served child contains.
const CANNOT_BE_SENT: &str = "cannot be sent to a spawn or forkserver child";

impl<'de, S: Travel + Send + Sync + 'static, M: 'static> Deserialize<'de> for Handle<S, M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if in_import() {
            return d.deserialize_tuple(3, Travelled(PhantomData));
        }
        Handle::lookup(u128::deserialize(d)?)
    }
}

/// Reads a handle as a start request carries it: id, type hash, then what the object's
/// [`Travel::export`] wrote.
struct Travelled<S, M>(PhantomData<fn() -> (S, M)>);

impl<'de, S: Travel + Send + Sync + 'static, M: 'static> Visitor<'de> for Travelled<S, M> {
    type Value = Handle<S, M>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} sent to this child", std::any::type_name::<M>())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Handle<S, M>, A::Error> {
        let id: u128 = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(0, &self))?;
        let hash: u64 = seq
            .next_element()?
            .ok_or_else(|| A::Error::invalid_length(1, &self))?;
        if hash != type_hash::<(S, M)>() {
            return Err(A::Error::custom(format!(
                "the shared object sent is not a {}",
                std::any::type_name::<M>()
            )));
        }
        // Checked by the kernel (memfd names, seals, sizes, socket types), never by the bytes.
        let Imported(value) = seq
            .next_element::<Imported<S>>()?
            .ok_or_else(|| A::Error::invalid_length(2, &self))?;
        let known = table().as_ref().is_some_and(|t| t.contains_key(&id));
        if known {
            // Sent twice in one request (or already here): the first copy stands.
            drop(value);
            return Handle::lookup(id);
        }
        Ok(Handle::with_id(id, value))
    }
}

impl<S: Send + Sync + 'static, M: 'static> Handle<S, M> {
    /// The live object registered here under `id`, if it is an `(S, M)`.
    fn lookup<E: serde::de::Error>(id: u128) -> Result<Handle<S, M>, E> {
        // Copy what we need out under the lock; upgrade (and maybe drop the upgraded `Arc`,
        // whose drop locks the table) only after releasing it.
        let found = table()
            .as_ref()
            .and_then(|t| t.get(&id))
            .map(|e| (e.object.clone(), e.type_id, e.type_name));
        let missing = || {
            E::custom(
                "this shared object does not exist in this process: it was created after this \
                 process was forked (create shared objects before the Pool or Process that \
                 uses them), it was not given to this forkserver or spawn pool with \
                 PoolBuilder::share, or every handle to it was dropped",
            )
        };
        let (object, type_id, type_name) = found.ok_or_else(missing)?;
        if type_id != TypeId::of::<(S, M)>() {
            return Err(E::custom(format!(
                "this shared object is a {type_name}, not a {}",
                std::any::type_name::<M>()
            )));
        }
        let any = object.upgrade().ok_or_else(missing)?;
        let inner = any
            .downcast::<Registered<S>>()
            .map_err(|_| E::custom("this shared object is of another type"))?;
        Ok(Handle {
            inner,
            _m: PhantomData,
        })
    }
}

/// A private object (never registered, so no message can name it) handed to a `spawn` or
/// `forkserver` child inside a start request the crate itself builds: the pool's queues
/// and slots reach a served pool server this way. It serialises as [`Travel::export`]
/// writes it (its descriptors as [`SendFd`]: an error outside [`export`]) and is rebuilt
/// by [`Travel::import`], with that type's checks (an error outside [`import`]).
/// Crate-private: user messages cannot contain one.
pub(crate) struct Passed<T>(pub T);

impl<T: Travel> Serialize for Passed<T> {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.0.export(s)
    }
}

impl<'de, T: Travel> Deserialize<'de> for Passed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::import(d).map(Passed)
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::decode;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(128))]

        /// A travel record (type hash, id, descriptor indices) of random bytes, with a
        /// memfd of random content and size attached or none: every public type that travels
        /// refuses it or maps memory the kernel vouched for; nothing panics.
        #[test]
        fn random_travel_records_are_refused_without_a_crash(
            record in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            content in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            attach in proptest::prelude::any::<bool>(),
        ) {
            let fds = if attach {
                let fd = crate::sys::memfd::create("multiproc-forged", content.len() as u64)
                    .unwrap();
                rustix::io::pwrite(&fd, &content, 0).unwrap();
                vec![fd]
            } else {
                vec![]
            };
            // Half the records claim the right type, so the checks behind the hash run too.
            let claimed = |hash: u64| {
                let mut r = record.clone();
                if record.first().is_some_and(|b| b % 2 == 0) {
                    r.splice(0..0, hash.to_le_bytes());
                }
                r
            };
            let fds2: Vec<_> = fds.iter().map(|f| f.try_clone().unwrap()).collect();
            let value = claimed(super::type_hash::<crate::Value<u64>>());
            let _ = super::import(fds, || decode::<crate::Value<u64>>(&value));
            let queue = claimed(super::type_hash::<crate::Queue<u32>>());
            let _ = super::import(fds2, || decode::<crate::Queue<u32>>(&queue));
            let _ = super::import(vec![], || decode::<(crate::Lock, crate::Event)>(&record));
        }
    }
}
