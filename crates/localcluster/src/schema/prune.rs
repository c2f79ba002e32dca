//! Pruning: fields a structural schema does not declare are dropped, except below
//! `x-kubernetes-preserve-unknown-fields` and the `apiVersion`/`kind`/`metadata` of the root
//! and of embedded resources.

use serde_json::Value;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Prunes `object` (a resource root) and returns the removed paths, sorted.
pub(crate) fn prune(object: &mut Value, schema: &Value) -> Vec<String> {
    let mut removed = Vec::new();
    prune_node(object, Some(schema), true, "", &mut removed);
    removed.sort();
    removed
}

fn flag(schema: Option<&Value>, name: &str) -> bool {
    schema
        .and_then(|s| s.get(name))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// The schema of `name` in an object: its property, else `additionalProperties`.
fn field_schema<'s>(schema: &'s Value, name: &str) -> Option<&'s Value> {
    schema
        .get("properties")
        .and_then(|p| p.get(name))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn declares(schema: &Value, name: &str) -> bool {
    schema.get("properties").and_then(|p| p.get(name)).is_some()
        || schema
            .get("additionalProperties")
            .is_some_and(|a| a.is_object() || a == &Value::Bool(true))
}

fn prune_node(
    value: &mut Value,
    schema: Option<&Value>,
    embedded: bool,
    path: &str,
    removed: &mut Vec<String>,
) {
    let embedded = embedded || flag(schema, "x-kubernetes-embedded-resource");
    if flag(schema, "x-kubernetes-preserve-unknown-fields") {
        // Unknown fields stay, but declared ones are still pruned inside.
        if let Some(schema) = schema {
            prune_known(value, schema, embedded, path, removed);
        }
        return;
    }
    match value {
        Value::Object(fields) => {
            let Some(schema) = schema else {
                removed.extend(fields.keys().map(|name| child_path(path, name)));
                fields.clear();
                return;
            };
            fields.retain(|name, _| {
                let keep =
                    (embedded && META_FIELDS.contains(&name.as_str())) || declares(schema, name);
                if !keep {
                    // The API server does not report a root's own meta fields as unknown.
                    removed.push(child_path(path, name));
                }
                keep
            });
            for (name, child) in fields.iter_mut() {
                if embedded && META_FIELDS.contains(&name.as_str()) {
                    continue;
                }
                prune_node(
                    child,
                    field_schema(schema, name),
                    false,
                    &child_path(path, name),
                    removed,
                );
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for (index, item) in items.iter_mut().enumerate() {
                prune_node(
                    item,
                    item_schema,
                    false,
                    &format!("{path}[{index}]"),
                    removed,
                );
            }
        }
        _ => {}
    }
}

/// Inside preserve-unknown-fields: recurse into what the schema declares, keep the rest.
fn prune_known(
    value: &mut Value,
    schema: &Value,
    embedded: bool,
    path: &str,
    removed: &mut Vec<String>,
) {
    match value {
        Value::Object(fields) => {
            for (name, child) in fields.iter_mut() {
                if embedded && META_FIELDS.contains(&name.as_str()) {
                    continue;
                }
                if let Some(child_schema) = field_schema(schema, name) {
                    prune_node(
                        child,
                        Some(child_schema),
                        false,
                        &child_path(path, name),
                        removed,
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter_mut().enumerate() {
                    let item_path = format!("{path}[{index}]");
                    if flag(Some(item_schema), "x-kubernetes-preserve-unknown-fields") {
                        prune_known(item, item_schema, false, &item_path, removed);
                    } else {
                        prune_node(item, Some(item_schema), false, &item_path, removed);
                    }
                }
            }
        }
        _ => {}
    }
}
