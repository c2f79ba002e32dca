//! Writes JSON bodies as the API server does: built-in objects (and the Status, List, Table and
//! watch event around them) with their members in the order of Kubernetes' types, everything held
//! as a map (labels, data, custom resources) with sorted keys, and a body ending in a newline.

use serde_json::Value;

use crate::kinds::field_order::{self, Member};

/// A whole response body: the value, then `\n`.
pub fn body(value: &Value) -> Vec<u8> {
    let mut out = compact(value);
    out.push(b'\n');
    out
}

/// The value alone, typed by its own `apiVersion` and `kind`.
pub fn compact(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_embedded(&mut out, value);
    out
}

/// One watch event: `{"type":...,"object":...}`, without a newline.
pub fn watch_event(event_type: &str, object: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"type\":");
    write_plain(&mut out, &Value::from(event_type));
    out.extend_from_slice(b",\"object\":");
    write_embedded(&mut out, object);
    out.push(b'}');
    out
}

fn write_embedded(out: &mut Vec<u8>, value: &Value) {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let root = match (api_version, kind) {
        (Some(api_version), Some(kind)) => field_order::root_type(api_version, kind),
        _ => None,
    };
    write_typed(out, value, root);
}

fn write_plain(out: &mut Vec<u8>, value: &Value) {
    // Writing a Value to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_typed(out: &mut Vec<u8>, value: &Value, type_name: Option<&str>) {
    let members = type_name.and_then(field_order::members);
    match (value, members) {
        (Value::Array(items), _) if type_name.is_some() => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_typed(out, item, type_name);
            }
            out.push(b']');
        }
        (Value::Object(map), Some(members)) => {
            out.push(b'{');
            let mut first = true;
            let mut member = |out: &mut Vec<u8>, name: &str, value: &Value, ty: Member| {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_plain(out, &Value::from(name));
                out.push(b':');
                write_member(out, value, ty);
            };
            for (name, ty) in members {
                if let Some(value) = map.get(*name) {
                    member(out, name, value, *ty);
                }
            }
            // Members the type does not know (newer fields, unknown ones kept) come last, sorted.
            for (name, value) in map {
                if !members.iter().any(|(known, _)| known == name) {
                    member(out, name, value, Member::Plain);
                }
            }
            out.push(b'}');
        }
        (Value::Object(map), None) => {
            // Sorted keys: serde_json's map iterates in key order.
            out.push(b'{');
            for (index, (name, value)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_plain(out, &Value::from(name.as_str()));
                out.push(b':');
                write_plain(out, value);
            }
            out.push(b'}');
        }
        _ => write_plain(out, value),
    }
}

fn write_member(out: &mut Vec<u8>, value: &Value, ty: Member) {
    match ty {
        Member::Plain => write_plain(out, value),
        Member::Typed(name) => write_typed(out, value, Some(name)),
        Member::Embedded => match value {
            Value::Array(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_embedded(out, item);
                }
                out.push(b']');
            }
            _ => write_embedded(out, value),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &Value) -> String {
        String::from_utf8(body(value)).unwrap()
    }

    #[test]
    fn built_in_objects_follow_their_types() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running"},
            "spec": {"restartPolicy": "Never", "containers": [{"image": "i", "name": "c"}]},
            "metadata": {"uid": "u", "namespace": "n", "name": "p", "labels": {"b": "1", "a": "2"}}});
        assert_eq!(
            text(&pod),
            "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\
             \"uid\":\"u\",\"labels\":{\"a\":\"2\",\"b\":\"1\"}},\"spec\":{\"containers\":[{\"name\":\
             \"c\",\"image\":\"i\"}],\"restartPolicy\":\"Never\"},\"status\":{\"phase\":\"Running\"}}\n"
        );
    }

    #[test]
    fn custom_resources_are_sorted_and_unknown_members_come_last() {
        let app = json!({"kind": "SparkApplication", "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "spec": {"type": "Scala"}, "metadata": {"name": "a"}});
        assert_eq!(
            text(&app),
            "{\"apiVersion\":\"sparkoperator.k8s.io/v1beta2\",\"kind\":\"SparkApplication\",\
             \"metadata\":{\"name\":\"a\"},\"spec\":{\"type\":\"Scala\"}}\n"
        );
        let cm = json!({"kind": "ConfigMap", "apiVersion": "v1", "zeta": 1, "data": {"k": "v"}, "metadata": {}});
        assert_eq!(
            text(&cm),
            "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{},\"data\":{\"k\":\"v\"},\"zeta\":1}\n"
        );
    }

    #[test]
    fn lists_tables_and_events_type_what_they_hold() {
        let list = json!({"items": [{"metadata": {"namespace": "n", "name": "c"}}],
            "metadata": {"resourceVersion": "5"}, "apiVersion": "v1", "kind": "ConfigMapList"});
        assert_eq!(
            text(&list),
            "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"5\"},\
             \"items\":[{\"metadata\":{\"name\":\"c\",\"namespace\":\"n\"}}]}\n"
        );
        let event = watch_event(
            "ADDED",
            &json!({"metadata": {"name": "s"}, "kind": "Secret", "apiVersion": "v1", "type": "Opaque"}),
        );
        assert_eq!(
            String::from_utf8(event).unwrap(),
            "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\"},\"type\":\"Opaque\"}}"
        );
        let table = json!({"rows": [{"object": {"metadata": {"name": "x"}, "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}, "cells": ["x"]}],
            "columnDefinitions": [], "metadata": {}, "apiVersion": "meta.k8s.io/v1", "kind": "Table"});
        assert_eq!(
            text(&table),
            "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{},\"columnDefinitions\":[],\
             \"rows\":[{\"cells\":[\"x\"],\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"name\":\"x\"}}}]}\n"
        );
    }

    #[test]
    fn statuses_follow_the_status_type() {
        let status = json!({"code": 404, "reason": "NotFound", "message": "m", "status": "Failure",
            "details": {"kind": "pods", "name": "p"}, "metadata": {}, "apiVersion": "v1", "kind": "Status"});
        assert_eq!(
            text(&status),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"m\",\
             \"reason\":\"NotFound\",\"details\":{\"name\":\"p\",\"kind\":\"pods\"},\"code\":404}\n"
        );
    }
}
