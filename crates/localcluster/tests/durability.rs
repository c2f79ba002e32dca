//! With a data directory, objects, served CRDs, the resourceVersion counter and the CA survive
//! a restart.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{PostParams, ResourceExt};
use localcluster::Options;
use serde_json::json;
use testkit::cluster;

#[tokio::test]
async fn restart_keeps_objects_and_increasing_versions() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };

    let first = cluster::start_with(options.clone()).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(first.client().unwrap());
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "kept"}, "data": {"k": "v"}})).unwrap();
    let created = maps.create(&PostParams::default(), &map).await.unwrap();
    let before: u64 = created.resource_version().unwrap().parse().unwrap();
    let ca = first.ca_pem().unwrap().to_string();
    first.shutdown().await;

    let second = cluster::start_with(options).await;
    assert_eq!(
        second.ca_pem(),
        Some(ca.as_str()),
        "the CA is kept, so old kubeconfigs still work"
    );
    let maps: Api<ConfigMap> = Api::default_namespaced(second.client().unwrap());
    let kept = maps.get("kept").await.unwrap();
    assert_eq!(kept.uid(), created.uid());
    assert_eq!(kept.data.unwrap()["k"], "v");
    let next = maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap(),
        )
        .await
        .unwrap();
    let after: u64 = next.resource_version().unwrap().parse().unwrap();
    assert!(after > before, "{after} should follow {before}");
    second.shutdown().await;
}
