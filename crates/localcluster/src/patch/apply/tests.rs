//! Server-side apply and ownership tracking, checked against what a client of a real API server
//! observes: the merged object, `managedFields`, conflicts, and removal of unapplied fields.

use serde_json::{Value, json};

use super::{FieldManager, apply, track_update};
use crate::patch::types::TypeInfo;
use crate::patch::{ApplyConflict, PatchError};

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-02T00:00:00Z";

fn core(kind: &'static str) -> TypeInfo<'static> {
    TypeInfo {
        group: "",
        kind,
        crd_schema: None,
    }
}

fn by(name: &str) -> FieldManager<'_> {
    FieldManager {
        name,
        subresource: None,
        time: T1,
    }
}

fn config_map(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "ns"}, "data": data})
}

fn apply_cm(
    live: Option<&Value>,
    data: Value,
    manager: &str,
    force: bool,
) -> Result<Value, PatchError> {
    apply(
        live,
        &config_map(data),
        core("ConfigMap"),
        &by(manager),
        force,
    )
}

fn entries(object: &Value) -> &Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
}

fn entry<'o>(object: &'o Value, manager: &str) -> &'o Value {
    entries(object)
        .iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or_else(|| panic!("no entry for {manager}"))
}

fn conflicts(result: Result<Value, PatchError>) -> Vec<ApplyConflict> {
    match result {
        Err(PatchError::Conflict(conflicts)) => conflicts,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn apply_creates_and_records_ownership() {
    let mut applied = config_map(json!({"a": "1"}));
    applied["metadata"]["labels"] = json!({"app": "spark"});
    let created = apply(None, &applied, core("ConfigMap"), &by("kubectl"), false).unwrap();
    assert_eq!(created["data"], json!({"a": "1"}));
    assert_eq!(
        entries(&created),
        &vec![json!({
            "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
        })]
    );
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let created = apply_cm(None, json!({"a": "1"}), "kubectl", false).unwrap();
    let later = FieldManager {
        name: "kubectl",
        subresource: None,
        time: T2,
    };
    let again = apply(
        Some(&created),
        &config_map(json!({"a": "1"})),
        core("ConfigMap"),
        &later,
        false,
    )
    .unwrap();
    assert_eq!(again, created, "same object, same managedFields, same time");
}

#[test]
fn fields_dropped_from_the_configuration_are_removed() {
    let live = apply_cm(None, json!({"a": "1", "b": "2"}), "kubectl", false).unwrap();
    let next = apply_cm(Some(&live), json!({"b": "2", "c": "3"}), "kubectl", false).unwrap();
    assert_eq!(next["data"], json!({"b": "2", "c": "3"}));
    assert_eq!(
        entry(&next, "kubectl")["fieldsV1"],
        json!({"f:data": {"f:b": {}, "f:c": {}}})
    );
    let emptied = apply(
        Some(&next),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}}),
        core("ConfigMap"),
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert!(
        emptied.get("data").is_none(),
        "nobody owns data any more: {emptied}"
    );
    assert!(emptied["metadata"].get("managedFields").is_none());
    assert_eq!(emptied["metadata"]["name"], "conf");
}

#[test]
fn changing_another_appliers_field_conflicts() {
    let live = apply_cm(None, json!({"a": "1"}), "alice", false).unwrap();
    let found = conflicts(apply_cm(Some(&live), json!({"a": "2"}), "bob", false));
    assert_eq!(
        found,
        vec![ApplyConflict {
            manager: "alice".into(),
            field: ".data.a".into(),
            owner: "\"alice\"".into()
        }]
    );
    assert_eq!(
        PatchError::Conflict(found).to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .data.a"
    );
}

#[test]
fn applying_the_same_value_shares_ownership() {
    let live = apply_cm(None, json!({"a": "1"}), "alice", false).unwrap();
    let shared = apply_cm(Some(&live), json!({"a": "1", "b": "x"}), "bob", false).unwrap();
    assert_eq!(
        entry(&shared, "alice")["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
    assert_eq!(
        entry(&shared, "bob")["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:b": {}}})
    );
    // Alice lets go of `a`: Bob still owns it, so it stays.
    let released = apply_cm(Some(&shared), Value::Null, "alice", false).unwrap();
    assert_eq!(released["data"], json!({"a": "1", "b": "x"}));
    assert!(entries(&released).iter().all(|e| e["manager"] != "alice"));
}

