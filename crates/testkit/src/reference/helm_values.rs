//! The Helm values table: every key of the chart's `values.yaml` with its type (from
//! `values.schema.json`), its default (the value in `values.yaml`) and its description (the
//! `# --` comment above it).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{cell, header};

/// The comment above each key of a values file, by dotted path. A comment block starts with
/// `# --` or `#` and ends at the key it sits on; a blank line drops it.
pub fn comments(values_yaml: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for line in values_yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            pending.clear();
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.strip_prefix(" --").unwrap_or(comment);
            pending.push(comment.trim().to_string());
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else {
            pending.clear();
            continue;
        };
        if trimmed.starts_with('-') || key.contains(' ') {
            pending.clear();
            continue;
        }
        while stack.last().is_some_and(|(at, _)| *at >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        if !pending.is_empty() {
            let path = stack
                .iter()
                .map(|(_, k)| k.as_str())
                .collect::<Vec<_>>()
                .join(".");
            found.insert(path, pending.join(" "));
            pending.clear();
        }
    }
    found
}

/// A schema's type, as a reader would name it.
fn type_of(schema: &Value) -> String {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| {
                format!(
                    "`{}`",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect();
        return format!("one of {}", names.join(", "));
    }
    match schema.get("type") {
        Some(Value::String(kind)) => match (kind.as_str(), schema.get("additionalProperties")) {
            ("object", Some(Value::Object(inner))) if inner.contains_key("type") => {
                format!("map of {}", type_of(&Value::Object(inner.clone())))
            }
            _ => kind.clone(),
        },
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => match schema.get("oneOf").or_else(|| schema.get("anyOf")) {
            Some(Value::Array(options)) => {
                options.iter().map(type_of).collect::<Vec<_>>().join(" or ")
            }
            _ => "any".to_string(),
        },
    }
}

/// A default as one line of YAML flow (JSON), `""` for the empty string.
fn default_of(value: &serde_yaml::Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    format!("`{}`", text.replace('|', "\\|"))
}

/// The rows of `value` (walked in the file's order) under `prefix`: one per leaf, a mapping
/// being walked into when the schema describes its properties.
fn rows(
    prefix: &str,
    value: &serde_yaml::Value,
    schema: &Value,
    comments: &BTreeMap<String, String>,
    out: &mut String,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    match (value.as_mapping(), properties) {
        (Some(map), Some(properties)) if !map.is_empty() => {
            for (key, inner) in map {
                let key = key.as_str().unwrap_or_default();
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                let inner_schema = properties.get(key).cloned().unwrap_or(Value::Null);
                rows(&path, inner, &inner_schema, comments, out);
            }
        }
        _ => out.push_str(&format!(
            "| `{prefix}` | {} | {} | {} |\n",
            type_of(schema),
            default_of(value),
            cell(comments.get(prefix).map_or("", String::as_str))
        )),
    }
}

/// The page, from the text of `values.yaml` and of `values.schema.json`.
pub fn page(values_yaml: &str, schema_json: &str) -> String {
    let values: serde_yaml::Value = serde_yaml::from_str(values_yaml).expect("values.yaml parses");
    let schema: Value = serde_json::from_str(schema_json).expect("values.schema.json parses");
    let comments = comments(values_yaml);
    let mut out = header(
        "Helm values reference",
        "`deploy/helm/spark-operator/values.yaml` and `values.schema.json`",
    );
    out.push_str(
        "Every value of the chart in `deploy/helm/spark-operator`, with its type in the chart's \
         schema (which refuses any other key), its default and what it does. Keys are Kubeflow's \
         chart's, with Kubeflow's meaning unless the description says otherwise; see \
         [migrating from Kubeflow](../migrating-from-kubeflow.md).\n\n",
    );
    out.push_str("| key | type | default | description |\n|---|---|---|---|\n");
    rows("", &values, &schema, &comments, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{comments, page};

    const VALUES: &str = "# The file's own header.\n\n# -- Replicas.\nreplicas: 1\nimage:\n  \
                          # -- Where it is; a comment\n  # on two lines.\n  repository: x\n  \
                          tag: \"\"\nlist:\n  - name: a\n";

    #[test]
    fn comments_belong_to_the_key_below_them() {
        let found = comments(VALUES);
        assert_eq!(found["replicas"], "Replicas.");
        assert_eq!(
            found["image.repository"],
            "Where it is; a comment on two lines."
        );
        assert!(!found.contains_key("image.tag"));
    }

    #[test]
    fn rows_follow_the_schema_and_the_file() {
        let schema = r#"{"properties": {"replicas": {"type": "integer"},
            "image": {"type": "object", "properties": {"repository": {"type": "string"},
            "tag": {"type": "string"}}}, "list": {"type": "array"}}}"#;
        let page = page(VALUES, schema);
        let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(
            rows,
            [
                "| `replicas` | integer | `1` | Replicas. |",
                "| `image.repository` | string | `\"x\"` | Where it is; a comment on two lines. |",
                "| `image.tag` | string | `\"\"` |  |",
                "| `list` | array | `[{\"name\":\"a\"}]` |  |",
            ]
        );
    }
}
