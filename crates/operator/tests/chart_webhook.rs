//! The chart with `webhook.enable`: installed as `helm install` would install it
//! (`testkit::helm::install`), then its webhook Deployment runs the webhook as pods, as
//! tests/chart_install.rs runs the controller's: the local cluster's nodes map the chart's image to
//! the operator binary, the Deployment's ReplicaSet makes the pod, which runs with the chart's
//! arguments and a token of the chart's ServiceAccount, passes the readiness probe, and is reached
//! by the local cluster through the chart's Service, whose Endpoints the endpoints controller
//! writes. The pod reaches the API server through a recording proxy. Bad applications are denied
//! at `kubectl apply` in the job namespaces only, pods are mutated, an upgrade keeps the webhooks
//! registered, the webhook's probes and metrics answer at its pod's IP, it calls nothing the chart
//! does not grant and is granted nothing it does not call, and uninstalling removes its webhook
//! configurations.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use localcluster::simulation::NodesConfig;
use localcluster::simulation::process::{ApiAccess, ImageProgram, ProcessRuntime, programs};
use serde_json::json;
use testkit::fixtures::spark_pi;
use testkit::helm::install::{RELEASE_NAMESPACE, find, install};
use testkit::kubectl::{Kubectl, path_arg};
use testkit::net::http_get;
use testkit::proxy::Proxy;
use testkit::rbac::{Permission, chart_grants, permission};
use testkit::{eventually, within};

/// The controller's Deployment makes no pods here: they would run the same image, and their
/// calls would mix with the webhook's in the proxy's record (tests/chart_install.rs runs them).
const VALUES: &str =
    "spark:\n  jobNamespaces: [default]\ncontroller:\n  replicas: 0\nwebhook:\n  enable: true\n";
const SELECTOR: &str = "app.kubernetes.io/component=webhook";
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

/// The webhook's pods that are not being deleted.
async fn webhook_pods(client: &Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let list = pods.list(&ListParams::default().labels(SELECTOR)).await;
    let list = list.expect("list pods");
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// `kubectl logs` of the webhook's `pod`, or why there is none.
async fn log(kubectl: &Kubectl, pod: &str) -> String {
    kubectl.run(&["logs", "-n", RELEASE_NAMESPACE, pod]).await.1
}

/// Waits until the webhook's one pod passes its readiness probe: its name and IP.
async fn ready_webhook_pod(client: &Client, kubectl: &Kubectl) -> (String, IpAddr) {
    let ready = within(90, || async {
        let [pod] = webhook_pods(client).await.try_into().ok()?;
        let status = pod.status?;
        let conditions = status.conditions.unwrap_or_default();
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())?;
        Some((pod.metadata.name?, status.pod_ip?.parse().ok()?))
    })
    .await;
    if let Some(ready) = ready {
        return ready;
    }
    let mut logs = String::new();
    for pod in webhook_pods(client).await {
        let name = pod.metadata.name.unwrap_or_default();
        logs.push_str(&format!("--- {name}\n{}\n", log(kubectl, &name).await));
    }
    panic!("no ready webhook pod; logs:\n{logs}");
}

