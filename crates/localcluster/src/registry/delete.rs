//! Deletion: preconditions, finalizers, graceful pod deletion and propagation policies. Objects
//! that cannot go at once are marked with `deletionTimestamp`; the controllers
//! ([`crate::controllers`]) and whoever owns the finalizers finish the job.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, ListOptions, is_crd};
use crate::admission::webhooks::Webhooks;
use crate::admission::{AdmissionRequest, Operation};
use crate::error::ApiError;
use crate::kinds::{ResourceType, as_version};
use crate::meta;
use crate::storage::{Preconditions, StoreError};

pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// `propagationPolicy`: what happens to the dependents of a deleted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "Orphan" => Ok(Self::Orphan),
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub grace_period_seconds: Option<i64>,
    /// Background when not given.
    pub propagation: Option<Propagation>,
    pub preconditions: Preconditions,
    /// The deprecated `orphanDependents`, as given: only `false` changes the answer's code.
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body.
    pub fn from_body(body: &Value) -> Result<Self, ApiError> {
        let mut options = DeleteOptions {
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| !d.is_empty()),
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            ..Default::default()
        };
        if let Some(policy) = body.get("propagationPolicy").and_then(Value::as_str) {
            options.propagation = Some(Propagation::parse(policy)?);
        } else if let Some(orphan) = body.get("orphanDependents").and_then(Value::as_bool) {
            options.orphan_dependents = Some(orphan);
            options.propagation = Some(if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        }
        if let Some(preconditions) = body.get("preconditions") {
            options.preconditions.uid = preconditions
                .get("uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            options.preconditions.resource_version = match preconditions
                .get("resourceVersion")
                .and_then(Value::as_str)
            {
                Some(rv) => Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion precondition {rv:?}"))
                })?),
                None => None,
            };
        }
        Ok(options)
    }
}

/// How a delete ended: gone now, or marked and waiting (finalizers, graceful termination).
#[derive(Debug, Clone)]
pub enum Deletion {
    Deleted(Value),
    Pending(Value),
}

impl Deletion {
    pub fn object(&self) -> &Value {
        match self {
            Deletion::Deleted(object) | Deletion::Pending(object) => object,
        }
    }
}

/// The code and body of a DELETE's answer, as the API server gives them: 200 with the object while
/// finalizers or a grace period hold it (202 only when the deprecated `orphanDependents: false`
/// was asked for), and once it is gone, the object for the few resources that return it, else a
/// `Status` naming what was deleted (`details.kind` is the resource, as Kubernetes writes it).
pub fn answer(
    resource: &ResourceType,
    deletion: &Deletion,
    options: &DeleteOptions,
) -> (u16, Value) {
    match deletion {
        Deletion::Pending(object) => {
            let code = if options.orphan_dependents == Some(false) {
                202
            } else {
                200
            };
            (code, object.clone())
        }
        Deletion::Deleted(object) if resource.returns_deleted_object() => (200, object.clone()),
        Deletion::Deleted(object) => {
            let mut details = serde_json::Map::new();
            details.insert("name".into(), json!(meta::name(object)));
            if !resource.group.is_empty() {
                details.insert("group".into(), json!(resource.group));
            }
            details.insert("kind".into(), json!(resource.plural));
            details.insert("uid".into(), json!(meta::uid(object)));
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Success", "details": details});
            (200, status)
        }
    }
}

const PROTECTED_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

fn check_preconditions(
    resource: &str,
    name: &str,
    current: &Value,
    preconditions: &Preconditions,
) -> Result<(), ApiError> {
    if let Some(uid) = &preconditions.uid
        && uid != meta::uid(current)
    {
        return Err(ApiError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(current)
            ),
        ));
    }
    if let Some(rv) = preconditions.resource_version
        && rv != meta::resource_version(current)
    {
        return Err(ApiError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(current)
            ),
        ));
    }
    Ok(())
}

/// Seconds a pod gets to stop: none unless it runs on a node and has not ended.
fn pod_grace_period(resource: &ResourceType, pod: &Value, asked: Option<i64>) -> i64 {
    if !(resource.group.is_empty() && resource.plural == "pods") {
        return 0;
    }
    let on_node = meta::str_at(pod, &["spec", "nodeName"]).is_some_and(|n| !n.is_empty());
    let ended = matches!(
        meta::str_at(pod, &["status", "phase"]),
        Some("Succeeded" | "Failed")
    );
    if !on_node || ended {
        return 0;
    }
    asked
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0)
}

