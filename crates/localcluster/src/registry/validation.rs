//! Validation of objects before they are stored: names, the CRD schema of custom resources, and
//! the few built-in rules clients commonly trip over. Failures are 422 `Invalid` with causes.

use serde_json::Value;

use crate::admission::Operation;
use crate::error::{ApiError, Cause};
use crate::kinds::ResourceType;
use crate::meta;

const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(name: &str) -> bool {
    name.len() <= 63 && is_label_shaped(name)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, of any length.
fn is_label_shaped(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Kubernetes' `IsDNS1123Subdomain`: at most 253 characters matching the subdomain regex. Its
/// dot-separated parts are not limited to 63 characters (Spark's
/// `<app>-<id>-driver-podspec-conf-map` ConfigMaps often exceed that).
pub(super) fn is_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label_shaped)
}

fn is_dns1035(name: &str) -> bool {
    is_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())
}

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

fn required(field: &str) -> Cause {
    cause("FieldValueRequired", field, "Required value".into())
}

/// Checks `object` as `resource` before a write; the error lists every problem found.
pub(super) fn validate(
    resource: &ResourceType,
    operation: Operation,
    object: &Value,
) -> Result<(), ApiError> {
    let name = meta::name(object);
    let mut causes = Vec::new();
    if operation == Operation::Create && !name.is_empty() {
        let (valid, message) = match (resource.group.as_str(), resource.plural.as_str()) {
            ("", "namespaces") => (is_label(name), LABEL_MESSAGE),
            ("", "services") => (is_dns1035(name), DNS1035_MESSAGE),
            _ => (is_subdomain(name), SUBDOMAIN_MESSAGE),
        };
        if !valid {
            causes.push(cause(
                "FieldValueInvalid",
                "metadata.name",
                format!("Invalid value: {name:?}: {message}"),
            ));
        }
    }
    match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "pods") => causes.extend(pod_problems(object)),
        ("", "configmaps") => causes.extend(key_problems(object, "data")),
        _ => {}
    }
    if let Some(schema) = resource.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        for error in schema.validate(object) {
            let reason = if error.message.starts_with("Required value") {
                "FieldValueRequired"
            } else if error.message.starts_with("Unsupported value") {
                "FieldValueNotSupported"
            } else {
                "FieldValueInvalid"
            };
            causes.push(cause(reason, &error.field, error.message));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&resource.qualified_kind(), name, causes))
    }
}

fn pod_problems(pod: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    match containers {
        None => causes.push(required("spec.containers")),
        Some(list) if list.is_empty() => causes.push(required("spec.containers")),
        Some(list) => {
            for (i, container) in list.iter().enumerate() {
                for field in ["name", "image"] {
                    if container
                        .get(field)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .is_empty()
                    {
                        causes.push(required(&format!("spec.containers[{i}].{field}")));
                    }
                }
            }
        }
    }
    causes
}

fn key_problems(object: &Value, field: &str) -> Vec<Cause> {
    let Some(data) = object.get(field).and_then(Value::as_object) else {
        return Vec::new();
    };
    data.keys()
        .filter(|key| {
            key.is_empty()
                || key.len() > 253
                || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map(|key| {
            cause(
                "FieldValueInvalid",
                &format!("{field}[{key}]"),
                format!("Invalid value: {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(is_subdomain("spark-pi.driver"));
        assert!(!is_subdomain("Spark"));
        assert!(!is_subdomain("-a"));
        assert!(!is_subdomain("a..b"));
        let long = format!("{}-driver-podspec-conf-map", "a".repeat(70));
        assert!(
            is_subdomain(&long),
            "only the whole name is limited, to 253"
        );
        assert!(!is_subdomain(&"a".repeat(254)));
        assert!(!is_label(&"a".repeat(64)));
        assert!(is_label("kube-system"));
        assert!(!is_label("a.b"));
        assert!(!is_dns1035("1abc"));
    }

    #[test]
    fn pods_need_named_containers_with_images() {
        let causes = pod_problems(&json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(causes, vec![required("spec.containers[0].image")]);
        assert_eq!(
            pod_problems(&json!({"spec": {}})),
            vec![required("spec.containers")]
        );
    }
}
