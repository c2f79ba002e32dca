//! Reading a CustomResourceDefinition into the resource types it serves.

use std::sync::Arc;

use serde_json::Value;

use super::{CustomVersion, PrinterColumn, ResourceType};
use crate::error::Cause;
use crate::schema::StructuralSchema;

/// Why a CRD cannot be served: one cause per bad field, for a 422.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid CustomResourceDefinition: {causes:?}")]
pub struct CrdError {
    pub causes: Vec<Cause>,
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: message.into(),
        field: field.into(),
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types of every served version of `crd`, or the causes that make it invalid.
pub fn crd_resource_types(crd: &Value) -> Result<Vec<ResourceType>, CrdError> {
    let mut causes = Vec::new();
    let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
    let group = text(&spec, "group");
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let plural = text(&names, "plural");
    let kind = text(&names, "kind");
    let crd_name = crate::meta::name(crd);
    if group.is_empty() {
        causes.push(required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    } else if plural.to_lowercase() != plural {
        causes.push(invalid(
            "spec.names.plural",
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
        ));
    }
    if kind.is_empty() {
        causes.push(required("spec.names.kind"));
    }
    if !group.is_empty() && !plural.is_empty() && crd_name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let scope = text(&spec, "scope");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(invalid(
            "spec.scope",
            format!("Unsupported value: {scope:?}: supported values: \"Cluster\", \"Namespaced\""),
        ));
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(required("spec.versions"));
    }
    let storage_count = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage_count != 1 {
        causes.push(invalid(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(CrdError { causes });
    }
    let singular = match text(&names, "singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let mut resources = Vec::new();
    for version in &versions {
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let mut subresources = Vec::new();
        if version.pointer("/subresources/status").is_some() {
            subresources.push("status".to_string());
        }
        if version.pointer("/subresources/scale").is_some() {
            subresources.push("scale".to_string());
        }
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .filter(|s| s.is_object())
            .map(|s| Arc::new(StructuralSchema::new(s.clone())));
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|columns| columns.iter().map(printer_column).collect())
            .unwrap_or_default();
        resources.push(ResourceType {
            group: group.into(),
            version: text(version, "name").into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced: scope == "Namespaced",
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            subresources,
            custom: Some(CustomVersion {
                crd_name: crd_name.into(),
                schema,
                printer_columns,
            }),
            storage: format!("{plural}.{group}"),
        });
    }
    Ok(resources)
}

fn printer_column(column: &Value) -> PrinterColumn {
    PrinterColumn {
        name: text(column, "name").into(),
        column_type: text(column, "type").into(),
        format: text(column, "format").into(),
        description: text(column, "description").into(),
        priority: column.get("priority").and_then(Value::as_i64).unwrap_or(0),
        json_path: text(column, "jsonPath").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "subresources": {"status": {}},
                 "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                 "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1alpha1", "served": false, "storage": false}]}})
    }

    #[test]
    fn serves_each_served_version() {
        let resources = crd_resource_types(&crd()).unwrap();
        assert_eq!(resources.len(), 1);
        let widget = &resources[0];
        assert_eq!(
            (widget.kind.as_str(), widget.singular.as_str()),
            ("Widget", "widget")
        );
        assert!(widget.has_status() && widget.namespaced);
        assert_eq!(widget.short_names, ["wd"]);
        let custom = widget.custom.as_ref().unwrap();
        assert_eq!(custom.printer_columns[0].json_path, ".spec.size");
    }

    #[test]
    fn rejects_mismatched_names() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("gadgets.example.com");
        bad["spec"]["versions"][0]["storage"] = json!(false);
        let error = crd_resource_types(&bad).unwrap_err();
        let fields: Vec<&str> = error.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "spec.versions"]);
    }
}