/// An object whose deletion was waiting on finalizers goes once they are all removed.
pub(crate) fn deletion_complete(object: &Value) -> bool {
    let grace = meta::value_at(object, &["metadata", "deletionGracePeriodSeconds"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let namespace_finalizers = object.get("kind").and_then(Value::as_str) == Some("Namespace")
        && object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    meta::deletion_timestamp(object).is_some()
        && meta::finalizers(object).is_empty()
        && grace == 0
        && !namespace_finalizers
}

impl Cluster {
    pub async fn delete(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deletion, ApiError> {
        let namespace = self.check_scope(resource, namespace)?;
        let key = Cluster::key(resource, namespace, name);
        let is_namespace = resource.group.is_empty() && resource.plural == "namespaces";
        if is_namespace && PROTECTED_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        let pinned = options.preconditions.resource_version.is_some();
        loop {
            let current = self
                .store()
                .get(&key)
                .ok_or_else(|| ApiError::not_found(&resource.qualified_resource(), name))?;
            check_preconditions(
                &resource.qualified_resource(),
                name,
                &current,
                &options.preconditions,
            )?;
            let request = AdmissionRequest {
                operation: Operation::Delete,
                resource: resource.clone(),
                subresource: None,
                namespace: key.namespace.clone(),
                name: name.to_string(),
                object: None,
                old_object: Some(as_version(resource, &current)),
                dry_run: options.dry_run,
            };
            if let Some(hook) = self.admission() {
                hook.validate(&request).await?;
            }
            Webhooks::of(self.store()).call_validating(&request).await?;
            if options.dry_run {
                return Ok(Deletion::Deleted(as_version(resource, &current)));
            }
            let mut finalizers = meta::finalizers(&current);
            let wanted = match options.propagation {
                Some(Propagation::Orphan) => Some(ORPHAN_FINALIZER),
                Some(Propagation::Foreground) => Some(FOREGROUND_FINALIZER),
                _ => None,
            };
            if let Some(finalizer) = wanted
                && !finalizers.iter().any(|f| f == finalizer)
            {
                finalizers.push(finalizer.to_string());
            }
            let grace = pod_grace_period(resource, &current, options.grace_period_seconds);
            let waiting = !finalizers.is_empty() || grace > 0 || is_namespace;
            if waiting {
                let mut marked = Value::clone(&current);
                meta::set_finalizers(&mut marked, &finalizers);
                let existing_grace =
                    meta::value_at(&current, &["metadata", "deletionGracePeriodSeconds"])
                        .and_then(Value::as_i64);
                if meta::deletion_timestamp(&current).is_none()
                    || existing_grace.is_some_and(|g| grace < g)
                {
                    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
                    meta::set_meta(&mut marked, "deletionTimestamp", meta::format_time(at));
                    meta::set_meta(&mut marked, "deletionGracePeriodSeconds", grace);
                }
                if is_namespace {
                    marked["status"]["phase"] = json!("Terminating");
                }
                let complete = deletion_complete(&marked);
                if !complete {
                    match self
                        .store()
                        .update(&key, marked, Some(meta::resource_version(&current)))
                    {
                        Ok(stored) => return Ok(Deletion::Pending(as_version(resource, &stored))),
                        Err(StoreError::Conflict { .. }) if !pinned => continue,
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            let preconditions = Preconditions {
                uid: options.preconditions.uid.clone(),
                resource_version: Some(meta::resource_version(&current)),
            };
            match self.store().delete(&key, &preconditions) {
                Ok(deleted) => {
                    self.after_delete(resource, &deleted);
                    return Ok(Deletion::Deleted(as_version(resource, &deleted)));
                }
                Err(StoreError::Conflict { .. }) if !pinned => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Deletes every object a list with `list` would return; returns what was deleted or marked.
    pub async fn delete_collection(
        &self,
        resource: &Arc<ResourceType>,
        namespace: Option<&str>,
        list: &ListOptions,
        options: &DeleteOptions,
    ) -> Result<Vec<Value>, ApiError> {
        let listed = self.list(resource, namespace, list)?;
        let mut deleted = Vec::new();
        for item in listed["items"].as_array().into_iter().flatten() {
            match self
                .delete(resource, meta::namespace(item), meta::name(item), options)
                .await
            {
                Ok(deletion) => deleted.push(deletion.object().clone()),
                Err(error) if error.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        Ok(deleted)
    }

    /// Side effects of an object leaving the store.
    pub(crate) fn after_delete(&self, resource: &ResourceType, deleted: &Value) {
        if is_crd(resource) {
            let crd_name = meta::name(deleted);
            self.kinds().remove_custom(crd_name);
            // Instances go with their definition (Kubernetes drains them through a finalizer).
            let (items, _) = self.store().list(crd_name, None);
            for item in items {
                let key = crate::storage::ObjectKey::new(
                    crd_name,
                    meta::namespace(&item),
                    meta::name(&item),
                );
                let _ = self.store().delete(&key, &Preconditions::default());
            }
        }
        if resource.group.is_empty() && resource.plural == "pods" {
            self.forget_pod_logs(meta::namespace(deleted), meta::name(deleted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_delete_options_bodies() {
        let body = json!({"kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
            "preconditions": {"uid": "u", "resourceVersion": "7"}, "dryRun": ["All"]});
        let options = DeleteOptions::from_body(&body).unwrap();
        assert!(options.dry_run);
        assert_eq!(options.grace_period_seconds, Some(0));
        assert_eq!(options.propagation, Some(Propagation::Foreground));
        assert_eq!(options.preconditions.resource_version, Some(7));
        let orphan = DeleteOptions::from_body(&json!({"orphanDependents": true})).unwrap();
        assert_eq!(orphan.propagation, Some(Propagation::Orphan));
        assert!(DeleteOptions::from_body(&json!({"propagationPolicy": "Sideways"})).is_err());
    }
}
