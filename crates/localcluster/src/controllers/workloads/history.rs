//! ControllerRevisions, the history of a StatefulSet's or DaemonSet's pod template, as
//! Kubernetes' `controller/history` package keeps it: each template the owner has had is one
//! ControllerRevision `<owner>-<hash>` owned by it, whose `data` is the patch that restores the
//! template and whose `revision` numbers the templates in the order they were last used. Pods
//! say which revision they were made from (`controller-revision-hash`), which is how the
//! controllers tell updated pods from old ones and what `kubectl rollout history` lists.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{create, delete, int, owned, pods, update, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

/// The `data` of a revision of `owner`: the patch that puts its current template back.
pub fn data_of(owner: &Value) -> Value {
    let mut template = owner["spec"]["template"].clone();
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

/// The pod template a revision restores.
pub fn template_of(revision: &Value) -> Value {
    let mut template = revision["data"]["spec"]["template"].clone();
    if let Some(fields) = template.as_object_mut() {
        fields.remove("$patch");
    }
    template
}

/// `HashControllerRevision`: FNV-1 (32 bits) of the data and the collision count, spelled
/// safely.
pub fn data_hash(data: &Value, collision_count: i64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in format!("{data}{collision_count}").bytes() {
        hash = hash.wrapping_mul(0x0100_0193);
        hash ^= u32::from(byte);
    }
    super::rollout::safe_encode(hash)
}

/// A revision of `owner` named `<owner>-<hash>`, labelled with its template's labels and
/// `labels`.
pub fn revision(owner: &Value, hash: &str, labels: &[(&str, &str)], number: i64) -> Value {
    let mut all = owner["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (key, value) in labels {
        all.insert((*key).into(), json!(value));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": format!("{}-{hash}", meta::name(owner)),
            "namespace": meta::namespace(owner),
            "labels": all,
            "ownerReferences": [pods::controller_reference(owner)],
        },
        "data": data_of(owner),
        "revision": number,
    })
}

/// The revisions `owner` controls, oldest first.
pub fn revisions(cluster: &Cluster, owner: &Value) -> Vec<Arc<Value>> {
    let mut revisions = owned(cluster, "controllerrevisions.apps", owner);
    revisions.sort_by_key(|r| (int(r, &["revision"]), meta::name(r).to_string()));
    revisions
}

/// The revision of the owner's template now, made or renumbered as the newest if it is not:
/// an existing revision with the same data is reused (a template rolled back to), a new one is
/// created otherwise. A name taken by other data is a collision, counted in the owner's
/// `status.collisionCount` so that the next attempt hashes to another name.
pub async fn current(
    cluster: &Cluster,
    owner: &Value,
    existing: &[Arc<Value>],
    candidate: Value,
) -> Result<Value, ApiError> {
    let newest = existing.last().map_or(0, |r| int(r, &["revision"]));
    if let Some(same) = existing
        .iter()
        .rev()
        .find(|r| r["data"] == candidate["data"])
    {
        if int(same, &["revision"]) == newest {
            return Ok(Value::clone(same));
        }
        let mut renumbered = Value::clone(same);
        renumbered["revision"] = json!(newest + 1);
        return update(cluster, renumbered).await;
    }
    let mut candidate = candidate;
    candidate["revision"] = json!(newest + 1);
    match create(cluster, ("apps/v1", "controllerrevisions"), candidate).await {
        Err(error) if error.code == 409 && error.reason == "AlreadyExists" => {
            let mut status = owner["status"].clone();
            status["collisionCount"] = json!(int(owner, &["status", "collisionCount"]) + 1);
            write_status(cluster, owner, status).await?;
            Err(error)
        }
        result => result,
    }
}

/// Deletes the oldest revisions beyond `spec.revisionHistoryLimit` (10 by default) that no pod
/// and neither `keep` revision use.
pub async fn truncate(
    cluster: &Cluster,
    owner: &Value,
    existing: &[Arc<Value>],
    in_use: &BTreeSet<String>,
) -> Result<(), ApiError> {
    let limit = owner["spec"]["revisionHistoryLimit"]
        .as_i64()
        .unwrap_or(10)
        .max(0) as usize;
    let unused: Vec<&Arc<Value>> = existing
        .iter()
        .filter(|r| !in_use.contains(meta::name(r)))
        .collect();
    for revision in unused.iter().take(unused.len().saturating_sub(limit)) {
        delete(cluster, revision).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": image}]}}}})
    }

    #[test]
    fn a_revision_restores_the_template_it_was_made_from() {
        let web = owner("nginx:1");
        let revision = revision(&web, "abc", &[("controller.kubernetes.io/hash", "abc")], 3);
        assert_eq!(revision["metadata"]["name"], "web-abc");
        assert_eq!(revision["revision"], 3);
        assert_eq!(revision["metadata"]["labels"]["app"], "web");
        assert_eq!(revision["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(template_of(&revision), web["spec"]["template"]);
        assert_eq!(
            revision["metadata"]["ownerReferences"][0]["controller"],
            true
        );
    }

    #[test]
    fn hashes_follow_the_data_and_the_collision_count() {
        let a = data_hash(&data_of(&owner("nginx:1")), 0);
        assert_eq!(a, data_hash(&data_of(&owner("nginx:1")), 0));
        assert_ne!(a, data_hash(&data_of(&owner("nginx:2")), 0));
        assert_ne!(a, data_hash(&data_of(&owner("nginx:1")), 1));
    }
}
