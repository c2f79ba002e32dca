//! OpenAPI v3 documents, as kubectl uses them: `/openapi/v3` lists one document per group version,
//! each with the kinds' schemas (`kubectl explain`) and PATCH operations that declare the
//! `fieldValidation` parameter (so `kubectl apply` validates on the server instead of fetching
//! OpenAPI v2). Built-in schemas come from k8s-openapi, CRD schemas from the CRDs themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::{
    admissionregistration, apps, batch, coordination, core, discovery, events, networking, policy,
    rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::{AppState, error_response, json_response};
use crate::error::ApiError;
use crate::kinds::{Kinds, ResourceType};

pub(super) const SCHEMA_PREFIX: &str = "#/components/schemas/";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Schemas of the built-in kinds: every definition, and the definition name of each kind.
struct Builtins {
    schemas: BTreeMap<String, Value>,
    kinds: HashMap<(String, String, String), String>,
}

macro_rules! builtin_kinds {
    ($generator:ident, $($kind:ty),* $(,)?) => {
        vec![$({
            let reference = $generator.subschema_for::<$kind>();
            (
                <$kind as k8s_openapi::Resource>::GROUP.to_string(),
                <$kind as k8s_openapi::Resource>::VERSION.to_string(),
                <$kind as k8s_openapi::Resource>::KIND.to_string(),
                reference.get("$ref").and_then(Value::as_str).unwrap_or_default().trim_start_matches(SCHEMA_PREFIX).to_string(),
            )
        }),*]
    };
}

fn builtins() -> &'static Builtins {
    static BUILTINS: OnceLock<Builtins> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let kinds = builtin_kinds!(
            generator,
            core::v1::Namespace,
            core::v1::Pod,
            core::v1::Node,
            core::v1::Service,
            core::v1::Endpoints,
            discovery::v1::EndpointSlice,
            core::v1::ConfigMap,
            core::v1::Secret,
            core::v1::ServiceAccount,
            core::v1::ResourceQuota,
            core::v1::LimitRange,
            core::v1::Event,
            core::v1::PersistentVolumeClaim,
            core::v1::PersistentVolume,
            events::v1::Event,
            coordination::v1::Lease,
            apps::v1::Deployment,
            apps::v1::ReplicaSet,
            apps::v1::StatefulSet,
            apps::v1::DaemonSet,
            apps::v1::ControllerRevision,
            core::v1::ReplicationController,
            batch::v1::Job,
            batch::v1::CronJob,
            k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService,
            networking::v1::Ingress,
            policy::v1::PodDisruptionBudget,
            rbac::v1::Role,
            rbac::v1::RoleBinding,
            rbac::v1::ClusterRole,
            rbac::v1::ClusterRoleBinding,
            apiextensions::v1::CustomResourceDefinition,
            admissionregistration::v1::MutatingWebhookConfiguration,
            admissionregistration::v1::ValidatingWebhookConfiguration,
        );
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
        let mut schemas: BTreeMap<String, Value> =
            generator.take_definitions(true).into_iter().collect();
        for (group, version, kind, name) in &kinds {
            if let Some(Value::Object(schema)) = schemas.get_mut(name) {
                schema.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": group, "version": version, "kind": kind}]),
                );
            }
        }
        let kinds = kinds
            .into_iter()
            .map(|(g, v, k, name)| ((g, v, k), name))
            .collect();
        Builtins { schemas, kinds }
    })
}

/// `api/v1` or `apis/{group}/{version}`: the key of a group version in `/openapi/v3`.
pub(super) fn document_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Definition name of a CRD kind, as the real server names it: reversed group, version, kind.
fn custom_schema_name(resource: &ResourceType) -> String {
    let reversed: Vec<&str> = resource.group.split('.').rev().collect();
    format!(
        "{}.{}.{}",
        reversed.join("."),
        resource.version,
        resource.kind
    )
}

fn custom_schema(resource: &ResourceType) -> Value {
    let mut schema = resource
        .custom
        .as_ref()
        .and_then(|c| c.schema.as_ref())
        .map(|s| s.schema.clone())
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(map) = schema.as_object_mut() {
        let properties = map.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("metadata".into(), json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "allOf": [{"$ref": format!("{SCHEMA_PREFIX}{OBJECT_META}")}]}));
            properties.entry("apiVersion").or_insert_with(|| json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            properties.entry("kind").or_insert_with(|| json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        }
        map.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": resource.group, "version": resource.version, "kind": resource.kind}]),
        );
    }
    schema
}

/// Adds `name` and every definition it refers to, transitively.
fn add_with_references(
    name: &str,
    all: &BTreeMap<String, Value>,
    out: &mut BTreeMap<String, Value>,
) {
    let mut pending = vec![name.to_string()];
    while let Some(next) = pending.pop() {
        if out.contains_key(&next) {
            continue;
        }
        let Some(schema) = all.get(&next) else {
            continue;
        };
        out.insert(next, schema.clone());
        collect_references(schema, &mut pending);
    }
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                found.push(reference.trim_start_matches(SCHEMA_PREFIX).to_string());
            }
            map.values().for_each(|v| collect_references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, found)),
        _ => {}
    }
}

