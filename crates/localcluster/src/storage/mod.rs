//! Storage: every object of the cluster as a `serde_json::Value` in one [`Store`], with the
//! bookkeeping that etcd and the generic store of the real API server's registry do (keys,
//! resourceVersions, uids, generateName, watches), and nothing that depends on the kind.
//!
//! # Model
//! - Objects are keyed by [`ObjectKey`]: the *qualified resource* (`pods`,
//!   `leases.coordination.k8s.io`, `sparkapplications.sparkoperator.k8s.io`; the same string the real
//!   server puts in error messages), the namespace (empty for cluster-scoped objects) and the name.
//!   All versions of a resource share one key, as they share one etcd key in Kubernetes.
//! - One monotonic resourceVersion counter for the whole store: every create, update and delete
//!   takes the next number, which becomes the object's `metadata.resourceVersion`.
//! - [`Store::create`] fills `metadata.uid` (unless the caller chose one), `creationTimestamp` and
//!   a name from `generateName`;
//!   `generation` is stored as given (the registry sets it for the kinds that track one).
//!   [`Store::update`] keeps `uid`, `creationTimestamp` and `generation`, bumps a `generation` the
//!   object has when anything outside `metadata` and `status` changed (or `deletionTimestamp` was
//!   just set), checks
//!   an expected resourceVersion (optimistic concurrency) and treats an update that changes nothing
//!   as a no-op: same resourceVersion, no event.
//! - Watches: every write is broadcast to the watchers whose resource/namespace filter matches, in
//!   resourceVersion order, over an unbounded channel. A bounded history of recent events lets a
//!   watch start from an older resourceVersion; one older than that history fails with
//!   [`StoreError::Gone`] (HTTP 410), as with etcd compaction.
//! - Durability: with a data directory every write is appended to a JSON-lines log before it is
//!   applied, and the log is replayed (and compacted) on open: objects and the counter survive a
//!   restart. The watch history does not, so watches from before a restart get 410.
//!
//! # Who calls this
//! This layer knows nothing of kinds: no validation, finalizers, status subresources, garbage
//! collection or admission. [`crate::registry::Cluster`] layers those on top of it, and it is
//! what the HTTP server and in-process components call. The raw store is for what must bypass
//! them: the controllers' own bookkeeping (finalizers, owner references), and admission reading
//! the webhook configurations.
//!
//! ```
//! use localcluster::meta;
//! use localcluster::storage::{EventType, ObjectKey, Preconditions, Store, StoreOptions};
//! use serde_json::json;
//!
//! let store = Store::open(StoreOptions::default())?;
//! let pod = store.create("pods", "default", json!({"metadata": {"generateName": "p-"}}))?;
//! let key = ObjectKey::new("pods", "default", meta::name(&pod));
//! let (items, rv) = store.list("pods", Some("default"));
//! assert_eq!(items.len(), 1);
//! let mut events = store.watch(Some("pods"), None, Some(rv))?; // `events.recv().await` in async code
//! let mut changed = serde_json::Value::clone(&pod);
//! changed["spec"] = json!({"x": 1});
//! store.update(&key, changed, Some(meta::resource_version(&pod)))?;
//! assert_eq!(events.try_recv().unwrap().event_type, EventType::Modified);
//! store.delete(&key, &Preconditions::default())?;
//! # Ok::<(), localcluster::storage::StoreError>(())
//! ```

mod label_index;
mod persist;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::meta;
use label_index::LabelIndex;

/// resource -> (namespace, name) -> object.
pub(crate) type Objects = BTreeMap<String, BTreeMap<(String, String), Arc<Value>>>;

/// Where an object lives: qualified resource, namespace (empty when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Self {
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The `type` of a watch event on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write, as watchers see it. `previous` is the object before an update or delete, which lets
/// a filtered watch notice objects that leave or enter its selector.
#[derive(Debug, Clone)]
pub struct StoreEvent {
    pub event_type: EventType,
    pub resource: String,
    pub object: Arc<Value>,
    pub previous: Option<Arc<Value>>,
}

impl StoreEvent {
    pub fn resource_version(&self) -> u64 {
        object_rv(&self.object)
    }
}

