//! The API reference: every field of the three resources, from their CRD schemas under
//! `deploy/crds/` (field, type, default, description). Objects of Kubernetes' own types (a
//! Toleration, a Volume, a Container) are named and not expanded: they are recognised by their
//! set of properties, taken from k8s-openapi's schemas of those types.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::{cell, header};

/// A type the reference names instead of listing its fields.
#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    pub properties: BTreeSet<String>,
}

fn properties_of<T: schemars::JsonSchema>(name: &str) -> Named {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let properties = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    Named {
        name: format!("{name} (Kubernetes)"),
        properties,
    }
}

/// The Kubernetes types the CRDs embed, with their properties.
pub fn kubernetes_types() -> Vec<Named> {
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::networking::v1 as networking;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    vec![
        properties_of::<core::Affinity>("Affinity"),
        properties_of::<core::Container>("Container"),
        properties_of::<core::ContainerPort>("ContainerPort"),
        properties_of::<core::EnvFromSource>("EnvFromSource"),
        properties_of::<core::EnvVar>("EnvVar"),
        properties_of::<core::HostAlias>("HostAlias"),
        properties_of::<core::Lifecycle>("Lifecycle"),
        properties_of::<core::LocalObjectReference>("LocalObjectReference"),
        properties_of::<core::PodDNSConfig>("PodDNSConfig"),
        properties_of::<core::PodSecurityContext>("PodSecurityContext"),
        properties_of::<core::PodTemplateSpec>("PodTemplateSpec"),
        properties_of::<core::Probe>("Probe"),
        properties_of::<core::ResourceRequirements>("ResourceRequirements"),
        properties_of::<core::SecurityContext>("SecurityContext"),
        properties_of::<core::Service>("Service"),
        properties_of::<core::ServicePort>("ServicePort"),
        properties_of::<core::Toleration>("Toleration"),
        properties_of::<core::TopologySpreadConstraint>("TopologySpreadConstraint"),
        properties_of::<core::Volume>("Volume"),
        properties_of::<core::VolumeMount>("VolumeMount"),
        properties_of::<networking::IngressTLS>("IngressTLS"),
        properties_of::<meta::Condition>("Condition"),
        properties_of::<meta::ObjectMeta>("ObjectMeta"),
    ]
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    get(value, key).and_then(Value::as_str).unwrap_or_default()
}

fn keys(schema: &Value) -> BTreeSet<String> {
    get(schema, "properties")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The named type an object schema is, if its properties are exactly that type's.
fn named<'a>(schema: &Value, types: &'a [Named]) -> Option<&'a Named> {
    let keys = keys(schema);
    if keys.is_empty() {
        return None;
    }
    types.iter().find(|t| t.properties == keys)
}

/// A schema's type, and whether its fields are listed below it.
fn type_of(schema: &Value, types: &[Named]) -> (String, bool) {
    if let Some(named) = named(schema, types) {
        return (named.name.clone(), false);
    }
    let kind = str_of(schema, "type");
    match kind {
        "array" => {
            let items = get(schema, "items").cloned().unwrap_or(Value::Null);
            let (inner, expand) = type_of(&items, types);
            (format!("[]{inner}"), expand)
        }
        "object" if !keys(schema).is_empty() => ("object".to_string(), true),
        "object" => match get(schema, "additionalProperties") {
            Some(inner @ Value::Mapping(_)) => {
                let (inner, _) = type_of(inner, types);
                (format!("map[string]{inner}"), false)
            }
            _ => ("object".to_string(), false),
        },
        "" if get(schema, "x-kubernetes-int-or-string").is_some() => {
            ("int or string".to_string(), false)
        }
        "" => ("any".to_string(), false),
        other => {
            let format = str_of(schema, "format");
            if format.is_empty() || other != "string" {
                (other.to_string(), false)
            } else {
                (format!("string ({format})"), false)
            }
        }
    }
}

/// The object schema whose fields are listed under a field: its items' for an array.
fn fields_of(schema: &Value) -> &Value {
    match str_of(schema, "type") {
        "array" => get(schema, "items").map_or(schema, fields_of),
        _ => schema,
    }
}

