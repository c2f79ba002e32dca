//! CustomResourceDefinitions through kube-rs, with the Spark operator's CRDs (`deploy/crds/`, the
//! Kubeflow Spark Operator's API with schemas of thousands of properties): served at once
//! (discovery), schema validation (422), pruning and strict field validation, defaults, status
//! subresource, printer columns as Tables, and removal with the CRD.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::{Discovery, verbs};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use testkit::cluster;

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(cluster::crd_dir()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
}

fn spark_apps(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    Api::default_namespaced_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

fn spark_app(name: &str, spec_extra: Value) -> DynamicObject {
    let mut spec = json!({
        "type": "Scala", "mode": "cluster", "sparkVersion": "3.5.5", "image": "spark:3.5.5",
        "mainClass": "org.apache.spark.examples.SparkPi",
        "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
        "driver": {"cores": 1, "memory": "512m"},
        "executor": {"instances": 1, "cores": 1, "memory": "512m"},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

#[tokio::test]
async fn kubeflow_crds_are_served_validated_and_removed() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    install_crds(&client).await;

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    let (resource, capabilities) = discovery
        .resolve_gvk(&gvk)
        .expect("served right after creation");
    assert_eq!(resource.plural, "sparkapplications");
    assert!(capabilities.supports_operation(verbs::WATCH));
    assert!(
        capabilities
            .subresources
            .iter()
            .any(|(sub, _)| sub.plural == "status")
    );

    let apps = spark_apps(&client);
    let unknown = json!({"notAField": true});
    let created = apps
        .create(&PostParams::default(), &spark_app("pi", unknown.clone()))
        .await
        .unwrap();
    assert!(
        created.data["spec"].get("notAField").is_none(),
        "unknown fields are pruned"
    );
    assert!(
        created.data.get("status").is_none(),
        "status is not set through the main resource"
    );

    // Strict field validation rejects what pruning would drop.
    let url = "/apis/sparkoperator.k8s.io/v1beta2/namespaces/default/sparkapplications?fieldValidation=Strict";
    let body = serde_json::to_vec(&spark_app("strict", unknown)).unwrap();
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let kube::Error::Api(strict_error) = client.request::<Value>(request).await.unwrap_err() else {
        panic!("expected an API error")
    };
    assert_eq!(strict_error.code, 400);
    assert!(
        strict_error
            .message
            .contains("unknown field \"spec.notAField\""),
        "{}",
        strict_error.message
    );

    let kube::Error::Api(invalid) = apps
        .create(
            &PostParams::default(),
            &spark_app("bad", json!({"driver": {"cores": "many"}})),
        )
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid
            .message
            .starts_with("SparkApplication.sparkoperator.k8s.io \"bad\" is invalid"),
        "{}",
        invalid.message
    );
    assert!(
        invalid.message.contains("spec.driver.cores"),
        "{}",
        invalid.message
    );

    let status = json!({"status": {"applicationState": {"state": "RUNNING"}, "driverInfo": {}, "executionAttempts": 1}});
    let running = apps
        .patch_status("pi", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        running.data["status"]["applicationState"]["state"],
        "RUNNING"
    );
    assert_eq!(
        running.metadata.generation, created.metadata.generation,
        "status writes keep the generation"
    );
    let respec = json!({"spec": {"image": "spark:4.0.0"}, "status": {"applicationState": {"state": "FAILED"}}});
    let updated = apps
        .patch("pi", &PatchParams::default(), &Patch::Merge(&respec))
        .await
        .unwrap();
    assert_eq!(
        updated.data["status"]["applicationState"]["state"],
        "RUNNING"
    );
    assert_eq!(
        updated.metadata.generation,
        created.metadata.generation.map(|g| g + 1)
    );

    // Printer columns, as kubectl asks for them.
    let request = http::Request::get(
        "/apis/sparkoperator.k8s.io/v1beta2/namespaces/default/sparkapplications",
    )
    .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: Value = client.request(request).await.unwrap();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The CRD's columns in its order (Kubeflow's has Suspend second), after Name.
    assert_eq!(
        columns,
        [
            "Name", "Status", "Attempts", "Start", "Finish", "Suspend", "Age"
        ]
    );
    assert_eq!(table["rows"][0]["cells"][0], "pi");
    assert_eq!(table["rows"][0]["cells"][1], "RUNNING");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .get("sparkapplications.sparkoperator.k8s.io")
        .await
        .unwrap();
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    crds.delete(
        "sparkapplications.sparkoperator.k8s.io",
        &Default::default(),
    )
    .await
    .unwrap();
    let kube::Error::Api(gone) = apps.list(&ListParams::default()).await.unwrap_err() else {
        panic!("expected an API error")
    };
    assert_eq!(gone.code, 404);
    cluster.shutdown().await;
}

#[tokio::test]
async fn recorded_events_show_up_as_core_events() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    install_crds(&client).await;
    let app = spark_apps(&client)
        .create(&PostParams::default(), &spark_app("pi", json!({})))
        .await
        .unwrap();
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    let reference = app.object_ref(&ApiResource::from_gvk(&gvk));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "spark-operator".into(),
            instance: Some("op-0".into()),
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Submitted".into(),
        note: Some("driver pod created".into()),
        action: "Submit".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();

    // kubectl describe reads core/v1 Events of the object by field selector.
    let events: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let selector = format!(
        "involvedObject.name=pi,involvedObject.uid={}",
        app.uid().unwrap()
    );
    let listed = events
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let core = &listed.items[0];
    assert_eq!(core.reason.as_deref(), Some("Submitted"));
    assert_eq!(core.message.as_deref(), Some("driver pod created"));
    assert_eq!(
        core.involved_object.kind.as_deref(),
        Some("SparkApplication")
    );
    assert_eq!(core.series.as_ref().and_then(|s| s.count), Some(2));
    cluster.shutdown().await;
}
