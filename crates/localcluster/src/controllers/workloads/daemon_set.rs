//! The DaemonSet controller: one pod per node that fits, made from the template with the daemon
//! tolerations and pinned to its node by node affinity, so that the scheduler still checks room
//! and binds it as it would any pod. New nodes get a pod; a node that no longer fits loses it.
//! Templates are recorded as ControllerRevisions named by the template hash that the pods carry
//! in `controller-revision-hash`; a `RollingUpdate` replaces old pods within `maxUnavailable`,
//! `OnDelete` only when they are deleted. Decisions are in [`daemon_plan`](super::daemon_plan).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::daemon_plan::{self, Fit, HASH_LABEL};
use super::replica_set::with_namespace;
use super::{create, delete, history, int, owned, pods, rollout, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

pub(super) async fn reconcile(cluster: &Cluster, daemon_set: &Value) -> Result<(), ApiError> {
    let existing = history::revisions(cluster, daemon_set);
    let template_hash = rollout::template_hash(
        &daemon_set["spec"]["template"],
        int(daemon_set, &["status", "collisionCount"]),
    );
    let candidate = history::revision(
        daemon_set,
        &template_hash,
        &[(HASH_LABEL, &template_hash)],
        0,
    );
    let revision = history::current(cluster, daemon_set, &existing, candidate).await?;
    let hash = meta::str_at(&revision, &["metadata", "labels", HASH_LABEL])
        .unwrap_or(&template_hash)
        .to_string();
    let template = daemon_plan::pod_template(daemon_set, &hash);
    let (nodes, _) = cluster.store().list("nodes", None);
    let fits: BTreeMap<String, Fit> = nodes
        .iter()
        .map(|node| {
            (
                meta::name(node).to_string(),
                daemon_plan::fit(&template, node),
            )
        })
        .collect();
    let owned_pods = owned(cluster, "pods", daemon_set);
    let all: Vec<&Value> = owned_pods.iter().map(|p| p.as_ref()).collect();
    let on_nodes = daemon_plan::by_node(&all);
    let (to_create, mut to_delete) = daemon_plan::manage(&fits, &on_nodes);
    if daemon_set["spec"]["updateStrategy"]["type"] != "OnDelete" {
        to_delete.extend(rolling(daemon_set, &fits, &on_nodes, &hash));
    }
    for node in to_create {
        let mut pod = pods::from_template(daemon_set, &template, None);
        daemon_plan::pin_to_node(&mut pod, &node);
        create(
            cluster,
            ("v1", "pods"),
            with_namespace(pod, meta::namespace(daemon_set)),
        )
        .await?;
    }
    let doomed: BTreeSet<String> = to_delete.into_iter().collect();
    for pod in all.iter().filter(|p| doomed.contains(meta::name(p))) {
        delete(cluster, pod).await?;
    }
    let owned_pods = owned(cluster, "pods", daemon_set);
    let all: Vec<&Value> = owned_pods.iter().map(|p| p.as_ref()).collect();
    let on_nodes = daemon_plan::by_node(&all);
    let now = jiff::Timestamp::now();
    let status = daemon_plan::status_of(daemon_set, &fits, &on_nodes, &hash, now);
    let in_use: BTreeSet<String> = existing
        .iter()
        .filter(|r| {
            let label = meta::str_at(r, &["metadata", "labels", HASH_LABEL]);
            label.is_some_and(|h| h == hash || all.iter().any(|p| pod_hash(p) == Some(h)))
        })
        .map(|r| meta::name(r).to_string())
        .chain([meta::name(&revision).to_string()])
        .collect();
    history::truncate(cluster, daemon_set, &existing, &in_use).await?;
    write_status(cluster, daemon_set, status).await
}

fn pod_hash(pod: &Value) -> Option<&str> {
    meta::str_at(pod, &["metadata", "labels", HASH_LABEL])
}

/// The old pods a rolling update deletes now, its `maxUnavailable` counted against the nodes
/// that should run a pod (rounded up; at least one).
fn rolling(
    daemon_set: &Value,
    fits: &BTreeMap<String, Fit>,
    on_nodes: &BTreeMap<String, Vec<&Value>>,
    hash: &str,
) -> Vec<String> {
    let mut considered = on_nodes.clone();
    for (node, _) in fits.iter().filter(|(_, fit)| fit.should_run) {
        considered.entry(node.clone()).or_default();
    }
    let desired = fits.values().filter(|f| f.should_run).count() as i64;
    let max_unavailable = rollout::resolve(
        &daemon_set["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        desired,
        true,
    )
    .max(1);
    daemon_plan::rolling_deletes(
        &considered,
        hash,
        max_unavailable,
        int(daemon_set, &["spec", "minReadySeconds"]),
        jiff::Timestamp::now(),
    )
}
