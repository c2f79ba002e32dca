//! The Helm chart installed as `helm install` would install it, where neither helm nor a
//! container engine can run: rendered by tests/helm (a Go-template renderer with Helm's
//! built-ins), applied with the real `kubectl` to a local cluster that authenticates tokens and
//! authorizes by RBAC; then the operator binary, started with the arguments of the chart's
//! Deployment and a token of the chart's ServiceAccount, runs an example to completion. That the
//! chart grants no more than needed is checked in tests/runtime.rs.

mod helm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::{Api, Client};
use localcluster::auth::Authorization;
use localcluster::{LocalCluster, Options};
use serde_json::Value;
use spark_operator_api::{ApplicationStateType as State, SparkApplication};

const RELEASE: &str = "spark-operator";
const RELEASE_NAMESPACE: &str = "spark-operator";
/// What an install would set (README's `helm install`).
const INSTALL_VALUES: &str = "spark:\n  jobNamespaces: [default]\ncontroller:\n  replicas: 2\n";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart_dir() -> PathBuf {
    repository().join("deploy/helm/spark-operator")
}

/// `kubectl ARGS` with `kubeconfig`: success and the combined output.
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let (ok, text) = kubectl(kubeconfig, args).await;
    assert!(ok, "kubectl {args:?} failed: {text}");
    text
}

/// The rendered documents, parsed.
fn documents(manifest: &str) -> Vec<Value> {
    manifest
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let yaml: serde_yaml::Value =
                serde_yaml::from_str(d).unwrap_or_else(|e| panic!("rendered YAML: {e}\n{d}"));
            serde_json::to_value(yaml).unwrap()
        })
        .collect()
}

fn find<'a>(documents: &'a [Value], kind: &str, namespace: &str) -> Vec<&'a Value> {
    documents
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["namespace"] == namespace)
        .collect()
}

/// A kubeconfig for the cluster that authenticates with `token`.
fn kubeconfig_with_token(cluster: &LocalCluster, token: &str, namespace: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(cluster.ca_pem().unwrap());
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": cluster.url(), "certificate-authority-data": ca}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator", "namespace": namespace}}],
        "current-context": "operator",
    })
    .to_string()
}

