//! The StatefulSet controller: each ordinal is a pod of its own name, `<set>-<ordinal>`, with a
//! stable hostname under the set's governing Service and its own PersistentVolumeClaims
//! `<claim>-<set>-<ordinal>` from `volumeClaimTemplates`, kept across restarts; a deleted pod
//! comes back under the same name. Templates are recorded as ControllerRevisions
//! ([`history`](super::history)) and pods labelled with theirs, so that a rolling update can tell
//! which pods are old. What to do next is decided in [`stateful_plan`](super::stateful_plan).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::history;
use super::pods::{self, controller_reference};
use super::replica_set::with_namespace;
use super::stateful_plan::{self, Action, REVISION_LABEL, Shape};
use super::{create, delete, int, owned, update, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

const HASH_LABEL: &str = "controller.kubernetes.io/hash";

pub(super) async fn reconcile(cluster: &Cluster, set: &Value) -> Result<(), ApiError> {
    let existing = history::revisions(cluster, set);
    let hash = history::data_hash(
        &history::data_of(set),
        int(set, &["status", "collisionCount"]),
    );
    let candidate = history::revision(set, &hash, &[(HASH_LABEL, &hash)], 0);
    let update_revision = history::current(cluster, set, &existing, candidate).await?;
    let update_name = meta::name(&update_revision).to_string();
    let existing = history::revisions(cluster, set);
    let current_revision = meta::str_at(set, &["status", "currentRevision"])
        .and_then(|name| existing.iter().find(|r| meta::name(r) == name))
        .map_or(update_revision.clone(), |r| Value::clone(r));
    let shape = Shape::of(set, &update_name);
    let set_pods = owned(cluster, "pods", set);
    let by_ordinal: BTreeMap<i64, &Value> = set_pods
        .iter()
        .filter_map(|pod| Some((stateful_plan::ordinal(meta::name(set), pod)?, pod.as_ref())))
        .collect();
    for action in stateful_plan::plan(&shape, &by_ordinal, jiff::Timestamp::now()) {
        match action {
            Action::Create(ordinal) => {
                let revision = match shape.keeps_current(ordinal) {
                    true => &current_revision,
                    false => &update_revision,
                };
                make_pod(cluster, set, revision, ordinal).await?;
            }
            Action::Delete(name) => {
                let pod = set_pods.iter().find(|p| meta::name(p) == name);
                if let Some(pod) = pod {
                    remove_pod(cluster, set, &shape, &by_ordinal, pod).await?;
                }
            }
        }
    }
    let set_pods = owned(cluster, "pods", set);
    let counted: Vec<&Value> = set_pods.iter().map(|p| p.as_ref()).collect();
    let status = stateful_plan::status_of(
        set,
        &counted,
        meta::name(&current_revision),
        &update_name,
        jiff::Timestamp::now(),
    );
    let mut in_use: BTreeSet<String> = counted
        .iter()
        .filter_map(|p| stateful_plan::revision(p).map(String::from))
        .collect();
    in_use.extend([meta::name(&current_revision).to_string(), update_name]);
    history::truncate(cluster, set, &existing, &in_use).await?;
    write_status(cluster, set, status).await
}

/// The pod at `ordinal` from `revision`'s template, with its claims made first.
async fn make_pod(
    cluster: &Cluster,
    set: &Value,
    revision: &Value,
    ordinal: i64,
) -> Result<(), ApiError> {
    for claim in claims(set, ordinal) {
        match create(cluster, ("v1", "persistentvolumeclaims"), claim).await {
            Err(error) if error.code != 409 => return Err(error),
            _ => {}
        }
    }
    let pod = new_pod(
        set,
        &history::template_of(revision),
        meta::name(revision),
        ordinal,
    );
    create(cluster, ("v1", "pods"), pod).await.map(|_| ())
}

/// Deletes a pod; one scaled away first hands its claims to it when
/// `persistentVolumeClaimRetentionPolicy.whenScaled` is `Delete`, so they go with it.
async fn remove_pod(
    cluster: &Cluster,
    set: &Value,
    shape: &Shape<'_>,
    by_ordinal: &BTreeMap<i64, &Value>,
    pod: &Value,
) -> Result<(), ApiError> {
    let ordinal = by_ordinal
        .iter()
        .find(|(_, p)| meta::name(p) == meta::name(pod))
        .map(|(o, _)| *o);
    let scaled_away = ordinal.is_some_and(|o| o >= shape.start + shape.replicas.max(0));
    let policy = &set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"];
    if let Some(ordinal) = ordinal.filter(|_| scaled_away && policy == "Delete") {
        for claim in claims(set, ordinal) {
            give_claim_to(cluster, &claim, pod).await?;
        }
    }
    delete(cluster, pod).await
}

async fn give_claim_to(cluster: &Cluster, claim: &Value, pod: &Value) -> Result<(), ApiError> {
    let key = crate::storage::ObjectKey::new(
        "persistentvolumeclaims",
        meta::namespace(claim),
        meta::name(claim),
    );
    let Some(stored) = cluster.store().get(&key) else {
        return Ok(());
    };
    if meta::owner_references(&stored)
        .iter()
        .any(|r| r["uid"] == meta::uid(pod))
    {
        return Ok(());
    }
    let mut owned_claim = Value::clone(&stored);
    let mut references = meta::owner_references(&stored).to_vec();
    let mut reference = controller_reference(pod);
    reference["controller"] = json!(false);
    references.push(reference);
    owned_claim["metadata"]["ownerReferences"] = json!(references);
    update(cluster, owned_claim).await.map(|_| ())
}

/// The pod `<set>-<ordinal>`: the template with the set's identity labels, hostname and
/// subdomain, and its claims mounted in place of the template's volumes of the same names.
pub fn new_pod(set: &Value, template: &Value, revision: &str, ordinal: i64) -> Value {
    let name = format!("{}-{ordinal}", meta::name(set));
    let mut pod = pods::from_template(set, template, Some(&name));
    let labels = &mut pod["metadata"]["labels"];
    labels["statefulset.kubernetes.io/pod-name"] = json!(name);
    labels["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
    labels[REVISION_LABEL] = json!(revision);
    pod["spec"]["hostname"] = json!(name);
    if let Some(service) = set["spec"]["serviceName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        pod["spec"]["subdomain"] = json!(service);
    }
    let mut volumes: Vec<Value> = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for claim in templates(set) {
        let volume_name = meta::name(claim);
        volumes.retain(|v| v["name"] != volume_name);
        volumes.push(json!({"name": volume_name, "persistentVolumeClaim":
            {"claimName": claim_name(set, volume_name, ordinal)}}));
    }
    if !volumes.is_empty() {
        pod["spec"]["volumes"] = json!(volumes);
    }
    with_namespace(pod, meta::namespace(set))
}

fn templates(set: &Value) -> impl Iterator<Item = &Value> {
    set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
}

fn claim_name(set: &Value, claim: &str, ordinal: i64) -> String {
    format!("{claim}-{}-{ordinal}", meta::name(set))
}

/// The claims of the pod at `ordinal`: each template with the set's selector labels, owned by
/// the set when `whenDeleted` is `Delete` so that they go with it.
pub fn claims(set: &Value, ordinal: i64) -> Vec<Value> {
    let owned_by_set =
        set["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete";
    templates(set)
        .map(|template| {
            let mut labels = template["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (key, value) in set["spec"]["selector"]["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
            {
                labels.insert(key.clone(), value.clone());
            }
            let mut claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim_name(set, meta::name(template), ordinal),
                    "namespace": meta::namespace(set), "labels": labels},
                "spec": template["spec"]});
            if owned_by_set {
                let mut reference = controller_reference(set);
                reference["controller"] = json!(false);
                claim["metadata"]["ownerReferences"] = json!([reference]);
            }
            claim
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {"serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}],
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}})
    }

    #[test]
    fn a_pod_has_its_ordinal_identity_and_claims() {
        let set = set();
        let pod = new_pod(&set, &set["spec"]["template"], "web-abc", 2);
        assert_eq!(pod["metadata"]["name"], "web-2");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        let labels = &pod["metadata"]["labels"];
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-2");
        assert_eq!(labels["apps.kubernetes.io/pod-index"], "2");
        assert_eq!(labels[REVISION_LABEL], "web-abc");
        assert_eq!(labels["app"], "web");
        assert_eq!(pod["spec"]["hostname"], "web-2");
        assert_eq!(pod["spec"]["subdomain"], "web");
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data-web-2"
        );
        let claims = claims(&set, 2);
        assert_eq!(claims[0]["metadata"]["name"], "data-web-2");
        assert_eq!(claims[0]["metadata"]["labels"]["app"], "web");
        assert_eq!(claims[0]["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(
            claims[0]["metadata"]["ownerReferences"][0]["controller"],
            false
        );
    }
}
