//! `pods/{name}/portforward` over WebSockets, driven by kube-rs's Portforwarder, to a process
//! listening on the pod's loopback IP.

mod common;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn bytes_travel_both_ways_to_the_pods_address() {
    let cluster = common::start().await;
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    // A server in the "pod": an echo that upper-cases, on the pod's own loopback address.
    let listener = tokio::net::TcpListener::bind("127.1.7.9:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 64];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    let _ = stream.write_all(&buffer[..read].to_ascii_uppercase()).await;
                }
            });
        }
    });
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
