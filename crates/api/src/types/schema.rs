//! Schema overrides where the Rust type is richer than what the CRD should promise.

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object the API server keeps as given: Kubeflow declares pod templates this way so that any
/// PodTemplateSpec, including fields of newer Kubernetes versions, is accepted.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
