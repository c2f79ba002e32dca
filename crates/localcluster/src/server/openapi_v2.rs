//! `/openapi/v2`: the Swagger 2.0 document of every kind served, in JSON or, as kubectl asks for
//! it, in the protobuf encoding of gnostic's `openapi.v2.Document`. kubectl validates a file
//! holding a `v1` `List` with it (its server-side validation check does not cover lists), and
//! falls back to it to learn whether a kind's PATCH takes `fieldValidation`.
//!
//! The document is made from the OpenAPI v3 schemas (`openapi`): each definition is rewritten in
//! the subset kubectl's parser of v2 documents takes (one type per schema, `$ref` alone, an object
//! either with `properties` or with an `additionalProperties` schema); what that subset cannot say
//! (`anyOf`, `x-kubernetes-int-or-string`, preserved unknown fields) is left untyped, which makes
//! kubectl accept any value there, as the API server's own v2 document does for CRDs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::openapi::{SCHEMA_PREFIX, document_key, resource_schema};
use super::{AppState, json_response};
use crate::kinds::{Kinds, ResourceType};

/// The media type kubectl asks for (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`)
/// is recognised by this part.
const PROTOBUF_MARK: &str = "com.github.proto-openapi.spec.v2";
const PROTOBUF_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
const DEFINITIONS: &str = "#/definitions/";

/// A schema in the subset kubectl's v2 parser takes.
fn rewrite(schema: &Value) -> Value {
    let Some(map) = schema.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    if let Some(description) = map.get("description") {
        out.insert("description".into(), description.clone());
    }
    let reference = map.get("$ref").or_else(|| {
        match map
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) => only.get("$ref"),
            _ => None,
        }
    });
    if let Some(reference) = reference.and_then(Value::as_str) {
        let name = reference.trim_start_matches(SCHEMA_PREFIX);
        out.insert("$ref".into(), json!(format!("{DEFINITIONS}{name}")));
        return Value::Object(out);
    }
    let untyped = map.get("x-kubernetes-int-or-string") == Some(&json!(true))
        || map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
        || map.contains_key("anyOf")
        || map.contains_key("oneOf");
    if untyped {
        return Value::Object(out);
    }
    let kind = match map.get("type") {
        Some(Value::String(kind)) => Some(kind.as_str()),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        _ => None,
    };
    let properties = map.get("properties").and_then(Value::as_object);
    match (kind, properties) {
        (Some("object") | None, Some(properties)) => {
            out.insert("type".into(), json!("object"));
            let rewritten: Map<String, Value> = properties
                .iter()
                .map(|(name, property)| (name.clone(), rewrite(property)))
                .collect();
            out.insert("properties".into(), Value::Object(rewritten));
            if let Some(required) = map.get("required").filter(|r| r.is_array()) {
                out.insert("required".into(), required.clone());
            }
        }
        (Some("object"), None) => {
            if let Some(values) = map.get("additionalProperties").filter(|a| a.is_object()) {
                out.insert("type".into(), json!("object"));
                out.insert("additionalProperties".into(), rewrite(values));
            }
        }
        (Some("array"), _) => {
            if let Some(items) = map.get("items").filter(|i| i.is_object()) {
                out.insert("type".into(), json!("array"));
                out.insert("items".into(), rewrite(items));
            }
        }
        (Some(primitive @ ("string" | "integer" | "number" | "boolean")), _) => {
            out.insert("type".into(), json!(primitive));
            if let Some(format) = map.get("format").filter(|f| f.is_string()) {
                out.insert("format".into(), format.clone());
            }
        }
        _ => {}
    }
    Value::Object(out)
}

/// The PATCH operation of a resource, which kubectl's fallback check reads.
fn patch_path(resource: &ResourceType) -> (String, Value) {
    let base = format!("/{}", document_key(&resource.group, &resource.version));
    let path = if resource.namespaced {
        format!(
            "{base}/namespaces/{{namespace}}/{}/{{name}}",
            resource.plural
        )
    } else {
        format!("{base}/{}/{{name}}", resource.plural)
    };
    let parameters: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
        .iter()
        .map(|name| json!({"name": name, "in": "query", "type": "string", "uniqueItems": true}))
        .collect();
    let operation = json!({
        "operationId": format!("patch{}", resource.kind),
        "parameters": parameters,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind":
            {"group": resource.group, "version": resource.version, "kind": resource.kind},
    });
    (path, json!({"patch": operation}))
}

