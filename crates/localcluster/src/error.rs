//! Errors of the Kubernetes API, shaped as the `Status` objects the real API server writes, so that
//! clients (kube-rs, kubectl, fabric8) classify them exactly as they would against a real cluster.

use serde_json::{Value, json};

/// One `details.causes` entry of a `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// A failed API request: HTTP code, `reason` (NotFound, AlreadyExists, Conflict, Invalid, ...),
/// human message and optional `details`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Value>,
}

/// `pods` -> (`pods`, ``), `leases.coordination.k8s.io` -> (`leases`, `coordination.k8s.io`).
fn split_qualified(qualified_resource: &str) -> (&str, &str) {
    qualified_resource
        .split_once('.')
        .unwrap_or((qualified_resource, ""))
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut details = json!({ "name": name, "kind": kind });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

impl ApiError {
    fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `pods "x" not found`. `qualified_resource` is `plural` or `plural.group`.
    pub fn not_found(qualified_resource: &str, name: &str) -> Self {
        let (plural, group) = split_qualified(qualified_resource);
        Self::new(
            404,
            "NotFound",
            format!("{qualified_resource} \"{name}\" not found"),
        )
        .with_details(details(name, group, plural))
    }

    /// `pods "x" already exists`.
    pub fn already_exists(qualified_resource: &str, name: &str) -> Self {
        let (plural, group) = split_qualified(qualified_resource);
        Self::new(
            409,
            "AlreadyExists",
            format!("{qualified_resource} \"{name}\" already exists"),
        )
        .with_details(details(name, group, plural))
    }

    /// A write against a stale `resourceVersion` (or a failed precondition).
    pub fn conflict(qualified_resource: &str, name: &str, why: &str) -> Self {
        let (plural, group) = split_qualified(qualified_resource);
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified_resource} \"{name}\": {why}"),
        )
        .with_details(details(name, group, plural))
    }

    /// The standard optimistic-concurrency conflict.
    pub fn stale(qualified_resource: &str, name: &str) -> Self {
        Self::conflict(
            qualified_resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// A watch or continue token from a resourceVersion older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 422 with one cause per field: `Kind.group "name" is invalid: [field: message, ...]`.
    pub fn invalid(qualified_kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let summary = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let (kind, group) = split_qualified(qualified_kind);
        let mut details = details(name, group, kind);
        details["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(details)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// An admission plugin's refusal of one object: `pods "x" is forbidden: <why>`.
    pub fn forbidden_object(qualified_resource: &str, name: &str, why: &str) -> Self {
        let (plural, group) = split_qualified(qualified_resource);
        Self::new(
            403,
            "Forbidden",
            format!("{qualified_resource} \"{name}\" is forbidden: {why}"),
        )
        .with_details(details(name, group, plural))
    }

    /// 503, as when a proxied service has no endpoints.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// A path that names no resource this server serves.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// A subresource this resource does not have.
    pub fn no_route_for(subresource: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource (subresource {subresource})"),
        )
    }

    /// A well-formed request the server cannot carry out, such as a failing JSON patch test.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})"
            ),
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object for the response body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_the_real_server() {
        let status = ApiError::not_found("pods", "x").to_status();
        assert_eq!(
            status,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"pods \"x\" not found","reason":"NotFound",
                   "details":{"name":"x","kind":"pods"},"code":404})
        );
        let grouped = ApiError::not_found("leases.coordination.k8s.io", "l").to_status();
        assert_eq!(
            grouped["details"],
            json!({"name":"l","group":"coordination.k8s.io","kind":"leases"})
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let cause = |field: &str| Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: field.into(),
        };
        let one = ApiError::invalid("Pod", "p", vec![cause("spec.containers")]);
        assert_eq!(
            one.message,
            "Pod \"p\" is invalid: spec.containers: Required value"
        );
        let two = ApiError::invalid(
            "SparkApplication.sparkoperator.k8s.io",
            "a",
            vec![cause("spec.a"), cause("spec.b")],
        );
        assert_eq!(
            two.message,
            "SparkApplication.sparkoperator.k8s.io \"a\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
        assert_eq!(two.to_status()["details"]["group"], "sparkoperator.k8s.io");
        assert_eq!(two.to_status()["details"]["causes"][1]["field"], "spec.b");
    }
}
