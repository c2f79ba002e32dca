//! The deployment controller: a Deployment's pod template is run by a ReplicaSet of its own,
//! `<deployment>-<pod-template-hash>`; changing the template makes a new ReplicaSet and moves the
//! replicas to it by the strategy (`RollingUpdate` within `maxSurge` and `maxUnavailable`, or
//! `Recreate`: the old pods gone first), numbers the revisions
//! (`deployment.kubernetes.io/revision`), keeps `revisionHistoryLimit` old ReplicaSets and
//! reports the rollout in `status` and the `Available` and `Progressing` conditions that
//! `kubectl rollout status` reads.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::rollout::{self, Counts, Step};
use super::{create, delete, int, owned, update, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

fn revision(set: &Value) -> i64 {
    meta::str_at(set, &["metadata", "annotations", REVISION])
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The template of a ReplicaSet without the label the Deployment added to it.
fn template_without_hash(set: &Value) -> Value {
    let mut template = set["spec"]["template"].clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
        if labels.is_empty() {
            template["metadata"]
                .as_object_mut()
                .map(|m| m.remove("labels"));
        }
    }
    template
}

/// A ReplicaSet's replicas and available pods; a set just scaled down reports the pods it had
/// until it has removed them, so no more than it is asked for are counted available.
fn counts(set: &Value) -> Counts {
    let replicas = int(set, &["spec", "replicas"]);
    Counts {
        replicas,
        available: int(set, &["status", "availableReplicas"]).min(replicas),
    }
}

/// The ReplicaSet that runs `deployment`'s template, named by `hash`, at `replicas`.
pub fn new_replica_set(deployment: &Value, hash: &str, replicas: i64, revision: i64) -> Value {
    let with_hash = |labels: Option<&Value>| {
        let mut labels = labels
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        labels.insert(HASH_LABEL.into(), json!(hash));
        Value::Object(labels)
    };
    let spec = &deployment["spec"];
    let mut template = spec["template"].clone();
    template["metadata"]["labels"] = with_hash(template["metadata"].get("labels"));
    let mut selector = spec["selector"].clone();
    selector["matchLabels"] = with_hash(selector.get("matchLabels"));
    let max_surge = rollout::resolve(
        &spec["strategy"]["rollingUpdate"]["maxSurge"],
        int(deployment, &["spec", "replicas"]),
        true,
    );
    let desired = int(deployment, &["spec", "replicas"]);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", meta::name(deployment)),
            "namespace": meta::namespace(deployment),
            "labels": template["metadata"]["labels"],
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + max_surge).to_string(),
                REVISION: revision.to_string(),
            },
            "ownerReferences": [super::pods::controller_reference(deployment)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    })
}

pub(super) async fn reconcile(cluster: &Cluster, deployment: &Value) -> Result<(), ApiError> {
    let mut sets: Vec<Arc<Value>> = owned(cluster, "replicasets.apps", deployment);
    sets.sort_by_key(|s| (revision(s), meta::name(s).to_string()));
    let template = &deployment["spec"]["template"];
    let (new, olds): (Vec<Arc<Value>>, Vec<Arc<Value>>) = sets
        .iter()
        .cloned()
        .partition(|s| template_without_hash(s) == *template);
    let new = new.into_iter().next();
    let desired = int(deployment, &["spec", "replicas"]);
    let max_old_revision = olds.iter().map(|s| revision(s)).max().unwrap_or(0);
    let paused = deployment["spec"]["paused"] == true;
    let mut created = None;
    if !paused {
        created = step(
            cluster,
            deployment,
            new.as_deref(),
            &olds,
            desired,
            max_old_revision,
        )
        .await?;
        if let Some(new) = &new
            && revision(new) <= max_old_revision
        {
            // A template rolled back to: the old ReplicaSet is the newest revision again.
            let mut renumbered = Value::clone(new);
            renumbered["metadata"]["annotations"][REVISION] =
                json!((max_old_revision + 1).to_string());
            update(cluster, renumbered).await?;
        }
        clean_history(cluster, deployment, &olds).await?;
    }
    let new_name = created
        .as_ref()
        .or(new.as_deref())
        .map(|s| meta::name(s).to_string());
    let new_revision = created.as_ref().or(new.as_deref()).map(revision);
    if let Some(revision) = new_revision
        && meta::str_at(deployment, &["metadata", "annotations", REVISION])
            != Some(revision.to_string().as_str())
    {
        let mut annotated = deployment.clone();
        annotated["metadata"]["annotations"][REVISION] = json!(revision.to_string());
        let stored = update(cluster, annotated).await?;
        return write_status(
            cluster,
            &stored,
            status(
                &stored,
                &sets,
                new.as_deref(),
                new_name.as_deref(),
                created.is_some(),
            ),
        )
        .await;
    }
    let status = status(
        deployment,
        &sets,
        new.as_deref(),
        new_name.as_deref(),
        created.is_some(),
    );
    write_status(cluster, deployment, status).await
}

