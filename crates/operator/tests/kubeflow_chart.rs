//! Drop-in with Kubeflow's chart: the arguments Kubeflow's Helm chart gives `controller start`
//! and `webhook start` (for its default values and for `kubeflow/every-feature-values.yaml`),
//! kept as facts in `kubeflow/arguments.txt`, start our binary against the local cluster, and
//! spark-pi runs to COMPLETED under the default ones. `kubeflow/README.md` says how the facts
//! are derived from Kubeflow's chart (`regenerate_kubeflow_chart_facts`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::Value;
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::env::Env;
use testkit::fixtures::spark_pi;
use testkit::helm;
use testkit::helm::install::{Process, documents};
use testkit::kubectl::Kubectl;
use testkit::net::{free_port, http_get};
use testkit::within;

fn facts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kubeflow")
}

/// Sections of a facts file: `[name]` then its lines (blank lines and `#` comments skipped).
fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_string());
            all.insert(name.to_string(), Vec::new());
        } else if let Some(name) = &current {
            all.get_mut(name).unwrap().push(line.to_string());
        }
    }
    all
}

/// Kubeflow's arguments for `values` (`default` or `every-feature`) and `command`
/// (`controller` or `webhook`).
pub fn kubeflow_arguments(values: &str, command: &str) -> Vec<String> {
    let text = std::fs::read_to_string(facts_dir().join("arguments.txt")).unwrap();
    sections(&text)
        .remove(&format!("{values} {command}"))
        .unwrap_or_else(|| panic!("no [{values} {command}] in arguments.txt"))
}

/// The container args of the Deployment named `*-<component>` in `manifest`.
fn deployment_args(manifest: &str, component: &str) -> Vec<String> {
    documents(manifest)
        .iter()
        .find(|d| {
            d["kind"] == "Deployment"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&format!("-{component}")))
        })
        .and_then(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default()
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every leaf key of `values` with its value as JSON (`a.b {"c":1}`; empty maps and lists are
/// leaves).
fn leaves(values: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match values {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                leaves(value, &path, out);
            }
        }
        other => out.push((path.to_string(), other.clone())),
    }
}

/// Writes `kubeflow/values.txt` and `kubeflow/arguments.txt` from Kubeflow's chart in
/// `$KUBEFLOW_CHART` (see kubeflow/README.md), rendered by `helm template`.
#[test]
#[ignore = "writes tests/kubeflow/ from Kubeflow's chart in KUBEFLOW_CHART (see its README)"]
fn regenerate_kubeflow_chart_facts() {
    let chart = PathBuf::from(std::env::var("KUBEFLOW_CHART").expect("KUBEFLOW_CHART"));
    let commit = std::env::var("KUBEFLOW_COMMIT").expect("KUBEFLOW_COMMIT");
    let header = |what: &str| {
        format!(
            "# {what} of Kubeflow's Helm chart (charts/spark-operator-chart of\n# kubeflow/spark-operator at commit {commit}). Derived, not written by hand:\n# README.md beside this file says how to derive it again.\n"
        )
    };
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap()).unwrap();
    let mut keys = Vec::new();
    leaves(&serde_json::to_value(yaml).unwrap(), "", &mut keys);
    let mut values = header("The value keys, with their defaults as JSON,");
    for (key, value) in &keys {
        values.push_str(&format!("{key} {value}\n"));
    }
    std::fs::write(facts_dir().join("values.txt"), values).unwrap();

    let every_feature =
        std::fs::read_to_string(facts_dir().join("every-feature-values.yaml")).unwrap();
    let mut arguments = header("The container arguments of the Deployments");
    for (name, values) in [("default", ""), ("every-feature", every_feature.as_str())] {
        let release = helm::Release {
            name: "spark-operator",
            namespace: "spark-operator",
            values,
        };
        let rendered = helm::render_with_api_versions(
            &chart,
            &release,
            &[
                "cert-manager.io/v1/Certificate",
                "cert-manager.io/v1/Issuer",
                "monitoring.coreos.com/v1/PodMonitor",
            ],
        )
        .unwrap_or_else(|e| panic!("Kubeflow's chart renders with the {name} values: {e}"));
        let manifest = helm::manifest(&rendered);
        for command in ["controller", "webhook"] {
            arguments.push_str(&format!("\n[{name} {command}]\n"));
            for arg in deployment_args(&manifest, command) {
                arguments.push_str(&arg);
                arguments.push('\n');
            }
        }
    }
    std::fs::write(facts_dir().join("arguments.txt"), arguments).unwrap();
}

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

/// `args` with each `--FLAG=` of `replace` given its value, and `extra` added: only listen
/// addresses move, to free ports, as tests run side by side.
fn with(args: &[String], replace: &[(&str, String)], extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = args
        .iter()
        .map(|arg| {
            let flag = arg.split_once('=').map(|(flag, _)| flag);
            match replace.iter().find(|(f, _)| Some(*f) == flag) {
                Some((flag, value)) => format!("{flag}={value}"),
                None => arg.clone(),
            }
        })
        .collect();
    args.extend_from_slice(extra);
    args
}