/// The port of the address `flag` gives in `args` (`--flag=HOST:PORT` or `--flag=:PORT`).
fn port_of(args: &[String], flag: &str) -> u16 {
    let prefix = format!("{flag}=");
    let address = args.iter().find_map(|a| a.strip_prefix(&prefix));
    let port = address
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, port)| port);
    port.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"))
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
    assert_eq!(deployment["spec"]["replicas"], 1);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    assert_eq!(args[..2], ["webhook", "start"]);
    assert!(
        args.contains(
            &"--webhook-namespace-selector=kubernetes.io/metadata.name in (default)".into()
        ),
        "{args:?}"
    );
    // The ports its probes and metrics are served on, as the container declares them.
    let (health, metrics) = (
        port_of(&args, "--health-probe-bind-address"),
        port_of(&args, "--metrics-bind-address"),
    );
    let declared = |name: &str| {
        let ports = container["ports"].as_array().unwrap();
        let port = ports.iter().find(|p| p["name"] == name);
        port.and_then(|p| p["containerPort"].as_u64())
    };
    assert_eq!(declared("health"), Some(health.into()), "{container}");
    assert_eq!(declared("metrics"), Some(metrics.into()), "{container}");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "health");

    // The nodes run the chart's image as the operator binary. The pod's kubeconfig names a
    // recording proxy in front of the cluster's plain-HTTP port; the proxy relays the bytes, the
    // pod's token in its Authorization header with them, so the chart's RBAC applies to it.
    let http = installed.cluster.http_url().expect("plain HTTP");
    let target: SocketAddr = http.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(target).await;
    let image = container["image"].as_str().unwrap();
    let webhook_image = ImageProgram {
        repository: programs::repository(image),
        program: BINARY.into(),
    };
    let access = ApiAccess {
        url: format!("http://{}", proxy.address),
        ca_pem: None,
    };
    let runtime = ProcessRuntime::for_images(
        installed.cluster.cluster().clone(),
        vec![webhook_image],
        access,
        installed.dir.path().join("pods"),
    );
    let nodes = NodesConfig {
        processes: Some(runtime),
        ..NodesConfig::default()
    };
    tokio::spawn(localcluster::simulation::run(admin.clone(), nodes));

    // The ReplicaSet's pod passes the readiness probe; the endpoints controller lists it for the
    // Service, through which the cluster calls it.
    let (pod, ip) = ready_webhook_pod(&admin, &installed.kubectl).await;
    let health = SocketAddr::new(ip, health);
    assert_eq!(http_get(health, "/readyz").await.0, 200);
    assert_eq!(http_get(health, "/healthz").await.0, 200);
    // The Service's Endpoints, written by the endpoints controller, list the pod on the port
    // the Service targets.
    let service = find(docs, "Service", RELEASE_NAMESPACE)
        .into_iter()
        .find(|s| s["metadata"]["name"] == format!("{WEBHOOK}-svc"))
        .expect("the webhook's Service");
    let port_name = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
    let endpoints: Api<Endpoints> = Api::namespaced(admin.clone(), RELEASE_NAMESPACE);
    let listed = eventually(30, || async {
        let found = endpoints.get_opt(&format!("{WEBHOOK}-svc")).await.ok()??;
        let [subset] = <[_; 1]>::try_from(found.subsets?).ok()?;
        let [address] = <[_; 1]>::try_from(subset.addresses?).ok()?;
        let ports = subset.ports?;
        let port = ports
            .iter()
            .find(|p| p.name.as_deref() == Some(port_name))?;
        (address.ip == ip.to_string()).then_some(port.port)
    })
    .await;
    assert!(
        args.contains(&format!("--webhook-port={listed}")),
        "{args:?}"
    );
    // It made its CA and serving certificate and gave the configurations the CA.
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
        log(&installed.kubectl, &pod).await
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
    let driver: Pod = serde_json::from_value(json!({
        "metadata": {"name": "good-driver", "labels": {
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
            "sparkoperator.k8s.io/app-name": "good", "spark-role": "driver"}},
        "spec": {"containers": [{"name": "spark-kubernetes-driver", "image": "apache/spark:4.0.0"}]},
    }))
    .unwrap();
    let created = Api::<Pod>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &driver)
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
        log(&installed.kubectl, &pod).await
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
    let (code, scraped) = http_get(SocketAddr::new(ip, metrics), "/metrics").await;
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

    // Nothing it asked was refused. Scaling the Deployment to 0 stops its pod with SIGTERM (it
    // releases its lease), so that all it calls is in the proxy's record.
    let text = log(&installed.kubectl, &pod).await;
    assert!(!text.to_lowercase().contains("forbidden"), "{text}");
    installed
        .kubectl
        .ok(&[
            "scale",
            "deployment",
            WEBHOOK,
            "-n",
            RELEASE_NAMESPACE,
            "--replicas=0",
        ])
        .await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), RELEASE_NAMESPACE);
    let stopping = tokio::time::Instant::now();
    let mut text = String::new();
    while pods.get_opt(&pod).await.expect("get the pod").is_some() {
        // Its log while it stops, until the pod is gone.
        let args = ["logs", "-n", RELEASE_NAMESPACE, pod.as_str()];
        if let (true, now) = installed.kubectl.run(&args).await {
            text = now;
        }
        let waited = stopping.elapsed();
        assert!(
            waited.as_secs() < 60,
            "the webhook's pod did not stop:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
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