/// One step of the strategy; the ReplicaSet it created, if it did.
async fn step(
    cluster: &Cluster,
    deployment: &Value,
    new: Option<&Value>,
    olds: &[Arc<Value>],
    desired: i64,
    max_old_revision: i64,
) -> Result<Option<Value>, ApiError> {
    let strategy = &deployment["spec"]["strategy"];
    let recreate = strategy["type"] == "Recreate";
    let hash = rollout::template_hash(
        &deployment["spec"]["template"],
        int(deployment, &["status", "collisionCount"]),
    );
    if recreate {
        // The new pods start only once no old pod runs, not even one shutting down.
        let mut waiting = false;
        for old in olds {
            if int(old, &["spec", "replicas"]) > 0 {
                scale(cluster, old, 0).await?;
                waiting = true;
            }
            waiting |= owned(cluster, "pods", old)
                .iter()
                .any(|pod| !matches!(super::pods::phase(pod), "Succeeded" | "Failed"));
        }
        if waiting {
            return Ok(None);
        }
        return match new {
            None => Ok(Some(
                make(cluster, deployment, &hash, desired, max_old_revision).await?,
            )),
            Some(new) if int(new, &["spec", "replicas"]) != desired => {
                scale(cluster, new, desired).await.map(|_| None)
            }
            Some(_) => Ok(None),
        };
    }
    let limits = rollout::fenceposts(
        &strategy["rollingUpdate"]["maxSurge"],
        &strategy["rollingUpdate"]["maxUnavailable"],
        desired,
    );
    let old_counts: Vec<Counts> = olds.iter().map(|s| counts(s)).collect();
    let Some(new) = new else {
        let Step::ScaleNew(replicas) = rollout::rolling_step(
            desired,
            limits,
            Counts {
                replicas: 0,
                available: 0,
            },
            &old_counts,
        ) else {
            return Ok(Some(
                make(cluster, deployment, &hash, 0, max_old_revision).await?,
            ));
        };
        return Ok(Some(
            make(cluster, deployment, &hash, replicas, max_old_revision).await?,
        ));
    };
    match rollout::rolling_step(desired, limits, counts(new), &old_counts) {
        Step::ScaleNew(replicas) => scale(cluster, new, replicas).await?,
        Step::ScaleOld(targets) => {
            for (old, target) in olds.iter().zip(targets) {
                if int(old, &["spec", "replicas"]) != target {
                    scale(cluster, old, target).await?;
                }
            }
        }
        Step::Done => {}
    }
    Ok(None)
}

