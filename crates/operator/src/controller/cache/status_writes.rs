//! The operator's own status writes that the application cache has not caught up with yet.

use kube::Resource;

/// The resourceVersion each application had when the operator last wrote its status: a cached
/// copy still at that version predates the write. Acting on it would repeat the step the write
/// recorded (a second spark-submit run for the same attempt, say), so such a reconcile waits for
/// the cache instead. An entry lives from a status write until the next reconcile of the
/// application, which the write's own watch event brings.
#[derive(Default)]
pub struct StatusWrites {
    superseded: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
}

impl StatusWrites {
    /// Records that the status of `app` was written over its version `resource_version`.
    pub fn written(&self, app: &impl Resource, resource_version: Option<String>) {
        let Some(version) = resource_version else {
            return;
        };
        self.lock().insert(key(app), version);
    }

    /// Whether the cached `app` predates the operator's last status write; forgets the write once
    /// the cache has moved past it.
    pub fn is_stale(&self, app: &impl Resource) -> bool {
        let mut superseded = self.lock();
        let key = key(app);
        match superseded.get(&key) {
            Some(version) if app.meta().resource_version.as_ref() == Some(version) => true,
            Some(_) => {
                superseded.remove(&key);
                false
            }
            None => false,
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), String>> {
        self.superseded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(app: &impl Resource) -> (String, String) {
    let meta = app.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::CachedApplication;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn app(version: &str) -> CachedApplication {
        CachedApplication {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                namespace: Some("n".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_copy_older_than_the_last_status_write_is_stale_until_the_cache_moves_on() {
        let writes = StatusWrites::default();
        assert!(!writes.is_stale(&app("7")));
        writes.written(&app("7"), Some("7".into()));
        assert!(writes.is_stale(&app("7")), "still the version written over");
        assert!(writes.is_stale(&app("7")));
        assert!(!writes.is_stale(&app("9")), "the write's own event arrived");
        assert!(!writes.is_stale(&app("7")), "forgotten once caught up");
        assert!(writes.lock().is_empty());
    }
}