pub type WatchReceiver = mpsc::UnboundedReceiver<StoreEvent>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    #[error("conflict on {resource} \"{name}\": {message}")]
    Conflict {
        resource: String,
        name: String,
        message: String,
    },
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("invalid object: {0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { resource, name } => ApiError::not_found(&resource, &name),
            StoreError::AlreadyExists { resource, name } => {
                ApiError::already_exists(&resource, &name)
            }
            StoreError::Conflict {
                resource,
                name,
                message,
            } => ApiError::conflict(&resource, &name, &message),
            StoreError::Gone { .. } => ApiError::expired(error.to_string()),
            StoreError::Invalid(message) => ApiError::bad_request(message),
            StoreError::Io(error) => ApiError::internal(format!("storage: {error}")),
        }
    }
}

/// Conditions a delete must meet, as `DeleteOptions.preconditions`.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Keep objects here across restarts; in memory only when `None`.
    pub data_dir: Option<PathBuf>,
    /// How many recent events a watch can start from.
    pub history: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            history: 10_000,
        }
    }
}

struct Watcher {
    resource: Option<String>,
    namespace: Option<String>,
    sender: mpsc::UnboundedSender<StoreEvent>,
}

impl Watcher {
    fn wants(&self, event: &StoreEvent) -> bool {
        self.resource.as_ref().is_none_or(|r| *r == event.resource)
            && self
                .namespace
                .as_ref()
                .is_none_or(|n| n == meta::namespace(&event.object))
    }
}

struct Inner {
    objects: Objects,
    labels: LabelIndex,
    rv: u64,
    history: VecDeque<StoreEvent>,
    history_limit: usize,
    /// A watch can start from any resourceVersion at or after this one.
    floor: u64,
    watchers: Vec<Watcher>,
    log: Option<persist::Log>,
}

/// The object store. Cheap to clone: clones share the same objects.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

pub(crate) fn object_rv(object: &Value) -> u64 {
    meta::resource_version(object)
}