/// Creates the new ReplicaSet; a ReplicaSet of that name with another template is a hash
/// collision, counted in `status.collisionCount` so that the next name differs.
async fn make(
    cluster: &Cluster,
    deployment: &Value,
    hash: &str,
    replicas: i64,
    max_old_revision: i64,
) -> Result<Value, ApiError> {
    let set = new_replica_set(deployment, hash, replicas, max_old_revision + 1);
    match create(cluster, ("apps/v1", "replicasets"), set).await {
        Err(error) if error.code == 409 && error.reason == "AlreadyExists" => {
            let mut status = deployment["status"].clone();
            status["collisionCount"] = json!(int(deployment, &["status", "collisionCount"]) + 1);
            write_status(cluster, deployment, status).await?;
            Err(error)
        }
        result => result,
    }
}

async fn scale(cluster: &Cluster, set: &Value, replicas: i64) -> Result<(), ApiError> {
    let mut scaled = set.clone();
    scaled["spec"]["replicas"] = json!(replicas);
    update(cluster, scaled).await.map(|_| ())
}

/// Deletes the oldest ReplicaSets that run nothing beyond `revisionHistoryLimit`.
async fn clean_history(
    cluster: &Cluster,
    deployment: &Value,
    olds: &[Arc<Value>],
) -> Result<(), ApiError> {
    let limit = deployment["spec"]["revisionHistoryLimit"]
        .as_i64()
        .unwrap_or(10)
        .max(0) as usize;
    let idle: Vec<&Arc<Value>> = olds
        .iter()
        .filter(|s| int(s, &["spec", "replicas"]) == 0 && int(s, &["status", "replicas"]) == 0)
        .collect();
    for set in idle.iter().take(idle.len().saturating_sub(limit)) {
        delete(cluster, set).await?;
    }
    Ok(())
}

/// The Deployment's status from its ReplicaSets' statuses, with its conditions.
pub fn status(
    deployment: &Value,
    sets: &[Arc<Value>],
    new: Option<&Value>,
    new_name: Option<&str>,
    created: bool,
) -> Value {
    let sum = |path: &[&str]| sets.iter().map(|s| int(s, path)).sum::<i64>();
    let desired = int(deployment, &["spec", "replicas"]);
    let replicas = sum(&["status", "replicas"]);
    let updated = new.map_or(0, |n| int(n, &["status", "replicas"]));
    let ready = sum(&["status", "readyReplicas"]);
    let available = sum(&["status", "availableReplicas"]);
    let unavailable = (sum(&["spec", "replicas"]) - available).max(0);
    let mut status = Map::new();
    status.insert(
        "observedGeneration".into(),
        json!(int(deployment, &["metadata", "generation"])),
    );
    for (field, value) in [
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
        (
            "collisionCount",
            int(deployment, &["status", "collisionCount"]),
        ),
    ] {
        if value > 0 {
            status.insert(field.into(), json!(value));
        }
    }
    let now = meta::now();
    let mut conditions: Vec<Value> = deployment["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let strategy = &deployment["spec"]["strategy"];
    let max_unavailable = if strategy["type"] == "Recreate" {
        0
    } else {
        rollout::fenceposts(
            &strategy["rollingUpdate"]["maxSurge"],
            &strategy["rollingUpdate"]["maxUnavailable"],
            desired,
        )
        .1
    };
    let (available_status, reason, message) = if available >= desired - max_unavailable {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    set_condition(
        &mut conditions,
        "Available",
        available_status,
        reason,
        message,
        &now,
    );
    if let Some(progress) = progressing(deployment, &status, new_name, created, &conditions) {
        let (status_value, reason, message) = progress;
        set_condition(
            &mut conditions,
            "Progressing",
            status_value,
            reason,
            &message,
            &now,
        );
    }
    status.insert("conditions".into(), json!(conditions));
    Value::Object(status)
}

/// The `Progressing` condition due now, if it changes: the new ReplicaSet made, progressing,
/// done, or stuck past `progressDeadlineSeconds`.
fn progressing(
    deployment: &Value,
    status: &Map<String, Value>,
    new_name: Option<&str>,
    created: bool,
    conditions: &[Value],
) -> Option<(&'static str, &'static str, String)> {
    let name = new_name?;
    let desired = int(deployment, &["spec", "replicas"]);
    let get = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let previous = conditions.iter().find(|c| c["type"] == "Progressing");
    if created {
        return Some((
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{name}\""),
        ));
    }
    if get("updatedReplicas") == desired
        && get("replicas") == desired
        && get("availableReplicas") == desired
    {
        return Some((
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{name}\" has successfully progressed."),
        ));
    }
    let old = &deployment["status"];
    let moved = ["updatedReplicas", "readyReplicas", "availableReplicas"]
        .iter()
        .any(|f| get(f) > old[*f].as_i64().unwrap_or(0))
        || get("replicas") - get("updatedReplicas")
            < int(old, &["replicas"]) - int(old, &["updatedReplicas"]);
    let progressing = (
        "True",
        "ReplicaSetUpdated",
        format!("ReplicaSet \"{name}\" is progressing."),
    );
    let Some(previous) = previous else {
        return Some(progressing);
    };
    if moved || previous["reason"] == "NewReplicaSetAvailable" {
        return Some(progressing);
    }
    let deadline = deployment["spec"]["progressDeadlineSeconds"].as_i64()?;
    let since = previous["lastUpdateTime"]
        .as_str()?
        .parse::<jiff::Timestamp>()
        .ok()?;
    (since + jiff::SignedDuration::from_secs(deadline) < jiff::Timestamp::now()).then(|| {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{name}\" has timed out progressing."),
        )
    })
}

