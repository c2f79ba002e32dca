//! Sets of field paths, as server-side apply tracks ownership, and their `FieldsV1` encoding:
//! `f:<name>` for fields and map keys, `k:{...}` for keyed list items, `v:<json>` for set
//! items, `i:<n>` for positions, and `.` marking a node that is itself a member.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a path, stored in its `FieldsV1` spelling (which also orders and compares it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PathElement(String);

impl PathElement {
    pub(crate) fn field(name: &str) -> Self {
        Self(format!("f:{name}"))
    }

    /// Whether this is the field `name`.
    pub(crate) fn is_field(&self, name: &str) -> bool {
        self.0.strip_prefix("f:") == Some(name)
    }

    /// A keyed list item; `keys` are the key fields present (serialized sorted, compact).
    pub(crate) fn key(keys: Map<String, Value>) -> Self {
        Self(format!("k:{}", Value::Object(keys)))
    }

    pub(crate) fn value(value: &Value) -> Self {
        Self(format!("v:{value}"))
    }

    pub(crate) fn index(index: usize) -> Self {
        Self(format!("i:{index}"))
    }

    /// Parses a `FieldsV1` key, normalizing embedded JSON.
    fn parse(encoded: &str) -> Option<Self> {
        let (kind, rest) = encoded.split_at_checked(2)?;
        match kind {
            "f:" => Some(Self(encoded.to_string())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(keys) => Some(Self::key(keys)),
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| Self::value(&v)),
            "i:" => rest.parse().ok().map(Self::index),
            _ => None,
        }
    }

    /// The field name, when this element is a field or map key.
    pub(crate) fn field_name(&self) -> Option<&str> {
        self.0.strip_prefix("f:")
    }

    /// How Kubernetes prints the element in conflict messages: `.name`, `[name="x"]`, `[="v"]`, `[0]`.
    pub(crate) fn display(&self) -> String {
        let (kind, rest) = self.0.split_at(2);
        match kind {
            "f:" => format!(".{rest}"),
            "k:" => {
                let keys: Map<String, Value> = serde_json::from_str(rest).unwrap_or_default();
                let parts: Vec<String> = keys
                    .iter()
                    .map(|(k, v)| format!("{k}={}", display_value(v)))
                    .collect();
                format!("[{}]", parts.join(","))
            }
            "v:" => format!(
                "[={}]",
                serde_json::from_str(rest)
                    .map(|v| display_value(&v))
                    .unwrap_or_default()
            ),
            _ => format!("[{rest}]"),
        }
    }
}

/// Go's `value.ToString`: strings quoted, numbers and booleans bare.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

pub(crate) type Path = Vec<PathElement>;

pub(crate) fn display_path(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of paths, as a tree: `members` end here, `children` continue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub(crate) fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub(crate) fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|child| child.has(rest)),
        }
    }

    /// The paths below `element`, relative to it.
    pub(crate) fn with_prefix(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element).filter(|child| !child.is_empty())
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn insert_member(&mut self, element: PathElement) {
        self.members.insert(element);
    }

    pub(crate) fn child_mut(&mut self, element: PathElement) -> &mut FieldSet {
        self.children.entry(element).or_default()
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(existing) => existing.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let rest = match other.children.get(element) {
                Some(other_child) => child.difference(other_child),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(element.clone(), rest);
            }
        }
        out
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(other_child) = other.children.get(element) {
                let both = child.intersection(other_child);
                if !both.is_empty() {
                    out.children.insert(element.clone(), both);
                }
            }
        }
        out
    }

    /// Every member path, depth first.
    pub(crate) fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let mut elements: BTreeSet<&PathElement> = self.members.iter().collect();
        elements.extend(self.children.keys());
        for element in elements {
            prefix.push(element.clone());
            if self.members.contains(element) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(element) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        for member in &self.members {
            if !self.children.contains_key(member) {
                out.insert(member.0.clone(), Value::Object(Map::new()));
            }
        }
        for (element, child) in &self.children {
            let mut encoded = match child.to_fields_v1() {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            if self.members.contains(element) {
                encoded.insert(".".into(), Value::Object(Map::new()));
            }
            out.insert(element.0.clone(), Value::Object(encoded));
        }
        Value::Object(out)
    }

    /// Parses `fieldsV1`; unreadable keys are skipped rather than failing the request.
    pub(crate) fn from_fields_v1(fields: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(map) = fields.as_object() else {
            return set;
        };
        for (key, value) in map {
            if key == "." {
                continue;
            }
            let Some(element) = PathElement::parse(key) else {
                continue;
            };
            let child = FieldSet::from_fields_v1(value);
            let is_leaf = value.as_object().is_none_or(|m| m.is_empty());
            if is_leaf || value.get(".").is_some() {
                set.members.insert(element.clone());
            }
            if !child.is_empty() {
                set.children.insert(element, child);
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(elements: &[PathElement]) -> Path {
        elements.to_vec()
    }

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn fields_v1_round_trip() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:image": {}, "f:name": {}}},
                       "f:finalizers": {"v:\"a\"": {}}, "f:replicas": {}}
        });
        let set = FieldSet::from_fields_v1(&encoded);
        assert!(set.has(&path(&[f("spec"), f("replicas")])));
        assert!(set.has(&path(&[f("metadata"), f("labels")])));
        assert!(!set.has(&path(&[f("metadata")])));
        let item = PathElement::key(json!({"name": "main"}).as_object().unwrap().clone());
        assert!(set.has(&path(&[f("spec"), f("containers"), item.clone()])));
        assert!(set.has(&path(&[f("spec"), f("containers"), item, f("image")])));
        assert_eq!(set.to_fields_v1(), encoded);
    }

    #[test]
    fn keys_are_normalized_and_displayed_like_kubernetes() {
        let parsed =
            PathElement::parse("k:{ \"protocol\": \"TCP\", \"containerPort\": 80 }").unwrap();
        assert_eq!(parsed.0, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
        assert_eq!(parsed.display(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(PathElement::value(&json!("x")).display(), "[=\"x\"]");
        assert_eq!(PathElement::index(3).display(), "[3]");
        assert_eq!(display_path(&[f("spec"), f("replicas")]), ".spec.replicas");
        assert!(PathElement::parse("x:y").is_none());
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::default();
        a.insert(&[f("spec"), f("a")]);
        a.insert(&[f("spec"), f("b")]);
        let mut b = FieldSet::default();
        b.insert(&[f("spec"), f("b")]);
        b.insert(&[f("status")]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("spec"), f("b")]]);
        assert_eq!(a.difference(&b).paths(), vec![vec![f("spec"), f("a")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
        assert!(a.with_prefix(&f("spec")).is_some());
        assert!(a.with_prefix(&f("status")).is_none());
    }
}
