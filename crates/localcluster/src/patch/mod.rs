//! The patch types of the Kubernetes API: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
//! strategic merge patch and server-side apply with field ownership.

mod apply;
mod strategic;
#[cfg(test)]
mod strategic_tests;
mod types;

use serde_json::Value;

pub use apply::{FieldManager, apply, manager_from_user_agent, track_update};
pub use types::TypeInfo;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch cannot be applied; the text is the API server's reason.
    #[error("{0}")]
    Invalid(String),
    /// Server-side apply would change fields other managers own (HTTP 409, reason `Conflict`,
    /// one `FieldManagerConflict` cause per entry).
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<ApplyConflict>),
}

/// One field owned by another manager that an apply without `force` would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflict {
    /// The other manager's name.
    pub manager: String,
    /// The field as Kubernetes prints it: `.spec.replicas`, `.spec.containers[name="main"].image`.
    pub field: String,
    /// The owner as Kubernetes describes it: `"kubectl-edit" using apps/v1`.
    pub owner: String,
}

impl ApplyConflict {
    /// The `message` of this conflict's `StatusCause`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.owner)
    }
}

/// The `Status` message of a failed apply, worded as the API server words it.
pub fn conflict_message(conflicts: &[ApplyConflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.owner, only.field
        );
    }
    let mut owners: Vec<&str> = conflicts.iter().map(|c| c.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut lines = Vec::new();
    for owner in owners {
        lines.push(format!("conflicts with {owner}:"));
        lines.extend(
            conflicts
                .iter()
                .filter(|c| c.owner == owner)
                .map(|c| format!("- {}", c.field)),
        );
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// RFC 6902. The operations are applied atomically: on error the target is unchanged.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Invalid(format!("invalid JSON patch: {e}")))?;
    let mut document = target.clone();
    json_patch::patch(&mut document, &operations)
        .map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(document)
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut document = target.clone();
    json_patch::merge(&mut document, patch);
    document
}

/// Strategic merge patch for a built-in kind (`group`, `kind`), with Kubernetes' merge keys.
/// Kinds outside the built-in API groups (custom resources) get merge patch semantics.
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    group: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    if !types::is_builtin_group(group) {
        if !patch.is_object() {
            return Err(PatchError::Invalid("invalid JSON document".into()));
        }
        return Ok(merge_patch(target, patch));
    }
    let info = TypeInfo {
        group,
        kind,
        crd_schema: None,
    };
    strategic::apply(target, patch, info.root())
}

/// Server-side apply of `applied` by `manager` onto `live` (None when the object is new), keeping
/// `metadata.managedFields` (FieldsV1) as Kubernetes does, stamped with the current time.
/// Custom resources are better served by [`apply`] with their CRD schema, which declares how
/// their lists merge; without it their lists are atomic.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    group: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let time = now();
    let field_manager = FieldManager {
        name: manager,
        subresource: None,
        time: &time,
    };
    apply(
        live,
        applied,
        TypeInfo {
            group,
            kind,
            crd_schema: None,
        },
        &field_manager,
        force,
    )
}

/// The current time as `managedFields` record it (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_patch_applies_rfc6902_operations() {
        let target = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 2]}});
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "replace", "path": "/spec/items/0", "value": 9},
            {"op": "add", "path": "/spec/items/-", "value": 3},
            {"op": "test", "path": "/spec/items/1", "value": 2},
            {"op": "copy", "from": "/spec/items", "path": "/spec/copy"},
            {"op": "move", "from": "/spec/copy", "path": "/spec/moved"}
        ]);
        assert_eq!(
            json_patch(&target, &patch).unwrap(),
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"items": [9, 2, 3], "moved": [9, 2, 3]}})
        );
    }

    #[test]
    fn json_patch_failures_leave_the_target_alone() {
        let target = json!({"a": 1});
        let failing = json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}]);
        assert!(matches!(
            json_patch(&target, &failing),
            Err(PatchError::Invalid(_))
        ));
        assert!(json_patch(&target, &json!([{"op": "remove", "path": "/missing"}])).is_err());
        assert!(
            json_patch(&target, &json!({"op": "add"}))
                .unwrap_err()
                .to_string()
                .contains("invalid JSON patch")
        );
    }

    #[test]
    fn merge_patch_follows_rfc7386() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        let patch = json!({"a": "z", "c": {"f": null, "h": 1}, "list": [3], "new": {"x": null}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"a": "z", "c": {"d": "e", "h": 1}, "list": [3], "new": {}})
        );
        assert_eq!(merge_patch(&json!({"a": 1}), &json!(["x"])), json!(["x"]));
    }

    #[test]
    fn custom_resources_fall_back_to_merge_patch() {
        let target = json!({"spec": {"list": [{"name": "a", "v": 1}]}});
        let patch = json!({"spec": {"list": [{"name": "b"}]}});
        let patched =
            strategic_merge_patch(&target, &patch, "sparkoperator.k8s.io", "SparkApplication")
                .unwrap();
        assert_eq!(patched, json!({"spec": {"list": [{"name": "b"}]}}));
    }

    #[test]
    fn conflict_messages_match_the_api_server() {
        let one = vec![ApplyConflict {
            manager: "kubectl".into(),
            field: ".spec.replicas".into(),
            owner: "\"kubectl\" using apps/v1".into(),
        }];
        assert_eq!(
            PatchError::Conflict(one.clone()).to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            one[0].cause_message(),
            "conflict with \"kubectl\" using apps/v1"
        );
        let mut two = one.clone();
        two.push(ApplyConflict {
            manager: "b".into(),
            field: ".data.x".into(),
            owner: "\"b\"".into(),
        });
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"b\":\n- .data.x\nconflicts with \"kubectl\" using \
             apps/v1:\n- .spec.replicas"
        );
    }

    #[test]
    fn user_agents_name_managers() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.31.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent("spark-operator"), "spark-operator");
    }

    #[test]
    fn now_is_rfc3339_seconds() {
        let time = now();
        assert_eq!(time.len(), 20);
        assert!(time.ends_with('Z'));
        assert!(time.parse::<jiff::Timestamp>().is_ok());
    }
}