fn description(schema: &Value) -> String {
    let text = str_of(schema, "description");
    let first = text.split("\n\n").next().unwrap_or_default();
    let mut line = cell(first);
    if let Some(values) = get(schema, "enum").and_then(Value::as_sequence) {
        let names: Vec<String> = values
            .iter()
            .map(|v| match v.as_str().unwrap_or_default() {
                "" => "`\"\"`".to_string(),
                text => format!("`{text}`"),
            })
            .collect();
        line = format!("{line} One of {}.", names.join(", "))
            .trim()
            .to_string();
    }
    line
}

fn rows(prefix: &str, schema: &Value, types: &[Named], out: &mut String) {
    let Some(properties) = get(schema, "properties").and_then(Value::as_mapping) else {
        return;
    };
    let required: BTreeSet<&str> = get(schema, "required")
        .and_then(Value::as_sequence)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (key, field) in properties {
        let key = key.as_str().unwrap_or_default();
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        let (kind, expand) = type_of(field, types);
        let default = get(field, "default")
            .map(|d| format!("`{}`", serde_json::to_string(d).unwrap_or_default()))
            .unwrap_or_default();
        let required = if required.contains(key) {
            " (required)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{path}`{required} | {} | {default} | {} |\n",
            cell(&kind),
            description(field)
        ));
        if expand {
            rows(&path, fields_of(field), types, out);
        }
    }
}

/// The section of one CRD; `types` grows by its spec, so that a later CRD that embeds it (a
/// schedule's template) names it.
fn section(crd: &Value, types: &mut Vec<Named>, out: &mut String) {
    let spec = get(crd, "spec").expect("a CRD has a spec");
    let names = get(spec, "names").expect("a CRD has names");
    let kind = str_of(names, "kind");
    let group = str_of(spec, "group");
    let Some(versions) = get(spec, "versions").and_then(Value::as_sequence) else {
        return;
    };
    for version in versions {
        let name = str_of(version, "name");
        out.push_str(&format!("\n## {kind} ({group}/{name})\n\n"));
        let short: Vec<String> = get(names, "shortNames")
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(|n| format!("`{n}`"))
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "Plural `{}`, {} scope, short names {}.\n\n",
            str_of(names, "plural"),
            str_of(spec, "scope"),
            if short.is_empty() {
                "none".to_string()
            } else {
                short.join(", ")
            }
        ));
        let schema = get(version, "schema")
            .and_then(|s| get(s, "openAPIV3Schema"))
            .cloned()
            .unwrap_or(Value::Null);
        out.push_str("| field | type | default | description |\n|---|---|---|---|\n");
        let top = get(&schema, "properties").and_then(Value::as_mapping);
        for part in ["spec", "status"] {
            if let Some(part_schema) = top.and_then(|p| p.get(part)) {
                let (kind_text, _) = type_of(part_schema, types);
                out.push_str(&format!(
                    "| `{part}` | {} |  | {} |\n",
                    cell(&kind_text),
                    description(part_schema)
                ));
                rows(part, part_schema, types, out);
            }
        }
        if let Some(spec_schema) = top.and_then(|p| p.get("spec")) {
            types.push(Named {
                name: format!("{kind} `spec`"),
                properties: keys(spec_schema),
            });
        }
    }
}

/// The page, from the text of each CRD file, in the order given.
pub fn page(crds: &[&str]) -> String {
    let mut types = kubernetes_types();
    let mut out = header("API reference", "the CRDs under `deploy/crds/`");
    out.push_str(
        "Every field of the resources the operator serves, with its type, its default in the \
         schema and its description. Defaults the operator applies (not written into the \
         object) are given in the descriptions and in \
         [writing applications](../writing-applications.md). Fields of Kubernetes' own types \
         (marked \"(Kubernetes)\") take what the Kubernetes API reference describes.\n",
    );
    for text in crds {
        let crd: Value = serde_yaml::from_str(text).expect("a CRD file parses");
        section(&crd, &mut types, &mut out);
    }
    out
}