const NAME_SUFFIX_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| NAME_SUFFIX_CHARS[rng.random_range(0..NAME_SUFFIX_CHARS.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

impl Store {
    pub fn open(options: StoreOptions) -> Result<Store, StoreError> {
        let (log, objects, rv) = match &options.data_dir {
            Some(dir) => {
                let (log, objects, rv) = persist::Log::open(dir)?;
                (Some(log), objects, rv)
            }
            None => (None, Objects::new(), 0),
        };
        let mut labels = LabelIndex::default();
        for (resource, items) in &objects {
            for (place, object) in items {
                labels.replace(resource, place, None, Some(object));
            }
        }
        let inner = Inner {
            objects,
            labels,
            rv,
            history: VecDeque::new(),
            history_limit: options.history.max(1),
            floor: rv,
            watchers: Vec::new(),
            log,
        };
        Ok(Store {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (writes are single
        // inserts after all checks), so the data is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The resourceVersion of the latest write.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        let inner = self.lock();
        inner
            .objects
            .get(&key.resource)?
            .get(&(key.namespace.clone(), key.name.clone()))
            .cloned()
    }

    /// Objects of a resource ordered by namespace then name (etcd key order), in one namespace or
    /// all; with the resourceVersion they are current at.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        self.list_labelled(resource, namespace, &[])
    }

    /// Like [`Store::list`], but only objects that carry every label of `required` (all objects
    /// when it is empty), found through the label index rather than by reading every object.
    pub fn list_labelled(
        &self,
        resource: &str,
        namespace: Option<&str>,
        required: &[(&str, &str)],
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        (inner.list(resource, namespace, required), inner.rv)
    }

    /// Every object of every resource, with its resource.
    pub fn list_all(&self) -> Vec<(String, Arc<Value>)> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .flat_map(|(resource, items)| {
                items.values().map(move |o| (resource.clone(), o.clone()))
            })
            .collect()
    }

    /// Lists and starts a watch at the same resourceVersion, atomically.
    /// Only objects carrying every label of `required` are listed, as in
    /// [`Store::list_labelled`]; the watch sees every object of the resource.
    pub fn list_and_watch(
        &self,
        resource: &str,
        namespace: Option<&str>,
        required: &[(&str, &str)],
    ) -> (Vec<Arc<Value>>, u64, WatchReceiver) {
        let mut inner = self.lock();
        let items = inner.list(resource, namespace, required);
        let (sender, receiver) = mpsc::unbounded_channel();
        inner.watchers.push(Watcher {
            resource: Some(resource.to_string()),
            namespace: namespace.map(str::to_string),
            sender,
        });
        (items, inner.rv, receiver)
    }

    /// Events after resourceVersion `since` (or from now when `None`) of one resource (or all) in
    /// one namespace (or all).
    pub fn watch(
        &self,
        resource: Option<&str>,
        namespace: Option<&str>,
        since: Option<u64>,
    ) -> Result<WatchReceiver, StoreError> {
        let mut inner = self.lock();
        let (sender, receiver) = mpsc::unbounded_channel();
        let watcher = Watcher {
            resource: resource.map(str::to_string),
            namespace: namespace.map(str::to_string),
            sender,
        };
        if let Some(since) = since {
            if since < inner.floor {
                return Err(StoreError::Gone {
                    requested: since,
                    oldest: inner.floor,
                });
            }
            for event in inner
                .history
                .iter()
                .filter(|e| e.resource_version() > since && watcher.wants(e))
            {
                // The receiver is alive: we hold it.
                let _ = watcher.sender.send(event.clone());
            }
        }
        inner.watchers.push(watcher);
        Ok(receiver)
    }

    /// Stores a new object under `resource`/`namespace` and its `metadata.name` (generated from
    /// `metadata.generateName` when empty).
    pub fn create(
        &self,
        resource: &str,
        namespace: &str,
        mut object: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.lock();
        let mut name = meta::name(&object).to_string();
        if name.is_empty() {
            let prefix = meta::str_at(&object, &["metadata", "generateName"])
                .unwrap_or_default()
                .to_string();
            if prefix.is_empty() {
                return Err(StoreError::Invalid(
                    "name or generateName is required".into(),
                ));
            }
            name = loop {
                let candidate = generated_name(&prefix);
                if !inner.contains(resource, namespace, &candidate) {
                    break candidate;
                }
            };
        } else if inner.contains(resource, namespace, &name) {
            return Err(StoreError::AlreadyExists {
                resource: resource.into(),
                name,
            });
        }
        let rv = inner.rv + 1;
        let metadata = meta::metadata_mut(&mut object);
        metadata.insert("name".into(), name.clone().into());
        if namespace.is_empty() {
            metadata.remove("namespace");
        } else {
            metadata.insert("namespace".into(), namespace.into());
        }
        metadata
            .entry("uid")
            .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
        metadata.insert("creationTimestamp".into(), meta::now().into());
        metadata.insert("resourceVersion".into(), rv.to_string().into());
        let key = ObjectKey::new(resource, namespace, &name);
        inner.commit(&key, Some(Arc::new(object)), None)
    }

    /// Replaces an object. `expected_rv`, when given, must be the stored resourceVersion.
    pub fn update(
        &self,
        key: &ObjectKey,
        mut object: Value,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.lock();
        let current = inner.get(key).ok_or_else(|| not_found(key))?;
        let current_rv = object_rv(&current);
        if expected_rv.is_some_and(|rv| rv != current_rv) {
            return Err(stale(key));
        }
        let deletion_started = meta::deletion_timestamp(&object).is_some()
            && meta::deletion_timestamp(&current).is_none();
        let changed = !meta::desired_state_eq(&current, &object) || deletion_started;
        let generation = meta::value_at(&current, &["metadata", "generation"])
            .and_then(Value::as_i64)
            .filter(|generation| *generation > 0)
            .map(|generation| if changed { generation + 1 } else { generation });
        let metadata = meta::metadata_mut(&mut object);
        for kept in ["uid", "creationTimestamp"] {
            match current.get("metadata").and_then(|m| m.get(kept)) {
                Some(value) => metadata.insert(kept.into(), value.clone()),
                None => metadata.remove(kept),
            };
        }
        metadata.insert("name".into(), key.name.clone().into());
        if key.namespace.is_empty() {
            metadata.remove("namespace");
        } else {
            metadata.insert("namespace".into(), key.namespace.clone().into());
        }
        match generation {
            Some(generation) => metadata.insert("generation".into(), generation.into()),
            None => metadata.remove("generation"),
        };
        metadata.insert("resourceVersion".into(), current_rv.to_string().into());
        if object == *current {
            return Ok(current);
        }
        let rv = inner.rv + 1;
        meta::set_meta(&mut object, "resourceVersion", rv.to_string());
        inner.commit(key, Some(Arc::new(object)), Some(current))
    }

    /// Removes an object; returns it as last stored, with the resourceVersion of its deletion.
    pub fn delete(
        &self,
        key: &ObjectKey,
        preconditions: &Preconditions,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.lock();
        let current = inner.get(key).ok_or_else(|| not_found(key))?;
        if let Some(uid) = &preconditions.uid
            && uid != meta::uid(&current)
        {
            return Err(StoreError::Conflict {
                resource: key.resource.clone(),
                name: key.name.clone(),
                message: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&current)
                ),
            });
        }
        if let Some(rv) = preconditions.resource_version
            && rv != object_rv(&current)
        {
            return Err(StoreError::Conflict {
                resource: key.resource.clone(),
                name: key.name.clone(),
                message: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    object_rv(&current)
                ),
            });
        }
        inner.commit(key, None, Some(current))
    }
}

