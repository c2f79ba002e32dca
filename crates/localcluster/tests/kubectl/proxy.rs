//! The proxy subresources as a Spark UI is reached on a real cluster: `kubectl get --raw` and
//! `kubectl proxy` through a Service and a pod, to a web server on the pod's IP (the simulated
//! pod runs none), with the links of its pages kept behind the proxy.

use localcluster::simulation::NodesConfig;
use testkit::net::{free_port, http_get};
use testkit::{Kubectl, cluster, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A web server in a "pod", like Spark's UI: `/` redirects to `/jobs/` at its own address, whose
/// page links to `/stages/`. Its port.
async fn ui_server(ip: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let response = match path.as_str() {
                    "/" => format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://{address}/jobs/\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    "/jobs/" => {
                        let page = "<html><body><a href=\"/stages/\">Stages</a></body></html>";
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html;charset=utf-8\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                            page.len()
                        )
                    }
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string(),
                };
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    address.port()
}

#[tokio::test]
async fn a_pods_web_ui_is_reached_through_the_service_and_pod_proxy() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: driver\n  labels: {app: ui}\n  \
               annotations: {localcluster/run-seconds: forever}\nspec:\n  containers:\n  \
               - name: main\n    image: apache/spark:4.0.1\n";
    assert!(kubectl.apply(pod).await.0);
    let ip_of = [
        "get",
        "pod",
        "driver",
        "-o",
        "jsonpath={.status.phase} {.status.podIP}",
    ];
    let ip = eventually(10, || async {
        let printed = kubectl.ok(&ip_of).await;
        printed.strip_prefix("Running ").map(str::to_string)
    })
    .await;
    let port = ui_server(&ip).await;
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: ui}}\nspec:\n  selector: {{app: ui}}\n  \
         ports: [{{name: http, port: 80, targetPort: {port}}}]\n"
    );
    assert!(kubectl.apply(&service).await.0);

    let through_service = "/api/v1/namespaces/default/services/ui:http/proxy";
    let page = kubectl
        .ok(&["get", "--raw", &format!("{through_service}/jobs/")])
        .await;
    assert_eq!(
        page,
        format!("<html><body><a href=\"{through_service}/stages/\">Stages</a></body></html>")
    );
    // The redirect to the server's own address stays behind the proxy, and kubectl follows it.
    let followed = kubectl
        .ok(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/services/ui:80/proxy/",
        ])
        .await;
    assert!(followed.contains("Stages"), "{followed}");
    let through_pod = format!("/api/v1/namespaces/default/pods/driver:{port}/proxy");
    let page = kubectl
        .ok(&["get", "--raw", &format!("{through_pod}/jobs/")])
        .await;
    assert!(page.contains(&format!("{through_pod}/stages/")), "{page}");

    // kubectl proxy, as a browser would reach the UI.
    let local = free_port();
    let _proxy = kubectl.spawn(&["proxy", &format!("--port={local}")], &[]);
    let address: std::net::SocketAddr = format!("127.0.0.1:{local}").parse().unwrap();
    let (code, body) = eventually(10, || async {
        let probe = tokio::net::TcpStream::connect(address).await.ok()?;
        drop(probe);
        Some(http_get(address, &format!("{through_service}/jobs/")).await)
    })
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!("{through_service}/stages/")),
        "{body}"
    );

    // A Service that selects no running pod has no endpoint to reach.
    let lonely = service
        .replace("name: ui}", "name: lonely}")
        .replace("app: ui", "app: none");
    assert!(kubectl.apply(&lonely).await.0);
    let (reached, output) = kubectl
        .run(&[
            "get",
            "--raw",
            "/api/v1/namespaces/default/services/lonely:80/proxy/",
        ])
        .await;
    assert!(!reached);
    assert!(
        output.contains("no endpoints available for service \"lonely\""),
        "{output}"
    );
    cluster.shutdown().await;
}
