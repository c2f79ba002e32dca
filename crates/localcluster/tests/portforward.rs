//! `pods/{name}/portforward` over WebSockets, driven by kube-rs's Portforwarder, to a process
//! listening on the pod's loopback IP.

use kube::api::{Patch, PatchParams};
use serde_json::json;
use testkit::cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn bytes_travel_both_ways_to_the_pods_address() {
    let cluster = cluster::start().await;
    let pods = cluster::create_pod(&cluster, "web", "nginx").await;
    let port = cluster::upper_case_echo("127.1.7.9").await;
    let running = json!({"status": {"phase": "Running", "podIP": "127.1.7.9"}});
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(&running))
        .await
        .unwrap();

    for _ in 0..2 {
        let mut forwarder = pods.portforward("web", &[port]).await.unwrap();
        let mut stream = forwarder.take_stream(port).unwrap();
        stream.write_all(b"hello pod").await.unwrap();
        let mut answer = [0u8; 9];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HELLO POD");
        drop(stream);
        let _ = forwarder.join().await;
    }

    // Nothing listening: the error channel says so.
    let mut forwarder = pods.portforward("web", &[port + 1]).await.unwrap();
    let error = forwarder.take_error(port + 1).unwrap().await;
    assert!(error.unwrap_or_default().contains("error forwarding port"));
}
