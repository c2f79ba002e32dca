//! Reading and writing the `metadata` of objects held as JSON.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Kubernetes timestamps: RFC 3339 in UTC with whole seconds.
pub fn format_time(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn now() -> String {
    format_time(jiff::Timestamp::now())
}

/// Micro-second precision, as `MicroTime` fields (`eventTime`, `renewTime`) carry.
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

pub fn str_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    value_at(object, path).and_then(Value::as_str)
}

pub fn value_at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |value, key| value.get(key))
}

pub fn name(object: &Value) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or_default()
}

pub fn namespace(object: &Value) -> &str {
    str_at(object, &["metadata", "namespace"]).unwrap_or_default()
}

pub fn uid(object: &Value) -> &str {
    str_at(object, &["metadata", "uid"]).unwrap_or_default()
}

pub fn resource_version(object: &Value) -> u64 {
    str_at(object, &["metadata", "resourceVersion"])
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

pub fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "labels")
}

pub fn annotations(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "annotations")
}

fn string_map(object: &Value, field: &str) -> BTreeMap<String, String> {
    value_at(object, &["metadata", field])
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    value_at(object, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_finalizers(object: &mut Value, finalizers: &[String]) {
    let metadata = metadata_mut(object);
    if finalizers.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".into(), Value::from(finalizers.to_vec()));
    }
}

pub fn deletion_timestamp(object: &Value) -> Option<&str> {
    str_at(object, &["metadata", "deletionTimestamp"])
}

/// The `ownerReferences` of an object.
pub fn owner_references(object: &Value) -> &[Value] {
    value_at(object, &["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object's `metadata` as a mutable map, created (and replacing a non-object) if needed.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(root) = object else {
        unreachable!("made an object above")
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let Value::Object(map) = metadata else {
        unreachable!("made an object above")
    };
    map
}

pub fn set_meta(object: &mut Value, field: &str, value: impl Into<Value>) {
    metadata_mut(object).insert(field.to_string(), value.into());
}

/// Everything but `metadata` and `status`: a change there is a change of the desired state, which
/// bumps `metadata.generation`.
pub fn desired_state_eq(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut map = v.as_object().cloned().unwrap_or_default();
        map.remove("metadata");
        map.remove("status");
        map
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metadata() {
        let object = json!({"metadata": {"name": "a", "namespace": "n", "resourceVersion": "12",
            "labels": {"x": "1"}, "finalizers": ["f"]}});
        assert_eq!(name(&object), "a");
        assert_eq!(namespace(&object), "n");
        assert_eq!(resource_version(&object), 12);
        assert_eq!(labels(&object).get("x").map(String::as_str), Some("1"));
        assert_eq!(finalizers(&object), vec!["f".to_string()]);
    }

    #[test]
    fn desired_state_ignores_metadata_and_status() {
        let a = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"s": 1}});
        let b = json!({"metadata": {"name": "b"}, "spec": {"x": 1}, "status": {"s": 2}});
        let c = json!({"metadata": {"name": "a"}, "spec": {"x": 2}});
        assert!(desired_state_eq(&a, &b));
        assert!(!desired_state_eq(&a, &c));
    }

    #[test]
    fn timestamps_have_whole_seconds() {
        let time: jiff::Timestamp = "2024-05-01T10:20:30.123Z".parse().unwrap();
        assert_eq!(format_time(time), "2024-05-01T10:20:30Z");
    }
}
