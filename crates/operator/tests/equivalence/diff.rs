//! Structural differences between two JSON values, and the allow-list that explains the intended
//! ones.
//!
//! Paths are dotted (`driverPod.spec.containers[spark-kubernetes-driver].env[SPARK_USER].value`):
//! a list whose entries are objects with distinct `name`s is compared entry by entry by name
//! (`[name]`), and a difference of order only is reported once, at `<list path>#order`; other lists
//! are compared by index (`[0]`).

use std::collections::BTreeSet;

use serde_json::Value;

/// One difference: the value spark-submit's object has at `path`, and the native one's.
#[derive(Debug, Clone)]
pub struct Difference {
    pub app: String,
    pub path: String,
    pub submitted: Option<Value>,
    pub native: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "(absent)".to_string(),
            Some(v) => v.to_string(),
        };
        write!(
            f,
            "{}: {}\n    spark-submit: {}\n    native:       {}",
            self.app,
            self.path,
            show(&self.submitted),
            show(&self.native)
        )
    }
}

/// Every difference between `submitted` and `native` under `path`.
pub fn differences(
    app: &str,
    path: &str,
    submitted: Option<&Value>,
    native: Option<&Value>,
    out: &mut Vec<Difference>,
) {
    let mut push = |path: String, s: Option<&Value>, n: Option<&Value>| {
        out.push(Difference {
            app: app.to_string(),
            path,
            submitted: s.cloned(),
            native: n.cloned(),
        })
    };
    match (submitted, native) {
        (Some(Value::Object(s)), Some(Value::Object(n))) => {
            let keys: BTreeSet<&String> = s.keys().chain(n.keys()).collect();
            for key in keys {
                differences(app, &format!("{path}.{key}"), s.get(key), n.get(key), out);
            }
        }
        (Some(Value::Array(s)), Some(Value::Array(n))) => {
            if let (Some(s_keyed), Some(n_keyed)) = (keyed(s), keyed(n)) {
                let s_keys: BTreeSet<&str> = s_keyed.iter().map(|(k, _)| k.as_str()).collect();
                let n_keys: BTreeSet<&str> = n_keyed.iter().map(|(k, _)| k.as_str()).collect();
                let common = |list: &[(String, &Value)]| -> Vec<String> {
                    list.iter()
                        .map(|(k, _)| k.clone())
                        .filter(|k| s_keys.contains(k.as_str()) && n_keys.contains(k.as_str()))
                        .collect()
                };
                let (s_order, n_order) = (common(&s_keyed), common(&n_keyed));
                if s_order != n_order {
                    push(
                        format!("{path}#order"),
                        Some(&Value::from(s_order)),
                        Some(&Value::from(n_order)),
                    );
                }
                let find = |list: &[(String, &'_ Value)], key: &str| {
                    list.iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| (*v).clone())
                };
                for key in s_keys.union(&n_keys) {
                    let (se, ne) = (find(&s_keyed, key), find(&n_keyed, key));
                    differences(
                        app,
                        &format!("{path}[{key}]"),
                        se.as_ref(),
                        ne.as_ref(),
                        out,
                    );
                }
            } else {
                for i in 0..s.len().max(n.len()) {
                    differences(app, &format!("{path}[{i}]"), s.get(i), n.get(i), out);
                }
            }
        }
        (s, n) if s == n => {}
        (s, n) => push(path.to_string(), s, n),
    }
}

/// The entries of a list of named objects by key: the name, followed by `@2`, `@3`, ... for
/// the second and later entries of the same name (Kubernetes keeps the last of repeated
/// environment variables).
fn keyed(list: &[Value]) -> Option<Vec<(String, &Value)>> {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    let keyed: Vec<(String, &Value)> = list
        .iter()
        .map(|entry| {
            let name = entry.get("name").and_then(Value::as_str)?;
            let count = seen.entry(name).or_default();
            *count += 1;
            let key = if *count == 1 {
                name.to_string()
            } else {
                format!("{name}@{count}")
            };
            Some((key, entry))
        })
        .collect::<Option<_>>()?;
    (!keyed.is_empty()).then_some(keyed)
}

/// One entry of the allow-list: differences at paths matching `path` (where `*` matches any
/// run of characters), for the corpus files in `apps` (all when empty), are intended.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    pub path: String,
    #[serde(default)]
    pub apps: Vec<String>,
    pub reason: String,
}

impl Allowed {
    pub fn covers(&self, difference: &Difference) -> bool {
        (self.apps.is_empty() || self.apps.contains(&difference.app))
            && glob(&self.path, &difference.path)
    }
}

/// Whether `text` matches `pattern`, whose `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_runs() {
        assert!(glob("a.*.c", "a.b.x.c"));
        assert!(glob("a.b", "a.b"));
        assert!(!glob("a.b", "a.bc"));
        assert!(glob("*order", "x.env#order"));
        assert!(!glob("a*b*c", "acb"));
    }

    #[test]
    fn named_lists_are_compared_by_name() {
        let s = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let n = json!({"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]});
        let mut out = Vec::new();
        differences("x", "pod", Some(&s), Some(&n), &mut out);
        let paths: Vec<&str> = out.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["pod.env#order", "pod.env[A].value"]);
    }

    #[test]
    fn repeated_names_are_numbered() {
        let s = json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]);
        let n = json!([{"name": "A", "value": "1"}, {"name": "A", "value": "3"}]);
        let mut out = Vec::new();
        differences("x", "env", Some(&s), Some(&n), &mut out);
        let paths: Vec<&str> = out.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["env[A@2].value"]);
    }
}
