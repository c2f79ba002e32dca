//! Structural OpenAPI v3 schemas of CustomResourceDefinitions: validation, pruning of unknown
//! fields and defaulting, as the API server applies them to custom resources (in the order
//! prune, default, validate).

mod defaults;
mod formats;
mod prune;
mod validate;

#[cfg(test)]
mod operator_crd_tests;
#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

/// One validation failure, as a Kubernetes `StatusCause`: field path (`spec.driver.cores`),
/// message (`Invalid value: "string": spec.driver.cores in body must be of type integer: "string"`)
/// and reason (`FieldValueTypeInvalid`, `FieldValueRequired`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    /// `spec.x: Invalid value: ...`, as the API server joins errors into a Status message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl FieldError {
    fn new(field: &str, reason: &str, message: String) -> Self {
        Self {
            field: field.to_string(),
            message,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        Self::new(
            field,
            "FieldValueInvalid",
            format!("Invalid value: {}: {detail}", formats::go_value(value)),
        )
    }

    pub(crate) fn type_invalid(field: &str, value: &Value, detail: &str) -> Self {
        Self::new(
            field,
            "FieldValueTypeInvalid",
            format!("Invalid value: {}: {detail}", formats::go_value(value)),
        )
    }

    pub(crate) fn required(field: &str, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Self::new(field, "FieldValueRequired", message)
    }

    pub(crate) fn not_supported(field: &str, value: &Value, allowed: &[Value]) -> Self {
        let quoted: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("{s:?}"),
                other => format!("{:?}", other.to_string()),
            })
            .collect();
        let message = format!(
            "Unsupported value: {}: supported values: {}",
            formats::go_value(value),
            quoted.join(", ")
        );
        Self::new(field, "FieldValueNotSupported", message)
    }

    pub(crate) fn too_long(field: &str, max: u64) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Self::new(
            field,
            "FieldValueTooLong",
            format!("Too long: may not be more than {max} {unit}"),
        )
    }

    pub(crate) fn too_many(field: &str, actual: usize, max: u64) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Self::new(
            field,
            "FieldValueTooMany",
            format!("Too many: {actual}: must have at most {max} {unit}"),
        )
    }
}

/// The `openAPIV3Schema` of one CRD version.
#[derive(Debug, Clone)]
pub struct StructuralSchema {
    pub schema: Value,
}

impl StructuralSchema {
    pub fn new(schema: Value) -> Self {
        Self { schema }
    }

    /// Remove fields the schema does not declare (honouring x-kubernetes-preserve-unknown-fields);
    /// `metadata`, `apiVersion` and `kind` at the root (and in embedded resources) are kept.
    pub fn prune(&self, object: &mut Value) {
        self.prune_reporting(object);
    }

    /// Like [`prune`](Self::prune), returning the paths removed (`spec.foo`, `spec.list[0].bar`),
    /// sorted: what `fieldValidation=Warn|Strict` reports as unknown fields.
    pub fn prune_reporting(&self, object: &mut Value) -> Vec<String> {
        prune::prune(object, &self.schema)
    }

    /// Fill in `default` values where fields are absent (or null without being nullable), inside
    /// objects that exist; nulls that are neither nullable nor defaulted are dropped first.
    pub fn apply_defaults(&self, object: &mut Value) {
        defaults::drop_non_nullable_nulls(object, Some(&self.schema));
        defaults::apply(object, &self.schema);
    }

    /// Every type/enum/required/format/bounds error, with its path.
    pub fn validate(&self, object: &Value) -> Vec<FieldError> {
        validate::validate(object, &self.schema)
    }
}
