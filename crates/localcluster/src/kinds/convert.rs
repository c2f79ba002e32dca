//! How an object looks in each version of its resource: [`as_version`] serves a stored object as
//! one version (its `apiVersion` and `kind`, and its shape), [`to_storage`] turns a written one
//! into the shape it is stored in. Versions of one resource differ only in `apiVersion` (CRD
//! conversion strategy `None`), except Events: `events.k8s.io/v1` Events are the same objects as
//! core `v1` Events (kube-rs' recorder writes the former, kubectl describe reads the latter),
//! stored once in the core shape.

use serde_json::{Map, Value};

use super::ResourceType;

/// (core v1 field, events.k8s.io/v1 field)
const EVENT_FIELDS: [(&str, &str); 8] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

pub(crate) fn is_events_v1(resource: &ResourceType) -> bool {
    resource.group == "events.k8s.io" && resource.plural == "events"
}

fn rename(object: &Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Some(map) = object.as_object() else {
        return object.clone();
    };
    let mut out: Map<String, Value> = map.clone();
    for (from, to) in pairs {
        out.remove(from);
        if let Some(value) = map.get(from) {
            out.insert(to.to_string(), value.clone());
        }
    }
    Value::Object(out)
}

/// A stored (core shape) object as `resource` serves it.
fn from_storage(resource: &ResourceType, object: &Value) -> Value {
    if !is_events_v1(resource) {
        return object.clone();
    }
    let mut event = rename(object, EVENT_FIELDS.iter().copied());
    if event.get("reportingController").is_none()
        && let Some(component) = object.pointer("/source/component").cloned()
    {
        event["reportingController"] = component;
    }
    if event.get("reportingInstance").is_none()
        && let Some(host) = object.pointer("/source/host").cloned()
    {
        event["reportingInstance"] = host;
    }
    event
}

/// An object written through `resource`, in the shape it is stored in.
pub(crate) fn to_storage(resource: &ResourceType, object: &Value) -> Value {
    if !is_events_v1(resource) {
        return object.clone();
    }
    let mut event = rename(object, EVENT_FIELDS.iter().map(|(core, new)| (*new, *core)));
    if event.get("source").is_none() {
        let mut source = Map::new();
        if let Some(component) = object.get("reportingController") {
            source.insert("component".into(), component.clone());
        }
        if let Some(host) = object.get("reportingInstance") {
            source.insert("host".into(), host.clone());
        }
        if !source.is_empty() {
            event["source"] = Value::Object(source);
        }
    }
    event
}

/// An object as served by `resource`: in its shape, with its `apiVersion` and `kind`.
pub fn as_version(resource: &ResourceType, object: &Value) -> Value {
    let mut object = from_storage(resource, object);
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), resource.api_version().into());
        map.insert("kind".into(), resource.kind.clone().into());
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kinds;
    use serde_json::json;

    #[test]
    fn events_convert_both_ways() {
        let kinds = Kinds::with_builtins();
        let v1 = kinds.lookup("events.k8s.io", "v1", "events").unwrap();
        let written = json!({"metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "p"}, "note": "started",
            "reason": "Started", "type": "Normal", "reportingController": "operator", "reportingInstance": "op-1",
            "eventTime": "2024-01-01T00:00:00.000000Z"});
        let stored = to_storage(&v1, &written);
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "started");
        assert_eq!(
            stored["source"],
            json!({"component": "operator", "host": "op-1"})
        );
        assert_eq!(stored["reportingComponent"], "operator");
        let read = from_storage(&v1, &stored);
        assert_eq!(read["regarding"]["name"], "p");
        assert_eq!(read["note"], "started");
        assert_eq!(read["reportingController"], "operator");
        assert!(read.get("message").is_none());
        let core = kinds.lookup("", "v1", "events").unwrap();
        assert_eq!(from_storage(&core, &stored), stored);
    }
}
