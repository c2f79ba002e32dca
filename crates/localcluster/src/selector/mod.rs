//! Label and field selectors as the Kubernetes API server parses and evaluates them: the
//! `labelSelector` / `fieldSelector` query parameters, and `metav1.LabelSelector` objects
//! (`matchLabels` / `matchExpressions`) such as the `namespaceSelector` of a webhook.

mod field;
mod label;
mod label_object;
#[cfg(test)]
mod label_tests;
mod validation;

pub use field::{FieldOperator, FieldRequirement, FieldSelector, field_value};
pub use label::{LabelSelector, Operator, Requirement, labels_of};

/// A selector that could not be parsed; `reason` carries the API server's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {selector:?}: {reason}")]
pub struct SelectorError {
    pub selector: String,
    pub reason: String,
}

impl SelectorError {
    fn new(selector: &str, reason: impl Into<String>) -> Self {
        Self {
            selector: selector.to_string(),
            reason: reason.into(),
        }
    }
}