#[test]
fn force_takes_ownership() {
    let live = apply_cm(None, json!({"a": "1", "keep": "k"}), "alice", false).unwrap();
    let forced = apply_cm(Some(&live), json!({"a": "2"}), "bob", true).unwrap();
    assert_eq!(forced["data"], json!({"a": "2", "keep": "k"}));
    assert_eq!(
        entry(&forced, "alice")["fieldsV1"],
        json!({"f:data": {"f:keep": {}}})
    );
    assert_eq!(
        entry(&forced, "bob")["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn updates_are_tracked_and_conflict_with_appliers() {
    let created = track_update(
        None,
        config_map(json!({"a": "1"})),
        core("ConfigMap"),
        &by("kubectl-create"),
    );
    assert_eq!(
        entries(&created),
        &vec![
            json!({"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T1,
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:a": {}}}})
        ]
    );
    let mut edited = created.clone();
    edited["data"]["a"] = json!("2");
    edited["metadata"]["labels"] = json!({"x": "y"});
    let edit_time = FieldManager {
        name: "kubectl-edit",
        subresource: None,
        time: T2,
    };
    let edited = track_update(Some(&created), edited, core("ConfigMap"), &edit_time);
    // The creator keeps the map it created, not the value it no longer wrote last.
    assert_eq!(
        entry(&edited, "kubectl-create")["fieldsV1"],
        json!({"f:data": {}})
    );
    assert_eq!(
        entry(&edited, "kubectl-edit")["fieldsV1"],
        json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
    );
    let found = conflicts(apply_cm(Some(&edited), json!({"a": "3"}), "kubectl", false));
    assert_eq!(found[0].owner, "\"kubectl-edit\" using v1");
    assert_eq!(
        found[0].cause_message(),
        "conflict with \"kubectl-edit\" using v1"
    );
}

#[test]
fn update_without_changes_keeps_entries_and_times() {
    let created = track_update(
        None,
        config_map(json!({"a": "1"})),
        core("ConfigMap"),
        &by("creator"),
    );
    let later = FieldManager {
        name: "creator",
        subresource: None,
        time: T2,
    };
    let same = track_update(Some(&created), created.clone(), core("ConfigMap"), &later);
    assert_eq!(same, created);
}

#[test]
fn resetting_managed_fields_stops_tracking() {
    let created = track_update(
        None,
        config_map(json!({"a": "1"})),
        core("ConfigMap"),
        &by("creator"),
    );
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([]);
    let stored = track_update(Some(&created), reset, core("ConfigMap"), &by("someone"));
    assert!(stored["metadata"].get("managedFields").is_none());
}

#[test]
fn fields_set_before_any_tracking_belong_to_before_first_apply() {
    let untracked = config_map(json!({"a": "1"}));
    let found = conflicts(apply_cm(
        Some(&untracked),
        json!({"a": "2"}),
        "kubectl",
        false,
    ));
    assert_eq!(found[0].manager, "before-first-apply");
    assert_eq!(found[0].owner, "\"before-first-apply\" using v1");
    let agreed = apply_cm(Some(&untracked), json!({"a": "1"}), "kubectl", false).unwrap();
    assert_eq!(entries(&agreed).len(), 2);
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

fn apps(kind: &'static str) -> TypeInfo<'static> {
    TypeInfo {
        group: "apps",
        kind,
        crd_schema: None,
    }
}

#[test]
fn keyed_lists_record_items_and_atomic_values() {
    let applied =
        deployment(json!([{"name": "main", "image": "nginx", "ports": [{"containerPort": 80}]}]));
    let created = apply(None, &applied, apps("Deployment"), &by("kubectl"), false).unwrap();
    assert_eq!(
        entry(&created, "kubectl")["fieldsV1"],
        json!({"f:spec": {
            "f:replicas": {}, "f:selector": {},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                "k:{\"name\":\"main\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}
        }})
    );
}

#[test]
fn keyed_lists_merge_items_of_several_managers() {
    let created = apply(
        None,
        &deployment(json!([{"name": "main", "image": "a"}])),
        apps("Deployment"),
        &by("kubectl"),
        false,
    )
    .unwrap();
    // A controller adds a sidecar and an env var through ordinary updates.
    let mut updated = created.clone();
    updated["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "main", "image": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "sidecar", "image": "s"}
    ]);
    let updated = track_update(
        Some(&created),
        updated,
        apps("Deployment"),
        &by("controller"),
    );
    let reapplied = apply(
        Some(&updated),
        &deployment(json!([{"name": "main", "image": "b"}])),
        apps("Deployment"),
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(
        reapplied["spec"]["template"]["spec"]["containers"],
        json!([{"name": "main", "image": "b", "env": [{"name": "X", "value": "1"}]}, {"name": "sidecar", "image": "s"}])
    );
    // Dropping `main` from the configuration removes the item kubectl created, even though the
    // controller owns a field inside it (structured-merge-diff removes unowned items whole).
    let dropped = apply(
        Some(&reapplied),
        &deployment(json!([{"name": "extra", "image": "e"}])),
        apps("Deployment"),
        &by("kubectl"),
        false,
    )
    .unwrap();
    let containers = &dropped["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([{"name": "sidecar", "image": "s"}, {"name": "extra", "image": "e"}])
    );
}

#[test]
fn applied_order_wins_for_list_items() {
    let created = apply(
        None,
        &deployment(json!([{"name": "a"}, {"name": "b"}])),
        apps("Deployment"),
        &by("other"),
        false,
    )
    .unwrap();
    let reordered = apply(
        Some(&created),
        &deployment(json!([{"name": "c"}, {"name": "a"}])),
        apps("Deployment"),
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(
        reordered["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a"}, {"name": "b"}])
    );
}

#[test]
fn atomic_lists_are_replaced_whole_and_conflict_whole() {
    let pod = |tolerations: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                         "spec": {"tolerations": tolerations}})
    };
    let created = apply(
        None,
        &pod(json!([{"key": "a"}])),
        core("Pod"),
        &by("alice"),
        false,
    )
    .unwrap();
    assert_eq!(
        entry(&created, "alice")["fieldsV1"],
        json!({"f:spec": {"f:tolerations": {}}})
    );
    let found = conflicts(apply(
        Some(&created),
        &pod(json!([{"key": "b"}])),
        core("Pod"),
        &by("bob"),
        false,
    ));
    assert_eq!(found[0].field, ".spec.tolerations");
    let forced = apply(
        Some(&created),
        &pod(json!([{"key": "b"}])),
        core("Pod"),
        &by("bob"),
        true,
    )
    .unwrap();
    assert_eq!(forced["spec"]["tolerations"], json!([{"key": "b"}]));
}

#[test]
fn status_subresource_managers_are_separate() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n"}});
    let created = apply(None, &pod, core("Pod"), &by("kubectl"), false).unwrap();
    let status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    let kubelet = FieldManager {
        name: "kubelet",
        subresource: Some("status"),
        time: T2,
    };
    let running = apply(Some(&created), &status, core("Pod"), &kubelet, false).unwrap();
    let kubelet_entry = entry(&running, "kubelet");
    assert_eq!(kubelet_entry["subresource"], "status");
    assert_eq!(
        kubelet_entry["fieldsV1"],
        json!({"f:status": {"f:phase": {}, "f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    assert_eq!(
        running["spec"]["nodeName"], "n",
        "the main resource's applier keeps its fields"
    );
}

#[test]
fn malformed_configurations_are_rejected() {
    let invalid = |applied: Value| match apply(None, &applied, core("ConfigMap"), &by("m"), false) {
        Err(PatchError::Invalid(reason)) => reason,
        other => panic!("expected invalid, got {other:?}"),
    };
    let mut with_managed = config_map(json!({}));
    with_managed["metadata"]["managedFields"] = json!([]);
    assert_eq!(invalid(with_managed), "metadata.managedFields must be nil");
    assert!(
        invalid(json!({"apiVersion": "v1", "metadata": {"name": "x"}}))
            .contains("kind must be set")
    );
    assert!(invalid(json!(["x"])).contains("must be a JSON object"));
    let duplicated = deployment(json!([{"name": "a"}, {"name": "a"}]));
    let err = apply(None, &duplicated, apps("Deployment"), &by("m"), false).unwrap_err();
    assert!(
        err.to_string()
            .contains("duplicate entries for key [name=\"a\"]"),
        "{err}"
    );
    let keyless = deployment(json!([{"image": "x"}]));
    let err = apply(None, &keyless, apps("Deployment"), &by("m"), false).unwrap_err();
    assert!(err.to_string().contains("omits all key fields"), "{err}");
}

/// The openAPIV3Schema of the project's SparkApplication CRD (`deploy/crds/`).
pub(super) fn spark_crd_schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/crds/sparkoperator.k8s.io_sparkapplications.yaml"
    );
    let crd: Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("the SparkApplication CRD"))
            .expect("CRD YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn custom_resources_follow_their_crd_schema() {
    let schema = spark_crd_schema();
    let types = TypeInfo {
        group: "sparkoperator.k8s.io",
        kind: "SparkApplication",
        crd_schema: Some(&schema),
    };
    let app = |cores: i64, conf: Value| {
        json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": {"name": "pi"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "3.5.0", "sparkConf": conf,
                     "driver": {"cores": cores, "env": [{"name": "A", "value": "1"}]}, "executor": {"instances": 2}}
        })
    };
    let created = apply(
        None,
        &app(1, json!({"spark.a": "x"})),
        types,
        &by("kubectl"),
        false,
    )
    .unwrap();
    let fields = &entry(&created, "kubectl")["fieldsV1"]["f:spec"];
    assert_eq!(fields["f:driver"]["f:cores"], json!({}));
    assert_eq!(fields["f:sparkConf"], json!({"f:spark.a": {}}));
    assert_eq!(
        fields["f:driver"]["f:env"],
        json!({}),
        "lists without x-kubernetes-list-type are atomic"
    );
    assert!(fields.get(".").is_none());

    let found = conflicts(apply(
        Some(&created),
        &app(2, json!({"spark.a": "x"})),
        types,
        &by("operator"),
        false,
    ));
    assert_eq!(
        found.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        vec![".spec.driver.cores"]
    );
    let changed = apply(
        Some(&created),
        &app(1, json!({"spark.b": "y"})),
        types,
        &by("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(changed["spec"]["sparkConf"], json!({"spark.b": "y"}));
}
