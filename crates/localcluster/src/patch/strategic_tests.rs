//! Strategic merge patch against the behaviour of the API server, with the patches kubectl and
//! kube-rs send.

use serde_json::{Value, json};

use super::{PatchError, strategic_merge_patch};

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "driver", "labels": {"app": "spark"}, "finalizers": ["a"],
                     "ownerReferences": [{"uid": "u1", "name": "app", "kind": "SparkApplication"}]},
        "spec": {
            "containers": [
                {"name": "spark", "image": "spark:3", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 4040, "name": "ui"}],
                 "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]},
                {"name": "sidecar", "image": "busybox"}
            ],
            "volumes": [{"name": "conf", "configMap": {"name": "spark-conf"}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "imagePullSecrets": [{"name": "registry"}]
        },
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
    })
}

fn patch_pod(patch: Value) -> Value {
    strategic_merge_patch(&pod(), &patch, "", "Pod").expect("patch applies")
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

#[test]
fn containers_merge_by_name() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "spark", "image": "spark:4"},
        {"name": "new", "image": "alpine"}
    ]}}));
    let containers = &patched["spec"]["containers"];
    // As in Kubernetes, items the patch adds come right after the patch's other items.
    assert_eq!(names(containers), vec!["spark", "new", "sidecar"]);
    assert_eq!(containers[0]["image"], "spark:4");
    assert_eq!(
        containers[0]["env"].as_array().unwrap().len(),
        2,
        "fields not in the patch are kept"
    );
    assert_eq!(containers[2]["image"], "busybox");
}

#[test]
fn nested_lists_merge_by_their_keys() {
    let patched = patch_pod(json!({"spec": {"containers": [{
        "name": "spark",
        "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 7077}, {"containerPort": 4040, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
    }]}}));
    let spark = &patched["spec"]["containers"][0];
    assert_eq!(
        spark["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(
        spark["ports"],
        json!([{"containerPort": 7077}, {"containerPort": 4040, "name": "ui", "protocol": "TCP"}]),
        "patch order wins for items the patch names"
    );
    assert_eq!(names(&spark["volumeMounts"]), vec!["data", "conf"]);
}

#[test]
fn volumes_image_pull_secrets_host_aliases_and_owner_references_merge() {
    let patched = patch_pod(json!({
        "metadata": {"ownerReferences": [{"uid": "u2", "name": "other", "kind": "Job"}]},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "other"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}]
        }
    }));
    assert_eq!(names(&patched["spec"]["volumes"]), vec!["data", "conf"]);
    assert_eq!(
        names(&patched["spec"]["imagePullSecrets"]),
        vec!["other", "registry"]
    );
    assert_eq!(
        patched["spec"]["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["a"]}])
    );
    let uids: Vec<&str> = patched["metadata"]["ownerReferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, vec!["u2", "u1"]);
}

#[test]
fn tolerations_are_replaced() {
    let patched = patch_pod(json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}));
    assert_eq!(
        patched["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn conditions_merge_by_type() {
    let patched = patch_pod(json!({"status": {"conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}
    ]}}));
    assert_eq!(
        patched["status"]["conditions"],
        json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}])
    );
    assert_eq!(patched["status"]["phase"], "Pending");
}

#[test]
fn finalizers_merge_as_a_set() {
    let patched = patch_pod(json!({"metadata": {"finalizers": ["b", "a"]}}));
    assert_eq!(patched["metadata"]["finalizers"], json!(["b", "a"]));
    let patched = patch_pod(json!({"metadata": {"finalizers": ["c"]}}));
    assert_eq!(patched["metadata"]["finalizers"], json!(["c", "a"]));
    let patched = patch_pod(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
    assert_eq!(patched["metadata"]["finalizers"], json!([]));
    let patched = patch_pod(json!({"metadata": {"finalizers": null}}));
    assert!(patched["metadata"].get("finalizers").is_none());
}

#[test]
fn delete_directive_removes_list_items() {
    let patched =
        patch_pod(json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}));
    assert_eq!(names(&patched["spec"]["containers"]), vec!["spark"]);
    let patched = patch_pod(
        json!({"spec": {"containers": [{"name": "spark", "env": [{"name": "A", "$patch": "delete"}]}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}])
    );
}

#[test]
fn replace_directive_replaces_lists_and_maps() {
    let patched = patch_pod(
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}),
    );
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "only", "image": "x"}])
    );
    let patched =
        patch_pod(json!({"metadata": {"labels": {"$patch": "replace", "role": "driver"}}}));
    assert_eq!(patched["metadata"]["labels"], json!({"role": "driver"}));
    let patched = patch_pod(json!({"$patch": "replace", "kind": "Pod"}));
    assert_eq!(patched, json!({"kind": "Pod"}));
}

#[test]
fn delete_directive_on_a_map_empties_it() {
    let patched = patch_pod(json!({"metadata": {"labels": {"$patch": "delete"}}}));
    assert_eq!(patched["metadata"]["labels"], json!({}));
    let patched = patch_pod(json!({"spec": {"affinity": {"$patch": "delete"}}}));
    assert!(
        patched["spec"].get("affinity").is_none(),
        "a deleted map that did not exist stays absent"
    );
}

