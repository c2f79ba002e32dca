//! Validation as a pure function: every problem of a resource at once, each with the field path and
//! what to do about it. The operator, the admission webhook and `sparkctl` share these rules.

mod application;
mod connect;
mod json;
mod labels;
mod names;
mod placement;
pub mod quantity;
mod scheduled;
mod spark_conf;

pub use application::validate_application;
pub use connect::{CONNECT_NAME_MAX, validate_connect};
pub use json::{validate_application_json, validate_connect_json, validate_scheduled_json};
pub use labels::{label_key_problem, label_value_problem};
pub use names::{dns_subdomain_problem, image_reference_problem};
pub use scheduled::validate_scheduled;

/// One problem: where it is (`spec.driver.cores`) and what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems of one resource, one per line.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects problems under a path prefix.
#[derive(Default)]
pub(crate) struct Problems {
    errors: Vec<FieldError>,
}

impl Problems {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        self.errors
    }

    pub(crate) fn extend(&mut self, errors: Vec<FieldError>) {
        self.errors.extend(errors);
    }

    /// A problem when `value` is not one of `allowed`.
    pub(crate) fn one_of(&mut self, path: impl Into<String>, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(
                path,
                unsupported_value(&serde_json::Value::from(value), allowed),
            );
        }
    }
}

/// The message for a value outside a fixed set, the same from the typed and the JSON rules.
pub(crate) fn unsupported_value(value: &serde_json::Value, allowed: &[&str]) -> String {
    format!(
        "unsupported value {value}: use one of {}",
        allowed.join(", ")
    )
}

/// Kubernetes' image pull policies.
pub(crate) const IMAGE_PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_parity_tests;