/// One replica of the operator: a process, killed if the test ends without stopping it.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn start(args: &[String], kubeconfig: &Path, pod_name: &str, log: PathBuf) -> Operator {
        let child = Command::new(env!("CARGO_BIN_EXE_spark-operator"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", pod_name)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the operator starts");
        Operator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as the kubelet stops a container; the exit status.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for_state(client: &Client, name: &str, state: State, replicas: &[Operator]) {
    let apps: Api<SparkApplication> = Api::namespaced(client.clone(), "default");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let app = apps.get_opt(name).await.expect("get application");
        let current = app
            .as_ref()
            .and_then(|a| a.status.as_ref())
            .map(|s| s.application_state.state);
        if current == Some(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {current:?}, not {state:?}; operator logs:\n{}",
            replicas
                .iter()
                .map(Operator::log)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn the_renderer_follows_go_templates_as_helm_runs_them() {
    let data = serde_json::json!({
        "Values": {"name": "", "list": ["a", "b"], "map": {"z": 1, "y": true}, "long": "abcdef-"},
        "Release": {"Name": "r"},
    });
    let cases = [
        // Trim markers eat the whitespace on their side only.
        ("a  {{- \"b\" -}}  \n c", "abc"),
        (
            "{{ .Values.missing }}|{{ .Values.name | default \"x\" }}",
            "|x",
        ),
        (
            "{{- define \"t\" -}}\nk: {{ . }}\n{{- end -}}\nm:{{ include \"t\" 1 | nindent 2 }}",
            "m:\n  k: 1",
        ),
        (
            "{{ range $i, $v := .Values.list }}{{ $i }}={{ $v }}{{ $.Release.Name }} {{ end }}",
            "0=ar 1=br ",
        ),
        ("{{ range .Values.map }}{{ . }},{{ end }}", "true,1,"),
        // Keys sorted, as Helm writes them.
        (
            "{{ with .Values.map }}{{ toYaml . }}{{ end }}",
            "y: true\nz: 1",
        ),
        (
            "{{ if .Values.name }}1{{ else if .Values.list }}2{{ else }}3{{ end }}",
            "2",
        ),
        (
            "{{ with .Values.name }}1{{ else }}{{ .Values.long | trunc 6 | trimSuffix \"-\" | quote }}{{ end }}",
            "\"abcdef\"",
        ),
        (
            "{{ printf \"%s-%d\" .Release.Name 7 | replace \"-\" \"_\" }}",
            "r_7",
        ),
        (
            "{{ join \",\" .Values.list }} {{ contains \"b\" \"abc\" }}",
            "a,b true",
        ),
        ("{{ .Files.Get \"files/a.yaml\" }}", "- a\n"),
        ("{{- /* a comment */ -}}\n x", "x"),
    ];
    for (source, expected) in cases {
        assert_eq!(
            helm::render_source(source, &data).as_deref(),
            Ok(expected),
            "{source}"
        );
    }
    for (source, error) in [
        (
            "{{ .Values.missing.deeper }}",
            "nil pointer evaluating .Values.missing.deeper",
        ),
        (
            "{{ sha256sum .Values.name }}",
            "function \"sha256sum\" is not supported",
        ),
        ("{{ if .Values.name }}", "without {{end}}"),
        ("{{ include \"nothing\" . }}", "no template \"nothing\""),
    ] {
        let got = helm::render_source(source, &data).unwrap_err();
        assert!(got.contains(error), "{source}: {got}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_chart_applied_with_kubectl_runs_an_example_under_its_own_rbac() {
    let cluster = LocalCluster::start(Options {
        authorization: Authorization::Rbac,
        ..Options::default()
    })
    .await
    .expect("cluster starts");
    let admin = cluster.client().expect("admin client");
    tokio::spawn(localcluster::nodes::run(
        admin.clone(),
        localcluster::nodes::NodesConfig::default(),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_config = dir.path().join("admin.kubeconfig");
    cluster.write_kubeconfig(&admin_config).expect("kubeconfig");

    // helm install --create-namespace: the namespace, the CRDs of crds/ (created, not
    // templated), then the rendered templates.
    let rendered = helm::render(
        &chart_dir(),
        &helm::Release {
            name: RELEASE,
            namespace: RELEASE_NAMESPACE,
            values: INSTALL_VALUES,
        },
    )
    .unwrap_or_else(|e| panic!("the chart renders: {e}"));
    let manifest = helm::manifest(&rendered);
    let manifest_file = dir.path().join("manifest.yaml");
    std::fs::write(&manifest_file, &manifest).unwrap();
    kubectl_ok(&admin_config, &["create", "namespace", RELEASE_NAMESPACE]).await;
    // Server-side, because a CRD this large does not fit the annotation client-side apply writes.
    let crds = chart_dir().join("crds");
    kubectl_ok(
        &admin_config,
        &["apply", "--server-side", "-f", crds.to_str().unwrap()],
    )
    .await;
    kubectl_ok(
        &admin_config,
        &[
            "wait",
            "--for=condition=Established",
            "crd/sparkapplications.sparkoperator.k8s.io",
            "--timeout=30s",
        ],
    )
    .await;
    let applied = kubectl_ok(
        &admin_config,
        &["apply", "-f", manifest_file.to_str().unwrap()],
    )
    .await;
    let docs = documents(&manifest);
    for (kind, namespace) in [
        ("ServiceAccount", RELEASE_NAMESPACE),
        ("Deployment", RELEASE_NAMESPACE),
        ("Role", RELEASE_NAMESPACE),
        ("RoleBinding", RELEASE_NAMESPACE),
        ("Service", RELEASE_NAMESPACE),
        ("ServiceAccount", "default"),
        ("Role", "default"),
        ("RoleBinding", "default"),
    ] {
        assert_eq!(
            find(&docs, kind, namespace).len(),
            1,
            "{kind} in {namespace}:\n{manifest}"
        );
    }
    assert!(
        applied.contains("clusterrolebinding.rbac.authorization.k8s.io/spark-operator created"),
        "{applied}"
    );

    // The operator's identity: the service account the Deployment names, with a token from
    // the TokenRequest API, as the kubelet would mount it.
    let deployment = find(&docs, "Deployment", RELEASE_NAMESPACE)[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let account = pod_spec["serviceAccountName"].as_str().unwrap();
    assert_eq!(
        find(&docs, "ServiceAccount", RELEASE_NAMESPACE)[0]["metadata"]["name"],
        account
    );
    let token = kubectl_ok(
        &admin_config,
        &["create", "token", account, "-n", RELEASE_NAMESPACE],
    )
    .await;
    let operator_config = dir.path().join("operator.kubeconfig");
    std::fs::write(
        &operator_config,
        kubeconfig_with_token(&cluster, token.trim(), RELEASE_NAMESPACE),
    )
    .unwrap();
    // RBAC is in force for it: granted reads work, others are refused.
    kubectl_ok(
        &operator_config,
        &["get", "sparkapplications", "-n", "default"],
    )
    .await;
    let (ok, refused) = kubectl(&operator_config, &["get", "secrets", "-n", "default"]).await;
    assert!(!ok && refused.contains("forbidden"), "{refused}");
    assert!(
        refused.contains(&format!(
            "system:serviceaccount:{RELEASE_NAMESPACE}:{account}"
        )),
        "{refused}"
    );

    // The container as the Deployment runs it: the image's entrypoint with the chart's args;
    // only the listen addresses change, to free ports, because tests run side by side.
    let container = &pod_spec["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let arg = a.as_str().unwrap();
            match arg.split_once('=') {
                Some((flag @ ("--metrics-bind-address" | "--health-probe-bind-address"), _)) => {
                    format!("{flag}=127.0.0.1:0")
                }
                _ => arg.to_string(),
            }
        })
        .collect();
    assert_eq!(args[..2], ["controller", "start"]);
    // Every replica the Deployment asks for: one leads, the others stand by.
    let replicas: Vec<Operator> = (0..deployment["spec"]["replicas"].as_u64().unwrap())
        .map(|i| {
            let log = dir.path().join(format!("operator-{i}.log"));
            let pod = format!("spark-operator-controller-{i}");
            Operator::start(&args, &operator_config, &pod, log)
        })
        .collect();

    let example = repository().join("examples/spark-pi.yaml");
    kubectl_ok(&admin_config, &["apply", "-f", example.to_str().unwrap()]).await;
    wait_for_state(&admin, "spark-pi", State::Completed, &replicas).await;

    // The driver ran as the Spark service account the chart made in the job namespace.
    let spark_account = find(&docs, "ServiceAccount", "default")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    assert!(accounts.get_opt(&spark_account).await.unwrap().is_some());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let driver = pods.get("spark-pi-driver").await.expect("driver pod");
    assert_eq!(
        driver.spec.unwrap().service_account_name.as_deref(),
        Some(spark_account.as_str())
    );
    // One of them leads through the lock the chart's Role lets it hold; nothing any replica
    // asked was refused, and each stops cleanly on SIGTERM.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), RELEASE_NAMESPACE);
    let lock = format!("{RELEASE}-lock");
    let lease = leases.get(&lock).await.expect("the leader lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(
        holder.starts_with("spark-operator-controller-"),
        "{holder:?}"
    );
    for mut replica in replicas {
        let text = replica.log();
        assert!(!text.to_lowercase().contains("forbidden"), "{text}");
        let status = replica.terminate().await;
        assert!(status.success(), "{status:?}\n{}", replica.log());
    }
}
