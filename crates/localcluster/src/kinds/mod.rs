//! Which kinds exist and how they are shaped: one [`ResourceType`] per served resource of a group
//! version (kind, plural, scope, short names, categories, subresources, and for custom resources
//! the schema and printer columns), from the built-in table (`builtin`) and from each established
//! CustomResourceDefinition (`crd`). [`Kinds`] indexes them for request routing, discovery,
//! OpenAPI and the registry; it holds no objects.

mod builtin;
pub(crate) mod convert;
mod crd;
pub(crate) mod field_order;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use convert::as_version;
pub use crd::{CrdError, crd_resource_types};

use crate::schema::StructuralSchema;

/// One served resource of one group/version.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// `status`, `log`, `binding`, `eviction`, `finalize`, ...
    pub subresources: Vec<String>,
    /// Set for the resources of CustomResourceDefinitions.
    pub custom: Option<CustomVersion>,
    /// The store key of its objects: `qualified_resource()`, unless it shares another
    /// resource's objects (events.k8s.io Events are core Events).
    pub storage: String,
}

/// What a CustomResourceDefinition says about one of its versions.
#[derive(Debug, Clone)]
pub struct CustomVersion {
    pub crd_name: String,
    pub schema: Option<Arc<StructuralSchema>>,
    pub printer_columns: Vec<PrinterColumn>,
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    pub column_type: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

impl ResourceType {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether a DELETE that removes the object answers with it rather than a `Status`.
    pub fn returns_deleted_object(&self) -> bool {
        self.custom.is_none()
            && builtin::RETURN_DELETED_OBJECT
                .iter()
                .any(|(group, plural)| *group == self.group && *plural == self.plural)
    }

    /// Whether objects carry a `metadata.generation`, 1 at creation and bumped with each change of
    /// their desired state.
    pub fn tracks_generation(&self) -> bool {
        self.custom.is_some()
            || builtin::TRACK_GENERATION
                .iter()
                .any(|(group, plural)| *group == self.group && *plural == self.plural)
    }

    /// `plural` or `plural.group`: the store key, and how error messages name the resource.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Kind` or `Kind.group`, as 422 messages name it.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s == name)
    }

    /// Whether writes to the main resource leave `status` alone (and `/status` only writes it).
    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }

    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }
}

type Gvr = (String, String, String);

#[derive(Default)]
struct State {
    resources: BTreeMap<Gvr, Arc<ResourceType>>,
    /// The resources each CRD (by name) contributes.
    custom: BTreeMap<String, Vec<Gvr>>,
    /// Bumped on every change of the served CRDs, for caches of derived documents.
    generation: u64,
}

/// All served resources. Shared by the request router, discovery and the CRD write path.
pub struct Kinds {
    state: RwLock<State>,
}

/// A group and its served versions, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersions {
    pub group: String,
    pub versions: Vec<String>,
}

impl Kinds {
    pub fn with_builtins() -> Self {
        let mut state = State::default();
        for b in builtin::BUILTINS {
            let resource = ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
                categories: b.categories.iter().map(|s| s.to_string()).collect(),
                subresources: b.subresources.iter().map(|s| s.to_string()).collect(),
                custom: None,
                storage: match b.stored_as {
                    Some(key) => key.to_string(),
                    None if b.group.is_empty() => b.plural.to_string(),
                    None => format!("{}.{}", b.plural, b.group),
                },
            };
            state.resources.insert(gvr(&resource), Arc::new(resource));
        }
        Self {
            state: RwLock::new(state),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .resources
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource of `kind` in `apiVersion` (`v1`, `group/version`).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.read()
            .resources
            .iter()
            .find(|((g, v, _), r)| g == group && v == version && r.kind == kind)
            .map(|(_, r)| r.clone())
    }

