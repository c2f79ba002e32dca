//! The subset of Kubernetes JSONPath that printer columns use: `.a.b`, `['a.b']`, `[0]`, `[*]`
//! and `[?(@.type=="Ready")]` filters, evaluated to every matching value.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// Array elements whose `path` equals `value`.
    Filter {
        path: Vec<String>,
        value: String,
    },
}

fn parse(expression: &str) -> Option<Vec<Step>> {
    let text = expression
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let text = text.strip_prefix('$').unwrap_or(text);
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                steps.push(Step::Field(after[..end].to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            rest = &after[end + 1..];
            steps.push(bracket(inside)?);
        } else {
            return None;
        }
    }
    Some(steps)
}

fn bracket(inside: &str) -> Option<Step> {
    if inside == "*" {
        return Some(Step::All);
    }
    if let Ok(index) = inside.parse() {
        return Some(Step::Index(index));
    }
    if let Some(filter) = inside.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let (left, right) = filter.split_once("==")?;
        let path = left
            .trim()
            .strip_prefix("@.")?
            .split('.')
            .map(str::to_string)
            .collect();
        let value = right
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        return Some(Step::Filter { path, value });
    }
    let quoted = inside.trim_matches(|c| c == '\'' || c == '"');
    Some(Step::Field(quoted.to_string()))
}

/// Every value `expression` selects in `object` (none when it does not parse or match).
pub fn select<'a>(object: &'a Value, expression: &str) -> Vec<&'a Value> {
    let Some(steps) = parse(expression) else {
        return Vec::new();
    };
    let mut current = vec![object];
    for step in &steps {
        current = current
            .into_iter()
            .flat_map(|value| -> Vec<&Value> {
                match step {
                    Step::Field(name) => value.get(name).into_iter().collect(),
                    Step::Index(i) => value.get(i).into_iter().collect(),
                    Step::All => match value {
                        Value::Array(items) => items.iter().collect(),
                        Value::Object(map) => map.values().collect(),
                        _ => Vec::new(),
                    },
                    Step::Filter {
                        path,
                        value: wanted,
                    } => value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|item| {
                            let found = path.iter().try_fold(*item, |v, key| v.get(key));
                            found.is_some_and(|f| match f {
                                Value::String(s) => s == wanted,
                                other => {
                                    serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *other)
                                }
                            })
                        })
                        .collect(),
                }
            })
            .collect();
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_fields_indexes_and_filters() {
        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]},
                         "metadata": {"labels": {"app.kubernetes.io/name": "a"}},
                         "spec": {"containers": [{"image": "i0"}, {"image": "i1"}]}});
        assert_eq!(
            select(&pod, ".spec.containers[1].image"),
            vec![&json!("i1")]
        );
        assert_eq!(select(&pod, ".spec.containers[*].image").len(), 2);
        assert_eq!(
            select(&pod, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![&json!("True")]
        );
        assert_eq!(
            select(&pod, ".metadata.labels['app.kubernetes.io/name']"),
            vec![&json!("a")]
        );
        assert!(select(&pod, ".status.missing").is_empty());
        assert_eq!(
            select(&pod, "{.spec.containers[0].image}"),
            vec![&json!("i0")]
        );
    }
}
