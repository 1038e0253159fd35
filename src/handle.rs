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

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

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
        // SAFETY: `rest` is a writable buffer of `rest.len()` bytes owned by this frame.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else {
            let err = std::io::Error::last_os_error();
            assert!(
                err.kind() == std::io::ErrorKind::Interrupted,
                "getrandom failed: {err}"
            );
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

impl<S: Send + Sync + 'static, M: 'static> Handle<S, M> {
    /// Register `value` under a fresh random id.
    pub(crate) fn new(value: S) -> Handle<S, M> {
        let inner = Arc::new(Registered {
            id: random_id(),
            value,
        });
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

impl<S: 'static, M: 'static> Serialize for Handle<S, M> {
    /// The id, and nothing else. An error for a handle re-tagged as another type (a
    /// `Queue` taken out of a `JoinableQueue`): send the object as what it was created as.
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let registered = table()
            .as_ref()
            .and_then(|t| t.get(&self.inner.id))
            .map(|e| (e.type_id, e.type_name));
        match registered {
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

impl<'de, S: Send + Sync + 'static, M: 'static> Deserialize<'de> for Handle<S, M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn fail<E: serde::de::Error>(why: impl std::fmt::Display) -> E {
            E::custom(why)
        }
        let id = u128::deserialize(d)?;
        // Copy what we need out under the lock; upgrade (and maybe drop the upgraded `Arc`,
        // whose drop locks the table) only after releasing it.
        let found = table()
            .as_ref()
            .and_then(|t| t.get(&id))
            .map(|e| (e.object.clone(), e.type_id, e.type_name));
        let missing = || {
            fail(
                "this shared object does not exist in this process: it was created after this \
                 process was forked (create shared objects before the Pool or Process that \
                 uses them), or every handle to it was dropped",
            )
        };
        let (object, type_id, type_name) = found.ok_or_else(missing)?;
        if type_id != TypeId::of::<(S, M)>() {
            return Err(fail(format!(
                "this shared object is a {type_name}, not a {}",
                std::any::type_name::<M>()
            )));
        }
        let any = object.upgrade().ok_or_else(missing)?;
        let inner = any
            .downcast::<Registered<S>>()
            .map_err(|_| fail("this shared object is of another type"))?;
        Ok(Handle {
            inner,
            _m: PhantomData,
        })
    }
}
