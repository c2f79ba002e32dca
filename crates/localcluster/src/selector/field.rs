//! The `fieldSelector` grammar (`field=value`, `field==value`, `field!=value`, comma-joined, with
//! `\,` `\=` `\\` escapes in values), evaluated against an object's JSON by dotted path.

use std::fmt;

use serde_json::Value;

use super::SelectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Dotted path such as `metadata.name` or `involvedObject.uid`.
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    pub fn matches(&self, object: &Value) -> bool {
        let actual = field_value(object, &self.field);
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

/// A parsed `fieldSelector` query parameter; the empty selector matches everything.
///
/// Which fields a resource supports is the server's business (it answers `field label not
/// supported` for others); `requirements()` lets it check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw_value)) = split_term(term) else {
                return Err(SelectorError::new(
                    selector,
                    format!("invalid selector: '{selector}'; can't understand '{term}'"),
                ));
            };
            let value =
                unescape(raw_value).map_err(|reason| SelectorError::new(selector, reason))?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(object))
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value a `field=value` term demands, if any (e.g. `metadata.name` for single-object watches).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let op = if r.operator == FieldOperator::Equals {
                    "="
                } else {
                    "!="
                };
                format!("{}{op}{}", r.field, escape(&r.value))
            })
            .collect();
        f.write_str(&terms.join(","))
    }
}

/// Boolean fields the API server reports as `false` when unset (Go zero values).
const FALSE_WHEN_MISSING: &[&str] = &["spec.unschedulable", "spec.hostNetwork"];

/// The string the API server compares for `path`: strings as they are, numbers and booleans
/// printed, a missing or null field as the empty string.
pub fn field_value(object: &Value, path: &str) -> String {
    // Events expose `source` as shorthand for `source.component`.
    let path = if path == "source" {
        "source.component"
    } else {
        path
    };
    let mut current = object;
    for segment in path.split('.') {
        match current.get(segment) {
            Some(next) => current = next,
            None => {
                return if FALSE_WHEN_MISSING.contains(&path) {
                    "false".into()
                } else {
                    String::new()
                };
            }
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Splits on commas that are not escaped; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// The first operator occurrence splits the term; `!=` and `==` are tried before `=`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (symbol, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(symbol) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                ));
            }
            other => out.push(other),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".into());
    }
    Ok(out)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "spark-pi-driver", "namespace": "default", "generation": 2},
            "spec": {"nodeName": "node-1", "restartPolicy": "Never"},
            "status": {"phase": "Running", "podIP": null}
        })
    }

    fn matches(selector: &str, object: &Value) -> bool {
        FieldSelector::parse(selector)
            .expect(selector)
            .matches(object)
    }

    #[test]
    fn equality_over_dotted_paths() {
        let pod = pod();
        assert!(matches("metadata.name=spark-pi-driver", &pod));
        assert!(matches(
            "metadata.name==spark-pi-driver,metadata.namespace=default",
            &pod
        ));
        assert!(matches("status.phase!=Succeeded", &pod));
        assert!(!matches("status.phase!=Running", &pod));
        assert!(matches("spec.nodeName=node-1,status.phase=Running", &pod));
        assert!(!matches("spec.nodeName=node-2", &pod));
        assert!(
            matches("metadata.generation=2", &pod),
            "numbers compare by their text"
        );
        assert!(matches("", &pod));
    }

    #[test]
    fn missing_fields_compare_as_empty() {
        let pod = pod();
        assert!(matches("spec.schedulerName=", &pod));
        assert!(matches("status.podIP=", &pod), "null is empty too");
        assert!(matches("spec.nodeName!=", &pod));
        assert!(!matches("status.nominatedNodeName!=", &pod));
        assert!(matches("spec.unschedulable=false", &json!({"spec": {}})));
        assert!(matches(
            "spec.unschedulable=true",
            &json!({"spec": {"unschedulable": true}})
        ));
    }

    #[test]
    fn event_fields() {
        let event = json!({
            "involvedObject": {"kind": "SparkApplication", "name": "pi", "namespace": "ns", "uid": "u-1"},
            "reason": "SparkApplicationSubmitted", "type": "Normal",
            "source": {"component": "spark-operator"}
        });
        assert!(matches(
            "involvedObject.kind=SparkApplication,involvedObject.name=pi,involvedObject.uid=u-1",
            &event
        ));
        assert!(matches("involvedObject.fieldPath=", &event));
        assert!(matches("source=spark-operator,type=Normal", &event));
    }

    #[test]
    fn escaped_values() {
        let object = json!({"metadata": {"name": "a,b=c\\d"}});
        let selector = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert!(selector.matches(&object));
        assert_eq!(selector.to_string(), r"metadata.name=a\,b\=c\\d");
        assert_eq!(selector.required_value("metadata.name"), Some("a,b=c\\d"));
    }

    #[test]
    fn malformed_selectors() {
        let reason = |s: &str| FieldSelector::parse(s).unwrap_err().reason;
        assert_eq!(
            reason("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(
            reason(r"a=b\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            reason(r"a=b\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            reason("a==b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn not_equals_is_found_before_equals() {
        let selector = FieldSelector::parse("a!=b").unwrap();
        assert_eq!(
            selector.requirements(),
            &[FieldRequirement {
                field: "a".into(),
                operator: FieldOperator::NotEquals,
                value: "b".into()
            }]
        );
        let selector = FieldSelector::parse("a==b").unwrap();
        assert_eq!(selector.requirements()[0].value, "b");
    }
}