    /// The resource owning a store key, in its preferred version (for keys shared by several
    /// resources, the one whose qualified name is the key).
    pub fn by_storage_key(&self, key: &str) -> Option<Arc<ResourceType>> {
        let state = self.read();
        let mut candidates: Vec<&Arc<ResourceType>> = state
            .resources
            .values()
            .filter(|r| r.storage == key && r.qualified_resource() == key)
            .collect();
        candidates.sort_by(|a, b| version_order(&a.version, &b.version));
        candidates.first().map(|r| (*r).clone())
    }

    /// Changes whenever the set of served resources does.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.read().resources.values().cloned().collect()
    }

    pub fn resources_in(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.read()
            .resources
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Groups other than the core one, each with its versions in preference order.
    pub fn groups(&self) -> Vec<GroupVersions> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.read().resources.keys() {
            if g.is_empty() {
                continue;
            }
            let versions = groups.entry(g.clone()).or_default();
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
        groups
            .into_iter()
            .map(|(group, mut versions)| {
                versions.sort_by(|a, b| version_order(a, b));
                GroupVersions { group, versions }
            })
            .collect()
    }

    /// Serves the versions of a CRD (replacing what it served before).
    pub fn set_custom(&self, crd_name: &str, resources: Vec<ResourceType>) {
        let mut state = self.write();
        if let Some(old) = state.custom.remove(crd_name) {
            for key in old {
                state.resources.remove(&key);
            }
        }
        let keys: Vec<Gvr> = resources.iter().map(gvr).collect();
        for resource in resources {
            state.resources.insert(gvr(&resource), Arc::new(resource));
        }
        state.custom.insert(crd_name.to_string(), keys);
        state.generation += 1;
    }

    pub fn remove_custom(&self, crd_name: &str) {
        let mut state = self.write();
        if let Some(old) = state.custom.remove(crd_name) {
            for key in old {
                state.resources.remove(&key);
            }
            state.generation += 1;
        }
    }
}

fn gvr(resource: &ResourceType) -> Gvr {
    (
        resource.group.clone(),
        resource.version.clone(),
        resource.plural.clone(),
    )
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, and versions
/// that do not look like `v1beta2` last in alphabetical order.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(version: &str) -> (u8, i64, i64, String) {
        let parsed = version.strip_prefix('v').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: i64 = digits.parse().ok()?;
            let tail = &rest[digits.len()..];
            let (tier, minor_text) = if tail.is_empty() {
                (0, "0")
            } else if let Some(m) = tail.strip_prefix("beta") {
                (1, m)
            } else if let Some(m) = tail.strip_prefix("alpha") {
                (2, m)
            } else {
                return None;
            };
            let minor: i64 = minor_text.parse().ok()?;
            Some((tier, -major, -minor))
        });
        match parsed {
            Some((tier, major, minor)) => (tier, major, minor, String::new()),
            None => (3, 0, 0, version.to_string()),
        }
    }
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_versions_as_kubernetes() {
        let mut versions = vec![
            "v1alpha1",
            "foo",
            "v1beta1",
            "v2",
            "v1",
            "v1beta2",
            "v10alpha1",
        ];
        versions.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            versions,
            [
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v10alpha1",
                "v1alpha1",
                "foo"
            ]
        );
    }

    #[test]
    fn finds_builtins_by_kind_and_resource() {
        let kinds = Kinds::with_builtins();
        let pods = kinds.lookup("", "v1", "pods").unwrap();
        assert!(pods.namespaced && pods.has_status());
        assert_eq!(pods.qualified_resource(), "pods");
        let lease = kinds.by_kind("coordination.k8s.io/v1", "Lease").unwrap();
        assert_eq!(lease.qualified_resource(), "leases.coordination.k8s.io");
        assert_eq!(
            kinds
                .by_storage_key("leases.coordination.k8s.io")
                .unwrap()
                .kind,
            "Lease"
        );
        let events = kinds.lookup("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(events.storage, "events");
        assert_eq!(kinds.by_storage_key("events").unwrap().group, "");
        assert!(
            kinds
                .groups()
                .iter()
                .any(|g| g.group == "apiextensions.k8s.io")
        );
    }
}