/// Sets a Deployment condition as the controller does: unchanged when status and reason are the
/// same (a progressing rollout refreshes `lastUpdateTime`), else moved to the end, keeping its
/// `lastTransitionTime` when only the reason changed.
fn set_condition(
    conditions: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let previous = conditions.iter().position(|c| c["type"] == kind);
    let mut transition = now.to_string();
    if let Some(index) = previous {
        let current = &mut conditions[index];
        if current["status"] == status && current["reason"] == reason {
            if reason == "ReplicaSetUpdated" {
                current["lastUpdateTime"] = json!(now);
            }
            return;
        }
        if current["status"] == status {
            transition = current["lastTransitionTime"]
                .as_str()
                .unwrap_or(now)
                .to_string();
        }
        conditions.remove(index);
    }
    conditions.push(
        json!({"type": kind, "status": status, "lastUpdateTime": now,
        "lastTransitionTime": transition, "reason": reason, "message": message}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 2},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}})
    }

    #[test]
    fn the_replica_set_carries_the_hash_revision_and_owner() {
        let set = new_replica_set(&deployment(), "abc", 1, 2);
        assert_eq!(set["metadata"]["name"], "web-abc");
        assert_eq!(
            set["metadata"]["labels"],
            json!({"app": "web", "pod-template-hash": "abc"})
        );
        assert_eq!(
            set["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            "abc"
        );
        assert_eq!(set["metadata"]["annotations"][REVISION], "2");
        assert_eq!(
            set["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "4"
        );
        assert_eq!(set["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            template_without_hash(&set),
            deployment()["spec"]["template"]
        );
    }

    #[test]
    fn status_sums_the_replica_sets_and_says_when_the_rollout_is_done() {
        let new = Arc::new(json!({"spec": {"replicas": 3},
            "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}}));
        let status = status(
            &deployment(),
            std::slice::from_ref(&new),
            Some(&new),
            Some("web-abc"),
            false,
        );
        assert_eq!(status["replicas"], 3);
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(status["observedGeneration"], 2);
        assert!(status.get("unavailableReplicas").is_none());
        let conditions = status["conditions"].as_array().unwrap();
        assert_eq!(conditions[0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(conditions[1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(
            conditions[1]["message"],
            "ReplicaSet \"web-abc\" has successfully progressed."
        );
    }
}
