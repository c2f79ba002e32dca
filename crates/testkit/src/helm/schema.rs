//! Helm's check of a release's values against the chart's `values.schema.json` (JSON Schema),
//! for the keywords charts here use: `type`, `properties`, `additionalProperties`, `items`,
//! `enum`, `required`, `minimum`, `maximum`, `anyOf`, and the annotations `$schema`, `title`,
//! `description`, `default`, `examples`. Any other keyword in the schema is an error naming it,
//! never a check silently skipped.

use serde_json::Value;

const ANNOTATIONS: [&str; 6] = [
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
];

/// Every place `value` breaks `schema`, as `path: what`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(schema, value, "(root)", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|f| f.fract() == 0.0),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: is not allowed"));
        }
        return;
    };
    for keyword in schema.keys() {
        let known = ANNOTATIONS.contains(&keyword.as_str())
            || [
                "type",
                "properties",
                "additionalProperties",
                "items",
                "enum",
                "required",
                "minimum",
                "maximum",
                "anyOf",
            ]
            .contains(&keyword.as_str());
        if !known {
            errors.push(format!(
                "{path}: the schema keyword {keyword:?} is not supported by this renderer (crates/testkit/src/helm/schema.rs)"
            ));
        }
    }
    if let Some(kind) = schema.get("type") {
        let kinds: Vec<&str> = match kind {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !kinds.iter().any(|k| type_matches(k, value)) {
            errors.push(format!(
                "{path}: invalid type. Expected: {}, given: {}",
                kinds.join(" or "),
                given(value)
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!(
            "{path}: must be one of the following: {}",
            render(allowed)
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            errors.push(format!("{path}: must be greater than or equal to {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            errors.push(format!("{path}: must be less than or equal to {max}"));
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = options.iter().any(|option| {
            let mut none = Vec::new();
            check(option, value, path, &mut none);
            none.is_empty()
        });
        if !fits {
            errors.push(format!("{path}: matches none of the schemas it may"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = required.as_str()
                && !object.contains_key(key)
            {
                errors.push(format!("{path}: {key} is required"));
            }
        }
        for (key, item) in object {
            let item_path = if path == "(root)" {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match properties.and_then(|p| p.get(key)) {
                Some(property) => check(property, item, &item_path, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: additional property {key} is not allowed"))
                    }
                    Some(additional) => check(additional, item, &item_path, errors),
                    None => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(items, item, &format!("{path}.{i}"), errors);
        }
    }
}

fn given(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn render(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misspelt_keys_wrong_types_and_unknown_keywords_are_errors() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "mode": {"enum": ["a", "b"]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "hostUsers": {"type": ["boolean", "null"]}
            }
        });
        assert_eq!(
            validate(&schema, &json!({"replicas": 2, "hostUsers": null})),
            Ok(())
        );
        let errors = validate(
            &schema,
            &json!({"replica": 2, "replicas": 0, "mode": "c", "labels": {"a": 1}}),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("additional property replica ")),
            "{errors:?}"
        );
        let unknown = validate(&json!({"pattern": "x"}), &json!("y")).unwrap_err();
        assert!(
            unknown[0].contains("\"pattern\" is not supported"),
            "{unknown:?}"
        );
    }
}
