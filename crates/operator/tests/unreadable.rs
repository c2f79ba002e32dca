//! An application the operator's types cannot read (stored under a looser CRD, as clusters that
//! migrate from older operators have) is reported on its own and never stops the others.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::fixtures::spark_pi;
use testkit::{Env, eventually};

#[tokio::test]
async fn an_unreadable_application_fails_alone() {
    let env = Env::without_operator().await;
    // The CRD loosened to accept any spec, as a hand-edited or very old CRD would.
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let mut crd = crds
        .get("sparkapplications.sparkoperator.k8s.io")
        .await
        .unwrap();
    for version in &mut crd.spec.versions {
        let schema = version
            .schema
            .as_mut()
            .unwrap()
            .open_api_v3_schema
            .as_mut()
            .unwrap();
        let spec = schema.properties.as_mut().unwrap().get_mut("spec").unwrap();
        *spec = serde_json::from_value(
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        )
        .unwrap();
    }
    crds.replace(
        "sparkapplications.sparkoperator.k8s.io",
        &PostParams::default(),
        &crd,
    )
    .await
    .unwrap();

    let resource = ApiResource::erase::<SparkApplication>(&());
    let dynamic: Api<DynamicObject> =
        Api::namespaced_with(env.client.clone(), "default", &resource);
    let mut broken: DynamicObject = serde_yaml::from_str(&spark_pi("broken", "", "")).unwrap();
    broken.data["spec"]["driver"]["cores"] = serde_json::json!("as many as you have");
    eventually(10, || async {
        dynamic.create(&PostParams::default(), &broken).await.ok()
    })
    .await;
    let mut env = env;
    env.start_operator();
    env.create(&spark_pi(
        "fine",
        r#""localcluster/run-seconds": "0.2""#,
        "",
    ))
    .await;

    env.wait_for("fine", State::Completed, 30).await;
    let reported = eventually(30, || async {
        let object = dynamic.get("broken").await.ok()?;
        let state = object.data["status"]["applicationState"].clone();
        (state["state"] == "FAILED").then_some(state)
    })
    .await;
    let message = reported["errorMessage"].as_str().unwrap();
    assert!(message.contains("spec.driver.cores"), "{message}");
    assert!(
        env.event_reasons_including("broken", &["SparkApplicationFailed"])
            .await
            .iter()
            .any(|r| r == "SparkApplicationFailed")
    );
    assert!(env.pod_names("broken", "driver").await.is_empty());
}