#[test]
fn retain_keys_clears_other_fields() {
    let deployment =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let patched = strategic_merge_patch(&deployment, &patch, "apps", "Deployment").unwrap();
    assert_eq!(patched, json!({"spec": {"strategy": {"type": "Recreate"}}}));

    let patched = patch_pod(json!({"spec": {"volumes": [
        {"name": "conf", "emptyDir": {}, "$retainKeys": ["emptyDir", "name"]}
    ]}}));
    assert_eq!(
        patched["spec"]["volumes"],
        json!([{"name": "conf", "emptyDir": {}}])
    );

    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    let err = strategic_merge_patch(&deployment, &bad, "apps", "Deployment").unwrap_err();
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
}

#[test]
fn set_element_order_reorders_lists() {
    // What kubectl apply sends to move `sidecar` first and change nothing else.
    let patched = patch_pod(
        json!({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "spark"}]}}),
    );
    assert_eq!(
        names(&patched["spec"]["containers"]),
        vec!["sidecar", "spark"]
    );
    let patched = patch_pod(json!({"spec": {
        "$setElementOrder/containers": [{"name": "new"}, {"name": "spark"}, {"name": "sidecar"}],
        "containers": [{"name": "new", "image": "x"}]
    }}));
    assert_eq!(
        names(&patched["spec"]["containers"]),
        vec!["new", "spark", "sidecar"]
    );
    let patched = patch_pod(
        json!({"metadata": {"$setElementOrder/finalizers": ["z", "a"], "finalizers": ["z"]}}),
    );
    assert_eq!(patched["metadata"]["finalizers"], json!(["z", "a"]));
}

#[test]
fn server_only_items_keep_their_neighbours() {
    let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let patch = json!({"spec": {"containers": [{"name": "d"}, {"name": "b", "image": "x"}]}});
    let patched = strategic_merge_patch(&live, &patch, "", "Pod").unwrap();
    // `a` stays before `b` (its neighbour on the server); `d`, unknown to the server, leads.
    assert_eq!(
        names(&patched["spec"]["containers"]),
        vec!["d", "a", "b", "c"]
    );
}

#[test]
fn nulls_delete_and_are_not_stored() {
    let patched = patch_pod(
        json!({"metadata": {"labels": {"app": null, "new": "x"}}, "spec": {"affinity": {"x": null}}}),
    );
    assert_eq!(patched["metadata"]["labels"], json!({"new": "x"}));
    assert_eq!(patched["spec"]["affinity"], json!({}));
}

#[test]
fn services_and_workloads() {
    let service = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
                                  "selector": {"app": "x"}}});
    let patched = strategic_merge_patch(
        &service,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
        "",
        "Service",
    )
    .unwrap();
    assert_eq!(
        patched["spec"]["ports"][0],
        json!({"port": 80, "name": "http", "targetPort": 8080})
    );
    assert_eq!(patched["spec"]["ports"].as_array().unwrap().len(), 2);

    let job =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "a"}]}}}});
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "b"}]}}}});
    let patched = strategic_merge_patch(&job, &patch, "batch", "Job").unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"],
        json!([{"name": "main", "image": "b"}])
    );
}

#[test]
fn unknown_builtin_kinds_still_honour_directives() {
    let map = json!({"data": {"a": "1", "b": "2"}});
    let patched = strategic_merge_patch(
        &map,
        &json!({"data": {"$patch": "replace", "c": "3"}}),
        "",
        "ConfigMap",
    )
    .unwrap();
    assert_eq!(patched, json!({"data": {"c": "3"}}));
}

#[test]
fn malformed_patches_are_rejected() {
    let err = |patch: Value| match strategic_merge_patch(&pod(), &patch, "", "Pod") {
        Err(PatchError::Invalid(reason)) => reason,
        other => panic!("expected an invalid patch, got {other:?}"),
    };
    assert!(
        err(json!({"spec": {"containers": [{"image": "x"}]}}))
            .contains("does not contain declared merge key: name")
    );
    assert!(
        err(json!({"spec": {"containers": [{"name": "x", "$patch": "bogus"}]}}))
            .starts_with("unknown patch type")
    );
    assert!(
        err(json!({"spec": {"containers": [{"$patch": "merge"}]}}))
            .contains("cannot yet be specified")
    );
    assert!(err(json!({"metadata": {"$patch": "bogus"}})).starts_with("unknown patch type"));
    assert!(
        err(json!({"metadata": {"finalizers": [["x"]]}}))
            .contains("list element types are not identical")
    );
    let empty = json!({"metadata": {"finalizers": []}});
    let nested = strategic_merge_patch(
        &empty,
        &json!({"metadata": {"finalizers": [["x"]]}}),
        "",
        "Pod",
    );
    assert!(nested.unwrap_err().to_string().contains("lists of lists"));
    assert_eq!(err(json!([1])), "invalid JSON document");
}
