//! Watches through kube-rs: watcher and reflector across server-side watch timeouts, streaming
//! lists (sendInitialEvents), bookmarks, and 410 Gone for resourceVersions older than the history.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use localcluster::Options;
use serde_json::json;
use testkit::{cluster, eventually};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn names(store: &reflector::Store<ConfigMap>) -> BTreeSet<String> {
    store.state().iter().map(|m| m.name_any()).collect()
}

#[tokio::test]
async fn reflector_follows_changes_across_watch_timeouts() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    maps.create(&PostParams::default(), &config_map("before"))
        .await
        .unwrap();

    // The server ends each watch after one second; the watcher resumes from the last version.
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(maps.clone(), watcher::Config::default().timeout(1)),
    )
    .applied_objects()
    .boxed();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(names(&reader), BTreeSet::from(["before".to_string()]));

    for round in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        maps.create(
            &PostParams::default(),
            &config_map(&format!("round-{round}")),
        )
        .await
        .unwrap();
    }
    maps.delete("before", &Default::default()).await.unwrap();
    let expected: BTreeSet<String> = (0..3).map(|r| format!("round-{r}")).collect();
    eventually(10, || async { (names(&reader) == expected).then_some(()) }).await;
    task.abort();
    cluster.shutdown().await;
}

#[tokio::test]
async fn streaming_lists_end_initial_events_with_a_bookmark() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    for name in ["a", "b"] {
        maps.create(&PostParams::default(), &config_map(name))
            .await
            .unwrap();
    }
    let mut events = watcher(maps.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = BTreeSet::new();
    loop {
        match events.try_next().await.unwrap().expect("stream continues") {
            watcher::Event::Init => {}
            watcher::Event::InitApply(map) => {
                initial.insert(map.name_any());
            }
            watcher::Event::InitDone => break,
            other => panic!("unexpected event before the initial list ended: {other:?}"),
        }
    }
    assert_eq!(initial, BTreeSet::from(["a".to_string(), "b".to_string()]));
    maps.create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    match events.try_next().await.unwrap().expect("stream continues") {
        watcher::Event::Apply(map) => assert_eq!(map.name_any(), "c"),
        other => panic!("expected the new object, got {other:?}"),
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn raw_watches_resume_bookmark_and_expire() {
    let options = Options {
        watch_history: 5,
        ..Options::default()
    };
    let cluster = cluster::start_with(options).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    let first = maps
        .create(&PostParams::default(), &config_map("first"))
        .await
        .unwrap();
    let from = first.resource_version().unwrap();
    maps.create(&PostParams::default(), &config_map("second"))
        .await
        .unwrap();

    // From a known version: only what came after it, then a bookmark at the end of the watch.
    let params = WatchParams::default().timeout(1);
    let events: Vec<WatchEvent<ConfigMap>> = maps
        .watch(&params, &from)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let added: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Added(m) => Some(m.name_any()),
            _ => None,
        })
        .collect();
    assert_eq!(added, ["second"]);
    assert!(
        matches!(events.last(), Some(WatchEvent::Bookmark(_))),
        "{events:?}"
    );

    // Push the first version out of the history: watching from it is 410 Gone.
    for i in 0..6 {
        maps.create(&PostParams::default(), &config_map(&format!("filler-{i}")))
            .await
            .unwrap();
    }
    let mut stream = maps
        .watch(&WatchParams::default().timeout(5), &from)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected 410, got {other:?}"),
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn watches_over_websockets_as_fabric8_opens_them() {
    use tokio_tungstenite::tungstenite::Message;

    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    maps.create(&PostParams::default(), &config_map("existing"))
        .await
        .unwrap();
    let base = cluster.http_url().unwrap().replacen("http://", "ws://", 1);
    let url = format!("{base}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut next_event = async || loop {
        match socket.next().await.expect("socket open").unwrap() {
            Message::Text(text) => {
                return serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            _ => continue,
        }
    };
    let first = next_event().await;
    assert_eq!(
        (
            first["type"].as_str(),
            first["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("existing"))
    );
    maps.create(&PostParams::default(), &config_map("new"))
        .await
        .unwrap();
    let second = next_event().await;
    assert_eq!(
        (
            second["type"].as_str(),
            second["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("new"))
    );
    cluster.shutdown().await;
}

/// Each event is written as the API server writes it, `type` first: kube-rs and client-go read
/// the object straight into its type only then, and buffer it whole otherwise.
#[tokio::test]
async fn watch_events_name_their_type_before_the_object() {
    use futures::AsyncBufReadExt;

    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    maps.create(&PostParams::default(), &config_map("existing"))
        .await
        .unwrap();
    let request = http::Request::get(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0&timeoutSeconds=5",
    )
    .body(Vec::new())
    .unwrap();
    let mut lines = client.request_stream(request).await.unwrap().lines();
    let line = lines.next().await.expect("an event").unwrap();
    assert!(
        line.starts_with(r#"{"type":"ADDED","object":{"#),
        "event begins with its type: {line}"
    );
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["object"]["metadata"]["name"], "existing");
    cluster.shutdown().await;
}
