//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments, ReplicaSets, StatefulSets and
//! ReplicationControllers: a view of `spec.replicas`, `status.replicas` and the selector, through
//! which `kubectl scale` and autoscalers change the replica count alone.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, Patch, WriteOptions};
use crate::error::{ApiError, Cause};
use crate::kinds::ResourceType;
use crate::meta;
use crate::selector::LabelSelector;

/// The Scale of an object, as the API server makes it.
pub fn scale_of(resource: &ResourceType, object: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = object.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    let selector = object
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(Value::Null);
    let selector = if resource.group.is_empty() {
        // A ReplicationController's selector is a plain map of labels.
        let labels: Vec<String> = selector
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        labels.join(",")
    } else {
        LabelSelector::from_json(&selector)
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// The replica count a Scale asks for, checked as the API server checks it.
fn wanted_replicas(name: &str, scale: &Value) -> Result<i64, ApiError> {
    let invalid = |message: String| {
        ApiError::invalid(
            "Scale.autoscaling",
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message,
                field: "spec.replicas".into(),
            }],
        )
    };
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(value) => match value.as_i64() {
            Some(replicas) if replicas >= 0 => Ok(replicas),
            Some(replicas) => Err(invalid(format!(
                "Invalid value: {replicas}: must be greater than or equal to 0"
            ))),
            None => Err(invalid(format!(
                "Invalid value: {value}: must be an integer"
            ))),
        },
    }
}

impl Cluster {
    pub fn get_scale(
        &self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(resource, &self.get(resource, namespace, name)?))
    }

    /// Sets `spec.replicas` from a Scale (its resourceVersion, when given, must be current).
    pub async fn update_scale(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        name: &str,
        scale: &Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let replicas = wanted_replicas(name, scale)?;
        let mut object = self.get(resource, namespace, name)?;
        if let Some(rv) = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
        {
            meta::set_meta(&mut object, "resourceVersion", rv);
        }
        object["spec"]["replicas"] = json!(replicas);
        let options = WriteOptions {
            subresource: None,
            ..options.clone()
        };
        let updated = self
            .update(resource, namespace, name, object, &options)
            .await?;
        Ok(scale_of(resource, &updated))
    }

    /// Applies a patch to an object's Scale, then sets what it asks for.
    pub async fn patch_scale(
        &self,
        resource: &Arc<ResourceType>,
        namespace: &str,
        name: &str,
        patch: &Patch,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let current = self.get_scale(resource, namespace, name)?;
        let patched = match patch {
            Patch::Json(operations) => crate::patch::json_patch(&current, operations)
                .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            Patch::Merge(patch) | Patch::Strategic(patch) => {
                crate::patch::merge_patch(&current, patch)
            }
            Patch::Apply { object, .. } => crate::patch::merge_patch(&current, object),
        };
        self.update_scale(resource, namespace, name, &patched, options)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_replicas_are_refused() {
        assert_eq!(
            wanted_replicas("web", &json!({"spec": {"replicas": 3}})).unwrap(),
            3
        );
        let error = wanted_replicas("web", &json!({"spec": {"replicas": -1}})).unwrap_err();
        assert_eq!(error.code, 422);
        assert!(
            error.message.contains("spec.replicas: Invalid value: -1"),
            "{}",
            error.message
        );
    }
}