/// The Swagger 2.0 document of every served kind.
pub fn document(kinds: &Kinds) -> Value {
    let mut schemas = BTreeMap::new();
    let mut paths = Map::new();
    for resource in kinds.all() {
        if resource_schema(&resource, &mut schemas).is_some() {
            let (path, item) = patch_path(&resource);
            paths.insert(path, item);
        }
    }
    let definitions: Map<String, Value> = schemas
        .iter()
        .map(|(name, schema)| {
            let mut rewritten = rewrite(schema);
            if let Some(gvk) = schema.get("x-kubernetes-group-version-kind") {
                rewritten["x-kubernetes-group-version-kind"] = gvk.clone();
            }
            (name.clone(), rewritten)
        })
        .collect();
    let (major, minor) = super::discovery::KUBERNETES_VERSION;
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
        "paths": paths,
        "definitions": definitions,
    })
}

/// Protobuf encoding of gnostic's `openapi.v2` messages, for the fields the document uses.
mod encode {
    use serde_json::Value;

    use crate::server::protobuf::wire::{bytes, varint};

    pub fn text(field: u64, text: &str, out: &mut Vec<u8>) {
        bytes(field, text.as_bytes(), out);
    }

    pub fn flag(field: u64, out: &mut Vec<u8>) {
        varint(field << 3, out);
        varint(1, out);
    }

    /// `NamedAny { name = 1; Any value = 2 { string yaml = 2; } }`
    pub fn named_any(field: u64, name: &str, value: &Value, out: &mut Vec<u8>) {
        let yaml = serde_yaml::to_string(value).unwrap_or_default();
        let mut any = Vec::new();
        text(2, &yaml, &mut any);
        let mut named = Vec::new();
        text(1, name, &mut named);
        bytes(2, &any, &mut named);
        bytes(field, &named, out);
    }

    /// `Schema`: `_ref` 1, `format` 2, `description` 4, `required` 19,
    /// `additional_properties` 21 (`AdditionalPropertiesItem { schema = 1 }`), `type` 22
    /// (`TypeItem { value = 1 }`), `items` 23 (`ItemsItem { schema = 1 }`), `properties` 25
    /// (`Properties { NamedSchema additional_properties = 1 }`), `vendor_extension` 31.
    pub fn schema(schema: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(reference) = schema["$ref"].as_str() {
            text(1, reference, &mut out);
        }
        if let Some(format) = schema["format"].as_str() {
            text(2, format, &mut out);
        }
        if let Some(description) = schema["description"].as_str() {
            text(4, description, &mut out);
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            text(19, required.as_str().unwrap_or_default(), &mut out);
        }
        if schema["additionalProperties"].is_object() {
            let mut item = Vec::new();
            bytes(1, &self::schema(&schema["additionalProperties"]), &mut item);
            bytes(21, &item, &mut out);
        }
        if let Some(kind) = schema["type"].as_str() {
            let mut item = Vec::new();
            text(1, kind, &mut item);
            bytes(22, &item, &mut out);
        }
        if schema["items"].is_object() {
            let mut item = Vec::new();
            bytes(1, &self::schema(&schema["items"]), &mut item);
            bytes(23, &item, &mut out);
        }
        if let Some(properties) = schema["properties"].as_object() {
            let mut list = Vec::new();
            for (name, property) in properties {
                named_schema(1, name, property, &mut list);
            }
            bytes(25, &list, &mut out);
        }
        if let Some(gvk) = schema.get("x-kubernetes-group-version-kind") {
            named_any(31, "x-kubernetes-group-version-kind", gvk, &mut out);
        }
        out
    }

    /// `NamedSchema { name = 1; Schema value = 2 }`
    pub fn named_schema(field: u64, name: &str, value: &Value, out: &mut Vec<u8>) {
        let mut named = Vec::new();
        text(1, name, &mut named);
        bytes(2, &schema(value), &mut named);
        bytes(field, &named, out);
    }

