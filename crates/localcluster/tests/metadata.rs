//! Metadata-only reads (`PartialObjectMetadata`) through kube-rs: get, list and
//! `watcher` of `PartialObjectMeta` receive each object's metadata alone, and the wrong form is refused.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;

use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use testkit::cluster;

const OBJECT: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

fn labelled(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "pi"}},
        "data": {"spark.properties": "spark.executor.instances=2\n".repeat(50)},
    }))
    .unwrap()
}

/// The raw answer to a GET of `path` with `accept`: its status and body.
async fn raw_get(client: &kube::Client, path: &str, accept: &str) -> (u16, serde_json::Value) {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .unwrap();
    let response = client.send(request.map(Into::into)).await.unwrap();
    let status = response.status().as_u16();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn gets_lists_and_watches_carry_the_metadata_alone() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    maps.create(&PostParams::default(), &labelled("first"))
        .await
        .unwrap();

    let one = maps.get_metadata("first").await.unwrap();
    assert_eq!(one.labels().get("app").map(String::as_str), Some("pi"));
    assert_eq!(one.types.unwrap().kind, "PartialObjectMetadata");
    let listed = maps
        .list_metadata(&ListParams::default().labels("app=pi"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    // On the wire: no data, and the kinds of the metadata-only forms.
    let path = "/api/v1/namespaces/default/configmaps";
    let (status, list) = raw_get(&client, path, LIST).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "first");
    assert!(list["items"][0].get("data").is_none(), "{list}");
    let (status, object) = raw_get(&client, &format!("{path}/first"), OBJECT).await;
    assert_eq!(status, 200);
    assert!(object.get("data").is_none(), "{object}");

    // As the API server does, a list asked for as single objects (and a get as a list) is
    // not acceptable.
    let (status, refusal) = raw_get(&client, path, OBJECT).await;
    assert_eq!(
        (status, refusal["reason"].as_str()),
        (406, Some("NotAcceptable"))
    );
    let (status, _) = raw_get(&client, &format!("{path}/first"), LIST).await;
    assert_eq!(status, 406);
    // A write asked for as a list is refused too, but only once done: the API server finds
    // the form wrong when it shapes the answer.
    let body = serde_json::to_vec(&labelled("written")).unwrap();
    let create = http::Request::post(path)
        .header(http::header::ACCEPT, LIST)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    let response = client.send(create.map(Into::into)).await.unwrap();
    assert_eq!(response.status().as_u16(), 406);
    maps.delete("written", &Default::default()).await.unwrap();

    // A metadata watcher sees objects come and their labels change.
    let metadata: Api<PartialObjectMeta<ConfigMap>> = Api::default_namespaced(client.clone());
    let mut events = watcher(metadata, watcher::Config::default())
        .applied_objects()
        .boxed();
    let initial = events.try_next().await.unwrap().unwrap();
    assert_eq!(initial.name_any(), "first");
    maps.create(&PostParams::default(), &labelled("second"))
        .await
        .unwrap();
    let added = events.try_next().await.unwrap().unwrap();
    assert_eq!(added.name_any(), "second");
    let relabel = json!({"metadata": {"labels": {"app": "pi-2"}}});
    maps.patch("second", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    let changed = events.try_next().await.unwrap().unwrap();
    assert_eq!(
        changed.labels().get("app").map(String::as_str),
        Some("pi-2")
    );
    cluster.shutdown().await;
}
