//! The objects of each application, kept current from a watch and looked up by application, so
//! that a reconcile reads only its own pods, ConfigMaps and Services, however many applications
//! the operator follows.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

use crate::submission::LABEL_APP_NAME;

/// (namespace, application name).
type AppKey = (String, String);

#[derive(Default)]
struct Objects<K> {
    by_app: HashMap<AppKey, HashMap<String, Arc<K>>>,
    /// The listing in progress while a watch (re)starts, swapped in when it is complete.
    relisting: Option<HashMap<AppKey, HashMap<String, Arc<K>>>>,
}

/// Objects of kind `K` grouped by the application named in their `sparkoperator.k8s.io/app-name`
/// label. Cheap to clone; clones share the same index.
pub struct AppIndex<K> {
    objects: Arc<RwLock<Objects<K>>>,
    ready: watch::Sender<bool>,
}

impl<K> Clone for AppIndex<K> {
    fn clone(&self) -> Self {
        Self {
            objects: self.objects.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K: Resource> Default for AppIndex<K> {
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

fn insert<K: Resource + Clone>(map: &mut HashMap<AppKey, HashMap<String, Arc<K>>>, object: &K) {
    if let Some((app, name)) = app_key(object) {
        map.entry(app)
            .or_default()
            .insert(name, Arc::new(object.clone()));
    }
}

impl<K: Resource + Clone> AppIndex<K> {
    /// Takes one watch event into the index.
    pub fn apply(&self, event: &Event<K>) {
        let mut objects = self.objects.write().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Apply(object) => insert(&mut objects.by_app, object),
            Event::Delete(object) => {
                if let Some((app, name)) = app_key(object)
                    && let Some(group) = objects.by_app.get_mut(&app)
                {
                    group.remove(&name);
                    if group.is_empty() {
                        objects.by_app.remove(&app);
                    }
                }
            }
            Event::Init => objects.relisting = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let Some(relisting) = objects.relisting.as_mut() {
                    insert(relisting, object);
                }
            }
            Event::InitDone => {
                if let Some(complete) = objects.relisting.take() {
                    objects.by_app = complete;
                }
                self.ready.send_replace(true);
            }
        }
    }

    /// The objects of one application.
    pub fn of(&self, namespace: &str, app: &str) -> Vec<Arc<K>> {
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

    fn names(index: &AppIndex<Pod>, app: &str) -> Vec<String> {
        let mut names: Vec<String> = index
            .of("default", app)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn objects_are_grouped_by_application() {
        let index = AppIndex::default();
        index.apply(&Event::Apply(pod("a", "a-driver")));
        index.apply(&Event::Apply(pod("a", "a-exec-1")));
        index.apply(&Event::Apply(pod("b", "b-driver")));
        index.apply(&Event::Apply(Pod::default()));
        assert_eq!(names(&index, "a"), ["a-driver", "a-exec-1"]);
        assert_eq!(names(&index, "b"), ["b-driver"]);
        assert!(index.of("other", "a").is_empty(), "namespaces are apart");
        index.apply(&Event::Delete(pod("a", "a-exec-1")));
        index.apply(&Event::Delete(pod("b", "b-driver")));
        assert_eq!(names(&index, "a"), ["a-driver"]);
        assert_eq!(index.applications(), 1);
    }

    #[tokio::test]
    async fn a_relisting_replaces_the_index_only_when_complete() {
        let index = AppIndex::default();
        index.apply(&Event::Apply(pod("a", "a-driver")));
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(pod("b", "b-driver")));
        assert_eq!(
            names(&index, "a"),
            ["a-driver"],
            "the old view stays until the listing ends"
        );
        assert!(names(&index, "b").is_empty());
        index.apply(&Event::InitDone);
        index.wait_until_ready().await;
        assert!(
            names(&index, "a").is_empty(),
            "gone while the watch was down"
        );
        assert_eq!(names(&index, "b"), ["b-driver"]);
    }
}
