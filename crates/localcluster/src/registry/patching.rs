//! The patch side of writes: decoding the four patch types onto the stored object, field
//! ownership bookkeeping, and the errors they produce.

use serde_json::{Value, json};

use super::check_type;
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::patch::{self, PatchError};

/// The body of a PATCH request, by content type.
#[derive(Debug, Clone)]
pub enum Patch {
    /// `application/json-patch+json`
    Json(Value),
    /// `application/merge-patch+json`
    Merge(Value),
    /// `application/strategic-merge-patch+json` (built-in kinds only)
    Strategic(Value),
    /// `application/apply-patch+yaml`: server-side apply by `WriteOptions::field_manager`.
    Apply { object: Value, force: bool },
}

/// The error of `fieldValidation=Strict` for fields the schema does not declare.
pub(super) fn unknown_fields_error(resource: &ResourceType, unknown: &[String]) -> ApiError {
    let listed: Vec<String> = unknown
        .iter()
        .map(|field| format!("unknown field \"{field}\""))
        .collect();
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {fields}",
        kind = resource.kind,
        version = resource.version,
        fields = listed.join(", ")
    ))
}

/// What the patch module needs to know of a kind: its group and kind, and for custom resources
/// the schema that says how their lists merge.
pub(super) fn type_info(resource: &ResourceType) -> patch::TypeInfo<'_> {
    patch::TypeInfo {
        group: &resource.group,
        kind: &resource.kind,
        crd_schema: resource
            .custom
            .as_ref()
            .and_then(|c| c.schema.as_ref())
            .map(|s| &s.schema),
    }
}

pub(super) fn field_manager<'a>(
    name: &'a str,
    subresource: Option<&'a str>,
    time: &'a str,
) -> patch::FieldManager<'a> {
    patch::FieldManager {
        name,
        subresource,
        time,
    }
}

/// The API server's JSON patch library treats a missing member as `null` in `test` operations
/// (kube-rs' finalizer helper relies on it); RFC 6902 libraries fail them. Such tests hold, so
/// they are dropped.
fn without_null_tests_of_missing_paths(target: &Value, operations: &Value) -> Value {
    let Some(list) = operations.as_array() else {
        return operations.clone();
    };
    let kept: Vec<Value> = list
        .iter()
        .filter(|op| {
            let is_null_test = op.get("op").and_then(Value::as_str) == Some("test")
                && op.get("value").is_some_and(Value::is_null);
            let missing = op
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(|path| target.pointer(path).is_none());
            !(is_null_test && missing)
        })
        .cloned()
        .collect();
    Value::Array(kept)
}

pub(super) fn apply_patch(
    resource: &ResourceType,
    base: &Value,
    patch: &Patch,
    manager: &str,
    subresource: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    let result = match patch {
        Patch::Json(operations) => {
            patch::json_patch(base, &without_null_tests_of_missing_paths(base, operations))
        }
        Patch::Merge(body) => Ok(patch::merge_patch(base, body)),
        Patch::Strategic(body) => {
            if resource.is_custom() {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json",
                ));
            }
            patch::strategic_merge_patch(base, body, &resource.group, &resource.kind)
        }
        Patch::Apply { object, force } => {
            let mut applied = object.clone();
            check_type(resource, &mut applied)?;
            let time = patch::now();
            patch::apply(
                Some(base),
                &applied,
                type_info(resource),
                &field_manager(manager, subresource, &time),
                *force,
            )
        }
    };
    result.map_err(|error| patch_error(resource, name, error))
}

pub(super) fn patch_error(resource: &ResourceType, name: &str, error: PatchError) -> ApiError {
    match error {
        PatchError::Invalid(message) => ApiError::unprocessable(message),
        PatchError::Conflict(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.cause_message(), "field": c.field}))
                .collect();
            let mut error = ApiError::conflict(&resource.qualified_resource(), name, "");
            error.message = patch::conflict_message(&conflicts);
            let mut details = json!({"name": name, "kind": resource.plural, "causes": causes});
            if !resource.group.is_empty() {
                details["group"] = json!(resource.group);
            }
            error.details = Some(details);
            error
        }
    }
}