fn not_found(key: &ObjectKey) -> StoreError {
    StoreError::NotFound {
        resource: key.resource.clone(),
        name: key.name.clone(),
    }
}

fn stale(key: &ObjectKey) -> StoreError {
    StoreError::Conflict {
        resource: key.resource.clone(),
        name: key.name.clone(),
        message: "the object has been modified; please apply your changes to the latest version and try again"
            .into(),
    }
}

impl Inner {
    fn contains(&self, resource: &str, namespace: &str, name: &str) -> bool {
        self.objects
            .get(resource)
            .is_some_and(|items| items.contains_key(&(namespace.to_string(), name.to_string())))
    }

    fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        self.objects
            .get(&key.resource)?
            .get(&(key.namespace.clone(), key.name.clone()))
            .cloned()
    }

    fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        required: &[(&str, &str)],
    ) -> Vec<Arc<Value>> {
        let Some(items) = self.objects.get(resource) else {
            return Vec::new();
        };
        if let Some(places) = self.labels.places(resource, namespace, required) {
            return places
                .iter()
                .filter_map(|place| items.get(place).cloned())
                .collect();
        }
        match namespace {
            None => items.values().cloned().collect(),
            Some(ns) => items
                .range((ns.to_string(), String::new())..)
                .take_while(|((item_ns, _), _)| item_ns == ns)
                .map(|(_, object)| object.clone())
                .collect(),
        }
    }

    /// Makes a write durable, applies it, records it in the history and tells the watchers.
    /// `object` is the new state (None to delete); it carries the next resourceVersion, except for
    /// deletes, which get it here.
    fn commit(
        &mut self,
        key: &ObjectKey,
        object: Option<Arc<Value>>,
        previous: Option<Arc<Value>>,
    ) -> Result<Arc<Value>, StoreError> {
        let rv = self.rv + 1;
        if let Some(log) = &mut self.log {
            log.append(&persist::Record {
                rv,
                resource: key.resource.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                object: object.as_deref().cloned(),
            })?;
        }
        self.rv = rv;
        let map_key = (key.namespace.clone(), key.name.clone());
        let (event_type, stored) = match object {
            Some(object) => {
                let replaced = self
                    .objects
                    .entry(key.resource.clone())
                    .or_default()
                    .insert(map_key.clone(), object.clone());
                self.labels
                    .replace(&key.resource, &map_key, replaced.as_deref(), Some(&object));
                let event_type = if previous.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (event_type, object)
            }
            None => {
                if let Some(items) = self.objects.get_mut(&key.resource) {
                    let removed = items.remove(&map_key);
                    self.labels
                        .replace(&key.resource, &map_key, removed.as_deref(), None);
                    if items.is_empty() {
                        self.objects.remove(&key.resource);
                    }
                }
                let mut last = previous.as_deref().cloned().unwrap_or(Value::Null);
                meta::set_meta(&mut last, "resourceVersion", rv.to_string());
                (EventType::Deleted, Arc::new(last))
            }
        };
        let event = StoreEvent {
            event_type,
            resource: key.resource.clone(),
            object: stored.clone(),
            previous,
        };
        self.watchers.retain(|w| {
            !w.sender.is_closed() && (!w.wants(&event) || w.sender.send(event.clone()).is_ok())
        });
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.floor = dropped.resource_version();
            }
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests;
