//! The chart with `webhook.enable`: installed as `helm install` would install it
//! (`testkit::helm::install`), its webhook Deployment's container run as a process with the chart's
//! arguments and a token of the chart's ServiceAccount for it, reached by the local cluster
//! through the chart's Service. Bad applications are denied at `kubectl apply` in the job
//! namespaces only, pods are mutated, an upgrade keeps the webhooks registered, the webhook's
//! probes and metrics answer, it calls nothing the chart does not grant and is granted nothing
//! it does not call, and uninstalling removes its webhook configurations.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use testkit::eventually;
use testkit::fixtures::spark_pi;
use testkit::helm::install::{Process, RELEASE_NAMESPACE, find, install};
use testkit::kubectl::path_arg;
use testkit::net::{free_port, http_get};
use testkit::proxy::Proxy;
use testkit::rbac::{Permission, chart_grants, permission};

const VALUES: &str = "spark:\n  jobNamespaces: [default]\nwebhook:\n  enable: true\n";
const WEBHOOK: &str = "spark-operator-webhook";
const VALIDATING: &str =
    "validate-sparkoperator-k8s-io-v1beta2-sparkapplication.sparkoperator.k8s.io";
const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

/// The tests' application in `namespace`, with `memory` for its driver and an environment
/// variable the mutating webhook is to give the driver's pod; as JSON, which kubectl reads too.
fn application(namespace: &str, name: &str, memory: &str) -> String {
    let mut app: serde_json::Value = serde_yaml::from_str(&spark_pi(name, "", "")).unwrap();
    app["metadata"]["namespace"] = namespace.into();
    app["spec"]["driver"]["memory"] = memory.into();
    app["spec"]["driver"]["env"] = json!([{"name": "SET_BY", "value": "the-webhook"}]);
    app.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_webhook_denies_bad_applications_mutates_pods_and_leaves_with_the_release() {
    let installed = install(VALUES).await;
    let admin = installed.admin.clone();
    let docs = &installed.documents;
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let named = |d: &&serde_json::Value| d["kind"] == kind && d["metadata"]["name"] == WEBHOOK;
        assert_eq!(docs.iter().filter(named).count(), 1, "{kind}");
    }
    let deployment = installed.deployment(WEBHOOK);
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let account = pod_spec["serviceAccountName"].as_str().unwrap().to_string();

    // Its requests go through a recording proxy to the cluster's plain-HTTP port, with its token.
    let http = installed.cluster.http_url().expect("plain HTTP");
    let target: SocketAddr = http.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(target).await;
    let kubeconfig = installed
        .kubeconfig_of(&account, Some(&format!("http://{}", proxy.address)))
        .await;
    let (port, health, metrics) = (free_port(), free_port(), free_port());
    let args = installed.container_args(
        WEBHOOK,
        &[
            ("--webhook-port", port.to_string()),
            ("--health-probe-bind-address", format!("127.0.0.1:{health}")),
            ("--metrics-bind-address", format!("127.0.0.1:{metrics}")),
        ],
    );
    assert_eq!(args[..2], ["webhook", "start"]);
    assert!(
        args.contains(
            &"--webhook-namespace-selector=kubernetes.io/metadata.name in (default)".into()
        ),
        "{args:?}"
    );
    // The Service's endpoint: what the endpoints controller would write for the webhook's pod.
    let service = find(docs, "Service", RELEASE_NAMESPACE)
        .into_iter()
        .find(|s| s["metadata"]["name"] == format!("{WEBHOOK}-svc"))
        .expect("the webhook's Service");
    let port_name = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
    let endpoints: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": format!("{WEBHOOK}-svc")},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": port_name, "port": port}]}],
    }))
    .unwrap();
    Api::<Endpoints>::namespaced(admin.clone(), RELEASE_NAMESPACE)
        .create(&PostParams::default(), &endpoints)
        .await
        .expect("endpoints");
    let log = installed.dir.path().join("webhook.log");
    let mut webhook = Process::start(BINARY, &args, &kubeconfig, "spark-operator-webhook-0", log);

    let health = SocketAddr::from(([127, 0, 0, 1], health));
    eventually(30, || async {
        // Not listening yet while the process starts.
        tokio::net::TcpStream::connect(health).await.ok()?;
        let (code, _) = http_get(health, "/readyz").await;
        (code == 200).then_some(())
    })
    .await;
    assert_eq!(http_get(health, "/healthz").await.0, 200);
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(admin.clone());
    eventually(30, || async {
        let found = validating.get_opt(WEBHOOK).await.ok()??;
        let ca = found.webhooks?.first()?.client_config.ca_bundle.clone()?;
        (!ca.0.is_empty()).then_some(())
    })
    .await;

    // Denied in a job namespace, with the field and the fix; not looked at elsewhere.
    let (ok, denied) = installed
        .kubectl
        .apply(&application("default", "bad", "lots"))
        .await;
    assert!(!ok, "{denied}");
    assert!(
        denied.contains(&format!(
            "admission webhook \"{VALIDATING}\" denied the request"
        )) && denied.contains("spec.driver.memory"),
        "{denied}\n{}",
        webhook.log()
    );
    installed
        .kubectl
        .ok(&["create", "namespace", "elsewhere"])
        .await;
    let (ok, admitted) = installed
        .kubectl
        .apply(&application("elsewhere", "bad", "lots"))
        .await;
    assert!(ok, "outside the job namespaces: {admitted}");
    let (ok, text) = installed
        .kubectl
        .apply(&application("default", "good", "512m"))
        .await;
    assert!(ok, "{text}");

    // A driver pod of the application, as spark-submit creates it, gets what it asks.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "good-driver", "labels": {
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
            "sparkoperator.k8s.io/app-name": "good", "spark-role": "driver"}},
        "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "apache/spark:4.0.0"}]},
    }))
    .unwrap();
    let created = Api::<Pod>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    let env = created.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "SET_BY" && e.value.as_deref() == Some("the-webhook")),
        "{env:?}\n{}",
        webhook.log()
    );

    // helm upgrade with the same chart leaves what the webhook filled in.
    let manifest = path_arg(&installed.manifest_file);
    installed.kubectl.ok(&["apply", "-f", manifest]).await;
    let (ok, denied) = installed
        .kubectl
        .apply(&application("default", "again", "lots"))
        .await;
    assert!(
        !ok && denied.contains(VALIDATING),
        "after an upgrade: {denied}"
    );

    // Its metrics count the reviews by path and code.
    let (code, scraped) = http_get(SocketAddr::from(([127, 0, 0, 1], metrics)), "/metrics").await;
    assert_eq!(code, 200);
    let count = |path: &str| {
        let series = format!(
            "controller_runtime_webhook_requests_total{{code=\"200\",webhook=\"{path}\"}} "
        );
        scraped
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        count("/validate-sparkoperator-k8s-io-v1beta2-sparkapplication") >= 3.0,
        "{scraped}"
    );
    assert!(count("/mutate--v1-pod") >= 1.0, "{scraped}");
    assert!(scraped.contains("controller_runtime_webhook_latency_seconds_bucket"));
    assert!(scraped.contains("rest_client_requests_total{"), "{scraped}");

    let status = webhook.terminate().await;
    let text = webhook.log();
    assert!(status.success(), "{status:?}\n{text}");
    assert!(!text.to_lowercase().contains("forbidden"), "{text}");

    // Least privilege: every call was granted, and every grant was called but renewal's update.
    let used: BTreeSet<Permission> = proxy
        .requests()
        .iter()
        .filter_map(|(method, path)| permission(method, path))
        .collect();
    let granted: BTreeSet<Permission> = ["webhook-rules.yaml", "webhook-secret-rules.yaml"]
        .iter()
        .flat_map(|f| chart_grants(f))
        .collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "the chart does not grant {missing:?}");
    let renewal: Permission = ("".into(), "secrets".into(), "update".into());
    let unused: Vec<_> = granted
        .iter()
        .filter(|g| !used.contains(*g) && **g != renewal)
        .collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");

    // helm uninstall: the configurations go with the release, so no webhook is left that
    // nothing answers.
    installed
        .kubectl
        .ok(&["delete", "-f", manifest, "--wait"])
        .await;
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    assert!(mutating.get_opt(WEBHOOK).await.unwrap().is_none());
    assert!(validating.get_opt(WEBHOOK).await.unwrap().is_none());
    let (ok, text) = installed
        .kubectl
        .apply(&application("default", "after", "lots"))
        .await;
    assert!(ok, "no webhook after uninstall: {text}");
}
