//! Validation of a custom resource against its structural schema, reporting every failure with
//! the API server's field paths (`spec.volumes[0].name`) and messages (kube-openapi's wording,
//! wrapped as field errors the way the apiextensions server wraps them).

use serde_json::{Map, Value};

use super::FieldError;
use super::formats::{go_float, integer_range_problem, matches_pattern, string_format_ok};

pub(crate) fn validate(object: &Value, schema: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_node(object, schema, "", &mut errors);
    errors
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn number(schema: &Value, name: &str) -> Option<f64> {
    schema.get(name).and_then(Value::as_f64)
}

fn count(schema: &Value, name: &str) -> Option<u64> {
    schema.get(name).and_then(Value::as_u64)
}

/// The types a schema allows; int-or-string allows both.
fn allowed_types(schema: &Value) -> Vec<&str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `value` has one of the `allowed` types; integral floats pass as integers and
/// integers as numbers, as in kube-openapi.
fn type_matches(value: &Value, allowed: &[&str]) -> bool {
    let actual = json_type(value);
    allowed.contains(&actual)
        || (actual == "integer" && allowed.contains(&"number"))
        || (actual == "number"
            && allowed.contains(&"integer")
            && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn validate_node(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if !schema.is_object() {
        return;
    }
    let allowed = allowed_types(schema);
    if value.is_null() {
        if !allowed.is_empty() && !allowed.contains(&"null") && !flag(schema, "nullable") {
            let detail = format!(
                "{path} in body must be of type {}: \"null\"",
                allowed.join(",")
            );
            errors.push(FieldError::type_invalid(
                path,
                &Value::String("null".into()),
                &detail,
            ));
        }
        return;
    }
    if !allowed.is_empty() && !type_matches(value, &allowed) {
        let actual = json_type(value);
        let detail = format!(
            "{path} in body must be of type {}: {actual:?}",
            allowed.join(",")
        );
        errors.push(FieldError::type_invalid(
            path,
            &Value::String(actual.into()),
            &detail,
        ));
        return;
    }
    validate_combinators(value, schema, path, errors);
    match value {
        Value::String(text) => validate_string(text, value, schema, path, errors),
        Value::Number(n) => validate_number(n, value, schema, path, errors),
        Value::Array(items) => validate_array(items, schema, path, errors),
        Value::Object(fields) => validate_object(fields, schema, path, errors),
        _ => {}
    }
    if let Some(Value::Array(choices)) = schema.get("enum")
        && !choices.iter().any(|choice| enum_equal(choice, value))
    {
        errors.push(FieldError::not_supported(path, value, choices));
    }
}

/// Enum members compare by value; numbers by numeric value.
fn enum_equal(choice: &Value, value: &Value) -> bool {
    match (choice, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => choice == value,
    }
}

fn validate_string(
    text: &str,
    value: &Value,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let length = text.chars().count() as u64;
    if let Some(max) = count(schema, "maxLength").filter(|max| length > *max) {
        errors.push(FieldError::too_long(path, max));
    } else if let Some(min) = count(schema, "minLength").filter(|min| length < *min) {
        errors.push(FieldError::invalid(
            path,
            value,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    } else if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && !matches_pattern(pattern, text)
    {
        let detail = format!("{path} in body should match '{pattern}'");
        errors.push(FieldError::invalid(path, value, &detail));
    }
    let format = schema
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let numeric = allowed_types(schema)
        .iter()
        .any(|t| *t == "integer" || *t == "number");
    if !format.is_empty() && !numeric && !string_format_ok(format, text) {
        let detail = format!("{path} in body must be of type {format}: {text:?}");
        errors.push(FieldError::type_invalid(path, value, &detail));
    }
}

fn validate_number(
    n: &serde_json::Number,
    value: &Value,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let format = schema
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if allowed_types(schema).contains(&"integer")
        && json_type(value) == "integer"
        && let Some(problem) = integer_range_problem(n, format, path)
    {
        errors.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            &problem,
        ));
    }
    let Some(actual) = n.as_f64() else {
        return;
    };
    if let Some(factor) = number(schema, "multipleOf").filter(|f| *f > 0.0) {
        let ratio = actual / factor;
        if (ratio - ratio.round()).abs() > 1e-9 {
            let detail = format!(
                "{path} in body should be a multiple of {}",
                go_float(factor)
            );
            errors.push(FieldError::invalid(path, value, &detail));
        }
    }
    if let Some(max) = number(schema, "maximum") {
        let exclusive = flag(schema, "exclusiveMaximum");
        if actual > max || (exclusive && actual == max) {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            let detail = format!("{path} in body should be {relation} {}", go_float(max));
            errors.push(FieldError::invalid(path, value, &detail));
        }
    }
    if let Some(min) = number(schema, "minimum") {
        let exclusive = flag(schema, "exclusiveMinimum");
        if actual < min || (exclusive && actual == min) {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            let detail = format!("{path} in body should be {relation} {}", go_float(min));
            errors.push(FieldError::invalid(path, value, &detail));
        }
    }
}

fn validate_array(items: &[Value], schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            validate_node(item, item_schema, &format!("{path}[{index}]"), errors);
        }
    }
    if let Some(min) = count(schema, "minItems").filter(|min| (items.len() as u64) < *min) {
        let detail = format!("{path} in body should have at least {min} items");
        errors.push(FieldError::invalid(
            path,
            &Value::from(items.len()),
            &detail,
        ));
    }
    if let Some(max) = count(schema, "maxItems").filter(|max| items.len() as u64 > *max) {
        errors.push(FieldError::too_many(path, items.len(), max));
    }
    if flag(schema, "uniqueItems")
        && items
            .iter()
            .enumerate()
            .any(|(i, item)| items[..i].contains(item))
    {
        let detail = format!("{path} in body shouldn't contain duplicates");
        errors.push(FieldError::invalid(
            path,
            &Value::String(String::new()),
            &detail,
        ));
    }
    validate_list_map_keys(items, schema, path, errors);
}

/// `x-kubernetes-list-type: map|set` items must be unique (by key, or whole).
fn validate_list_map_keys(
    items: &[Value],
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let identity = |item: &Value| -> Option<Value> {
        match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => Some(item.clone()),
            Some("map") => {
                let keys = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)?;
                let key: Vec<Value> = keys
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
                    .collect();
                Some(Value::Array(key))
            }
            _ => None,
        }
    };
    let mut seen = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(id) = identity(item) else {
            return;
        };
        if seen.contains(&id) {
            errors.push(FieldError::new(
                &format!("{path}[{index}]"),
                "FieldValueDuplicate",
                format!("Duplicate value: {id}"),
            ));
        } else {
            seen.push(id);
        }
    }
}

