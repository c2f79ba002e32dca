//! `pods/log` with `follow=true`: what was printed, then what is printed next, until the pod ends.

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use kube::api::{LogParams, Patch, PatchParams};
use serde_json::json;
use testkit::cluster;

#[tokio::test]
async fn a_followed_log_streams_until_the_pod_ends() {
    let cluster = cluster::start().await;
    let pods = cluster::create_pod(&cluster, "talker", "busybox").await;
    let running = json!({"status": {"phase": "Running"}});
    pods.patch_status("talker", &PatchParams::default(), &Patch::Merge(&running))
        .await
        .unwrap();
    cluster
        .cluster()
        .append_pod_log("default", "talker", "main", "one\n");

    let params = LogParams {
        follow: true,
        ..Default::default()
    };
    let mut lines = pods
        .log_stream("talker", &params)
        .await
        .unwrap()
        .lines()
        .boxed();
    assert_eq!(lines.next().await.unwrap().unwrap(), "one");

    cluster
        .cluster()
        .append_pod_log("default", "talker", "main", "two\n");
    assert_eq!(
        lines.next().await.unwrap().unwrap(),
        "two",
        "new output arrives while following"
    );

    cluster
        .cluster()
        .append_pod_log("default", "talker", "main", "three\n");
    let done = json!({"status": {"phase": "Succeeded"}});
    pods.patch_status("talker", &PatchParams::default(), &Patch::Merge(&done))
        .await
        .unwrap();
    let rest: Vec<String> =
        tokio::time::timeout(std::time::Duration::from_secs(10), lines.try_collect())
            .await
            .expect("the stream ends once the pod has ended")
            .unwrap();
    assert_eq!(rest, ["three"]);

    // Without follow, the log is returned at once, tail honoured.
    let tail = LogParams {
        tail_lines: Some(2),
        ..Default::default()
    };
    assert_eq!(pods.logs("talker", &tail).await.unwrap(), "two\nthree\n");
}
