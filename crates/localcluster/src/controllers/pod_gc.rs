//! The pod garbage collector's part that a local cluster needs: a pod on a node is deleted
//! gracefully, keeping `deletionTimestamp` until its kubelet confirms with grace period 0; when
//! the grace period has run out and no kubelet did (no simulated nodes run, or they stopped), the
//! pod is removed, as Kubernetes' podgc force-deletes terminating pods no kubelet will finish.

use serde_json::Value;

use super::{finish_if_complete, modify};
use crate::meta;
use crate::registry::Cluster;
use crate::storage::ObjectKey;

/// Pods whose grace period ended without a kubelet confirming the deletion are removed.
pub(super) async fn reap(cluster: &Cluster) {
    let (pods, _) = cluster.store().list("pods", None);
    let now = jiff::Timestamp::now();
    let Some(resource) = cluster.kinds().by_storage_key("pods") else {
        return;
    };
    for pod in pods {
        let Some(deadline) =
            meta::deletion_timestamp(&pod).and_then(|t| t.parse::<jiff::Timestamp>().ok())
        else {
            continue;
        };
        let grace = meta::value_at(&pod, &["metadata", "deletionGracePeriodSeconds"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if grace == 0 || deadline > now {
            continue;
        }
        let key = ObjectKey::new("pods", meta::namespace(&pod), meta::name(&pod));
        if let Some(stored) = modify(cluster, &key, |current| {
            meta::set_meta(current, "deletionGracePeriodSeconds", 0)
        }) {
            finish_if_complete(cluster, &resource, &key, &stored);
        }
    }
}
