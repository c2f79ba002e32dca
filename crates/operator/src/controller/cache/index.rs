//! What the controller knows of the objects of each application, kept current from a watch and
//! looked up by application, so that a reconcile reads only its own pods, ConfigMaps and
//! Services, however many applications the operator follows. Each object is kept as a digest of
//! the few fields the controller reads, not whole.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

use crate::submission::LABEL_APP_NAME;

/// (namespace, application name).
type AppKey = (String, String);

type ByApp<V> = HashMap<AppKey, HashMap<String, V>>;

struct Objects<V> {
    by_app: ByApp<V>,
    /// The listing in progress while a watch (re)starts, swapped in when it is complete.
    relisting: Option<ByApp<V>>,
}

/// Digests `V` of objects grouped by the application named in their
/// `sparkoperator.k8s.io/app-name` label. Cheap to clone; clones share the same index.
pub struct AppIndex<V> {
    objects: Arc<RwLock<Objects<V>>>,
    ready: watch::Sender<bool>,
}

impl<V> Clone for AppIndex<V> {
    fn clone(&self) -> Self {
        Self {
            objects: self.objects.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<V> Default for AppIndex<V> {
    fn default() -> Self {
        Self {
            objects: Arc::new(RwLock::new(Objects {
                by_app: HashMap::new(),
                relisting: None,
            })),
            ready: watch::Sender::new(false),
        }
    }
}

fn app_key<K: Resource>(object: &K) -> Option<(AppKey, String)> {
    let meta = object.meta();
    let app = meta.labels.as_ref()?.get(LABEL_APP_NAME)?;
    Some((
        (meta.namespace.clone().unwrap_or_default(), app.clone()),
        meta.name.clone()?,
    ))
}

/// Keeps `digest` of `object`; true when it differs from the digest kept before.
fn insert<K: Resource, V: PartialEq>(
    map: &mut ByApp<V>,
    object: &K,
    digest: impl Fn(&K) -> V,
) -> bool {
    let Some((app, name)) = app_key(object) else {
        return false;
    };
    let digest = digest(object);
    let group = map.entry(app).or_default();
    if group.get(&name) == Some(&digest) {
        return false;
    }
    group.insert(name, digest);
    true
}

impl<V: Clone + PartialEq> AppIndex<V> {
    /// Takes one watch event into the index, keeping `digest` of each object. True when what the
    /// index holds of an application changed (an object's digest, or an object came or went), or
    /// for every object of a relisting: only then has a reconcile anything new to see.
    pub fn apply<K: Resource>(&self, event: &Event<K>, digest: impl Fn(&K) -> V) -> bool {
        let mut objects = self.objects.write().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Apply(object) => insert(&mut objects.by_app, object, digest),
            Event::Delete(object) => {
                let Some((app, name)) = app_key(object) else {
                    return false;
                };
                let Some(group) = objects.by_app.get_mut(&app) else {
                    return false;
                };
                let removed = group.remove(&name).is_some();
                if group.is_empty() {
                    objects.by_app.remove(&app);
                }
                removed
            }
            Event::Init => {
                objects.relisting = Some(HashMap::new());
                false
            }
            Event::InitApply(object) => {
                if let Some(relisting) = objects.relisting.as_mut() {
                    insert(relisting, object, digest);
                }
                true
            }
            Event::InitDone => {
                if let Some(complete) = objects.relisting.take() {
                    objects.by_app = complete;
                }
                self.ready.send_replace(true);
                false
            }
        }
    }

    /// The digests of the objects of one application.
    pub fn of(&self, namespace: &str, app: &str) -> Vec<V> {
        let objects = self.objects.read().unwrap_or_else(|p| p.into_inner());
        objects
            .by_app
            .get(&(namespace.to_string(), app.to_string()))
            .map(|group| group.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many applications have objects here.
    pub fn applications(&self) -> usize {
        self.objects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_app
            .len()
    }

    /// Resolves once the first complete listing is in.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|ready| *ready).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;
    use kube::api::ObjectMeta;

    fn pod(app: &str, name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                labels: Some([(LABEL_APP_NAME.to_string(), app.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(index: &AppIndex<String>, app: &str) -> Vec<String> {
        let mut names = index.of("default", app);
        names.sort();
        names
    }

    fn name(pod: &Pod) -> String {
        pod.metadata.name.clone().unwrap_or_default()
    }

    #[test]
    fn objects_are_grouped_by_application() {
        let index = AppIndex::default();
        index.apply(&Event::Apply(pod("a", "a-driver")), name);
        index.apply(&Event::Apply(pod("a", "a-exec-1")), name);
        index.apply(&Event::Apply(pod("b", "b-driver")), name);
        index.apply(&Event::Apply(Pod::default()), name);
        assert_eq!(names(&index, "a"), ["a-driver", "a-exec-1"]);
        assert_eq!(names(&index, "b"), ["b-driver"]);
        assert!(index.of("other", "a").is_empty(), "namespaces are apart");
        index.apply(&Event::Delete(pod("a", "a-exec-1")), name);
        index.apply(&Event::Delete(pod("b", "b-driver")), name);
        assert_eq!(names(&index, "a"), ["a-driver"]);
        assert_eq!(index.applications(), 1);
    }

    #[test]
    fn only_a_changed_digest_counts_as_a_change() {
        let index = AppIndex::default();
        let labelled = |pod: &Pod| pod.labels().get("phase").cloned().unwrap_or_default();
        let mut driver = pod("a", "a-driver");
        assert!(index.apply(&Event::Apply(driver.clone()), labelled), "new");
        driver.metadata.resource_version = Some("2".into());
        assert!(
            !index.apply(&Event::Apply(driver.clone()), labelled),
            "a change the digest does not keep"
        );
        driver.labels_mut().insert("phase".into(), "Running".into());
        assert!(
            index.apply(&Event::Apply(driver.clone()), labelled),
            "changed"
        );
        assert!(
            index.apply(&Event::Delete(driver.clone()), labelled),
            "gone"
        );
        assert!(
            !index.apply(&Event::Delete(driver), labelled),
            "already gone"
        );
        assert!(
            !index.apply(&Event::Apply(Pod::default()), labelled),
            "not an application's"
        );
    }

    #[tokio::test]
    async fn a_relisting_replaces_the_index_only_when_complete() {
        let index = AppIndex::default();
        index.apply(&Event::Apply(pod("a", "a-driver")), name);
        index.apply(&Event::<Pod>::Init, name);
        index.apply(&Event::InitApply(pod("b", "b-driver")), name);
        assert_eq!(
            names(&index, "a"),
            ["a-driver"],
            "the old view stays until the listing ends"
        );
        assert!(names(&index, "b").is_empty());
        index.apply(&Event::<Pod>::InitDone, name);
        index.wait_until_ready().await;
        assert!(
            names(&index, "a").is_empty(),
            "gone while the watch was down"
        );
        assert_eq!(names(&index, "b"), ["b-driver"]);
    }
}