    /// `Operation`: `operation_id` 5, `parameters` 8 (`ParametersItem { Parameter parameter = 1
    /// { NonBodyParameter non_body_parameter = 2 { QueryParameterSubSchema
    /// query_parameter_sub_schema = 3 { in = 2; name = 4; type = 6; unique_items = 20 } } } }`),
    /// `vendor_extension` 13.
    pub fn operation(operation: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        text(
            5,
            operation["operationId"].as_str().unwrap_or_default(),
            &mut out,
        );
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let mut query = Vec::new();
            text(2, "query", &mut query);
            text(
                4,
                parameter["name"].as_str().unwrap_or_default(),
                &mut query,
            );
            text(6, "string", &mut query);
            flag(20, &mut query);
            let mut non_body = Vec::new();
            bytes(3, &query, &mut non_body);
            let mut parameter = Vec::new();
            bytes(2, &non_body, &mut parameter);
            let mut item = Vec::new();
            bytes(1, &parameter, &mut item);
            bytes(8, &item, &mut out);
        }
        for name in ["x-kubernetes-action", "x-kubernetes-group-version-kind"] {
            named_any(13, name, &operation[name], &mut out);
        }
        out
    }

    /// `Document`: `swagger` 1, `info` 2 (`title` 1, `version` 2), `paths` 8 (`NamedPathItem
    /// path = 2 { name = 1; PathItem value = 2 { Operation patch = 8 } }`), `definitions` 9
    /// (`NamedSchema additional_properties = 1`).
    pub fn document(document: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        text(
            1,
            document["swagger"].as_str().unwrap_or_default(),
            &mut out,
        );
        let mut info = Vec::new();
        text(
            1,
            document["info"]["title"].as_str().unwrap_or_default(),
            &mut info,
        );
        text(
            2,
            document["info"]["version"].as_str().unwrap_or_default(),
            &mut info,
        );
        bytes(2, &info, &mut out);
        let mut paths = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            let mut path_item = Vec::new();
            bytes(8, &operation(&item["patch"]), &mut path_item);
            let mut named = Vec::new();
            text(1, path, &mut named);
            bytes(2, &path_item, &mut named);
            bytes(2, &named, &mut paths);
        }
        bytes(8, &paths, &mut out);
        let mut definitions = Vec::new();
        for (name, schema) in document["definitions"].as_object().into_iter().flatten() {
            named_schema(1, name, schema, &mut definitions);
        }
        bytes(9, &definitions, &mut out);
        out
    }
}

/// The document as JSON and as protobuf, rebuilt only when the served CRDs change.
#[derive(Clone)]
struct Encoded {
    generation: u64,
    json: Arc<Vec<u8>>,
    protobuf: Arc<Vec<u8>>,
}

fn encoded(kinds: &Kinds) -> Encoded {
    static CACHE: OnceLock<Mutex<HashMap<usize, Encoded>>> = OnceLock::new();
    let mut caches = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    // One per cluster: tests run several clusters in one process.
    let key = kinds as *const Kinds as usize;
    let generation = kinds.generation();
    if let Some(cached) = caches.get(&key).filter(|c| c.generation == generation) {
        return cached.clone();
    }
    let document = document(kinds);
    let fresh = Encoded {
        generation,
        json: Arc::new(serde_json::to_vec(&document).unwrap_or_default()),
        protobuf: Arc::new(encode::document(&document)),
    };
    caches.insert(key, fresh.clone());
    fresh
}

pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_protobuf = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(PROTOBUF_MARK));
    let document = encoded(state.cluster.kinds());
    if wants_protobuf {
        let body = document.protobuf.as_ref().clone();
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF_TYPE)],
            body,
        )
            .into_response();
    }
    match serde_json::from_slice::<Value>(&document.json) {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(_) => (StatusCode::OK, document.json.as_ref().clone()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_rewritten_to_what_kubectl_parses() {
        let schema = json!({"type": "object", "description": "d", "required": ["a"], "properties": {
            "a": {"type": ["string", "null"], "nullable": true},
            "b": {"allOf": [{"$ref": "#/components/schemas/io.k8s.X"}], "description": "x"},
            "c": {"type": "object", "additionalProperties": {"type": "string"}},
            "d": {"type": "object"},
            "e": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "f": {"type": "array", "items": {"type": "integer", "format": "int32"}},
        }});
        assert_eq!(
            rewrite(&schema),
            json!({"type": "object", "description": "d", "required": ["a"], "properties": {
                "a": {"type": "string"},
                "b": {"$ref": "#/definitions/io.k8s.X", "description": "x"},
                "c": {"type": "object", "additionalProperties": {"type": "string"}},
                "d": {},
                "e": {},
                "f": {"type": "array", "items": {"type": "integer", "format": "int32"}},
            }})
        );
    }

    #[test]
    fn every_builtin_kind_is_defined_with_its_patch() {
        let kinds = Kinds::with_builtins();
        let document = document(&kinds);
        let pod = &document["definitions"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        let patch = &document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        let encoded = encode::document(&document);
        assert!(encoded.len() > 10_000);
        assert_eq!(&encoded[..5], b"\x0a\x032.0");
    }
}
