//! Defaulting: a property's `default` is set where the property is absent (or null without
//! being nullable) in an object that exists; defaults inside defaults apply too.

use serde_json::Value;

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn nullable(schema: &Value) -> bool {
    schema
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The schema of the values of `name` in an object of `schema`.
fn field_schema<'s>(schema: &'s Value, name: &str) -> Option<&'s Value> {
    schema
        .get("properties")
        .and_then(|p| p.get(name))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

pub(crate) fn apply(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(fields) => {
            for (name, property) in properties(schema) {
                let Some(default) = property.get("default") else {
                    continue;
                };
                let missing = match fields.get(name) {
                    None => true,
                    Some(Value::Null) => !nullable(property),
                    Some(_) => false,
                };
                if missing {
                    fields.insert(name.clone(), default.clone());
                }
            }
            for (name, child) in fields.iter_mut() {
                let Some(child_schema) = field_schema(schema, name) else {
                    continue;
                };
                if child.is_null()
                    && !nullable(child_schema)
                    && let Some(default) = child_schema.get("default")
                {
                    *child = default.clone();
                }
                apply(child, child_schema);
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            for item in items.iter_mut() {
                if item.is_null()
                    && !nullable(item_schema)
                    && let Some(default) = item_schema.get("default")
                {
                    *item = default.clone();
                }
                apply(item, item_schema);
            }
        }
        _ => {}
    }
}

/// Removes null fields whose schema neither allows null nor has a default (the API server does
/// this before defaulting, so such nulls read as "unset").
pub(crate) fn drop_non_nullable_nulls(value: &mut Value, schema: Option<&Value>) {
    match value {
        Value::Object(fields) => {
            fields.retain(|name, child| {
                let child_schema = schema.and_then(|s| field_schema(s, name));
                !(child.is_null()
                    && child_schema.is_some_and(|s| !nullable(s) && s.get("default").is_none()))
            });
            for (name, child) in fields.iter_mut() {
                drop_non_nullable_nulls(child, schema.and_then(|s| field_schema(s, name)));
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for item in items.iter_mut() {
                drop_non_nullable_nulls(item, item_schema);
            }
        }
        _ => {}
    }
}
