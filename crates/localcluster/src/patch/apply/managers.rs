//! `metadata.managedFields`: one entry per manager identity, each owning a set of fields.

use serde_json::{Map, Value, json};

use super::fieldset::{FieldSet, PathElement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether `self` is the entry of that writer. Appliers keep one entry whatever the
    /// version they apply; updaters get one per version.
    pub(crate) fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: &str,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    /// How Kubernetes names the owner in conflict messages: `"kubectl" using apps/v1`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            text.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            text.push_str(&format!(" using {}", self.api_version));
        }
        text
    }

    fn decode(entry: &Value) -> Option<Self> {
        let text = |name: &str| entry.get(name).and_then(Value::as_str);
        let operation = match text("operation")? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        Some(Self {
            manager: text("manager").unwrap_or_default().to_string(),
            operation,
            api_version: text("apiVersion").unwrap_or_default().to_string(),
            time: text("time").map(str::to_string),
            subresource: text("subresource").unwrap_or_default().to_string(),
            fields: FieldSet::from_fields_v1(entry.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }

    fn encode(&self) -> Value {
        let mut entry = Map::new();
        // A write whose client sent no user agent is recorded under no name, as the API server
        // leaves `manager` out when it is empty.
        if !self.manager.is_empty() {
            entry.insert("manager".into(), json!(self.manager));
        }
        entry.insert("operation".into(), json!(self.operation.as_str()));
        entry.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            entry.insert("time".into(), json!(time));
        }
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(entry)
    }
}

/// The entries of an object's `metadata.managedFields`; unreadable entries are dropped.
pub(crate) fn decode(object: &Value) -> Vec<ManagedEntry> {
    object
        .pointer("/metadata/managedFields")
        .map(decode_list)
        .unwrap_or_default()
}

/// The entries of a `managedFields` list; unreadable entries are dropped.
pub(crate) fn decode_list(entries: &Value) -> Vec<ManagedEntry> {
    entries
        .as_array()
        .map(|entries| entries.iter().filter_map(ManagedEntry::decode).collect())
        .unwrap_or_default()
}

/// Writes `entries` (sorted as Kubernetes sorts them) into `object`, or removes the field.
pub(crate) fn encode_into(object: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.retain(|entry| !entry.fields.is_empty());
    entries.sort_by(|a, b| {
        let seconds = |time: &Option<String>| {
            time.as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, |t| t.as_second())
        };
        (
            a.operation,
            seconds(&a.time),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                seconds(&b.time),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Some(metadata) = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
    else {
        return;
    };
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(ManagedEntry::encode).collect()),
        );
    }
}

/// `object` without `metadata.managedFields`, which never takes part in comparisons.
pub(crate) fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

/// Fields the API server never records as owned: identity and bookkeeping.
pub(crate) fn strip_bookkeeping(set: &FieldSet) -> FieldSet {
    let mut ignored = FieldSet::default();
    ignored.insert(&[PathElement::field("apiVersion")]);
    ignored.insert(&[PathElement::field("kind")]);
    ignored.insert(&[PathElement::field("metadata")]);
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        ignored.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
    }
    set.difference(&ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_sort_apply_first() {
        let object = json!({"metadata": {"managedFields": [
            {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1",
             "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "op", "operation": "Apply", "apiVersion": "v1", "time": "2024-02-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}, "subresource": "status"},
            {"manager": "broken", "operation": "Sideways"}
        ]}});
        let entries = decode(&object);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].describe(), "\"op\" with subresource \"status\"");
        assert_eq!(entries[0].describe(), "\"kubectl-edit\" using v1");
        let mut out = json!({"metadata": {}});
        encode_into(&mut out, entries);
        let written = out["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(written[0]["manager"], "op");
        assert_eq!(written[0]["subresource"], "status");
        assert_eq!(written[1]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
        encode_into(&mut out, Vec::new());
        assert!(out["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn bookkeeping_is_not_owned() {
        let mut set = FieldSet::default();
        set.insert(&[PathElement::field("apiVersion")]);
        set.insert(&[PathElement::field("metadata"), PathElement::field("name")]);
        set.insert(&[PathElement::field("metadata"), PathElement::field("labels")]);
        let stripped = strip_bookkeeping(&set);
        assert_eq!(
            stripped.paths(),
            vec![vec![
                PathElement::field("metadata"),
                PathElement::field("labels")
            ]]
        );
    }
}
