//! Handing shared objects to pool workers inside task arguments.
//!
//! Python cannot pickle a `multiprocessing.Event` into a `Pool` task (it needs a
//! `Manager().Event()`, a proxy to a server process). Here a shared object created
//! *before* the pool already exists in every worker, because workers are forks of the
//! process that created it; what crosses the task queue is only its registration number.
//!
//! Every shared primitive holds its state through a [`Handle`], which registers it in a
//! per-process table when created. Serialising a handle writes the number; deserialising
//! looks the number up in the receiving process's table, which is a copy of the creator's
//! table as it was at fork time. An object created after the pool's workers were forked is
//! not in their tables, so sending it fails with a clear error instead of pointing into
//! memory the worker does not have.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::Any;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

type Table = HashMap<u64, Weak<dyn Any + Send + Sync>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// A registered, reference-counted shared object: clones are handles to the same object.
pub(crate) struct Handle<T: Any + Send + Sync> {
    inner: Arc<T>,
    id: u64,
}

impl<T: Any + Send + Sync> Handle<T> {
    pub(crate) fn new(value: T) -> Handle<T> {
        let inner = Arc::new(value);
        let id = NEXT_ID.fetch_add(1, Relaxed);
        let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(&inner) as _;
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let table = table.get_or_insert_with(HashMap::new);
        if id.is_power_of_two() {
            table.retain(|_, w| w.strong_count() > 0);
        }
        table.insert(id, weak);
        Handle { inner, id }
    }

    pub(crate) fn ptr_eq(&self, other: &Handle<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<T: Any + Send + Sync> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            inner: self.inner.clone(),
            id: self.id,
        }
    }
}

impl<T: Any + Send + Sync> Deref for Handle<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: Any + Send + Sync> Serialize for Handle<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de, T: Any + Send + Sync> Deserialize<'de> for Handle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = u64::deserialize(d)?;
        let found = TABLE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|t| t.get(&id))
            .and_then(Weak::upgrade);
        let fail = serde::de::Error::custom;
        let any = found.ok_or_else(|| {
            fail(format!(
                "shared object #{id} does not exist in this process: it was created after this \
                 process was forked (create shared objects before the Pool or Process that \
                 uses them), or it was dropped"
            ))
        })?;
        let inner = any
            .downcast::<T>()
            .map_err(|_| fail(format!("shared object #{id} is of another type")))?;
        Ok(Handle { inner, id })
    }
}