fn operation(
    resource: &ResourceType,
    action: &str,
    schema_ref: &str,
    parameters: &[&str],
) -> Value {
    let parameters: Vec<Value> =
        parameters.iter().map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}})).collect();
    json!({
        "operationId": format!("{action}{}", resource.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
    })
}

fn paths(resource: &ResourceType, schema_ref: &str) -> Vec<(String, Value)> {
    let base = format!("/{}", document_key(&resource.group, &resource.version));
    let collection = if resource.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", resource.plural)
    } else {
        format!("{base}/{}", resource.plural)
    };
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    let mut result = vec![
        (
            collection.clone(),
            json!({
                "get": operation(resource, "list", schema_ref, &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
                "post": operation(resource, "post", schema_ref, &write),
            }),
        ),
        (
            format!("{collection}/{{name}}"),
            json!({
                "get": operation(resource, "get", schema_ref, &[]),
                "put": operation(resource, "put", schema_ref, &write),
                "patch": operation(resource, "patch", schema_ref, &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": operation(resource, "delete", schema_ref, &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
            }),
        ),
    ];
    if resource.has_status() {
        result.push((
            format!("{collection}/{{name}}/status"),
            json!({
                "get": operation(resource, "get", schema_ref, &[]),
                "put": operation(resource, "put", schema_ref, &write),
                "patch": operation(resource, "patch", schema_ref, &["dryRun", "fieldManager", "fieldValidation", "force"]),
            }),
        ));
    }
    result
}

/// Adds the schema of `resource`'s kind (and what it refers to) to `schemas`; its name.
pub(super) fn resource_schema(
    resource: &ResourceType,
    schemas: &mut BTreeMap<String, Value>,
) -> Option<String> {
    let builtins = builtins();
    if resource.is_custom() {
        let name = custom_schema_name(resource);
        schemas.insert(name.clone(), custom_schema(resource));
        add_with_references(OBJECT_META, &builtins.schemas, schemas);
        return Some(name);
    }
    let key = (
        resource.group.clone(),
        resource.version.clone(),
        resource.kind.clone(),
    );
    let name = builtins.kinds.get(&key)?;
    add_with_references(name, &builtins.schemas, schemas);
    Some(name.clone())
}

/// The OpenAPI v3 document of one group version.
fn document(kinds: &Kinds, group: &str, version: &str) -> Option<Value> {
    let resources = kinds.resources_in(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut schemas = BTreeMap::new();
    let mut all_paths = serde_json::Map::new();
    for resource in &resources {
        let Some(name) = resource_schema(resource, &mut schemas) else {
            continue;
        };
        for (path, item) in paths(resource, &format!("{SCHEMA_PREFIX}{name}")) {
            all_paths.insert(path, item);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", super::discovery::KUBERNETES_VERSION.0, super::discovery::KUBERNETES_VERSION.1)},
        "paths": all_paths,
        "components": {"schemas": schemas},
    }))
}

/// Documents are rebuilt only when the served CRDs change.
#[derive(Default)]
struct Cache {
    generation: Option<u64>,
    documents: BTreeMap<String, (Arc<Vec<u8>>, String)>,
}

fn cached_documents(kinds: &Kinds) -> BTreeMap<String, (Arc<Vec<u8>>, String)> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Cache>>> = OnceLock::new();
    let mut caches = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    // One cache per cluster (tests run several clusters in one process).
    let cache = caches.entry(kinds as *const Kinds as usize).or_default();
    let generation = kinds.generation();
    if cache.generation != Some(generation) {
        let mut group_versions: BTreeSet<(String, String)> = BTreeSet::new();
        for resource in kinds.all() {
            group_versions.insert((resource.group.clone(), resource.version.clone()));
        }
        cache.documents = group_versions
            .into_iter()
            .filter_map(|(group, version)| {
                let document = document(kinds, &group, &version)?;
                let bytes = serde_json::to_vec(&document).ok()?;
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut hasher);
                Some((
                    document_key(&group, &version),
                    (Arc::new(bytes), format!("{:016X}", hasher.finish())),
                ))
            })
            .collect();
        cache.generation = Some(generation);
    }
    cache.documents.clone()
}

pub async fn v3_root(State(state): State<AppState>) -> Response {
    let documents = cached_documents(state.cluster.kinds());
    let paths: serde_json::Map<String, Value> = documents
        .iter()
        .map(|(key, (_, hash))| {
            (
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            )
        })
        .collect();
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

pub async fn v3_group_version(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    let documents = cached_documents(state.cluster.kinds());
    match documents.get(path.trim_matches('/')) {
        Some((bytes, _)) => {
            let body = bytes.as_ref().clone();
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        None => error_response(&ApiError::no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_documents_declare_field_validation_and_schemas() {
        let kinds = Kinds::with_builtins();
        let document = document(&kinds, "", "v1").unwrap();
        let patch = &document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let pod = &document["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(document["components"]["schemas"].get(OBJECT_META).is_some());
    }
}