fn validate_object(
    fields: &Map<String, Value>,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    if let Some(min) = count(schema, "minProperties").filter(|min| (fields.len() as u64) < *min) {
        let detail = format!("{path} in body should have at least {min} properties");
        errors.push(FieldError::invalid(
            path,
            &Value::from(fields.len()),
            &detail,
        ));
    }
    if let Some(max) = count(schema, "maxProperties").filter(|max| fields.len() as u64 > *max) {
        errors.push(FieldError::too_many(path, fields.len(), max));
    }
    for (name, child) in fields {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => validate_node(child, property, &child_path(path, name), errors),
            None => {
                if let Some(value_schema) = additional {
                    validate_node(child, value_schema, &format!("{path}.{name}"), errors);
                }
            }
        }
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !fields.contains_key(required) {
            errors.push(FieldError::required(&child_path(path, required), ""));
        }
    }
    if flag(schema, "x-kubernetes-embedded-resource") {
        validate_embedded(fields, path, errors);
    }
}

/// Embedded objects need `apiVersion` and `kind`, as the API server checks them.
fn validate_embedded(fields: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    for name in ["apiVersion", "kind"] {
        let field = child_path(path, name);
        match fields.get(name) {
            None => errors.push(FieldError::required(&field, "must not be empty")),
            Some(Value::String(s)) if s.is_empty() => {
                errors.push(FieldError::invalid(
                    &field,
                    &Value::String(String::new()),
                    "must not be empty",
                ));
            }
            Some(Value::String(_)) => {}
            Some(other) => errors.push(FieldError::invalid(&field, other, "must be a string")),
        }
    }
}

/// `allOf`, `anyOf`, `oneOf` and `not` (CRDs use them for value constraints only).
fn validate_combinators(value: &Value, schema: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let branches = |name: &str| {
        schema
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let run = |branch: &Value| {
        let mut found = Vec::new();
        validate_node(value, branch, path, &mut found);
        found
    };
    let composite =
        |message: String| FieldError::invalid(path, &Value::String(String::new()), &message);

    for branch in branches("allOf") {
        errors.extend(run(branch));
    }
    let any_of = branches("anyOf");
    if !any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = any_of.iter().map(run).collect();
        if results.iter().all(|found| !found.is_empty()) {
            errors.push(composite(format!(
                "{path:?} must validate at least one schema (anyOf)"
            )));
            errors.extend(results.into_iter().min_by_key(Vec::len).unwrap_or_default());
        }
    }
    let one_of = branches("oneOf");
    if !one_of.is_empty() {
        let valid = one_of
            .iter()
            .filter(|branch| run(branch).is_empty())
            .count();
        if valid != 1 {
            let found = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errors.push(composite(format!(
                "{path:?} must validate one and only one schema (oneOf). {found}"
            )));
        }
    }
    if let Some(not) = schema.get("not").filter(|n| n.is_object())
        && run(not).is_empty()
    {
        errors.push(composite(format!(
            "{path:?} must not validate the schema (not)"
        )));
    }
}