/// The Service Kubeflow's webhook arguments name, with the endpoint an endpoints controller
/// would write for the webhook's pod, listening on `port` here.
async fn webhook_service(kubectl: &Kubectl, port: u16) {
    let service = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "spark-operator-webhook-svc", "namespace": "spark-operator"},
        "spec": {"ports": [{"name": "webhook", "port": port, "targetPort": "webhook"}]},
    });
    let endpoints = serde_json::json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "spark-operator-webhook-svc", "namespace": "spark-operator"},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "webhook", "port": port}]}],
    });
    for object in [service, endpoints] {
        let (ok, out) = kubectl.apply(&object.to_string()).await;
        assert!(ok, "{out}");
    }
}

async fn ready(health: SocketAddr, process: &Process) {
    let became = within(60, || async {
        tokio::net::TcpStream::connect(health).await.ok()?;
        (http_get(health, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert!(became.is_some(), "not ready:\n{}", process.log());
}

/// Listen addresses on free loopback ports: (flag replacements, added flags, health address).
fn free_addresses(
    port_flag: Option<&str>,
) -> (Vec<(&'static str, String)>, Vec<String>, SocketAddr, u16) {
    let (metrics, health, port) = (free_port(), free_port(), free_port());
    let mut replace = vec![("--metrics-bind-address", format!("127.0.0.1:{metrics}"))];
    if port_flag.is_some() {
        replace.push(("--webhook-port", port.to_string()));
    }
    let extra = vec![format!("--health-probe-bind-address=127.0.0.1:{health}")];
    (
        replace,
        extra,
        SocketAddr::from(([127, 0, 0, 1], health)),
        metrics,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeflows_default_arguments_run_spark_pi_to_completion() {
    let env = Env::without_operator().await;
    let kubectl = env.kubectl("kubeflow-default");
    let kubeconfig = env.kubeconfig_in("kubeflow-default");
    kubectl.ok(&["create", "namespace", "spark-operator"]).await;

    let (replace, extra, webhook_health, _) = free_addresses(Some("--webhook-port"));
    let port: u16 = replace[1].1.parse().unwrap();
    webhook_service(&kubectl, port).await;
    let args = with(&kubeflow_arguments("default", "webhook"), &replace, &extra);
    let log = env.scratch_dir("logs").join("webhook.log");
    let mut webhook = Process::start(BINARY, &args, &kubeconfig, "webhook-0", log);
    ready(webhook_health, &webhook).await;

    let (replace, extra, health, metrics_port) = free_addresses(None);
    let args = with(
        &kubeflow_arguments("default", "controller"),
        &replace,
        &extra,
    );
    let log = env.scratch_dir("logs").join("controller.log");
    let mut controller = Process::start(BINARY, &args, &kubeconfig, "controller-0", log);
    ready(health, &controller).await;

    // Through the webhook (Kubeflow's chart registers it for `default`), then run.
    let (ok, out) = kubectl
        .apply(&spark_pi(
            "spark-pi",
            r#""localcluster/run-seconds": "0.5""#,
            "",
        ))
        .await;
    assert!(ok, "{out}\n{}", webhook.log());
    let (ok, denied) = kubectl
        .apply(&spark_pi(
            "bad",
            "",
            "  sparkConf:\n    spark.kubernetes.authenticate.oauthToken: stolen\n",
        ))
        .await;
    assert!(!ok && denied.contains("is not allowed"), "{denied}");
    env.wait_for("spark-pi", State::Completed, 60).await;

    // Kubeflow's metrics, labelled as --metrics-labels=app_type asks.
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let scraped = http_get(metrics, "/metrics").await.1;
    for series in [
        r#"spark_application_success_count{app_type="Unknown"} 1"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="sparkapplication"} 10"#,
    ] {
        assert!(
            scraped.lines().any(|l| l == series),
            "{series} in\n{scraped}"
        );
    }
    // The process, work queue and worker metrics Kubeflow's dashboards read, under
    // controller-runtime's and client_golang's names.
    for name in [
        "workqueue_adds_total{",
        "workqueue_depth{",
        "workqueue_retries_total{",
        "workqueue_queue_duration_seconds_bucket{",
        "workqueue_work_duration_seconds_bucket{",
        "workqueue_unfinished_work_seconds{",
        "workqueue_longest_running_processor_seconds{",
        "controller_runtime_active_workers{",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(scraped.contains(name), "{name} in\n{scraped}");
    }
    // Each latency histogram has its own buckets (--metrics-job-submit/start-latency-buckets).
    let buckets = |histogram: &str| -> Vec<&str> {
        scraped
            .lines()
            .filter(|l| l.starts_with(&format!("{histogram}_bucket{{")))
            .filter(|l| l.contains(r#"app_type="Unknown""#))
            .collect()
    };
    let submit = buckets("spark_application_submit_latency_seconds_histogram");
    let start = buckets("spark_application_start_latency_seconds_histogram");
    assert!(
        submit.iter().any(|l| l.contains(r#"le="0.5""#))
            && !submit.iter().any(|l| l.contains(r#"le="30"#)),
        "{submit:?}"
    );
    assert!(
        start.iter().any(|l| l.contains(r#"le="30"#))
            && !start.iter().any(|l| l.contains(r#"le="0.5""#)),
        "{start:?}"
    );
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), "spark-operator");
    assert!(
        leases
            .get_opt("spark-operator-controller-lock")
            .await
            .unwrap()
            .is_some()
    );
    for process in [&mut controller, &mut webhook] {
        let status = process.terminate().await;
        assert!(status.success(), "{status:?}\n{}", process.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeflows_every_feature_arguments_run() {
    let env = Env::without_operator().await;
    let kubectl = env.kubectl("kubeflow-every-feature");
    let kubeconfig = env.kubeconfig_in("kubeflow-every-feature");
    for namespace in ["spark-operator", "spark-jobs", "team-x"] {
        kubectl.ok(&["create", "namespace", namespace]).await;
    }
    kubectl
        .ok(&["label", "namespace", "team-x", "spark-operator=enabled"])
        .await;
    // cert-manager's part: the Secret it would issue (--enable-cert-manager serves it).
    let spec = spark_operator::webhook::certs::CertSpec {
        dns_names: vec!["spark-operator-webhook-svc.spark-operator.svc".into()],
        ip_addresses: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        validity: std::time::Duration::from_secs(3600),
    };
    let issued =
        spark_operator::webhook::certs::issue(None, &spec, jiff::Timestamp::now().as_second())
            .unwrap();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "spark-operator-webhook-certs", "namespace": "spark-operator"},
        "stringData": {"tls.crt": issued.server_cert, "tls.key": issued.server_key, "ca.crt": issued.ca_cert},
    });
    assert!(kubectl.apply(&secret.to_string()).await.0);

    let (replace, extra, webhook_health, _) = free_addresses(Some("--webhook-port"));
    let port: u16 = replace[1].1.parse().unwrap();
    webhook_service(&kubectl, port).await;
    let args = with(
        &kubeflow_arguments("every-feature", "webhook"),
        &replace,
        &extra,
    );
    let log = env.scratch_dir("logs").join("webhook.log");
    let mut webhook = Process::start(BINARY, &args, &kubeconfig, "webhook-0", log);
    ready(webhook_health, &webhook).await;

    let (replace, extra, health, _) = free_addresses(None);
    let kubeflow = kubeflow_arguments("every-feature", "controller");
    let args = with(&kubeflow, &replace, &extra);
    let log = env.scratch_dir("logs").join("controller.log");
    let mut controller = Process::start(BINARY, &args, &kubeconfig, "controller-0", log);
    ready(health, &controller).await;
    let log = controller.log();
    assert!(
        log.contains("--pprof-bind-address=:6060"),
        "what is ignored is said once:\n{log}"
    );

    // --enable-resource-quota-enforcement: the webhook reckons every new application against
    // its namespace's ResourceQuotas (the arithmetic is lifecycle::quota's, unit-tested): one
    // whose driver and executors would exceed them is refused.
    let quota = serde_json::json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "small", "namespace": "default"},
        "spec": {"hard": {"requests.memory": "100Mi"}},
    });
    assert!(kubectl.apply(&quota.to_string()).await.0);
    // The webhook reads the quota's status, which the cluster's quota controller fills in.
    let counted = within(20, || async {
        let (_, hard) = kubectl
            .run(&[
                "get",
                "resourcequota",
                "small",
                "-o",
                "jsonpath={.status.hard}",
            ])
            .await;
        hard.contains("requests.memory").then_some(())
    })
    .await;
    assert!(counted.is_some(), "the quota's status is never filled in");
    let (ok, denied) = kubectl.apply(&spark_pi("checked", "", "")).await;
    assert!(
        !ok && denied.contains("does not fit the ResourceQuotas of its namespace")
            && denied.contains("small"),
        "{denied}"
    );
    // Namespaces outside --namespaces are not the webhook's: admitted unchanged.
    let mut elsewhere: Value = serde_yaml::from_str(&spark_pi("elsewhere", "", "")).unwrap();
    elsewhere["metadata"]["namespace"] = "team-x".into();
    let (ok, out) = kubectl.apply(&elsewhere.to_string()).await;
    assert!(ok, "{out}");
    // ... and, matching --namespace-selector, the controller's: it runs.
    let team_x: Api<SparkApplication> = Api::namespaced(env.client.clone(), "team-x");
    let started = within(60, || async {
        let state = team_x
            .get("elsewhere")
            .await
            .ok()?
            .status?
            .application_state
            .state;
        (state != State::New).then_some(())
    })
    .await;
    assert!(started.is_some(), "not taken up:\n{}", controller.log());

    // RestSubmitter is refused at start, with the reason.
    let rest = with(
        &kubeflow,
        &replace,
        &["--feature-gates=RestSubmitter=true".to_string()],
    );
    let refused = std::process::Command::new(BINARY)
        .args(
            rest.iter()
                .filter(|a| !a.starts_with("--feature-gates=PartialRestart")),
        )
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("submits natively"),
        "{stderr}"
    );

    for process in [&mut controller, &mut webhook] {
        let status = process.terminate().await;
        assert!(status.success(), "{status:?}\n{}", process.log());
    }
}
