//! Server-side apply of sets, of schema-less custom resources, and of the lists of the project's
//! own SparkApplication CRD.

use serde_json::{Value, json};

use super::tests::spark_crd_schema;
use super::{FieldManager, apply, track_update};
use crate::patch::PatchError;
use crate::patch::types::TypeInfo;

fn by(name: &str) -> FieldManager<'_> {
    FieldManager {
        name,
        subresource: None,
        time: "2024-01-01T00:00:00Z",
    }
}

fn fields_of<'o>(object: &'o Value, manager: &str) -> &'o Value {
    let entries = object["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    &entries
        .iter()
        .find(|e| e["manager"] == manager)
        .expect("entry")["fieldsV1"]
}

fn with_finalizers(finalizers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}})
}

#[test]
fn finalizers_are_a_set_owned_item_by_item() {
    let config_map = TypeInfo {
        group: "",
        kind: "ConfigMap",
        crd_schema: None,
    };
    let created = apply(
        None,
        &with_finalizers(json!(["a", "b"])),
        config_map,
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(
        fields_of(&created, "kubectl"),
        &json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}})
    );
    // A controller adds its own finalizer; the applier's later removal of `a` leaves it alone.
    let mut with_controller = created.clone();
    with_controller["metadata"]["finalizers"] = json!(["a", "b", "controller"]);
    let tracked = track_update(
        Some(&created),
        with_controller.clone(),
        config_map,
        &by("controller"),
    );
    assert_eq!(
        fields_of(&tracked, "controller"),
        &json!({"f:metadata": {"f:finalizers": {"v:\"controller\"": {}}}})
    );
    let next = apply(
        Some(&tracked),
        &with_finalizers(json!(["b"])),
        config_map,
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(next["metadata"]["finalizers"], json!(["b", "controller"]));
}

#[test]
fn schema_less_custom_resources_are_deduced() {
    let types = TypeInfo {
        group: "example.com",
        kind: "Widget",
        crd_schema: None,
    };
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                        "spec": {"size": 1, "tags": ["x"], "nested": {"a": 1}}});
    let created = apply(None, &widget, types, &by("kubectl"), false).unwrap();
    assert_eq!(
        fields_of(&created, "kubectl"),
        &json!({"f:spec": {".": {}, "f:size": {}, "f:tags": {}, "f:nested": {".": {}, "f:a": {}}}})
    );
    let mut changed = widget.clone();
    changed["spec"]["size"] = json!(2);
    let err = apply(Some(&created), &changed, types, &by("other"), false).unwrap_err();
    assert!(
        matches!(err, PatchError::Conflict(ref c) if c[0].field == ".spec.size"),
        "{err}"
    );
}

#[test]
fn spark_application_sidecars_are_atomic() {
    let schema = spark_crd_schema();
    let types = TypeInfo {
        group: "sparkoperator.k8s.io",
        kind: "SparkApplication",
        crd_schema: Some(&schema),
    };
    let app = json!({"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
                     "metadata": {"name": "pi", "labels": {"team": "a"}},
                     "spec": {"executor": {"sidecars": [{"name": "log", "ports": [{"containerPort": 80}]}]}}});
    let created = apply(None, &app, types, &by("kubectl"), false).unwrap();
    assert_eq!(
        fields_of(&created, "kubectl"),
        &json!({"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:executor": {"f:sidecars": {}}}})
    );
}
