//! `metav1.LabelSelector` objects (`matchLabels` + `matchExpressions`), as webhooks'
//! `namespaceSelector` / `objectSelector`, Deployments and PodDisruptionBudgets carry them.

use serde_json::Value;

use super::SelectorError;
use super::label::{LabelSelector, Operator, Requirement};

impl LabelSelector {
    /// Converts a `LabelSelector` object into a matcher, validating it as the API server does.
    ///
    /// `null` and `{}` both match everything: that is how a defaulted webhook selector behaves.
    /// (Kubernetes' Go helper maps a nil pointer to "nothing"; callers with that meaning must
    /// check for absence themselves.)
    pub fn from_json(selector: &Value) -> Result<Self, SelectorError> {
        let shown = selector.to_string();
        let invalid = |reason: String| SelectorError::new(&shown, reason);
        let object = match selector {
            Value::Null => return Ok(Self::default()),
            Value::Object(object) => object,
            other => {
                return Err(invalid(format!(
                    "a label selector must be an object, not {other}"
                )));
            }
        };
        let mut requirements = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let value = value.as_str().ok_or_else(|| {
                        invalid(format!(
                            "matchLabels[{key}]: value must be a string, not {value}"
                        ))
                    })?;
                    requirements.push(
                        Requirement::new(key, Operator::Equals, vec![value.to_string()])
                            .map_err(&invalid)?,
                    );
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "matchLabels must be an object, not {other}"
                )));
            }
        }
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for (index, expression) in expressions.iter().enumerate() {
                    requirements.push(expression_requirement(expression).map_err(|reason| {
                        invalid(format!("matchExpressions[{index}]: {reason}"))
                    })?);
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "matchExpressions must be a list, not {other}"
                )));
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self::from_requirements(requirements))
    }
}

fn expression_requirement(expression: &Value) -> Result<Requirement, String> {
    let key = expression
        .get("key")
        .and_then(Value::as_str)
        .ok_or("key: Required value")?;
    let operator_name = expression
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("operator: Required value")?;
    let operator = match operator_name {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => return Err(format!("{other:?} is not a valid label selector operator")),
    };
    let values = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("values: {v} is not a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("values must be a list, not {other}")),
    };
    Requirement::new(key, operator, values)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn null_and_empty_select_everything() {
        assert!(
            LabelSelector::from_json(&Value::Null)
                .unwrap()
                .matches(&labels(&[]))
        );
        assert!(
            LabelSelector::from_json(&json!({}))
                .unwrap()
                .matches(&labels(&[("a", "b")]))
        );
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "spark"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                {"key": "skip", "operator": "DoesNotExist"},
                {"key": "team", "operator": "Exists"},
                {"key": "tier", "operator": "NotIn", "values": ["db"]}
            ]
        }))
        .unwrap();
        assert!(selector.matches(&labels(&[("app", "spark"), ("env", "prod"), ("team", "x")])));
        assert!(!selector.matches(&labels(&[("app", "spark"), ("env", "dev"), ("team", "x")])));
        assert!(!selector.matches(&labels(&[("app", "spark"), ("env", "prod")])));
        assert!(!selector.matches(&labels(&[
            ("app", "spark"),
            ("env", "prod"),
            ("team", "x"),
            ("skip", "1")
        ])));
        assert!(!selector.matches(&labels(&[
            ("app", "spark"),
            ("env", "prod"),
            ("team", "x"),
            ("tier", "db")
        ])));
        assert_eq!(
            selector.to_string(),
            "app=spark,env in (prod,staging),!skip,team,tier notin (db)"
        );
    }

    #[test]
    fn invalid_objects_are_rejected() {
        let reason = |v: Value| LabelSelector::from_json(&v).unwrap_err().reason;
        assert!(
            reason(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .contains("can't be empty")
        );
        assert!(
            reason(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            )
            .contains("values set must be empty")
        );
        assert!(
            reason(json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]}))
                .contains("\"Gt\" is not a valid label selector operator")
        );
        assert!(reason(json!({"matchLabels": {"a": 1}})).contains("must be a string"));
        assert!(
            reason(json!({"matchLabels": {"bad key": "x"}})).contains("name part must consist")
        );
        assert!(reason(json!("app=x")).contains("must be an object"));
    }
}
